"""Vectors supplied with the records (``embedding``), in JSON Lines, CSV, front matter
and Parquet: used as the article's vector, checked, and counted as content."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recommender import Settings
from recommender.corpus import ReadOptions, Rejection, load_corpus
from recommender.embedding import configured_dim
from recommender.errors import InvalidCorpus
from recommender.pipeline import build_index
from recommender.snapshot import Snapshot, SnapshotStore
from recommender.vectors import ModelDimension

from .conftest import topic_records
from .fakes import FakeEmbedder
from .servers import cli_json

WriteJsonl = Callable[..., Path]
DIM = 64


def unit(seed: int, dim: int = DIM) -> np.ndarray:
    """A fixed random vector (not normalised: the engine must normalise it)."""
    return np.random.default_rng(seed).standard_normal(dim) * 3.0


def normalised(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def with_vectors(records: list[dict[str, Any]], every: int = 1) -> list[dict[str, Any]]:
    """The records, every ``every``-th one carrying a supplied vector (seeded by its index)."""
    return [
        {**record, "embedding": unit(i).tolist()} if i % every == 0 else record
        for i, record in enumerate(records)
    ]


def snapshot_vectors(settings: Settings) -> dict[str, np.ndarray]:
    snapshot = Snapshot.load(SnapshotStore(settings.index_dir))
    return {a.id: snapshot.vectors[i] for i, a in enumerate(snapshot.articles)}


class NoModel(FakeEmbedder):
    """An embedder that fails if anything is embedded or tokenised: the model never ran."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        raise AssertionError(f"the model was asked to embed {len(texts)} text(s)")

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        raise AssertionError("the model's tokenizer was used")


# -- JSON Lines --------------------------------------------------------------------------


def test_supplied_vectors_are_the_articles_vectors(
    settings: Settings, write_jsonl: WriteJsonl
) -> None:
    records = with_vectors(topic_records())
    report = build_index([write_jsonl(records)], settings, NoModel())
    assert (report.embedded, report.supplied, report.indexed) == (0, 20, 20)
    stored = snapshot_vectors(settings)
    for i, record in enumerate(records):
        np.testing.assert_allclose(stored[record["id"]], normalised(unit(i)), atol=1e-6)
    manifest = SnapshotStore(settings.index_dir).read_manifest(report.version or "")
    assert (manifest.supplied_vectors, manifest.model_id, manifest.dim) == (20, "fake-bow", DIM)
    # The vector lives in vectors.npy only, never in the article records.
    lines = (
        SnapshotStore(settings.index_dir).path(manifest.version) / "articles.jsonl"
    ).read_text()
    assert "embedding" not in lines
    assert report.to_json()["supplied_vectors"] == 20


def test_mixed_corpus_embeds_only_articles_without_a_vector(
    settings: Settings, write_jsonl: WriteJsonl
) -> None:
    records = with_vectors(topic_records(), every=2)  # even positions bring a vector
    embedder = FakeEmbedder()
    report = build_index([write_jsonl(records)], settings, embedder)
    assert (report.embedded, report.supplied) == (10, 10)
    stored = snapshot_vectors(settings)
    model = FakeEmbedder()
    for i, record in enumerate(records):
        if i % 2 == 0:
            expected = normalised(unit(i))
        else:
            expected = model.encode([f"{record['title']}\n\n{record['body']}"])[0]
        np.testing.assert_allclose(stored[record["id"]], expected, atol=1e-5)
    assert len(embedder.encoded) == 10  # one window per embedded article, none for the rest


def test_reindex_with_the_same_vectors_changes_nothing(
    settings: Settings, write_jsonl: WriteJsonl
) -> None:
    source = write_jsonl(with_vectors(topic_records()))
    first = build_index([source], settings, NoModel())
    second = build_index([source], settings, NoModel())
    assert (second.published, second.version) == (False, first.version)
    assert (second.unchanged, second.updated, second.embedded) == (20, 0, 0)


def test_changing_one_vector_updates_exactly_that_article(
    settings: Settings, write_jsonl: WriteJsonl
) -> None:
    records = with_vectors(topic_records())
    build_index([write_jsonl(records)], settings, NoModel())
    before = snapshot_vectors(settings)
    records[5] = {**records[5], "embedding": unit(99).tolist()}
    report = build_index([write_jsonl(records)], settings, NoModel())
    assert report.published
    assert (report.updated, report.unchanged, report.added, report.embedded) == (1, 19, 0, 0)
    after = snapshot_vectors(settings)
    changed = [i for i in after if not np.allclose(after[i], before[i])]
    assert changed == [records[5]["id"]]
    np.testing.assert_allclose(after[records[5]["id"]], normalised(unit(99)), atol=1e-6)


