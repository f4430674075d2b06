"""What a reindex takes over from the published snapshot.

A reindex that changes a few articles of a large corpus should cost what the
changes cost, as embeddings already do through their cache. From the published
snapshot it reuses:

- the lexical term counts of every unchanged article (tokenising and stemming is
  most of a BM25 fit): :meth:`recommender.lexical.LexicalModel.fit` with
  ``previous``;
- the candidate sets: only the rows of new and changed articles, and of articles
  that lost a neighbour, are searched again; every other row keeps its set and
  takes in a fresh article that beats its weakest member
  (:func:`recommender.neighbours.refresh`).

An article is unchanged when its id and content hash are the published ones. A
``--full`` build, another model, other lexical settings or other candidate-set
parameters reuse nothing. Vectors come from the embedding cache and MinHash
signatures are reused by content hash elsewhere (:mod:`recommender.pipeline`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import neighbours
from .corpus import KnownRecords
from .errors import SnapshotError
from .fields import lexical_fields
from .lexical import LexicalDocument, LexicalModel, TermCounts
from .records import NO_DIGEST, ArticleRecords
from .snapshot import Manifest, SnapshotStore

log = logging.getLogger(__name__)


@dataclass
class Published:
    """The parts of the published snapshot a reindex can reuse (read lazily: only
    the ids and content hashes are read up front)."""

    store: SnapshotStore
    version: str
    manifest: Manifest
    records: ArticleRecords

    @classmethod
    def read(cls, store: SnapshotStore) -> Published | None:
        """The published snapshot's ids and hashes; None when nothing is published or
        it cannot be read (a reindex then reuses nothing, which is only slower)."""
        version = store.current_version()
        if version is None:
            return None
        try:
            manifest = store.read_manifest(version)
            records = store.records(version)
            records.content_hashes  # noqa: B018 - read now, so a bad file is caught here
        except (OSError, ValueError, KeyError, SnapshotError) as exc:
            log.warning("cannot read the published snapshot %s: %s", version, exc)
            return None
        return cls(store, version, manifest, records)

    @property
    def hashes(self) -> dict[str, str]:
        """Id → content hash of every published article."""
        return dict(zip(self.records.ids, self.records.content_hashes, strict=True))

    def known_records(self) -> KnownRecords | None:
        """The published articles by the digest of the record each was read from, for
        a reindex to take unchanged records as they are; None for a snapshot built
        before digests were kept."""
        stored = self.records.record_digests
        if stored is None:
            return None
        # The raw 16 bytes of each digest: numpy strips trailing NULs from S16 items.
        raw = stored.tobytes()
        positions = {
            raw[16 * i : 16 * i + 16]: i
            for i in range(len(stored))
            if raw[16 * i : 16 * i + 16] != NO_DIGEST
        }
        hashes = self.records.content_hashes
        return KnownRecords(positions, self.records.__getitem__, hashes.__getitem__)

    def lexical(self) -> LexicalModel | None:
        """The published lexical model with its word counts; None if unreadable."""
        try:
            return self.store.lexical_model(self.version, word_counts=True)
        except SnapshotError as exc:
            log.warning("not reusing the lexical counts of %s: %s", self.version, exc)
            return None

    def candidates(self, parameters: dict[str, Any], model_id: str) -> np.ndarray | None:
        """The published candidate sets, if made the way this build makes them."""
        return self._rows("candidate_sets", parameters, model_id, self.store.candidate_sets)

    def featured_neighbours(self, parameters: dict[str, Any], model_id: str) -> np.ndarray | None:
        """The published featured neighbours, if made the way this build makes them."""
        stored = self._rows(
            "featured_neighbours", parameters, model_id, self.store.featured_neighbours
        )
        return stored if stored is not None and stored.shape[1] == parameters["width"] else None

    def _rows(
        self,
        key: str,
        parameters: dict[str, Any],
        model_id: str,
        load: Callable[[str], np.ndarray | None],
    ) -> np.ndarray | None:
        """Rows of one per article stored under the build parameters' ``key``, if
        made with ``parameters`` and ``model_id``; None otherwise or if unreadable."""
        if self.manifest.build.get(key) != parameters or self.manifest.model_id != model_id:
            return None
        try:
            stored = load(self.version)
        except SnapshotError as exc:
            log.warning("not reusing %s of %s: %s", key.replace("_", " "), self.version, exc)
            return None
        if stored is None or stored.shape[0] != len(self.records):
            return None
        return stored


@dataclass(frozen=True)
class Changes:
    """How the articles of a build map onto the published ones.

    Attributes:
        reused: per new position, the published position holding the same id and
            content, else None.
        moved: ``(N_old,)`` int64, per published position its new position, -1 for
            a removed or changed article.
        fresh: ``(f,)`` int64 ascending, the new positions of new and changed articles.
        dropped: published positions of removed and changed articles.
    """

    reused: list[int | None]
    moved: np.ndarray
    fresh: np.ndarray
    dropped: list[int]

    @classmethod
    def between(
        cls, published: Published, ids: Sequence[str], content_hashes: Sequence[str]
    ) -> Changes:
        """Match ``ids`` (with their ``content_hashes``) against the published ones."""
        old_positions = {article_id: i for i, article_id in enumerate(published.records.ids)}
        old_hashes = published.records.content_hashes
        moved = np.full(len(old_hashes), -1, dtype=np.int64)
        reused: list[int | None] = []
        for new_position, (article_id, content) in enumerate(zip(ids, content_hashes, strict=True)):
            old = old_positions.get(article_id)
            if old is not None and old_hashes[old] == content:
                reused.append(old)
                moved[old] = new_position
            else:
                reused.append(None)
        fresh = np.array([i for i, old in enumerate(reused) if old is None], dtype=np.int64)
        return cls(reused, moved, fresh, [int(i) for i in np.flatnonzero(moved < 0)])

    @property
    def kept(self) -> int:
        """How many published articles are reused unchanged."""
        return len(self.reused) - len(self.fresh)


def fit_lexical(
    model: LexicalModel,
    documents: Sequence[dict[str, str]],
    published: Published | None,
    changes: Changes | None,
    count: Callable[[Sequence[LexicalDocument]], TermCounts] | None = None,
) -> LexicalModel:
    """Fit ``model`` on ``documents``, counting only the new and changed ones when
    the published model's counts can be reused (the result is the same either way).
    ``count``: how the documents to count are counted (see :meth:`LexicalModel.fit`)."""
    previous = published.lexical() if published is not None and changes is not None else None
    if previous is None or changes is None or published is None or not changes.kept:
        return model.fit(documents, count=count)
    dropped = [lexical_fields(published.records[i]) for i in changes.dropped]
    return model.fit(
        documents, previous=previous, reused=changes.reused, dropped=dropped, count=count
    )


def refresh_candidates(
    previous: np.ndarray,
    changes: Changes,
    vectors: np.ndarray,
    lexical: LexicalModel,
    width: int,
) -> np.ndarray:
    """The candidate sets after a reindex, from the published ``previous`` ones
    (shape (N_old, 2 × width): the dense half, then the lexical half), as
    :func:`recommender.pipeline.candidate_sets` makes them.

    The dense half is what a full build finds for every row searched exactly; the
    lexical half can differ slightly, since the corpus's idf moves with every
    change (a ``--full`` build recomputes it). Returns (N_new, 2 × width) int32.
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dense = neighbours.refresh(
        np.ascontiguousarray(previous[:, :width]),
        changes.moved,
        changes.fresh,
        scores=lambda rows, columns: vectors[rows] @ vectors[columns].T,
        pairs=lambda rows, columns: np.einsum("ij,ij->i", vectors[rows], vectors[columns]),
        search=lambda rows: neighbours.padded(
            neighbours.dense_neighbours(vectors, width, rows=rows), width
        ),
        positive=False,
    )
    lexical_half = lexical.refreshed_more_like_this(
        np.ascontiguousarray(previous[:, width:]), changes.moved, changes.fresh
    )
    return neighbours.joined(dense, lexical_half, width)


def refresh_featured(
    previous: np.ndarray,
    changes: Changes,
    vectors: np.ndarray,
    featured: np.ndarray,
    width: int,
) -> np.ndarray:
    """The featured neighbours after a reindex, from the published ``previous`` ones
    (shape (N_old, width)), as :func:`recommender.neighbours.featured_neighbours`
    finds them over the new ``featured`` positions: the rows of new and changed
    articles and the rows that lost a featured article are searched again, and a
    new or changed featured article joins the other rows it is nearer to than their
    last. An article that stops being featured has changed, so the rows holding it
    are searched again. Returns (N_new, width) int32.
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    featured = np.asarray(featured, dtype=np.int64)
    return neighbours.refresh(
        np.ascontiguousarray(previous),
        changes.moved,
        changes.fresh,
        scores=lambda rows, columns: vectors[rows] @ vectors[columns].T,
        pairs=lambda rows, columns: np.einsum("ij,ij->i", vectors[rows], vectors[columns]),
        search=lambda rows: neighbours.featured_neighbours(vectors, featured, width, rows=rows),
        positive=False,
        entering=np.intersect1d(changes.fresh, featured),
    )
