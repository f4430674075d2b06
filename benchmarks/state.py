"""`make bench-state`: read throughput with the shared state in PostgreSQL beside
SQLite files, on one snapshot, in one run; writes its section of docs/benchmarks.md.

    python -m benchmarks.state --size 100k --out docs/benchmarks.md

The goal (the PostgreSQL issue's acceptance): PostgreSQL's read throughput at
least 0.9× SQLite's at 100k articles. A request reads the shared state only to
check its two change counters (the live sequence and the rules version), once per
request (``Engine.view()``); with PostgreSQL that is one single-row SELECT on a
per-thread connection (``postgres.CounterRow``).

1. The index: the scale benchmark's (``var/bench/scale/<size>/index``) when it
   loads with this code, else one generated and built with ``benchmarks/scale.py``'s
   steps under ``var/bench/state/<size>/``. Its published version is hard-linked
   into ``var/bench/state/<size>/index-sqlite`` (a fresh state: no live changes,
   no rules), the index directory of every server here: the SQLite servers keep
   their files there, never in the scale benchmark's directory.
2. A throwaway PostgreSQL cluster on this machine, and ``recommender db
   migrate-from-sqlite`` into a database of its own (the published version).
3. Rounds, interleaved so that drift on a shared machine hits both backends
   alike: in each, a SQLite server then a PostgreSQL server (``recommender serve
   --workers 2``, response cache off, API keys set so the workers warm up the
   model), each under wrk: a discarded first pass over uniform ids (each worker's
   first touch of the mapped snapshot), then the measured pass; then the same
   pair with the response cache on, a hot set of 100 ids, measured after a fill pass.
4. The change check alone, in-process: microseconds per ``live.seq()`` +
   ``rules.version()`` on each backend.
5. When PostgreSQL's uncached ratio is below the goal (or with ``--profile
   always``), a py-spy profile of a PostgreSQL-backed worker under load.

The figures go to ``var/bench/state/run.json`` (or ``--work``) and the section
``## Shared state`` of ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from . import loadgen, scale
from .report import STATE, write_marked_section
from .synthetic import CACHE

ROOT = scale.ROOT
WORK = ROOT / "var" / "bench" / "state"
BACKENDS = ("sqlite", "postgresql")
KINDS = ("uniform", "hot")
NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
GOAL = 0.9
FILL_SECONDS = 3
PROFILE_SECONDS = 10
DATABASE = "bench_state"
HEADING = "## Shared state (`make bench-state`)"
REQUEST_LINE = re.compile(r'"(?:GET|HEAD|POST|PUT|PATCH|DELETE) /')


# -- the index -------------------------------------------------------------------------


def usable(index: Path, size: int) -> str | None:
    """Why ``index`` cannot be served here (None when it can): no published version,
    another size, or a snapshot this code cannot load."""
    from recommender.snapshot import Snapshot, SnapshotStore

    if not (index / "CURRENT").is_file():
        return "no published version"
    try:
        snapshot = Snapshot.load(SnapshotStore(index), verify="sizes")
    except Exception as exc:  # any failure means: build one of our own
        return f"does not load: {exc}"[:300]
    if len(snapshot.vectors) != size:
        return f"holds {len(snapshot.vectors):,} articles, not {size:,}"
    return None


def find_index(label: str, size: int, args: argparse.Namespace) -> dict[str, Any]:
    """The index to serve: the scale benchmark's if usable, else our own (built from
    the scale benchmark's corpus if it has one, else from one generated here)."""
    theirs = args.scale_work / label / "index"
    why = usable(theirs, size)
    if why is None:
        return {"index": str(theirs), "origin": "the scale benchmark's"}
    print(f"  {theirs}: {why}", flush=True)
    ours = args.work / label / "index"
    if usable(ours, size) is None:
        return {"index": str(ours), "origin": "built by an earlier run of this benchmark"}
    name = f"corpus-{label}-seed{args.seed}.parquet"
    corpus = next(
        (p for p in (args.work / name, args.scale_work / name) if p.exists()), args.work / name
    )
    work = args.work / label
    work.mkdir(parents=True, exist_ok=True)
    found: dict[str, Any] = {
        "index": str(ours),
        "origin": "built by this run",
        "corpus": str(corpus),
    }
    if not corpus.exists():
        found["generate"] = scale.run_step(
            "generate",
            args.step_minutes,
            work / "generate.log",
            size=size,
            out=corpus,
            seed=args.seed,
        )
    found["build"] = scale.run_step(
        "build", args.step_minutes, work / "build.log", corpus=corpus, index=ours
    )
    why = usable(ours, size)
    if why is not None:
        raise RuntimeError(f"the index built in {ours} cannot be served: {why}")
    return found


