"""A snapshot's articles on disk: records read one at a time, and the per-article
arrays that ranking reads for every candidate.

Loading a snapshot used to validate every stored article again and hold every
body in memory, work already done when the article was indexed. A snapshot now
keeps, beside ``articles.jsonl`` (one article per line, as written by
:meth:`recommender.articles.Article.to_json`, with its content hash):

- ``articles.offsets.npy``: where each line starts (int64, one more than there
  are articles), so one record is read with one seek;
- ``articles.ids.json``: the ids, in position order;
- ``articles.hashes.npy``: each article's content hash (64 hex digits, ``S64``);
- ``articles.digests.npy``: each article's record digest (``S16``, zeros when its
  record had none; see :class:`recommender.corpus.KnownRecords`), when the build
  knew them;
- ``articles.meta.npz``: ``published`` and ``updated`` (float64 seconds since the
  epoch, ``-inf`` when undated), ``status`` (uint8, an index into
  :data:`~recommender.articles.STATUSES`) and ``featured`` (bool);
- ``articles.labels.json`` and ``articles.labels.npz``: tags and categories as
  two sparse incidence lists over their vocabularies (``tags_indptr``,
  ``tags_indices``, ...), in each article's order.

Arrays are memory-mapped, so every server process on a machine shares one copy.
A record is validated when it is first read, and a few thousand are kept.
Snapshots written before these files existed are read whole, as before.
"""

from __future__ import annotations

import json
import os
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np

from .articles import STATUSES, Article

ARTICLES = "articles.jsonl"
OFFSETS = "articles.offsets.npy"
IDS = "articles.ids.json"
HASHES = "articles.hashes.npy"
DIGESTS = "articles.digests.npy"
META = "articles.meta.npz"
LABELS = "articles.labels.json"
LABEL_LISTS = "articles.labels.npz"
FILES = (ARTICLES, OFFSETS, IDS, HASHES, META, LABELS, LABEL_LISTS)
"""Every file of a snapshot's articles, in the order they are written (and
:data:`DIGESTS` when the build knew them)."""
NO_DIGEST = bytes(16)
"""The stored digest of an article whose record had none."""

CACHED_RECORDS = 4096
"""Records kept after they are read, most recently used first."""


@dataclass(frozen=True)
class Labels:
    """Each article's labels (its tags, or its categories) as indexes into a vocabulary.

    Attributes:
        vocabulary: the distinct labels, in the order first seen.
        indptr: ``(n + 1,)`` int64: article ``i``'s labels are
            ``indices[indptr[i]:indptr[i + 1]]``.
        indices: ``(nnz,)`` int32 indexes into ``vocabulary``, in the article's order.
    """

    vocabulary: list[str]
    indptr: np.ndarray
    indices: np.ndarray

    @classmethod
    def of(cls, labels: Sequence[Sequence[str]]) -> Labels:
        """The labels of each article, in order."""
        index: dict[str, int] = {}
        indptr = np.zeros(len(labels) + 1, dtype=np.int64)
        indices: list[int] = []
        for row, names in enumerate(labels):
            indices.extend(index.setdefault(name, len(index)) for name in names)
            indptr[row + 1] = len(indices)
        return cls(list(index), indptr, np.asarray(indices, dtype=np.int32))

    def at(self, position: int) -> tuple[str, ...]:
        """The labels of the article at ``position``, in its order."""
        start, end = self.indptr[position], self.indptr[position + 1]
        return tuple(self.vocabulary[i] for i in self.indices[start:end])

    def positions(self) -> dict[str, np.ndarray]:
        """Label → ``(m,)`` int64 positions of the articles carrying it, ascending."""
        rows = np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))
        order = np.argsort(self.indices, kind="stable")
        ends = np.searchsorted(self.indices[order], np.arange(len(self.vocabulary) + 1))
        return {
            name: rows[order[ends[i] : ends[i + 1]]].astype(np.int64)
            for i, name in enumerate(self.vocabulary)
        }


def _seconds(values: Sequence[Any]) -> np.ndarray:
    return np.array([v.timestamp() if v is not None else -np.inf for v in values], dtype=np.float64)


