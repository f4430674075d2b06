"""Each article's nearest neighbours by either signal, computed at build time.

A request for the related articles of an indexed article ranks only that
article's candidate set: its ``k_dense`` nearest articles by embedding cosine
and its ``k_lexical`` nearest by BM25, found here once per build for every
article. Serving then never scores the whole corpus, so a request costs the same
at 1k articles and at 1M.

Dense neighbours are exact (blocked matrix products) below ``exact_below``
articles and come from a faiss inverted file (IVF-Flat) above, with a recall
measured by the scale benchmark. Lexical neighbours are found as "more like this" engines find
them (Lucene's MoreLikeThis, Elasticsearch's ``more_like_this``): the article's
``max_terms`` strongest terms (by BM25 weight) are its query. The candidate set
is only the set of positions a request scores: every score in an answer is
computed exactly at request time, with all of the article's terms.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple

import numpy as np
from scipy import sparse

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (rows done, rows in all) after each block."""

EXACT_BELOW = 20_000
"""Articles below which dense neighbours are found exactly unless told otherwise
(the build passes ``Settings.exact_neighbours_below``). Above it an inverted file
finds them: exact search costs O(N²) (about 80 s at 100k on two cores)."""

QUERY_TERMS = 25
"""Terms in an article's lexical query for its neighbours, as in Lucene's
MoreLikeThis (``maxQueryTerms``): its strongest by BM25 weight."""

MAX_POSTINGS = 500
"""Articles a term is looked up in when finding lexical neighbours: the ones where
it weighs most (see :func:`lexical_neighbours`)."""

CELL_SIZE = 100
"""Vectors per k-means cell of the approximate search (fixed-size cells keep the
work per article constant as N grows)."""
PROBES = 32
"""Cells nearest to a cell's centre searched for the articles of that cell."""
MEMBER_PROBES = 4
"""Cells nearest to each article searched for it as well, with its cell's (its own
cell among them). An article near the border of its cell has neighbours in cells
its centre does not reach: at 100k articles, 32 cells by the centre alone find
0.96 of the exact 20 nearest, 48 cells 0.97, and 32 with each article's 4 nearest
0.99 in less time (the recall is measured on real vectors by ``make bench-scale``)."""
TRAINING_SAMPLE = 200_000
"""Vectors the k-means is trained on, at most."""
KMEANS_ITERATIONS = 10
"""Iterations of the k-means that finds the cells."""


def _blocks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


