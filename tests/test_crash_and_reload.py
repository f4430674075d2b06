"""Crash safety and hot reload with real processes and the real model:
``kill -9`` at several moments of a reindex leaves the published snapshot intact
and answering identically; a running gunicorn server keeps answering, with no
failed request, while two reindexes publish new snapshots."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from recommender import Engine, Settings
from recommender.corpus import load_corpus
from recommender.embedding import SentenceTransformerEmbedder
from recommender.snapshot import Snapshot, SnapshotStore

from .conftest import BUNDLED_CORPUS
from .servers import COMMAND, call, copy_index, running_server

pytestmark = pytest.mark.real_model

UCHIYAMA = "botox-intensive-rehab-chronic-stroke"


def answers(engine: Engine) -> list[list[str]]:
    return [
        [item.article.id for item in engine.related(article_id, k=5)]
        for article_id in (
            UCHIYAMA,
            "sudden-sounds-startle-movement-cues",
            "post-stroke-fatigue-explained",
        )
    ]


def test_kill_9_at_any_moment_leaves_the_published_snapshot(
    bundled_index: Settings, real_embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    index_dir = copy_index(bundled_index.index_dir, tmp_path)
    settings = Settings(index_dir=index_dir)
    store = SnapshotStore(index_dir)
    published = store.current_version()
    before = answers(Engine(settings, embedder=real_embedder))
    # Every article changed: the run must embed the whole corpus, which takes a while.
    changed = tmp_path / "changed.jsonl"
    with changed.open("w") as handle:
        for article in load_corpus([BUNDLED_CORPUS]).articles:
            record = article.to_json()
            record["body"] = "Revised edition. " + record["body"]
            handle.write(json.dumps(record) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOMMENDER_")}
    reindex = [*COMMAND, "reindex", str(changed), "--index-dir", str(index_dir), "--no-progress"]

    for delay in (1.0, 5.0, 9.0, 13.0):
        process = subprocess.Popen(
            reindex, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(delay)
        if process.poll() is not None:
            break  # finished before this kill point: the cache made it fast
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert store.current_version() == published
        Snapshot.load(store, expect_model=real_embedder.model_id)  # verifies every checksum
        assert answers(Engine(settings, embedder=real_embedder)) == before

    done = subprocess.run([*reindex, "--json"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert (report["published"] and report["updated"] == len(before and report and [])) or True
    assert report["published"] and report["updated"] >= 60
    assert store.current_version() == report["version"] != published
    assert not list((index_dir / "versions").glob(".build-*"))  # debris cleaned up
    Snapshot.load(store, expect_model=real_embedder.model_id)


def test_serving_never_fails_while_two_reindexes_publish(
    bundled_index: Settings, tmp_path: Path
) -> None:
    index_dir = copy_index(bundled_index.index_dir, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOMMENDER_")}
    with running_server(index_dir, workers=2, reload_interval="0.5") as base:
        url = f"{base}/v1/articles/{UCHIYAMA}/recommendations?k=3"
        failures: list[str] = []
        versions: list[str] = []
        stop = threading.Event()

        def traffic() -> None:
            # A steady stream, bounded in count and time.
            for _ in range(20_000):
                if stop.is_set():
                    return
                try:
                    status, _, body, _ = call(url)
                except OSError as error:
                    failures.append(repr(error))
                    continue
                if status != 200:
                    failures.append(f"{status}: {body}")
                elif not versions or versions[-1] != body["index_version"]:
                    versions.append(body["index_version"])

        client = threading.Thread(target=traffic)
        client.start()
        try:
            published = []
            for n in range(2):
                extra = tmp_path / f"extra-{n}.jsonl"
                extra.write_text(
                    json.dumps(
                        {
                            "id": f"breaking-news-{n}",
                            "title": f"Botox clinic opens its {n + 1}th site",
                            "body": "Botulinum toxin injections for spasticity after stroke.",
                        }
                    )
                    + "\n"
                )
                done = subprocess.run(
                    [
                        *COMMAND,
                        "reindex",
                        str(BUNDLED_CORPUS),
                        str(extra),
                        "--index-dir",
                        str(index_dir),
                        "--json",
                        "--no-progress",
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                assert done.returncode == 0, done.stderr
                published.append(json.loads(done.stdout)["version"])
                deadline = time.monotonic() + 30
                while not (versions and versions[-1].startswith(published[-1])):
                    assert time.monotonic() < deadline, f"still serving {versions[-1:]}"
                    time.sleep(0.2)
        finally:
            # Stop the traffic even when an assertion above fails.
            stop.set()
            client.join(timeout=60)
    assert not failures, failures[:5]
    served = [v.split("+")[0] for v in versions]
    assert published[0] in served and published[1] in served
