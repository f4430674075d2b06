"""Each article's nearest neighbours by either signal, computed at build time.

A request for the related articles of an indexed article ranks only that
article's candidate set: its ``k_dense`` nearest articles by embedding cosine
and its ``k_lexical`` nearest by BM25, found here once per build for every
article. Serving then never scores the whole corpus, so a request costs the same
at 1k articles and at 1M.

Dense neighbours are exact (blocked matrix products) below ``exact_below``
articles and come from a faiss HNSW graph above, with a recall measured by the
scale benchmark. Lexical neighbours are found as "more like this" engines find
them (Lucene's MoreLikeThis, Elasticsearch's ``more_like_this``): the article's
``max_terms`` strongest terms (by BM25 weight) are its query. The candidate set
is only the set of positions a request scores: every score in an answer is
computed exactly at request time, with all of the article's terms.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import numpy as np
from scipy import sparse

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (rows done, rows in all) after each block."""

EXACT_BELOW = 20_000
"""Articles below which dense neighbours are found exactly. Above it an HNSW graph
finds them: exact search costs O(N²) (about 80 s at 100k on two cores)."""

QUERY_TERMS = 25
"""Terms in an article's lexical query for its neighbours, as in Lucene's
MoreLikeThis (``maxQueryTerms``): its strongest by BM25 weight."""

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128


def _blocks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


def _top(scores: np.ndarray, k: int, exclude: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top ``k`` columns of a dense block (ties: the lower column first),
    without column ``exclude[i]`` in row ``i``; -1 pads rows with fewer than ``k``
    positive scores."""
    rows = scores.shape[0]
    if exclude is not None:
        scores[np.arange(rows), exclude] = -np.inf
    k = min(k, scores.shape[1])
    if k == 0:
        return np.full((rows, 0), -1, np.int32), np.zeros((rows, 0), np.float32)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -top), axis=1)
    part = np.take_along_axis(part, order, axis=1).astype(np.int32)
    top = np.take_along_axis(top, order, axis=1).astype(np.float32)
    part[~np.isfinite(top)] = -1
    return part, top


def dense_neighbours(
    vectors: np.ndarray,
    k: int,
    *,
    exact_below: int = EXACT_BELOW,
    block: int = 512,
    on_progress: Progress | None = None,
) -> np.ndarray:
    """The ``k`` articles most similar to each article by cosine (never itself).

    Args:
        vectors: L2-normalised article vectors, shape (N, dim), float32.
        k: neighbours per article.
        exact_below: below this many articles the search is exact.
        block: query rows per matrix product (memory: block × N × 4 bytes).
        on_progress: called after each block.

    Returns:
        Positions, shape (N, k), int32, most similar first; -1 pads when N ≤ k.
    """
    n = vectors.shape[0]
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    out = np.full((n, min(k, max(n - 1, 0))), -1, dtype=np.int32)
    if n <= 1 or k <= 0:
        return out
    if n < exact_below:
        for start, end in _blocks(n, block):
            scores = vectors[start:end] @ vectors.T
            out[start:end], _ = _top(scores, out.shape[1], np.arange(start, end))
            if on_progress is not None:
                on_progress(end, n)
        return out
    import faiss

    index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.add(vectors)
    index.hnsw.efSearch = max(HNSW_EF_SEARCH, out.shape[1] + 1)
    for start, end in _blocks(n, 8192):
        _, found = index.search(vectors[start:end], out.shape[1] + 1)
        for row, positions in enumerate(found):
            kept = positions[(positions != start + row) & (positions >= 0)][: out.shape[1]]
            out[start + row, : kept.size] = kept
        if on_progress is not None:
            on_progress(end, n)
    return out


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
    block: int = 256,
    on_progress: Progress | None = None,
) -> np.ndarray:
    """The ``k`` articles scoring highest for each article's lexical query (never itself).

    Args:
        queries: one query row per article (term weights; typically its strongest
            terms, see :func:`strongest_terms`), shape (N, V).
        documents: the articles' BM25 weights, shape (N, V).
        k: neighbours per article.
        block: query rows per sparse product.
        on_progress: called after each block.

    Returns:
        Positions, shape (N, k), int32, best first; -1 pads rows with fewer than
        ``k`` articles sharing a term.
    """
    n = documents.shape[0]
    width = min(k, max(n - 1, 0))
    out = np.full((n, width), -1, dtype=np.int32)
    if n <= 1 or width == 0:
        return out
    transposed = sparse.csr_matrix(documents.T, dtype=np.float32)
    for start, end in _blocks(n, block):
        scores = sparse.csr_matrix(queries[start:end] @ transposed)
        for row in range(end - start):
            lo, hi = scores.indptr[row], scores.indptr[row + 1]
            columns, values = scores.indices[lo:hi], scores.data[lo:hi]
            keep = (columns != start + row) & (values > 0)
            columns, values = columns[keep], values[keep]
            if columns.size > width:
                best = np.argpartition(-values, width - 1)[:width]
                columns, values = columns[best], values[best]
            order = np.lexsort((columns, -values))
            out[start + row, : order.size] = columns[order]
        if on_progress is not None:
            on_progress(end, n)
    return out


def merge(*candidate_sets: np.ndarray) -> np.ndarray:
    """The union of several candidate arrays per row, in order of first appearance,
    -1 padded to the sum of their widths: shape (N, Σ widths), int32."""
    stacked = np.concatenate(candidate_sets, axis=1)
    n, width = stacked.shape
    out = np.full((n, width), -1, dtype=np.int32)
    for row in range(n):
        values = stacked[row]
        values = values[values >= 0]
        _, first = np.unique(values, return_index=True)
        kept = values[np.sort(first)]
        out[row, : kept.size] = kept
    return out
