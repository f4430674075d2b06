"""The catalog: every article a request may rank, by position, with the per-position
arrays and masks the ranking stages read.

A *position* is an ``int``: the snapshot's articles first (``0 … n_snapshot − 1``,
the order of its vectors and lexical rows), then the live API upserts in the order
they were written. An upsert replacing a snapshot article, and a deleted id, hide
the snapshot's position (it stays in the arrays, unlisted); an upsert gives way to
the snapshot's article when that is newer (newest wins, see
:meth:`recommender.live.LiveChanges.corpus_wins`).

Every per-request question is answered with numpy arrays of length :func:`len`
(one entry per position) or with the rows of a few positions; no stage walks the
corpus's :class:`~recommender.articles.Article` records per request. The records
are read one at a time (:meth:`Catalog.article`), for the items a list shows, so a
later catalog can keep them on disk and the arrays memory-mapped.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from scipy import sparse

from .articles import STATUSES, Article
from .duplicates import Shingling, Signatures, Signer
from .errors import ArticleNotFound
from .fields import lexical_fields
from .lexical import FieldCounts, LexicalDocument, LexicalQuery, Row, WeightedQuery, row_of
from .live import Clock, LiveChanges, system_clock, version_time
from .records import Labels
from .request import Filters, labels_of
from .rules import RuleSet
from .snapshot import Snapshot

NEWEST_KEPT = 256
"""Newest-first orders of label sets kept (the fallback asks for one per query's
categories)."""

DAY = 86_400.0
"""Seconds in a day: ages in the knobs are in days, times in seconds since the epoch."""


def among(positions: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``(len(positions),)`` bool: which ``positions`` are in ``sorted_set`` (ascending,
    non-empty). A binary search per position: np.isin sorts both arrays on every
    call, and the masks are asked for a few hundred positions many times a request."""
    found = np.searchsorted(sorted_set, positions)
    found[found == len(sorted_set)] = 0
    return np.asarray(sorted_set[found] == positions, dtype=bool)


class Column:
    """A per-position array: the snapshot's values, then the live upserts'. Indexed
    like a numpy array with one position or an array of positions, it never joins
    the two parts, so a live change does not copy a corpus-sized array."""

    def __init__(self, base: np.ndarray, live: np.ndarray) -> None:
        self.base = base
        self.live = live

    def __len__(self) -> int:
        return len(self.base) + len(self.live)

    def __getitem__(self, positions: Any) -> Any:
        n = len(self.base)
        if np.ndim(positions) == 0:
            position = int(positions)
            return self.base[position] if position < n else self.live[position - n]
        positions = np.asarray(positions, dtype=np.int64)
        if not self.live.size:
            return self.base[positions]
        inside = positions < n
        out = np.empty(positions.shape, dtype=self.base.dtype)
        out[inside] = self.base[positions[inside]]
        out[~inside] = self.live[positions[~inside] - n]
        return out


