"""The build's stages as functions over batches (issue 13): reading a shard,
embedding a batch, a block's candidate sets against shards of the vectors,
signing. Each gives, batch by batch and in any cut, what the whole-corpus
function gives; a runner that cuts every stage differently from the
single-machine build (:class:`ShardedRunner`, what the Ray runner does, without
Ray) publishes the same files."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import sparse

from recommender import Settings
from recommender.corpus import (
    CorpusLoad,
    ReadOptions,
    combine_shards,
    load_corpus,
    plan_shards,
    read_shard,
)
from recommender.duplicates import Shingling, Signatures, Signer
from recommender.embedding import (
    EmbeddedBatch,
    EmbeddingCache,
    EmbedStats,
    embed_batch,
    embed_texts,
)
from recommender.lexical import LexicalModel, TermCounts, merge_term_counts
from recommender.neighbours import (
    dense_against_shards,
    dense_neighbours,
    joined,
    lexical_neighbours,
    lexical_postings,
    lexical_step,
    strongest_terms,
)
from recommender.pipeline import LocalRunner, build_index
from recommender.snapshot import Snapshot, SnapshotStore
from recommender.vectors import ModelDimension

from .conftest import BUNDLED_CORPUS, article, topic_records
from .fakes import FakeEmbedder
from .test_neighbours import unit_rows


def same_load(left: CorpusLoad, right: CorpusLoad) -> None:
    assert [a.model_dump() for a in left.articles] == [a.model_dump() for a in right.articles]
    assert left.rejections == right.rejections
    assert left.notes == right.notes
    assert left.digests == right.digests
    assert left.known_hashes == right.known_hashes
    assert np.array_equal(left.vectors.positions, right.vectors.positions)
    assert np.array_equal(left.vectors.matrix, right.vectors.matrix)


def sharded_load(sources: Sequence[Path], records: int) -> CorpusLoad:
    options = ReadOptions()
    shards = plan_shards(sources, options, records)
    return combine_shards(sources, [read_shard(shard, options) for shard in shards], options)


def awkward_jsonl(path: Path) -> Path:
    """A JSON Lines file with a byte-order mark, CRLF and LF line ends, blank lines,
    a bad line, a duplicate id, a U+2028 inside a string and a supplied vector."""
    lines = [json.dumps(r) for r in topic_records()[:9]]
    lines.insert(2, "")
    lines.insert(5, "{not json")
    lines.insert(7, json.dumps(article("sleep-0", "Again", "A duplicate id")))
    lines.append(json.dumps(article("odd", "Line\u2028separator", "Kept whole")))
    lines.append(json.dumps(article("vec", "Vector", "Supplied", embedding=[1.0, 0.0, 0.0])))
    body = "\r\n".join(lines[:6]) + "\r\n" + "\n".join(lines[6:]) + "\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    return path


@pytest.mark.parametrize("records", [1, 2, 3, 5, 1000])
def test_shards_read_and_combined_give_the_whole_load(tmp_path: Path, records: int) -> None:
    jsonl = awkward_jsonl(tmp_path / "awkward.jsonl")
    csv = tmp_path / "c.csv"
    csv.write_text("id,title,body\ncsv-1,One,First row\ncsv-2,Two,Second row\n", "utf-8")
    sources = [BUNDLED_CORPUS, jsonl, csv]
    whole = load_corpus(sources)
    assert whole.rejections and whole.vectors.positions.size == 1  # the file is awkward
    same_load(sharded_load(sources, records), whole)


def test_relative_sources_are_read_from_anywhere_under_their_given_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    awkward_jsonl(tmp_path / "awkward.jsonl")
    markdown = tmp_path / "md"
    markdown.mkdir()
    (markdown / "bad.md").write_text("no front matter", "utf-8")
    monkeypatch.chdir(tmp_path)
    sources = [Path("awkward.jsonl"), Path("md")]
    options = ReadOptions()
    whole = load_corpus(sources)
    shards = plan_shards(sources, options, records=4)
    monkeypatch.chdir(BUNDLED_CORPUS)  # a worker elsewhere
    same_load(combine_shards(sources, [read_shard(s, options) for s in shards], options), whole)
    assert {r.source for r in whole.rejections} == {"awkward.jsonl", "md/bad.md"}


def test_shards_cut_a_directory_and_a_jsonl_file_at_whole_records(tmp_path: Path) -> None:
    jsonl = awkward_jsonl(tmp_path / "awkward.jsonl")
    shards = plan_shards([BUNDLED_CORPUS, jsonl], records=10)
    markdown = [s for s in shards if s.files]
    assert len(markdown) == 7 and sum(len(s.files) for s in markdown) == 63
    spans = [s.span for s in shards if s.span is not None]
    assert [span[2] for span in spans] == [1, 11]  # the first line number of each
    data = jsonl.read_bytes()
    assert spans[0][0] == 0 and spans[-1][1] == len(data)
    assert all(data[end - 1 : end] == b"\n" for _, end, _ in spans)


def awkward_parquet(path: Path, group_rows: int) -> Path:
    """A Parquet file in row groups of ``group_rows`` rows, with a row missing its
    title, a duplicate id, supplied vectors (one of the wrong length) and rows
    without one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = [
        {"id": r["id"], "title": r["title"], "body": r["body"], "embedding": None}
        for r in topic_records()[:11]
    ]
    rows[3]["title"] = None
    rows[6]["id"] = rows[1]["id"]
    rows[8]["embedding"] = [1.0, 0.0, 0.0]
    rows[9]["embedding"] = [0.0, 2.0, 0.0]
    rows[10]["embedding"] = [1.0, 0.0]
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("title", pa.string()),
            ("body", pa.string()),
            ("embedding", pa.list_(pa.float32())),
        ]
    )
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, row_group_size=group_rows)
    return path