def fresh_copy(source: Path, target: Path) -> str:
    """A fresh index directory at ``target`` holding ``source``'s published version
    (hard links where the filesystem allows, else copies) and no state; returns the
    version. The snapshot files are only ever read (mapped read-only), so linking
    them cannot change ``source``; the state files the servers write are new files."""
    from recommender.snapshot import SnapshotStore

    version = SnapshotStore(source).current_version()
    if version is None:
        raise RuntimeError(f"{source} has no published version")
    shutil.rmtree(target, ignore_errors=True)
    (target / "versions").mkdir(parents=True)
    files = source / "versions" / version
    try:
        shutil.copytree(files, target / "versions" / version, copy_function=os.link)
    except OSError:  # another filesystem: no hard links
        shutil.rmtree(target / "versions" / version, ignore_errors=True)
        shutil.copytree(files, target / "versions" / version)
    shutil.copyfile(source / "CURRENT", target / "CURRENT")
    return version


# -- PostgreSQL ---------------------------------------------------------------------------


def start_postgres() -> Any:
    """A throwaway cluster on this machine.

    The benchmark borrows the tests' helper on purpose: it is the project's one way
    to run a private, disposable PostgreSQL (initdb as the ``postgres`` user when
    root, loopback only, removed afterwards), and a benchmark needs exactly that:
    no shared server, no leftover data.

    Raises:
        PostgresUnavailable: PostgreSQL is not installed (``make postgres``).
    """
    from tests.postgres import ThrowawayPostgres

    return ThrowawayPostgres().start()


def postgres_pids(cluster: Any) -> list[int]:
    """The postmaster's pid and its children's (the backends and helpers)."""
    try:
        pid = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (OSError, ValueError, IndexError):
        return []
    return [pid, *(int(p) for p in children)]


def transactions(url: str) -> int:
    """Transactions committed in the database so far (each autocommit SELECT is one)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


def transactions_since(url: str, before: int, limit: float = 15.0) -> int:
    """Transactions committed since the reading ``before`` (:func:`transactions`), once
    the sessions that ended have reported theirs (a backend flushes its counts as it
    exits, a moment after its client closed), less those of the readings themselves:
    readings every half second until two steps in a row grow by the same amount,
    which is then a reading's own share."""
    deadline = time.monotonic() + limit
    readings = [transactions(url)]
    while time.monotonic() < deadline:
        time.sleep(0.5)
        readings.append(transactions(url))
        if len(readings) >= 3 and readings[-1] - readings[-2] == readings[-2] - readings[-3]:
            break
    own = readings[-1] - readings[-2]
    return readings[-1] - before - own * len(readings)


def postgres_facts(cluster: Any) -> dict[str, Any]:
    """The server's version and the settings it runs with."""
    import psycopg

    with psycopg.connect(cluster.url(), autocommit=True) as connection:
        shown = {
            name: str((connection.execute(f"SHOW {name}").fetchone() or ("?",))[0])
            for name in (
                "server_version",
                "shared_buffers",
                "fsync",
                "synchronous_commit",
                "max_connections",
            )
        }
    return {"version": shown.pop("server_version"), "settings": shown}


