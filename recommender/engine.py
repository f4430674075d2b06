"""The :class:`Engine`: the published snapshot plus live API changes and editorial
rules, answering ``related``, ``featured``, ``recommend_text`` and article reads
and writes. The web and CLI layers call only this."""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

import numpy as np

from .articles import Article
from .clicks import ClickThrough, PositionCounts, estimate_click_through
from .config import MAX_K, Settings
from .duplicates import Shingling, Signer
from .embedding import Embedder, SentenceTransformerEmbedder, embed_texts
from .errors import (
    ExperimentNotFound,
    InvalidArgument,
    SnapshotError,
    SnapshotMismatch,
    StaleVersion,
    StateUnavailable,
)
from .events import BLOCKS, DEFAULT_VARIANT, Counts
from .experiments import Experiment, Variant, VariantResult, compare_variants
from .fields import dense_text, lexical_fields
from .links import with_url
from .live import Clock, system_clock
from .ranking import (
    Filters,
    Fusion,
    Query,
    QueryWeights,
    Ranker,
    RankingKnobs,
    Recommendation,
)
from .rules import ArticleRules, RuleSet, check_article_rules, check_excludes
from .shortcodes import strip_shortcodes
from .snapshot import Snapshot, SnapshotStore
from .state import SeparateCounters, State, open_state
from .stores import ChangeCounters, EditorialRuleStore, EventStore, LiveChangeStore
from .text import html_to_text
from .vectors import VectorProblem, check_vector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recommendations:
    """Both blocks for one article or draft."""

    related: list[Recommendation]
    featured: list[Recommendation]
    index_version: str


@dataclass(frozen=True)
class EngineStatus:
    """What is being served."""

    index_version: str
    snapshot_version: str
    model_id: str
    articles: int
    created: str
    age_seconds: float


@dataclass(frozen=True)
class Freshness:
    """What answers depend on besides the request, for caches.

    Attributes:
        version: changes whenever an answer may: the index version, the rules
            version and how many scheduled articles have gone live.
        expires_in: seconds until the next scheduled article goes live (answers
            change then, with no write); None when none is waiting.
    """

    version: str
    expires_in: float | None


@dataclass(frozen=True)
class ArticlePage:
    """One page of an article listing."""

    articles: list[Article]
    total: int
    next_cursor: str | None


