"""One process holds the embedding model for all of a server's workers.

Each worker that embeds (a ``PUT``, a draft) would otherwise load torch and the
model itself: about 0.4 GB per worker, held for the worker's life
(``docs/benchmarks.md``, memory). The server starts one :class:`EmbeddingProcess`
before its workers; each worker embeds through a :class:`RemoteEmbedder`, which
speaks to it over a Unix socket (``multiprocessing.connection``: pickled messages,
a shared secret checked on connect). Model passes are taken one at a time, with the
threads one worker would have had, so an embedding never takes every core from the
workers' reads.

The protocol is a call and its answer: ``(method, args)`` →
``("ok", value)`` or ``("error", message)``; the methods are the
:class:`~recommender.embedding.Embedder` protocol's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

import numpy as np

from .embedding import Embedder, SentenceTransformerEmbedder, resolve_model
from .errors import ModelUnavailable

log = logging.getLogger(__name__)

#: The calls a worker may make: the Embedder protocol, nothing else.
METHODS = ("encode", "token_spans", "dim", "max_tokens", "ready")


def serve_embeddings(embedder: Embedder, listener: Listener, parent: int | None = None) -> None:
    """Answer calls on ``listener`` with ``embedder`` until the process ``parent``
    (when given) is gone. One thread per connection; model passes one at a time."""
    passes = threading.Lock()

    def answer(connection: Connection) -> None:
        with connection:
            while True:
                try:
                    method, args = connection.recv()
                except (EOFError, OSError):
                    return  # the worker closed or died
                connection.send(_call(embedder, passes, method, args))

    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), name="parent", daemon=True).start()
    while True:
        try:
            connection = listener.accept()
        except (OSError, EOFError, AuthenticationError) as exc:  # a failed handshake
            log.warning("embedding service: refused a connection: %s", exc)
            continue
        threading.Thread(target=answer, args=(connection,), daemon=True).start()


def _call(embedder: Embedder, passes: threading.Lock, method: str, args: tuple[Any, ...]) -> Any:
    if method not in METHODS:
        return ("error", f"unknown call {method!r}")
    try:
        with passes:
            if method == "ready":
                embedder.encode(["warm up"])  # loads the model now, not on a first write
                return ("ok", True)
            attribute = getattr(embedder, method)
            return ("ok", attribute(*args) if callable(attribute) else attribute)
    except Exception as exc:  # the worker raises it as its own typed error
        return ("error", str(exc))


def _exit_with(parent: int) -> None:
    """End this process when ``parent`` is gone (a killed server leaves no orphan)."""
    import time

    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def main() -> None:
    """The service process (started by :class:`EmbeddingProcess`): reads its settings
    as one JSON line on stdin (the secret stays out of the process list), prints
    ``listening`` once its socket accepts connections, then serves until its stdin
    closes or its parent is gone.

    It leaves SIGTERM and SIGINT to the server: a signal to the server's whole
    process group (Ctrl-C in a terminal, a service manager stopping the unit) reaches
    the master too, which ends this process itself, in order, by closing its stdin
    (:meth:`EmbeddingProcess.stop`). Ended by the signal instead, it was seen dead
    by the master's watch, which started it again while the server was stopping.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    told = json.loads(sys.stdin.readline())
    threading.Thread(target=_exit_at_end_of_input, name="stdin", daemon=True).start()
    embedder = SentenceTransformerEmbedder(
        told["model"], batch_size=told["batch_size"], threads=told["threads"]
    )
    key = bytes.fromhex(told["key"])
    try:
        listener = Listener(told["address"], family="AF_UNIX", authkey=key)
    except OSError as exc:  # the server removed the socket's folder: it is stopping
        log.error("embedding process: cannot listen on %s: %s", told["address"], exc)
        sys.exit(1)
    with listener:
        print("listening", flush=True)
        serve_embeddings(embedder, listener, parent=os.getppid())


def _exit_at_end_of_input() -> None:
    """End this process once its stdin closes: the server is stopping it."""
    sys.stdin.read()
    os._exit(0)


#: How the server starts :func:`main`: importing it, rather than running this module
#: as ``__main__`` (``-m``), which the package has imported already (runpy warns).
COMMAND = [sys.executable, "-c", "from recommender.embedding_service import main; main()"]


