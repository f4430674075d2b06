"""The JSON API's routes, one flask-openapi3 blueprint per tag of the document.

Each module declares its routes as module-level view functions; what a route needs
(an API key: ``security=``) and what it does with its answer (the response cache:
:func:`~service.routes.common.cached`) is part of its declaration.
"""

from __future__ import annotations

from flask_openapi3.blueprint import APIBlueprint

from . import admin, articles, events, experiments, operations, recommendations, rules

#: In the order their tags appear in ``/openapi.json``.
BLUEPRINTS: tuple[APIBlueprint, ...] = (
    operations.api,
    recommendations.api,
    articles.api,
    admin.api,
    rules.api,
    experiments.api,
    events.api,
)

__all__ = ["BLUEPRINTS"]