def test_model_change_still_forces_a_rebuild(settings: Settings, write_jsonl: WriteJsonl) -> None:
    source = write_jsonl(with_vectors(topic_records()))
    first = build_index([source], settings, NoModel())
    second = build_index([source], settings, NoModel(model_id="another-model"))
    assert second.published and second.version != first.version
    manifest = SnapshotStore(settings.index_dir).read_manifest(second.version or "")
    assert manifest.model_id == "another-model"


BAD_VECTORS = [
    ([0.5, 0.5, 0.5], "has 3 numbers, but the model's vectors have 64 dimensions"),
    ([], "has 0 numbers, but the model's vectors have 64 dimensions"),
    ([0.1] * 65, "has 65 numbers, but the model's vectors have 64 dimensions"),
    (["0.5"] + [0.1] * 63, "item 0 is not a number: '0.5'"),
    ([0.1, [0.2]] + [0.1] * 62, "item 1 is not a number: [0.2]"),
    ([0.1, 0.2, True] + [0.1] * 61, "item 2 is not a number: True"),
    ([0.1, None] + [0.1] * 62, "item 1 is not a number: None"),
    ([0.1] * 10 + [float("nan")] + [0.1] * 53, "item 10 is not a finite number: nan"),
    ([float("inf")] + [0.1] * 63, "item 0 is not a finite number: inf"),
    ([0.1] * 63 + [float("-inf")], "item 63 is not a finite number: -inf"),
    ([0.0] * 64, "is all zeros, so it has no direction to compare"),
    ([0] * 64, "is all zeros, so it has no direction to compare"),
    ([10**400] + [0] * 63, "holds a number too large for a float"),
    ("0.1, 0.2", "must be a list of numbers, got str"),
    (0.5, "must be a list of numbers, got float"),
    ({"values": [0.1]}, "must be a list of numbers, got dict"),
]


@pytest.mark.parametrize(("value", "reason"), BAD_VECTORS)
def test_bad_vectors_are_rejected_with_line_and_field(
    settings: Settings, write_jsonl: WriteJsonl, value: Any, reason: str
) -> None:
    records = with_vectors(topic_records())
    records[3] = {**records[3], "embedding": value}
    source = write_jsonl(records)
    report = build_index([source], settings, NoModel())
    assert report.rejected == [Rejection(str(source), 4, "embedding", reason)]
    assert report.indexed == 19
    assert records[3]["id"] not in snapshot_vectors(settings)


def test_null_embedding_means_none_supplied(settings: Settings, write_jsonl: WriteJsonl) -> None:
    records = with_vectors(topic_records())
    records[0] = {**records[0], "embedding": None}
    embedder = FakeEmbedder()
    report = build_index([write_jsonl(records)], settings, embedder)
    assert (report.supplied, report.embedded, report.rejected) == (19, 1, [])


def test_bad_vector_and_bad_field_are_both_reported(
    settings: Settings, write_jsonl: WriteJsonl
) -> None:
    records = with_vectors(topic_records())
    records[0] = {**records[0], "embedding": [1.0], "published": "soon"}
    source = write_jsonl(records)
    report = build_index([source], settings, NoModel())
    assert [(r.line, r.field) for r in report.rejected] == [(1, "embedding"), (1, "published")]


def test_without_a_model_any_length_is_read(write_jsonl: WriteJsonl) -> None:
    source = write_jsonl([{**topic_records()[0], "embedding": [3.0, 4.0]}])
    loaded = load_corpus([source])
    assert loaded.vectors.positions.tolist() == [0]
    np.testing.assert_allclose(loaded.vectors.matrix, [[0.6, 0.8]])
    assert "embedding" not in loaded.articles[0].extra


def test_model_dimension_is_asked_only_when_a_vector_is_read(write_jsonl: WriteJsonl) -> None:
    asked: list[int] = []

    def ask() -> int:
        asked.append(1)
        return DIM

    plain = ReadOptions(model_dim=ModelDimension(ask))
    load_corpus([write_jsonl(topic_records())], plain)
    assert asked == []
    supplied = ReadOptions(model_dim=ModelDimension(ask))
    load_corpus([write_jsonl(with_vectors(topic_records()))], supplied)
    assert asked == [1]  # once for the whole load


