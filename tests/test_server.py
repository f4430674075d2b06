"""The real server: gunicorn with two workers on a loopback port, the real model,
every route over HTTP, writes seen by both workers, and schemathesis against
``/openapi.json``."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recommender import Settings

from .servers import Server, call, copy_index, running_server, served

pytestmark = [pytest.mark.real_model, pytest.mark.server]

UCHIYAMA = "botox-intensive-rehab-chronic-stroke"
REVIEW = "botox-review-22-studies-muscle-spasm"
KEY = "server-test-key"


@pytest.fixture(scope="module")
def served_server(
    bundled_index: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    # A copy: this module writes articles, other modules read the bundled index.
    index_dir = copy_index(bundled_index.index_dir, tmp_path_factory.mktemp("served"))
    with served(index_dir, workers=2, api_keys=KEY, reload_interval="0.5") as running:
        yield running
    running.check_log(KEY)


@pytest.fixture(scope="module")
def server(served_server: Server) -> str:
    return served_server.base


def test_every_route_over_http(server: str) -> None:
    assert call(f"{server}/healthz")[:3] == (200, "application/json", {"status": "ok"})
    status, _, ready, _ = call(f"{server}/readyz")
    assert status == 200 and ready["articles"] >= 60
    status, _, body, headers = call(f"{server}/v1/articles/{UCHIYAMA}/related?k=3")
    assert status == 200 and REVIEW in [i["id"] for i in body["items"]]
    assert headers["Cache-Control"].startswith("public") and headers["ETag"]
    assert (
        call(
            f"{server}/v1/articles/{UCHIYAMA}/related?k=3",
            headers={"If-None-Match": headers["ETag"]},
        )[0]
        == 304
    )
    status, _, body, _ = call(f"{server}/v1/articles/{UCHIYAMA}/featured?k=5")
    assert status == 200 and all(i["featured"] for i in body["items"])
    status, _, body, _ = call(f"{server}/v1/articles/{UCHIYAMA}/recommendations?k=3")
    assert status == 200 and body["related"] and body["featured"]
    status, _, body, _ = call(
        f"{server}/v1/recommendations",
        "POST",
        {"title": "Toxin shots for a stiff ankle", "body": "Botulinum toxin eased spasticity."},
    )
    assert status == 200 and {"spasticity"} & {t for i in body["related"] for t in i["tags"]}
    status, _, body, _ = call(f"{server}/v1/articles?limit=5&tag=spasticity")
    assert status == 200 and len(body["items"]) == 5
    assert call(f"{server}/v1/articles/{UCHIYAMA}")[2]["title"].startswith("Botox")
    status, mime, text, _ = call(f"{server}/metrics")
    assert status == 200 and "recommender_http_requests_total" in text
    assert call(f"{server}/openapi.json")[2]["openapi"].startswith("3.1")
    status, mime, body, _ = call(f"{server}/v1/articles/ghost/related")
    assert (status, mime, body["status"]) == (404, "application/problem+json", 404)
    status, mime, body, _ = call(f"{server}/v1/articles/{UCHIYAMA}/related?k=nope")
    assert (status, mime, body["parameter"]) == (400, "application/problem+json", "k")


def test_put_is_seen_by_both_workers_then_delete(server: str) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    article = {
        "title": "Botulinum toxin and stretching ease calf spasticity after stroke",
        "body": "A clinic combined botulinum toxin injections into the calf with daily "
        "stretching and walking practice. Spasticity in the ankle eased and people "
        "with chronic stroke walked further in six minutes.",
        "tags": ["spasticity", "botulinum-toxin"],
    }
    status, _, body, _ = call(f"{server}/v1/articles/new-botox-clinic", "PUT", article, auth)
    assert status == 201, body
    # Every call checks the live changes' sequence number, so from the first request
    # on, whichever worker takes a fresh connection must answer with the new article.
    for _ in range(20):
        status, _, body, _ = call(f"{server}/v1/articles/{UCHIYAMA}/related?k=10")
        assert "new-botox-clinic" in [i["id"] for i in body["items"]], body
        status, _, body, _ = call(f"{server}/v1/articles/new-botox-clinic/related?k=3")
        assert status == 200 and body["items"][0]["id"].startswith("botox"), body
    assert call(f"{server}/v1/articles/new-botox-clinic", "DELETE", headers=auth)[0] == 204
    for _ in range(20):
        status, _, body, _ = call(f"{server}/v1/articles/{UCHIYAMA}/related?k=10")
        assert "new-botox-clinic" not in [i["id"] for i in body["items"]]
        assert call(f"{server}/v1/articles/new-botox-clinic")[0] == 404


def test_a_pin_is_served_by_both_workers(server: str) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    url = f"{server}/v1/articles/{UCHIYAMA}/rules"
    pinned = "returning-to-driving-after-stroke"
    status, _, body, _ = call(url, "PUT", {"pins": [{"article_id": pinned, "position": 1}]}, auth)
    assert status == 200 and body["pins"] == [{"article_id": pinned, "position": 1}], body
    for _ in range(10):  # fresh connections reach both workers
        items = call(f"{server}/v1/articles/{UCHIYAMA}/related?k=3")[2]["items"]
        assert items[0]["id"] == pinned and items[0]["explanation"]["rule"] == "pinned"
    assert call(url, "DELETE", headers=auth)[0] == 204
    for _ in range(10):
        items = call(f"{server}/v1/articles/{UCHIYAMA}/related?k=3")[2]["items"]
        assert pinned not in [i["id"] for i in items]
    assert call(url)[0] == 401


def test_schemathesis_finds_no_server_error_or_schema_violation(server: str) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_url(f"{server}/openapi.json")
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    failures: list[str] = []
    calls: list[int] = []

    def exercise(operation: Any) -> None:
        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            calls.append(1)
            case.call_and_validate(
                base_url=server,
                headers={"Authorization": f"Bearer {KEY}"},
                checks=checks,
                timeout=60,
            )

        try:
            check()
        except AssertionError as error:  # keep testing the other operations
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")

    for operation in operations:
        exercise(operation)
    assert not failures, "\n\n".join(failures)
    assert len(calls) >= 5 * len(operations)  # the checks really ran


def test_served_server_log_is_clean(server: str, bundled_index: Settings) -> None:
    # Written while the server runs; the fixture's teardown checks the whole log.
    assert Path(bundled_index.index_dir).exists()


def test_ids_default_k_template_and_schedule_over_real_http(
    bundled_index: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """One server with RECOMMENDER_DEFAULT_K and RECOMMENDER_URL_TEMPLATE set: a tag-URI
    id written, read, listed and excluded over real HTTP, and scheduled articles shown
    only once due (the real clock: one long past, one far ahead)."""
    from urllib.parse import quote

    index_dir = copy_index(bundled_index.index_dir, tmp_path_factory.mktemp("details"))
    tag_id = "tag:news.example.org,2025:botox-note"
    auth = {"Authorization": f"Bearer {KEY}"}
    text = (
        "Botulinum toxin injections eased spasticity in the calf after a stroke, and "
        "intensive rehabilitation made the gain last."
    )
    with running_server(
        index_dir,
        workers=1,
        secret=KEY,
        api_keys=KEY,
        default_k="3",
        url_template="https://news.example.org/notes/{id}",
    ) as base:
        status, _, body, _ = call(f"{base}/v1/articles/{UCHIYAMA}/related")
        assert status == 200 and len(body["items"]) == 3
        status, _, body, _ = call(f"{base}/v1/articles/{UCHIYAMA}/recommendations")
        assert (len(body["related"]), len(body["featured"])) == (3, 3)
        path = f"{base}/v1/articles/{quote(tag_id, safe='')}"
        note = {"title": "Botox and rehab: a note", "body": text, "tags": ["spasticity"]}
        assert call(path, "PUT", note, auth)[0] == 201
        status, _, body, _ = call(path)
        assert (status, body["id"]) == (200, tag_id)
        assert (
            body["url"]
            == "https://news.example.org/notes/tag%3Anews.example.org%2C2025%3Abotox-note"
        )
        assert call(f"{path}/related")[0] == 200
        listed = call(f"{base}/v1/articles/{UCHIYAMA}/related?k=50")[2]["items"]
        assert tag_id in [i["id"] for i in listed]
        for exclude in (quote(tag_id, safe=""), tag_id, f"{quote(tag_id, safe='')}&exclude=x"):
            shown = call(f"{base}/v1/articles/{UCHIYAMA}/related?k=50&exclude={exclude}")[2]
            assert tag_id not in [i["id"] for i in shown["items"]]
        # Different texts: identical ones would be hidden as near-duplicates of the note.
        scheduled_notes = {
            "due-note": (
                "2020-01-01",
                "Daily calf stretching after toxin shots kept spasticity low.",
            ),
            "later-note": ("2999-01-01", "Clinics now pair botox with walking practice."),
        }
        for article_id, (published, body) in scheduled_notes.items():
            scheduled = {**note, "body": body, "status": "scheduled", "published": published}
            assert call(f"{base}/v1/articles/{article_id}", "PUT", scheduled, auth)[0] == 201
        ids = [i["id"] for i in call(f"{base}/v1/articles/{UCHIYAMA}/related?k=50")[2]["items"]]
        assert "due-note" in ids and "later-note" not in ids


@pytest.mark.parametrize(
    ("cores", "workers", "asked", "threads"),
    [(2, 2, 0, 1), (8, 2, 0, 4), (1, 4, 0, 1), (8, 2, 3, 3)],
)
def test_a_model_pass_in_the_server_takes_one_workers_share_of_the_cores(
    cores: int, workers: int, asked: int, threads: int
) -> None:
    from service.server import for_workers

    settings = Settings(workers=workers, encode_threads=asked)
    assert for_workers(settings, cores).encode_threads == threads


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _maps_torch(pid: int) -> bool:
    return "libtorch_cpu" in Path(f"/proc/{pid}/maps").read_text()


def test_one_process_holds_the_model_for_both_workers(served_server: Server) -> None:
    base, auth = served_server.base, {"Authorization": f"Bearer {KEY}"}
    article = {"title": "Mirror therapy for a weak hand", "body": "Mirror therapy helped."}
    assert call(f"{base}/v1/articles/one-model-note", "PUT", article, auth)[0] == 201
    for _ in range(6):  # drafts embed too; fresh connections reach both workers
        status, _, body, _ = call(f"{base}/v1/recommendations", "POST", article)
        assert status == 200 and body["related"], body
    assert call(f"{base}/v1/articles/one-model-note", "DELETE", headers=auth)[0] == 204
    children = _children(served_server.process.pid)
    holding = [pid for pid in children if _maps_torch(pid)]
    assert len(holding) == 1, children
    spawned = Path(f"/proc/{holding[0]}/cmdline").read_bytes()
    assert b"recommender.embedding_service" in spawned  # not a worker
    workers = [
        pid for pid in children if b"recommender.cli" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert len(workers) == 2 and not any(_maps_torch(pid) for pid in workers)


def _embedding_process(server: Server) -> int | None:
    for pid in _children(server.process.pid):
        try:
            if b"recommender.embedding_service" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:  # it ended while we looked
            continue
    return None


def test_a_killed_embedding_process_is_started_again(served_server: Server) -> None:
    """Killed (as the kernel does for memory), the process that holds the model is
    started again by the server; the workers' next PUT and draft embed through it."""
    base, auth = served_server.base, {"Authorization": f"Bearer {KEY}"}
    first = _embedding_process(served_server)
    assert first is not None
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while (second := _embedding_process(served_server)) in {None, first} or (
        f"embedding process {second} listening" not in served_server.log_path.read_text()
    ):
        assert time.monotonic() < deadline, "the embedding process was not started again"
        time.sleep(0.05)
    article = {"title": "Gait training after a stroke", "body": "Treadmill gait training."}
    assert call(f"{base}/v1/articles/restart-note", "PUT", article, auth)[0] == 201
    for _ in range(4):  # fresh connections reach both workers
        status, _, body, _ = call(f"{base}/v1/recommendations", "POST", article)
        assert status == 200 and body["related"], body
    assert call(f"{base}/v1/articles/restart-note", "DELETE", headers=auth)[0] == 204
    assert "starting it again" in served_server.log_path.read_text()


def test_a_signal_to_the_whole_server_stops_it_cleanly(
    bundled_index: Settings, tmp_path: Path
) -> None:
    """A service manager stopping the unit signals every process of the server at
    once. The master ends the embedding process itself: it is not started again as
    the server stops, and nothing is logged but the shutdown. (SIGINT, Ctrl-C, is
    gunicorn's quick shutdown: it aborts a request in flight, with a traceback, so
    the embedding process's part of it is tested in test_embedding_service.py.)"""
    index_dir = copy_index(bundled_index.index_dir, tmp_path)
    with served(index_dir, workers=2, api_keys=KEY) as running:
        embedding = _embedding_process(running)
        assert embedding is not None
        os.killpg(running.process.pid, signal.SIGTERM)
        assert running.process.wait(timeout=60) == 0
    log = running.log_path.read_text()
    assert "Shutting down: Master" in log
    assert (
        "starting it again" not in log
        and "embedding process" not in log.split("Handling signal")[-1]
    ), log
    assert not Path(f"/proc/{embedding}").exists() or _zombie(embedding)
    running.check_log(KEY)
    assert "RuntimeWarning" not in log, log


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has ended and waits to be reaped (its parent may be gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
