"""Crash safety and hot reload with real processes and the real model.

A reindex is killed with SIGKILL at every step it reports, exactly there: the
``RECOMMENDER_TEST_STOP_AT`` seam makes the process stop itself (SIGSTOP) right
after reporting the step, and the test kills the stopped process, so no kill
depends on how fast the machine is. After each kill the published snapshot is
the old one or the complete new one, it verifies and it answers; the next
reindex cleans up and publishes. A running gunicorn server keeps answering,
with no failed request, while two reindexes publish, and serves each new
snapshot from the first request after its publish."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from recommender import Engine, Settings
from recommender.corpus import load_corpus
from recommender.embedding import SentenceTransformerEmbedder
from recommender.errors import ArticleNotFound
from recommender.layout import EMBEDDINGS as CACHE_FILE
from recommender.locking import IndexLock
from recommender.pipeline import IndexReport, build_index
from recommender.snapshot import Snapshot, SnapshotStore

from .conftest import BUNDLED_CORPUS
from .servers import COMMAND, call, copy_index, running_server

pytestmark = pytest.mark.real_model

UCHIYAMA = "botox-intensive-rehab-chronic-stroke"
QUERIES = (UCHIYAMA, "sudden-sounds-startle-movement-cues", "post-stroke-fatigue-explained")
STOP_AT = "RECOMMENDER_TEST_STOP_AT"

# The edit the killed reindexes publish: more revised articles than one embedding
# step (32), so a kill can land between two steps; one article goes, one comes.
# Every kill but one starts with all the new vectors cached (the reference build
# embedded them), so only that one pays for the model.
REVISED = 40
REMOVED = "botox-review-22-studies-muscle-spasm"  # in UCHIYAMA's related list
ADDED = {
    "id": "botox-clinic-opens-for-stroke-spasticity",
    "title": "A botulinum toxin clinic for spasticity after stroke opens",
    "body": "The clinic injects botulinum toxin into stiff calf and arm muscles of "
    "people with spasticity after a stroke, and pairs each injection with weeks of "
    "intensive physiotherapy, stretching and walking practice.",
    "tags": ["spasticity", "botulinum-toxin"],
}
UNCHANGED = 63 - REVISED - 1


def answers(engine: Engine) -> list[list[str]]:
    """The top five related ids of each query article."""
    return [[item.article.id for item in engine.related(q, k=5)] for q in QUERIES]


def reindex_env(**settings: str) -> dict[str, str]:
    """This environment without RECOMMENDER_* variables, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOMMENDER_")}
    return env | {f"RECOMMENDER_{name.upper()}": value for name, value in settings.items()}


@dataclass(frozen=True)
class Reference:
    """The bundled index before and after the edit, built in-process without kills."""

    changed: Path  # the edited corpus, one JSONL file
    old_version: str
    before: list[list[str]]  # answers of the old snapshot
    after: list[list[str]]  # answers of a snapshot of the edited corpus
    fingerprint: str  # that snapshot's corpus fingerprint
    warm_cache: Path  # an embedding cache that holds every vector of both


@pytest.fixture(scope="module")
def reference(
    bundled_index: Settings,
    real_embedder: SentenceTransformerEmbedder,
    tmp_path_factory: pytest.TempPathFactory,
) -> Reference:
    root = tmp_path_factory.mktemp("reference")
    changed = root / "changed.jsonl"
    with changed.open("w") as handle:
        kept = [a for a in load_corpus([BUNDLED_CORPUS]).articles if a.id != REMOVED]
        for n, article in enumerate(kept):
            record = article.to_json()
            if n < REVISED:
                # Short revised bodies (one chunk each) keep embedding them cheap.
                record["body"] = "Revised edition. " + " ".join(record["body"].split()[:60])
            handle.write(json.dumps(record) + "\n")
        handle.write(json.dumps(ADDED) + "\n")
    settings = Settings(index_dir=copy_index(bundled_index.index_dir, root))
    old_version = SnapshotStore(settings.index_dir).current_version()
    assert old_version is not None
    before = answers(Engine(settings, embedder=real_embedder))
    report = build_index([changed], settings, real_embedder, progress=False)
    assert counts(report) == edit_published(embedded=REVISED + 1)
    new = Engine(settings, embedder=real_embedder)
    after = answers(new)
    # The edit shows in the answers, so comparing with them below means something.
    assert after != before and REMOVED in before[0] and all(REMOVED not in ids for ids in after)
    return Reference(
        changed=changed,
        old_version=old_version,
        before=before,
        after=after,
        fingerprint=new.snapshot.manifest.corpus_fingerprint,
        warm_cache=settings.index_dir / CACHE_FILE,
    )