def _top(scores: np.ndarray, k: int, exclude: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top ``k`` columns of a dense block, without column ``exclude[i]`` in
    row ``i``; -1 pads rows with fewer than ``k`` finite scores.

    The order is total: by score, then the lower column first, also where equal
    scores straddle the k-th place (identical articles do). So the top ``k`` of a
    block is the top ``k`` of the tops of any split of its columns, which is what
    lets :func:`dense_step` search the vectors shard by shard."""
    rows = scores.shape[0]
    if exclude is not None:
        scores[np.arange(rows), exclude] = -np.inf
    k = min(k, scores.shape[1])
    if k == 0:
        return np.full((rows, 0), -1, np.int32), np.zeros((rows, 0), np.float32)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(scores, part, axis=1)
    # argpartition picks any of the columns tied at the k-th place: take the lowest.
    tied = np.flatnonzero((scores >= top.min(axis=1, keepdims=True)).sum(axis=1) > k)
    for row in tied:
        part[row] = np.lexsort((np.arange(scores.shape[1]), -scores[row]))[:k]
        top[row] = scores[row, part[row]]
    order = np.lexsort((part, -top), axis=1)
    part = np.take_along_axis(part, order, axis=1).astype(np.int32)
    top = np.take_along_axis(top, order, axis=1).astype(np.float32)
    part[~np.isfinite(top)] = -1
    return part, top


def dense_neighbours(
    vectors: np.ndarray,
    k: int,
    *,
    rows: np.ndarray | None = None,
    exact_below: int = EXACT_BELOW,
    block: int = 512,
    on_progress: Progress | None = None,
) -> np.ndarray:
    """The ``k`` articles most similar to each article by cosine (never itself).

    Args:
        vectors: L2-normalised article vectors, shape (N, dim), float32.
        k: neighbours per article.
        rows: only these articles' neighbours (always searched exactly);
            default: every article's.
        exact_below: below this many articles the search is exact.
        block: query rows per matrix product (memory: block × N × 4 bytes).
        on_progress: called after each block.

    Returns:
        Positions, shape (len(rows) or N, k), int32, most similar first; -1 pads
        when N ≤ k.
    """
    n = vectors.shape[0]
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    wanted = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    out = np.full((wanted.size, min(k, max(n - 1, 0))), -1, dtype=np.int32)
    if n <= 1 or k <= 0:
        return out
    if n < exact_below or rows is not None:
        for start, end in _blocks(wanted.size, block):
            found = dense_step(
                vectors[wanted[start:end]], wanted[start:end], 0, vectors, out.shape[1]
            )
            out[start:end] = found.positions
            if on_progress is not None:
                on_progress(end, wanted.size)
        return out
    return _by_cells(vectors, out.shape[1], on_progress)


class TopK(NamedTuple):
    """Each query's best ``k`` columns so far: positions (int32, -1 padded) and their
    scores (float32, -inf where padded), best first (ties: the lower position)."""

    positions: np.ndarray
    scores: np.ndarray


def dense_step(
    queries: np.ndarray,
    query_positions: np.ndarray,
    shard_start: int,
    shard: np.ndarray,
    k: int,
    running: TopK | None = None,
) -> TopK:
    """Merge one shard of the article vectors into the running top ``k`` of a block
    of query articles: exact cosine search, shard by shard, with memory bounded by
    one shard (``len(queries) × len(shard)`` scores).

    A stage of the build (see :mod:`recommender.raybuild`): the single-machine build
    calls it with the whole matrix as one shard, the Ray runner for every shard in
    turn. The result does not depend on how the vectors are cut into shards: the
    best ``k`` by (score, then lower position) of every shard's best ``k``.

    Args:
        queries: the block's vectors, ``(b, dim)`` float32, L2-normalised.
        query_positions: their positions in the corpus, ``(b,)``: a query never
            finds itself.
        shard_start: the corpus position of the shard's first row.
        shard: ``(s, dim)`` float32 rows of the corpus, from ``shard_start`` on.
        k: neighbours per query.
        running: the block's best so far (None before the first shard).

    Returns:
        The block's best ``k`` after this shard (fewer columns while fewer than
        ``k`` articles have been seen).
    """
    scores = queries @ shard.T
    own = np.asarray(query_positions, dtype=np.int64) - shard_start
    inside = (own >= 0) & (own < shard.shape[0])
    exclude = own if inside.all() else None
    if exclude is None and inside.any():
        scores[np.flatnonzero(inside), own[inside]] = -np.inf
    positions, top = _top(scores, k, exclude)
    positions = np.where(positions >= 0, positions + shard_start, -1).astype(np.int32)
    top = np.where(positions >= 0, top, -np.inf).astype(np.float32)
    if running is None:
        return TopK(positions, top)
    both = np.concatenate([running.positions, positions], axis=1)
    both_scores = np.concatenate([running.scores, top], axis=1)
    # Padding (-1, -inf) sorts after every article: by score, then by position.
    order = np.lexsort((np.where(both >= 0, both, np.iinfo(np.int32).max), -both_scores), axis=1)
    order = order[:, : min(k, both.shape[1])]
    return TopK(
        np.take_along_axis(both, order, axis=1),
        np.take_along_axis(both_scores, order, axis=1),
    )


def dense_against_shards(
    queries: np.ndarray,
    query_positions: np.ndarray,
    shards: Iterable[tuple[int, np.ndarray]],
    k: int,
    block: int = 512,
) -> np.ndarray:
    """The exact ``k`` nearest articles of a block of query articles, against every
    shard of the corpus's vectors in turn (:func:`dense_step`): the dense half of
    one block's candidate sets, with memory bounded by one shard and the running
    top ``k`` of the block. ``shards`` yields (first position, rows) and may fetch
    each shard only when it is reached (the Ray runner reads them from its object
    store); their union must be the whole corpus.

    Returns:
        ``(len(queries), k)`` int32 positions, most similar first, -1 padded when the
        corpus holds ``k`` articles or fewer.
    """
    count = queries.shape[0]
    running: list[TopK | None] = [None] * len(range(0, count, block))
    for shard_start, shard in shards:
        for i, (start, end) in enumerate(_blocks(count, block)):
            running[i] = dense_step(
                queries[start:end], query_positions[start:end], shard_start, shard, k, running[i]
            )
    out = np.full((count, k), -1, dtype=np.int32)
    for (start, end), found in zip(_blocks(count, block), running, strict=True):
        if found is not None:
            width = min(k, found.positions.shape[1])
            out[start:end, :width] = found.positions[:, :width]
    return out


MAX_CELLS = 65_536
"""Cells at most: above ``MAX_CELLS × CELL_SIZE`` articles the cells grow instead."""
ASSIGN_ROWS = 65_536
"""Articles per block when finding each article's nearest cells. The Ray build
assigns the same blocks in its tasks, so both builds find the same cells."""


TIE_MARGIN = 8
"""Columns beyond ``k`` a featured search shortlists, so that ties at the ``k``-th
place are seen and broken by position (see :func:`featured_step`)."""

FEATURED_BLOCK = 2048
"""Query rows per product in :func:`featured_neighbours` (memory: block × featured × 4 bytes)."""


def featured_step(
    queries: np.ndarray,
    query_positions: np.ndarray,
    featured_positions: np.ndarray,
    featured_vectors: np.ndarray,
    k: int,
) -> np.ndarray:
    """The ``k`` featured articles nearest by cosine to each of a block of articles
    (never the article itself): one product of the block against every featured
    vector, exact. A stage of the build, like :func:`dense_step`.

    Args:
        queries: the block's vectors, ``(b, dim)`` float32, L2-normalised.
        query_positions: their positions in the corpus, ``(b,)``.
        featured_positions: the featured articles' positions, ``(f,)`` ascending.
        featured_vectors: their vectors, ``(f, dim)`` float32, in that order.
        k: featured articles per query.

    Returns:
        ``(b, k)`` int32 positions, nearest first (ties: the lower position), -1
        padded when fewer than ``k`` featured articles are not the query itself.
    """
    featured_positions = np.asarray(featured_positions, dtype=np.int64)
    out = np.full((queries.shape[0], k), -1, dtype=np.int32)
    if featured_positions.size == 0 or k == 0:
        return out
    query_positions = np.asarray(query_positions, dtype=np.int64)
    at = np.minimum(
        np.searchsorted(featured_positions, query_positions), featured_positions.size - 1
    )
    own = np.where(featured_positions[at] == query_positions, at, -1)
    shortlist = k + 1 + TIE_MARGIN
    if featured_positions.size > shortlist:
        columns = _featured_shortlist(queries, featured_vectors, own, k, shortlist)
    else:
        columns = _featured_top(queries, featured_vectors, own, k)
    # Columns are in featured order, which is position order: the tie rule carries over.
    found = np.where(columns >= 0, featured_positions[np.maximum(columns, 0)], -1)
    out[:, : found.shape[1]] = found
    return out


def _featured_top(
    queries: np.ndarray, featured_vectors: np.ndarray, own: np.ndarray, k: int
) -> np.ndarray:
    """Each query's top ``k`` featured columns by the exact rule of :func:`_top`,
    from every score; ``own``: the query's own column, or -1."""
    scores = queries @ featured_vectors.T
    mine = np.flatnonzero(own >= 0)
    scores[mine, own[mine]] = -np.inf
    columns, _ = _top(scores, k, None)
    return columns