class CatalogBase:
    """What a catalog reads from its snapshot, computed once per snapshot and shared
    by every catalog laid over it (one per live-change sequence): ids, per-article
    arrays, label indexes and newest-first orders.

    Args:
        snapshot: the loaded index version.
        clock_skew: seconds before its ``published`` time that a scheduled article
            is shown.
    """

    def __init__(self, snapshot: Snapshot, clock_skew: float = 0.0) -> None:
        records = snapshot.articles
        self.snapshot = snapshot
        self.records = records
        self.clock_skew = clock_skew
        self.n = len(records)
        self.positions: dict[str, int] = snapshot.positions
        self.published = np.asarray(records.status == STATUSES.index("published"), dtype=bool)
        self.scheduled = np.asarray(records.status == STATUSES.index("scheduled"), dtype=bool)
        self.featured = np.asarray(records.featured, dtype=bool)
        self.published_at = np.asarray(records.published, dtype=np.float64)
        # Scheduled articles go live at their publication time less the skew tolerance.
        self.goes_live_at = np.where(self.scheduled, self.published_at - clock_skew, np.inf)
        self.featured_positions = np.flatnonzero(self.featured).astype(np.int64)
        self._indexes: dict[str, dict[str, np.ndarray]] = {}
        self._version_times: dict[int, datetime | None] = {}
        self._newest: dict[tuple[str | None, frozenset[str]], np.ndarray] = {}
        # Per live upsert (id → the seq that wrote it, and what was derived from it):
        # made once per version, not on every change of the live layer.
        self._upserts: dict[str, tuple[int, _Upsert]] = {}
        self._listing: np.ndarray | None = None
        self._featured_vectors: np.ndarray | None = None
        stored = snapshot.candidates
        self.link_width = 0 if stored is None else stored.shape[1] // 2

    def version_time(self, position: int) -> datetime | None:
        """:func:`version_time` of the snapshot article at ``position``, its record read
        once: every live change compares it with the upsert of the same id."""
        if position not in self._version_times:
            self._version_times[position] = version_time(self.records[position])
        return self._version_times[position]

    def upserts(
        self, articles: list[Article], vectors: np.ndarray, seqs: Mapping[str, int]
    ) -> list[_Upsert]:
        """What the catalog needs of each live upsert, in order: its BM25 weights and
        the snapshot articles it is a candidate for. Derived once per version of an
        upsert (its id and ``seqs``' entry) and kept while it is served."""
        out: list[_Upsert | None] = []
        todo: list[int] = []
        for i, article in enumerate(articles):
            kept = self._upserts.get(article.id)
            seq = seqs.get(article.id, -1)
            if kept is not None and kept[0] == seq and seq >= 0:
                out.append(kept[1])
            else:
                out.append(None)
                todo.append(i)
        if todo:
            lexical = self.snapshot.lexical
            weights = lexical.weigh([lexical_fields(articles[i]) for i in todo])
            links = self._links(vectors[todo], weights)
            for j, i in enumerate(todo):
                made = _Upsert(weights[j], links[j])
                out[i] = made
                self._upserts[articles[i].id] = (seqs.get(articles[i].id, -1), made)
        served = {a.id for a in articles}
        for gone in [i for i in self._upserts if i not in served]:
            del self._upserts[gone]
        return [item for item in out if item is not None]

    def _links(self, vectors: np.ndarray, weights: sparse.csr_matrix) -> np.ndarray:
        """``(m, ≤ 2 × link_width)`` int32 snapshot positions (-1 padded): for each
        upsert, the articles that would have it in their candidate sets, taken as
        its own nearest articles by cosine and by its strongest terms (neighbourhood
        is close to symmetric; the same two halves a build stores per article)."""
        m = vectors.shape[0]
        width = min(self.link_width, self.n)
        if width == 0:
            return np.full((m, 0), -1, dtype=np.int32)
        _, dense = self.snapshot.dense.search(vectors, width)
        lexical = self.snapshot.lexical.more_like_this_for(weights, width)
        return np.concatenate([dense.astype(np.int32), lexical], axis=1)

    def featured_vectors(self) -> np.ndarray:
        """``(f, dim)`` float32: the vectors of the snapshot's featured articles
        (:attr:`featured_positions`), one contiguous copy made on first use."""
        if self._featured_vectors is None:
            self._featured_vectors = np.ascontiguousarray(
                self.snapshot.vectors[self.featured_positions], dtype=np.float32
            )
        return self._featured_vectors

    def listing_order(self) -> np.ndarray:
        """``(n,)`` int64: snapshot positions newest first, ties by id, undated last:
        the order of the article listing (sorted once per snapshot)."""
        if self._listing is None:
            ids = np.array(self.records.ids, dtype=str) if self.n else np.zeros(0, dtype=str)
            self._listing = np.lexsort((ids, -self.published_at)).astype(np.int64)
        return self._listing

    def index(self, name: str) -> dict[str, np.ndarray]:
        """Label → ``(m,)`` int64 snapshot positions carrying it, ascending: ``tags``
        and ``categories`` casefolded, ``exact tags`` as written (built on first use)."""
        index = self._indexes.get(name)
        if index is None:
            kind = "categories" if name == "categories" else "tags"
            fold: Callable[[str], str] = str if name == "exact tags" else str.casefold
            lists: Labels = getattr(self.records, kind)
            found: dict[str, list[np.ndarray]] = {}
            for label, positions in lists.positions().items():
                found.setdefault(fold(label), []).append(positions)
            index = {
                label: np.unique(np.concatenate(parts)).astype(np.int64)
                for label, parts in found.items()
            }
            self._indexes[name] = index
        return index

    def newest_order(self, kind: str | None, labels: frozenset[str]) -> np.ndarray:
        """Snapshot positions newest first (ties by position, undated last): of the
        articles carrying one of ``labels`` in the index ``kind``, or (``kind`` None)
        of all. Kept for the most recent label sets asked for."""
        key = (kind, labels)
        order = self._newest.get(key)
        if order is None:
            if kind is None:
                positions = np.arange(self.n, dtype=np.int64)
            else:
                index = self.index(kind)
                parts = [index[label] for label in labels if label in index]
                positions = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
            order = positions[np.lexsort((positions, -self.published_at[positions]))]
            self._newest[key] = order
            while len(self._newest) > NEWEST_KEPT:
                self._newest.pop(next(iter(self._newest)))
        return order