# -- CSV and front matter -------------------------------------------------------------------


def test_csv_cell_holds_a_json_array(tmp_path: Path) -> None:
    good, bad = unit(1, 4).tolist(), "0.1 0.2"
    lines = ["id,title,body,embedding", f'a,A,Body a,"{json.dumps(good)}"', f"b,B,Body b,{bad}"]
    source = tmp_path / "c.csv"
    source.write_text("\n".join(lines) + "\n")
    loaded = load_corpus([source], ReadOptions(model_dim=ModelDimension(lambda: 4)))
    assert [a.id for a in loaded.articles] == ["a"]
    np.testing.assert_allclose(loaded.vectors.matrix[0], normalised(np.array(good)), atol=1e-6)
    assert loaded.rejections == [
        Rejection(str(source), 3, "embedding", "must be a list of numbers, got str")
    ]


def test_front_matter_list_and_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "md"
    folder.mkdir()
    (folder / "a.md").write_text("---\nid: a\ntitle: A\nembedding: [3, 4]\n---\nBody a\n")
    (folder / "b.md").write_text("---\nid: b\ntitle: B\n\nembedding: [0, 0]\n---\nBody b\n")
    loaded = load_corpus([folder], ReadOptions(model_dim=ModelDimension(lambda: 2)))
    assert loaded.vectors.by_id(loaded.articles)["a"].tolist() == pytest.approx([0.6, 0.8])
    assert loaded.rejections == [
        Rejection(
            str(folder / "b.md"), 5, "embedding", "is all zeros, so it has no direction to compare"
        )
    ]


# -- Parquet ---------------------------------------------------------------------------------


def write_parquet(
    path: Path, records: list[dict[str, Any]], schema: pa.Schema | None = None
) -> Path:
    pq.write_table(pa.Table.from_pylist(records, schema=schema), path, row_group_size=7)
    return path


def parquet_schema(vector_type: pa.DataType) -> pa.Schema:
    return pa.schema(
        [
            ("id", pa.string()),
            ("title", pa.string()),
            ("body", pa.string()),
            ("tags", pa.list_(pa.string())),
            ("published", pa.timestamp("s", tz="UTC")),
            ("featured", pa.bool_()),
            ("embedding", vector_type),
        ]
    )


def parquet_records(every: int = 1) -> list[dict[str, Any]]:
    from datetime import UTC, datetime

    rows = []
    for i, record in enumerate(with_vectors(topic_records(), every)):
        row = {k: record.get(k) for k in ("id", "title", "body", "tags", "featured", "embedding")}
        row["published"] = datetime(2025, 1, 1 + i, tzinfo=UTC)
        rows.append(row)
    return rows


VECTOR_TYPES = [
    pa.list_(pa.float64()),
    pa.list_(pa.float32()),
    pa.large_list(pa.float64()),
    pa.list_(pa.float32(), DIM),
]


@pytest.mark.parametrize("vector_type", VECTOR_TYPES, ids=str)
def test_parquet_vectors_are_the_articles_vectors(
    settings: Settings, tmp_path: Path, vector_type: pa.DataType
) -> None:
    records = parquet_records(every=2)
    source = write_parquet(tmp_path / "c.parquet", records, parquet_schema(vector_type))
    embedder = FakeEmbedder()
    report = build_index([source], settings, embedder)
    assert (report.indexed, report.supplied, report.embedded, report.rejected) == (20, 10, 10, [])
    stored = snapshot_vectors(settings)
    for i, record in enumerate(records):
        if i % 2 == 0:
            np.testing.assert_allclose(stored[record["id"]], normalised(unit(i)), atol=1e-6)
    snapshot = Snapshot.load(SnapshotStore(settings.index_dir))
    first = snapshot.articles[0]
    assert (first.tags, first.published and first.published.isoformat()) == (
        ("spasticity",),
        "2025-01-01T00:00:00+00:00",
    )


