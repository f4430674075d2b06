"""Two hosts, one state: two real servers (gunicorn, two workers each) with
different working directories share only a PostgreSQL database and a snapshot
directory, and behave as one; one of them dies by ``kill -9`` in the middle of
writes and loses nothing it acknowledged; PostgreSQL stops under a running server.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recommender import Settings
from recommender.postgres import AdvisoryLock, Connections, close_all

from .conftest import BUNDLED_CORPUS
from .postgres import started_or_skip
from .servers import COMMAND, call, served

pytestmark = [pytest.mark.real_model, pytest.mark.server, pytest.mark.postgres]

KEY = "multi-host-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
UCHIYAMA = "botox-intensive-rehab-chronic-stroke"
PINNED = "returning-to-driving-after-stroke"


def recommender(*args: str, url: str, index_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI against the shared state."""
    env = {
        "PATH": "/usr/bin:/bin",
        "RECOMMENDER_DATABASE_URL": url,
        "RECOMMENDER_INDEX_DIR": str(index_dir),
        "HF_HUB_OFFLINE": "1",
    }
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, env=env, check=False)


def shared_state(bundled: Path, url: str, root: Path) -> Path:
    """A snapshot directory every "host" reads, and the bundled index's SQLite
    state moved into PostgreSQL with `recommender db migrate-from-sqlite`."""
    shared = root / "shared" / "index"
    shutil.copytree(bundled, shared)
    done = recommender("db", "migrate-from-sqlite", url=url, index_dir=shared)
    assert done.returncode == 0, done.stderr
    assert "published 1" in done.stdout and "embeddings" in done.stdout
    files = ("live.sqlite", "rules.sqlite", "jobs.sqlite", "embeddings.sqlite", "events.sqlite")
    for name in ("CURRENT", *files):
        (shared / name).unlink(missing_ok=True)  # from now on PostgreSQL is the state
    return shared


def related_ids(base: str, article_id: str = UCHIYAMA, k: int = 10) -> list[str]:
    status, _, body, _ = call(f"{base}/v1/articles/{article_id}/related?k={k}")
    assert status == 200, body
    return [item["id"] for item in body["items"]]


def article(n: int) -> dict[str, Any]:
    return {
        "title": f"Calf spasticity clinic report {n}",
        "body": f"Report {n}: botulinum toxin injections and stretching eased ankle spasticity.",
        "tags": ["spasticity"],
    }


@pytest.fixture
def hosts(
    bundled_index: Settings, postgres_url: str, tmp_path: Path
) -> Iterator[tuple[Any, Any, Path]]:
    shared = shared_state(bundled_index.index_dir, postgres_url, tmp_path)
    settings = {
        "database_url": postgres_url,
        "api_keys": KEY,
        "sources": str(BUNDLED_CORPUS),
        "reload_interval": "0.5",
    }
    (tmp_path / "host-a").mkdir()
    (tmp_path / "host-b").mkdir()
    with (
        served(shared, cwd=tmp_path / "host-a", **settings) as a,
        served(shared, cwd=tmp_path / "host-b", **settings) as b,
    ):
        yield a, b, shared
    close_all()


def test_writes_on_one_host_are_served_by_the_other(hosts: tuple[Any, Any, Path]) -> None:
    a, b, _ = hosts
    # Every request checks the shared change counters: the very next read on the
    # other host answers with the change, on whichever worker takes it.
    status, _, body, _ = call(f"{a.base}/v1/articles/clinic-1", "PUT", article(1), AUTH)
    assert status == 201, body
    for _ in range(6):
        status, _, body, _ = call(f"{b.base}/v1/articles/clinic-1")
        assert status == 200 and body["title"] == article(1)["title"], body
        assert related_ids(b.base, "clinic-1", k=3)
    assert call(f"{b.base}/v1/articles/clinic-1", "DELETE", headers=AUTH)[0] == 204
    for _ in range(6):
        assert call(f"{a.base}/v1/articles/clinic-1")[0] == 404

    rules = {"pins": [{"article_id": PINNED, "position": 1}]}
    status, _, body, _ = call(f"{a.base}/v1/articles/{UCHIYAMA}/rules", "PUT", rules, AUTH)
    assert status == 200, body
    for _ in range(6):
        assert related_ids(b.base, k=3)[0] == PINNED
    blocked = related_ids(a.base, k=3)[1]
    rules = {"pins": [{"article_id": PINNED, "position": 1}], "blocks": [blocked]}
    assert call(f"{b.base}/v1/articles/{UCHIYAMA}/rules", "PUT", rules, AUTH)[0] == 200
    for _ in range(6):
        assert blocked not in related_ids(a.base)
    excluded = related_ids(b.base, k=3)[1]
    assert call(f"{a.base}/v1/rules/excludes", "PUT", {"ids": [excluded]}, AUTH)[0] == 200
    for _ in range(6):
        assert excluded not in related_ids(b.base)
    # The audit log is one log, whichever host took the change.
    status, _, body, _ = call(f"{b.base}/v1/articles/{UCHIYAMA}/rules", headers=AUTH)
    assert status == 200 and body["blocks"] == [blocked], body


BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"


def send_events(base: str, *events: dict[str, Any]) -> None:
    headers = {"User-Agent": BROWSER}  # urllib's own is a bot's: counted as nothing
    status, _, body, _ = call(f"{base}/v1/events", "POST", {"events": list(events)}, headers)
    assert (status, body) == (202, {"counted": len(events)})


def shown_here(base: str) -> dict[str, tuple[float, float]]:
    status, _, body, _ = call(f"{base}/v1/articles/{UCHIYAMA}/events", headers=AUTH)
    assert status == 200, body
    # Decay between the writes and this read is far below the rounding.
    return {
        row["shown"]: (round(row["impressions"], 3), round(row["clicks"], 3))
        for row in body["shown_here"]
    }


