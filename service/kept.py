"""Kept answers, served before the web framework runs.

A site shows the same related block under a popular article thousands of times
between two changes, and the response cache (:mod:`service.cache`) keeps each
answer under its ETag. Once an answer is kept, what is left of a request is the
framework: routing, hooks, validating the query, building the response. On a
hot set of articles that framework was a third of a request's cost, more than
the cache lookup it wrapped (``make bench-scale``'s hot-set figures).

:class:`KeptAnswers` is a WSGI layer in front of the Flask app that answers a
``GET`` of an answer route whose answer is kept, and hands every other request,
and every miss, to the app unchanged. It computes the key and the ETag with the
same functions the routes use (:func:`answer_key`, :func:`answer_tag`), so it
finds exactly the answers the routes kept, under the same freshness check: it
never serves what the app would not. What it cannot know cheaply it leaves to
the app: a request with an ``Origin`` header when CORS is configured (flask-cors
decides its headers), a malformed ``bucket``, any error.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Response
from werkzeug import Request
from werkzeug.datastructures import MultiDict

from recommender import BUCKETS

from .errors import request_id

if TYPE_CHECKING:
    from recommender import Engine

    from .app import EngineHolder
    from .cache import ResponseCache
    from .metrics import Metrics

log = logging.getLogger(__name__)

#: The answer routes, by the block they return: the rules the app declares.
ANSWER_RULES = {
    "related": "/v1/articles/<article_id>/related",
    "featured": "/v1/articles/<article_id>/featured",
    "recommendations": "/v1/articles/<article_id>/recommendations",
}
# Flask's default converter: one path segment.
_ANSWER_PATH = re.compile(r"/v1/articles/[^/]+/(related|featured|recommendations)")
#: The environ key under which a miss's ETag goes on to the app (see :func:`known_miss`).
MISSED_TAG = "recommender.missed_tag"
JSON = "application/json"

HTTP_STATUS_CODES_LINE = {200: "200 OK", 304: "304 Not Modified"}

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def answer_key(path: str, args: MultiDict[str, str], variant: str) -> str:
    """The cache key of an answer route's request: its path and parameters, with the
    reader's bucket replaced by its A/B variant (10,000 buckets share a few answers)."""
    pairs = sorted((name, value) for name, value in args.items(multi=True) if name != "bucket")
    return f"{path}?{urlencode(pairs)}|variant={variant}"


def answer_tag(current: Engine, key: str, max_age: int) -> tuple[str, str]:
    """``(etag, cache_control)`` of the request ``key`` now.

    The ETag depends on the engine's freshness (index version, rules version, how
    many scheduled articles have gone live, the click-through estimates) and the
    request, so it changes exactly when the answer may; it is the response cache's
    key too. ``max-age`` (at most ``max_age`` seconds) never reaches past the moment
    the next scheduled article goes live, so no cache keeps an answer that leaves it
    out.
    """
    freshness = current.freshness()
    tag = hashlib.sha256(f"{freshness.version}|{key}".encode()).hexdigest()[:32]
    if freshness.expires_in is not None:
        max_age = min(max_age, int(freshness.expires_in))
    return tag, f"public, max-age={max_age}"


def kept_headers(tag: str, cache_control: str) -> list[tuple[str, str]]:
    """The headers of an answer's response, 200 or 304, besides its body's."""
    return [("ETag", f'"{tag}"'), ("Cache-Control", cache_control), ("Vary", "Origin")]


def kept_response(body: bytes | None, tag: str, cache_control: str, not_modified: bool) -> Response:
    """The app's response to a request whose answer is ``body`` under ``tag``: 304
    when the client holds it already (``not_modified``)."""
    headers = kept_headers(tag, cache_control)
    if not_modified:
        return Response(status=304, headers=headers)
    return Response(body, mimetype=JSON, headers=headers)


def known_miss(environ: dict[str, Any], tag: str) -> bool:
    """Whether :class:`KeptAnswers` looked ``tag`` up for this request and found
    nothing (the app then need not look again, nor count a second miss)."""
    return environ.get(MISSED_TAG) == tag


def _bucket(args: MultiDict[str, str]) -> tuple[bool, int | None]:
    """``(understood, bucket)``: the request's ``bucket``, when it is plainly valid.
    Anything the query model might read otherwise (or refuse) is not understood,
    and the app answers it."""
    values = args.getlist("bucket")
    if not values:
        return True, None
    if len(values) > 1 or not values[0].isascii() or not values[0].isdigit():
        return False, None
    bucket = int(values[0])
    return bucket < BUCKETS, bucket


class KeptAnswers:
    """WSGI middleware answering kept answers before ``app`` runs.

    Args:
        app: the WSGI app to hand everything else to (the Flask app's ``wsgi_app``).
        holder: the app's engine holder; nothing is answered before the engine is
            loaded.
        answers: the app's response cache.
        metrics: the app's metrics, so kept answers are counted and timed on the
            same series as the rest.
        max_age: RECOMMENDER_CACHE_MAX_AGE.
        cors: whether CORS is configured (then a request with an ``Origin`` header
            goes to the app, whose CORS extension decides its headers).
    """

    def __init__(
        self,
        app: WsgiApp,
        holder: EngineHolder,
        answers: ResponseCache,
        metrics: Metrics,
        max_age: int,
        cors: bool,
    ) -> None:
        self.app = app
        self.holder = holder
        self.answers = answers
        self.metrics = metrics
        self.max_age = max_age
        self.cors = cors

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        current = self._engine_for(environ)
        if current is None:
            return self.app(environ, start_response)
        # One check of what changed for the whole request: a miss goes on to the app
        # inside this view, and the app's reads share the check (Engine.view).
        with current.view():
            try:
                found = self._kept(environ, current)
            except Exception:  # the app answers it, and says what went wrong its own way
                log.exception("kept answers: handing the request to the app")
                found = None
            if found is None:
                return self.app(environ, start_response)
        rule, status, headers, body = found
        headers.append(("X-Request-Id", request_id(environ.get("HTTP_X_REQUEST_ID", ""))))
        # Straight to the server: a werkzeug Response would cost as much as the rest.
        start_response(HTTP_STATUS_CODES_LINE[status], headers)
        self.metrics.observe(rule, "GET", status, time.perf_counter() - started)
        return [body]

    def _engine_for(self, environ: dict[str, Any]) -> Engine | None:
        """The engine, when this request may have a kept answer."""
        if environ.get("REQUEST_METHOD") != "GET" or not self.answers.size:
            return None
        if self.cors and environ.get("HTTP_ORIGIN"):
            return None
        return self.holder.loaded()

    def _kept(
        self, environ: dict[str, Any], current: Engine
    ) -> tuple[str, int, list[tuple[str, str]], bytes] | None:
        """``(route rule, status, headers, body)`` when the answer is kept, else None."""
        request = Request(environ)
        matched = _ANSWER_PATH.fullmatch(request.path)
        if matched is None:
            return None
        understood, bucket = _bucket(request.args)
        if not understood:
            return None
        variant = current.served_knobs(bucket)[1]
        key = answer_key(request.path, request.args, variant)
        tag, cache_control = answer_tag(current, key, self.max_age)
        body = self.answers.get(tag)
        if body is None:
            environ[MISSED_TAG] = tag
            return None
        rule = ANSWER_RULES[matched.group(1)]
        headers = kept_headers(tag, cache_control)
        if request.if_none_match.contains(tag):
            return rule, 304, headers, b""
        headers += [("Content-Type", JSON), ("Content-Length", str(len(body)))]
        return rule, 200, headers, body