class Engine:
    """Answers related-article and featured-pick questions from the published snapshot.

    The embedding model is loaded only when a text outside the index must be
    embedded (drafts, upserts), so serving indexed articles starts in well under
    a second. A newly published snapshot is picked up on the next call after
    ``settings.reload_interval`` seconds; if it cannot be loaded the engine keeps
    serving the one it has. Live changes (``upsert``/``delete``) and editorial
    rules (:attr:`rules`) are shared with every process through SQLite and seen
    on the next call.

    Every answer takes ``knobs``: :class:`RankingKnobs` to rank with instead of
    the served ones (:attr:`knobs`, from the settings), so an editor can preview
    other values without changing what readers get.

    Scheduled articles go live by the clock (``now``), with no reindex; every
    article the engine returns without a ``url`` gets one from
    ``settings.url_template`` when it is set.

    The engine receives its state (:mod:`recommender.stores`); each store left out
    comes from ``state``, or from :func:`~recommender.state.open_state` of the
    settings (SQLite files in ``settings.index_dir``, or PostgreSQL). No store calls back
    into the engine: rules are checked here, against what is served, before the
    rule store writes them.

    Args:
        settings: engine settings (index directory, model, ranking knobs).
        embedder: the model for drafts and upserts; default: the configured model.
        now: the clock (timezone-aware); tests pass a fake one to move time.
        snapshots: the snapshot versions and the published-version pointer.
        live: the live changes; the default stamps changes with ``now``.
        rules: the editorial rules and their audit log.
        state: the deployment's stores, for whichever of the three are left out.
    """

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        now: Clock = system_clock,
        *,
        snapshots: SnapshotStore | None = None,
        live: LiveChangeStore | None = None,
        rules: EditorialRuleStore | None = None,
        state: State | None = None,
    ) -> None:
        self.settings = settings
        self.now = now
        if state is None and (snapshots is None or live is None or rules is None):
            state = open_state(settings, now=self._clock)
        # ``is None``, not ``or``: a store may well be falsy (a __len__ of 0).
        self.store = snapshots if snapshots is not None else cast(State, state).snapshots
        self.live: LiveChangeStore = live if live is not None else cast(State, state).live
        self.knobs = RankingKnobs.from_settings(settings)
        self.rules: EditorialRuleStore = rules if rules is not None else cast(State, state).rules
        # Both counters in one read where the state can (PostgreSQL: one round trip),
        # unless a store was given on its own.
        self.counters: ChangeCounters = (
            cast(State, state).counters
            if live is None and rules is None
            else SeparateCounters(self.live, self.rules)
        )
        self._rules = RuleSet(version=-1)  # loaded on first use: -1 matches no version
        # Reader events (None: an engine given its stores one by one, as tests do).
        self.events: EventStore | None = None if state is None else state.events
        self.embedder: Embedder = embedder or SentenceTransformerEmbedder(
            settings.model, batch_size=settings.batch_size, threads=settings.encode_threads or None
        )
        self._lock = threading.Lock()
        self._writes_prepared = False
        self._views = threading.local()
        self._state_down = False
        self._clicks: ClickThrough | None = None
        self._clicks_version = 0
        snapshot = self._load_snapshot(None)
        self._ranker = self._make_ranker(snapshot)
        self._checked_at = time.monotonic()

    # -- loading ---------------------------------------------------------------------

    def _clock(self) -> datetime:
        # Read through the attribute, so replacing ``engine.now`` moves every part's clock.
        return self.now()

    def _load_snapshot(self, version: str | None) -> Snapshot:
        snapshot = Snapshot.load(
            self.store, version, expect_model=self.embedder.model_id, verify="sizes"
        )
        log.info(
            "loaded snapshot %s (%d articles)", snapshot.version, snapshot.manifest.article_count
        )
        return snapshot

    def _make_ranker(self, snapshot: Snapshot) -> Ranker:
        # A live change keeps the snapshot: the new ranker reuses what the catalog
        # read from it (ids, arrays, label indexes), so a change costs O(changes).
        previous = getattr(self, "_ranker", None)
        base = previous.catalog.base if previous is not None else None
        # Only the live rows written since the last load are read.
        self._live_changes = self.live.load(getattr(self, "_live_changes", None))
        ranker = Ranker(
            snapshot,
            self._live_changes,
            dense_weight=self.settings.dense_weight,
            candidates=self.settings.candidates,
            duplicate_threshold=self.settings.duplicate_threshold,
            duplicate_jaccard=self.settings.duplicate_jaccard,
            knobs=self.knobs,
            query_weights=cast(QueryWeights, self.settings.query_weights),
            fusion=cast(Fusion, self.settings.fusion),
            rrf_k=self.settings.rrf_k,
            now=self._clock,
            clock_skew=float(self.settings.clock_skew_seconds),
            catalog_base=base,
        )
        ranker.clicks = self._clicks
        return ranker

    def use_clicks(self, clicks: ClickThrough | None) -> None:
        """Rank (the ``ctr`` boost) and explain with these click-through rates from now
        on; None: none counted. Cached answers made with the old ones are not served
        again (:meth:`freshness` changes)."""
        with self._lock:
            self._clicks = clicks
            self._clicks_version += 1
            self._ranker.clicks = clicks

    @property
    def snapshot(self) -> Snapshot:
        """The snapshot being served."""
        return self._ranker.snapshot

    @property
    def index_version(self) -> str:
        """Snapshot version plus live-change sequence: changes whenever answers may."""
        ranker = self._current()
        return f"{ranker.snapshot.version}+{ranker.live_seq}"

    @property
    def rules_version(self) -> int:
        """The editorial rules' change counter: changes whenever a rule does."""
        return self._current_rules().version

    def freshness(self) -> Freshness:
        """What answers depend on now besides the request (see :class:`Freshness`)."""
        ranker = self._current()
        went_live, expires_in = ranker.schedule()
        version = (
            f"{ranker.snapshot.version}+{ranker.live_seq}"
            f"|rules {self._current_rules().version}|scheduled {went_live}"
            f"|clicks {self._clicks_version}"
        )
        return Freshness(version, expires_in)

    def status(self) -> EngineStatus:
        """Version, size and age of what is served."""
        ranker = self._current()
        manifest = ranker.snapshot.manifest
        created = datetime.fromisoformat(manifest.created)
        return EngineStatus(
            index_version=f"{manifest.version}+{ranker.live_seq}",
            snapshot_version=manifest.version,
            model_id=manifest.model_id,
            articles=len(ranker.positions),
            created=manifest.created,
            age_seconds=(self.now() - created).total_seconds(),
        )

    def prepare_writes(self) -> None:
        """Load now what the first live change would otherwise wait for: the embedding
        model (a write embeds its article), the HTML reader (a write reduces its
        article's HTML to text; BeautifulSoup is imported and builds its table of
        character references on first use, about 0.1-0.25 s) and the dense index
        (every worker links each new upsert to its nearest indexed articles; the
        index is otherwise read on first use, see
        :meth:`~recommender.index.VectorIndex.load`).

        Once called, every snapshot :meth:`reload` switches to has its dense index
        read before it serves, so the first write after a publish does not wait.

        Raises:
            ModelUnavailable: the model cannot be loaded.
            SnapshotCorrupt: the dense index cannot be read.
        """
        self.embedder.encode(["warm up"])
        html_to_text("<p>warm &amp; up</p>")
        self._current().snapshot.dense.load_now()
        # From now on each snapshot a reload switches to is read the same way.
        self._writes_prepared = True

    def reload(self) -> bool:
        """Switch to the published snapshot and the latest live changes; True if anything changed.

        Raises:
            SnapshotError: the published snapshot cannot be loaded (the old one stays).
        """
        with self._lock:
            self._checked_at = time.monotonic()
            ranker = self._ranker
            published = self.store.current_version()
            snapshot = ranker.snapshot
            if published is not None and published != snapshot.version:
                snapshot = self._load_snapshot(published)
                if self._writes_prepared:
                    snapshot.dense.load_now()
            elif self.live.seq() == ranker.live_seq:
                return False
            self._ranker = self._make_ranker(snapshot)
            self._forget_seen()
            return True

    @contextmanager
    def view(self) -> Iterator[None]:
        """Within the block, this thread's calls share one check of the shared state.

        Every read checks the change counters (the live sequence, the rules
        version) so that it answers with the latest state; a request makes several
        reads (its cache key, its filters, its answer), and in a view they check
        once and see the same state throughout. With PostgreSQL that is one round
        trip per request instead of one per read. A write in the view is seen by
        the view's later reads. Views nest: the outermost one counts.
        """
        if getattr(self._views, "seen", None) is not None:
            yield
            return
        self._views.seen = {}
        try:
            yield
        finally:
            self._views.seen = None

    def _seen(self) -> dict[str, Any] | None:
        """What this thread's view has checked and loaded so far (None: no view)."""
        seen: dict[str, Any] | None = getattr(self._views, "seen", None)
        return seen

    def _forget_seen(self) -> None:
        # After a write: the view's later reads check again and see it.
        seen = self._seen()
        if seen is not None:
            seen.clear()

    def _counters(self) -> tuple[int, int] | None:
        """(live sequence, rules version), read once per view; None when the state
        cannot be reached (the reads then keep what is loaded)."""
        seen = self._seen()
        if seen is not None and "counters" in seen:
            counters: tuple[int, int] | None = seen["counters"]
            return counters
        try:
            counters = self.counters.read()
        except StateUnavailable as exc:
            self._state_unavailable(exc)
            counters = None
        if seen is not None:
            seen["counters"] = counters
        return counters

    def _current(self) -> Ranker:
        """The ranker to answer with, after picking up changes that are due."""
        seen = self._seen()
        if seen is not None and "ranker" in seen:
            ranker: Ranker = seen["ranker"]
            return ranker
        counters = self._counters()
        due = time.monotonic() - self._checked_at >= self.settings.reload_interval
        changed = counters is not None and counters[0] != self._ranker.live_seq
        if counters is not None and (due or changed):
            try:
                self.reload()
            except SnapshotError as exc:
                log.error("keeping snapshot %s: %s", self._ranker.snapshot.version, exc)
            except StateUnavailable as exc:
                self._state_unavailable(exc)
            else:
                self._state_available()
        elif counters is not None:
            self._state_available()
        if seen is not None:
            seen["counters"] = counters  # still what this view read (a reload forgot it)
            seen["ranker"] = self._ranker
        return self._ranker

    def _current_rules(self) -> RuleSet:
        """The editorial rules, reloaded when another call or process changed them."""
        seen = self._seen()
        if seen is not None and "rules" in seen:
            cached: RuleSet = seen["rules"]
            return cached
        rules = self._rules
        counters = self._counters()
        if counters is not None and counters[1] != rules.version:
            try:
                rules = self._rules = self.rules.load()  # one assignment: old or new
            except StateUnavailable as exc:
                self._state_unavailable(exc)
        if seen is not None:
            seen["rules"] = rules
        return rules

    def _state_unavailable(self, exc: StateUnavailable) -> None:
        # Reads go on with what is loaded; the log says so once, not per request.
        if not self._state_down:
            self._state_down = True
            log.warning("serving the loaded snapshot, live changes and rules: %s", exc)

    def _state_available(self) -> None:
        if self._state_down:
            self._state_down = False
            log.info("the shared state answers again")

    def _exists(self, article_id: str) -> bool:
        return article_id in self._current().positions

    def has_article(self, article_id: str) -> bool:
        """Whether an article with this id exists now (drafts and scheduled included)."""
        return self._exists(article_id)

    def _linked(self, article: Article) -> Article:
        return with_url(article, self.settings.url_template)

    def _linked_items(self, items: list[Recommendation]) -> list[Recommendation]:
        if not self.settings.url_template:
            return items
        return [
            item if item.article.url else replace(item, article=self._linked(item.article))
            for item in items
        ]

    # -- answers ---------------------------------------------------------------------

    def _check_k(self, k: int | None) -> int:
        k = self.settings.default_k if k is None else k
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise InvalidArgument("k", f"must be a whole number from 1 to {MAX_K}")
        return k

    def article(self, article_id: str) -> Article:
        """One article (drafts included), its ``url`` filled from the URL template.

        Raises:
            ArticleNotFound: no such id.
        """
        return self._linked(self._current().article(article_id))

    def related(
        self,
        article_id: str,
        k: int | None = None,
        filters: Filters | None = None,
        knobs: RankingKnobs | None = None,
        explain: bool = False,
    ) -> list[Recommendation]:
        """The ``k`` articles most related to an indexed article (never itself or drafts).

        Editorial pins under the article take their positions; blocks and global
        excludes never appear. ``knobs`` replace the served ranking knobs for this call.
        ``explain`` adds each item's shared terms and field split (for people: they
        read each item's text, a quarter of the cost of an uncached call).
        """
        return self._one_list(Ranker.related, article_id, k, filters, knobs, explain)

    def featured(
        self,
        article_id: str,
        k: int | None = None,
        filters: Filters | None = None,
        knobs: RankingKnobs | None = None,
        explain: bool = False,
    ) -> list[Recommendation]:
        """The ``k`` featured articles most relevant to an indexed article.

        Featured overrides decide what is featured; blocks and excludes apply.
        ``explain`` as for :meth:`related`.
        """
        return self._one_list(Ranker.featured, article_id, k, filters, knobs, explain)

    def _one_list(
        self,
        which: Callable[..., list[Recommendation]],
        article_id: str,
        k: int | None,
        filters: Filters | None,
        knobs: RankingKnobs | None,
        explain: bool,
    ) -> list[Recommendation]:
        """One list (``which``: :meth:`Ranker.related` or :meth:`Ranker.featured`)
        for an indexed article, with the served knobs unless ``knobs`` are given."""
        k = self._check_k(k)
        ranker = self._current()
        query = ranker.query_for_article(article_id)
        knobs = knobs or self.served_knobs()[0]
        items = which(ranker, query, k, filters, knobs, self._current_rules(), explain)
        return self._linked_items(items)

    def recommendations(
        self,
        article_id: str,
        k: int | None = None,
        filters: Filters | None = None,
        knobs: RankingKnobs | None = None,
        explain: bool = False,
    ) -> Recommendations:
        """Related and featured picks in one call; featured picks skip the related items.
        ``explain`` as for :meth:`related`."""
        k = self._check_k(k)
        ranker = self._current()
        query = ranker.query_for_article(article_id)
        return self._both(ranker, query, k, filters, knobs or self.served_knobs()[0], explain)

    def _both(
        self,
        ranker: Ranker,
        query: Query,
        k: int,
        filters: Filters | None,
        knobs: RankingKnobs | None,
        explain: bool,
    ) -> Recommendations:
        rules = self._current_rules()
        related, featured = ranker.recommendations(query, k, filters, knobs, rules, explain)
        version = f"{ranker.snapshot.version}+{ranker.live_seq}"
        return Recommendations(self._linked_items(related), self._linked_items(featured), version)

    def _embed(self, article: Article) -> np.ndarray:
        vector: np.ndarray = embed_texts(
            self.embedder,
            [(article.title, dense_text(article))],
            chunk_tokens=self.settings.chunk_tokens,
            chunk_overlap=self.settings.chunk_overlap,
            progress=False,
        )[0]
        dim = self._ranker.snapshot.manifest.dim
        if vector.shape[0] != dim:
            raise SnapshotMismatch(
                self.store.path(self._ranker.snapshot.version),
                f"model gives {vector.shape[0]} dimensions, snapshot has {dim}",
            )
        return vector

    def recommend_text(
        self,
        title: str,
        body: str,
        k: int | None = None,
        tags: Sequence[str] = (),
        filters: Filters | None = None,
        knobs: RankingKnobs | None = None,
        explain: bool = False,
    ) -> Recommendations:
        """Related and featured picks for a text that is not indexed (a draft);
        ``explain`` as for :meth:`related`.

        Raises:
            InvalidArgument: empty title or body, or bad ``k``.
        """
        k = self._check_k(k)
        if not title.strip():
            raise InvalidArgument("title", "must not be empty")
        if self.settings.strip_shortcodes == "all":
            body = strip_shortcodes(body)  # a draft pasted from WordPress, like a source
        if not html_to_text(body):
            raise InvalidArgument("body", "must not be empty (after reducing HTML to text)")
        draft = Article(id="draft", title=title, body=body, tags=tuple(tags))
        ranker = self._current()
        query = ranker.query_for_text(
            self._embed(draft), lexical_fields(draft), draft.title, draft.tags
        )
        return self._both(ranker, query, k, filters, knobs, explain)

    # -- editorial rules -----------------------------------------------------------------

    def article_rules(self, article_id: str) -> ArticleRules:
        """The pins and blocks under an article, and its featured override.

        Raises:
            ArticleNotFound: the article is unknown and has no rules either (rules of
                a deleted article stay readable, so they can be cleared).
        """
        rules = self._current_rules().for_article(article_id)
        if not rules and not self._exists(article_id):
            self._current().article(article_id)  # raises ArticleNotFound
        return rules

    def set_article_rules(self, rules: ArticleRules, who: str) -> ArticleRules:
        """Replace the rules under ``rules.article_id``; served on the next call.

        Raises:
            ArticleNotFound: the article is unknown.
            InvalidRule: a pin or block that cannot hold (names the field).
        """
        ranker = self._current()
        ranker.article(rules.article_id)
        check_article_rules(rules.article_id, rules.pins, rules.blocks, known=ranker.positions)
        self.rules.replace_article(rules.article_id, rules.pins, rules.blocks, rules.featured, who)
        self._forget_seen()
        return self.article_rules(rules.article_id)

    def clear_article_rules(self, article_id: str, who: str) -> None:
        """Remove every rule under an article and its featured override.

        Raises:
            ArticleNotFound: the article is unknown and has no rules.
        """
        self.article_rules(article_id)
        self.rules.clear_article(article_id, who)
        self._forget_seen()

    def excludes(self) -> list[str]:
        """The globally excluded ids, sorted."""
        return sorted(self._current_rules().excludes)

    def set_excludes(self, ids: Sequence[str], who: str) -> list[str]:
        """Make ``ids`` the global excludes; served on the next call.

        Raises:
            InvalidRule: an unknown or repeated id (``ids.<n>``).
        """
        check_excludes(ids, known=self._current().positions)
        self.rules.replace_excludes(ids, who)
        self._forget_seen()
        return self.excludes()

    # -- A/B tests of ranking knobs -----------------------------------------------------

    def served_knobs(self, bucket: int | None = None) -> tuple[RankingKnobs, str]:
        """The knobs a request that sets none is answered with, and its variant's name.

        The settings' knobs, with those a promoted experiment variant made the default;
        with a ``bucket`` (0–9,999, the widget's per-tab number) while an experiment
        runs, also the knobs of the bucket's variant (see :mod:`recommender.experiments`).
        The variant is named ``<experiment id>/<variant name>`` (the widget tags the
        reader's events with it); ``"default"`` outside an experiment.
        """
        rules = self._current_rules()
        knobs = self.knobs.changed(rules.knobs)
        if rules.experiment is None or bucket is None:
            return knobs, DEFAULT_VARIANT
        variant = rules.experiment.variant_for(bucket)
        return knobs.changed(variant.knobs), rules.experiment.tag(variant)

    def promoted_knobs(self) -> Mapping[str, float]:
        """The knobs a promoted experiment variant made the default (knob → value)."""
        return self._current_rules().knobs

    def experiments(self) -> list[Experiment]:
        """Every A/B test, the newest first."""
        return self.rules.experiments()

    def experiment_results(self, experiment: Experiment) -> dict[str, list[VariantResult]] | None:
        """Per block (``related``, ``featured``), each variant's impressions, clicks and
        click-through against the control's (see :func:`compare_variants`), from the
        readers' events tagged with the variant; None without an events store.

        The counts are the store's time-decayed ones, rounded: old events weigh less,
        which makes the test more cautious, never less.
        """
        if self.events is None:
            return None
        totals = self.events.variants()
        results = {}
        for block in BLOCKS:
            counts = []
            for variant in experiment.variants:
                seen = totals.get((block, experiment.tag(variant)), Counts())
                counts.append((variant.name, round(seen.impressions), round(seen.clicks)))
            results[block] = compare_variants(counts)
        return results

    def refresh_clicks(self) -> ClickThrough | None:
        """Estimate the click-through rates again from the events store and serve
        them (:meth:`use_clicks`); None (and nothing served) while no event was
        counted. A server calls this every ``RECOMMENDER_CLICKS_REFRESH_SECONDS``
        from a thread of its own, as the estimate reads every aggregate."""
        if self.events is None:
            return None
        by_block: dict[str, list[tuple[str, int, float, float]]] = {}
        for (shown, block, position), counts in self.events.positions().items():
            by_block.setdefault(block, []).append(
                (shown, position, counts.impressions, counts.clicks)
            )
        if not by_block:
            if self._clicks is not None:  # the counts decayed away, or were cleared
                self.use_clicks(None)
            return None  # nothing changed: cached answers stay valid
        clicks = estimate_click_through(
            [PositionCounts.from_rows(rows) for rows in by_block.values()],
            quantile=self.settings.ctr_exploration,
        )
        self.use_clicks(clicks)
        return clicks

    def experiment(self, experiment_id: str) -> Experiment:
        """One A/B test.

        Raises:
            ExperimentNotFound: no experiment has that id.
        """
        for experiment in self.experiments():
            if experiment.id == experiment_id:
                return experiment
        raise ExperimentNotFound(experiment_id)

    def start_experiment(
        self, experiment_id: str, variants: Sequence[Variant], who: str
    ) -> Experiment:
        """Start an A/B test; its variants are served from the next request.

        Raises:
            InvalidRule: a variant that cannot hold (names the field).
            ExperimentConflict: another test runs, or the id was used before.
        """
        self.rules.start_experiment(experiment_id, variants, who)
        self._forget_seen()
        return self.experiment(experiment_id)

    def stop_experiment(self, experiment_id: str, promote: str | None, who: str) -> Experiment:
        """Stop an A/B test; with ``promote``, that variant's knobs become the default.

        Raises:
            ExperimentNotFound: no experiment has that id.
            ExperimentConflict: it is not running.
            InvalidRule: ``promote`` names no variant of it.
        """
        self.rules.stop_experiment(experiment_id, promote, who)
        self._forget_seen()
        return self.experiment(experiment_id)

    def reset_served_knobs(self, who: str) -> None:
        """Serve the settings' knobs again, forgetting those promoted by experiments."""
        self.rules.reset_knobs(who)
        self._forget_seen()

    # -- listing and writes ------------------------------------------------------------

    def list_articles(
        self,
        *,
        limit: int = 20,
        offset: int = 0,
        cursor: str | None = None,
        tag: str | None = None,
        status: str | None = None,
        title_contains: str | None = None,
    ) -> ArticlePage:
        """Articles, newest first, filtered; paginate with ``offset`` or ``cursor``.

        Raises:
            InvalidArgument: a malformed cursor.
        """
        catalog = self._current().catalog
        positions = catalog.listing(tag=tag, status=status, title_contains=title_contains)
        total = len(positions)
        if cursor is not None:
            after = _decode_cursor(cursor)
            start = bisect.bisect_right(positions, after, key=catalog.listing_key)
        else:
            start = offset
        page = [catalog.article(int(p)) for p in positions[start : start + limit]]
        more = total > start + limit
        cursor_out = _encode_cursor(_sort_key(page[-1])) if more and page else None
        return ArticlePage([self._linked(a) for a in page], total, cursor_out)

    def upsert(self, article: Article, embedding: Sequence[float] | None = None) -> bool:
        """Create or replace an article; visible to every process on its next call.

        The write stays in force until a published corpus brings a newer version of
        the article (newest wins, by ``updated``; an upsert without ``updated``
        counts as written now).

        Args:
            article: the article.
            embedding: its vector, if the caller has one (as many numbers as the
                snapshot's vectors have; normalised here): the model is not run.

        Returns:
            True if the article is new, False if it replaced one.

        Raises:
            StaleVersion: the served version of the article is newer than this one,
                so this write would never be shown.
            InvalidArgument: ``embedding`` is not a vector of the snapshot's length
                (parameter ``embedding``).
        """
        ranker = self._current()
        served, given = ranker.version_time(article.id), article.updated or self.now()
        if served is not None and served > given:
            raise StaleVersion(article.id, served, given)
        if embedding is None:
            vector = self._embed(article)
        else:
            try:
                vector = check_vector(list(embedding), ranker.snapshot.manifest.dim)
            except VectorProblem as exc:
                raise InvalidArgument("embedding", str(exc)) from None
        existed = article.id in ranker.positions
        # Signed the served snapshot's way, so the copy of a story is hidden at once; a
        # snapshot without signatures gets the way its next reindex will use.
        shingling = ranker.shingling or Shingling()
        signature = (shingling, Signer(shingling).sign([article.body]))
        self.live.upsert(article, vector, self.embedder.model_id, signature)
        self.reload()
        return not existed

    def delete(self, article_id: str) -> None:
        """Remove an article from every list at once.

        Raises:
            ArticleNotFound: no such id.
        """
        self._current().article(article_id)
        self.live.delete(article_id)
        self.reload()


def _sort_key(article: Article) -> tuple[float, str]:
    stamp = article.published.timestamp() if article.published else float("-inf")
    return (-stamp, article.id)


def _encode_cursor(key: tuple[float, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps([key[0], key[1]]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, article_id = json.loads(base64.urlsafe_b64decode(padded))
        return (float(stamp), str(article_id))
    except (ValueError, TypeError, binascii.Error):
        raise InvalidArgument("cursor", "not a cursor returned by this API") from None


__all__ = [
    "ArticlePage",
    "Engine",
    "EngineStatus",
    "Filters",
    "Freshness",
    "RankingKnobs",
    "Recommendations",
]
