"""The Flask application factory and the JSON API routes.

Routes only translate HTTP to :class:`recommender.Engine` calls and back.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request

from recommender.config import Settings
from recommender.engine import Engine
from recommender.errors import InvalidArgument

from .errors import register_error_handlers

log = logging.getLogger(__name__)

api = Blueprint("api", __name__)


class EngineHolder:
    """Creates the engine on first use, so the app starts even before an index exists
    (requests then get 503 until a snapshot is published)."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self._engine = engine
        self._lock = threading.Lock()

    def get(self) -> Engine:
        """The engine, loading the published snapshot the first time."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = Engine(self.settings)
        return self._engine


def engine() -> Engine:
    """The engine of the current app."""
    holder: EngineHolder = current_app.extensions["recommender"]
    return holder.get()


def _k_parameter() -> int | None:
    raw = request.args.get("k")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        settings: Settings = current_app.extensions["recommender"].settings
        raise InvalidArgument(
            "k", f"must be a whole number from 1 to {settings.max_k}, got {raw!r}"
        ) from None


def _items_response(article_id: str, items: list[Any]) -> Any:
    return jsonify({"article_id": article_id, "items": [item.to_json() for item in items]})


@api.get("/healthz")
def healthz() -> Any:
    """The process is up (it says nothing of the index)."""
    return jsonify({"status": "ok"})


@api.get("/v1/articles/<article_id>/related")
def related(article_id: str) -> Any:
    """Related articles for an indexed article."""
    return _items_response(article_id, engine().related(article_id, _k_parameter()))


@api.get("/v1/articles/<article_id>/featured")
def featured(article_id: str) -> Any:
    """Featured picks for an indexed article."""
    return _items_response(article_id, engine().featured(article_id, _k_parameter()))


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    """Build the Flask app.

    Args:
        settings: engine settings; default: read from ``RECOMMENDER_*`` variables.
        engine: an engine to serve (tests); default: one built from ``settings`` on first use.
    """
    settings = settings or (engine.settings if engine else Settings.from_env())
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["recommender"] = EngineHolder(settings, engine)
    register_error_handlers(app)
    app.register_blueprint(api)
    return app
