"""Reindexing jobs: locks, strict mode, full rebuilds, snapshots, rollback,
pruning, debris, corrupt snapshots while serving, export and the admin job API."""

from __future__ import annotations

import csv
import json
import os
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from recommender import Engine, Settings, cli
from recommender.errors import IndexLocked, InvalidCorpus
from recommender.jobs import JobRunner
from recommender.locking import IndexLock
from recommender.pipeline import PHASES, build_index
from recommender.snapshot import SnapshotStore
from service import create_app

from .conftest import TOPICS, article, topic_records
from .fakes import FakeEmbedder

WriteJsonl = Callable[..., Path]


def publish(
    settings: Settings, write_jsonl: WriteJsonl, extra: list[dict[str, Any]], name: str
) -> str:
    report = build_index([write_jsonl(topic_records() + extra, name)], settings, FakeEmbedder())
    assert report.version is not None
    return report.version


def test_second_reindex_is_refused_naming_the_holder(
    settings: Settings, write_jsonl: WriteJsonl, runner: CliRunner
) -> None:
    source = write_jsonl(topic_records())
    lock = IndexLock(settings.index_dir, purpose="reindex")
    lock.acquire()
    try:
        with pytest.raises(IndexLocked, match=r"pid \d+"):
            build_index([source], settings, FakeEmbedder())
        result = runner.invoke(
            cli.main, ["reindex", str(source), "--index-dir", str(settings.index_dir)]
        )
        assert result.exit_code == 3
        assert "another reindex holds the lock" in result.output
        assert "pid" in result.output and "since" in result.output
    finally:
        lock.release()
    assert build_index([source], settings, FakeEmbedder()).published  # free again


def test_wait_waits_for_the_holder(settings: Settings, write_jsonl: WriteJsonl) -> None:
    holder = IndexLock(settings.index_dir, purpose="rollback to v000001")
    holder.acquire()
    events: list[str] = []

    def holder_finishes(description: str) -> None:
        # Called while the build is blocked on the lock, and only then: the holder
        # lets go, and the build must go on from exactly here.
        events.append(f"waiting for {description}")
        holder.release()

    report = build_index(
        [write_jsonl(topic_records())],
        settings,
        FakeEmbedder(),
        wait=True,
        on_wait=holder_finishes,
        on_progress=lambda phase, done, total: events.append(f"{phase} {done}/{total}"),
    )
    assert report.published
    waiting = re.fullmatch(
        rf"waiting for rollback to v000001 by pid {os.getpid()} on "
        rf"{re.escape(socket.gethostname())} since \S+",
        events[0],
    )
    assert waiting, events[0]
    assert events[1] == "read 0/1"  # nothing happened before the lock was ours


def test_wait_is_not_called_when_the_lock_is_free(
    settings: Settings, write_jsonl: WriteJsonl
) -> None:
    waited: list[str] = []
    build_index(
        [write_jsonl(topic_records())], settings, FakeEmbedder(), wait=True, on_wait=waited.append
    )
    assert waited == []


def test_strict_fails_on_rejections_and_publishes_nothing(
    settings: Settings, write_jsonl: WriteJsonl, runner: CliRunner
) -> None:
    bad = write_jsonl([*topic_records(), {"id": "no-title", "body": "x"}], "bad.jsonl")
    with pytest.raises(InvalidCorpus, match="1 rejected record"):
        build_index([bad], settings, FakeEmbedder(), strict=True)
    assert SnapshotStore(settings.index_dir).current_version() is None
    result = runner.invoke(
        cli.main, ["reindex", str(bad), "--strict", "--index-dir", str(settings.index_dir)]
    )
    assert result.exit_code == 2 and "title" in result.output
    # Without --strict the good records are indexed and the bad one reported.
    report = build_index([bad], settings, FakeEmbedder())
    assert report.published and len(report.rejected) == 1


def test_full_rebuild_reembeds_and_publishes(settings: Settings, write_jsonl: WriteJsonl) -> None:
    source = write_jsonl(topic_records())
    build_index([source], settings, FakeEmbedder())
    report = build_index([source], settings, FakeEmbedder(), full=True)
    assert report.published and report.embedded == 20 and report.unchanged == 20