class ArticleRecords(Sequence[Article]):
    """The articles of one snapshot, in position order.

    ``records[i]`` is the :class:`~recommender.articles.Article` at position ``i``,
    read from disk when first asked for; the arrays answer for every article at
    once without reading any record.

    Attributes:
        ids: the ids, in position order.
        published: ``(n,)`` float64 publication times (seconds; ``-inf`` undated).
        updated: ``(n,)`` float64 update times (seconds; ``-inf`` when not given).
        status: ``(n,)`` uint8 indexes into :data:`~recommender.articles.STATUSES`.
        featured: ``(n,)`` bool.
        tags: each article's tags.
        categories: each article's categories.
    """

    def __init__(
        self,
        ids: list[str],
        published: np.ndarray,
        updated: np.ndarray,
        status: np.ndarray,
        featured: np.ndarray,
        tags: Labels,
        categories: Labels,
        read: Any,
        hashes: Any,
        stored_line: Callable[[int], bytes] | None = None,
        digests: Callable[[], np.ndarray | None] | None = None,
    ) -> None:
        self.ids = ids
        self.published = published
        self.updated = updated
        self.status = status
        self.featured = featured
        self.tags = tags
        self.categories = categories
        self._read = read
        self._hashes = hashes
        self._stored_line = stored_line
        self._digests = digests or (lambda: None)
        self._cache: OrderedDict[int, Article] = OrderedDict()
        self._carried: tuple[ArticleRecords, Sequence[int | None]] | None = None

    # -- building ---------------------------------------------------------------------

    @classmethod
    def of(
        cls,
        articles: Sequence[Article],
        content_hashes: Sequence[str],
        digests: Sequence[bytes | None] | None = None,
    ) -> ArticleRecords:
        """Records held in memory (a build, a test, a snapshot of older code), with
        each article's record digest when the build knew them."""
        held = list(articles)
        hashes = list(content_hashes)
        stored_digests = (
            None
            if digests is None
            else np.array([d or NO_DIGEST for d in digests], dtype="S16").reshape(len(held))
        )
        return cls(
            [a.id for a in held],
            _seconds([a.published for a in held]),
            _seconds([a.updated for a in held]),
            np.array([STATUSES.index(a.status) for a in held], dtype=np.uint8),
            np.array([a.featured for a in held], dtype=bool),
            Labels.of([a.tags for a in held]),
            Labels.of([a.categories for a in held]),
            held.__getitem__,
            lambda: hashes,
            digests=lambda: stored_digests,
        )

    def carry_over(self, previous: ArticleRecords, reused: Sequence[int | None]) -> None:
        """Let :meth:`write` copy the stored record of each article that ``previous``
        holds unchanged (``reused[i]``: its position there, or None) rather than
        serialise it again: the same id and content hash make the same line."""
        if len(reused) != len(self):
            raise ValueError(f"{len(reused)} reuse entries for {len(self)} records")
        self._carried = (previous, reused)

    def _line(self, position: int, content_hash: str) -> bytes:
        if self._carried is not None:
            previous, reused = self._carried
            old = reused[position]
            if old is not None and previous._stored_line is not None:
                line = previous._stored_line(old)
                # The hash closes every stored line; a line of other content (or of
                # another layout) is made again.
                if line.endswith(f'"content_hash": "{content_hash}"}}\n'.encode("ascii")):
                    return line
        record = {"article": self[position].to_json(), "content_hash": content_hash}
        return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")

    def write(self, directory: Path) -> None:
        """Write every file of :data:`FILES` into ``directory``."""
        offsets = np.zeros(len(self) + 1, dtype=np.int64)
        hashes = self.content_hashes
        with (directory / ARTICLES).open("wb") as handle:
            for position in range(len(self)):
                handle.write(self._line(position, hashes[position]))
                offsets[position + 1] = handle.tell()
        np.save(directory / OFFSETS, offsets)
        (directory / IDS).write_text(json.dumps(self.ids, ensure_ascii=False), "utf-8")
        np.save(directory / HASHES, np.array(self.content_hashes, dtype="S64"))
        digests = self.record_digests
        if digests is not None:
            np.save(directory / DIGESTS, digests)
        np.savez(
            directory / META,
            published=self.published,
            updated=self.updated,
            status=self.status,
            featured=self.featured,
        )
        vocabularies = {"tags": self.tags.vocabulary, "categories": self.categories.vocabulary}
        (directory / LABELS).write_text(json.dumps(vocabularies, ensure_ascii=False), "utf-8")
        np.savez(
            directory / LABEL_LISTS,
            tags_indptr=self.tags.indptr,
            tags_indices=self.tags.indices,
            categories_indptr=self.categories.indptr,
            categories_indices=self.categories.indices,
        )

    # -- loading ----------------------------------------------------------------------

    @classmethod
    def load(cls, directory: Path) -> ArticleRecords:
        """The records of a snapshot directory; older snapshots (only
        ``articles.jsonl``, with hashes inside) are read whole.

        Raises:
            OSError, ValueError, KeyError: a file is missing or unreadable.
        """
        if not (directory / OFFSETS).exists():
            return cls._read_whole(directory / ARTICLES)
        offsets = np.load(directory / OFFSETS, allow_pickle=False)
        ids: list[str] = json.loads((directory / IDS).read_text("utf-8"))
        with np.load(directory / META, allow_pickle=False) as meta:
            published, updated = meta["published"], meta["updated"]
            status, featured = meta["status"], meta["featured"]
        vocabularies = json.loads((directory / LABELS).read_text("utf-8"))
        with np.load(directory / LABEL_LISTS, allow_pickle=False) as lists:
            tags = Labels(vocabularies["tags"], lists["tags_indptr"], lists["tags_indices"])
            categories = Labels(
                vocabularies["categories"],
                lists["categories_indptr"],
                lists["categories_indices"],
            )
        if not len(ids) == len(offsets) - 1 == len(published) == len(status):
            raise ValueError("the article files disagree on how many articles there are")
        path = directory / ARTICLES
        # One descriptor for the life of the records, read with pread: no seek, so
        # threads (and processes forked after it was opened) never move each other's
        # position, and no open() per article shown.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        weakref.finalize(offsets, os.close, descriptor)

        def stored_line(position: int) -> bytes:
            start, end = int(offsets[position]), int(offsets[position + 1])
            return os.pread(descriptor, end - start, start)

        def read(position: int) -> Article:
            return Article.from_stored(json.loads(stored_line(position))["article"])

        def hashes() -> list[str]:
            stored = np.load(directory / HASHES, allow_pickle=False)
            return [value.decode("ascii") for value in stored]

        def digests() -> np.ndarray | None:
            if not (directory / DIGESTS).exists():  # built before digests were kept
                return None
            stored: np.ndarray = np.load(directory / DIGESTS, allow_pickle=False)
            return stored if stored.shape == (len(ids),) else None

        return cls(
            ids,
            published,
            updated,
            status,
            featured,
            tags,
            categories,
            read,
            hashes,
            stored_line,
            digests,
        )

    @classmethod
    def _read_whole(cls, path: Path) -> ArticleRecords:
        articles, hashes = [], []
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                articles.append(Article.from_stored(record["article"]))
                hashes.append(record["content_hash"])
        return cls.of(articles, hashes)

    # -- reading ----------------------------------------------------------------------

    @property
    def content_hashes(self) -> list[str]:
        """Each article's content hash, in position order (read on first use)."""
        hashes: list[str] = self._hashes()
        self._hashes = lambda: hashes
        return hashes

    @property
    def record_digests(self) -> np.ndarray | None:
        """``(n,)`` ``S16``: each article's record digest (:data:`NO_DIGEST` when its
        record had none); None for records built without them."""
        digests: np.ndarray | None = self._digests()
        self._digests = lambda: digests
        return digests

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, position: int) -> Article: ...

    @overload
    def __getitem__(self, position: slice) -> list[Article]: ...

    def __getitem__(self, position: int | slice) -> Article | list[Article]:
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        if position < 0:
            position += len(self)
        if not 0 <= position < len(self):
            raise IndexError(position)
        cached = self._cache.get(position)
        if cached is not None:
            self._cache.move_to_end(position)
            return cached
        article: Article = self._read(position)
        self._cache[position] = article
        if len(self._cache) > CACHED_RECORDS:
            self._cache.popitem(last=False)
        return article

    def __iter__(self) -> Iterator[Article]:
        for position in range(len(self)):
            yield self[position]
