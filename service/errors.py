"""Every error response, in one shape: RFC 9457 ``application/problem+json``.

Core exceptions are mapped to HTTP statuses in one table; routes never build
error responses themselves. Request validation errors (from the pydantic
models in :mod:`service.schemas`) become 400 for parameters and 422 for bodies, in
one function, :func:`validation_problem`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Flask, Response, g, json, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from recommender import (
    ArticleNotFound,
    ExperimentConflict,
    ExperimentNotFound,
    IndexLocked,
    InvalidArgument,
    InvalidCorpus,
    InvalidEvent,
    InvalidRule,
    JobConflict,
    ModelUnavailable,
    NoSnapshot,
    RecommenderError,
    RuleNotFound,
    SchemaBehind,
    SnapshotError,
    StaleVersion,
    StateUnavailable,
    TooManyEvents,
    UnknownEventArticle,
)

from .schemas import RequestBody

log = logging.getLogger(__name__)

PROBLEM_MIME = "application/problem+json"

# Most specific class first: the first match wins.
STATUS_OF: list[tuple[type[RecommenderError], int, str]] = [
    (ArticleNotFound, 404, "article-not-found"),
    (ExperimentNotFound, 404, "experiment-not-found"),
    (RuleNotFound, 404, "rule-not-found"),
    (ExperimentConflict, 409, "experiment-conflict"),
    (InvalidRule, 422, "invalid-rule"),
    (UnknownEventArticle, 422, "unknown-article"),
    (InvalidEvent, 422, "invalid-event"),
    (TooManyEvents, 413, "too-many-events"),
    (InvalidArgument, 400, "invalid-parameter"),
    (InvalidCorpus, 422, "invalid-article"),
    (StaleVersion, 409, "stale-version"),
    (JobConflict, 409, "job-running"),
    (IndexLocked, 409, "index-locked"),
    (NoSnapshot, 503, "not-ready"),
    (SnapshotError, 503, "snapshot-unavailable"),
    (ModelUnavailable, 503, "model-unavailable"),
    (SchemaBehind, 503, "schema-behind"),
    (StateUnavailable, 503, "state-unavailable"),
    (RecommenderError, 500, "internal-error"),
]

# Body fields holding lists of objects, whose errors name the member too.
NESTED_LISTS = {"pins", "variants"}


class ApiProblem(Exception):
    """An HTTP-level problem raised by the web layer (auth, content type, conflicts);
    ``headers`` go on the response (``Retry-After`` of a 429)."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **members: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.headers = headers or {}
        self.members = members


def problem(status: int, slug: str, title: str, detail: str, **members: Any) -> Response:
    """A problem+json response; extra members (``parameter``, ``field``) where known."""
    body = {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in members.items() if v is not None})
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_MIME)


def _title(slug: str) -> str:
    return slug.replace("-", " ").capitalize()


def _classify(exc: RecommenderError) -> tuple[int, str]:
    return next((status, slug) for cls, status, slug in STATUS_OF if isinstance(exc, cls))


def _from_core(exc: RecommenderError) -> Response:
    status, slug = _classify(exc)
    members: dict[str, Any] = {}
    detail = str(exc)
    if isinstance(exc, InvalidRule | InvalidEvent):
        members["field"] = exc.field
        detail = f"{exc.field}: {exc.reason}"
        if isinstance(exc, UnknownEventArticle):
            members.update(article_id=exc.article_id, index_version=exc.index_version)
    elif isinstance(exc, TooManyEvents):
        members.update(field="events", limit=exc.limit)
        detail = exc.reason
    elif isinstance(exc, InvalidArgument):
        members["parameter"] = exc.parameter
        detail = exc.reason
    elif isinstance(exc, ArticleNotFound):
        members["article_id"] = exc.article_id
    elif isinstance(exc, StaleVersion):
        members.update(article_id=exc.article_id, field="updated")
    elif status == 500:
        return _internal(exc)
    if status == 503:
        log.warning("%s %s: %s", request.method, request.path, exc)
    return problem(status, slug, _title(slug), detail, **members)


def _from_api(exc: ApiProblem) -> Response:
    response = problem(exc.status, exc.slug, _title(exc.slug), exc.detail, **exc.members)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="recommender"'
    response.headers.update(exc.headers)
    return response


def _from_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    slug = (exc.name or "error").lower().replace(" ", "-")
    detail = exc.description or ""
    if status == 413:
        detail = "request body is larger than the configured limit (RECOMMENDER_MAX_BODY_BYTES)"
    response = problem(status, slug, exc.name or "Error", detail)
    if status == 405:
        allow = exc.get_response().headers.get("Allow")
        if allow:
            response.headers["Allow"] = allow
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


def location_name(loc: tuple[int | str, ...]) -> str:
    """The field a pydantic error location names: ``tags.2``, not ``since.date``.

    pydantic appends the union member it tried (``date``, ``datetime``...) after the
    field; users care about the field, the list index and, in a list of objects,
    the member (``pins.0.position``).
    """
    if not loc:
        return ""
    parts = [str(loc[0])]
    if len(loc) > 1 and isinstance(loc[1], int):
        parts.append(str(loc[1]))
        if len(loc) > 2 and isinstance(loc[2], str) and loc[0] in NESTED_LISTS:
            parts.append(loc[2])
    return ".".join(parts)


def _first_error(exc: ValidationError) -> tuple[str, str]:
    """The field and the message of the first error pydantic reports, for people."""
    error = exc.errors()[0]
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "required"
    elif error["type"] == "extra_forbidden":
        message = "unknown field"
    return location_name(error["loc"]), message


def body_problem(exc: ValidationError) -> ApiProblem:
    """The 422 problem of a request body that fails validation: raised by routes that
    validate a body further themselves (an article's record), and the answer of
    :func:`validation_problem` when a :class:`~service.schemas.RequestBody` fails."""
    location, message = _first_error(exc)
    return ApiProblem(
        422, "invalid-body", f"{location or 'body'}: {message}", field=location or None
    )


def validation_problem(exc: ValidationError) -> Response:
    """Turn a request-model validation error into a 400 (parameter) or 422 (body) problem.

    flask-openapi3 calls this for every request model; which part of the request failed
    follows from the failing model's class (``exc.title`` names it): a
    :class:`~service.schemas.RequestBody` is the body, any other model a parameter.
    """
    if RequestBody.is_title(exc.title):
        return _from_api(body_problem(exc))
    location, message = _first_error(exc)
    return problem(
        400,
        "invalid-parameter",
        "Invalid parameter",
        f"{location}: {message}",
        parameter=location or None,
    )


def request_id(incoming: str) -> str:
    """The id a request is known by in logs and its ``X-Request-Id`` header: the
    caller's own (printable ASCII, at most 128 characters), else a new one."""
    valid = 0 < len(incoming) <= 128 and incoming.isascii() and incoming.isprintable()
    return incoming if valid else uuid.uuid4().hex


def register_error_handlers(app: Flask) -> None:
    """Install the handlers and the request-id header on ``app``."""

    @app.before_request
    def _assign_request_id() -> None:
        g.request_id = request_id(request.headers.get("X-Request-Id", ""))

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        return response

    app.register_error_handler(RecommenderError, _from_core)
    app.register_error_handler(ApiProblem, _from_api)
    app.register_error_handler(HTTPException, _from_http)
    app.register_error_handler(Exception, _internal)