def test_parquet_reindex_same_vectors_then_one_changed(settings: Settings, tmp_path: Path) -> None:
    schema = parquet_schema(pa.list_(pa.float32(), DIM))
    records = parquet_records()
    source = write_parquet(tmp_path / "c.parquet", records, schema)
    first = build_index([source], settings, NoModel())
    again = build_index([source], settings, NoModel())
    assert (again.published, again.updated, again.unchanged) == (False, 0, 20)
    records[12] = {**records[12], "embedding": unit(77).tolist()}
    write_parquet(source, records, schema)
    changed = build_index([source], settings, NoModel())
    assert changed.published and changed.version != first.version
    assert (changed.updated, changed.unchanged, changed.embedded) == (1, 19, 0)
    np.testing.assert_allclose(
        snapshot_vectors(settings)[records[12]["id"]], normalised(unit(77)), atol=1e-6
    )


PARQUET_BAD = [
    ([0.5] * 3, "has 3 numbers, but the model's vectors have 64 dimensions"),
    ([0.5] * 70, "has 70 numbers, but the model's vectors have 64 dimensions"),
    ([0.1, None] + [0.1] * 62, "item 1 is null, not a number"),
    ([0.1] * 5 + [float("nan")] + [0.1] * 58, "item 5 is not a finite number: nan"),
    ([float("inf")] + [0.1] * 63, "item 0 is not a finite number: inf"),
    ([0.0] * 64, "is all zeros, so it has no direction to compare"),
]


@pytest.mark.parametrize(("value", "reason"), PARQUET_BAD)
def test_parquet_bad_vectors_are_rejected_by_row(
    settings: Settings, tmp_path: Path, value: list[Any], reason: str
) -> None:
    records = parquet_records()
    records[9] = {**records[9], "embedding": value}  # row 10, in the second row group
    source = write_parquet(tmp_path / "c.parquet", records, parquet_schema(pa.list_(pa.float64())))
    report = build_index([source], settings, NoModel())
    assert report.rejected == [Rejection(str(source), 10, "embedding", reason)]
    assert report.indexed == 19


def test_parquet_fixed_size_of_another_length_rejects_every_row(
    settings: Settings, tmp_path: Path
) -> None:
    records = [{**r, "embedding": r["embedding"][:8]} for r in parquet_records()][:3]
    source = write_parquet(
        tmp_path / "c.parquet", records, parquet_schema(pa.list_(pa.float32(), 8))
    )
    with pytest.raises(InvalidCorpus, match="no valid article"):
        build_index([source], settings, NoModel())
    loaded = load_corpus([source], ReadOptions(model_dim=ModelDimension(lambda: DIM)))
    reason = "has 8 numbers, but the model's vectors have 64 dimensions"
    assert loaded.rejections == [Rejection(str(source), n, "embedding", reason) for n in (1, 2, 3)]


def test_parquet_tags_as_text_and_nulls_as_not_given(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "title": "A", "body": "Body a", "tags": "x, y;z", "summary": None},
        {"id": "b", "title": "B", "body": "Body b", "tags": None, "summary": "S"},
        {"id": "c", "title": None, "body": "Body c", "tags": "", "summary": None},
    ]
    source = write_parquet(tmp_path / "c.parquet", rows)
    loaded = load_corpus([source])
    assert [(a.id, a.tags, a.summary) for a in loaded.articles] == [
        ("a", ("x", "y", "z"), ""),
        ("b", (), "S"),
    ]
    assert loaded.rejections == [Rejection(str(source), 3, "title", "required field is missing")]
    assert len(loaded.vectors) == 0


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        (pa.array([["a", "b"]], pa.list_(pa.string())), "lists of string"),
        (pa.array(["0.1,0.2"], pa.string()), "string"),
        (pa.array([0.5], pa.float64()), "double"),
    ],
)
def test_parquet_embedding_column_of_another_type_is_refused(
    tmp_path: Path, column: pa.Array, kind: str
) -> None:
    table = pa.table({"id": ["a"], "title": ["A"], "body": ["B"], "embedding": column})
    source = tmp_path / "c.parquet"
    pq.write_table(table, source)
    with pytest.raises(InvalidCorpus) as caught:
        load_corpus([source])
    assert str(caught.value) == (
        f"{source}: column 'embedding' holds {kind}: expected a list of float32 or float64 "
        "numbers per row"
    )


def test_not_parquet_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "c.parquet"
    source.write_text("id,title,body\n")
    with pytest.raises(InvalidCorpus, match=r"c\.parquet: cannot be read as Parquet"):
        load_corpus([source])