def migrate(index: Path, url: str) -> dict[str, Any]:
    """``recommender db migrate-from-sqlite --from index`` into ``url`` (it upgrades
    the schema first), as an operator moving to PostgreSQL runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOMMENDER_")}
    env |= {"RECOMMENDER_DATABASE_URL": url, "RECOMMENDER_INDEX_DIR": str(index)}
    command = [
        str(scale.VENV_BIN / "recommender"),
        "db",
        "migrate-from-sqlite",
        "--from",
        str(index),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"migrate-from-sqlite failed ({done.returncode}): {done.stderr[-800:]}")
    return {"output": done.stdout.strip(), "seconds": time.perf_counter() - started}


def load_files(index: Path, work: Path) -> dict[str, Path]:
    """The wrk scripts: uniform ids over the whole published snapshot, and a hot set."""
    from recommender.snapshot import SnapshotStore

    ids = SnapshotStore(index).article_ids()
    (work / "ids.txt").write_text("\n".join(ids) + "\n")
    rng = np.random.default_rng(1)
    hot = rng.choice(ids, min(scale.HOT_IDS, len(ids)), replace=False)
    (work / "hot-ids.txt").write_text("\n".join(str(i) for i in hot) + "\n")
    return {
        "index": index,
        "work": work,
        "uniform": loadgen.write_lua(work / "uniform.lua", work / "ids.txt"),
        "hot": loadgen.write_lua(work / "hot.lua", work / "hot-ids.txt"),
    }


# -- measuring ------------------------------------------------------------------------------


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU seconds the processes have used (those gone count 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (every core, from /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU seconds of this process's finished children (each wrk run, once reaped)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured_pass(
    server: scale.Server, script: Path, seconds: int, log: Path, cluster: Any
) -> dict[str, Any]:
    """One wrk pass, with the CPU the server's workers spent on it, PostgreSQL's
    (``cluster``; None for a SQLite-backed server), and the CPU every other process
    on the machine used meanwhile (in cores: the machine is shared)."""
    workers = server.workers()
    pg = postgres_pids(cluster) if cluster is not None else []
    master = [server.process.pid]
    load = os.getloadavg()[0]
    started = time.monotonic()
    before = (cpu_seconds(workers), cpu_seconds(pg), cpu_seconds(master))
    machine_before, wrk_before = busy_seconds(), children_cpu_seconds()
    result = vars(loadgen.run_wrk(server.base, script, seconds, log=log))
    machine, wrk = busy_seconds() - machine_before, children_cpu_seconds() - wrk_before
    elapsed = time.monotonic() - started
    pg_after = postgres_pids(cluster) if cluster is not None else []
    spent = (
        cpu_seconds(workers) - before[0],
        cpu_seconds(pg_after) - before[1] if pg else 0.0,
        cpu_seconds(master) - before[2],
    )
    requests = max(1, result["requests"])
    result["load_average_before"] = load
    result["workers_cpu_ms_per_request"] = spent[0] * 1000 / requests
    if pg:
        # Backends that started during the pass count from zero; none end during one.
        result["postgres_cpu_ms_per_request"] = spent[1] * 1000 / requests
    result["wrk_cpu_cores"] = wrk / elapsed
    result["others_cpu_cores"] = max(0.0, machine - sum(spent) - wrk) / elapsed
    return result


def serve(
    backend: str,
    cached: bool,
    label: str,
    paths: dict[str, Path],
    args: argparse.Namespace,
    url: str,
    cluster: Any,
) -> dict[str, Any]:
    """Start a server on ``backend``, measure it, stop it (see the module docstring)."""
    key = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOMMENDER_")}
    env |= {"RECOMMENDER_INDEX_DIR": str(paths["index"]), "RECOMMENDER_API_KEYS": f"bench:{key}"}
    if backend == "postgresql":
        env["RECOMMENDER_DATABASE_URL"] = url
    if not cached:
        env["RECOMMENDER_RESPONSE_CACHE"] = "0"
    kind = "hot" if cached else "uniform"
    work = paths["work"]
    command = [str(scale.VENV_BIN / "recommender"), "serve", "--port", "0", "--workers", "2"]
    limit = args.step_minutes * 60
    log = work / f"server-{label}-{backend}-{kind}.log"
    committed = transactions(url) if backend == "postgresql" else 0
    pg = cluster if backend == "postgresql" else None
    result: dict[str, Any] = {}
    with scale.serving(command, env, log, scale.SERVING, limit) as server:
        result["ready_seconds"] = scale._ready_everywhere(server.base, limit)
        result["warm_seconds"] = scale._warmed(server, 2, limit)
        if cached:
            fill = min(FILL_SECONDS, args.seconds)
            loadgen.run_wrk(server.base, paths["hot"], fill)  # fills the cache, not recorded
            result["measured"] = measured_pass(
                server, paths["hot"], args.seconds, work / f"wrk-{label}-{backend}-hot.txt", pg
            )
        else:
            first = work / f"wrk-{label}-{backend}-first.txt"
            result["first"] = vars(
                loadgen.run_wrk(server.base, paths["uniform"], args.seconds, log=first)
            )
            result["measured"] = measured_pass(
                server, paths["uniform"], args.seconds, work / f"wrk-{label}-{backend}.txt", pg
            )
    if backend == "postgresql":
        # Over the server's whole life (start-up included): every request it served
        # is a line of its access log, every statement a transaction (autocommit).
        served = len(REQUEST_LINE.findall(log.read_text(errors="replace")))
        spent = transactions_since(url, committed)
        result["statements"] = spent
        result["requests_served"] = served
        result["statements_per_request"] = spent / max(1, served)
    shown = result["measured"]
    print(
        f"    {NAMES[backend]:<10} {kind:<7} {shown['requests_per_second']:8,.0f} req/s  "
        f"p50 {shown['p50_ms']:.2f} ms  p99 {shown['p99_ms']:.2f} ms",
        flush=True,
    )
    return result


def wait_for_quiet(threshold: float, minutes: float, window: float = 3.0) -> float:
    """Wait until the machine's busy time over ``window`` seconds is below
    ``threshold`` cores (nothing of ours runs between two servers), at most
    ``minutes``; the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < minutes * 60:
        before = busy_seconds()
        time.sleep(window)
        if (busy_seconds() - before) / window < threshold:
            break
    return time.monotonic() - started