def _featured_shortlist(
    queries: np.ndarray, featured_vectors: np.ndarray, own: np.ndarray, k: int, shortlist: int
) -> np.ndarray:
    """:func:`_featured_top` by way of faiss's exact k-nearest search for the first
    ``shortlist`` columns: selecting among every featured article with numpy's
    partition took five times the product (1M articles against 10,000 featured),
    faiss's heap a fifth of it. The shortlist is ordered by the same rule (by
    faiss's score, then the lower column); a row whose ``k``-th score is tied with
    the shortlist's last might hide equal columns beyond it, and is ranked from
    every score instead."""
    import faiss

    queries = np.ascontiguousarray(queries, dtype=np.float32)
    scores, columns = faiss.knn(
        queries, featured_vectors, shortlist, metric=faiss.METRIC_INNER_PRODUCT
    )
    columns = columns.astype(np.int64)
    scores[columns == own[:, None]] = -np.inf
    order = np.lexsort((columns, -scores), axis=1)
    columns = np.take_along_axis(columns, order, axis=1)
    scores = np.take_along_axis(scores, order, axis=1)
    # The shortlist's weakest score (the query's own column, scored -inf, aside).
    weakest = np.where(np.isfinite(scores), scores, np.inf).min(axis=1)
    unsure = np.flatnonzero(scores[:, k - 1] <= weakest)
    columns = columns[:, :k].astype(np.int32)
    if unsure.size:
        columns[unsure] = _featured_top(queries[unsure], featured_vectors, own[unsure], k)
    return columns


