"""Running the real server in tests: gunicorn on a free loopback port over a copy
of an index, and a small HTTP client that never raises on error statuses."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

COMMAND = [sys.executable, "-m", "recommender.cli"]


# The line the server logs once its socket is bound (service/server.py, when_ready).
SERVING = re.compile(r"serving on http://127\.0\.0\.1:(\d+) ")


def call(
    url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, str, Any, dict[str, str]]:
    """(status, content type, parsed body, headers) of one request."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            status, mime, head = (
                response.status,
                response.headers.get_content_type(),
                response.headers,
            )
    except urllib.error.HTTPError as error:
        raw = error.read()
        status, mime, head = error.code, error.headers.get_content_type(), error.headers
    parsed = json.loads(raw) if raw and "json" in mime else raw.decode()
    return status, mime, parsed, dict(head)


def cli_json(index_dir: Path, *args: str) -> Any:
    """Run ``recommender ARGS --index-dir INDEX_DIR`` (no RECOMMENDER_* variables) and
    return its JSON output; fails the test if the command fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOMMENDER_")}
    done = subprocess.run(
        [*COMMAND, *args, "--index-dir", str(index_dir)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections for as long as the block runs.

    The socket is bound but never listens: connecting gets "connection refused",
    and no other process can start listening on the port meanwhile (a port merely
    found free could be taken by another test run before we use it).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def copy_index(source: Path, target_parent: Path) -> Path:
    """A private copy of an index directory (tests that write must not share one)."""
    target = target_parent / "index"
    shutil.copytree(source, target)
    return target


@contextmanager
def running_server(
    index_dir: Path,
    workers: int = 2,
    secret: str | None = None,
    cwd: Path | None = None,
    **settings: str,
) -> Iterator[str]:
    """`recommender serve` on a port of its own until the block ends; yields the base URL.

    The server binds port 0, so the kernel gives it a free port that no other
    process can take between our choice and its bind (a port picked here and
    handed over could be, by another test run on the machine). We read the port
    from the line the server logs once it is bound, then wait for ``/readyz``.

    ``settings`` become ``RECOMMENDER_<NAME>`` variables; ``cwd`` is the server's
    working directory. On exit the server log must hold no traceback and, if
    given, never the ``secret``.
    """
    with served(index_dir, workers, cwd, **settings) as server:
        yield server.base
    server.check_log(secret)


class Server:
    """A running `recommender serve` (gunicorn: a master and its workers, in a
    process group of their own)."""

    def __init__(self, process: subprocess.Popen[bytes], base: str, log_path: Path) -> None:
        self.process = process
        self.base = base
        self.log_path = log_path

    def kill(self) -> None:
        """``kill -9`` the master and every worker at once, as a lost host would die."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def check_log(self, secret: str | None = None) -> None:
        """The server log holds no traceback and never ``secret``."""
        output = self.log_path.read_text()
        assert "Traceback" not in output, output
        if secret:
            assert secret not in output  # keys are never logged


@contextmanager
def served(
    index_dir: Path, workers: int = 2, cwd: Path | None = None, **settings: str
) -> Iterator[Server]:
    """Like :func:`running_server`, yielding the :class:`Server` (to kill it) and
    leaving the log to the caller."""
    # Each server makes (and at exit removes) a metrics directory of its own: one
    # inherited from this process would be shared, and removed under the others.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RECOMMENDER_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env["RECOMMENDER_INDEX_DIR"] = str(index_dir)
    env.update({f"RECOMMENDER_{name.upper()}": value for name, value in settings.items()})
    handle, name = tempfile.mkstemp(prefix="server-", suffix=".log", dir=index_dir.parent)
    log_path = Path(name)
    with os.fdopen(handle, "w") as log:
        process = subprocess.Popen(
            [*COMMAND, "serve", "--port", "0", "--workers", str(workers)],
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill() reaches the workers
        )
        base = f"http://127.0.0.1:{_bound_port(process, log_path)}"
        # A guard, not a timing assumption: a connection made before a worker is
        # up waits in the socket's backlog, so /readyz answers once the app is loaded.
        deadline = time.monotonic() + 90
        while not _ready(base):
            if process.poll() is not None or time.monotonic() > deadline:
                _fail(process, "server did not become ready", log_path)
            time.sleep(0.2)
        try:
            yield Server(process, base, log_path)
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


def _bound_port(process: subprocess.Popen[bytes], log_path: Path) -> int:
    """The port the server logged once bound; fails the test if it exits first."""
    deadline = time.monotonic() + 90  # a guard against a hung start, never reached normally
    while (found := SERVING.search(log_path.read_text())) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            _fail(process, "server did not bind a port", log_path)
        time.sleep(0.1)
    return int(found.group(1))


def _ready(base: str) -> bool:
    try:
        return call(base + "/readyz")[0] == 200
    except OSError:  # the server died with our connection in its backlog
        return False


def _fail(process: subprocess.Popen[bytes], why: str, log_path: Path) -> NoReturn:
    process.kill()
    process.wait()
    pytest.fail(f"{why}: {log_path.read_text()}")
