"""Build-time neighbours: exact dense neighbours equal brute force, the HNSW path
finds them on clustered vectors, lexical neighbours equal brute-force scoring of
the same queries, and candidate sets merge both without repeats."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import sparse

from recommender import neighbours
from recommender.neighbours import (
    assign_step,
    cell_groups,
    cells_step,
    dense_neighbours,
    lexical_neighbours,
    plan_cells,
    refresh,
    rows_from_shards,
    strongest_terms,
    train_cells,
)


def unit_rows(rows: int, dim: int, seed: int, clusters: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if clusters:
        centres = rng.normal(size=(clusters, dim))
        vectors = centres[rng.integers(0, clusters, rows)] + 0.5 * rng.normal(size=(rows, dim))
    else:
        vectors = rng.normal(size=(rows, dim))
    vectors = vectors.astype(np.float32)
    return np.asarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), dtype=np.float32)


def brute_force(scores: np.ndarray, k: int) -> list[list[int]]:
    """Each row's k best other columns with positive scores, ties by lower column."""
    out = []
    for row, values in enumerate(scores):
        order = sorted(
            (column for column in range(len(values)) if column != row and values[column] > 0),
            key=lambda column: (-values[column], column),
        )
        out.append(order[:k])
    return out


def listed(positions: np.ndarray) -> list[list[int]]:
    return [[int(p) for p in row if p >= 0] for row in positions]


@pytest.mark.parametrize(("rows", "k", "block"), [(1, 3, 8), (2, 5, 8), (30, 4, 7), (64, 63, 16)])
def test_exact_dense_neighbours_are_brute_force(rows: int, k: int, block: int) -> None:
    vectors = unit_rows(rows, 8, seed=rows)
    found = dense_neighbours(vectors, k, block=block)
    scores = vectors @ vectors.T
    expected = brute_force(np.where(scores > -2, scores + 2, 0), k)  # every other row counts
    assert found.dtype == np.int32 and found.shape == (rows, min(k, rows - 1))
    assert listed(found) == expected


def test_approximate_dense_neighbours_find_the_exact_ones() -> None:
    vectors = unit_rows(2000, 32, seed=7, clusters=20)
    exact = dense_neighbours(vectors, 10)
    approximate = dense_neighbours(vectors, 10, exact_below=0)
    assert approximate.shape == exact.shape
    assert not (approximate == np.arange(2000)[:, None]).any()  # never itself
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approximate, exact, strict=True)])
    assert recall >= 0.95


def test_the_cell_search_finds_the_same_neighbours_however_it_is_cut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the Ray build relies on: the cells of a search are assigned in blocks and
    searched in runs (tasks) that read the vectors from shards, and give what the
    single-machine build's one pass gives."""
    monkeypatch.setattr(neighbours, "CELL_SIZE", 20)  # 100 cells: 32 probes miss most
    monkeypatch.setattr(neighbours, "ASSIGN_ROWS", 300)
    vectors = unit_rows(2000, 32, seed=11, clusters=200)
    whole = dense_neighbours(vectors, 10, exact_below=0)
    centres = train_cells(vectors)
    assert centres.shape == (100, 32)
    blocks = [assign_step(vectors[start : start + 700], centres) for start in (0, 700, 1400)]
    plan = plan_cells(centres, np.concatenate(blocks))
    assert plan.nearest_cells.shape == (100, 32) and plan.nearest_own.shape == (2000, 4)
    assert (plan.nearest_own[:, 0] == plan.nearest_cells[plan.nearest_own[:, 0], 0]).all()
    firsts = [0, 1, 513, 1500]
    rows_of = rows_from_shards(firsts, lambda i: vectors[firsts[i] : ([*firsts, 2000])[i + 1]])
    picked = np.array([0, 1, 2, 600, 1499, 1500, 1999])
    assert np.array_equal(rows_of(picked), vectors[picked])
    for rows in (1, 150, 2000):
        groups = cell_groups(plan, rows)
        assert groups[0][0] == 0 and groups[-1][1] == 100
        assert all(a[1] == b[0] for a, b in itertools.pairwise(groups))
        found = np.full_like(whole, -1)
        seen = []
        for first, end in groups:
            positions, neighbours_of = cells_step(rows_of, plan, first, end, 10)
            found[positions] = neighbours_of
            seen.extend(positions.tolist())
        assert sorted(seen) == list(range(2000))
        assert np.array_equal(found, whole)
    exact = dense_neighbours(vectors, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(whole, exact, strict=True)])
    assert 0.9 <= recall < 1.0  # approximate, and close


