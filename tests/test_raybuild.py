"""The Ray runner (issue 13): Ray Data reads the shards, an actor pool embeds what
the cache lacks, tasks compute the candidate sets shard by shard, and the driver
publishes the snapshot the single-machine build publishes. One Ray, with two
CPUs, serves the whole test session (``ray_cluster``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from benchmarks.mixed import mixed_records, write_jsonl
from recommender import Engine, Settings, neighbours
from recommender.cli import main
from recommender.embedding import EmbeddingCache, SentenceTransformerEmbedder
from recommender.layout import IndexLayout
from recommender.pipeline import IndexReport, build_index
from recommender.raybuild import EmbedPool, RayOptions, RayRunner, _replica, embed_pool
from recommender.snapshot import Snapshot, SnapshotStore

from .conftest import BUNDLED_CORPUS, ROOT
from .fakes import FakeEmbedder
from .servers import COMMAND
from .test_build_stages import assert_same_snapshot
from .test_crash_and_reload import reindex_env

# Small shards, batches and blocks, so that a few hundred articles make many of each.
SMALL = RayOptions(
    shard_records=70,
    embed_actors=2,
    embed_batch=32,
    vector_shard_rows=128,
    query_rows=100,
    count_documents=100,
)


def counts(report: IndexReport) -> dict[str, Any]:
    """What a report says, without what differs between two runs (version, time)."""
    summary = report.to_json()
    return {k: v for k, v in summary.items() if k not in {"version", "seconds"}}


@pytest.mark.ray
def test_the_ray_runner_publishes_what_the_local_build_does(
    ray_cluster: Any, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = write_jsonl(mixed_records(400), tmp_path / "mixed.jsonl")
    # 150 more in a Parquet file of row groups of 40 rows: read as two shards, of
    # 80 and 70 rows (SMALL cuts at 70 records, at whole row groups).
    rows = [{**r, "id": f"pq-{r['id']}"} for r in mixed_records(150, seed=1)]
    parquet = tmp_path / "more.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet, row_group_size=40)
    sources = [source, BUNDLED_CORPUS, parquet]
    local = Settings(index_dir=tmp_path / "local", candidates=20)
    on_ray = Settings(index_dir=tmp_path / "ray", candidates=20)
    expected = build_index(sources, local, FakeEmbedder())
    with RayRunner(SMALL) as runner:
        report = build_index(sources, on_ray, FakeEmbedder(), runner=runner)
        assert counts(report) == counts(expected) and report.embedded == 613
        assert_same_snapshot(on_ray, local)
        again = build_index(sources, on_ray, FakeEmbedder(), runner=runner)
    assert again.embedded == 0 and not again.published
    # The workers validated nothing again: every record was known by its digest.
    assert report.reused == 0 and again.reused == again.indexed == report.indexed
    assert ray_cluster.is_initialized()  # the runner left the session's Ray running


@pytest.mark.ray
def test_from_the_exact_size_on_the_ray_runner_searches_the_local_builds_cells(
    ray_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From ``exact_neighbours_below`` articles on, both builds find the dense
    candidates by the approximate cell-by-cell search. The Ray build assigns the
    articles to cells in a task per block and searches runs of cells in tasks that
    read the vectors from the object store's shards; it finds the same sets."""
    monkeypatch.setattr(neighbours, "CELL_SIZE", 10)  # 46 cells: 32 probes miss some
    monkeypatch.setattr(neighbours, "ASSIGN_ROWS", 150)  # four blocks, four tasks
    sources = [write_jsonl(mixed_records(400), tmp_path / "mixed.jsonl"), BUNDLED_CORPUS]
    local = Settings(index_dir=tmp_path / "local", candidates=20, exact_neighbours_below=100)
    on_ray = Settings(index_dir=tmp_path / "ray", candidates=20, exact_neighbours_below=100)
    expected = build_index(sources, local, FakeEmbedder())
    with RayRunner(SMALL) as runner:
        report = build_index(sources, on_ray, FakeEmbedder(), runner=runner)
    assert counts(report) == counts(expected)
    assert_same_snapshot(on_ray, local)
    one, two = (Snapshot.load(SnapshotStore(s.index_dir)) for s in (on_ray, local))
    assert one.candidates is not None and two.candidates is not None
    assert np.array_equal(one.candidates, two.candidates)
    assert one.manifest.build["candidate_sets"]["exact_below"] == 100
    # The search was the approximate one: some article's exact nearest are not all found.
    dense = np.asarray(one.candidates[:, :20])
    exact = neighbours.dense_neighbours(np.asarray(one.vectors), 20)
    assert not np.array_equal(np.sort(dense, axis=1), np.sort(exact, axis=1))


