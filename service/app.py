"""The Flask application factory and the JSON API routes.

Routes only translate HTTP to :class:`recommender.Engine` calls and back; request
and response shapes live in :mod:`service.schemas`, errors in :mod:`service.errors`.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Response, current_app, g, jsonify, request
from flask_openapi3.models.info import Info
from flask_openapi3.models.tag import Tag
from flask_openapi3.openapi import OpenAPI
from pydantic import ValidationError
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from recommender import (
    DEFAULT_VARIANT,
    Article,
    ArticleNotFound,
    Embedder,
    Engine,
    EventStore,
    Experiment,
    Filters,
    InvalidArgument,
    JobRunner,
    RankingKnobs,
    Recommendation,
    RecommenderError,
    Settings,
    State,
    article_events,
    open_state,
    record_events,
)

from .cache import ResponseCache
from .errors import (
    PROBLEM_MIME,
    ApiProblem,
    body_problem,
    register_error_handlers,
    validation_problem,
)
from .events import EventGate, read_batch
from .kept import ANSWER_RULES, KeptAnswers, answer_key, answer_tag, kept_response, known_miss
from .metrics import Metrics
from .schemas import (
    ArticleBody,
    ArticleEventsOut,
    ArticleList,
    ArticleOut,
    ArticlePath,
    ArticleRulesBody,
    ArticleRulesOut,
    ArticlesQuery,
    ArticleSummary,
    DraftBody,
    EventsCounted,
    ExcludesBody,
    ExcludesOut,
    ExperimentBody,
    ExperimentList,
    ExperimentOut,
    ExperimentPath,
    Health,
    ItemsResponse,
    JobOut,
    JobPath,
    JobStarted,
    ListQuery,
    Problem,
    RecommendationsResponse,
    ReindexBody,
    ReloadResult,
    ServedKnobs,
    StatusResponse,
    StopExperimentBody,
    WriteResult,
)
from .ui import ui

log = logging.getLogger(__name__)

READ = Tag(name="recommendations", description="Related articles and featured picks (public).")
ARTICLES = Tag(name="articles", description="The articles (reads public, writes need a key).")
OPS = Tag(name="operations", description="Health, readiness, metrics.")
ADMIN = Tag(name="admin", description="Reindex jobs and reloads (key required).")
RULES = Tag(
    name="rules",
    description="Editorial pins, blocks, excludes and featured overrides "
    "(every route needs a key).",
)
EVENTS = Tag(
    name="events",
    description="Reader impressions and clicks (sending is public; reading needs a key).",
)
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]
EVENTS_ROUTE = "/v1/events"
ARTICLE_EVENTS_RULE = "/v1/articles/<article_id>/events"


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
        """Load the engine, and the embedding model when writes are possible (API keys
        are set), in a background thread: a server worker calls this when it starts,
        so neither the first read nor the first ``PUT`` waits for a load (a ``PUT``
        embeds its article; loading the model takes seconds). It then starts the
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
                engine.embedder.encode(["warm up"])
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


def engine() -> Engine:
    """The engine of the current app."""
    holder: EngineHolder = current_app.extensions["recommender"]
    return holder.get()


def settings() -> Settings:
    """The settings of the current app."""
    holder: EngineHolder = current_app.extensions["recommender"]
    return holder.settings


def _problems(*codes: int) -> dict[str | int, Any]:
    ref = {"$ref": "#/components/schemas/Problem"}
    return {code: {"content": {PROBLEM_MIME: {"schema": ref}}} for code in (*codes, 500)}


def _items(items: list[Recommendation]) -> list[dict[str, Any]]:
    return [item.to_json() for item in items]


def _cached(make_payload: Callable[[], Any], key: str | None = None) -> Response:
    """A cacheable JSON answer: 304 when the client's ETag still holds.

    The ETag (:func:`~service.kept.answer_tag`) changes exactly when the answer may;
    it is checked before any ranking runs, and answers are kept under it
    (:class:`~service.cache.ResponseCache`), where :class:`~service.kept.KeptAnswers`
    finds them before the next request reaches the app. ``key`` stands for the
    request (default: its path and query string).
    """
    key = request.full_path if key is None else key
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


