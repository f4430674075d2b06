"""Building an index: corpus sources → validated articles → embeddings
(cached) → lexical model → a published snapshot."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

from . import layout, neighbours
from .articles import Article
from .config import MAX_K, Settings
from .corpus import CorpusLoad, ReadOptions, Rejection, SourceNote, load_corpus
from .duplicates import Shingling, Signatures, Signer, near_duplicate_groups
from .embedding import Embedder, EmbedStats, EmbedSteps, embed_texts, local_steps
from .errors import InvalidCorpus, SnapshotError
from .fields import dense_text, lexical_fields
from .lexical import CjkTerms, LexicalDocument, LexicalModel, Stemming, TermCounts
from .live import version_time
from .reuse import Changes, Published, fit_lexical, refresh_candidates, refresh_featured
from .snapshot import build_snapshot_dir, corpus_fingerprint, stored_signatures
from .state import State, open_state
from .stores import BuildLock
from .vectors import ModelDimension, with_vector

log = logging.getLogger(__name__)

# The report lists at most this many near-duplicate groups, each with at most this
# many ids: enough for an editor to see what is treated as one story, bounded on a
# corpus full of copies.
REPORT_GROUPS = 50
REPORT_GROUP_IDS = 10


@dataclass
class IndexReport:
    """What one indexing run did."""

    indexed: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0
    supplied: int = 0
    """Articles whose vector came with the record (``embedding``), not from the model."""
    reused: int = 0
    """Records read unchanged since the published build, taken as it stored them
    instead of being validated again."""
    rejected: list[Rejection] = field(default_factory=list)
    version: str | None = None
    published: bool = False
    pruned: list[str] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[SourceNote] = field(default_factory=list)
    error: str | None = None
    duplicate_groups: list[list[str]] = field(default_factory=list)
    """Articles whose bodies count as one story (near-duplicates), found when publishing."""

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready mapping."""
        return {
            "indexed": self.indexed,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "embedded": self.embedded,
            "supplied_vectors": self.supplied,
            "reused_records": self.reused,
            "rejected": [r.to_json() for r in self.rejected],
            "version": self.version,
            "published": self.published,
            "pruned": self.pruned,
            "seconds": round(self.seconds, 3),
            "notes": [n.to_json() for n in self.notes],
            "error": self.error,
            "near_duplicates": {
                "groups": len(self.duplicate_groups),
                "articles": sum(len(group) for group in self.duplicate_groups),
                "listed": [group[:REPORT_GROUP_IDS] for group in self.duplicate_groups][
                    :REPORT_GROUPS
                ],
            },
        }


def lexical_model(settings: Settings) -> LexicalModel:
    """An unfitted lexical model with the settings' BM25 parameters, stemming, CJK
    terms and field weights: the one place settings become a lexical model, for a
    build and for anything that refits one (the evaluation's variants), fitted on
    :func:`~recommender.fields.lexical_fields` of each article."""
    return LexicalModel(
        k1=settings.bm25_k1,
        b=settings.bm25_b,
        stemming=cast(Stemming, settings.stemming),
        cjk_terms=cast(CjkTerms, settings.cjk_terms),
        field_weights=settings.field_weights,
    )


def read_options(
    settings: Settings,
    id_namespaces: Mapping[Path, str] | None = None,
    model_dim: ModelDimension | None = None,
) -> ReadOptions:
    """How the sources are read, from the settings and the names chosen per export.

    ``model_dim`` gives the length supplied vectors must have (by default any).

    These need no place in :func:`build_parameters`: they change the articles
    themselves (their ids and text), or which articles are read, and the corpus
    fingerprint already covers those.
    """
    return ReadOptions(
        strip_shortcodes=cast(Any, settings.strip_shortcodes),
        wxr_id_namespace=cast(Any, settings.wxr_id_namespace),
        id_namespaces=dict(id_namespaces or {}),
        csv_delimiter=settings.csv_delimiter_char,
        model_dim=model_dim or ModelDimension(),
    )


def build_parameters(settings: Settings, model_id: str) -> dict[str, Any]:
    """Everything besides the articles that changes what a snapshot holds."""
    return {
        "model_id": model_id,
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap": settings.chunk_overlap,
        "lexical": lexical_model(settings).describe(),
        "duplicates": Shingling().describe(),
        "candidate_sets": candidate_parameters(settings),
        "featured_neighbours": {"width": featured_width(settings)},
    }


