"""What every route module shares: blueprints, the engine, and the two properties a
route declares besides its OpenAPI documentation.

- **Authentication**: a route that needs an API key says ``security=SECURITY`` in its
  declaration; that is what ``/openapi.json`` documents and the one thing the app's
  guard reads (see :func:`service.app.secured_endpoints`). No URL decides it.
- **Caching**: a route whose answer goes through the response cache is decorated with
  :func:`cached`, right under its declaration, and returns the payload; the decorator
  answers 304 or the kept body before the payload is ever made.

View functions have no docstrings on purpose: flask-openapi3 would publish them as
the operation's ``description`` in ``/openapi.json``; the ``summary=`` says what
they do.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Response, current_app, g, jsonify, request
from flask_openapi3.blueprint import APIBlueprint
from flask_openapi3.utils import get_operation_id_for_path

from recommender import Engine, Recommendation, Settings

from ..errors import PROBLEM_MIME
from ..kept import answer_tag, kept_response, known_miss

if TYPE_CHECKING:
    from ..app import EngineHolder
    from ..cache import ResponseCache

#: The declaration that a route needs an API key (``Authorization: Bearer KEY``).
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]

View = Callable[..., Any]


def _operation_id(*, name: str, path: str, method: str) -> str:
    # Without ``bp_name`` in its signature the callback is not given the blueprint's
    # name: operation ids stay the view's name, path and method, as they were before
    # the routes moved into blueprints (clients generated from the spec keep working).
    return get_operation_id_for_path(name=name, path=path, method=method)


def blueprint(name: str, import_name: str) -> APIBlueprint:
    """An API blueprint for one group of routes; its endpoints are ``name.view``."""
    return APIBlueprint(name, import_name, operation_id_callback=_operation_id)


def engine() -> Engine:
    """The engine of the current app."""
    holder: EngineHolder = current_app.extensions["recommender"]
    return holder.get()


def settings() -> Settings:
    """The settings of the current app."""
    holder: EngineHolder = current_app.extensions["recommender"]
    return holder.settings


def problems(*codes: int) -> dict[str | int, Any]:
    """The ``responses=`` entries of the problem statuses ``codes`` (and 500)."""
    ref = {"$ref": "#/components/schemas/Problem"}
    return {code: {"content": {PROBLEM_MIME: {"schema": ref}}} for code in (*codes, 500)}


def items(found: list[Recommendation]) -> list[dict[str, Any]]:
    """The JSON of a list of recommended items."""
    return [item.to_json() for item in found]


def who() -> str:
    """Who makes this change, for the audit log: the label of the request's API key."""
    return str(g.get("api_key_label", "api"))


def private(payload: dict[str, Any], status: int = 200) -> Response:
    """A JSON answer that no shared cache may keep (it is behind a key)."""
    response = jsonify(payload)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def cached(key: Callable[..., str] | None = None) -> Callable[[View], View]:
    """Declare that a route's answer goes through the response cache.

    The decorated view returns its payload (what goes to :func:`flask.jsonify`); it
    runs only when neither the client's ETag nor a kept answer holds (see
    :func:`_cached`).

    Args:
        key: called with the view's arguments, the cache key standing for the
            request; default: its path and query string.
    """

    def declare(view: View) -> View:
        # functools.wraps keeps the name and the annotations flask-openapi3 reads
        # (parameters, operation id), so the declaration documents the same route.
        @functools.wraps(view)
        def answer(**kwargs: Any) -> Response:
            request_key = request.full_path if key is None else key(**kwargs)
            return _cached(lambda: view(**kwargs), request_key)

        return answer

    return declare


# The scale benchmark's report reads this function's share of a profile by its name
# (benchmarks/scale_report.py): rename both together.
def _cached(make_payload: Callable[[], Any], key: str) -> Response:
    """A cacheable JSON answer: 304 when the client's ETag still holds.

    The ETag (:func:`~service.kept.answer_tag`) changes exactly when the answer may;
    it is checked before any ranking runs, and answers are kept under it
    (:class:`~service.cache.ResponseCache`), where :class:`~service.kept.KeptAnswers`
    finds them before the next request reaches the app.
    """
    tag, cache_control = answer_tag(engine(), key, settings().cache_max_age)
    not_modified = request.if_none_match.contains(tag)
    body = None
    if not not_modified:
        answers: ResponseCache = current_app.extensions["recommender.answers"]
        # KeptAnswers has looked for this very answer already when it says so.
        body = None if known_miss(request.environ, tag) else answers.get(tag)
        if body is None:
            body = jsonify(make_payload()).get_data()
            answers.put(tag, body)
    return kept_response(body, tag, cache_control, not_modified)