def _answer_args(query: ListQuery) -> tuple[int | None, Filters, RankingKnobs, bool]:
    """``k``, filters, knobs and ``explain`` of an answer route, for
    :meth:`Engine.related` and kin (``k`` None: the engine's RECOMMENDER_DEFAULT_K).
    The knobs are the served ones (with the reader's A/B variant's, see
    :func:`_variant`) changed by the request's own."""
    current = engine()
    filters = query.filters(current.has_article)
    served, _ = current.served_knobs(query.bucket)
    return query.k, filters, query.knobs(served) or served, query.explain


def _variant(query: ListQuery) -> str:
    """The A/B variant answering this request (``"default"`` outside an experiment)."""
    return engine().served_knobs(query.bucket)[1]


def _answer_key(query: ListQuery) -> str:
    """The cache key of an answer route's request (see :func:`~service.kept.answer_key`)."""
    return answer_key(request.path, request.args, _variant(query))


def _check_key() -> None:
    """Refuse the request without a valid key; remember the key's label as ``g.api_key_label``
    (the "who" of the rules audit log)."""
    entries = settings().api_key_entries
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


def _register_routes(app: OpenAPI) -> None:
    @app.before_request
    def _guard() -> None:
        if request.url_rule is None:
            return  # 404 or 405: the routing error answers first
        writes = request.method in {"PUT", "DELETE"} and request.path.startswith("/v1/")
        admin = request.path.startswith("/v1/admin/")
        rule = request.url_rule.rule
        if writes or admin or _is_rules_route(rule) or rule == ARTICLE_EVENTS_RULE:
            _check_key()
        has_body = bool(request.content_length) or request.headers.get("Transfer-Encoding")
        # The events route reads its own body: sendBeacon sends JSON as text/plain.
        json_route = request.path.startswith("/v1/") and rule != EVENTS_ROUTE
        if request.method in {"PUT", "POST"} and json_route and has_body:
            _check_json_body()

    @app.get("/healthz", tags=[OPS], responses={200: Health}, summary="The process is up")
    def healthz() -> Any:
        return jsonify({"status": "ok"})

    @app.get(
        "/readyz",
        tags=[OPS],
        responses={200: Health, **_problems(503)},
        summary="A snapshot is loaded and answers can be served",
    )
    def readyz() -> Any:
        status = engine().status()
        return jsonify(
            {"status": "ready", "index_version": status.index_version, "articles": status.articles}
        )

    @app.get(
        "/v1/status",
        tags=[OPS],
        responses={200: StatusResponse, **_problems(503)},
        summary="What is served: index version, its age and the article count",
    )
    def index_status() -> Any:
        response = jsonify(asdict(engine().status()))
        response.headers["Cache-Control"] = "no-store"  # the age changes every second
        return response

    @app.get(
        "/metrics",
        tags=[OPS],
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
        summary="Prometheus metrics",
    )
    def metrics() -> Any:
        body = current_app.extensions["recommender.metrics"].render()
        return Response(body, mimetype="text/plain", content_type="text/plain; version=0.0.4")

    @app.get(
        ANSWER_RULES["related"],
        tags=[READ],
        responses={200: ItemsResponse, 304: None, **_problems(400, 404, 503)},
        summary="Related articles for an article",
    )
    def related(path: ArticlePath, query: ListQuery) -> Any:
        return _cached(
            lambda: {
                "article_id": path.article_id,
                "items": _items(engine().related(path.article_id, *_answer_args(query))),
                "variant": _variant(query),
            },
            _answer_key(query),
        )

    @app.get(
        ANSWER_RULES["featured"],
        tags=[READ],
        responses={200: ItemsResponse, 304: None, **_problems(400, 404, 503)},
        summary="Featured picks for an article",
    )
    def featured(path: ArticlePath, query: ListQuery) -> Any:
        return _cached(
            lambda: {
                "article_id": path.article_id,
                "items": _items(engine().featured(path.article_id, *_answer_args(query))),
                "variant": _variant(query),
            },
            _answer_key(query),
        )

    @app.get(
        ANSWER_RULES["recommendations"],
        tags=[READ],
        responses={200: RecommendationsResponse, 304: None, **_problems(400, 404, 503)},
        summary="Related and featured blocks in one call",
    )
    def recommendations(path: ArticlePath, query: ListQuery) -> Any:
        def payload() -> dict[str, Any]:
            both = engine().recommendations(path.article_id, *_answer_args(query))
            return {
                "article_id": path.article_id,
                "related": _items(both.related),
                "featured": _items(both.featured),
                "index_version": both.index_version,
                "variant": _variant(query),
            }

        return _cached(payload, _answer_key(query))

    @app.post(
        "/v1/recommendations",
        tags=[READ],
        responses={200: RecommendationsResponse, **_problems(400, 413, 415, 422, 503)},
        summary="Related and featured blocks for a draft that is not in the corpus",
    )
    def draft_recommendations(body: DraftBody) -> Any:
        both = engine().recommend_text(
            body.title, body.body, body.k, body.tags, explain=body.explain
        )
        return jsonify(
            {
                "article_id": None,
                "related": _items(both.related),
                "featured": _items(both.featured),
                "index_version": both.index_version,
                "variant": DEFAULT_VARIANT,
            }
        )

    @app.get(
        "/v1/articles",
        tags=[ARTICLES],
        responses={200: ArticleList, 304: None, **_problems(400, 503)},
        summary="List articles, newest first",
    )
    def list_articles(query: ArticlesQuery) -> Any:
        def payload() -> dict[str, Any]:
            page = engine().list_articles(
                limit=query.limit,
                offset=query.offset,
                cursor=query.cursor,
                tag=query.tag,
                status=query.status,
                title_contains=query.q,
            )
            # The listing's keys are the schema's, so the two cannot drift apart.
            keys = ArticleSummary.model_fields
            return {
                "items": [{k: a.to_json()[k] for k in keys} for a in page.articles],
                "total": page.total,
                "next_cursor": page.next_cursor,
            }

        return _cached(payload)

    @app.get(
        "/v1/articles/<article_id>",
        tags=[ARTICLES],
        responses={200: ArticleOut, 304: None, **_problems(400, 404, 503)},
        summary="One article",
    )
    def get_article(path: ArticlePath) -> Any:
        return _cached(lambda: engine().article(path.article_id).to_json())

    @app.put(
        "/v1/articles/<article_id>",
        tags=[ARTICLES],
        security=SECURITY,
        responses={
            200: WriteResult,
            201: WriteResult,
            **_problems(400, 401, 403, 409, 413, 415, 422, 503),
        },
        summary="Create or replace an article (visible to readers within a second)",
    )
    def put_article(path: ArticlePath, body: ArticleBody) -> Any:
        if body.id is not None and body.id != path.article_id:
            raise ApiProblem(
                409,
                "id-conflict",
                f"the body's id {body.id!r} differs from the path's {path.article_id!r}",
                field="id",
            )
        try:
            article = Article.from_record(
                body.record(path.article_id),
                strip_shortcodes=settings().strip_shortcodes == "all",
            )
        except ValidationError as exc:
            raise body_problem(exc) from None
        try:
            created = engine().upsert(article, body.embedding)
        except InvalidArgument as exc:
            if exc.parameter != "embedding":
                raise
            raise ApiProblem(422, "invalid-body", str(exc), field="embedding") from None
        result = {"id": article.id, "created": created, "index_version": engine().index_version}
        return jsonify(result), 201 if created else 200

    @app.post(
        "/v1/admin/reindex",
        tags=[ADMIN],
        security=SECURITY,
        responses={202: JobStarted, **_problems(400, 401, 403, 409, 415, 422)},
        summary="Start a background reindex of the configured sources",
    )
    def admin_reindex(body: ReindexBody) -> Any:
        job_id = current_app.extensions["recommender.jobs"].start_reindex(full=body.full)
        return jsonify(
            {"job_id": job_id, "state": "queued", "url": f"/v1/admin/jobs/{job_id}"}
        ), 202

    @app.get(
        "/v1/admin/jobs/<job_id>",
        tags=[ADMIN],
        security=SECURITY,
        responses={200: JobOut, **_problems(400, 401, 403, 404)},
        summary="State, progress and summary of a background job",
    )
    def admin_job(path: JobPath) -> Any:
        job = current_app.extensions["recommender.jobs"].get(path.job_id)
        if job is None:
            raise ApiProblem(404, "job-not-found", f"no job with id {path.job_id!r}")
        return jsonify(job.to_json())

    @app.post(
        "/v1/admin/reload",
        tags=[ADMIN],
        security=SECURITY,
        responses={200: ReloadResult, **_problems(401, 403, 415, 503)},
        summary="Load a newly published snapshot, and estimate the click-through rates, now "
        "(workers also poll for both)",
    )
    def admin_reload() -> Any:
        reloaded = engine().reload()
        estimated = engine().refresh_clicks() is not None
        return jsonify(
            {
                "reloaded": reloaded,
                "index_version": engine().index_version,
                "click_through": estimated,
            }
        )

    @app.delete(
        "/v1/articles/<article_id>",
        tags=[ARTICLES],
        security=SECURITY,
        responses={204: None, **_problems(400, 401, 403, 404, 503)},
        summary="Delete an article (gone from every list at once)",
    )
    def delete_article(path: ArticlePath) -> Any:
        engine().delete(path.article_id)
        return Response(status=204)


