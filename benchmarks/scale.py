"""`make bench-scale`: the engine at 1k to 1M articles, each goal of issue 11 beside
its same-run baseline; writes its section of docs/benchmarks.md.

    python -m benchmarks.scale --sizes 1k,10k,100k,1m --out docs/benchmarks.md

For each size, in one run:

1. a synthetic corpus (``benchmarks/synthetic.py``: real MiniLM vectors of the
   benchmark documents plus noise, supplied as Parquet, so no model runs);
2. the build from supplied vectors (``build_index``), then ``Snapshot.load`` and
   the engine's start, and recall@20 of the dense index against exact search;
3. a reindex after changing one article (baseline: the same at 1k);
4. ``recommender serve`` with 2 gunicorn workers under wrk (4 connections,
   uniform ids from the whole corpus with the response cache off, then a hot set
   of 100 ids on a second server with the cache on), beside a bare Flask app
   under the same gunicorn returning one captured response (baseline);
   reads while a second client PUTs at 1/s, PUT latency beside one raw model
   encode, the time until a PUT is served by both workers, and the server's RSS
   and PSS from /proc; reads again after 1,000 new articles were PUT with their
   vectors (the live layer's cost); a py-spy profile of a worker under load;
5. txtai's hybrid index (faiss + BM25) built from the same vectors, in its own
   virtualenv under ``var/bench/`` (baseline of the build).

Every step runs in a child process with a time limit (``--step-minutes``); a
step that overruns is stopped and reported as not finished. Everything
generated goes under ``var/bench/scale/``, never into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from . import loadgen
from .report import write_scale_section
from .synthetic import CACHE

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
TXTAI_VENV = ROOT / "var" / "bench" / "txtai-venv"
TORCH = "torch==2.13.0"
SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000, "1m": 1_000_000}
HOT_IDS = 100
RECALL_QUERIES = 1_000
SERVING = re.compile(r"serving on http://127\.0\.0\.1:(\d+) ")
GUNICORN_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+) ")


# -- steps, each run in a child process ------------------------------------------------


def step_generate(size: int, out: Path, seed: int) -> dict[str, Any]:
    """Write the synthetic corpus (the base vectors are embedded once per machine)."""
    from .synthetic import Generator, load_base, write_parquet

    started = time.perf_counter()
    base = load_base()
    write_parquet(Generator(base, seed), size, out)
    return {"seconds": time.perf_counter() - started, "bytes": out.stat().st_size}


def _settings(index: Path) -> Any:
    from recommender import Settings

    return Settings(index_dir=index, reload_interval=3600)


def step_build(corpus: Path, index: Path) -> dict[str, Any]:
    """A full build from supplied vectors into an empty index directory."""
    from recommender.embedding import SentenceTransformerEmbedder
    from recommender.pipeline import build_index

    shutil.rmtree(index, ignore_errors=True)
    phases: dict[str, float] = {}
    started = time.perf_counter()

    def on_progress(phase: str, done: int, total: int) -> None:
        phases.setdefault(phase, time.perf_counter() - started)

    embedder = SentenceTransformerEmbedder()
    report = build_index([corpus], _settings(index), embedder, on_progress=on_progress)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "phase_started": phases,
        "indexed": report.indexed,
        "supplied": report.supplied,
        "embedded": report.embedded,
        "rejected": len(report.rejected),
        "model_loaded": embedder._model is not None,
    }


def step_inspect(index: Path) -> dict[str, Any]:
    """Snapshot load and engine start times; recall@20 of the dense index."""
    import faiss  # noqa: F401  (imported first: a worker has paid for its imports already)

    from recommender import Engine
    from recommender.snapshot import Snapshot, SnapshotStore

    store = SnapshotStore(index)
    started = time.perf_counter()
    Snapshot.load(store)  # every checksum verified: what `recommender verify` reads
    verify = time.perf_counter() - started
    started = time.perf_counter()
    snapshot = Snapshot.load(store, verify="sizes")  # as a server worker loads it
    load = time.perf_counter() - started
    started = time.perf_counter()
    Engine(_settings(index))
    engine_start = time.perf_counter() - started
    exact = type(snapshot.dense.index_).__name__ == "IndexFlatIP"
    result: dict[str, Any] = {
        "load_seconds": load,
        "verify_seconds": verify,
        "engine_start_seconds": engine_start,
        "dense_index": type(snapshot.dense.index_).__name__,
        "supplied_vectors": snapshot.manifest.supplied_vectors,
    }
    result["recall_at_20"] = 1.0 if exact else recall_at(snapshot.vectors, snapshot.dense, 20)
    result["recall_exact_by_construction"] = exact
    if snapshot.candidates is not None:
        result["candidates_recall_at_20"] = candidate_recall_at(
            snapshot.vectors, snapshot.candidates, 20
        )
        exact_below = snapshot.manifest.build["candidate_sets"]["exact_below"]
        result["candidates_exact_by_construction"] = len(snapshot.vectors) < exact_below
    return result


def candidate_recall_at(vectors: np.ndarray, candidates: np.ndarray, k: int) -> float:
    """Mean share of each article's exact top-k by cosine (itself left out) that its
    stored candidate set's dense half holds among its first k, over the sample rows."""
    import faiss

    rng = np.random.default_rng(0)
    rows = rng.choice(len(vectors), size=min(RECALL_QUERIES, len(vectors)), replace=False)
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
    _, truth = flat.search(np.ascontiguousarray(vectors[rows], dtype=np.float32), k + 1)
    shares = []
    for row, want in zip(rows, truth, strict=True):
        wanted = [p for p in want if p != row][:k]
        stored = set(np.asarray(candidates[row, :k]).tolist())
        shares.append(len(set(wanted) & stored) / max(1, len(wanted)))
    return float(np.mean(shares))