def featured_neighbours(
    vectors: np.ndarray,
    featured_positions: np.ndarray,
    k: int,
    *,
    rows: np.ndarray | None = None,
    block: int = FEATURED_BLOCK,
    on_progress: Progress | None = None,
) -> np.ndarray:
    """Each article's ``k`` nearest featured articles by cosine (never itself), by
    exact search: the shortlist a request's featured picks are chosen from, so a
    request reads one row instead of scoring every featured article.

    Args:
        vectors: L2-normalised article vectors, shape (N, dim), float32.
        featured_positions: the featured articles' positions, ``(f,)``.
        k: featured articles per article.
        rows: only these articles' rows; default: every article's.
        block: query rows per product.
        on_progress: called after each block.

    Returns:
        Positions, shape (len(rows) or N, k), int32, nearest first (ties: the lower
        position), -1 padded when fewer than ``k`` featured articles exist.
    """
    featured_positions = np.unique(np.asarray(featured_positions, dtype=np.int64))
    featured_vectors = np.ascontiguousarray(vectors[featured_positions], dtype=np.float32)
    wanted = np.arange(vectors.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    out = np.full((wanted.size, k), -1, dtype=np.int32)
    for start, end in _blocks(wanted.size, block):
        queries = np.ascontiguousarray(vectors[wanted[start:end]], dtype=np.float32)
        out[start:end] = featured_step(
            queries, wanted[start:end], featured_positions, featured_vectors, k
        )
        if on_progress is not None:
            on_progress(end, wanted.size)
    return out


class CellPlan(NamedTuple):
    """The inverted file of the approximate dense search: which articles are in which
    cell, and where each cell's articles are searched (see :func:`plan_cells`).

    Attributes:
        nearest_own: (N, m) int64: each article's ``m`` nearest cells, its own first.
        order: (N,) int64: article positions grouped by cell (stable within a cell).
        starts: (cells + 1,) int64: cell ``c`` holds ``order[starts[c]:starts[c + 1]]``.
        nearest_cells: (cells, probes) int64: the cells whose centres are nearest to
            each cell's centre, its own first.
    """

    nearest_own: np.ndarray
    order: np.ndarray
    starts: np.ndarray
    nearest_cells: np.ndarray

    @property
    def cells(self) -> int:
        """How many cells."""
        return int(self.starts.size - 1)

    def members(self, cell: int) -> np.ndarray:
        """The positions of the articles in ``cell``, ascending."""
        return self.order[self.starts[cell] : self.starts[cell + 1]]


def train_cells(vectors: np.ndarray) -> np.ndarray:
    """The cells' centres: spherical k-means on at most ``TRAINING_SAMPLE`` of the
    vectors (a fixed seed, so every build of the same vectors finds the same cells),
    about ``CELL_SIZE`` articles per cell. Returns (cells, dim) float32.

    A stage of the build that runs where the vectors are (the single-machine build,
    or the Ray build's driver); at most ``TRAINING_SAMPLE × MAX_CELLS`` pairs per
    iteration, whatever the corpus size.
    """
    import faiss

    n, dim = vectors.shape
    cells = max(1, min(n // CELL_SIZE, MAX_CELLS))
    sample = vectors
    if n > TRAINING_SAMPLE:
        chosen = np.random.default_rng(0).choice(n, TRAINING_SAMPLE, replace=False)
        sample = vectors[np.sort(chosen)]
    kmeans = faiss.Kmeans(dim, cells, niter=KMEANS_ITERATIONS, seed=1, spherical=True)
    kmeans.train(np.ascontiguousarray(sample, dtype=np.float32))
    return np.ascontiguousarray(kmeans.centroids, dtype=np.float32)


def assign_step(block: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Each article's ``MEMBER_PROBES`` nearest cells (its own first), for a block of
    ``ASSIGN_ROWS`` article vectors (float32, L2-normalised) against the cells' centres.
    A stage of the build: the single-machine build calls it block by block, the Ray
    build in a task per block. Returns (len(block), m) int64."""
    import faiss

    index = faiss.IndexFlatIP(centres.shape[1])
    index.add(centres)
    _, nearest = index.search(np.ascontiguousarray(block, dtype=np.float32), _own_probes(centres))
    return np.asarray(nearest, dtype=np.int64)


def _own_probes(centres: np.ndarray) -> int:
    return min(MEMBER_PROBES, int(centres.shape[0]))


def plan_cells(centres: np.ndarray, nearest_own: np.ndarray) -> CellPlan:
    """The plan of the cell-by-cell search, from the centres (:func:`train_cells`) and
    every article's nearest cells (:func:`assign_step` over all blocks, in order)."""
    import faiss

    cells = centres.shape[0]
    assigned = nearest_own[:, 0]
    order = np.argsort(assigned, kind="stable")
    starts = np.searchsorted(assigned[order], np.arange(cells + 1))
    index = faiss.IndexFlatIP(centres.shape[1])
    index.add(centres)
    _, nearest_cells = index.search(centres, min(PROBES, cells))
    return CellPlan(nearest_own, order, starts, np.asarray(nearest_cells, dtype=np.int64))


def cell_groups(plan: CellPlan, rows: int) -> list[tuple[int, int]]:
    """Runs of consecutive cells (first, end) of about ``rows`` articles each: the
    Ray build's tasks of the cell-by-cell search."""
    groups: list[tuple[int, int]] = []
    first = 0
    for cell in range(plan.cells):
        if plan.starts[cell + 1] - plan.starts[first] >= rows or cell == plan.cells - 1:
            groups.append((first, cell + 1))
            first = cell + 1
    return groups


def cells_step(
    rows_of: Callable[[np.ndarray], np.ndarray], plan: CellPlan, first: int, end: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The approximate ``k`` nearest articles of the articles in cells ``first`` to
    ``end - 1``, each cell's articles searched together, as one matrix product, in
    the cells nearest to their cell's centre and to each of them.

    A stage of the build: the single-machine build calls it for every cell, the Ray
    build in a task per run of cells (:func:`cell_groups`). A cell's result depends
    only on the plan and the vectors, never on how the cells are grouped.

    Args:
        rows_of: the vectors (float32, L2-normalised) of an ascending array of positions.
        plan: the search's plan (:func:`plan_cells`).
        first: the first cell.
        end: one past the last cell.
        k: neighbours per article.

    Returns:
        (positions, found): the articles searched, (m,) int64, and their neighbours,
        (m, k) int32, most similar first, -1 padded.
    """
    searched_rows: list[np.ndarray] = []
    found_rows: list[np.ndarray] = []
    for cell in range(first, end):
        members = plan.members(cell)
        if members.size == 0:
            continue
        searched = np.union1d(plan.nearest_cells[cell], plan.nearest_own[members].ravel())
        pool = np.sort(np.concatenate([plan.members(c) for c in searched]))
        scores = rows_of(members) @ rows_of(pool).T
        scores[pool[None, :] == members[:, None]] = -np.inf  # never itself
        top, _ = _top(scores, min(k, pool.size), None)
        found = np.full((members.size, k), -1, dtype=np.int32)
        found[:, : top.shape[1]] = np.where(top >= 0, pool[np.maximum(top, 0)], -1)
        searched_rows.append(members)
        found_rows.append(found)
    if not searched_rows:
        return np.zeros(0, np.int64), np.full((0, k), -1, np.int32)
    return np.concatenate(searched_rows), np.concatenate(found_rows)


def rows_from_shards(
    firsts: Sequence[int], fetch: Callable[[int], np.ndarray]
) -> Callable[[np.ndarray], np.ndarray]:
    """The ``rows_of`` of :func:`cells_step` over vectors cut into shards: shard ``i``
    (``fetch(i)``) holds the rows from position ``firsts[i]`` on (ascending, the
    first 0). Each call fetches only the shards its positions fall in."""
    starts = np.asarray(firsts, dtype=np.int64)

    def rows_of(positions: np.ndarray) -> np.ndarray:
        which = np.searchsorted(starts, positions, side="right") - 1
        bounds = [0, *(np.flatnonzero(np.diff(which)) + 1).tolist(), positions.size]
        parts = [
            fetch(int(which[begin]))[positions[begin:end] - starts[which[begin]]]
            for begin, end in itertools.pairwise(bounds)
            if end > begin
        ]
        return np.concatenate(parts) if parts else fetch(0)[:0]

    return rows_of


def _by_cells(vectors: np.ndarray, k: int, on_progress: Progress | None) -> np.ndarray:
    """Approximate neighbours of every article, an inverted file searched cell by cell.

    k-means cuts the vectors into cells of about ``CELL_SIZE`` (:func:`train_cells`).
    The articles of one cell are searched together, as one matrix product, in the
    ``PROBES`` cells whose centres are nearest to their cell's centre and in the
    ``MEMBER_PROBES`` cells nearest to each of them (:func:`cells_step`): about the
    reads of a per-query inverted-file search (O(N · PROBES · CELL_SIZE) in all), at
    the speed of BLAS.
    """
    n = vectors.shape[0]
    centres = train_cells(vectors)
    nearest_own = np.concatenate(
        [assign_step(vectors[start:end], centres) for start, end in _blocks(n, ASSIGN_ROWS)]
    )
    plan = plan_cells(centres, nearest_own)
    out = np.full((n, k), -1, dtype=np.int32)
    done = 0
    for first, end in cell_groups(plan, 64 * CELL_SIZE):
        positions, found = cells_step(vectors.__getitem__, plan, first, end, k)
        out[positions] = found
        done += positions.size
        if on_progress is not None:
            on_progress(done, n)
    return out


def padded(positions: np.ndarray, width: int) -> np.ndarray:
    """``positions`` (rows of neighbours, -1 padded) as int32 with exactly ``width``
    columns: -1 padded when a corpus holds fewer, cut when it holds more."""
    out = np.full((positions.shape[0], width), -1, dtype=np.int32)
    take = min(width, positions.shape[1])
    out[:, :take] = positions[:, :take]
    return out


def joined(dense: np.ndarray, lexical: np.ndarray, width: int) -> np.ndarray:
    """Candidate sets from their two halves: each row's dense neighbours, then its
    lexical ones, each half :func:`padded` to ``width``; shape (N, 2 × width), int32."""
    return np.concatenate([padded(dense, width), padded(lexical, width)], axis=1)


def strongest_terms(weights: sparse.csr_matrix, max_terms: int) -> sparse.csr_matrix:
    """Each row of ``weights`` cut to its ``max_terms`` largest entries (ties: the
    lower column), as a "more like this" query keeps an article's strongest terms."""
    weights = sparse.csr_matrix(weights, dtype=np.float32)
    lengths = np.diff(weights.indptr)
    if lengths.size == 0 or lengths.max(initial=0) <= max_terms:
        return weights
    indptr = np.zeros_like(weights.indptr)
    indices: list[np.ndarray] = []
    data: list[np.ndarray] = []
    for row in range(weights.shape[0]):
        start, end = weights.indptr[row], weights.indptr[row + 1]
        columns, values = weights.indices[start:end], weights.data[start:end]
        if end - start > max_terms:
            keep = np.lexsort((columns, -values))[:max_terms]
            keep.sort()
            columns, values = columns[keep], values[keep]
        indices.append(columns)
        data.append(values)
        indptr[row + 1] = indptr[row] + columns.size
    return sparse.csr_matrix(
        (np.concatenate(data), np.concatenate(indices), indptr), shape=weights.shape
    )


def lexical_neighbours(
    queries: sparse.csr_matrix,
    documents: sparse.csr_matrix,
    k: int,
    *,
    rows: np.ndarray | None = None,
    max_postings: int | None = None,
    block: int = 256,
    on_progress: Progress | None = None,
) -> np.ndarray:
    """The ``k`` articles scoring highest for each article's lexical query (never itself).

    With ``max_postings``, a term is looked up only in the ``max_postings``
    articles where it weighs most (an impact-ordered, truncated posting list):
    an article found through a common term is one that uses it heavily. That
    bounds the work per query at ``terms × max_postings`` whatever the size of the
    corpus, where an exact search grows with it (its cost is quadratic in N).

    Args:
        queries: one query row per article (term weights; typically its strongest
            terms, see :func:`strongest_terms`), shape (N, V).
        documents: the articles' BM25 weights, shape (N, V).
        k: neighbours per article.
        rows: only these articles' neighbours; default: every article's.
        max_postings: articles kept per term (None: all, an exact search).
        block: query rows per sparse product.
        on_progress: called after each block.

    Returns:
        Positions, shape (len(rows) or N, k), int32, best first; -1 pads rows with
        fewer than ``k`` articles sharing a term.
    """
    n = documents.shape[0]
    wanted = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    width = min(k, max(n - 1, 0))
    out = np.full((wanted.size, width), -1, dtype=np.int32)
    if n <= 1 or width == 0:
        return out
    postings = lexical_postings(documents, max_postings)
    for start, end in _blocks(wanted.size, block):
        rows_here = wanted[start:end]
        out[start:end] = lexical_step(queries[rows_here], rows_here, postings, width)
        if on_progress is not None:
            on_progress(end, wanted.size)
    return out


def lexical_postings(documents: sparse.csr_matrix, max_postings: int | None) -> sparse.csr_matrix:
    """The posting lists :func:`lexical_step` searches: ``documents`` (shape (N, V))
    by term, shape (V, N) float32, each term's list cut to its ``max_postings``
    largest weights (None: kept whole)."""
    transposed = sparse.csr_matrix(documents.T, dtype=np.float32)
    if max_postings is not None:
        transposed = _truncated(transposed, max_postings)
    return transposed


def lexical_step(
    queries: sparse.csr_matrix,
    query_positions: np.ndarray,
    postings: sparse.csr_matrix,
    width: int,
) -> np.ndarray:
    """The best ``width`` articles for each query of a block: the lexical half of a
    block's candidate sets (a stage of the build, like :func:`dense_step`).

    Args:
        queries: the block's query rows (term weights), shape (b, V).
        query_positions: the block's articles, ``(b,)``: a query never finds itself.
        postings: every article by term, from :func:`lexical_postings`.
        width: articles per query.

    Returns:
        ``(b, width)`` int32 positions, best first (ties: the lower position), -1
        padded where fewer articles share a term with the query.
    """
    out = np.full((queries.shape[0], width), -1, dtype=np.int32)
    scores = sparse.csr_matrix(queries @ postings)
    for row in range(queries.shape[0]):
        lo, hi = scores.indptr[row], scores.indptr[row + 1]
        columns, values = scores.indices[lo:hi], scores.data[lo:hi]
        keep = (columns != query_positions[row]) & (values > 0)
        columns, values = columns[keep], values[keep]
        if columns.size > width:
            best = np.argpartition(-values, width - 1)[:width]
            columns, values = columns[best], values[best]
        order = np.lexsort((columns, -values))
        out[row, : order.size] = columns[order]
    return out


def _truncated(postings: sparse.csr_matrix, keep: int) -> sparse.csr_matrix:
    """Each row (a term's posting list) cut to its ``keep`` largest weights."""
    lengths = np.diff(postings.indptr)
    long_rows = np.flatnonzero(lengths > keep)
    if long_rows.size == 0:
        return postings
    mask = np.ones(postings.nnz, dtype=bool)
    for row in long_rows:
        start, end = postings.indptr[row], postings.indptr[row + 1]
        weakest = np.argpartition(-postings.data[start:end], keep - 1)[keep:]
        mask[start + weakest] = False
    rows = np.repeat(np.arange(postings.shape[0]), lengths)[mask]
    kept = sparse.csr_matrix(
        (postings.data[mask], (rows, postings.indices[mask])), shape=postings.shape
    )
    kept.sort_indices()
    return kept


Scores = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``scores(rows, columns)``: each row's score for each column, shape
(len(rows), len(columns))."""
PairScores = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``pairs(rows, columns)``: the score of ``rows[i]`` for ``columns[i]``, shape (len(rows),)."""


def refresh(
    previous: np.ndarray,
    moved: np.ndarray,
    fresh: np.ndarray,
    scores: Scores,
    pairs: PairScores,
    search: Callable[[np.ndarray], np.ndarray],
    *,
    positive: bool,
    entering: np.ndarray | None = None,
) -> np.ndarray:
    """One signal's neighbours after a reindex, from the published ones.

    Rather than searching again for every article, only what the changes can
    affect is searched: the rows of new and changed articles (``fresh``), and the
    rows that lost a neighbour (to a removed or changed article), whose next-best
    neighbour is unknown. Every other row keeps its neighbours and takes in a
    fresh article where it beats the row's weakest neighbour: its new neighbours
    are among its old ones and the fresh articles, so with unchanged scores the
    result is what a search from scratch finds. (A lexical score can drift with
    the corpus's idf, so lexical sets can differ slightly from a full build's.)

    Args:
        previous: the published neighbours, shape (N_old, k), old positions.
        moved: each old position's new position, -1 for a removed or changed
            article, shape (N_old,).
        fresh: new positions of the new and changed articles.
        scores: the signal's scores of rows for columns (see :data:`Scores`).
        pairs: the signal's score of each (row, column) pair (see :data:`PairScores`).
        search: ``search(rows)`` finds the rows' neighbours from scratch, shape
            (len(rows), k), new positions.
        positive: only a positive score makes a neighbour (the lexical signal).
        entering: the fresh articles that may become another row's neighbour
            (default: all of ``fresh``; the featured neighbours take only the
            featured ones). Every row of ``fresh`` is searched again either way.

    Returns:
        Neighbours in new positions, shape (N_new, k), int32, best first.
    """
    k = previous.shape[1]
    total = int(max(moved.max(initial=-1) + 1, fresh.max(initial=-1) + 1))
    out = np.full((total, k), -1, dtype=np.int32)
    old_rows = np.flatnonzero(moved >= 0)
    mapped = np.where(previous[old_rows] >= 0, moved[previous[old_rows]], -1)
    lost = ((previous[old_rows] >= 0) & (mapped < 0)).any(axis=1)
    # Kept neighbours stay in order: moving never changes a score. A row that lost
    # none keeps its padding at the end; one that lost any is searched again below.
    out[moved[old_rows[~lost]]] = mapped[~lost]
    again = np.union1d(fresh, moved[old_rows[lost]]).astype(np.int64)
    if again.size:
        out[again] = search(again)
    others = np.setdiff1d(np.arange(total), again)
    fresh = fresh if entering is None else np.asarray(entering, dtype=np.int64)
    if fresh.size == 0 or others.size == 0:
        return out
    found = scores(others, fresh)
    weakest = np.full(others.size, -np.inf)
    full_rows = np.flatnonzero(out[others, -1] >= 0)
    weakest[full_rows] = pairs(others[full_rows], out[others[full_rows], -1])
    floor = weakest
    # A tie with the weakest neighbour is decided as a search decides it: by position.
    beats = found >= floor[:, None]
    if positive:
        beats &= found > 0
    for i in np.flatnonzero(beats.any(axis=1)):
        row = others[i]
        current = out[row][out[row] >= 0]
        taken = found[i] >= floor[i]
        if positive:
            taken &= found[i] > 0
        pool = np.concatenate([current, fresh[taken]])
        pool_scores = scores(np.array([row]), pool)[0]
        order = np.lexsort((pool, -pool_scores))[:k]
        out[row] = -1
        out[row, : order.size] = pool[order]
    return out