# -- editorial rules ---------------------------------------------------------------------


def _is_rules_route(rule: str) -> bool:
    """Rules routes need a key for every method: they show unpublished editorial intent."""
    return rule.startswith("/v1/rules") or rule.endswith("/rules")


def _who() -> str:
    """Who makes this change, for the audit log: the label of the request's API key."""
    return str(g.get("api_key_label", "api"))


def _private(payload: dict[str, Any], status: int = 200) -> Response:
    response = jsonify(payload)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"  # behind a key: no shared caches
    return response


def _register_rule_routes(app: OpenAPI) -> None:
    @app.get(
        "/v1/articles/<article_id>/rules",
        tags=[RULES],
        security=SECURITY,
        responses={200: ArticleRulesOut, **_problems(400, 401, 403, 404, 503)},
        summary="The pins and blocks under an article, and its featured override",
    )
    def get_article_rules(path: ArticlePath) -> Any:
        rules = engine().article_rules(path.article_id)
        return _private(ArticleRulesOut.of(rules, engine().rules_version))

    @app.put(
        "/v1/articles/<article_id>/rules",
        tags=[RULES],
        security=SECURITY,
        responses={
            200: ArticleRulesOut,
            **_problems(400, 401, 403, 404, 413, 415, 422, 503),
        },
        summary="Replace the rules under an article (served on the next request)",
    )
    def put_article_rules(path: ArticlePath, body: ArticleRulesBody) -> Any:
        rules = engine().set_article_rules(body.rules(path.article_id), _who())
        return _private(ArticleRulesOut.of(rules, engine().rules_version))

    @app.delete(
        "/v1/articles/<article_id>/rules",
        tags=[RULES],
        security=SECURITY,
        responses={204: None, **_problems(400, 401, 403, 404, 503)},
        summary="Remove every rule under an article and its featured override",
    )
    def delete_article_rules(path: ArticlePath) -> Any:
        engine().clear_article_rules(path.article_id, _who())
        return Response(status=204)

    @app.get(
        "/v1/rules/excludes",
        tags=[RULES],
        security=SECURITY,
        responses={200: ExcludesOut, **_problems(401, 403, 503)},
        summary="The ids never suggested anywhere",
    )
    def get_excludes() -> Any:
        return _private({"ids": engine().excludes(), "version": engine().rules_version})

    @app.put(
        "/v1/rules/excludes",
        tags=[RULES],
        security=SECURITY,
        responses={200: ExcludesOut, **_problems(400, 401, 403, 413, 415, 422, 503)},
        summary="Replace the ids never suggested anywhere",
    )
    def put_excludes(body: ExcludesBody) -> Any:
        ids = engine().set_excludes(body.ids, _who())
        return _private({"ids": ids, "version": engine().rules_version})