def test_progress_phases_are_reported(settings: Settings, write_jsonl: WriteJsonl) -> None:
    source = write_jsonl(topic_records())
    seen: list[tuple[str, int, int]] = []
    build_index([source], settings, FakeEmbedder(), on_progress=lambda *e: seen.append(e))
    assert seen == [
        ("read", 0, 1),
        ("read", 1, 1),
        ("embed", 0, 20),
        ("embed", 20, 20),  # one step: EMBED_STEP is 32
        ("candidates", 0, 40),  # dense then lexical neighbours, 20 rows each
        ("candidates", 20, 40),
        ("candidates", 40, 40),
        *[("write", n, 6) for n in range(7)],
        ("seal", 0, 1),
        ("seal", 1, 1),
        ("publish", 0, 2),
        ("publish", 1, 2),
        ("publish", 2, 2),
        ("cleanup", 0, 1),
        ("cleanup", 1, 1),
    ]
    assert [phase for phase, _, _ in seen if phase not in PHASES] == []
    # An unchanged corpus publishes nothing: the build ends after reading.
    seen.clear()
    build_index([source], settings, FakeEmbedder(), on_progress=lambda *e: seen.append(e))
    assert seen == [("read", 0, 1), ("read", 1, 1)]


def test_embedding_progress_counts_steps_of_the_cache(
    settings: Settings, write_jsonl: WriteJsonl
) -> None:
    records = [article(f"a-{n}", f"Article {n}", f"word{n} text") for n in range(70)]
    seen: list[tuple[str, int, int]] = []
    build_index(
        [write_jsonl(records)], settings, FakeEmbedder(), on_progress=lambda *e: seen.append(e)
    )
    assert [e for e in seen if e[0] == "embed"] == [
        ("embed", 0, 70),
        ("embed", 32, 70),
        ("embed", 64, 70),
        ("embed", 70, 70),
    ]


def test_debris_of_a_dead_build_is_removed(settings: Settings, write_jsonl: WriteJsonl) -> None:
    publish(settings, write_jsonl, [], "a.jsonl")
    debris = settings.index_dir / "versions" / ".build-deadbeef"
    debris.mkdir()
    (debris / "vectors.npy").write_bytes(b"half written")
    publish(settings, write_jsonl, [article("x", "X", "new")], "b.jsonl")
    assert not debris.exists()


def test_snapshots_rollback_and_pruning(
    settings: Settings, write_jsonl: WriteJsonl, runner: CliRunner
) -> None:
    settings = settings.replace(keep_snapshots=2)
    versions = [
        publish(settings, write_jsonl, [article(f"extra-{i}", f"Extra {i}", "sleep")], f"{i}.jsonl")
        for i in range(4)
    ]
    store = SnapshotStore(settings.index_dir)
    assert store.versions() == versions[-2:]  # older ones pruned
    listing = runner.invoke(cli.main, ["snapshots", "--index-dir", str(settings.index_dir)])
    assert listing.exit_code == 0
    assert f"* {versions[-1]}" in listing.output and versions[-2] in listing.output

    engine = Engine(settings, embedder=FakeEmbedder())
    assert engine.article("extra-3").title == "Extra 3"
    result = runner.invoke(
        cli.main, ["rollback", versions[-2], "--index-dir", str(settings.index_dir)]
    )
    assert result.exit_code == 0, result.output
    assert store.current_version() == versions[-2]
    assert engine.article("extra-2").title == "Extra 2"  # the running engine followed
    assert (
        runner.invoke(
            cli.main, ["rollback", "v999999-x", "--index-dir", str(settings.index_dir)]
        ).exit_code
        == 1
    )
    # The published (rolled-back) version survives pruning even though it is older.
    newest = publish(settings, write_jsonl, [article("extra-9", "Extra 9", "sleep")], "9.jsonl")
    store.rollback(versions[-1])
    store.prune(1)
    assert store.versions() == [versions[-1], newest]