def test_events_sent_to_both_hosts_are_counted_once_each(hosts: tuple[Any, Any, Path]) -> None:
    a, b, _ = hosts
    x, y = related_ids(a.base, k=2)
    seen = {"type": "impression", "source": UCHIYAMA, "block": "related"}
    send_events(
        a.base, {**seen, "items": [{"shown": x, "position": 1}, {"shown": y, "position": 2}]}
    )
    clicked = {"type": "click", "source": UCHIYAMA, "block": "related", "shown": x, "position": 1}
    send_events(b.base, {**seen, "items": [{"shown": x, "position": 1}]}, clicked)
    assert shown_here(a.base) == shown_here(b.base) == {x: (2.0, 1.0), y: (1.0, 0.0)}

    # Both hosts' workers adding to the same rows at once lose no event.
    def flood(base: str) -> None:
        for _ in range(10):
            send_events(base, clicked)

    threads = [threading.Thread(target=flood, args=(host.base,)) for host in (a, b, a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert shown_here(b.base) == {x: (2.0, 41.0), y: (1.0, 0.0)}


def test_a_reindex_is_one_job_and_one_lock_across_hosts(
    hosts: tuple[Any, Any, Path], postgres_url: str
) -> None:
    a, b, shared = hosts
    # Another host's build holds the lock: neither server starts a reindex, and
    # the CLI anywhere gets the lock error (exit 3).
    other_host = AdvisoryLock(Connections(postgres_url), purpose="reindex")
    other_host.acquire()
    try:
        for server in (a, b):
            status, mime, body, _ = call(f"{server.base}/v1/admin/reindex", "POST", {}, AUTH)
            assert (status, mime) == (409, "application/problem+json"), body
        done = recommender("index", str(BUNDLED_CORPUS), url=postgres_url, index_dir=shared)
        assert done.returncode == 3, done.stderr
        assert "reindex by pid" in done.stderr
    finally:
        other_host.release()

    status, _, body, _ = call(f"{a.base}/v1/admin/reindex", "POST", {"full": True}, AUTH)
    assert status == 202, body
    job_url = body["url"]
    # The job runs on host A; host B reports it, and refuses a second one meanwhile
    # or, if it has finished, sees it done.
    status, _, job, _ = call(f"{b.base}{job_url}", headers=AUTH)
    assert status == 200 and job["id"] == body["job_id"], job
    if job["state"] in ("queued", "running"):
        assert call(f"{b.base}/v1/admin/reindex", "POST", {}, AUTH)[0] == 409
    while job["state"] in ("queued", "running"):  # ends when the build does
        job = call(f"{b.base}{job_url}", headers=AUTH)[2]
    assert job["state"] == "done", job
    assert job["summary"]["published"] is True


def test_kill_9_during_writes_loses_no_acknowledged_write(
    hosts: tuple[Any, Any, Path],
) -> None:
    a, b, _ = hosts
    acknowledged: list[str] = []
    enough = threading.Event()

    def write() -> None:
        for n in range(200):
            try:
                status = call(f"{a.base}/v1/articles/stream-{n}", "PUT", article(n), AUTH)[0]
            except OSError:  # the server is gone
                return
            if status == 201:
                acknowledged.append(f"stream-{n}")
            if len(acknowledged) == 8:
                enough.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert enough.wait(300)
    a.kill()  # the master and both workers, mid-stream
    writer.join(300)
    assert len(acknowledged) >= 8
    for article_id in acknowledged:
        status, _, body, _ = call(f"{b.base}/v1/articles/{article_id}")
        assert status == 200, (article_id, body)
    b.check_log(KEY)


def test_reads_go_on_while_postgresql_is_down_and_writes_return_after(
    bundled_index: Settings, tmp_path: Path
) -> None:
    database = started_or_skip()  # its own cluster: this test stops it
    try:
        url = database.create_database("outage")
        shared = shared_state(bundled_index.index_dir, url, tmp_path)
        settings = {"database_url": url, "api_keys": KEY, "database_timeout": "1"}
        rules_url = f"{UCHIYAMA}/rules"
        pinned = {"pins": [{"article_id": PINNED, "position": 1}]}
        # One worker: once it has answered, it has loaded everything it serves from
        # (a worker still starting when the database goes away answers 503).
        with served(shared, workers=1, **settings) as server:
            assert call(f"{server.base}/v1/articles/{rules_url}", "PUT", pinned, AUTH)[0] == 200
            assert related_ids(server.base, k=3)[0] == PINNED
            database.stop_server()
            for _ in range(6):  # reads: the loaded snapshot and the last known rules
                assert related_ids(server.base, k=3)[0] == PINNED
            for _ in range(2):
                status, mime, body, _ = call(
                    f"{server.base}/v1/articles/{rules_url}", "DELETE", headers=AUTH
                )
                assert (status, mime, body["type"]) == (
                    503,
                    "application/problem+json",
                    "/problems/state-unavailable",
                ), body
                assert "unreachable" in body["detail"]
            status, mime, body, _ = call(f"{server.base}/v1/articles/x", "PUT", article(0), AUTH)
            assert (status, mime) == (503, "application/problem+json"), body
            database.start_server()
            # No restart: the next write reconnects.
            assert call(f"{server.base}/v1/articles/{rules_url}", "DELETE", headers=AUTH)[0] == 204
            assert PINNED not in related_ids(server.base, k=3)[:1]
            server.check_log(KEY)
    finally:
        close_all()
        database.stop()