def recall_at(vectors: np.ndarray, dense: Any, k: int) -> float:
    """Mean share of each query's exact top-k (itself left out) that the index finds."""
    import faiss

    rng = np.random.default_rng(0)
    rows = rng.choice(len(vectors), size=min(RECALL_QUERIES, len(vectors)), replace=False)
    queries = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
    _, truth = flat.search(queries, k + 1)
    _, found = dense.search(queries, k + 1)
    shares = []
    for row, want, got in zip(rows, truth, found, strict=True):
        wanted = [p for p in want if p != row][:k]
        shares.append(len(set(wanted) & {p for p in got if p != row}) / k)
    return float(np.mean(shares))


def edited_copy(corpus: Path, out: Path) -> str:
    """A copy of the corpus with one article's body changed; returns its id."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(corpus)
    target = table.column("id")[len(table) // 2].as_py()
    mask = pc.equal(table.column("id"), target)
    body = pc.if_else(
        mask, pa.scalar("An editor rewrote this article for the reindex benchmark."), table["body"]
    )
    pq.write_table(table.set_column(table.schema.get_field_index("body"), "body", body), out)
    return str(target)


def step_reindex(corpus: Path, index: Path, work: Path) -> dict[str, Any]:
    """Reindex after changing one article (the build's snapshot is published)."""
    from recommender.embedding import SentenceTransformerEmbedder
    from recommender.pipeline import build_index

    edited = work / "corpus-edited.parquet"
    changed = edited_copy(corpus, edited)
    phases: dict[str, float] = {}
    started = time.perf_counter()

    def on_progress(phase: str, done: int, total: int) -> None:
        phases.setdefault(phase, time.perf_counter() - started)

    report = build_index(
        [edited], _settings(index), SentenceTransformerEmbedder(), on_progress=on_progress
    )
    seconds = time.perf_counter() - started
    edited.unlink()
    return {
        "seconds": seconds,
        "phase_started": phases,
        "changed": changed,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "embedded": report.embedded,
        "published": report.published,
    }


def _embedded_windows(embedder: Any, settings: Any, title: str, body: str) -> list[str]:
    """The windows the engine embeds for an article or draft: a text longer than the
    model's window is embedded whole, in overlapping windows, as indexed articles
    are (the baseline a PUT's and a draft's latency are judged against)."""
    from recommender import Article
    from recommender.embedding import plan_chunks
    from recommender.fields import dense_text

    article = Article(id="window", title=title, body=body)
    plan = plan_chunks(
        embedder, title, dense_text(article), settings.chunk_tokens, settings.chunk_overlap
    )
    return plan.chunks


def step_encode(texts_file: Path) -> dict[str, Any]:
    """One raw model encode of each article a PUT writes (median ms), model loaded first."""
    import statistics

    from recommender import Settings
    from recommender.embedding import SentenceTransformerEmbedder

    texts = json.loads(texts_file.read_text(encoding="utf-8"))
    settings = Settings()
    embedder = SentenceTransformerEmbedder()
    model = embedder._loaded()
    model.encode(texts[:2])
    times, window_times = [], []
    for _ in range(3):
        for text in texts:
            started = time.perf_counter()
            model.encode([text])
            times.append(time.perf_counter() - started)
            title, _, body = text.partition("\n\n")
            chunks = _embedded_windows(embedder, settings, title or "Article", body or text)
            started = time.perf_counter()
            model.encode(chunks)
            window_times.append(time.perf_counter() - started)
    return {
        "encode_ms": statistics.median(times) * 1000,
        "windows_encode_ms": statistics.median(window_times) * 1000,
        "texts": len(texts),
    }


def step_draft(index: Path, texts_file: Path) -> dict[str, Any]:
    """Related and featured picks for drafts (``Engine.recommend_text``: embed, then
    search the whole index) beside one raw model encode of the same text, in one
    process, the model loaded first (medians, ms)."""
    import statistics

    from recommender import Engine

    texts = json.loads(texts_file.read_text(encoding="utf-8"))
    settings = _settings(index)
    engine = Engine(settings)
    model = engine.embedder._loaded()  # type: ignore[attr-defined]
    engine.recommend_text("warm up", "warm up")
    drafts, encodes, window_encodes, windows = [], [], [], []
    for _ in range(3):
        for text in texts:
            title, _, body = text.partition("\n\n")
            title, body = title or "Draft", body or text
            started = time.perf_counter()
            model.encode([text])
            encodes.append(time.perf_counter() - started)
            chunks = _embedded_windows(engine.embedder, settings, title, body)
            windows.append(len(chunks))
            started = time.perf_counter()
            model.encode(chunks)
            window_encodes.append(time.perf_counter() - started)
            started = time.perf_counter()
            engine.recommend_text(title, body)
            drafts.append(time.perf_counter() - started)
    draft_ms, encode_ms = statistics.median(drafts) * 1000, statistics.median(encodes) * 1000
    windows_ms = statistics.median(window_encodes) * 1000
    return {
        "draft_ms": draft_ms,
        "encode_ms": encode_ms,
        "ratio": draft_ms / encode_ms,
        "windows_encode_ms": windows_ms,
        "windows_per_draft": statistics.mean(windows),
        "windows_ratio": draft_ms / windows_ms,
    }


STEPS = {
    "generate": lambda a: step_generate(a.size, a.out, a.seed),
    "build": lambda a: step_build(a.corpus, a.index),
    "inspect": lambda a: step_inspect(a.index),
    "reindex": lambda a: step_reindex(a.corpus, a.index, a.work),
    "encode": lambda a: step_encode(a.texts),
    "draft": lambda a: step_draft(a.index, a.texts),
}


def run_step(name: str, minutes: float, log: Path, **options: Any) -> dict[str, Any]:
    """Run one step in a child process; {"error": ...} or {"timeout": minutes} when it
    fails or overruns (the child and its children are stopped)."""
    out = log.with_suffix(".json")
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "benchmarks.scale", "step", name, "--json", str(out)]
    for key, value in options.items():
        command += [f"--{key}", str(value)]
    return _child(command, minutes, log, out)