def counts(report: IndexReport | dict[str, Any]) -> dict[str, Any]:
    """What a reindex report (or its JSON) says it did, without its version and timing."""
    summary = report if isinstance(report, dict) else report.to_json()
    return {k: summary[k] for k in NOTHING_CHANGED}


NOTHING_CHANGED = {
    "indexed": 63,
    "added": 0,
    "updated": 0,
    "removed": 0,
    "unchanged": 63,
    "embedded": 0,
    "rejected": [],
    "published": False,
}


def edit_published(embedded: int) -> dict[str, Any]:
    """The counts of a reindex that publishes the edit, embedding ``embedded`` articles."""
    return NOTHING_CHANGED | {
        "added": 1,
        "updated": REVISED,
        "removed": 1,
        "unchanged": UNCHANGED,
        "embedded": embedded,
        "published": True,
    }


@dataclass(frozen=True)
class KillPoint:
    """Where a reindex is killed, and what the index directory must hold afterwards."""

    step: str  # the progress line the process stops after, e.g. "write: 2/6"
    serves_new: bool  # False: the old snapshot is still published
    build_dirs: int  # unfinished versions/.build-* directories left behind
    versions: int  # complete versions under versions/
    # Articles the next reindex embeds. 0: the kill starts with every new vector
    # cached; otherwise it starts without them, and the killed run cached the rest.
    left_to_embed: int = 0

    @property
    def stop_at(self) -> str:
        phase, counts = self.step.split(": ")
        return f"{phase}:{counts.split('/')[0]}"


# Every step a reindex reports (recommender.pipeline.Progress), in order.
KILL_POINTS = [
    KillPoint("read: 0/1", False, 0, 1),
    KillPoint("read: 1/1", False, 0, 1),
    KillPoint("embed: 0/0", False, 0, 1),  # every vector cached: nothing to embed
    KillPoint("embed: 32/41", False, 0, 1, left_to_embed=9),  # one step in the cache
    KillPoint("write: 0/6", False, 1, 1),  # an empty build directory
    KillPoint("write: 1/6", False, 1, 1),
    KillPoint("write: 2/6", False, 1, 1),  # half the files written
    KillPoint("write: 3/6", False, 1, 1),
    KillPoint("write: 4/6", False, 1, 1),  # every data file, no signatures yet
    KillPoint("write: 5/6", False, 1, 1),  # signatures, no candidate sets yet
    KillPoint("write: 6/6", False, 1, 1),  # every file, no manifest yet
    KillPoint("seal: 0/1", False, 1, 1),
    KillPoint("seal: 1/1", False, 1, 1),  # complete and flushed, still private
    KillPoint("publish: 0/2", False, 1, 1),
    KillPoint("publish: 1/2", False, 0, 2),  # under its version name, not published
    KillPoint("publish: 2/2", True, 0, 2),  # CURRENT switched: the new one is served
    KillPoint("cleanup: 0/1", True, 0, 2),
    KillPoint("cleanup: 1/1", True, 0, 1),  # the old version pruned (keep 1)
]


def warm_up(index_dir: Path, reference: Reference) -> None:
    """Give the index the reference's embedding cache, so a reindex embeds nothing."""
    for journal in ("-wal", "-shm"):  # the copied cache's, if any: not for this file
        (index_dir / f"{CACHE_FILE}{journal}").unlink(missing_ok=True)
    shutil.copyfile(reference.warm_cache, index_dir / CACHE_FILE)


def kill_at(point: KillPoint, source: Path, index_dir: Path, log: Path) -> None:
    """Run a reindex until it stops itself after ``point.step``, then SIGKILL it."""
    env = reindex_env(keep_snapshots="1", test_stop_at=point.stop_at)
    command = [*COMMAND, "reindex", str(source), "--index-dir", str(index_dir), "--no-progress"]
    with log.open("w") as stderr:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    # Blocks until the child stops (or ends): no sleep, no deadline.
    _, status = os.waitpid(process.pid, os.WUNTRACED)
    if not os.WIFSTOPPED(status):
        process.returncode = os.waitstatus_to_exitcode(status)
        pytest.fail(f"the reindex ended without reaching {point.step}:\n{log.read_text()}")
    process.kill()
    process.wait()
    last = log.read_text().splitlines()[-1]
    assert last == f"stopping at {point.step} ({STOP_AT})"