@pytest.mark.ray
def test_the_ray_runner_finds_the_featured_neighbours_the_local_build_does(
    ray_cluster: Any,
) -> None:
    """A task per block of query articles (SMALL: 100 rows, so 5 tasks), the
    featured vectors put in the object store once."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(450, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    featured = np.flatnonzero(rng.random(450) < 0.3)
    expected = neighbours.featured_neighbours(vectors, featured, 40)
    with RayRunner(SMALL) as runner:
        found = runner.featured_neighbours(vectors, featured, 40)
    assert found.dtype == np.int32 and found.shape == (450, 40)
    np.testing.assert_array_equal(found, expected)


@pytest.mark.ray
def test_a_source_that_cannot_be_read_fails_the_ray_build(ray_cluster: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(json.dumps({"id": "a", "title": "A", "body": "B"}).encode() + b"\n\xff\n")
    settings = Settings(index_dir=tmp_path / "index")
    with RayRunner(SMALL) as runner, pytest.raises(Exception, match="not UTF-8 text") as caught:
        build_index([bad], settings, FakeEmbedder(), runner=runner)
    assert type(caught.value).__name__ == "InvalidCorpus"
    assert not (settings.index_dir / "CURRENT").exists()


def test_the_embedding_pool_takes_every_gpu_or_part_of_every_cpu() -> None:
    """The pool's shape on clusters this machine cannot be (it has no GPU): an actor
    per GPU, each with one GPU, and its model on the GPU; without GPUs an actor
    per CPU claiming half of one, so reading tasks still get CPUs."""
    assert embed_pool(RayOptions(), cpus=64, gpus=8) == EmbedPool(8, 1.0, 1)
    assert embed_pool(RayOptions(), cpus=2, gpus=0) == EmbedPool(2, 0.5, 0)
    assert embed_pool(RayOptions(), cpus=2, gpus=0.5) == EmbedPool(2, 0.5, 0)  # no whole GPU
    assert embed_pool(RayOptions(embed_actors=3), cpus=64, gpus=8) == EmbedPool(3, 1.0, 1)
    assert embed_pool(RayOptions(actor_cpus=0.25), cpus=0.5, gpus=0) == EmbedPool(1, 0.25, 0)
    on_gpu = _replica(SentenceTransformerEmbedder(), gpu=True)()
    assert isinstance(on_gpu, SentenceTransformerEmbedder) and on_gpu.device == "cuda"
    assert on_gpu._model is None  # the actor loads it, on its GPU
    fake = FakeEmbedder()
    assert isinstance(_replica(fake, gpu=True)(), FakeEmbedder)


def test_without_ray_the_engine_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails
    result = CliRunner().invoke(
        main, ["reindex", str(BUNDLED_CORPUS), "--index-dir", str(tmp_path), "--engine", "ray"]
    )
    assert result.exit_code == 2, result.output
    assert "pip install 'recommender[ray]'" in result.output
    again = CliRunner().invoke(main, ["reindex", "--ray-address", "auto", "--index-dir", "x"])
    assert again.exit_code == 2 and "only with --engine ray" in again.output


def test_the_server_the_cli_and_a_local_build_never_import_ray(tmp_path: Path) -> None:
    script = f"""
import sys
from recommender import Settings, cli, Engine
from recommender.pipeline import build_index
from service import create_app
from tests.fakes import FakeEmbedder
settings = Settings(index_dir={str(tmp_path / "index")!r})
build_index([{str(BUNDLED_CORPUS)!r}], settings, FakeEmbedder())
create_app(settings, engine=Engine(settings, embedder=FakeEmbedder()))
print(sorted(name for name in sys.modules if name == "ray" or name.startswith("ray.")))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def related_lists(settings: Settings, embedder: Any) -> dict[str, list[tuple[str, float]]]:
    engine = Engine(settings, embedder=embedder)
    ids = [a.id for a in engine.list_articles(limit=10**6).articles]
    return {
        article_id: [(item.article.id, item.score) for item in engine.related(article_id, k=8)]
        for article_id in ids
    }