def featured_width(settings: Settings) -> int:
    """Featured articles stored per article (see
    :func:`~recommender.neighbours.featured_neighbours`): the most a request
    shortlists, ``settings.candidates`` + the largest ``k``. A snapshot that
    features no more articles than this stores none: a request scores them all."""
    return settings.candidates + MAX_K


def candidate_parameters(settings: Settings) -> dict[str, Any]:
    """How each article's candidate set is found (see :mod:`recommender.neighbours`)."""
    return {
        "dense": settings.candidates,
        "lexical": settings.candidates,
        "lexical_terms": neighbours.QUERY_TERMS,
        "lexical_postings": neighbours.MAX_POSTINGS,
        "exact_below": settings.exact_neighbours_below,
    }


def candidate_sets(
    settings: Settings,
    vectors: np.ndarray,
    lexical: LexicalModel,
    on_progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Every article's candidate set: its ``settings.candidates`` nearest articles by
    cosine, then as many by its strongest terms (a "more like this" query); shape
    (articles, 2 × candidates), int32, each half -1 padded. The halves are kept
    apart (an article may be in both) so a reindex can refresh each signal's."""
    n = vectors.shape[0]
    done = {"dense": 0, "lexical": 0}

    def report(part: str) -> Callable[[int, int], None]:
        def step(rows: int, _total: int) -> None:
            done[part] = rows
            if on_progress is not None:
                on_progress(done["dense"] + done["lexical"], 2 * n)

        return step

    dense = neighbours.dense_neighbours(
        vectors,
        settings.candidates,
        exact_below=settings.exact_neighbours_below,
        on_progress=report("dense"),
    )
    lexical_positions = lexical.more_like_this(settings.candidates, on_progress=report("lexical"))
    return neighbours.joined(dense, lexical_positions, settings.candidates)


class BuildRunner(Protocol):
    """Where the build's heavy stages run. The driver (:func:`build_index`) does
    everything else the same way whichever runner it is given: the lock, the
    comparison with the published snapshot, the embedding cache, the lexical fit,
    the reuse of unchanged parts, the report, writing and publishing.

    :class:`LocalRunner` runs the stages in this process;
    :class:`recommender.raybuild.RayRunner` maps the same stage functions over a
    Ray cluster. Both give the same snapshot.
    """

    def load(self, sources: Sequence[Path | str], options: ReadOptions) -> CorpusLoad:
        """Read and validate every source (:func:`~recommender.corpus.read_shard`
        on each shard, combined by :func:`~recommender.corpus.combine_shards`)."""
        ...

    def embed_steps(self, embedder: Embedder, settings: Settings) -> EmbedSteps:
        """How the texts the cache lacks are embedded
        (:func:`~recommender.embedding.embed_batch` on batches of them)."""
        ...

    def candidate_sets(
        self,
        settings: Settings,
        vectors: np.ndarray,
        lexical: LexicalModel,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Every article's candidate set, as :func:`candidate_sets` gives it."""
        ...

    def featured_neighbours(
        self, vectors: np.ndarray, featured: np.ndarray, width: int
    ) -> np.ndarray:
        """Every article's nearest featured articles, as
        :func:`~recommender.neighbours.featured_neighbours` finds them."""
        ...

    def count_terms(self, model: LexicalModel, documents: Sequence[LexicalDocument]) -> TermCounts:
        """The documents' raw term counts, for the lexical fit
        (:meth:`~recommender.lexical.LexicalModel.count_terms` on blocks of them,
        joined by :func:`~recommender.lexical.merge_term_counts`)."""
        ...

    def sign(self, bodies: Sequence[str], shingling: Shingling) -> Signatures:
        """The bodies' MinHash signatures (:meth:`~recommender.duplicates.Signer.sign`)."""
        ...


class LocalRunner:
    """The build's stages in this process, one after the other."""

    def load(self, sources: Sequence[Path | str], options: ReadOptions) -> CorpusLoad:
        """See :meth:`BuildRunner.load` (every source read whole, in turn)."""
        return load_corpus(sources, options)

    def embed_steps(self, embedder: Embedder, settings: Settings) -> EmbedSteps:
        """See :meth:`BuildRunner.embed_steps` (:data:`~recommender.embedding.EMBED_STEP`
        texts per step)."""
        return local_steps(embedder, settings.chunk_tokens, settings.chunk_overlap)

    def candidate_sets(
        self,
        settings: Settings,
        vectors: np.ndarray,
        lexical: LexicalModel,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """See :meth:`BuildRunner.candidate_sets`."""
        return candidate_sets(settings, vectors, lexical, on_progress)

    def featured_neighbours(
        self, vectors: np.ndarray, featured: np.ndarray, width: int
    ) -> np.ndarray:
        """See :meth:`BuildRunner.featured_neighbours`."""
        return neighbours.featured_neighbours(vectors, featured, width)

    def count_terms(self, model: LexicalModel, documents: Sequence[LexicalDocument]) -> TermCounts:
        """See :meth:`BuildRunner.count_terms` (all at once)."""
        return model.count_terms(documents)

    def sign(self, bodies: Sequence[str], shingling: Shingling) -> Signatures:
        """See :meth:`BuildRunner.sign`."""
        return Signer(shingling).sign(bodies)


def _featured_neighbours(
    settings: Settings,
    runner: BuildRunner,
    vectors: np.ndarray,
    articles: Sequence[Article],
    published: Published | None,
    changes: Changes | None,
    parameters: dict[str, Any],
    model_id: str,
) -> np.ndarray | None:
    """Each article's nearest featured articles (see :func:`featured_width`): the
    published rows refreshed where they can be reused, else searched by the runner;
    None when no more articles are featured than a request shortlists."""
    width = featured_width(settings)
    featured = np.flatnonzero(np.fromiter((a.featured for a in articles), bool, len(articles)))
    if featured.size <= width:
        return None
    stored = (
        published.featured_neighbours(parameters["featured_neighbours"], model_id)
        if published is not None and changes is not None and changes.kept
        else None
    )
    if stored is not None and changes is not None:
        return refresh_featured(stored, changes, vectors, featured, width)
    return runner.featured_neighbours(vectors, featured, width)


PHASES = ("read", "embed", "candidates", "write", "seal", "publish", "cleanup")
"""The phases of a build, in the order they are reported (see :data:`Progress`)."""
NO_ARTICLE_REASONS = 3
"""How many rejections the "no valid article" error quotes."""


def _no_article_message(loaded: CorpusLoad) -> str:
    """Why a corpus gave no article: the first rejections and how sources were read."""
    rejected = loaded.rejections
    parts = [f"no valid article ({len(rejected)} rejected)"]
    if rejected:
        shown = "; ".join(str(r) for r in rejected[:NO_ARTICLE_REASONS])
        more = len(rejected) - NO_ARTICLE_REASONS
        parts.append(f"first: {shown}" + (f" (and {more} more)" if more > 0 else ""))
    parts.extend(str(note) for note in loaded.notes)
    return ". ".join(parts)


def _signatures(
    published: Published | None,
    articles: Sequence[Article],
    content_hashes: Sequence[str],
    sign: Callable[[Sequence[str], Shingling], Signatures],
) -> Signatures:
    """Every article's MinHash signature, reusing the published snapshot's for
    unchanged content made with the same shingling (signing costs about a
    millisecond per article, which a large corpus would pay on every reindex)."""
    shingling = Shingling()
    reusable: dict[str, int] = {}
    previous: Signatures | None = None
    if published is not None:
        try:
            stored = stored_signatures(
                published.store, published.version, published.records.content_hashes
            )
        except SnapshotError as exc:
            log.warning("not reusing the signatures of %s: %s", published.version, exc)
            stored = None
        if stored is not None and stored[2] == shingling:
            previous = stored[1]
            reusable = {content: row for row, content in enumerate(stored[0])}
    missing = [i for i, content in enumerate(content_hashes) if content not in reusable]
    signed = sign([articles[i].body for i in missing], shingling)
    hashes = np.empty((len(articles), shingling.num_perm), dtype=np.uint32)
    counts = np.empty(len(articles), dtype=np.uint32)
    hashes[missing], counts[missing] = signed.hashes, signed.counts
    kept = [i for i, content in enumerate(content_hashes) if content in reusable]
    if previous is not None and kept:
        rows = np.array([reusable[content_hashes[i]] for i in kept])
        hashes[kept], counts[kept] = previous.hashes[rows], previous.counts[rows]
    return Signatures(hashes, counts)


def _content_hashes(loaded: CorpusLoad) -> list[str]:
    """Each article's content hash, covering its supplied vector when it has one (so
    a changed vector makes the article count as updated)."""
    hashes = [
        known or article.content_hash()
        for article, known in zip(loaded.articles, loaded.known_hashes, strict=True)
    ]
    supplied = loaded.vectors
    for row, position in enumerate(supplied.positions):
        if loaded.known_hashes[position] is None:  # a stored hash covers its vector
            hashes[position] = with_vector(hashes[position], supplied.matrix[row])
    return hashes


def _article_vectors(loaded: CorpusLoad, embed: Callable[[list[int]], np.ndarray]) -> np.ndarray:
    """One row per article: its supplied vector, else the model's (``embed`` is
    called with the positions that need one, and not at all when none does, so a
    corpus whose every article brings its vector never loads the model)."""
    supplied = loaded.vectors
    count = len(loaded.articles)
    if len(supplied) == count:
        return supplied.matrix
    has_vector = np.zeros(count, dtype=bool)
    has_vector[supplied.positions] = True
    todo = np.flatnonzero(~has_vector)
    embedded = embed(todo.tolist())
    vectors = np.empty((count, embedded.shape[1]), dtype=np.float32)
    vectors[todo] = embedded
    if len(supplied):
        vectors[supplied.positions] = supplied.matrix
    return vectors


def _embed_articles(
    articles: list[Article],
    settings: Settings,
    embedder: Embedder,
    state: State,
    progress: bool | None,
    full: bool,
    stats: EmbedStats,
    on_progress: Callable[[int, int], None],
    steps: EmbedSteps,
) -> np.ndarray:
    """The model's vectors of ``articles``, through the embedding cache."""
    cache = state.embedding_cache()
    try:
        return embed_texts(
            embedder,
            [(a.title, dense_text(a)) for a in articles],
            cache=cache,
            chunk_tokens=settings.chunk_tokens,
            chunk_overlap=settings.chunk_overlap,
            progress=progress,
            stats=stats,
            read_cache=not full,
            on_progress=on_progress,
            steps=steps,
        )
    finally:
        cache.close()


Progress = Callable[[str, int, int], None]
"""Called with (phase, done, total) as a build proceeds. In order:

- ``read`` 0/S, S/S: reading the S sources. A corpus that did not change since
  the published snapshot (and no ``full``) ends the build here.
- ``embed`` 0/M, then after each step of :data:`~recommender.embedding.EMBED_STEP`
  articles, up to M/M: M articles the cache did not know; each step is in the
  cache before it is reported.
- ``write`` 0/4 (an empty private ``versions/.build-*`` directory) to 4/4: the
  new snapshot's data files, one at a time.
- ``seal`` 0/1, 1/1: checksums into ``manifest.json``, everything flushed to
  disk. The snapshot is complete but nobody sees it.
- ``publish`` 0/2; 1/2: renamed to ``versions/<version>`` (complete, not
  published); 2/2: ``CURRENT`` names it, so readers switch to it.
- ``cleanup`` 0/1, 1/1: old versions pruned, redundant live changes dropped.

A crash (even ``kill -9``) at any of these leaves ``CURRENT`` naming a complete,
verified snapshot: the old one up to ``publish`` 1/2, the new one from 2/2 on.
"""


def build_index(
    sources: Sequence[Path | str],
    settings: Settings,
    embedder: Embedder,
    *,
    progress: bool | None = None,
    full: bool = False,
    wait: bool = False,
    strict: bool = False,
    on_progress: Progress | None = None,
    report: IndexReport | None = None,
    id_namespaces: Mapping[Path, str] | None = None,
    on_wait: Callable[[str], None] | None = None,
    state: State | None = None,
    held_lock: BuildLock | None = None,
    runner: BuildRunner | None = None,
) -> IndexReport:
    """Index ``sources`` into ``settings.index_dir`` and publish a snapshot.

    Holds the index lock for the whole build, removes what crashed builds left
    behind, embeds only articles whose prepared text the cache does not know,
    publishes atomically, then prunes old versions beyond ``settings.keep_snapshots``.
    Nothing is published when the corpus and build parameters are the same as
    the published snapshot's, unless ``full``.

    Args:
        sources: corpus sources (Markdown directory, JSONL, CSV, WordPress, feeds).
        settings: engine settings (index directory, model, chunking, retention).
        embedder: the embedding model.
        progress: progress bars on stderr; default: only on a terminal.
        full: ignore the embedding cache and publish even if nothing changed.
        wait: wait for another build holding the lock instead of failing.
        strict: any rejected record fails the build before anything is embedded.
        on_progress: called with (phase, done, total); see :data:`Progress`.
        report: the report to fill in (a new one by default). It is filled in as
            the build goes, so a caller that passes one still has the rejections
            and notes when the build fails (the CLI writes them to ``--report``).
        id_namespaces: WordPress export → the namespace chosen for its post ids
            (see :mod:`recommender.namespaces`).
        on_wait: with ``wait``, called once with the holder's description when
            another build holds the lock, before waiting for it.
        state: the stores (lock, pointer, embedding cache, live changes); default:
            :func:`~recommender.state.open_state` of ``settings``.
        held_lock: the build lock, already taken by the caller (who releases it);
            default: the build takes and releases one of ``state``.
        runner: where reading, embedding, candidate sets and signing run; default:
            :class:`LocalRunner`, in this process.

    Raises:
        InvalidCorpus: a source cannot be read, or no record in them is valid.
        InvalidArgument: ``id_namespaces`` names a file that is not a source.
        IndexLocked: another build holds the lock and ``wait`` is False.
    """
    # The model's length is asked for only if a record supplies a vector.
    options = read_options(settings, id_namespaces, ModelDimension(lambda: embedder.dim))
    state = open_state(settings) if state is None else state
    lock = state.lock("reindex") if held_lock is None else held_lock
    if held_lock is None:
        lock.acquire(wait=wait, on_wait=on_wait)
    try:
        store = state.snapshots
        removed = store.remove_debris()
        if removed:
            log.warning("removed %d unfinished build(s) left by an interrupted run", removed)
        return _build_locked(
            sources,
            settings,
            embedder,
            state,
            progress,
            full,
            strict,
            on_progress,
            options,
            IndexReport() if report is None else report,
            LocalRunner() if runner is None else runner,
        )
    finally:
        if held_lock is None:
            lock.release()


def _build_locked(
    sources: Sequence[Path | str],
    settings: Settings,
    embedder: Embedder,
    state: State,
    progress: bool | None,
    full: bool,
    strict: bool,
    on_progress: Progress | None,
    options: ReadOptions,
    report: IndexReport,
    runner: BuildRunner,
) -> IndexReport:
    def report_progress(phase: str, done: int, total: int) -> None:
        if on_progress is not None:
            on_progress(phase, done, total)

    started = time.perf_counter()
    store = state.snapshots
    report_progress("read", 0, len(sources))
    published = Published.read(store)
    known = published.known_records() if published is not None and not full else None
    if known is not None:
        # Records read unchanged since the published build are taken as it stored
        # them, not validated again (see recommender.corpus.KnownRecords).
        options = replace(options, known=known)
    loaded = runner.load(sources, options)
    report.reused = sum(stored is not None for stored in loaded.known_hashes)
    report.rejected = loaded.rejections
    report.notes = loaded.notes
    for note in loaded.notes:
        log.info("%s", note)
    articles = loaded.articles
    if strict and loaded.rejections:
        first = loaded.rejections[0]
        raise InvalidCorpus(
            first.source,
            f"{len(loaded.rejections)} rejected record(s) with --strict, nothing published; "
            f"first: {first}",
        )
    if not articles:
        names = ", ".join(str(s) for s in sources)
        raise InvalidCorpus(names, _no_article_message(loaded))
    report_progress("read", len(sources), len(sources))
    hashes = _content_hashes(loaded)
    parameters = build_parameters(settings, embedder.model_id)
    fingerprint = corpus_fingerprint(zip((a.id for a in articles), hashes, strict=True), parameters)
    previous = published.hashes if published is not None else {}
    previous_fingerprint = published.manifest.corpus_fingerprint if published else None
    for article, content in zip(articles, hashes, strict=True):
        if article.id not in previous:
            report.added += 1
        elif previous[article.id] != content:
            report.updated += 1
        else:
            report.unchanged += 1
    current_ids = {a.id for a in articles}
    report.removed = sum(1 for article_id in previous if article_id not in current_ids)
    report.indexed = len(articles)
    if previous_fingerprint == fingerprint and not full:
        report.version = store.current_version()
        report.seconds = time.perf_counter() - started
        log.info("corpus unchanged since %s: nothing to publish", report.version)
        return report

    stats = EmbedStats()
    vectors = _article_vectors(
        loaded,
        lambda todo: _embed_articles(
            [articles[i] for i in todo],
            settings,
            embedder,
            state,
            progress,
            full,
            stats,
            lambda done, total: report_progress("embed", done, total),
            runner.embed_steps(embedder, settings),
        ),
    )
    report.embedded = stats.embedded
    report.supplied = len(loaded.vectors)
    if report.supplied == len(articles):
        report_progress("embed", 0, 0)  # every vector came with its article
    # --full rebuilds every part from scratch; otherwise unchanged articles' parts are
    # taken over from the published snapshot (see recommender.reuse).
    changes = (
        Changes.between(published, [a.id for a in articles], hashes)
        if published is not None and not full
        else None
    )
    model = lexical_model(settings)
    lexical = fit_lexical(
        model,
        [lexical_fields(a) for a in articles],
        published,
        changes,
        count=functools.partial(runner.count_terms, model),
    )
    report_progress("candidates", 0, 2 * len(articles))
    stored = (
        published.candidates(parameters["candidate_sets"], embedder.model_id)
        if published is not None and changes is not None
        else None
    )
    if stored is not None and changes is not None and changes.kept:
        candidates = refresh_candidates(stored, changes, vectors, lexical, settings.candidates)
        report_progress("candidates", 2 * len(articles), 2 * len(articles))
    else:
        candidates = runner.candidate_sets(
            settings,
            vectors,
            lexical,
            lambda done, total: report_progress("candidates", done, total),
        )
    featured = _featured_neighbours(
        settings, runner, vectors, articles, published, changes, parameters, embedder.model_id
    )
    signatures = _signatures(published, articles, hashes, runner.sign)
    report.duplicate_groups = near_duplicate_groups(
        [a.id for a in articles], signatures, settings.duplicate_jaccard, Shingling()
    )
    manifest = build_snapshot_dir(
        store,
        articles,
        hashes,
        vectors,
        lexical,
        {
            "model_id": embedder.model_id,
            "dim": int(vectors.shape[1]),
            "article_count": len(articles),
            "corpus_fingerprint": fingerprint,
            "build": parameters,
            "supplied_vectors": len(loaded.vectors),
        },
        signatures,
        report_progress,
        candidates,
        (published.records, changes.reused) if published is not None and changes else None,
        loaded.digests,
        featured,
    )
    report.version = manifest.version
    report.published = True
    report_progress("cleanup", 0, 1)
    report.pruned = store.prune(settings.keep_snapshots)
    # API changes the new corpus now holds, or holds a newer version of (newest
    # wins), and deletes of ids it no longer has, are moot. (With SQLite, an index
    # that never had a live change has no live file, and none is made for this.)
    files = layout.IndexLayout.of(settings.index_dir)
    no_changes = state.backend == "sqlite" and not files.live.exists()
    dropped = (
        0
        if no_changes
        else state.live.forget_redundant(
            dict(zip((a.id for a in articles), hashes, strict=True)),
            {a.id: version_time(a) for a in articles},
        )
    )
    if dropped:
        log.info("dropped %d live change(s) the corpus now holds", dropped)
    report.seconds = time.perf_counter() - started
    report_progress("cleanup", 1, 1)
    log.info(
        "published %s: %d articles, %d embedded, %d rejected",
        manifest.version,
        report.indexed,
        report.embedded,
        len(report.rejected),
    )
    return report


__all__ = [
    "PHASES",
    "BuildRunner",
    "IndexReport",
    "LocalRunner",
    "Progress",
    "build_index",
    "build_parameters",
    "candidate_parameters",
    "candidate_sets",
    "featured_width",
    "lexical_model",
    "read_options",
]