@dataclass(frozen=True)
class _Upsert:
    """What a catalog derives from one live upsert."""

    weights: sparse.csr_matrix
    """``(1, V)`` its BM25 weights in the snapshot's vocabulary."""
    links: np.ndarray
    """``(w,)`` int32 snapshot positions whose candidate sets take it in, -1 padded."""


class _Positions(Mapping[str, int]):
    """Id → position of every article that exists now: the snapshot's, less the
    hidden ones, and the live upserts' (a view: nothing corpus-sized is copied)."""

    def __init__(self, base: dict[str, int], hidden: frozenset[str], live: dict[str, int]):
        self._base = base
        self._hidden = hidden
        self._live = live
        self._size = len(base) - sum(1 for i in hidden if i in base) + len(live)

    def __getitem__(self, article_id: str) -> int:
        position = self._live.get(article_id)
        if position is not None:
            return position
        if article_id in self._hidden:
            raise KeyError(article_id)
        return self._base[article_id]

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._live or (
            article_id not in self._hidden and article_id in self._base
        )

    def get(self, article_id: str, default: Any = None) -> Any:
        """The position of ``article_id``, or ``default``: one or two dict lookups."""
        position = self._live.get(article_id)
        if position is not None:
            return position
        if article_id in self._hidden:
            return default
        return self._base.get(article_id, default)

    def __iter__(self) -> Iterator[str]:
        yield from (i for i in self._base if i not in self._hidden and i not in self._live)
        yield from self._live

    def __len__(self) -> int:
        return self._size


