"""The HTTP layer: a Flask app over :class:`recommender.Engine`."""

from .app import create_app

__all__ = ["create_app"]
