"""Batch builds on a Ray cluster: the single-machine build's stages, mapped over
many workers, publishing the same snapshot.

``recommender reindex --engine ray [--ray-address ADDRESS]`` runs
:func:`recommender.pipeline.build_index` with a :class:`RayRunner`. The driver
(the process running the command) does what it does for a local build: it takes
the build lock, compares the corpus with the published snapshot, keeps the
embedding cache, fits the lexical model from the term counts the workers count,
groups near-duplicates, writes the report and publishes atomically. The runner
maps the heavy stages, the same functions the local build calls, over the
cluster:

- **read**: Ray Data reads the shards of :func:`~recommender.corpus.plan_shards`
  (:func:`~recommender.corpus.read_shard` in a task each); the driver combines
  them (:func:`~recommender.corpus.combine_shards`). Every record is validated:
  a worker cannot reach the published snapshot's records, so the reuse of
  records read unchanged (:class:`~recommender.corpus.KnownRecords`) is a local
  build's only.
- **embed**: only the texts the embedding cache lacks go to the cluster, as a
  Ray Data dataset mapped by a pool of actors that each hold the model
  (:func:`~recommender.embedding.embed_batch`): one GPU each when the cluster
  has GPUs, else a fraction of a CPU each, so the pool never claims every CPU
  (a pool that does starves the other tasks and the dataset hangs). The vectors
  stream back to the driver, which stores each batch in the cache as it comes:
  a build killed half way keeps what it embedded, and the next run resumes.
- **candidate sets**: the vectors go to the object store in shards. Below
  ``Settings.exact_neighbours_below`` articles, shard and merge: a task per block
  of query articles keeps the block's running top C against every shard in turn
  (:func:`~recommender.neighbours.dense_against_shards`), exact, with one shard
  held at a time. From that size on, the single-machine build's approximate
  search, sharded: the driver trains the k-means cells on a sample
  (:func:`~recommender.neighbours.train_cells`), a task per block assigns its
  articles to their nearest cells (:func:`~recommender.neighbours.assign_step`),
  and a task per run of cells searches them
  (:func:`~recommender.neighbours.cells_step`), reading only the rows it needs.
  The lexical half is :func:`~recommender.neighbours.lexical_step` per block.
  Both builds call the same functions on the same blocks and cells, so they
  find the same candidate sets at every size.
- **term counts**: the lexical fit's tokenising and stemming, a task per
  ``count_documents`` documents (:meth:`~recommender.lexical.LexicalModel.count_terms`);
  the driver merges the blocks (:func:`~recommender.lexical.merge_term_counts`)
  and weighs BM25 over the whole corpus, as a local fit does.
- **signatures**: MinHash signing in tasks of :data:`SIGN_BATCH` bodies.

Ray is imported only here, and only when a runner is used: ``make run``, the
server and the default build never import it. It comes with the optional extra
``pip install 'recommender[ray]'``.
"""

from __future__ import annotations

import copy
import functools
import logging
import pickle
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import numpy as np

from . import neighbours
from .config import Settings
from .corpus import CorpusLoad, ReadOptions, Shard, combine_shards, plan_shards, read_shard
from .duplicates import Shingling, Signatures, Signer
from .embedding import (
    EmbeddedBatch,
    Embedder,
    EmbedSteps,
    SentenceTransformerEmbedder,
    embed_batch,
)
from .errors import BuildFailed, InvalidArgument, InvalidCorpus, RecommenderError
from .lexical import LexicalDocument, LexicalModel, TermCounts, merge_term_counts
from .vectors import ModelDimension

log = logging.getLogger(__name__)

INSTALL = "pip install 'recommender[ray]'"
SIGN_BATCH = 5_000
"""Bodies signed per task."""


def import_ray() -> ModuleType:
    """The ``ray`` module, or an error naming the extra to install.

    Raises:
        InvalidArgument: Ray (with Ray Data) is not installed.
    """
    try:
        import ray
        import ray.data  # the extra must bring Ray Data too
    except ImportError as exc:
        raise InvalidArgument(
            "engine", f"the Ray engine needs Ray Data: {INSTALL} ({exc})"
        ) from None
    return ray


