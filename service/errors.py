"""Every error response, in one shape: RFC 9457 ``application/problem+json``.

Core exceptions are mapped to HTTP statuses in one table; routes never build
error responses themselves.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Flask, Response, g, json, request
from werkzeug.exceptions import HTTPException

from recommender.errors import (
    ArticleNotFound,
    InvalidArgument,
    InvalidCorpus,
    ModelUnavailable,
    NoSnapshot,
    RecommenderError,
    SnapshotError,
)

log = logging.getLogger(__name__)

PROBLEM_MIME = "application/problem+json"

# Most specific class first: the first match wins.
STATUS_OF: list[tuple[type[RecommenderError], int, str]] = [
    (ArticleNotFound, 404, "article-not-found"),
    (InvalidArgument, 400, "invalid-parameter"),
    (InvalidCorpus, 422, "invalid-corpus"),
    (NoSnapshot, 503, "not-ready"),
    (SnapshotError, 503, "snapshot-unavailable"),
    (ModelUnavailable, 503, "model-unavailable"),
    (RecommenderError, 500, "internal-error"),
]


def problem(status: int, slug: str, title: str, detail: str, **members: Any) -> Response:
    """A problem+json response; extra members (``parameter``, ``field``) where known."""
    body = {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in members.items() if v is not None})
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIME)
    return response


def _classify(exc: RecommenderError) -> tuple[int, str]:
    return next((status, slug) for cls, status, slug in STATUS_OF if isinstance(exc, cls))


def _from_core(exc: RecommenderError) -> Response:
    status, slug = _classify(exc)
    title = slug.replace("-", " ").capitalize()
    members: dict[str, Any] = {}
    if isinstance(exc, InvalidArgument):
        members["parameter"] = exc.parameter
        detail = exc.reason
    elif isinstance(exc, ArticleNotFound):
        members["article_id"] = exc.article_id
        detail = str(exc)
    elif status >= 500 and status != 503:
        return _internal(exc)
    else:
        detail = str(exc)
    if status == 503:
        log.warning("%s %s: %s", request.method, request.path, exc)
    return problem(status, slug, title, detail, **members)


def _from_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    slug = (exc.name or "error").lower().replace(" ", "-")
    response = problem(status, slug, exc.name or "Error", exc.description or "")
    if status == 405 and exc.get_response().headers.get("Allow"):
        response.headers["Allow"] = exc.get_response().headers["Allow"]
    return response


def _internal(exc: BaseException) -> Response:
    log.exception(
        "unhandled error on %s %s (request %s)", request.method, request.path, g.get("request_id")
    )
    return problem(
        500,
        "internal-error",
        "Internal server error",
        f"the server failed; quote request id {g.get('request_id')} when reporting it",
    )


def register_error_handlers(app: Flask) -> None:
    """Install the handlers and the request-id header on ``app``."""

    @app.before_request
    def _assign_request_id() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if 0 < len(incoming) <= 128 else uuid.uuid4().hex

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        return response

    app.register_error_handler(RecommenderError, _from_core)
    app.register_error_handler(HTTPException, _from_http)
    app.register_error_handler(Exception, _internal)