class EmbeddingProcess:
    """The process that holds the model, started by a server before its workers.

    Args:
        model: the model setting (``RECOMMENDER_MODEL``).
        batch_size: texts per model pass.
        threads: CPU threads of a model pass (None: torch's default).

    Use :meth:`start`, then hand :meth:`client` to each worker; :meth:`watch` starts
    it again if it ends; :meth:`stop` ends it and removes its socket. A plain child
    process (``subprocess``), not a ``multiprocessing`` one: gunicorn's workers are
    forks of the server, and multiprocessing would have each of them reap the
    service as it exits.
    """

    def __init__(self, model: str, batch_size: int, threads: int | None) -> None:
        self.model = model
        self.batch_size = batch_size
        self.threads = threads
        self._folder = Path(tempfile.mkdtemp(prefix="recommender-embed-"))
        self.address = str(self._folder / "socket")
        self._key = secrets.token_bytes(32)
        self._process: subprocess.Popen[str] | None = None
        self._stopping = threading.Event()
        self._starting = threading.Lock()  # the watch's restart against stop()
        self.restarts = 0
        """How many times :meth:`watch` has started the process again."""

    def start(self, timeout: float = 120.0) -> None:
        """Start the process and return once it accepts connections.

        Raises:
            ModelUnavailable: it ended, or did not listen within ``timeout`` seconds.
        """
        try:
            self._spawn(timeout)
        except ModelUnavailable:
            self.stop()
            raise

    def _spawn(self, timeout: float) -> None:
        """Start the process on this object's socket and secret (a dead one's stale
        socket file removed first); on failure, end what was started."""
        Path(self.address).unlink(missing_ok=True)
        process = subprocess.Popen(
            COMMAND,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._process = process
        assert process.stdin is not None and process.stdout is not None
        told = {
            "model": self.model,
            "batch_size": self.batch_size,
            "threads": self.threads,
            "address": self.address,
            "key": self._key.hex(),
        }
        # stdin stays open: closing it is how stop() ends the process (see main).
        process.stdin.write(json.dumps(told) + "\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        line = process.stdout.readline().strip() if ready else ""
        if line != "listening":
            _end(process)
            raise ModelUnavailable(self.model, "the embedding process did not start")
        log.info("embedding process %d listening", process.pid)

    def watch(self, interval: float = 1.0, warm: bool = False) -> threading.Thread:
        """Start the process again whenever it ends (killed for memory, a crash in a
        native library), checking every ``interval`` seconds until :meth:`stop`: a
        daemon thread of the server's master process. Workers reconnect on their
        next call; until the new process listens, their calls answer
        ``ModelUnavailable`` (503 ``model-unavailable``). ``warm``: load the model in
        the new process at once, as workers do at start when writes are possible."""
        thread = threading.Thread(
            target=self._watch, args=(interval, warm), name="embedding-watch", daemon=True
        )
        thread.start()
        return thread

    def _watch(self, interval: float, warm: bool) -> None:
        while not self._stopping.wait(interval):
            with self._starting:
                process = self._process
                if self._stopping.is_set() or process is None or process.poll() is None:
                    continue
                log.warning(
                    "embedding process %d ended (status %s); starting it again",
                    process.pid,
                    process.returncode,
                )
                _end(process)
                try:
                    self._spawn(timeout=120.0)
                except ModelUnavailable as exc:
                    log.error("%s; trying again in %.0f s", exc, interval)
                    continue
                self.restarts += 1
            if warm:
                try:
                    self.client().ready()
                except ModelUnavailable as exc:
                    log.error("embedding process: %s", exc)

    @property
    def pid(self) -> int | None:
        """The process id (None before :meth:`start`)."""
        return self._process.pid if self._process else None

    def client(self) -> RemoteEmbedder:
        """An embedder for one worker (connects on first use)."""
        return RemoteEmbedder(self.model, self.address, self._key)

    def stop(self) -> None:
        """End the process (and the watch) and remove its socket."""
        self._stopping.set()
        with self._starting:
            if self._process is not None:
                _end(self._process)
        shutil.rmtree(self._folder, ignore_errors=True)


def _end(process: subprocess.Popen[str]) -> None:
    """End ``process`` unless it has ended: close its stdin (it exits, see
    :func:`main`), kill it if it has not after 10 s; close the pipe it said
    ``listening`` on."""
    if process.stdin is not None and not process.stdin.closed:
        with contextlib.suppress(OSError):  # it is gone already: the pipe is broken
            process.stdin.close()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


class RemoteEmbedder:
    """An :class:`~recommender.embedding.Embedder` whose model runs in an
    :class:`EmbeddingProcess`.

    Args:
        model: the model setting the process was started with (``model_id`` is
            derived from it here, so loading a snapshot needs no call).
        address: the process's socket.
        key: the secret the process checks.
        connect: how to open a connection (tests); default
            ``multiprocessing.connection.Client``.

    Raises:
        ModelUnavailable: from any call, when the process cannot be reached or its
            model cannot be loaded (the message says which).
    """

    def __init__(
        self,
        model: str,
        address: str,
        key: bytes,
        connect: Callable[[], Connection] | None = None,
    ) -> None:
        self.model = model
        self._model_id = resolve_model(model)[1]
        self._connect = connect or (lambda: Client(address, family="AF_UNIX", authkey=key))
        self._connection: Connection | None = None
        self._lock = threading.Lock()
        self._dim: int | None = None

    @property
    def model_id(self) -> str:
        """The stable model name (the hub id for the packaged copy)."""
        return self._model_id

    @property
    def dim(self) -> int:
        """Vector length of the model (asked once)."""
        if self._dim is None:
            self._dim = int(self._call("dim"))
        return self._dim

    @property
    def max_tokens(self) -> int:
        """The model's window less the two special tokens."""
        return int(self._call("max_tokens"))

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the model's own tokens."""
        return [tuple(span) for span in self._call("token_spans", text)]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; rows are L2-normalised float32."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._call("encode", list(texts)), dtype=np.float32)

    def ready(self) -> None:
        """Wait until the process has loaded its model."""
        self._call("ready")

    def _call(self, method: str, *args: Any) -> Any:
        with self._lock:
            for attempt in (1, 2):  # a process restarted since: connect once more
                try:
                    if self._connection is None:
                        self._connection = self._connect()
                    self._connection.send((method, args))
                    status, value = self._connection.recv()
                    break
                except (OSError, EOFError, AuthenticationError) as exc:
                    self._close()
                    if attempt == 2:
                        raise ModelUnavailable(
                            self.model, f"the embedding process cannot be reached: {exc}"
                        ) from exc
        if status != "ok":
            raise ModelUnavailable(self.model, str(value))
        return value

    def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(OSError):
                self._connection.close()
        self._connection = None


__all__ = ["METHODS", "EmbeddingProcess", "RemoteEmbedder", "serve_embeddings"]


if __name__ == "__main__":
    main()