@pytest.mark.parametrize(("group_rows", "records"), [(2, 1), (2, 3), (3, 4), (4, 100), (11, 2)])
def test_a_parquet_file_is_cut_at_its_row_groups(
    tmp_path: Path, group_rows: int, records: int
) -> None:
    source = awkward_parquet(tmp_path / "rows.parquet", group_rows)
    options = ReadOptions(model_dim=ModelDimension(lambda: 3))
    whole = load_corpus([source], options)
    assert {(r.line, r.field) for r in whole.rejections} == {
        (4, "title"),
        (7, "id"),
        (11, "embedding"),
    }
    assert whole.vectors.positions.size == 2
    shards = plan_shards([source], options, records)
    groups = [shard.groups for shard in shards]
    size = max(records, group_rows)  # whole groups, at least ``records`` rows each
    per_shard = -(-size // group_rows)
    expected_groups = -(-11 // group_rows)
    assert [g[0] for g in groups if g] == list(range(0, expected_groups, per_shard))
    assert [g[2] for g in groups if g] == [1 + g[0] * group_rows for g in groups if g]
    read = [read_shard(shard, options) for shard in shards]
    same_load(combine_shards([source], read, options), whole)


def test_workers_that_know_only_the_digests_give_the_drivers_load(tmp_path: Path) -> None:
    from recommender.reuse import Published

    jsonl = awkward_jsonl(tmp_path / "awkward.jsonl")
    parquet = awkward_parquet(tmp_path / "rows.parquet", 3)
    sources = [BUNDLED_CORPUS, jsonl, parquet]
    settings = Settings(index_dir=tmp_path / "index")
    options = ReadOptions(model_dim=ModelDimension(lambda: 3))
    build_index(sources, settings, FakeEmbedder(dim=3))
    published = Published.read(SnapshotStore(settings.index_dir))
    assert published is not None
    known = published.known_records()
    assert known is not None
    # One record changed since (its line edited in place): it alone is validated again.
    lines = jsonl.read_bytes().splitlines(keepends=True)
    at = next(n for n, line in enumerate(lines) if b'"spasticity-1"' in line)
    lines[at] = lines[at].replace(b'"body": "', b'"body": "Changed. ', 1)
    jsonl.write_bytes(b"".join(lines))
    on_driver = replace(options, known=known)
    whole = load_corpus(sources, on_driver)
    on_workers = replace(options, known=known.digests_only())
    shards = plan_shards(sources, on_workers, records=4)
    read = [read_shard(shard, on_workers) for shard in shards]
    same_load(combine_shards(sources, read, on_driver), whole)
    taken = sum(stored is not None for stored in whole.known_hashes)
    assert taken == len(whole.articles) - 1 and taken > 60
    with pytest.raises(ValueError, match="stored articles are not given"):
        combine_shards(sources, read, options)


def test_known_digests_find_every_key_and_no_other() -> None:
    from recommender.corpus import KnownDigests

    keys = [bytes([n]) * 15 + b"\0" for n in range(1, 9)]  # trailing NULs, as digests may have
    keys += [b"\0" * 16, b"\xff" * 16, bytes(range(16))]
    digests = KnownDigests.of({key: 10 * n for n, key in enumerate(keys)})
    assert [digests[key] for key in keys] == [10 * n for n in range(len(keys))]
    assert set(digests) == set(keys) and len(digests) == len(keys)
    for absent in (b"\x01" * 16, bytes([1]) * 14 + b"\0\0", b"\xfe" * 16):
        assert digests.get(absent) is None


def test_a_shard_of_an_unreadable_source_fails_as_the_whole_read(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(json.dumps(article("a", "A", "B")).encode() + b"\n\xff\xfe\n")
    shards = plan_shards([bad], records=1)
    read_shard(shards[0])
    with pytest.raises(Exception, match="not UTF-8 text"):
        read_shard(shards[1])
    with pytest.raises(Exception, match="no such file"):
        read_shard(plan_shards([tmp_path / "missing.jsonl"])[0])


def test_a_batch_embeds_as_the_cache_path_does() -> None:
    embedder = FakeEmbedder(max_tokens=8)
    items = [(r["title"], r["body"] * 3) for r in topic_records()]  # several chunks each
    batch = embed_batch(embedder, items)
    assert (batch.chunks > 1).all() and batch.chunks.shape == (len(items),)
    assert np.array_equal(batch.vectors, embed_texts(embedder, items))
    assert embed_batch(embedder, []).vectors.shape == (0, 64)


def test_embedding_steps_may_come_in_any_order_and_size(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    items = [(r["title"], r["body"]) for r in topic_records()]
    items.append(items[3])  # a text twice is embedded once

    def backwards(todo: Sequence[tuple[str, str]]) -> Iterator[tuple[np.ndarray, EmbeddedBatch]]:
        for end in range(len(todo), 0, -7):
            indexes = np.arange(max(0, end - 7), end)
            yield indexes, embed_batch(embedder, [todo[i] for i in indexes])

    cache = EmbeddingCache(tmp_path / "e.sqlite")
    stats = EmbedStats()
    progress: list[tuple[int, int]] = []
    vectors = embed_texts(
        embedder,
        items,
        cache=cache,
        stats=stats,
        steps=backwards,
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert np.array_equal(vectors, embed_texts(FakeEmbedder(), items))
    assert stats.embedded == 20 and len(cache) == 20
    assert progress == [(0, 20), (7, 20), (14, 20), (20, 20)]
    again = EmbedStats()
    embed_texts(embedder, items, cache=cache, stats=again, steps=backwards)
    assert again.embedded == 0 and again.cached == 21


def test_steps_that_leave_a_text_out_are_an_error() -> None:
    def none(todo: Sequence[tuple[str, str]]) -> Iterator[tuple[np.ndarray, EmbeddedBatch]]:
        return iter(())

    with pytest.raises(RuntimeError, match="never embedded"):
        embed_texts(FakeEmbedder(), [("t", "x")], steps=none)


def cuts(n: int, sizes: Sequence[int]) -> list[tuple[int, int]]:
    bounds = [0]
    for size in sizes:
        bounds.append(min(n, bounds[-1] + size))
    bounds.append(n)
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


@pytest.mark.parametrize(
    ("rows", "k", "shard_sizes", "block"),
    [(50, 10, [7, 20, 3], 8), (50, 49, [50], 512), (30, 100, [1, 1, 5], 4), (200, 20, [64], 33)],
)
def test_a_block_against_shards_is_the_exact_search(
    rows: int, k: int, shard_sizes: list[int], block: int
) -> None:
    vectors = unit_rows(rows, 16, seed=rows)
    vectors[5] = vectors[9] = vectors[rows - 1]  # identical articles tie everywhere
    exact = dense_neighbours(vectors, k)
    shards = [(a, vectors[a:b]) for a, b in cuts(rows, shard_sizes * rows)]
    for start, end in cuts(rows, [13, 29]):
        positions = np.arange(start, end)
        found = dense_against_shards(vectors[start:end], positions, iter(shards), k, block)
        assert (found[:, exact.shape[1] :] == -1).all()
        found = found[:, : exact.shape[1]]
        assert (found != positions[:, None]).all()
        # The same neighbours with the same scores. Where scores tie (the identical
        # rows), matrix products of other shapes can round them a unit in the last
        # place apart, which may order tied articles differently.
        assert np.allclose(
            cosines(vectors, positions, found),
            cosines(vectors, positions, exact[start:end]),
            atol=1e-6,
        )
        assert (found == exact[start:end]).mean() > 0.9


def cosines(vectors: np.ndarray, rows: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Each row's cosine with each of its neighbours."""
    return np.einsum("id,ikd->ik", vectors[rows], vectors[neighbours])


def test_a_block_of_lexical_queries_is_their_rows_of_the_whole_search() -> None:
    rng = np.random.default_rng(3)
    documents = sparse.csr_matrix(
        rng.random((80, 40)) * (rng.random((80, 40)) < 0.2), dtype=np.float32
    )
    queries = strongest_terms(documents, 5)
    whole = lexical_neighbours(queries, documents, 6, max_postings=10)
    postings = lexical_postings(documents, 10)
    for start, end in cuts(80, [11, 30]):
        rows = np.arange(start, end)
        assert np.array_equal(lexical_step(queries[rows], rows, postings, 6), whole[start:end])


class ShardedRunner:
    """The build's stages cut as a cluster would cut them, in this process: shards
    of three records, embedding batches of five in reverse order, candidate sets
    by blocks of query articles against shards of seven vectors, term counts
    by blocks of three documents, signing in pieces (what
    :class:`recommender.raybuild.RayRunner` maps over Ray)."""

    def __init__(self) -> None:
        self.batches = 0
        self.counted_blocks = 0

    def load(self, sources: Sequence[Path | str], options: ReadOptions) -> CorpusLoad:
        shards = plan_shards(sources, options, records=3)
        return combine_shards(sources, [read_shard(s, options) for s in shards], options)

    def embed_steps(self, embedder: Any, settings: Settings) -> Any:
        def steps(todo: Sequence[tuple[str, str]]) -> Iterator[tuple[np.ndarray, EmbeddedBatch]]:
            for start in reversed(range(0, len(todo), 5)):
                indexes = np.arange(start, min(start + 5, len(todo)))
                self.batches += 1
                yield (
                    indexes,
                    embed_batch(
                        embedder,
                        [todo[i] for i in indexes],
                        settings.chunk_tokens,
                        settings.chunk_overlap,
                    ),
                )

        return steps

    def candidate_sets(
        self, settings: Settings, vectors: np.ndarray, lexical: LexicalModel, on_progress: Any
    ) -> np.ndarray:
        n, width = len(vectors), settings.candidates
        shards = [(a, vectors[a:b]) for a, b in cuts(n, [7] * n)]
        queries, postings = lexical.more_like_this_search()
        dense, lexical_half = [], []
        for start, end in cuts(n, [4] * n):
            rows = np.arange(start, end)
            dense.append(dense_against_shards(vectors[rows], rows, shards, width))
            lexical_half.append(lexical_step(queries[rows], rows, postings, min(width, n - 1)))
        return joined(np.vstack(dense), np.vstack(lexical_half), width)

    def count_terms(self, model: LexicalModel, documents: Sequence[Any]) -> TermCounts:
        if not documents:
            return model.count_terms(documents)
        self.counted_blocks += len(range(0, len(documents), 3))
        parts = [model.count_terms(documents[i : i + 3]) for i in range(0, len(documents), 3)]
        return merge_term_counts(parts)

    def sign(self, bodies: Sequence[str], shingling: Shingling) -> Signatures:
        parts = [Signer(shingling).sign(bodies[i : i + 4]) for i in range(0, len(bodies), 4)]
        if not parts:
            return Signer(shingling).sign([])
        return Signatures(
            np.vstack([p.hashes for p in parts]), np.concatenate([p.counts for p in parts])
        )


def published_files(settings: Settings) -> dict[str, str]:
    store = SnapshotStore(settings.index_dir)
    version = store.current_version()
    assert version is not None
    return store.read_manifest(version).files


def assert_same_snapshot(left: Settings, right: Settings, vectors_atol: float = 0.0) -> None:
    """Two published snapshots hold the same articles, models and sets: every file
    byte for byte, except that the vectors (and the dense index made of them) may
    differ by ``vectors_atol``, and the dense halves of the candidate sets by the
    order of neighbours whose cosines are equal to rounding (see
    :func:`test_a_block_against_shards_is_the_exact_search`)."""
    loose = {"candidates.npy"} | ({"vectors.npy", "dense.faiss"} if vectors_atol else set())
    files = {name: digest for name, digest in published_files(left).items() if name not in loose}
    assert files == {n: d for n, d in published_files(right).items() if n not in loose}
    store = SnapshotStore(left.index_dir), SnapshotStore(right.index_dir)
    one, two = (Snapshot.load(s) for s in store)
    assert np.allclose(one.vectors, two.vectors, atol=vectors_atol, rtol=0)
    assert one.candidates is not None and two.candidates is not None
    width = one.candidates.shape[1] // 2
    assert np.array_equal(one.candidates[:, width:], two.candidates[:, width:])
    rows = np.arange(len(one.vectors))
    dense = [np.asarray(s.candidates[:, :width]) for s in (one, two)]
    assert ((dense[0] >= 0) == (dense[1] >= 0)).all()
    masked = [np.where(d >= 0, d, 0) for d in dense]
    profiles = [cosines(np.asarray(one.vectors), rows, m) for m in masked]
    assert np.allclose(profiles[0], profiles[1], atol=max(1e-6, 2 * vectors_atol))


def test_a_runner_cutting_every_stage_publishes_the_same_snapshot(tmp_path: Path) -> None:
    records = [r | {"body": r["body"] + " " + r["title"]} for r in topic_records()]
    source = tmp_path / "c.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    markdown = tmp_path / "md"
    markdown.mkdir()
    for file in sorted((BUNDLED_CORPUS / "articles").glob("*.md"))[:6]:
        (markdown / file.name).write_bytes(file.read_bytes())
    sources = [source, markdown]
    local = Settings(index_dir=tmp_path / "local", candidates=12)
    sharded = Settings(index_dir=tmp_path / "sharded", candidates=12)
    build_index(sources, local, FakeEmbedder(), runner=LocalRunner())
    runner = ShardedRunner()
    report = build_index(sources, sharded, FakeEmbedder(), runner=runner)
    assert report.embedded == 26 and runner.batches == 6 and runner.counted_blocks >= 9
    assert_same_snapshot(sharded, local)
    again = build_index(sources, sharded, FakeEmbedder(), runner=runner, full=False)
    assert again.embedded == 0 and not again.published and runner.batches == 6
