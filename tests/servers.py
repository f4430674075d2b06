"""Running the real server in tests: gunicorn on a free loopback port over a copy
of an index, and a small HTTP client that never raises on error statuses."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

COMMAND = [sys.executable, "-m", "recommender.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def copy_index(source: Path, target_parent: Path) -> Path:
    """A private copy of an index directory (tests that write must not share one)."""
    target = target_parent / "index"
    shutil.copytree(source, target)
    return target


@contextmanager
def running_server(
    index_dir: Path, workers: int = 2, secret: str | None = None, **settings: str
) -> Iterator[str]:
    """`recommender serve` on a free port until the block ends; yields the base URL.

    ``settings`` become ``RECOMMENDER_<NAME>`` variables. On exit the server log
    must hold no traceback and, if given, never the ``secret``.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOMMENDER_")}
    env["RECOMMENDER_INDEX_DIR"] = str(index_dir)
    env.update({f"RECOMMENDER_{name.upper()}": value for name, value in settings.items()})
    log_path = index_dir.parent / f"server-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*COMMAND, "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if call(base + "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait()
                pytest.fail("server did not start: " + log_path.read_text())
            time.sleep(0.2)
        try:
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)
    output = log_path.read_text()
    assert "Traceback" not in output, output
    if secret:
        assert secret not in output  # keys are never logged
