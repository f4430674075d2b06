"""The Flask application factory: the engine holder, the request hooks, and the
registration of the JSON API's blueprints (:mod:`service.routes`).

Routes only translate HTTP to :class:`recommender.Engine` calls and back; request
and response shapes live in :mod:`service.schemas`, errors in :mod:`service.errors`.
Whether a route needs an API key is read from its own OpenAPI declaration
(:func:`secured_endpoints`).
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from importlib.metadata import PackageNotFoundError, version

from flask import g, jsonify, request
from flask_openapi3.models.info import Info
from flask_openapi3.openapi import OpenAPI
from flask_openapi3.utils import parse_rule
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from recommender import (
    Embedder,
    Engine,
    JobRunner,
    RecommenderError,
    Settings,
    State,
    open_state,
)

from .cache import ResponseCache
from .errors import ApiProblem, register_error_handlers, validation_problem
from .events import EventGate
from .kept import KeptAnswers
from .metrics import Metrics
from .routes import BLUEPRINTS
from .routes.common import settings as current_settings
from .routes.events import EVENTS_ROUTE
from .schemas import Problem
from .ui import ui

log = logging.getLogger(__name__)


class EngineHolder:
    """Creates the engine on first use, so the app starts even before an index exists
    (requests then get 503 until a snapshot is published)."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine | None = None,
        state: State | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.embedder = embedder
        self._engine = engine
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def get(self) -> Engine:
        """The engine, loading the published snapshot the first time."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = Engine(self.settings, state=self.state, embedder=self.embedder)
        return self._engine

    def stop(self) -> None:
        """End the click-through refreshes."""
        self._stopping.set()

    def loaded(self) -> Engine | None:
        """The engine if it is loaded already (metrics must not trigger a load)."""
        return self._engine

    def warm_up(self) -> threading.Thread:
        """Load the engine, and what a write needs when writes are possible (API keys
        are set: see :meth:`~recommender.engine.Engine.prepare_writes`), in a
        background thread: a server worker calls this when it starts, so neither the
        first read nor the first ``PUT`` waits for a load (a ``PUT`` embeds its
        article; loading the model takes seconds). It then starts the
        thread that estimates the click-through rates from the reader events every
        RECOMMENDER_CLICKS_REFRESH_SECONDS until :meth:`stop`."""
        thread = threading.Thread(target=self._warm, name="warm-up", daemon=True)
        thread.start()
        return thread

    def _warm(self) -> None:
        started = time.monotonic()
        try:
            engine = self.get()
            engine.refresh_clicks()
            if self.settings.api_key_list:
                engine.prepare_writes()
        except RecommenderError as exc:  # no snapshot yet: requests will say so (503)
            log.warning("warm-up: %s", exc)
            return
        # Until this line a worker shares its CPU with the loads: operators (and the
        # scale benchmark) know from it when latency is the steady state's.
        log.info("warm-up done in %.1f s", time.monotonic() - started)
        refresher = threading.Thread(
            target=self._refresh_clicks_forever, args=(engine,), name="click-refresh", daemon=True
        )
        refresher.start()

    def _refresh_clicks_forever(self, engine: Engine) -> None:
        """Estimate the click-through rates again every RECOMMENDER_CLICKS_REFRESH_SECONDS,
        on a thread of its own: reading every event aggregate must not hold up a
        request."""
        while not self._stopping.wait(self.settings.clicks_refresh_seconds):
            try:
                engine.refresh_clicks()
            except RecommenderError as exc:  # the store is down: keep the last estimate
                log.warning("click-through refresh: %s", exc)


def _check_key() -> None:
    """Refuse the request without a valid key; remember the key's label as ``g.api_key_label``
    (the "who" of the rules audit log)."""
    entries = current_settings().api_key_entries
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiProblem(
            401, "unauthorized", "this route needs an API key: Authorization: Bearer KEY"
        )
    offered = key.strip().encode()
    # Compare with every key, without stopping early, in constant time per key.
    label = None
    for candidate_label, candidate in entries:
        if hmac.compare_digest(offered, candidate.encode()):
            label = candidate_label
    if label is None:
        raise ApiProblem(403, "forbidden", "the API key is not valid for this server")
    g.api_key_label = label


def _check_json_body() -> None:
    if request.mimetype != "application/json":
        raise ApiProblem(
            415,
            "unsupported-media-type",
            f"send the body as application/json, not {request.mimetype or 'nothing'}",
        )
    try:
        request.get_json()
    except RequestEntityTooLarge:
        raise
    except BadRequest:  # werkzeug's own message is HTML-ish; say it plainly
        raise ApiProblem(400, "invalid-json", "the body is not valid JSON") from None


def _one_view_per_request(app: OpenAPI, holder: EngineHolder) -> None:
    """Each request checks the shared state once (:meth:`Engine.view`): its cache key,
    its filters and its answer see the same versions, in one round trip with
    PostgreSQL."""

    @app.before_request
    def _open_view() -> None:
        loaded = holder.loaded()  # the very first request loads it, and checks per read
        if loaded is not None:
            g.engine_view = loaded.view()
            g.engine_view.__enter__()

    @app.teardown_request
    def _close_view(_error: BaseException | None) -> None:
        view = g.pop("engine_view", None)
        if view is not None:
            view.__exit__(None, None, None)


def secured_endpoints(app: OpenAPI) -> frozenset[str]:
    """The endpoints of the routes that need an API key: those whose operation in the
    OpenAPI document declares ``security``.

    The guard reads nothing else, so what ``/openapi.json`` tells clients is what the
    server enforces; ``HEAD`` and ``OPTIONS`` of a route follow its declaration.
    """
    secured = set()
    for rule in app.url_map.iter_rules():
        item = app.paths.get(parse_rule(rule.rule))
        if item is None:
            continue  # not in the document: /openapi.json itself, the editor, the widget
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            operation = getattr(item, method.lower())
            if operation is not None and operation.security:
                secured.add(rule.endpoint)
    return frozenset(secured)


def _guard(app: OpenAPI) -> None:
    """Before a route runs: its key, if its declaration asks for one, and a JSON body."""
    secured = secured_endpoints(app)

    @app.before_request
    def _check_request() -> None:
        if request.url_rule is None:
            return  # 404 or 405: the routing error answers first
        if request.url_rule.endpoint in secured:
            _check_key()
        has_body = bool(request.content_length) or request.headers.get("Transfer-Encoding")
        # The events route reads its own body: sendBeacon sends JSON as text/plain.
        json_route = request.path.startswith("/v1/") and request.url_rule.rule != EVENTS_ROUTE
        if request.method in {"PUT", "POST"} and json_route and has_body:
            _check_json_body()


def _version() -> str:
    try:
        return version("recommender")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0"


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    embedder: Embedder | None = None,
) -> OpenAPI:
    """Build the Flask app.

    Args:
        settings: engine settings; default: read from ``RECOMMENDER_*`` variables.
        engine: an engine to serve (tests); default: one built from ``settings`` on first use.
        embedder: the model of the engine built from ``settings`` (a server's workers
            share one process's, :mod:`recommender.embedding_service`); default: the
            configured model, loaded in this process.
    """
    settings = settings or (engine.settings if engine else Settings.from_env())
    app = OpenAPI(
        __name__,
        info=Info(
            title="recommender",
            version=_version(),
            description="Related articles and featured picks. Errors are application/problem+json.",
        ),
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        validation_error_status=400,
        validation_error_model=Problem,
        validation_error_callback=validation_problem,
        doc_ui=False,  # no bundled Swagger UI; the document itself is served below
        static_folder=None,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    # One set of stores per app: PostgreSQL's connections are shared by the engine
    # and the jobs (and its schema is checked here, so a server that is behind
    # fails at start, naming the command to run).
    state = open_state(settings) if engine is None else None
    holder = EngineHolder(settings, engine, state, embedder)
    app.extensions["recommender"] = holder
    app.extensions["recommender.answers"] = ResponseCache(settings.response_cache)
    register_error_handlers(app)
    _one_view_per_request(app, holder)
    metrics = Metrics(holder.loaded)
    metrics.install(app)
    app.extensions["recommender.metrics"] = metrics
    app.extensions["recommender.jobs"] = JobRunner(
        settings, lambda: holder.get().embedder, state=state
    )
    app.extensions["recommender.events"] = (state or open_state(settings)).events
    app.extensions["recommender.event_gate"] = EventGate(settings.events_per_minute)
    for api in BLUEPRINTS:
        app.register_api(api)
    _guard(app)
    app.register_blueprint(ui)  # /editor and /widget.js: HTML and JS, not in the spec
    # Flask's own add_url_rule: the spec does not list itself.
    app.add_url_rule("/openapi.json", "openapi", lambda: jsonify(app.api_doc))
    if settings.cors_origin_list:
        from flask_cors import CORS

        origins = settings.cors_origin_list
        read = {"origins": origins, "methods": ["GET", "HEAD", "OPTIONS"], "max_age": 3600}
        CORS(
            app,
            resources={
                r"/v1/articles*": read,
                r"/v1/recommendations": {**read, "methods": ["POST", "OPTIONS"]},
                EVENTS_ROUTE: {**read, "methods": ["POST", "OPTIONS"]},
            },
            expose_headers=["ETag", "X-Request-Id"],
            vary_header=True,
        )
    # Outermost, so a kept answer skips the framework (see service.kept).
    app.wsgi_app = KeptAnswers(  # type: ignore[method-assign]
        app.wsgi_app,
        holder,
        app.extensions["recommender.answers"],
        metrics,
        settings.cache_max_age,
        cors=bool(settings.cors_origin_list),
    )
    return app