def test_corrupt_new_snapshot_is_refused_and_serving_continues(
    settings: Settings, write_jsonl: WriteJsonl, caplog: pytest.LogCaptureFixture
) -> None:
    publish(settings, write_jsonl, [], "a.jsonl")
    engine = Engine(settings, embedder=FakeEmbedder())
    before = [i.article.id for i in engine.related("sleep-0", k=4)]
    good = engine.snapshot.version
    # A new version appears, but one of its files was damaged after publishing.
    bad = publish(settings, write_jsonl, [article("sleep-9", "Sleep", TOPICS["sleep"])], "b.jsonl")
    vectors = settings.index_dir / "versions" / bad / "vectors.npy"
    vectors.write_bytes(vectors.read_bytes()[:-16])
    assert [i.article.id for i in engine.related("sleep-0", k=4)] == before
    assert engine.snapshot.version == good
    # Serving checks sizes at load (a cut-short file); checksums are `recommender verify`'s.
    assert "the manifest says" in caplog.text and bad in caplog.text


def test_export_jsonl_and_csv(
    settings: Settings, write_jsonl: WriteJsonl, runner: CliRunner, tmp_path: Path
) -> None:
    publish(
        settings, write_jsonl, [article("draft-1", "Draft", "sleep", status="draft")], "a.jsonl"
    )
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        cli.main, ["export", str(out), "--k", "3", "--index-dir", str(settings.index_dir)]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 20  # published articles only
    first = lines[0]
    assert set(first) == {"article_id", "related", "featured"}
    assert len(first["related"]) == 3
    assert not {i["id"] for i in first["related"]} & {i["id"] for i in first["featured"]}
    out_csv = tmp_path / "out.csv"
    result = runner.invoke(
        cli.main,
        [
            "export",
            str(out_csv),
            "--format",
            "csv",
            "-k",
            "2",
            "--index-dir",
            str(settings.index_dir),
        ],
    )
    assert result.exit_code == 0
    with out_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0].keys() >= {"article_id", "block", "rank", "item_id", "score"}
    assert {r["block"] for r in rows} == {"related", "featured"}
    assert not list(tmp_path.glob(".*partial"))


# -- admin API -----------------------------------------------------------------------------

KEY = {"Authorization": "Bearer admin-key"}


@pytest.fixture
def admin(settings: Settings, write_jsonl: WriteJsonl) -> Any:
    source = write_jsonl(topic_records())
    settings = settings.replace(api_keys="admin-key", sources=str(source))
    embedder = FakeEmbedder()
    build_index([source], settings, embedder)
    app = create_app(engine=Engine(settings, embedder=embedder))
    return app.test_client(), settings, source


def finished(client: Any, url: str) -> dict[str, Any]:
    """The job at ``url`` once its thread has ended (joined, not polled), as the API shows it."""
    runner: JobRunner = client.application.extensions["recommender.jobs"]
    runner.join(url.rsplit("/", 1)[-1])
    job: dict[str, Any] = client.get(url, headers=KEY).get_json()
    return job


def test_admin_reindex_job(admin: Any) -> None:
    client, _, source = admin
    source.write_text(source.read_text() + json.dumps(article("new-1", "New", "sleep")) + "\n")
    started = client.post("/v1/admin/reindex", json={}, headers=KEY)
    assert started.status_code == 202
    body = started.get_json()
    job = finished(client, body["url"])
    assert job["state"] == "done", job
    assert job["summary"]["added"] == 1 and job["summary"]["embedded"] == 1
    assert job["progress"] == {"phase": "cleanup", "done": 1, "total": 1}
    reload = client.post("/v1/admin/reload", headers=KEY).get_json()
    assert client.get("/v1/articles/new-1").status_code == 200
    assert reload["index_version"].startswith(job["summary"]["version"])


def test_admin_reindex_conflicts_and_errors(admin: Any) -> None:
    client, settings, _ = admin
    lock = IndexLock(settings.index_dir)
    lock.acquire()
    try:
        response = client.post("/v1/admin/reindex", json={"full": True}, headers=KEY)
        assert response.status_code == 409
        assert "another reindex is running" in response.get_json()["detail"]
    finally:
        lock.release()
    assert client.get("/v1/admin/jobs/nope", headers=KEY).status_code == 404
    assert client.post("/v1/admin/reindex", json={}).status_code == 401
    assert client.get("/v1/admin/jobs/x", headers={"Authorization": "Bearer no"}).status_code == 403
    bad = client.post("/v1/admin/reindex", json={"fast": True}, headers=KEY)
    assert bad.status_code == 422 and bad.get_json()["field"] == "fast"