def measure_pair(
    this: dict[str, Any],
    kind: str,
    paths: dict[str, Path],
    args: argparse.Namespace,
    url: str,
    cluster: Any,
) -> None:
    """One server per backend, one after the other, for ``kind`` (uniform or hot),
    into ``this`` round. On a shared machine, each pair first waits for the other
    processes to go quiet, and is measured again (``--retries``) when they took more
    than ``--max-others`` cores during either pass; the attempts given up are kept."""
    for attempt in range(args.retries + 1):
        waited = wait_for_quiet(args.max_others, args.quiet_minutes)
        label = f"r{this['round']}" + (f"-again{attempt}" if attempt else "")
        pair = {
            backend: serve(backend, kind == "hot", label, paths, args, url, cluster)
            for backend in BACKENDS
        }
        disturbed = {
            backend: pair[backend]["measured"]["others_cpu_cores"]
            for backend in BACKENDS
            if pair[backend]["measured"]["others_cpu_cores"] > args.max_others
        }
        if not disturbed or attempt == args.retries:
            break
        print(f"    other processes took {disturbed} cores: measuring again", flush=True)
        this.setdefault("given_up", []).append(
            {"kind": kind, "disturbed": disturbed}
            | {backend: pair[backend]["measured"] for backend in BACKENDS}
        )
    for backend in BACKENDS:
        this.setdefault(backend, {})[kind] = pair[backend]
    this.setdefault("disturbed", {})[kind] = disturbed
    this.setdefault("quiet_wait_seconds", {})[kind] = waited


def check_cost(
    settings_of: dict[str, Any], url: str, calls: int, repeats: int = 3
) -> dict[str, Any]:
    """Microseconds per change check (``live.seq()`` then ``rules.version()``) on each
    backend, in this process, beside two bare ``SELECT 1`` on a plain psycopg
    connection (PostgreSQL's round trips without the stores' code): ``repeats``
    interleaved runs of ``calls`` checks each, after a warm-up; the median run is
    the figure."""
    import psycopg

    from recommender.state import open_state

    states = {backend: open_state(settings) for backend, settings in settings_of.items()}
    bare = psycopg.connect(url, autocommit=True)

    def round_trips() -> None:
        bare.execute("SELECT 1").fetchall()
        bare.execute("SELECT 1").fetchall()

    checks = {
        backend: (lambda s=state: (s.live.seq(), s.rules.version()))
        for backend, state in states.items()
    } | {"select_1": round_trips}
    runs: dict[str, list[float]] = {name: [] for name in checks}
    try:
        for check in checks.values():
            for _ in range(min(calls, 500)):  # connections opened, statements prepared
                check()
        for _ in range(repeats):
            for name, check in checks.items():
                started = time.perf_counter()
                for _ in range(calls):
                    check()
                runs[name].append((time.perf_counter() - started) / calls * 1e6)
    finally:
        bare.close()
        for state in states.values():
            state.close()
    return {
        name: {"us_per_check": statistics.median(values), "runs_us": values}
        for name, values in runs.items()
    } | {"calls": calls, "repeats": repeats}