def _child(command: list[str], minutes: float, log: Path, out: Path) -> dict[str, Any]:
    print(f"  {' '.join(command[2:])}", flush=True)
    started = time.perf_counter()
    with log.open("w") as handle:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = process.wait(timeout=minutes * 60)
        except subprocess.TimeoutExpired:
            where = stack_of(process.pid)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            print(f"    not finished in {minutes:g} min (in {where[:1]})", flush=True)
            return {"timeout": minutes, "stack": where}
    if code != 0 or not out.exists():
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        print(f"    failed ({code}): {' / '.join(tail)}", flush=True)
        return {"error": f"exit {code}: {' / '.join(tail)}"}
    result: dict[str, Any] = json.loads(out.read_text())
    result["wall_seconds"] = time.perf_counter() - started
    print(f"    {json.dumps(result)[:300]}", flush=True)
    return result


def stack_of(pid: int) -> list[str]:
    """The project's frames a running Python process is in, innermost first (py-spy
    dump), so a step stopped at its limit says where it was; [] if py-spy cannot tell."""
    spy = VENV_BIN / "py-spy"
    try:
        dump = subprocess.run(
            [str(spy), "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    frames = [line.strip() for line in dump.splitlines() if line.startswith("    ")]
    return [f for f in frames if "(recommender/" in f or "(benchmarks/" in f][:6]


# -- servers ----------------------------------------------------------------------------


@dataclass
class Server:
    """A running server: its base URL, master process and log."""

    base: str
    process: subprocess.Popen[bytes]
    log: Path

    def children(self) -> list[int]:
        """The pids of the master's children: the gunicorn workers and the
        embedding process."""
        pid = self.process.pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def workers(self) -> list[int]:
        """The pids of the gunicorn workers."""
        return [pid for pid in self.children() if not _is_embedding_process(pid)]

    def embedding_processes(self) -> list[int]:
        """The pid of the process that holds the model for the workers, if any."""
        return [pid for pid in self.children() if _is_embedding_process(pid)]


def _is_embedding_process(pid: int) -> bool:
    try:
        return b"recommender.embedding_service" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _wait_for_port(
    process: subprocess.Popen[bytes], log: Path, pattern: re.Pattern[str], limit: float
) -> int:
    deadline = time.monotonic() + limit
    while (found := pattern.search(log.read_text(errors="replace"))) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start: {log.read_text(errors='replace')[-800:]}")
        time.sleep(0.2)
    return int(found.group(1))


def _warmed(server: Server, workers: int, limit: float) -> float:
    """Wait until ``workers`` workers logged the end of their warm-up; the seconds
    waited."""
    started = time.monotonic()
    while server.log.read_text(errors="replace").count("warm-up done in") < workers:
        if server.process.poll() is not None or time.monotonic() - started > limit:
            raise RuntimeError("the workers did not finish warming up")
        time.sleep(0.2)
    return time.monotonic() - started


def _ready_everywhere(base: str, limit: float, streak: int = 20) -> float:
    """Seconds until ``streak`` fresh connections in a row get 200 from /readyz (each
    worker loads its engine on its first request)."""
    started = time.monotonic()
    fresh = 0
    while fresh < streak:
        if time.monotonic() - started > limit:
            raise RuntimeError(f"workers not ready after {limit:.0f} s")
        try:
            status, _ = loadgen._request(base, "GET", "/readyz")
        except OSError:
            status = 0
        fresh = fresh + 1 if status == 200 else 0
        if status != 200:
            time.sleep(0.2)
    return time.monotonic() - started


@contextmanager
def serving(
    command: list[str], env: dict[str, str], log: Path, pattern: re.Pattern[str], limit: float
) -> Iterator[Server]:
    """Start a server, wait until every worker answers, stop it at the end."""
    with log.open("w") as handle:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        port = _wait_for_port(process, log, pattern, limit)
        server = Server(f"http://127.0.0.1:{port}", process, log)
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def memory(server: Server) -> dict[str, Any]:
    """RSS and PSS (MiB) of the master, each worker and the embedding process, from
    /proc/<pid>/smaps_rollup."""
    processes = {"master": server.process.pid} | {
        f"worker {n}": pid for n, pid in enumerate(server.workers(), start=1)
    }
    for pid in server.embedding_processes()[:1]:
        processes["embedding process"] = pid
    found: dict[str, Any] = {}
    for name, pid in processes.items():
        values = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                values[key.lower() + "_mib"] = int(rest.split()[0]) / 1024
        found[name] = values
    found["total_rss_mib"] = sum(v["rss_mib"] for k, v in found.items() if isinstance(v, dict))
    found["total_pss_mib"] = sum(v["pss_mib"] for k, v in found.items() if isinstance(v, dict))
    return found


def profile(server: Server, script: Path, seconds: int, out: Path) -> dict[str, Any]:
    """py-spy record of one worker under wrk load, as speedscope JSON, summarised."""
    spy = VENV_BIN / "py-spy"
    workers = server.workers()
    if not spy.exists() or not workers:
        return {"error": "py-spy or the workers not found"}
    recorder = subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(workers[0]),
            "--duration",
            str(seconds),
            "--format",
            "speedscope",
            "--output",
            str(out),
            "--rate",
            "200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        loadgen.run_wrk(server.base, script, seconds + 2)
    finally:
        _, error = recorder.communicate(timeout=seconds + 120)
    if recorder.returncode != 0 or not out.exists():
        return {"error": f"py-spy failed: {error.decode(errors='replace')[-300:]}"}
    main = serving_thread(
        out, out.with_name(out.name.replace(".speedscope", ".main-thread.speedscope"))
    )
    shown = main.relative_to(ROOT) if main.is_relative_to(ROOT) else main
    return {"file": str(shown), "top": summarise_speedscope(main), "shares": project_shares(main)}


def serving_thread(path: Path, out: Path) -> Path:
    """A copy of a py-spy speedscope file with only the thread that serves requests
    (the worker's main thread): the warm-up thread once done, tqdm's monitor and a
    connection pool's threads sleep in ``Condition.wait`` all along, and py-spy
    samples them as busy, which would make every share of the engine's own
    functions too low."""
    data = json.loads(path.read_text())
    frames = data["shared"]["frames"]

    def serves(profile: dict[str, Any]) -> int:
        return sum(
            any("service/" in str(frames[i].get("file")) for i in stack)
            for stack in profile["samples"]
        )

    main = [p for p in data["profiles"] if "MainThread" in str(p.get("name"))]
    data["profiles"] = main[:1] or [max(data["profiles"], key=serves)]
    out.write_text(json.dumps(data))
    return out


def _inclusive(path: Path) -> tuple[dict[str, float], dict[str, float], float]:
    """(inclusive weight, self weight, total weight) per function of a speedscope file."""
    data = json.loads(path.read_text())
    frames = data["shared"]["frames"]
    inclusive: dict[str, float] = {}
    own_time: dict[str, float] = {}
    total = 0.0
    for profile_ in data["profiles"]:
        for stack, weight in zip(profile_["samples"], profile_["weights"], strict=True):
            total += weight
            names = [_frame_name(frames[i]) for i in stack]
            for name in set(names):
                inclusive[name] = inclusive.get(name, 0.0) + weight
            if names:
                own_time[names[-1]] = own_time.get(names[-1], 0.0) + weight
    return inclusive, own_time, total


def project_shares(path: Path) -> dict[str, float]:
    """Inclusive share (0-1) of every project function (by bare name) in a profile."""
    inclusive, _, total = _inclusive(path)
    shares: dict[str, float] = {}
    for name, weight in inclusive.items():
        if total and ("(recommender/" in name or "(service/" in name):
            bare = name.split(" (", 1)[0]
            shares[bare] = max(shares.get(bare, 0.0), weight / total)
    return shares


def summarise_speedscope(path: Path, ours: int = 12, own: int = 6) -> list[dict[str, Any]]:
    """Where a profile's samples go: the project's functions (``recommender/``,
    ``service/``) holding the most samples on the stack (less the server loop, in
    every sample), then the functions running themselves the most (any code), each
    with its inclusive and self share (0-1), most inclusive first."""
    inclusive, own_time, total = _inclusive(path)
    if not total:
        return []
    # The server loop's frames are in every sample and say nothing: left out.
    project = sorted(
        (
            n
            for n in inclusive
            if ("(recommender/" in n or "(service/" in n) and inclusive[n] / total < 0.97
        ),
        key=lambda n: -inclusive[n],
    )[:ours]
    busiest = sorted(own_time, key=lambda n: -own_time[n])[:own]
    chosen = list(dict.fromkeys([*project, *busiest]))
    rows = [
        {"function": n, "inclusive": inclusive[n] / total, "self": own_time.get(n, 0.0) / total}
        for n in chosen
    ]
    rows.sort(key=lambda row: -row["inclusive"])
    return rows


_SHORT_FILE = re.compile(r"site-packages/(.*)|/lib/python3\.\d+/(.*)|/((?:recommender|service)/.*)")


def _frame_name(frame: dict[str, Any]) -> str:
    """``name (file)`` with the file shortened to its package path."""
    file = str(frame.get("file") or "")
    found = _SHORT_FILE.search(file)
    if found:
        file = next(part for part in found.groups() if part).removeprefix("site-packages/")
    return f"{frame.get('name')} ({file})"


def measure_serving(
    index: Path,
    corpus_ids: list[str],
    work: Path,
    args: argparse.Namespace,
    encode: dict[str, Any],
    put_articles: int,
) -> dict[str, Any]:
    """Every serving figure of one size (see the module docstring)."""
    result: dict[str, Any] = {}
    key = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOMMENDER_")}
    env |= {"RECOMMENDER_INDEX_DIR": str(index), "RECOMMENDER_API_KEYS": f"bench:{key}"}
    ids_file = work / "ids.txt"
    ids_file.write_text("\n".join(corpus_ids) + "\n")
    rng = np.random.default_rng(1)
    hot_file = work / "hot-ids.txt"
    hot_file.write_text("\n".join(rng.choice(corpus_ids, HOT_IDS, replace=False)) + "\n")
    uniform = loadgen.write_lua(work / "uniform.lua", ids_file)
    hot = loadgen.write_lua(work / "hot.lua", hot_file)
    limit = args.step_minutes * 60
    seconds = args.seconds
    command = [str(VENV_BIN / "recommender"), "serve", "--port", "0", "--workers", "2"]
    # Uncached: every answer computed. With the response cache on, a pass over 1,000
    # ids leaves the next pass all hits; the hot set has its own server, cache on.
    uncached = env | {"RECOMMENDER_RESPONSE_CACHE": "0"}
    with serving(command, uncached, work / "server.log", SERVING, limit) as server:
        result["ready_seconds"] = _ready_everywhere(server.base, limit)
        # Workers with API keys have the model loaded in the background as they start
        # (in the embedding process): the figures are the steady state's, after both
        # say they are done.
        result["warm_seconds"] = _warmed(server, 2, limit)
        # The first pass over uniform ids is each worker's first touch of most of the
        # snapshot's mapped pages: recorded apart, so the figures after it are the
        # steady state a long-running server is in.
        result["uniform_first"] = vars(
            loadgen.run_wrk(server.base, uniform, seconds, log=work / "wrk-uniform-first.txt")
        )
        result["uniform"] = vars(
            loadgen.run_wrk(server.base, uniform, seconds, log=work / "wrk-uniform.txt")
        )
        result["memory_reads"] = memory(server)
        if args.profile:  # before any write, so it shows the cost of plain reads
            result["profile"] = profile(server, uniform, 10, work / "profile.speedscope.json")
        status, _, body = loadgen.exchange(
            server.base, "GET", loadgen.ROUTE.format(id=corpus_ids[0])
        )
        if status != 200:
            raise RuntimeError(f"capturing a response for bare Flask: {status}")
        (work / "body.json").write_bytes(body)
        articles = [
            loadgen.get_article(server.base, i)
            for i in rng.choice(corpus_ids, put_articles, replace=False)
        ]
        writer = loadgen.Writer(server.base, key, articles[:-3], per_second=1.0)
        writer.start()
        try:
            reads = loadgen.run_wrk(server.base, uniform, seconds * 2, log=work / "wrk-live.txt")
        finally:
            writer.stop()
        result["live"] = {
            "reads": vars(reads),
            "put_ms": writer.latencies_ms,
            "put_statuses": sorted(set(writer.statuses)),
            "encode_ms": encode.get("encode_ms"),
            "windows_encode_ms": encode.get("windows_encode_ms"),
        }
        idle_put_ms: list[float] = []
        result["everywhere_seconds"] = [
            loadgen.seconds_until_everywhere(
                server.base, key, article, f"probe {n}", put_ms=idle_put_ms
            )
            for n, article in enumerate(articles[-3:])
        ]
        result["idle_put_ms"] = idle_put_ms
        result["memory_after_writes"] = memory(server)
        if args.live_upserts:
            result["many_upserts"] = many_upserts(
                server.base, key, index, corpus_ids, args.live_upserts, rng
            )
            # As for the uniform reads: the first pass after the writes is each worker
            # laying the new upserts over its catalog (and, the first time, reading the
            # dense index it links them with); recorded apart, then the steady state.
            result["many_upserts"]["reads_first"] = vars(
                loadgen.run_wrk(server.base, uniform, seconds, log=work / "wrk-upserts-first.txt")
            )
            result["many_upserts"]["reads"] = vars(
                loadgen.run_wrk(server.base, uniform, seconds, log=work / "wrk-upserts.txt")
            )
    with serving(command, env, work / "server-hot.log", SERVING, limit) as server:
        _ready_everywhere(server.base, limit)
        _warmed(server, 2, limit)
        loadgen.run_wrk(server.base, hot, 3)  # fills the response cache, not recorded
        result["hot"] = vars(loadgen.run_wrk(server.base, hot, seconds, log=work / "wrk-hot.txt"))
    bare_env = env | {"SCALE_BARE_BODY": str(work / "body.json")}
    bare_command = [
        str(VENV_BIN / "gunicorn"),
        "--workers",
        "2",
        "--bind",
        "127.0.0.1:0",
        "--access-logfile",
        "-",
        "--error-logfile",
        "-",
        "--log-level",
        "info",
        "--timeout",
        "120",
        "benchmarks.bare_flask:app",
    ]
    with serving(bare_command, bare_env, work / "bare.log", GUNICORN_LISTENING, limit) as bare:
        _ready_everywhere(bare.base, limit)
        loadgen.run_wrk(bare.base, uniform, 3)
        result["bare"] = vars(
            loadgen.run_wrk(bare.base, uniform, seconds, log=work / "wrk-bare.txt")
        )
    return result


def many_upserts(
    base: str, key: str, index: Path, corpus_ids: list[str], count: int, rng: np.random.Generator
) -> dict[str, Any]:
    """Fill the live layer with ``count`` new articles, PUT one after another with
    their vectors supplied: each copies a random article's text under a new id, its
    vector that article's plus noise (as an edited copy would embed)."""
    from recommender.snapshot import Snapshot, SnapshotStore

    vectors = Snapshot.load(SnapshotStore(index)).vectors
    picked = rng.choice(len(corpus_ids), count, replace=count > len(corpus_ids))
    latencies, statuses = [], []
    for n, position in enumerate(picked):
        source = loadgen.get_article(base, corpus_ids[position])
        vector = np.asarray(vectors[position], dtype=np.float32)
        vector = vector + rng.normal(0.0, 0.02, vector.shape).astype(np.float32)
        status, milliseconds = loadgen.put_new(base, key, f"live-{n:06d}", source, vector)
        statuses.append(status)
        latencies.append(milliseconds)
    return {
        "count": count,
        "put_ms_first_100": latencies[:100],
        "put_ms_last_100": latencies[-100:],
        "put_statuses": sorted(set(statuses)),
    }


def run_txtai(corpus: Path, work: Path, minutes: float) -> dict[str, Any]:
    """txtai's hybrid build on the same corpus, in its own virtualenv (installed once)."""
    python = TXTAI_VENV / "bin" / "python"
    if not python.exists():
        print("  installing txtai into var/bench/txtai-venv", flush=True)
        try:
            # Its own interpreter's venv: txtai and its torch never touch the project's.
            subprocess.run(
                [shutil.which("python3") or "python3", "-m", "venv", str(TXTAI_VENV)], check=True
            )
            subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "-q",
                    TORCH,
                    "txtai",
                    "faiss-cpu",
                    "pyarrow",
                ],
                check=True,
                timeout=1800,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            return {"error": f"txtai could not be installed: {exc}"}
    out = work / "txtai.json"
    out.unlink(missing_ok=True)
    command = [str(python), str(ROOT / "benchmarks" / "txtai_run.py"), str(corpus), str(out)]
    return _child(command, minutes, work / "txtai.log", out)


# -- the run ------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """Cores, memory and CPU model of this machine."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cores": os.cpu_count(),
        "memory_gib": mem_kib / 1024**2,
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def source_commit() -> str | None:
    """The project's commit (short hash, with ``+changes`` when the tree differs from
    it), or None outside a git checkout."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def corpus_ids(corpus: Path) -> list[str]:
    import pyarrow.parquet as pq

    return [str(i) for i in pq.read_table(corpus, columns=["id"]).column("id").to_pylist()]


def run_size(
    label: str, size: int, args: argparse.Namespace, run: dict[str, Any]
) -> dict[str, Any]:
    """Every figure of one corpus size (the run's encode baseline is measured on the
    first corpus, before its serving figures)."""
    work = args.work / label
    work.mkdir(parents=True, exist_ok=True)
    minutes = args.step_minutes
    print(f"== {label}: {size} articles", flush=True)
    # The machine may be shared: the load when a size starts says how much.
    result: dict[str, Any] = {
        "label": label,
        "size": size,
        "load_average": os.getloadavg(),
        "started": datetime.now(UTC).isoformat(timespec="minutes"),
        "run": run["started"],  # which run measured it, once runs are combined (--add)
        "commit": run.get("commit"),
    }
    corpus = args.work / f"corpus-{label}-seed{args.seed}.parquet"
    if not corpus.exists():
        result["generate"] = run_step(
            "generate", minutes, work / "generate.log", size=size, out=corpus, seed=args.seed
        )
        if not corpus.exists():
            return result
    index = work / "index"
    long = args.build_minutes  # the goal for a 1M build is 60 min

    def save() -> None:  # after every step: a stopped run keeps what it measured
        (work / "result.json").write_text(json.dumps(result, indent=2, default=str))

    result["build"] = run_step("build", long, work / "build.log", corpus=corpus, index=index)
    save()
    if "seconds" not in result["build"]:
        return result
    result["inspect"] = run_step("inspect", minutes, work / "inspect.log", index=index)
    save()
    if "reindex" in args.skip:
        result["reindex"] = {"skipped": True}
    else:
        result["reindex"] = run_step(
            "reindex", long, work / "reindex.log", corpus=corpus, index=index, work=work
        )
    save()
    if "serving" in args.skip:
        result["serving"] = {"skipped": True}
    else:
        if "encode" not in run:
            run["encode"] = encode_baseline(corpus, args)
        try:
            result["serving"] = measure_serving(
                index, corpus_ids(corpus), work, args, run["encode"], put_articles=args.puts + 3
            )
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            print(f"    serving failed: {exc}", flush=True)
            result["serving"] = {"error": str(exc)[:500]}
    save()
    if "draft" not in args.skip and "serving" not in args.skip:
        texts = args.work / "encode-texts.json"
        if texts.exists():
            result["draft"] = run_step(
                "draft", minutes, work / "draft.log", index=index, texts=texts
            )
            save()
    if args.txtai and "txtai" not in args.skip:
        result["txtai"] = run_txtai(corpus, work, long)
    save()
    return result


def encode_baseline(corpus: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One raw model encode of articles like those the PUTs write (median ms): the
    first 20 of the corpus, title and body."""
    import pyarrow.parquet as pq

    table = pq.ParquetFile(corpus).read_row_group(0, columns=["title", "body"]).slice(0, 20)
    texts = [
        f"{title}\n\n{body}"
        for title, body in zip(
            table.column("title").to_pylist(), table.column("body").to_pylist(), strict=True
        )
    ]
    texts_file = args.work / "encode-texts.json"
    texts_file.write_text(json.dumps(texts))
    return run_step("encode", args.step_minutes, args.work / "encode.log", texts=texts_file)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    step = sub.add_parser("step", help="one step in a child process (used by the run)")
    step.add_argument("name", choices=sorted(STEPS))
    step.add_argument("--json", type=Path, required=True)
    for option in ("corpus", "index", "work", "out", "texts"):
        step.add_argument(f"--{option}", type=Path)
    step.add_argument("--size", type=int)
    step.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", default="1k,10k,100k,1m")
    parser.add_argument("--out", type=Path, default=None, help="docs/benchmarks.md to update")
    parser.add_argument("--work", type=Path, default=CACHE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--step-minutes", type=float, default=20.0, help="limit of each step")
    parser.add_argument(
        "--build-minutes", type=float, default=60.0, help="limit of builds and reindexes"
    )
    parser.add_argument("--seconds", type=int, default=15, help="length of each wrk run")
    parser.add_argument("--puts", type=int, default=40, help="articles the writer rewrites")
    parser.add_argument(
        "--live-upserts",
        type=int,
        default=1000,
        help="new articles PUT (with their vectors) before reads are measured again",
    )
    parser.add_argument("--no-txtai", dest="txtai", action="store_false")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument(
        "--skip",
        default="",
        help="steps to leave out: reindex, serving, draft, txtai (comma-separated)",
    )
    parser.add_argument(
        "--add", action="store_true", help="add these sizes to the last run.json's figures"
    )
    parser.add_argument(
        "--render", action="store_true", help="only rewrite the section from the last run.json"
    )
    args = parser.parse_args(argv)
    args.skip = {step.strip() for step in args.skip.split(",") if step.strip()}
    if args.command == "step":
        result = STEPS[args.name](args)
        args.json.write_text(json.dumps(result, default=str))
        return
    from .scale_report import render

    if args.render:
        run = json.loads((args.work / "run.json").read_text())
        for size in run["sizes"]:  # summaries again, from the saved profiles
            found = size.get("serving", {}).get("profile", {})
            if "file" in found and (ROOT / found["file"]).exists():
                found["top"] = summarise_speedscope(ROOT / found["file"])
                found["shares"] = project_shares(ROOT / found["file"])
        (args.work / "run.json").write_text(json.dumps(run, indent=2, default=str))
        if args.out:
            write_scale_section(args.out, render(run))
        print(render(run))
        return
    labels = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in labels if s not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}: choose from {', '.join(SIZES)}")
    if loadgen.wrk_path() is None:
        sys.exit("wrk is not installed: run `make bench-scale` (it installs wrk with apt-get)")
    args.work.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    run = {
        "started": started.isoformat(timespec="minutes"),
        "machine": machine(),
        "commit": source_commit(),
        "command": "make bench-scale SIZES="
        + ",".join(labels)
        + (f" (skipping {', '.join(sorted(args.skip))})" if args.skip else ""),
        "args": {
            "seconds": args.seconds,
            "step_minutes": args.step_minutes,
            "build_minutes": args.build_minutes,
            "seed": args.seed,
        },
    }
    previous = json.loads((args.work / "run.json").read_text()) if args.add else None
    if previous:  # this run's sizes join (or replace) those of the last run
        run["encode"] = previous.get("encode", {})
    run["sizes"] = [run_size(label, SIZES[label], args, run) for label in labels]
    run["minutes"] = (datetime.now(UTC) - started).total_seconds() / 60
    if previous:
        kept = [s for s in previous["sizes"] if s["label"] not in labels]
        for size in kept:  # each size says when, and on which code, it was measured
            size.setdefault("started", previous["started"])
            size.setdefault("run", previous["started"])
            size.setdefault("commit", previous.get("commit"))
        run["sizes"] = sorted(kept + run["sizes"], key=lambda size: size["size"])
        run["notes"] = previous.get("notes", [])
        # This run's own command and time; each kept row names its run and commit.
        run["command"] = (
            f"python -m benchmarks.scale --sizes {','.join(labels)} --add "
            "--out docs/benchmarks.md (the other sizes' rows are kept from earlier runs)"
        )
    (args.work / "run.json").write_text(json.dumps(run, indent=2, default=str))
    section = render(run)
    print(section)
    if args.out:
        write_scale_section(args.out, section)


if __name__ == "__main__":
    main()