def check_index(
    index_dir: Path, real_embedder: SentenceTransformerEmbedder, reference: Reference, new: bool
) -> Snapshot:
    """The published snapshot is complete and verified, and answers as the old (or
    the new) corpus does; every version under its own name verifies too."""
    store = SnapshotStore(index_dir)
    snapshot = Snapshot.load(store, expect_model=real_embedder.model_id)  # checks every file
    for version in store.versions():
        store.verify(version)
    named = sorted(p.name for p in store.versions_dir.iterdir() if not p.name.startswith("."))
    assert named == store.versions()  # no version directory without its manifest
    engine = Engine(Settings(index_dir=index_dir), embedder=real_embedder)
    if new:
        assert snapshot.version != reference.old_version
        assert snapshot.manifest.corpus_fingerprint == reference.fingerprint
        assert answers(engine) == reference.after
        assert engine.article(ADDED["id"]).title == ADDED["title"]
        with pytest.raises(ArticleNotFound):
            engine.article(REMOVED)
    else:
        assert snapshot.version == reference.old_version
        assert answers(engine) == reference.before
        assert engine.article(REMOVED).id == REMOVED
    return snapshot


@pytest.mark.parametrize("point", KILL_POINTS, ids=[p.stop_at for p in KILL_POINTS])
def test_kill_9_at_every_step_leaves_a_complete_published_snapshot(
    point: KillPoint,
    bundled_index: Settings,
    real_embedder: SentenceTransformerEmbedder,
    reference: Reference,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    index_dir = copy_index(bundled_index.index_dir, tmp_path)
    if not point.left_to_embed:
        warm_up(index_dir, reference)
    kill_at(point, reference.changed, index_dir, tmp_path / "reindex.log")

    store = SnapshotStore(index_dir)
    assert len(list(store.versions_dir.glob(".build-*"))) == point.build_dirs
    assert len(store.versions()) == point.versions
    killed = check_index(index_dir, real_embedder, reference, point.serves_new)

    # The next reindex removes the debris and publishes, or finds nothing to do.
    settings = Settings(index_dir=index_dir, keep_snapshots=1)
    report = build_index([reference.changed], settings, real_embedder, progress=False)
    if point.serves_new:
        assert counts(report) == NOTHING_CHANGED
        assert report.version == killed.version
    else:
        assert counts(report) == edit_published(embedded=point.left_to_embed)
        assert store.versions() == [report.version]  # old version and orphan pruned
    removed_debris = "removed 1 unfinished build(s) left by an interrupted run"
    assert (removed_debris in caplog.text) == bool(point.build_dirs)
    assert not list(store.versions_dir.glob(".*"))
    assert check_index(index_dir, real_embedder, reference, new=True).version == report.version


def test_a_waiting_reindex_names_the_holder_then_runs(
    bundled_index: Settings, reference: Reference, tmp_path: Path
) -> None:
    index_dir = copy_index(bundled_index.index_dir, tmp_path)
    warm_up(index_dir, reference)
    holder = IndexLock(index_dir, purpose="rollback to v000001")
    holder.acquire()
    command = [*COMMAND, "reindex", str(reference.changed), "--index-dir", str(index_dir)]
    process = subprocess.Popen(
        [*command, "--wait", "--json"],
        env=reindex_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    try:
        first = process.stderr.readline()  # blocks until the process says something
    finally:
        holder.release()
        out, err = process.communicate()
    assert first.startswith(f"waiting for the lock: rollback to v000001 by pid {os.getpid()} ")
    assert process.returncode == 0, first + err
    assert err.splitlines()[0] == "read: 0/1"  # it read nothing before it had the lock
    report = json.loads(out)
    assert counts(report) == edit_published(embedded=0)


# -- hot reload while serving ---------------------------------------------------------------


class Traffic(threading.Thread):
    """Requests one URL back to back until stopped, recording each answer's snapshot
    version and the number of publishes the test had completed when it was sent."""

    def __init__(self, url: str) -> None:
        super().__init__(name="traffic")
        self.url = url
        self.publishes = 0  # raised by the test after each publish
        self.seen: list[tuple[int, str]] = []  # (publishes before the request, version)
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.changed = threading.Condition()

    def run(self) -> None:
        while not self.stop.is_set():
            publishes = self.publishes
            try:
                status, _, body, _ = call(self.url)
                outcome = body["index_version"].split("+")[0] if status == 200 else None
                failure = None if status == 200 else f"{status}: {body}"
            except OSError as error:
                outcome, failure = None, repr(error)
            with self.changed:
                if failure is not None:
                    self.failures.append(failure)
                else:
                    assert outcome is not None
                    self.seen.append((publishes, outcome))
                self.changed.notify_all()

    def answers_after(self, publishes: int, count: int) -> list[str]:
        """The versions of the first ``count`` answers to requests sent after the
        ``publishes``-th publish (waits for them; a failure ends the wait)."""

        def ready() -> bool:
            return bool(self.failures) or len(self._since(publishes)) >= count

        with self.changed:
            # A guard against a hang, not a timing assumption: what arrives is checked.
            assert self.changed.wait_for(ready, timeout=300), "no answers from the server"
            assert not self.failures, self.failures[:5]
            return self._since(publishes)[:count]

    def _since(self, publishes: int) -> list[str]:
        return [version for n, version in self.seen if n == publishes]


def test_serving_never_fails_while_upserts_arrive_and_two_reindexes_publish(
    bundled_index: Settings, tmp_path: Path
) -> None:
    index_dir = copy_index(bundled_index.index_dir, tmp_path)
    old = SnapshotStore(index_dir).current_version()
    assert old is not None
    key = "reload-test-key"
    auth = {"Authorization": f"Bearer {key}"}
    # Interval 0: every request checks CURRENT, so the first request sent after a
    # publish must be answered from the new snapshot, by whichever worker takes it.
    with running_server(
        index_dir, workers=2, secret=key, api_keys=key, reload_interval="0"
    ) as base:
        traffic = Traffic(f"{base}/v1/articles/{UCHIYAMA}/recommendations?k=3")
        traffic.start()
        published = [old]
        try:
            assert traffic.answers_after(0, 3) == [old] * 3  # traffic flows before
            for n in range(2):
                # A live upsert while the traffic flows, then a reindex publishing
                # over it: neither may fail a request.
                upsert = {
                    "title": f"Stretching after botox, clinic note {n}",
                    "body": "Botulinum toxin injections eased calf spasticity; daily "
                    "stretching kept the range of motion after stroke.",
                }
                status, _, body, _ = call(f"{base}/v1/articles/live-{n}", "PUT", upsert, auth)
                assert status == 201, body
                extra = tmp_path / f"extra-{n}.jsonl"
                record = {
                    "id": f"breaking-news-{n}",
                    "title": f"Botox clinic opens its {n + 1}th site",
                    "body": "Botulinum toxin injections for spasticity after stroke.",
                }
                extra.write_text(json.dumps(record) + "\n")
                command = [*COMMAND, "reindex", str(BUNDLED_CORPUS), str(extra)]
                done = subprocess.run(
                    [*command, "--index-dir", str(index_dir), "--json", "--no-progress"],
                    env=reindex_env(),
                    capture_output=True,
                    text=True,
                )
                assert done.returncode == 0, done.stderr
                published.append(json.loads(done.stdout)["version"])
                traffic.publishes = n + 1
                assert traffic.answers_after(n + 1, 10) == [published[-1]] * 10
            # The upserts outlive the reindexes (the corpus never held them).
            for n in range(2):
                assert call(f"{base}/v1/articles/live-{n}")[0] == 200
        finally:
            # Stop the traffic even when an assertion above fails.
            traffic.stop.set()
            traffic.join()
    assert not traffic.failures, traffic.failures[:5]
    assert len(set(published)) == 3
    # Each answer came from the newest snapshot published when it was asked, or
    # (asked during a reindex) from the one that reindex was publishing.
    order = [published.index(version) for _, version in traffic.seen]
    assert order == sorted(order)
    assert all(n <= index <= n + 1 for (n, _), index in zip(traffic.seen, order, strict=True))