EXPERIMENTS = Tag(
    name="experiments",
    description="A/B tests of ranking knobs: variants served by the reader's bucket, "
    "compared by click-through (docs/signals.md). Every route needs an API key.",
)


def _experiment_out(experiment: Experiment) -> dict[str, Any]:
    results = engine().experiment_results(experiment)
    return {
        **experiment.to_json(),
        "results": None
        if results is None
        else {block: [r.to_json() for r in rows] for block, rows in results.items()},
    }


def _register_experiment_routes(app: OpenAPI) -> None:
    @app.get(
        "/v1/rules/experiments",
        tags=[EXPERIMENTS],
        security=SECURITY,
        responses={200: ExperimentList, **_problems(401, 403, 503)},
        summary="Every A/B test, the newest first, with its variants' click-through",
    )
    def list_experiments() -> Any:
        return _private({"experiments": [_experiment_out(e) for e in engine().experiments()]})

    @app.post(
        "/v1/rules/experiments",
        tags=[EXPERIMENTS],
        security=SECURITY,
        responses={201: ExperimentOut, **_problems(400, 401, 403, 409, 413, 415, 422, 503)},
        summary="Start an A/B test (served on the next request; one runs at a time)",
    )
    def start_experiment(body: ExperimentBody) -> Any:
        variants = [variant.variant() for variant in body.variants]
        experiment = engine().start_experiment(body.id, variants, _who())
        return _private(_experiment_out(experiment), 201)

    @app.get(
        "/v1/rules/experiments/<experiment_id>",
        tags=[EXPERIMENTS],
        security=SECURITY,
        responses={200: ExperimentOut, **_problems(400, 401, 403, 404, 503)},
        summary="One A/B test, with its variants' click-through",
    )
    def get_experiment(path: ExperimentPath) -> Any:
        return _private(_experiment_out(engine().experiment(path.experiment_id)))

    @app.post(
        "/v1/rules/experiments/<experiment_id>/stop",
        tags=[EXPERIMENTS],
        security=SECURITY,
        responses={
            200: ExperimentOut,
            **_problems(400, 401, 403, 404, 409, 413, 415, 422, 503),
        },
        summary="Stop an A/B test, optionally making one variant's knobs the default",
    )
    def stop_experiment(path: ExperimentPath, body: StopExperimentBody) -> Any:
        experiment = engine().stop_experiment(path.experiment_id, body.promote, _who())
        return _private(_experiment_out(experiment))

    @app.get(
        "/v1/rules/knobs",
        tags=[EXPERIMENTS],
        security=SECURITY,
        responses={200: ServedKnobs, **_problems(401, 403, 503)},
        summary="The ranking knobs served to requests that set none",
    )
    def get_served_knobs() -> Any:
        knobs, _ = engine().served_knobs()
        return _private({"knobs": asdict(knobs), "promoted": dict(engine().promoted_knobs())})

    @app.delete(
        "/v1/rules/knobs",
        tags=[EXPERIMENTS],
        security=SECURITY,
        responses={204: None, **_problems(401, 403, 503)},
        summary="Serve the settings' knobs again, forgetting promoted ones",
    )
    def reset_served_knobs() -> Any:
        engine().reset_served_knobs(_who())
        return Response(status=204)