@pytest.mark.ray
@pytest.mark.real_model
def test_a_ray_build_with_the_real_model_answers_as_the_local_build(
    ray_cluster: Any, real_embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    """The acceptance test: 1,500 articles embedded by the actor pool (the driver's
    model is never loaded), the same related lists as a single-machine build's with
    scores equal to 1e-5, and a second run embeds nothing."""
    source = write_jsonl(mixed_records(1_500), tmp_path / "mixed.jsonl")
    on_ray = Settings(index_dir=tmp_path / "ray")
    local = Settings(index_dir=tmp_path / "local")
    driver_model = SentenceTransformerEmbedder()
    options = RayOptions(shard_records=400, embed_actors=2, vector_shard_rows=512, query_rows=400)
    started = time.perf_counter()
    with RayRunner(options) as runner:
        report = build_index([source], on_ray, driver_model, runner=runner)
        ray_seconds = time.perf_counter() - started
        assert report.published and report.embedded == 1_500
        assert driver_model._model is None  # every vector came from the actors
        assert len(EmbeddingCache(IndexLayout.of(on_ray.index_dir).embeddings)) == 1_500
        again = build_index([source], on_ray, driver_model, runner=runner)
        assert again.embedded == 0 and not again.published
    started = time.perf_counter()
    expected = build_index([source], local, real_embedder)
    local_seconds = time.perf_counter() - started
    assert counts(report) == counts(expected)
    print(f"ray build {ray_seconds:.1f} s, local build {local_seconds:.1f} s")
    assert_same_snapshot(on_ray, local, vectors_atol=1e-5)
    answers, wanted = related_lists(on_ray, real_embedder), related_lists(local, real_embedder)
    assert answers.keys() == wanted.keys() and len(answers) == 1_500
    for article_id, items in wanted.items():
        assert [i for i, _ in answers[article_id]] == [i for i, _ in items], article_id
        assert np.allclose([s for _, s in answers[article_id]], [s for _, s in items], atol=1e-5)


@pytest.mark.ray
@pytest.mark.real_model
def test_a_killed_ray_build_publishes_nothing_and_the_next_one_resumes(
    ray_cluster: Any, real_embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    """``kill -9`` of the driver half way through embedding (the crash tests' seam:
    it stops itself after a step, then is killed): the old snapshot stays
    published and serving, and the next build embeds only what the killed one did
    not store in the cache."""
    records = mixed_records(300)
    before = write_jsonl(records[:100], tmp_path / "before.jsonl")
    after = write_jsonl(records, tmp_path / "after.jsonl")
    settings = Settings(index_dir=tmp_path / "index")
    old = build_index([before], settings, real_embedder)
    address = ray_cluster.get_runtime_context().gcs_address
    command = [
        *COMMAND,
        "reindex",
        str(after),
        "--index-dir",
        str(settings.index_dir),
        "--no-progress",
        "--engine",
        "ray",
        "--ray-address",
        address,
    ]
    log = tmp_path / "reindex.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            command,
            env=reindex_env(test_stop_at="embed:1+"),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    _, status = os.waitpid(process.pid, os.WUNTRACED)  # until it stops itself
    assert os.WIFSTOPPED(status), log.read_text()
    process.kill()
    process.wait()
    stopped = re.search(r"stopping at embed: (\d+)/200 ", log.read_text())
    assert stopped is not None, log.read_text()
    embedded = int(stopped.group(1))
    assert 0 < embedded < 200
    cache = EmbeddingCache(IndexLayout.of(settings.index_dir).embeddings)
    assert len(cache) == 100 + embedded  # each batch is in the cache before it is reported
    store = SnapshotStore(settings.index_dir)
    assert store.current_version() == old.version and store.versions() == [old.version]
    serving = Engine(settings, embedder=real_embedder)
    assert len(serving.list_articles(limit=1_000).articles) == 100

    with RayRunner(RayOptions(embed_actors=2)) as runner:
        report = build_index([after], settings, SentenceTransformerEmbedder(), runner=runner)
    assert report.published and report.added == 200 and report.embedded == 200 - embedded
    assert len(Engine(settings, embedder=real_embedder).list_articles(limit=1_000).articles) == 300