@dataclass(frozen=True)
class RayOptions:
    """How a build uses the cluster.

    Attributes:
        address: the cluster to join (``HOST:6379`` or ``auto``, from a node of
            the cluster; ``ray://HOST:10001`` through Ray Client); None joins the
            one ``RAY_ADDRESS`` names (as inside a ``ray job submit``), else
            starts Ray on this machine.
        shard_records: records per read shard.
        embed_actors: actors holding the model; None: one per GPU when the
            cluster has GPUs, else one per CPU.
        actor_cpus: CPUs each actor claims without GPUs (fractional: the pool then
            claims half the cluster's CPUs, and each actor's torch runs one thread).
        embed_batch: texts per actor call (and per write to the cache).
        vector_shard_rows: vectors per object-store shard (memory of a candidate
            task: one shard, plus a block of queries and its scores).
        query_rows: query articles per candidate-set task.
        count_documents: documents per task counting terms for the lexical fit.
    """

    address: str | None = None
    shard_records: int = 2_000
    embed_actors: int | None = None
    actor_cpus: float = 0.5
    embed_batch: int = 128
    vector_shard_rows: int = 50_000
    query_rows: int = 10_000
    count_documents: int = 5_000


@dataclass(frozen=True)
class EmbedPool:
    """The embedding actors a build asks the cluster for.

    Attributes:
        actors: how many actors hold the model.
        cpus_each: CPUs each claims.
        gpus_each: GPUs each claims (1 on a cluster with GPUs, else 0).
    """

    actors: int
    cpus_each: float
    gpus_each: int


def embed_pool(options: RayOptions, cpus: float, gpus: float) -> EmbedPool:
    """The pool for a cluster of ``cpus`` CPUs and ``gpus`` GPUs: an actor per GPU
    (with one CPU to feed it) when there are GPUs, else an actor per CPU claiming
    ``options.actor_cpus`` each, so the pool leaves CPUs for the read tasks (a pool
    that claims every CPU starves them and the dataset hangs).
    ``options.embed_actors`` sets the number either way."""
    if gpus >= 1:
        return EmbedPool(options.embed_actors or int(gpus), 1.0, 1)
    return EmbedPool(options.embed_actors or max(1, int(cpus)), options.actor_cpus, 0)