def test_parquet_without_pyarrow_names_the_file_and_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_parquet(tmp_path / "c.parquet", parquet_records()[:1])
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now fails
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(InvalidCorpus) as caught:
        load_corpus([source])
    assert str(caught.value) == (
        f"{source}: reading Parquet needs pyarrow, which is not installed: "
        "pip install 'recommender[parquet]'"
    )


# -- the model's length without its weights -----------------------------------------------


def write_model_folder(folder: Path, modules: list[tuple[str, str, dict[str, Any]]]) -> Path:
    listed = []
    for index, (kind, path, config) in enumerate(modules):
        (folder / path).mkdir(parents=True, exist_ok=True)
        if config:
            (folder / path / "config.json").write_text(json.dumps(config))
        listed.append({"idx": index, "name": str(index), "path": path, "type": kind})
    (folder / "modules.json").write_text(json.dumps(listed))
    return folder


ST = "sentence_transformers.models."


@pytest.mark.parametrize(
    ("modules", "expected"),
    [
        (
            [
                (ST + "Transformer", "", {"hidden_size": 384}),
                (
                    ST + "Pooling",
                    "1_Pooling",
                    {"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True},
                ),
                (ST + "Normalize", "2_Normalize", {}),
            ],
            384,
        ),
        (
            [
                (ST + "Transformer", "", {"hidden_size": 768}),
                (
                    ST + "Pooling",
                    "1_Pooling",
                    {"word_embedding_dimension": 768, "pooling_mode_cls_token": True},
                ),
                (ST + "Dense", "2_Dense", {"in_features": 768, "out_features": 256}),
            ],
            256,
        ),
        (
            [
                (ST + "Transformer", "", {"hidden_size": 384}),
                (
                    ST + "Pooling",
                    "1_Pooling",
                    {
                        "word_embedding_dimension": 384,
                        "pooling_mode_mean_tokens": True,
                        "pooling_mode_max_tokens": True,
                    },
                ),
            ],
            None,
        ),
        ([(ST + "Transformer", "", {"hidden_size": 384}), ("custom.Layer", "1", {"x": 1})], None),
    ],
)
def test_configured_dim_reads_the_module_configs(
    tmp_path: Path, modules: list[tuple[str, str, dict[str, Any]]], expected: int | None
) -> None:
    assert configured_dim(write_model_folder(tmp_path / "model", modules)) == expected


def test_configured_dim_of_a_folder_without_modules(tmp_path: Path) -> None:
    assert configured_dim(tmp_path) is None


@pytest.mark.real_model
def test_packaged_model_dim_is_read_without_loading_it() -> None:
    from recommender.embedding import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    assert embedder.dim == 384
    assert embedder._model is None  # the weights were not loaded to tell
    assert embedder._loaded().get_embedding_dimension() == 384


# -- through the command line ------------------------------------------------------------------


def test_cli_indexes_a_parquet_corpus_with_its_own_vectors(tmp_path: Path) -> None:
    """The real CLI and the packaged model's id and length: three groups of articles whose
    supplied vectors cluster by group; related articles follow the vectors."""
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((3, 384))
    rows = []
    for group in range(3):
        for i in range(4):
            vector = centres[group] + 0.2 * rng.standard_normal(384)
            rows.append(
                {
                    "id": f"g{group}-{i}",
                    "title": f"Report {group}-{i}",
                    "body": f"Notes number {i} of the series, part {group}.",
                    "embedding": vector.tolist(),
                }
            )
    rows.append({"id": "bad", "title": "Bad", "body": "Short.", "embedding": [0.1] * 383})
    source = write_parquet(tmp_path / "site.parquet", rows)
    index_dir = tmp_path / "index"

    def run(*args: str) -> Any:
        return cli_json(index_dir, *args, "--json")

    report = run("index", str(source))
    assert (report["indexed"], report["supplied_vectors"], report["embedded"]) == (12, 12, 0)
    assert report["rejected"] == [
        {
            "source": str(source),
            "line": 13,
            "field": "embedding",
            "reason": "has 383 numbers, but the model's vectors have 384 dimensions",
        }
    ]
    for group in range(3):
        items = run("related", f"g{group}-0", "-k", "3")["items"]
        assert sorted(item["id"] for item in items) == [f"g{group}-{i}" for i in (1, 2, 3)]