class Catalog:
    """One published snapshot with the live changes laid over it.

    Args:
        snapshot: the loaded index version.
        live: API upserts and deletes to lay over it.
        now: the clock deciding which scheduled articles are live.
        clock_skew: seconds before its ``published`` time that a scheduled article
            is shown (``RECOMMENDER_CLOCK_SKEW_SECONDS``).

    Attributes:
        snapshot: the snapshot.
        live_seq: the live changes' sequence number (0: none).
        n_snapshot: how many positions the snapshot holds; live upserts follow.
        positions: id → position of every article that exists now (drafts
            included; hidden snapshot articles left out).
        shingling: how the snapshot's body signatures were made; None without them.
        listed: ``(len,)`` bool, the positions in :attr:`positions`.
        published: ``(len,)`` bool, status ``published``.
        featured: ``(len,)`` bool, the articles' own ``featured`` flag.
        published_at: ``(len,)`` float64, publication time in seconds since the
            epoch (``-inf``: undated).
        goes_live_at: ``(len,)`` float64, when a listed ``scheduled`` article shows
            (its publication time less the skew; ``inf`` for every other).
    """

    def __init__(
        self,
        snapshot: Snapshot,
        live: LiveChanges | None = None,
        *,
        now: Clock = system_clock,
        clock_skew: float = 0.0,
        base: CatalogBase | None = None,
    ) -> None:
        if base is None or base.snapshot is not snapshot or base.clock_skew != clock_skew:
            base = CatalogBase(snapshot, clock_skew)
        self.base = base
        self.snapshot = snapshot
        self.now = now
        self.live_seq = live.seq if live else 0
        records = snapshot.articles
        self._records = records
        self.n_snapshot = base.n
        upserts = self._served_upserts(base, live) if live else {}
        hidden = frozenset(live.deleted) | frozenset(upserts) if live else frozenset()
        self._live = live
        live_articles = [article for article, _ in upserts.values()]
        self._live_articles = live_articles
        self._live_vectors: np.ndarray | None = None
        self._live_lexical: sparse.csr_matrix | None = None
        self._links: tuple[np.ndarray, np.ndarray] | None = None
        self._derived: list[_Upsert] = []
        if live_articles:
            self._live_vectors = np.vstack([vector for _, vector in upserts.values()])
            assert live is not None  # upserts come from it
            self._derived = base.upserts(live_articles, self._live_vectors, live.seqs)
            self._live_lexical = _stack_rows([d.weights for d in self._derived])
        # Bodies are compared only with signatures made the snapshot's way; a snapshot
        # built before signatures existed is served with the dense test alone.
        self.shingling: Shingling | None = snapshot.shingling
        self._signer: Signer | None = None
        self._live_signatures: Signatures | None = None
        if self.shingling is not None and live_articles and live is not None:
            self._live_signatures = self._sign_upserts(live, live_articles)
        live_positions = {a.id: self.n_snapshot + i for i, a in enumerate(live_articles)}
        self.positions: Mapping[str, int] = _Positions(base.positions, hidden, live_positions)
        self._hidden = np.array(
            sorted(base.positions[i] for i in hidden if i in base.positions), dtype=np.int64
        )
        self.published = Column(
            base.published, np.array([a.is_published for a in live_articles], bool)
        )
        self.featured = Column(base.featured, np.array([a.featured for a in live_articles], bool))
        self.published_at = Column(
            base.published_at,
            np.array([_seconds(a.published) for a in live_articles], dtype=np.float64),
        )
        live_goes_live = np.array(
            [
                _seconds(a.published) - clock_skew if a.status == "scheduled" else np.inf
                for a in live_articles
            ],
            dtype=np.float64,
        )
        self.goes_live_at = Column(base.goes_live_at, live_goes_live)
        # Hidden snapshot articles never go live.
        base_times = base.goes_live_at[base.scheduled]
        if self._hidden.size:
            shown = base.scheduled.copy()
            shown[self._hidden] = False
            base_times = base.goes_live_at[shown]
        self._go_live_times = np.sort(
            np.concatenate([base_times, live_goes_live[np.isfinite(live_goes_live)]])
        )
        # (since, until, count): the span of time over which the count of articles gone
        # live is ``count`` (see :meth:`schedule`); empty until first asked.
        self._schedule_span: tuple[float, float, int] = (np.inf, -np.inf, 0)
        self._labels: dict[int, frozenset[str]] = {}
        self._indexes: dict[str, dict[str, np.ndarray]] = {}
        self._featured_positions: np.ndarray | None = None
        # Per-field term counts of articles counted from their text (live upserts, and
        # snapshots stored without counts), kept once counted.
        self._field_counts: dict[int, FieldCounts] = {}

    def listed(self, positions: np.ndarray) -> np.ndarray:
        """``(len(positions),)`` bool: the positions of articles that exist now."""
        positions = np.asarray(positions, dtype=np.int64)
        listed = positions < len(self)
        if self._hidden.size:
            listed &= ~among(positions, self._hidden)
        return listed

    def __len__(self) -> int:
        """How many positions there are (hidden ones included)."""
        return self.n_snapshot + len(self._live_articles)

    # -- the live layer ----------------------------------------------------------------

    @staticmethod
    def _served_upserts(
        base: CatalogBase, live: LiveChanges
    ) -> dict[str, tuple[Article, np.ndarray]]:
        """The upserts that are served: each, unless the snapshot holds a newer version
        of its article (newest wins; see :meth:`LiveChanges.corpus_wins`)."""
        corpus_times = {
            article_id: base.version_time(base.positions[article_id])
            for article_id in live.upserts
            if article_id in base.positions
        }
        return {
            article_id: (article, vector)
            for article_id, (article, vector, _) in live.upserts.items()
            if not live.corpus_wins(article_id, corpus_times.get(article_id))
        }

    def _sign_upserts(self, live: LiveChanges, articles: list[Article]) -> Signatures:
        """The upserts' signatures: as written, or made again when an upsert predates
        signatures or the snapshot's shingling."""
        rows = []
        for article in articles:
            stored = live.signatures.get(article.id)
            rows.append(
                stored[1] if stored and stored[0] == self.shingling else self.sign(article.body)
            )
        return Signatures.concatenate(rows)

    def is_live(self, position: int) -> bool:
        """Whether ``position`` holds an API upsert rather than a snapshot article."""
        return position >= self.n_snapshot

    def live_positions(self) -> np.ndarray:
        """``(u,)`` int64: the positions of the served upserts, ascending."""
        return np.arange(self.n_snapshot, len(self), dtype=np.int64)

    def linked_upserts(self, position: int) -> np.ndarray:
        """``(m,)`` int64 ascending: the positions of the served upserts that join the
        stored candidate set of the snapshot article at ``position`` (see
        :meth:`CatalogBase.upserts`); every upsert when the snapshot stores none."""
        if not self._derived:
            return np.zeros(0, dtype=np.int64)
        if self._links is None:
            # Upsert → articles, inverted once per catalog into article → upserts.
            links = np.stack([d.links for d in self._derived]) if self._derived else None
            if links is None or links.shape[1] == 0:
                return self.live_positions()
            sources = np.repeat(np.arange(len(self._derived)), links.shape[1])
            targets = links.ravel()
            keep = targets >= 0
            # A counting sort in C (COO to CSR): every worker makes this on its first
            # read after a live change, so it must stay cheap with thousands of upserts
            # (a lexsort of 3,000 upserts' links took 55 ms, this 8 ms).
            inverted = sparse.coo_matrix(
                (np.ones(int(keep.sum()), dtype=np.int8), (targets[keep], sources[keep])),
                shape=(self.n_snapshot, len(self._derived)),
            ).tocsr()
            inverted.sum_duplicates()  # each row's upserts once, ascending
            self._links = (inverted.indptr, inverted.indices.astype(np.int64) + self.n_snapshot)
        indptr, linked = self._links
        return linked[indptr[position] : indptr[position + 1]]

    def upsert_links(self, position: int) -> np.ndarray:
        """``(2w,)`` int32 snapshot positions, -1 padded: the live upsert at
        ``position``'s nearest articles by cosine, then by its strongest terms, each
        best first (see :meth:`CatalogBase.upserts`). Laid out as a stored candidate
        set is, so it serves as the upsert's own."""
        return self._derived[position - self.n_snapshot].links

    # -- records -----------------------------------------------------------------------

    def article(self, position: int) -> Article:
        """The article at ``position`` (as stored: no rule applied), read from the
        snapshot when first asked for."""
        if position >= self.n_snapshot:
            return self._live_articles[position - self.n_snapshot]
        return self._records[position]

    def find(self, article_id: str) -> int:
        """The position of an existing article.

        Raises:
            ArticleNotFound: the id is unknown or deleted.
        """
        position = self.positions.get(article_id)
        if position is None:
            raise ArticleNotFound(article_id)
        return position

    def article_id(self, position: int) -> str:
        """The id of the article at ``position``, without reading its record."""
        if position < self.n_snapshot:
            return str(self.base.records.ids[position])
        return self._live_articles[position - self.n_snapshot].id

    def listing_key(self, position: int) -> tuple[float, str]:
        """Where ``position`` sorts in the article listing: (minus its publication
        time, its id); undated articles last."""
        return (-float(self.published_at[position]), self.article_id(position))

    def listing(
        self,
        *,
        tag: str | None = None,
        status: str | None = None,
        title_contains: str | None = None,
    ) -> np.ndarray:
        """``(m,)`` int64: the positions of every article that exists now (drafts
        included), newest first (see :meth:`listing_key`), with ``tag`` (as written),
        in ``status``, with ``title_contains`` in its title (casefolded).

        The order and the tag and status tests are arrays; only a title filter reads
        the articles' records.
        """
        order = self.base.listing_order()
        order = order[self.listed(order)]
        live = self.live_positions()
        if live.size:
            # Few: each is placed by a binary search, in key order (equal places keep
            # the order given).
            ranked = sorted((int(p) for p in live), key=self.listing_key)
            at = [
                bisect.bisect_left(order, self.listing_key(p), key=self.listing_key) for p in ranked
            ]
            order = np.insert(order, at, ranked)
        if tag:
            order = order[self._carrying(order, "exact tags", [tag])]
        if status:
            if status not in STATUSES:
                return np.zeros(0, dtype=np.int64)
            code = STATUSES.index(status)
            live_codes = np.array(
                [STATUSES.index(a.status) for a in self._live_articles], dtype=np.uint8
            )
            codes = Column(np.asarray(self.base.records.status), live_codes)
            order = order[np.asarray(codes[order]) == code]
        if title_contains:
            needle = title_contains.casefold()
            order = order[
                np.array([needle in self.article(int(p)).title.casefold() for p in order], bool)
            ]
        return np.asarray(order, dtype=np.int64)

    def listed_articles(self) -> list[Article]:
        """Every article that exists now (drafts included), in position order (reads
        every record: for listings and exports, not for ranking)."""
        every = np.arange(len(self), dtype=np.int64)
        return [self.article(int(i)) for i in every[self.listed(every)]]

    def version_time(self, article_id: str) -> datetime | None:
        """When the served version of an article was written: an upsert's ``updated``
        or write time, a snapshot article's ``updated`` or ``published``; None for an
        unknown id or an undated article."""
        position = self.positions.get(article_id)
        if position is None:
            return None
        if self.is_live(position):
            assert self._live is not None  # live positions come from it
            return self._live.upsert_time(article_id)
        return version_time(self.article(position))

    def schedule(self, now: datetime | None = None) -> tuple[int, float | None]:
        """How many scheduled articles are live at ``now`` (default: the clock), and the
        seconds until the next one goes live (None if none is waiting).

        Answers change when a scheduled article goes live although neither the
        snapshot nor the live changes do; caches key on this count.
        """
        moment = (now or self.now()).timestamp()
        # Every cached answer asks this: the count holds between two go-live times,
        # so it is searched for again only when the clock leaves that span.
        since, until, live = self._schedule_span
        if not since <= moment < until:
            times = self._go_live_times
            live = int(np.searchsorted(times, moment, side="right"))
            since = float(times[live - 1]) if live else -np.inf
            until = float(times[live]) if live < times.size else np.inf
            self._schedule_span = (since, until, live)
        return live, (until - moment if until != np.inf else None)

    # -- per-position data -------------------------------------------------------------

    def vectors(self, positions: np.ndarray) -> np.ndarray:
        """``(len(positions), dim)`` float32: the unit vectors at ``positions``."""
        stored = self.snapshot.vectors
        if self._live_vectors is None:
            return np.asarray(stored[positions])
        positions = np.asarray(positions, dtype=np.int64)
        if _ascending(positions):
            # What a request scores is sorted: the snapshot's rows come first, so one
            # split replaces two boolean masks over every row (the exhaustive path of a
            # small corpus asks for all of them).
            split = int(np.searchsorted(positions, self.n_snapshot))
            live = self._live_vectors[positions[split:] - self.n_snapshot]
            return np.concatenate([np.asarray(stored[positions[:split]]), live])
        out = np.empty((len(positions), stored.shape[1]), dtype=np.float32)
        in_snapshot = positions < self.n_snapshot
        out[in_snapshot] = stored[positions[in_snapshot]]
        out[~in_snapshot] = self._live_vectors[positions[~in_snapshot] - self.n_snapshot]
        return out

    def cosines(self, positions: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """``(len(positions),)`` float32: each position's cosine to ``vector``. The
        snapshot's featured articles are read from one contiguous matrix (see
        :meth:`CatalogBase.featured_vectors`), so scoring all of them is one product."""
        positions = np.asarray(positions, dtype=np.int64)
        featured = self.base.featured_positions
        out = np.empty(positions.size, dtype=np.float32)
        held = np.zeros(positions.size, dtype=bool)
        if featured.size:
            at = np.minimum(np.searchsorted(featured, positions), featured.size - 1)
            held = featured[at] == positions
            if held.any():
                out[held] = (self.base.featured_vectors() @ vector)[at[held]]
        if (~held).any():
            out[~held] = self.vectors(positions[~held]) @ vector
        return out

    def live_cosines(self, vector: np.ndarray) -> np.ndarray:
        """``(u,)`` float32: each served upsert's cosine to ``vector``, in the order of
        :meth:`live_positions` (one product over the live layer's own matrix, no rows
        gathered)."""
        if self._live_vectors is None:
            return np.zeros(0, dtype=np.float32)
        return np.asarray(self._live_vectors @ vector, dtype=np.float32)

    def signatures(self, positions: np.ndarray) -> Signatures | None:
        """The body signatures at ``positions``; None when the snapshot has none."""
        stored = self.snapshot.signatures
        if stored is None or self.shingling is None:
            return None
        if self._live_signatures is None:
            return stored.rows(positions)
        in_snapshot = positions < self.n_snapshot
        hashes = np.empty((len(positions), self.shingling.num_perm), dtype=np.uint32)
        counts = np.empty(len(positions), dtype=np.uint32)
        hashes[in_snapshot] = stored.hashes[positions[in_snapshot]]
        counts[in_snapshot] = stored.counts[positions[in_snapshot]]
        live = positions[~in_snapshot] - self.n_snapshot
        hashes[~in_snapshot] = self._live_signatures.hashes[live]
        counts[~in_snapshot] = self._live_signatures.counts[live]
        return Signatures(hashes, counts)

    def sign(self, body: str) -> Signatures:
        """The signature of one body, made the snapshot's way (only with signatures)."""
        if self._signer is None:
            self._signer = Signer(self.shingling)
        return self._signer.sign([body])

    def labels(self, position: int) -> frozenset[str]:
        """The casefolded tags and categories at ``position``."""
        labels = self._labels.get(position)
        if labels is None:
            tags, categories = self._tags_and_categories(position)
            labels = self._labels[position] = labels_of(tags, categories)
        return labels

    def _tags_and_categories(self, position: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The tags and categories at ``position``, from the snapshot's arrays."""
        if position >= self.n_snapshot:
            article = self._live_articles[position - self.n_snapshot]
            return article.tags, article.categories
        return self._records.tags.at(position), self._records.categories.at(position)

    def lexical_document(self, position: int) -> LexicalDocument:
        """The lexical fields of the article at ``position``."""
        return lexical_fields(self.article(position))

    def lexical_row(self, position: int) -> Row:
        """The BM25 row of the article at ``position``."""
        if not self.is_live(position):
            return self.snapshot.lexical.row(position)
        assert self._live_lexical is not None  # live positions exist only with live rows
        return row_of(self._live_lexical, position - self.n_snapshot)

    def field_counts(self, position: int) -> FieldCounts:
        """The field-weighted term counts of the article at ``position``. Counted on
        first use, then kept: snapshots store BM25 weights, not counts."""
        if position < self.n_snapshot and self.snapshot.lexical.has_field_counts:
            return self.snapshot.lexical.stored_field_counts(position)
        cached = self._field_counts.get(position)
        if cached is None:
            cached = self.snapshot.lexical.count_fields(self.lexical_document(position))
            self._field_counts[position] = cached
        return cached

    def lexical_query(self, position: int) -> LexicalQuery:
        """The lexical side of the article at ``position`` as a query."""
        model = self.snapshot.lexical
        document = self.lexical_document(position)

        def fields() -> FieldCounts:
            return self.field_counts(position)

        if not self.is_live(position):
            return model.query_for_row(position, document, fields)
        assert self._live_lexical is not None  # live positions exist only with live rows
        weights = self._live_lexical[position - self.n_snapshot]
        return model.query_for_weights(weights, document, fields)

    def lexical_scores(self, query: WeightedQuery) -> np.ndarray:
        """``(len,)`` float32 in [0, 1]: every position's lexical score for ``query``."""
        scores = query.scores()
        if self._live_lexical is None:
            return scores
        return np.concatenate([scores, query.score_weighed(self._live_lexical)])

    def lexical_scores_at(self, query: WeightedQuery, positions: np.ndarray) -> np.ndarray:
        """``(len(positions),)`` float32 in [0, 1]: the lexical scores at ``positions``,
        the same values :meth:`lexical_scores` gives them."""
        live = positions >= self.n_snapshot
        if not live.any():
            return query.score_rows(positions)
        assert self._live_lexical is not None  # live positions exist only with live rows
        out = np.empty(len(positions), dtype=np.float32)
        out[~live] = query.score_rows(positions[~live])
        out[live] = query.score_weighed(self._live_lexical, positions[live] - self.n_snapshot)
        return out

    # -- masks over a few positions --------------------------------------------------
    #
    # Every mask is asked for the positions a request considers (its candidates, the
    # featured articles, a fallback's newest articles), never for the whole corpus,
    # so the cost of a request does not grow with it. Drafts ask for every position.

    def visible(
        self,
        positions: np.ndarray,
        filters: Filters,
        rules: RuleSet,
        query_position: int | None = None,
        query_id: str | None = None,
    ) -> np.ndarray:
        """``(len(positions),)`` bool: what may appear now under ``filters`` and ``rules``.

        Existing, published (or scheduled and due), not filtered out by the caller,
        not blocked under the query or excluded by an editor, not the query itself.
        A published article dated in the future shows at once (a feed's time-zone slip
        must not hide live content); only a ``scheduled`` one waits, until its
        publication time less the clock-skew tolerance.
        """
        positions = np.asarray(positions, dtype=np.int64)
        visible = self.listed(positions) & (
            self.published[positions] | (self.goes_live_at[positions] <= self.now().timestamp())
        )
        if filters.since is not None:
            visible &= self.published_at[positions] >= filters.since.timestamp()
        if filters.tags:
            visible &= self._carrying(positions, "exact tags", filters.tags)
        named = (*filters.exclude, *rules.hidden_under(query_id))
        hidden = [p for p in (*map(self.positions.get, named), query_position) if p is not None]
        if len(hidden) == 1:  # the query itself, most often
            visible &= positions != hidden[0]
        elif hidden:
            visible &= ~among(positions, np.unique(np.array(hidden, dtype=np.int64)))
        return np.asarray(visible, dtype=bool)

    def in_window(self, positions: np.ndarray, reference: float, max_age_days: float) -> np.ndarray:
        """``(len(positions),)`` bool: published at most ``max_age_days`` before
        ``reference`` (seconds since the epoch), or undated; all True when
        ``max_age_days`` is 0."""
        if not max_age_days:
            return np.ones(len(positions), dtype=bool)
        oldest = reference - max_age_days * DAY
        published = self.published_at[positions]
        with np.errstate(invalid="ignore"):
            return np.asarray(~np.isfinite(published) | (published >= oldest), dtype=bool)

    def sharing_a_tag(self, positions: np.ndarray, tags: Iterable[str]) -> np.ndarray:
        """``(len(positions),)`` bool: carrying one of ``tags`` (compared casefolded)."""
        return self._carrying(positions, "tags", tags)

    def featured_at(self, positions: np.ndarray, rules: RuleSet) -> np.ndarray:
        """``(len(positions),)`` bool: featured, after the editors' featured overrides."""
        featured: np.ndarray = self.featured[positions].copy()
        for article_id, value in rules.featured.items():
            position = self.positions.get(article_id)
            if position is not None:
                featured[positions == position] = value
        return featured

    def featured_positions(self, rules: RuleSet) -> np.ndarray:
        """``(f,)`` int64 ascending: every listed featured article, after the editors'
        overrides (visibility not applied)."""
        if self._featured_positions is None:
            live_featured = np.flatnonzero(self.featured.live) + self.n_snapshot
            every = np.concatenate([self.base.featured_positions, live_featured])
            self._featured_positions = every[self.listed(every)].astype(np.int64)
        overrides = {self.positions.get(i): value for i, value in rules.featured.items()}
        overrides.pop(None, None)
        if not overrides:
            return self._featured_positions
        added = [p for p, value in overrides.items() if value]
        removed = [p for p, value in overrides.items() if not value]
        positions = np.union1d(self._featured_positions, np.array(added, dtype=np.int64))
        return np.setdiff1d(positions, np.array(removed, dtype=np.int64)).astype(np.int64)

    def newest(
        self,
        allowed: Callable[[np.ndarray], np.ndarray],
        n: int,
        *,
        categories: Iterable[str] = (),
        tags: Iterable[str] = (),
    ) -> np.ndarray:
        """Up to ``n`` positions that ``allowed`` accepts, newest first (ties in
        position order, undated last): among the articles in one of ``categories``,
        else carrying one of ``tags``, else among all.

        The snapshot's articles are walked newest first, a doubling block at a time,
        so only as many are checked as it takes to find ``n``; the live upserts
        (few) are merged in by date.
        """
        labels = frozenset(label.casefold() for label in categories)
        kind = "categories"
        if not labels:
            labels, kind = frozenset(label.casefold() for label in tags), "tags"
        order = self.base.newest_order(kind if labels else None, labels)
        live = self.live_positions()
        if labels and live.size:
            live = live[self._carrying(live, kind, labels)]
        live = live[np.lexsort((live, -self.published_at[live]))] if live.size else live
        found: list[np.ndarray] = []
        taken, start, block = 0, 0, max(4 * n, 64)
        while taken < n and (start < order.size or live.size):
            head = order[start : start + block]
            start += block
            if start < order.size:
                # Live upserts newer than the last article of this block come before
                # every later one (at an equal time the snapshot's come first).
                cut = int(
                    np.searchsorted(-self.published_at[live], -self.published_at[head[-1]], "left")
                )
                head, live = np.concatenate([head, live[:cut]]), live[cut:]
            else:
                head, live = np.concatenate([head, live]), live[:0]
            head = head[np.lexsort((head, -self.published_at[head]))]
            accepted = head[allowed(head)]
            found.append(accepted)
            taken += accepted.size
            block *= 2
        out = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
        return np.asarray(out[:n], dtype=np.int64)

    def _carrying(self, positions: np.ndarray, name: str, labels: Iterable[str]) -> np.ndarray:
        """``(len(positions),)`` bool: carrying one of ``labels`` in the index ``name``."""
        fold: Callable[[str], str] = str if name == "exact tags" else str.casefold
        index = self._index(name)
        found = [index[label] for label in {fold(label) for label in labels} if label in index]
        if not found:
            return np.zeros(len(positions), dtype=bool)
        return np.asarray(np.isin(positions, np.concatenate(found)), dtype=bool)

    def _index(self, name: str) -> dict[str, np.ndarray]:
        """Label → ``(m,)`` int64 positions carrying it, ascending: the snapshot's
        index (see :meth:`CatalogBase.index`) with the live upserts' labels added."""
        if not self._live_articles:
            return self.base.index(name)
        index = self._indexes.get(name)
        if index is None:
            kind = "categories" if name == "categories" else "tags"
            fold: Callable[[str], str] = str if name == "exact tags" else str.casefold
            index = dict(self.base.index(name))
            for offset, article in enumerate(self._live_articles):
                for label in {fold(label) for label in getattr(article, kind)}:
                    position = np.array([self.n_snapshot + offset], dtype=np.int64)
                    index[label] = np.concatenate([index.get(label, position[:0]), position])
            self._indexes[name] = index
        return index


def _seconds(moment: datetime | None) -> float:
    """Seconds since the epoch; ``-inf`` for no time."""
    return moment.timestamp() if moment is not None else -np.inf


def _ascending(positions: np.ndarray) -> bool:
    """Whether ``positions`` is sorted ascending (one pass, no copy kept)."""
    return positions.size < 2 or bool((positions[1:] >= positions[:-1]).all())


def _stack_rows(rows: Sequence[sparse.csr_matrix]) -> sparse.csr_matrix:
    """One-row CSR matrices (same width) stacked into one float32 CSR matrix, their
    arrays concatenated directly: ``scipy.sparse.vstack`` spends its time on per-block
    checks, 5× as long for the thousands of rows a busy live layer holds."""
    data = np.concatenate([row.data for row in rows]).astype(np.float32, copy=False)
    indices = np.concatenate([row.indices for row in rows]).astype(np.int32, copy=False)
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([row.nnz for row in rows], out=indptr[1:])
    return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), rows[0].shape[1]))