def test_strongest_terms_keep_the_largest_weights() -> None:
    weights = sparse.csr_matrix(
        np.array([[0.1, 0.5, 0.0, 0.5, 0.2], [0.3, 0.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    )
    kept = strongest_terms(weights, 2).toarray()
    assert np.allclose(kept, [[0, 0.5, 0, 0.5, 0], [0.3, 0, 0, 0, 0]])
    assert strongest_terms(weights, 3).toarray()[0].tolist() == pytest.approx([0, 0.5, 0, 0.5, 0.2])


@pytest.mark.parametrize(("k", "block"), [(1, 3), (3, 2), (10, 64)])
def test_lexical_neighbours_are_the_best_scoring_documents(k: int, block: int) -> None:
    rng = np.random.default_rng(3)
    dense = rng.random((12, 9)).astype(np.float32)
    dense[dense < 0.6] = 0  # sparse rows, some sharing nothing
    documents = sparse.csr_matrix(dense)
    queries = strongest_terms(documents, 2)
    found = lexical_neighbours(queries, documents, k, block=block)
    expected = brute_force((queries @ documents.T).toarray(), k)
    assert listed(found) == expected


def reindexed(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """An old and a new corpus of vectors: some removed, some changed, some added, the
    rest moved. Returns (old vectors, new vectors, moved, fresh)."""
    rng = np.random.default_rng(seed)
    old = unit_rows(rows, 8, seed=seed, clusters=4)
    survivors = rng.permutation(rows)[: rows - 5]  # 5 removed
    changed = set(survivors[:4].tolist())  # 4 changed: new text, new vector
    added = unit_rows(6, 8, seed=seed + 1, clusters=4)
    order = rng.permutation(len(survivors) + len(added))
    new = np.empty((order.size, 8), dtype=np.float32)
    moved = np.full(rows, -1, dtype=np.int64)
    fresh = []
    for new_position, source in enumerate(order):
        if source < len(survivors):
            old_position = int(survivors[source])
            if old_position in changed:
                new[new_position] = unit_rows(1, 8, seed=old_position + 100)[0]
                fresh.append(new_position)
            else:
                new[new_position] = old[old_position]
                moved[old_position] = new_position
        else:
            new[new_position] = added[source - len(survivors)]
            fresh.append(new_position)
    return old, new, moved, np.array(sorted(fresh), dtype=np.int64)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_refreshed_dense_neighbours_equal_a_search_from_scratch(seed: int) -> None:
    old, new, moved, fresh = reindexed(60, seed)
    previous = dense_neighbours(old, 7)

    refreshed = refresh(
        previous,
        moved,
        fresh,
        scores=lambda rows, columns: new[rows] @ new[columns].T,
        pairs=lambda rows, columns: np.einsum("ij,ij->i", new[rows], new[columns]),
        search=lambda rows: dense_neighbours(new, 7, rows=rows),
        positive=False,
    )
    assert listed(refreshed) == listed(dense_neighbours(new, 7))


@pytest.mark.parametrize("seed", [4, 5])
def test_refreshed_lexical_neighbours_equal_a_search_from_scratch(seed: int) -> None:
    # Fixed term weights (the idf does not drift here), some rows sharing nothing.
    old_vectors, new_vectors, moved, fresh = reindexed(50, seed)
    old = sparse.csr_matrix(np.where(old_vectors > 0.3, old_vectors, 0), dtype=np.float32)
    new = sparse.csr_matrix(np.where(new_vectors > 0.3, new_vectors, 0), dtype=np.float32)
    queries = strongest_terms(new, 3)
    previous = lexical_neighbours(strongest_terms(old, 3), old, 6)

    def scores(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        return np.asarray((queries[rows] @ new[columns].T).toarray())

    refreshed = refresh(
        previous,
        moved,
        fresh,
        scores=scores,
        pairs=lambda rows, columns: np.asarray(
            queries[rows].multiply(new[columns]).sum(axis=1)
        ).ravel(),
        search=lambda rows: lexical_neighbours(queries, new, 6, rows=rows),
        positive=True,
    )
    assert listed(refreshed) == listed(lexical_neighbours(queries, new, 6))


def brute_force_featured(
    vectors: np.ndarray, featured: np.ndarray, rows: np.ndarray, k: int
) -> list[list[int]]:
    """Each row's k nearest featured articles other than itself, ties by lower position."""
    scores = vectors @ vectors.T
    return [
        sorted((int(f) for f in featured if f != row), key=lambda f: (-scores[row, f], f))[:k]
        for row in rows
    ]


@pytest.mark.parametrize(
    ("k", "block", "every"),
    # Every third article featured: from every score; every article: by faiss's
    # shortlist of k + 1 + TIE_MARGIN.
    [(4, 7, 3), (9, 64, 3), (30, 5, 3), (4, 7, 1), (9, 64, 1)],
)
def test_featured_neighbours_are_the_nearest_featured_articles(
    k: int, block: int, every: int
) -> None:
    vectors = unit_rows(50, 8, seed=k, clusters=3)
    featured = np.arange(0, 50, every)
    vectors[48] = vectors[12]  # two identical featured articles: a tie, broken by position
    # Fifteen copies of one article: its ties run past any shortlist, so the rows
    # near it are ranked from every score.
    vectors[np.arange(15, 45, 2)] = vectors[15]
    found = neighbours.featured_neighbours(vectors, featured, k, block=block)
    assert found.dtype == np.int32 and found.shape == (50, k)
    assert listed(found) == brute_force_featured(vectors, featured, np.arange(50), k)
    # A featured article is never its own neighbour; rows short of k are -1 padded.
    assert 12 not in found[12] and (found[12] >= 0).sum() == min(k, featured.size - 1)
    rows = np.array([40, 3, 12, 15])
    assert listed(neighbours.featured_neighbours(vectors, featured, k, rows=rows)) == (
        brute_force_featured(vectors, featured, rows, k)
    )


@pytest.mark.parametrize("seed", [6, 7, 8])
def test_refreshed_featured_neighbours_equal_a_search_from_scratch(seed: int) -> None:
    from recommender.reuse import Changes, refresh_featured

    old, new, moved, fresh = reindexed(60, seed)
    rng = np.random.default_rng(seed)
    old_featured = np.flatnonzero(rng.random(60) < 0.4)
    # An unchanged article keeps its flag; new and changed ones may gain or lose it.
    kept = moved[old_featured][moved[old_featured] >= 0]
    new_featured = np.union1d(kept, fresh[rng.random(fresh.size) < 0.5])
    previous = neighbours.featured_neighbours(old, old_featured, 6)
    changes = Changes(reused=[], moved=moved, fresh=fresh, dropped=[])
    refreshed = refresh_featured(previous, changes, new, new_featured, 6)
    assert listed(refreshed) == listed(neighbours.featured_neighbours(new, new_featured, 6))