def profile_postgres(
    label: str, paths: dict[str, Path], args: argparse.Namespace, url: str
) -> dict[str, Any]:
    """py-spy of one PostgreSQL-backed worker under the uniform load (after a first
    pass), summarised, with the share of its samples in the change check."""
    key = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOMMENDER_")}
    env |= {
        "RECOMMENDER_INDEX_DIR": str(paths["index"]),
        "RECOMMENDER_API_KEYS": f"bench:{key}",
        "RECOMMENDER_DATABASE_URL": url,
        "RECOMMENDER_RESPONSE_CACHE": "0",
    }
    work = paths["work"]
    command = [str(scale.VENV_BIN / "recommender"), "serve", "--port", "0", "--workers", "2"]
    limit = args.step_minutes * 60
    log = work / f"server-{label}-postgresql-profile.log"
    with scale.serving(command, env, log, scale.SERVING, limit) as server:
        scale._ready_everywhere(server.base, limit)
        scale._warmed(server, 2, limit)
        loadgen.run_wrk(server.base, paths["uniform"], args.seconds)
        out = work / "profile-postgresql.speedscope.json"
        found = scale.profile(server, paths["uniform"], PROFILE_SECONDS, out)
    if "file" in found:
        main = scale.serving_thread(out, work / "profile-postgresql.main-thread.speedscope.json")
        found["main_thread_file"] = str(main)
        found["top"] = scale.summarise_speedscope(main)
        found["check"] = check_share(main)
    return found


def _matches(frame_name: str, method: str, file: str) -> bool:
    """Whether ``Class.method (file)`` or ``method (file)`` names ``method`` in ``file``."""
    name, _, where = frame_name.partition(" (")
    return where == f"{file})" and name.rsplit(".", 1)[-1] == method


def check_share(path: Path) -> dict[str, float]:
    """Inclusive shares (0-1) of a profile's samples in the change check: the whole
    check (``Engine._counters``, whatever reads the counters), and within it the
    single-row read of both counters (PostgreSQL's ``CounterRow``) or the live and
    rules counters read one after the other (SQLite)."""
    inclusive, _, total = scale._inclusive(path)
    if not total:
        return {}

    def share(method: str, file: str) -> float:
        return sum(w for n, w in inclusive.items() if _matches(n, method, file)) / total

    return {
        "both": share("_counters", "recommender/engine.py"),
        "counter_row": share("read", "recommender/postgres.py"),
        "live_seq": share("seq", "recommender/live.py"),
        "rules_version": share("version", "recommender/rules.py"),
    }


# -- the run -----------------------------------------------------------------------------------