# -- reader events -----------------------------------------------------------------------


def _event_store() -> EventStore:
    store: EventStore = current_app.extensions["recommender.events"]
    return store


def _register_event_routes(app: OpenAPI) -> None:
    @app.post(
        EVENTS_ROUTE,
        tags=[EVENTS],
        responses={202: EventsCounted, **_problems(400, 413, 415, 422, 429, 503)},
        summary="Count a batch of reader impressions and clicks (public; the widget sends it)",
    )
    def post_events() -> Any:
        gate: EventGate = current_app.extensions["recommender.event_gate"]
        gate.check_rate(request.remote_addr or "")
        counted = 0
        if not gate.is_bot(request.user_agent.string):
            payload = read_batch(request, settings().events_max_bytes)
            current = engine()
            counted = record_events(
                payload,
                _event_store(),
                current.has_article,
                current.index_version,
                settings().events_max_batch,
            )
        return _private({"counted": counted}, 202)

    @app.get(
        ARTICLE_EVENTS_RULE,
        tags=[EVENTS],
        security=SECURITY,
        responses={200: ArticleEventsOut, **_problems(400, 401, 403, 404, 503)},
        summary="Impressions, clicks and click-through of an article and of what it shows",
    )
    def get_article_events(path: ArticlePath) -> Any:
        if not engine().has_article(path.article_id):
            raise ArticleNotFound(path.article_id)
        return _private(
            {
                "article_id": path.article_id,
                "half_life_days": settings().events_half_life_days,
                **article_events(_event_store(), path.article_id),
            }
        )


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
    _register_routes(app)
    _register_rule_routes(app)
    _register_experiment_routes(app)
    _register_event_routes(app)
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