class RayRunner:
    """The :class:`~recommender.pipeline.BuildRunner` that maps a build's stages over
    a Ray cluster (see the module's documentation).

    Use it as a context manager: entering joins (or starts) Ray unless the process
    is already connected, leaving disconnects only what it connected.

    Args:
        options: how the cluster is used.
    """

    def __init__(self, options: RayOptions | None = None) -> None:
        self.options = options or RayOptions()
        self._ray: ModuleType | None = None
        self._started = False

    def __enter__(self) -> RayRunner:
        self.connect()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def connect(self) -> ModuleType:
        """Join the cluster (once); returns the ``ray`` module.

        Raises:
            InvalidArgument: Ray is not installed.
            BuildFailed: the cluster cannot be reached.
        """
        if self._ray is not None:
            return self._ray
        ray = import_ray()
        if not ray.is_initialized():
            try:
                ray.init(
                    address=self.options.address,
                    include_dashboard=False,
                    logging_level=logging.WARNING,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise BuildFailed("connect", _first_line(exc)) from exc
            self._started = True
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        self._ray = ray
        return ray

    def close(self) -> None:
        """Leave the cluster if :meth:`connect` joined it."""
        if self._ray is not None and self._started:
            self._ray.shutdown()
        self._ray, self._started = None, False

    def resources(self) -> tuple[float, float]:
        """The cluster's (CPUs, GPUs)."""
        total = self.connect().cluster_resources()
        return float(total.get("CPU", 0.0)), float(total.get("GPU", 0.0))

    def load(self, sources: Sequence[Path | str], options: ReadOptions) -> CorpusLoad:
        """See :meth:`~recommender.pipeline.BuildRunner.load`: a Ray Data task per shard."""
        ray = self.connect()
        portable = _portable(options)
        shards = plan_shards(sources, portable, self.options.shard_records)
        tasks = [{"index": i, "task": pickle.dumps((s, portable))} for i, s in enumerate(shards)]
        dataset = ray.data.from_items(tasks, override_num_blocks=max(1, len(tasks)))
        # The digests of the records the published build read, put in the object
        # store once: the workers take an unchanged record as "the article at that
        # position" without validating it, and the driver reads the article
        # (combine_shards), as only the driver reads the index.
        known = None if options.known is None else ray.put(options.known.digests_only())
        mapped = dataset.map(_read_row, fn_kwargs={"known": known})
        rows = _stage("read", lambda: mapped.take_all())
        reads: list[Any] = [None] * len(shards)
        for row in rows:
            if row["error"]:
                path, reason, line, column = pickle.loads(row["error"])
                raise InvalidCorpus(path, reason, line, column)
            reads[row["index"]] = pickle.loads(row["items"])
        return combine_shards(sources, reads, replace(portable, known=options.known))

    def embed_steps(self, embedder: Embedder, settings: Settings) -> EmbedSteps:
        """See :meth:`~recommender.pipeline.BuildRunner.embed_steps`: an actor pool
        of replicas of ``embedder``, fed by a Ray Data dataset of the texts."""
        options = self.options

        def steps(items: Sequence[tuple[str, str]]) -> Iterator[tuple[np.ndarray, EmbeddedBatch]]:
            ray = self.connect()
            pool = embed_pool(options, *self.resources())
            actors = pool.actors
            import pyarrow as pa

            table = pa.table(
                {
                    "index": np.arange(len(items), dtype=np.int64),
                    "title": [title for title, _ in items],
                    "text": [text for _, text in items],
                }
            )
            # Every actor gets work, and every block holds at least a batch: the
            # pool gathers smaller blocks until they make one, and a block is what
            # comes back to be stored in the cache at once.
            batch_size = max(1, min(options.embed_batch, len(items) // actors))
            blocks = max(1, len(items) // batch_size)
            dataset = (
                ray.data.from_arrow(table)
                .repartition(blocks)
                .map_batches(
                    _EmbedActor,
                    fn_constructor_args=(
                        _replica(embedder, pool.gpus_each > 0),
                        settings.chunk_tokens,
                        settings.chunk_overlap,
                    ),
                    batch_size=batch_size,
                    batch_format="numpy",
                    # A fixed pool (what ``concurrency=actors`` said before Ray 2.51).
                    compute=ray.data.ActorPoolStrategy(size=actors),
                    num_cpus=pool.cpus_each,
                    num_gpus=pool.gpus_each,
                )
            )
            log.info("embedding %d texts with %d actor(s)", len(items), actors)
            batches = iter(dataset.iter_batches(batch_size=None, batch_format="numpy"))
            while True:
                batch = _stage("embed", lambda: next(batches, None))
                if batch is None:
                    return
                yield (
                    np.asarray(batch["index"], dtype=np.int64),
                    EmbeddedBatch(
                        np.asarray(batch["vector"], dtype=np.float32),
                        np.asarray(batch["chunks"], dtype=np.int64),
                    ),
                )

        return steps

    def candidate_sets(
        self,
        settings: Settings,
        vectors: np.ndarray,
        lexical: LexicalModel,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """See :meth:`~recommender.pipeline.BuildRunner.candidate_sets`: shard and
        merge, a task per block of query articles and signal; from
        ``settings.exact_neighbours_below`` articles on, the dense half by the
        cell-by-cell search, a task per run of cells."""
        ray = self.connect()
        n, width = vectors.shape[0], settings.candidates
        k = min(width, max(n - 1, 0))
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        shards = [
            (start, ray.put(vectors[start:end]))
            for start, end in _ranges(n, self.options.vector_shard_rows)
        ]
        queries, postings_matrix = lexical.more_like_this_search()
        postings = ray.put(postings_matrix)
        lexical_task = ray.remote(num_cpus=1)(_lexical_task)
        pending: dict[Any, tuple[str, int, int]] = {}
        for start, end in _ranges(n, self.options.query_rows):
            ref = lexical_task.remote(queries[start:end], start, postings, k)
            pending[ref] = ("lexical", start, end)
        if n < settings.exact_neighbours_below or n <= 1 or k == 0:
            dense_task = ray.remote(num_cpus=1)(_dense_task)
            for start, end in _ranges(n, self.options.query_rows):
                ref = dense_task.remote(vectors[start:end], start, shards, k)
                pending[ref] = ("dense", start, end)
        else:
            plan = ray.put(self._cell_plan(ray, vectors, shards))
            cells_task = ray.remote(num_cpus=1)(_cells_task)
            for first, end in neighbours.cell_groups(ray.get(plan), self.options.query_rows):
                pending[cells_task.remote(shards, plan, first, end, k)] = ("cells", first, end)
        halves = {
            "dense": np.full((n, k), -1, dtype=np.int32),
            "lexical": np.full((n, k), -1, dtype=np.int32),
        }
        done = 0
        while pending:
            ready, _ = _stage("candidates", lambda: ray.wait(list(pending), num_returns=1))
            for ref in ready:
                half, start, end = pending.pop(ref)
                result = _stage("candidates", functools.partial(ray.get, ref))
                if half == "cells":
                    positions, found = result
                    halves["dense"][positions] = found
                    done += positions.size
                else:
                    halves[half][start:end] = result
                    done += end - start
                if on_progress is not None:
                    on_progress(done, 2 * n)
        return neighbours.joined(halves["dense"], halves["lexical"], width)

    def featured_neighbours(
        self, vectors: np.ndarray, featured: np.ndarray, width: int
    ) -> np.ndarray:
        """See :meth:`~recommender.pipeline.BuildRunner.featured_neighbours`: the
        featured vectors put in the object store once, a task per block of query
        articles (:func:`~recommender.neighbours.featured_step`)."""
        ray = self.connect()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        featured = np.unique(np.asarray(featured, dtype=np.int64))
        held = ray.put((featured, np.ascontiguousarray(vectors[featured])))
        task = ray.remote(num_cpus=1)(_featured_task)
        blocks = _ranges(vectors.shape[0], self.options.query_rows)
        refs = [task.remote(vectors[start:end], start, held, width) for start, end in blocks]
        out = np.full((vectors.shape[0], width), -1, dtype=np.int32)
        for (start, end), rows in zip(
            blocks, _stage("candidates", lambda: ray.get(refs)), strict=True
        ):
            out[start:end] = rows
        return out

    def _cell_plan(
        self, ray: ModuleType, vectors: np.ndarray, shards: list[tuple[int, Any]]
    ) -> neighbours.CellPlan:
        """The cell-by-cell search's plan: the centres trained on the driver (on a
        sample of at most ``neighbours.TRAINING_SAMPLE`` vectors), every article's
        nearest cells in a task per block of ``neighbours.ASSIGN_ROWS``."""
        centres = _stage("candidates", lambda: neighbours.train_cells(vectors))
        held = ray.put(centres)
        assign_task = ray.remote(num_cpus=1)(_assign_task)
        blocks = _ranges(vectors.shape[0], neighbours.ASSIGN_ROWS)
        refs = [assign_task.remote(shards, held, start, end) for start, end in blocks]
        nearest = _stage("candidates", lambda: ray.get(refs))
        return neighbours.plan_cells(centres, np.concatenate(nearest))

    def count_terms(self, model: LexicalModel, documents: Sequence[LexicalDocument]) -> TermCounts:
        """See :meth:`~recommender.pipeline.BuildRunner.count_terms`: a task per
        ``count_documents`` documents, the blocks merged on the driver."""
        if not documents:
            return model.count_terms(documents)
        ray = self.connect()
        held = ray.put(model)
        task = ray.remote(num_cpus=1)(_count_task)
        blocks = _ranges(len(documents), self.options.count_documents)
        refs = [task.remote(held, list(documents[start:end])) for start, end in blocks]
        return merge_term_counts(_stage("lexical", lambda: ray.get(refs)))

    def sign(self, bodies: Sequence[str], shingling: Shingling) -> Signatures:
        """See :meth:`~recommender.pipeline.BuildRunner.sign`: a task per
        :data:`SIGN_BATCH` bodies."""
        if not bodies:
            return Signer(shingling).sign([])
        ray = self.connect()
        sign_task = ray.remote(num_cpus=1)(_sign_task)
        refs = [
            sign_task.remote(list(bodies[start:end]), shingling)
            for start, end in _ranges(len(bodies), SIGN_BATCH)
        ]
        parts: list[Signatures] = _stage("signatures", lambda: ray.get(refs))
        return Signatures(
            np.vstack([part.hashes for part in parts]),
            np.concatenate([part.counts for part in parts]),
        )


def _stage(name: str, call: Callable[[], Any]) -> Any:
    """``call()``, with a failure Ray gave up on (after its retries) as :class:`BuildFailed`."""
    try:
        return call()
    except RecommenderError:
        raise
    except Exception as exc:  # any Ray or task failure means the same to the build
        raise BuildFailed(name, _first_line(exc)) from exc


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _ranges(count: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(count, start + size)) for start in range(0, count, max(1, size))]


def _portable(options: ReadOptions) -> ReadOptions:
    """``options`` as a worker can receive them: the model's length asked now (a
    worker has no model to ask), and no known records (their articles are read from
    the published snapshot, which workers need not see; the digests go apart, see
    :meth:`RayRunner.load`)."""
    dim = options.model_dim.get()
    fixed = ModelDimension() if dim is None else ModelDimension(functools.partial(int, dim))
    return replace(options, model_dim=fixed, known=None)


def _read_row(row: dict[str, Any], known: Any = None) -> dict[str, Any]:
    """Ray Data: read one shard; its items (or the error that stops the build) pickled.
    ``known``: the published build's :meth:`~recommender.corpus.KnownRecords.digests_only`,
    or a reference to it in the object store."""
    shard: Shard
    shard, options = pickle.loads(row["task"])
    if known is not None:
        import ray

        if isinstance(known, ray.ObjectRef):
            known = ray.get(known)
        options = replace(options, known=known)
    try:
        items = read_shard(shard, options)
    except InvalidCorpus as exc:
        error = pickle.dumps((exc.path, exc.reason, exc.line, exc.column))
        return {"index": row["index"], "items": b"", "error": error}
    return {"index": row["index"], "items": pickle.dumps(items), "error": b""}


def _replica(embedder: Embedder, gpu: bool) -> Callable[[], Embedder]:
    """How an actor makes its own copy of ``embedder``: a sentence-transformers model
    is loaded again by name (on the actor's GPU when it has one); any other
    embedder (a test's) is copied."""
    if isinstance(embedder, SentenceTransformerEmbedder):
        device = "cuda" if gpu else embedder.device
        return functools.partial(
            SentenceTransformerEmbedder, embedder.model, embedder.batch_size, device
        )
    return functools.partial(copy.deepcopy, embedder)


class _EmbedActor:
    """Ray Data: an actor holding one replica of the model, embedding batches."""

    def __init__(self, make: Callable[[], Embedder], chunk_tokens: int, overlap: int) -> None:
        self.embedder = make()
        self.chunk_tokens = chunk_tokens
        self.overlap = overlap

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        items = list(zip(batch["title"].tolist(), batch["text"].tolist(), strict=True))
        done = embed_batch(self.embedder, items, self.chunk_tokens, self.overlap)
        return {"index": batch["index"], "vector": done.vectors, "chunks": done.chunks}


def _dense_task(
    queries: np.ndarray, start: int, shards: list[tuple[int, Any]], k: int
) -> np.ndarray:
    """A task: one block's dense neighbours against every shard, fetched one by one."""
    import ray

    positions = np.arange(start, start + queries.shape[0])
    fetched = ((first, ray.get(ref)) for first, ref in shards)
    return neighbours.dense_against_shards(queries, positions, fetched, k)


def _rows_of(shards: list[tuple[int, Any]]) -> Callable[[np.ndarray], np.ndarray]:
    """The vectors of ascending positions, from the object store's shards (each
    fetched once, when first needed; on the node that holds it, without a copy)."""
    import ray

    fetched: dict[int, np.ndarray] = {}

    def fetch(i: int) -> np.ndarray:
        if i not in fetched:
            fetched[i] = ray.get(shards[i][1])
        return fetched[i]

    return neighbours.rows_from_shards([first for first, _ in shards], fetch)


def _assign_task(shards: list[tuple[int, Any]], centres: np.ndarray, start: int, end: int) -> Any:
    """A task: the nearest cells of one block of articles."""
    return neighbours.assign_step(_rows_of(shards)(np.arange(start, end)), centres)


def _cells_task(
    shards: list[tuple[int, Any]], plan: neighbours.CellPlan, first: int, end: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """A task: the dense neighbours of the articles of a run of cells."""
    return neighbours.cells_step(_rows_of(shards), plan, first, end, k)


def _featured_task(
    queries: np.ndarray, start: int, featured: tuple[np.ndarray, np.ndarray], width: int
) -> np.ndarray:
    """A task: one block's nearest featured articles."""
    positions = np.arange(start, start + queries.shape[0])
    return neighbours.featured_step(queries, positions, featured[0], featured[1], width)


def _lexical_task(queries: Any, start: int, postings: Any, width: int) -> np.ndarray:
    """A task: one block's lexical neighbours."""
    positions = np.arange(start, start + queries.shape[0])
    return neighbours.lexical_step(queries, positions, postings, width)


def _count_task(model: LexicalModel, documents: list[LexicalDocument]) -> TermCounts:
    """A task: the raw term counts of a block of documents."""
    return model.count_terms(documents)


def _sign_task(bodies: list[str], shingling: Shingling) -> Signatures:
    """A task: the MinHash signatures of some bodies."""
    return Signer(shingling).sign(bodies)


__all__ = ["INSTALL", "EmbedPool", "RayOptions", "RayRunner", "embed_pool", "import_ray"]
