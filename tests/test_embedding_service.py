"""One process holds the model for a server's workers: the calls a worker makes go
over a real Unix socket to :func:`serve_embeddings` (here in a thread, with the fake
model) and give what the model itself gives; every failure is a ModelUnavailable."""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Client, Listener
from pathlib import Path

import numpy as np
import pytest

from recommender import EmbeddingProcess, ModelUnavailable, RemoteEmbedder
from recommender.embedding_service import serve_embeddings

from .fakes import FakeEmbedder

KEY = secrets.token_bytes(32)


class Failing(FakeEmbedder):
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        raise RuntimeError("no weights here")


def _serving(embedder: FakeEmbedder, address: str) -> None:
    listener = Listener(address, family="AF_UNIX", authkey=KEY)
    threading.Thread(target=serve_embeddings, args=(embedder, listener), daemon=True).start()


@pytest.fixture
def address(tmp_path: Path) -> Iterator[str]:
    yield str(tmp_path / "socket")


def test_remote_calls_give_what_the_model_gives(address: str) -> None:
    model = FakeEmbedder()
    _serving(model, address)
    remote = RemoteEmbedder("packaged:all-MiniLM-L6-v2", address, KEY)
    texts = ["aphasia after stroke", "sleep apnea at night", ""]
    assert np.array_equal(remote.encode(texts), model.encode(texts))
    assert remote.encode(texts).dtype == np.float32
    assert remote.dim == model.dim and remote.max_tokens == model.max_tokens
    assert remote.token_spans("mirror therapy helps") == model.token_spans("mirror therapy helps")
    assert remote.encode([]).shape == (0, model.dim)
    remote.ready()  # the model answers a pass
    # The id comes from the setting, as the local embedder's does: no call needed.
    assert remote.model_id == "sentence-transformers/all-MiniLM-L6-v2"


def test_two_clients_share_one_model(address: str) -> None:
    model = FakeEmbedder()
    _serving(model, address)
    first, second = (RemoteEmbedder("m", address, KEY) for _ in range(2))
    assert np.array_equal(first.encode(["a b"]), second.encode(["a b"]))


def test_a_model_that_fails_is_a_model_unavailable_naming_why(address: str) -> None:
    _serving(Failing(), address)
    remote = RemoteEmbedder("my-model", address, KEY)
    with pytest.raises(ModelUnavailable, match=r"my-model.*no weights here"):
        remote.encode(["text"])
    assert remote.dim == 64  # the connection still serves


def test_no_service_is_a_model_unavailable(address: str) -> None:
    remote = RemoteEmbedder("my-model", address, KEY)
    with pytest.raises(ModelUnavailable, match="cannot be reached"):
        remote.encode(["text"])


def test_a_wrong_key_is_refused_and_the_service_goes_on(address: str) -> None:
    _serving(FakeEmbedder(), address)
    with pytest.raises(ModelUnavailable, match="cannot be reached"):
        RemoteEmbedder("m", address, b"not the key").encode(["x"])
    assert RemoteEmbedder("m", address, KEY).dim == 64


def test_only_the_embedder_calls_are_answered(address: str) -> None:
    _serving(FakeEmbedder(), address)
    with Client(address, family="AF_UNIX", authkey=KEY) as connection:
        connection.send(("__class__", ()))
        assert connection.recv() == ("error", "unknown call '__class__'")


def _until(condition: Callable[[], bool], what: str, limit: float = 120.0) -> None:
    """Wait for ``condition`` (a process to start), failing after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.05)


@pytest.mark.real_model
def test_a_watched_embedding_process_that_dies_is_started_again() -> None:
    """The server's master watches the process: killed (as the kernel does for
    memory), it is started again on the same socket and secret, and a worker's
    embedder reconnects on its next call; after stop() nothing restarts it."""
    process = EmbeddingProcess("packaged:all-MiniLM-L6-v2", batch_size=8, threads=1)
    process.start()
    try:
        process.watch(interval=0.05)
        worker = process.client()
        before = worker.encode(["mirror therapy"])
        first = process.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        _until(lambda: process.restarts == 1, "the restart")
        assert process.pid != first
        assert np.allclose(worker.encode(["mirror therapy"]), before, atol=1e-6)
        assert process.restarts == 1
    finally:
        process.stop()
    assert process._process is not None and process._process.poll() is not None
    assert not Path(process.address).parent.exists()
    time.sleep(0.2)  # several watch intervals: a stopped process stays stopped
    assert process.restarts == 1


@pytest.mark.real_model
def test_the_embedding_process_leaves_sigterm_and_sigint_to_the_server() -> None:
    """A signal to the server's whole process group reaches the embedding process
    too; it keeps serving until the server ends it (stop() closes its stdin)."""
    process = EmbeddingProcess("packaged:all-MiniLM-L6-v2", batch_size=8, threads=1)
    process.start()
    try:
        pid = process.pid
        assert pid is not None
        os.kill(pid, signal.SIGTERM)
        os.kill(pid, signal.SIGINT)
        worker = process.client()
        assert worker.encode(["mirror therapy"]).shape == (1, worker.dim)
        assert process.pid == pid and process._process is not None
        assert process._process.poll() is None
    finally:
        process.stop()
    assert process._process.poll() is not None and process.restarts == 0
