"""Load on a server for `make bench-scale`: wrk with a Lua script drawing article ids,
its output parsed, a second client writing at a fixed rate, and a probe for when a
write is served by every worker.

wrk (Debian package ``wrk``) is the load client: 4 connections on loopback, each
request ``GET /v1/articles/<id>/recommendations`` with ``<id>`` drawn uniformly
from a list (the whole corpus, or a hot set). Its Lua ``done`` hook prints exact
latency percentiles from wrk's own histogram, which :func:`parse_wrk` reads
beside wrk's summary.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROUTE = "/v1/articles/{id}/recommendations"

LUA = """-- Written by benchmarks/loadgen.py: GET {route} with ids drawn uniformly from a file.
local ids = {{}}
for line in io.lines("{ids}") do
  if #line > 0 then ids[#ids + 1] = line end
end
local threads = 0
function setup(thread)
  thread:set("number", threads)
  threads = threads + 1
end
function init(args)
  math.randomseed({seed} + (number or 0))
end
function request()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "{prefix}" .. id .. "{suffix}")
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "SCALE-LATENCY p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f "
    .. "requests=%d duration_us=%d status_errors=%d connect_errors=%d read_errors=%d "
    .. "write_errors=%d timeouts=%d\\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, summary.requests, summary.duration, e.status, e.connect, e.read, e.write,
    e.timeout))
end
"""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms) and failures."""

    requests_per_second: float
    requests: int
    p50_ms: float
    p90_ms: float | None
    p99_ms: float
    max_ms: float | None
    non_2xx: int = 0
    socket_errors: int = 0

    @property
    def failed(self) -> int:
        """Requests that got no 2xx/3xx answer."""
        return self.non_2xx + self.socket_errors


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_DURATION = re.compile(r"^\s*([\d.]+)(us|ms|s|m)\s*$")


def _ms(text: str) -> float:
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """Read wrk's report (``--latency`` and our ``done`` hook's line, if present).

    The hook's percentiles (microseconds, from wrk's full histogram) win over the
    rounded ones of the ``Latency Distribution`` table.

    Raises:
        ValueError: the output holds no ``Requests/sec`` line (wrk failed).
    """
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if not rate:
        raise ValueError(f"no Requests/sec in wrk's output:\n{output}")
    total = re.search(r"^\s*(\d+) requests in ", output, re.MULTILINE)
    table = {
        int(m.group(1)): _ms(m.group(2))
        for m in re.finditer(r"^\s+(50|75|90|99)(?:\.0+)?%\s+(\S+)\s*$", output, re.MULTILINE)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    hook = re.search(r"^SCALE-LATENCY (.*)$", output, re.MULTILINE)
    p50, p90, p99, peak = table.get(50), table.get(90), table.get(99), None
    if hook:
        values = dict(pair.split("=", 1) for pair in hook.group(1).split())
        p50, p90 = int(values["p50_us"]) / 1000, int(values["p90_us"]) / 1000
        p99, peak = int(values["p99_us"]) / 1000, int(values["max_us"]) / 1000
    if p50 is None or p99 is None:
        raise ValueError(
            f"no latency percentiles in wrk's output (run it with --latency):\n{output}"
        )
    return WrkResult(
        requests_per_second=float(rate.group(1)),
        requests=int(total.group(1)) if total else 0,
        p50_ms=p50,
        p90_ms=p90,
        p99_ms=p99,
        max_ms=peak,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
    )


def write_lua(path: Path, ids_file: Path, seed: int = 1) -> Path:
    """A wrk script requesting the recommendations of ids drawn from ``ids_file``."""
    prefix, suffix = ROUTE.split("{id}")
    path.write_text(
        LUA.format(route=ROUTE, ids=ids_file, seed=seed, prefix=prefix, suffix=suffix),
        encoding="utf-8",
    )
    return path


def wrk_path() -> str | None:
    """The wrk executable, or None when it is not installed."""
    return shutil.which("wrk")


def run_wrk(
    base: str,
    script: Path,
    seconds: int,
    connections: int = 4,
    threads: int = 2,
    log: Path | None = None,
) -> WrkResult:
    """Run wrk against ``base`` with ``script`` for ``seconds``.

    Raises:
        RuntimeError: wrk is missing, failed, or overran its duration by a minute.
    """
    executable = wrk_path()
    if executable is None:
        raise RuntimeError("wrk is not installed (make bench-scale installs it with apt-get)")
    command = [
        executable,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(script),
        base,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    output = done.stdout + done.stderr
    if log is not None:
        log.write_text(" ".join(command) + "\n" + output, encoding="utf-8")
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {output}")
    return parse_wrk(output)


# -- writes while reading ----------------------------------------------------------------


def exchange(
    base: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, str, bytes]:
    """One request on a fresh connection: (status, content type, raw body)."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=120)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        sent = dict(headers or {})
        if payload is not None:
            sent["Content-Type"] = "application/json"
        connection.request(method, path, body=payload, headers=sent)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def _request(
    base: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """One request on a fresh connection: (status, parsed JSON body or None)."""
    status, mime, raw = exchange(base, method, path, body, headers)
    return status, json.loads(raw) if raw and "json" in mime else None


@dataclass
class Writer:
    """PUTs an edited copy of existing articles at a fixed rate, in a thread.

    Args:
        base: the server's base URL.
        key: an API key with write access.
        articles: article records (as ``GET /v1/articles/<id>`` returns) to rewrite.
        per_second: PUTs per second (the rate is kept whatever each PUT costs,
            unless one PUT takes longer than the interval).
    """

    base: str
    key: str
    articles: Sequence[dict[str, Any]]
    per_second: float = 1.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin writing."""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the PUT in flight."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=300)

    def _run(self) -> None:
        interval = 1.0 / self.per_second
        next_at = time.monotonic()
        number = 0
        while not self._stop.is_set():
            article = self.articles[number % len(self.articles)]
            number += 1
            started = time.perf_counter()
            status, _ = put_edit(self.base, self.key, article, f"live edit {number}")
            self.latencies_ms.append((time.perf_counter() - started) * 1000)
            self.statuses.append(status)
            next_at += interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))