def test_one_job_at_a_time(admin: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _, _ = admin
    import recommender.jobs as jobs

    gate = threading.Event()

    def held_build(*args: Any, **kwargs: Any) -> Any:
        gate.wait()  # the job stays running until the test opens the gate
        raise InvalidCorpus("corpus", "no valid article")

    monkeypatch.setattr(jobs, "build_index", held_build)
    try:
        first = client.post("/v1/admin/reindex", json={}, headers=KEY)
        assert first.status_code == 202
        second = client.post("/v1/admin/reindex", json={}, headers=KEY)
        # The running job holds the build lock: the refusal names it.
        detail = second.get_json()["detail"]
        assert second.status_code == 409 and "reindex job by pid" in detail
    finally:
        gate.set()
    job = finished(client, first.get_json()["url"])
    assert job["state"] == "failed" and job["error"] == "corpus: no valid article"


def test_reindex_drops_live_changes_the_corpus_now_holds(
    settings: Settings, write_jsonl: WriteJsonl
) -> None:
    from recommender import Article
    from recommender.live import LIVE_FILE, LiveStore

    publish(settings, write_jsonl, [], "a.jsonl")
    engine = Engine(settings, embedder=FakeEmbedder())
    hook = {"id": "from-hook", "title": "Hook", "body": TOPICS["sleep"]}
    engine.upsert(Article.from_record(hook))
    engine.upsert(Article.from_record({"id": "api-only", "title": "API", "body": "sleep"}))
    engine.delete("sleep-1")
    # The next corpus export holds the hook's article and no longer has sleep-1.
    records = [r for r in topic_records() if r["id"] != "sleep-1"] + [hook]
    build_index([write_jsonl(records, "b.jsonl")], settings, FakeEmbedder())
    changes = LiveStore(settings.index_dir / LIVE_FILE).load()
    assert set(changes.upserts) == {"api-only"} and not changes.deleted
    fresh = Engine(settings, embedder=FakeEmbedder())
    assert fresh.article("from-hook").title == "Hook" and fresh.article("api-only")


def test_verify_reads_every_byte_where_a_load_checks_sizes(
    settings: Settings, write_jsonl: WriteJsonl, runner: CliRunner
) -> None:
    version = publish(settings, write_jsonl, [], "a.jsonl")
    index = ["--index-dir", str(settings.index_dir)]
    result = runner.invoke(cli.main, ["verify", *index])
    assert result.exit_code == 0 and f"{version}: " in result.output, result.output
    vectors = settings.index_dir / "versions" / version / "vectors.npy"
    data = bytearray(vectors.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes
    vectors.write_bytes(bytes(data))
    store = SnapshotStore(settings.index_dir)
    assert store.check_sizes(version).version == version
    result = runner.invoke(cli.main, ["verify", version, *index])
    assert result.exit_code == 1
    assert "vectors.npy" in result.output and "checksum does not match" in result.output


class _FreeLock:
    """A build lock no one holds, that first runs ``meanwhile`` (what the job's own
    process does between another host's two reads)."""

    def __init__(self, meanwhile: Callable[[], None]) -> None:
        self.meanwhile = meanwhile

    def is_held_elsewhere(self) -> bool:
        self.meanwhile()
        return False


def test_a_job_that_finishes_as_another_host_reads_it_is_not_called_dead(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another host reads a job as running and then finds the build lock free: the
    job has just written its final state and let the lock go. It is reported
    done, not overwritten as failed. One still running without the lock (its
    process died) is reported failed."""
    runner = JobRunner(settings, FakeEmbedder)
    job_id = runner.store.create("reindex")
    runner.store.update(job_id, state="running")
    later = datetime.now(UTC) + timedelta(minutes=1)  # older than the fresh-job grace

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Later:
            return cls.fromtimestamp(later.timestamp(), tz)

    monkeypatch.setattr("recommender.jobs.datetime", Later)

    def finishes() -> None:
        runner.store.update(job_id, state="done")

    state = runner.state
    monkeypatch.setattr(runner, "state", replace(state, make_lock=lambda _: _FreeLock(finishes)))
    job = runner.get(job_id)
    assert job is not None and job.state == "done" and job.error is None

    runner.store.update(job_id, state="running")  # now nothing finishes it
    dead = replace(state, make_lock=lambda _: _FreeLock(lambda: None))
    monkeypatch.setattr(runner, "state", dead)
    job = runner.get(job_id)
    assert job is not None and job.state == "failed"
    assert job.error == "the process running the job stopped"