def commit() -> str:
    """The short commit of the working tree, marked when it has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head} with uncommitted changes" if dirty else head or "unknown"


def ratios(rounds: list[dict[str, Any]], kind: str, figure: str) -> list[float]:
    """PostgreSQL's figure over SQLite's, per round."""
    return [
        r["postgresql"][kind]["measured"][figure] / r["sqlite"][kind]["measured"][figure]
        for r in rounds
    ]


def summarise(run: dict[str, Any]) -> None:
    """Medians over the rounds whose pair of passes no other process disturbed (over
    every round if each was), per backend and of the ratios; the verdict."""
    summary: dict[str, Any] = {}
    for kind in KINDS:
        clean = [r for r in run["rounds"] if not r["disturbed"][kind]]
        rounds = clean or run["rounds"]
        medians = {
            backend: {
                figure: statistics.median(r[backend][kind]["measured"][figure] for r in rounds)
                for figure in ("requests_per_second", "p50_ms", "p99_ms")
            }
            for backend in BACKENDS
        }
        summary[kind] = medians | {
            "ratio": statistics.median(ratios(rounds, kind, "requests_per_second")),
            "p50_ratio": statistics.median(ratios(rounds, kind, "p50_ms")),
            "p99_ratio": statistics.median(ratios(rounds, kind, "p99_ms")),
            "rounds": [r["round"] for r in rounds],
            "all_disturbed": not clean,
        }
    summary["met"] = summary["uniform"]["ratio"] >= GOAL
    run["summary"] = summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100k", help="corpus size: 1k, 10k, 100k or 1m")
    parser.add_argument("--out", type=Path, default=None, help="docs/benchmarks.md to update")
    parser.add_argument("--work", type=Path, default=WORK, help="where everything goes")
    parser.add_argument(
        "--scale-work", type=Path, default=CACHE, help="the scale benchmark's directory (read only)"
    )
    parser.add_argument("--seed", type=int, default=0, help="of a corpus generated here")
    parser.add_argument("--seconds", type=int, default=20, help="length of each wrk pass")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--check-calls", type=int, default=20_000, help="change checks timed")
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="py-spy a PostgreSQL-backed worker: auto = when the goal is not met",
    )
    parser.add_argument("--step-minutes", type=float, default=20.0, help="limit of each step")
    parser.add_argument(
        "--max-others",
        type=float,
        default=0.2,
        help="cores other processes may take during a pass before its pair is measured again",
    )
    parser.add_argument("--retries", type=int, default=2, help="of a disturbed pair of passes")
    parser.add_argument(
        "--quiet-minutes",
        type=float,
        default=10.0,
        help="longest wait for the machine to go quiet before each pair (0: no wait)",
    )
    parser.add_argument(
        "--render", action="store_true", help="only rewrite the section from the last run.json"
    )
    given = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(given)
    from .state_report import render

    if args.render:
        saved = json.loads((args.work / "run.json").read_text())
        if args.out:
            write_marked_section(args.out, STATE, render(saved))
        print(render(saved))
        return
    label = args.size.strip().lower()
    if label not in scale.SIZES:
        parser.error(f"unknown size {label}: choose from {', '.join(scale.SIZES)}")
    if loadgen.wrk_path() is None:
        sys.exit("wrk is not installed: run `make bench-state` (it installs wrk with apt-get)")
    from tests.postgres import PostgresUnavailable

    started = datetime.now(UTC)
    work = args.work / label
    work.mkdir(parents=True, exist_ok=True)
    run: dict[str, Any] = {
        "started": started.isoformat(timespec="minutes"),
        "commit": commit(),
        "machine": scale.machine(),
        "load_average": os.getloadavg(),
        "command": shlex.join(["python", "-m", "benchmarks.state", *given]),
        "args": {
            "size": scale.SIZES[label],
            "label": label,
            "seconds": args.seconds,
            "rounds": args.rounds,
            "connections": 4,
            "threads": 2,
            "workers": 2,
            "fill_seconds": min(FILL_SECONDS, args.seconds),
            "hot_ids": scale.HOT_IDS,
            "max_others": args.max_others,
            "retries": args.retries,
            "quiet_minutes": args.quiet_minutes,
        },
    }
    print(f"== index of {scale.SIZES[label]:,} articles", flush=True)
    run["source"] = find_index(label, scale.SIZES[label], args)
    index = work / "index-sqlite"
    run["version"] = fresh_copy(Path(run["source"]["index"]), index)
    try:
        cluster = start_postgres()
    except PostgresUnavailable as exc:
        sys.exit(f"bench-state: {exc}")
    try:
        run["postgres"] = postgres_facts(cluster)
        url = cluster.create_database(DATABASE)
        run["migrate"] = migrate(index, url)
        paths = load_files(index, work)
        run["rounds"] = []
        for number in range(1, args.rounds + 1):
            print(f"== round {number} of {args.rounds}", flush=True)
            this: dict[str, Any] = {"round": number, "load_average": os.getloadavg()}
            for kind in KINDS:
                measure_pair(this, kind, paths, args, url, cluster)
            run["rounds"].append(this)
            (args.work / "run.json").write_text(json.dumps(run, indent=2, default=str))
        print("== the change check, in-process", flush=True)
        from recommender import Settings

        run["check"] = check_cost(
            {
                "sqlite": Settings(index_dir=index),
                "postgresql": Settings(index_dir=index, database_url=url),
            },
            url,
            args.check_calls,
        )
        summarise(run)
        wanted = args.profile == "always" or (args.profile == "auto" and not run["summary"]["met"])
        if wanted:
            print("== profile of a PostgreSQL-backed worker", flush=True)
            run["profile"] = profile_postgres(label, paths, args, url)
    finally:
        from recommender.postgres import close_all

        close_all()
        cluster.stop()
    run["minutes"] = (datetime.now(UTC) - started).total_seconds() / 60
    (args.work / "run.json").write_text(json.dumps(run, indent=2, default=str))
    section = render(run)
    print(section)
    if args.out:
        write_marked_section(args.out, STATE, section)


if __name__ == "__main__":
    # Stopped with SIGTERM (or SIGINT, which a shell ignores in background jobs), the
    # run still stops its servers and removes its PostgreSQL cluster.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