def put_edit(base: str, key: str, article: dict[str, Any], note: str) -> tuple[int, Any]:
    """PUT ``article`` back with ``note`` appended to its title and body."""
    record = {
        name: article[name]
        for name in ("title", "body", "summary", "url", "tags", "categories", "published")
        if article.get(name) not in (None, "", [])
    }
    record["title"] = f"{article['title']} ({note})"
    record["body"] = f"{article['body']}\n\n{note}."
    return _request(
        base, "PUT", f"/v1/articles/{article['id']}", record, {"Authorization": f"Bearer {key}"}
    )


def put_new(
    base: str, key: str, article_id: str, source: dict[str, Any], vector: Iterable[float]
) -> tuple[int, float]:
    """PUT a new article ``article_id`` copying ``source``'s text, with its vector
    supplied (the model is not run): (status, milliseconds)."""
    record = {name: source[name] for name in ("title", "body") if source.get(name)}
    record["title"] = f"{record['title']} ({article_id})"
    record["embedding"] = [float(x) for x in vector]
    started = time.perf_counter()
    status, _ = _request(
        base, "PUT", f"/v1/articles/{article_id}", record, {"Authorization": f"Bearer {key}"}
    )
    return status, (time.perf_counter() - started) * 1000


def get_article(base: str, article_id: str) -> dict[str, Any]:
    """``GET /v1/articles/<id>``'s body.

    Raises:
        RuntimeError: the server did not answer 200.
    """
    status, body = _request(base, "GET", f"/v1/articles/{article_id}")
    if status != 200 or not isinstance(body, dict):
        raise RuntimeError(f"GET /v1/articles/{article_id}: {status}")
    return body


def seconds_until_everywhere(
    base: str,
    key: str,
    article: dict[str, Any],
    note: str,
    streak: int = 20,
    limit: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
    put_ms: list[float] | None = None,
) -> float | None:
    """Seconds from sending a PUT until reads on fresh connections (which gunicorn
    hands to any worker) return the new title ``streak`` times in a row; None after
    ``limit`` seconds. With 2 workers, 20 fresh reads all landing on one worker has
    odds of 2^-19, so the figure is the time until every worker serves the write
    (the last stale read plus the length of one read). The PUT's own latency is
    appended to ``put_ms`` when given."""
    started = clock()
    status, _ = put_edit(base, key, article, note)
    if put_ms is not None:
        put_ms.append((clock() - started) * 1000)
    if status not in (200, 201):
        raise RuntimeError(f"PUT /v1/articles/{article['id']}: {status}")
    wanted = f"{article['title']} ({note})"
    fresh, first_of_streak = 0, None
    while clock() - started < limit:
        seen = get_article(base, article["id"])["title"]
        if seen == wanted:
            if fresh == 0:
                first_of_streak = clock()
            fresh += 1
            if fresh >= streak and first_of_streak is not None:
                return first_of_streak - started
        else:
            fresh = 0
    return None


def median(values: Sequence[float]) -> float | None:
    """The median, or None for no values."""
    return statistics.median(values) if values else None
