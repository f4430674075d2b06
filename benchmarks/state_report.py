"""The Markdown section `make bench-state` writes into docs/benchmarks.md, from the
figures of one run (``var/bench/state/run.json``): read throughput with the shared
state in PostgreSQL beside SQLite, the cost of the change check, and the goal."""

from __future__ import annotations

import statistics
from typing import Any

from .state import BACKENDS, GOAL, HEADING, NAMES

TITLES = {
    "uniform": "### Uncached reads: uniform ids over the whole corpus, response cache off",
    "hot": "### Hot set: 100 ids, response cache on",
}


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} ms"


def _cpu(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} ms"


def _cores(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} cores"


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def header(run: dict[str, Any]) -> list[str]:
    machine, args, source = run["machine"], run["args"], run["source"]
    postgres = run.get("postgres", {})
    pg_settings = postgres.get("settings", {})
    loads = ", ".join(f"{r['round']}: {r['load_average'][0]:.1f}" for r in run["rounds"])
    summary = run["summary"]
    verdict = "met" if summary["met"] else "NOT met"
    return [
        HEADING,
        "",
        "Read throughput with the shared state in PostgreSQL (`RECOMMENDER_DATABASE_URL`) "
        "beside SQLite files in the index directory, on the same snapshot, in the same run. "
        f"Goal (the PostgreSQL issue's acceptance): PostgreSQL's uncached read throughput at "
        f"least {GOAL}× SQLite's at 100k articles, since a request may read PostgreSQL only "
        "for its cheap change check: the live sequence and the rules version, read once "
        "per request (`Engine.view()`) in one single-row SELECT on the worker thread's own "
        "connection (`postgres.CounterRow`).",
        "",
        f"**PostgreSQL/SQLite, uncached: {summary['uniform']['ratio']:.3f}× "
        f"(median of {_rounds_used(run)}): goal {verdict}.** Hot set, response "
        f"cache on: {summary['hot']['ratio']:.3f}×.",
        "",
        f"Run on {run['started'][:16].replace('T', ' ')} UTC, {run['minutes']:.0f} minutes, "
        f"commit {run['commit']}; machine: {machine['cores']} cores, "
        f"{machine['memory_gib']:.0f} GiB, {machine['cpu']}, Python {machine['python']}; "
        f"PostgreSQL {postgres.get('version', '?')} on the same machine, a throwaway cluster "
        "(`tests/postgres.py`: loopback TCP, "
        f"fsync {pg_settings.get('fsync', '?')}, shared_buffers "
        f"{pg_settings.get('shared_buffers', '?')}). Command: `{run['command']}`. "
        f"Index: {args['size']:,} synthetic articles (`benchmarks/synthetic.py`), "
        f"{source['origin']} (`{_short(source['index'])}`); its published version "
        f"`{run['version']}` is hard-linked into a fresh index directory with no live "
        "changes and no rules, which every server here uses, and PostgreSQL's database was "
        f"filled from it by `recommender db migrate-from-sqlite` "
        f"({run['migrate']['output'].split(': ', 1)[-1]}). The machine is shared: load "
        f"average (1 min) when each round started: {loads}.",
        "",
        f"Method: {_rounds(run)}; in each, four servers one after another "
        "(SQLite then PostgreSQL with the response cache off, then the same pair with it "
        "on), so drift on the machine hits both backends alike. Each server: `recommender "
        f"serve --workers {args['workers']} --port 0` with API keys set (every worker loads "
        "the model before any figure is taken). wrk on loopback, "
        f"{args['connections']} connections, {args['threads']} threads, `GET "
        "/v1/articles/<id>/recommendations`. Uncached: `RECOMMENDER_RESPONSE_CACHE=0`, "
        f"ids drawn uniformly from all {args['size']:,}; a first pass of {args['seconds']} s "
        "(each worker's first touch of the mapped snapshot) is discarded, then a measured "
        f"pass of {args['seconds']} s. Hot set: the response cache on (its default size), "
        f"{args['hot_ids']} ids, a {args['fill_seconds']} s pass to fill the cache, then "
        f"{args['seconds']} s measured. CPU per request: user + system time of the two "
        "workers, and of every PostgreSQL process, over the measured pass (/proc), divided "
        "by its requests; PostgreSQL runs on the same two cores, so its CPU is taken from "
        "the workers'. Other processes' CPU: the machine's busy time over the pass "
        "(/proc/stat) less the server's, PostgreSQL's and wrk's, in cores: what anything "
        "else running on the machine took. The machine is shared, so before each pair the "
        "run waits (up to "
        f"{args.get('quiet_minutes', 0):g} min) until the machine is idle, and measures a "
        "pair again (up to "
        f"{args.get('retries', 0)} times) when other processes took more than "
        f"{args.get('max_others', 0):g} cores during either of its passes; the medians "
        "leave out the rounds still disturbed.",
        "",
        "How to run it: `make bench-state` (`SIZE=100k` by default). It installs wrk and "
        "PostgreSQL with apt-get (`make wrk`, `make postgres`), reuses `make bench-scale`'s "
        "index of that size when it loads (never writing into it), or else generates and "
        "builds one under `var/bench/state/`, where it keeps the wrk outputs, server logs "
        "and the raw figures (`var/bench/state/run.json`). Only this section of the page is "
        "rewritten. CI never runs it.",
        "",
    ]


def _rounds(run: dict[str, Any]) -> str:
    count = len(run["rounds"])
    return f"{count} round" if count == 1 else f"{count} rounds"


def _rounds_used(run: dict[str, Any]) -> str:
    used = run["summary"]["uniform"].get("rounds", run["rounds"])
    return f"{len(used)} round" if len(used) == 1 else f"{len(used)} rounds"


def _short(path: str) -> str:
    marker = "var/bench/"
    return path[path.index(marker) :] if marker in path else path


def table(run: dict[str, Any], kind: str) -> list[str]:
    lines = [
        TITLES[kind],
        "",
        "| round | backend | req/s | p50 | p99 | PostgreSQL/SQLite req/s "
        "| workers' CPU per request | PostgreSQL's CPU per request | other processes' CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in run["rounds"]:
        mark = "*" if r.get("disturbed", {}).get(kind) else ""
        for backend in BACKENDS:
            lines.append(
                _row(f"{r['round']}{mark}", backend, r[backend][kind]["measured"], r, kind)
            )
    medians = run["summary"][kind]
    used = [r for r in run["rounds"] if r["round"] in medians.get("rounds", [])]
    for backend in BACKENDS:
        m = medians[backend]
        cpu = [
            _median([r[backend][kind]["measured"].get(name) for r in used])
            for name in ("workers_cpu_ms_per_request", "postgres_cpu_ms_per_request")
        ]
        ratio = f"**{medians['ratio']:.3f}×**" if backend == "postgresql" else ""
        lines.append(
            f"| median | {NAMES[backend]} | {m['requests_per_second']:,.0f} "
            f"| {_ms(m['p50_ms'])} | {_ms(m['p99_ms'])} | {ratio} | {_cpu(cpu[0])} "
            f"| {_cpu(cpu[1])} | |"
        )
    lines += ["", *_medians_note(run, kind), ""]
    given_up = [g for r in run["rounds"] for g in r.get("given_up", []) if g["kind"] == kind]
    if given_up:
        lines += [
            "Pairs measured again because other processes took more than "
            f"{run['args']['max_others']:g} cores during a pass (not in the table): "
            + "; ".join(
                ", ".join(
                    f"{NAMES[b]} {g[b]['requests_per_second']:,.0f} req/s "
                    f"(others {g[b]['others_cpu_cores']:.2f} cores)"
                    for b in BACKENDS
                )
                for g in given_up
            )
            + ".",
            "",
        ]
    return lines


def _row(label: str, backend: str, shown: dict[str, Any], r: dict[str, Any], kind: str) -> str:
    ratio = ""
    if backend == "postgresql":
        sqlite = r["sqlite"][kind]["measured"]["requests_per_second"]
        ratio = f"{shown['requests_per_second'] / sqlite:.3f}×"
    failed = shown.get("non_2xx", 0) + shown.get("socket_errors", 0)
    note = f" ({failed:,} failed)" if failed else ""
    return (
        f"| {label} | {NAMES[backend]} | {shown['requests_per_second']:,.0f}{note} "
        f"| {_ms(shown['p50_ms'])} | {_ms(shown['p99_ms'])} | {ratio} "
        f"| {_cpu(shown.get('workers_cpu_ms_per_request'))} "
        f"| {_cpu(shown.get('postgres_cpu_ms_per_request'))} "
        f"| {_cores(shown.get('others_cpu_cores'))} |"
    )


def _medians_note(run: dict[str, Any], kind: str) -> list[str]:
    medians = run["summary"][kind]
    rounds = medians.get("rounds", [r["round"] for r in run["rounds"]])
    disturbed = [r["round"] for r in run["rounds"] if r.get("disturbed", {}).get(kind)]
    over = (
        "over every round (each was disturbed: marked *)"
        if medians.get("all_disturbed")
        else f"over round{'s' if len(rounds) > 1 else ''} {', '.join(map(str, rounds))}"
        + (
            f" (left out, marked *: {', '.join(map(str, disturbed))}, where other processes "
            f"took more than {run['args']['max_others']:g} cores during a pass even after "
            f"{run['args']['retries']} more attempts)"
            if disturbed
            else ""
        )
    )
    return [
        f"Medians {over}; of the per-round ratios, PostgreSQL over SQLite: req/s "
        f"{medians['ratio']:.3f}×, p50 {medians['p50_ratio']:.3f}×, p99 "
        f"{medians['p99_ratio']:.3f}×."
    ]


def check(run: dict[str, Any]) -> list[str]:
    found = run["check"]
    sqlite, postgres = (found[b]["us_per_check"] for b in BACKENDS)
    statements = {
        kind: statistics.median(
            r["postgresql"][kind]["statements_per_request"] for r in run["rounds"]
        )
        for kind in ("uniform", "hot")
    }
    extra = {kind: _extra_cpu(run, kind) for kind in ("uniform", "hot")}
    return [
        "### The change check",
        "",
        f"In one process, `open_state(settings)` for each backend, then {found['calls']:,} "
        "calls of `state.live.seq(); state.rules.version()`, each store's own check, two "
        "statements on PostgreSQL (after a warm-up; "
        f"{found['repeats']} runs, the backends interleaved, median run):",
        "",
        "| backend | µs per check | runs (µs) |",
        "|---|---:|---|",
        *(
            f"| {NAMES[b]} | {found[b]['us_per_check']:.1f} "
            f"| {', '.join(f'{v:.1f}' for v in found[b]['runs_us'])} |"
            for b in BACKENDS
        ),
        *(
            [
                "| baseline: two `SELECT 1` on a plain psycopg connection "
                f"| {found['select_1']['us_per_check']:.1f} "
                f"| {', '.join(f'{v:.1f}' for v in found['select_1']['runs_us'])} |"
            ]
            if "select_1" in found
            else []
        ),
        "",
        f"PostgreSQL's check costs {postgres / sqlite:.1f}× SQLite's. A PostgreSQL-backed "
        f"server ran {statements['uniform']:.2f} statements per request uncached and "
        f"{statements['hot']:.2f} with the hot set (median over the rounds; commits in "
        "`pg_stat_database` over the server's whole life, start-up included, over the "
        "requests in its access log): one statement is one request's change check, both "
        "counters at once, so a request costs about half the micro-measure's round trips. "
        "The micro-measure runs in a process of its own with no "
        "server running; under load, each round trip also waits for a PostgreSQL "
        "backend to get one of the two cores. Under load, the CPU a PostgreSQL-backed "
        "request costs beyond a SQLite-backed one (its workers' plus PostgreSQL's, less "
        "SQLite's workers', per round, median over the rounds in the medians above) is "
        f"{_signed(extra['uniform'])} uncached and {_signed(extra['hot'])} with the hot set: "
        f"{_per_check(extra['uniform'], statements['uniform'])} and "
        f"{_per_check(extra['hot'], statements['hot'])} per change check.",
        "",
    ]


def _extra_cpu(run: dict[str, Any], kind: str) -> float | None:
    """Median over the rounds used of PostgreSQL's CPU per request (workers' plus
    PostgreSQL's) less SQLite's (workers'), in ms."""
    used = run["summary"][kind].get("rounds", [r["round"] for r in run["rounds"]])
    extras = []
    for r in run["rounds"]:
        if r["round"] not in used:
            continue
        pg, sqlite = r["postgresql"][kind]["measured"], r["sqlite"][kind]["measured"]
        if pg.get("postgres_cpu_ms_per_request") is None:
            continue
        extras.append(
            pg["workers_cpu_ms_per_request"]
            + pg["postgres_cpu_ms_per_request"]
            - sqlite["workers_cpu_ms_per_request"]
        )
    return statistics.median(extras) if extras else None


def _signed(ms: float | None) -> str:
    return "–" if ms is None else f"{ms:+.2f} ms"


def _per_check(ms: float | None, statements: float) -> str:
    checks = statements  # one statement per change check (both counters at once)
    return "–" if ms is None or checks <= 0 else f"{ms / checks:.2f} ms"


def profile(run: dict[str, Any]) -> list[str]:
    found = run.get("profile")
    if not found:
        return []
    if "top" not in found:
        return ["### Where the time goes", "", f"The profile failed: {found.get('error')}", ""]
    lines = [
        "### Where the time goes",
        "",
        "py-spy (`record --format speedscope`, 200 Hz, 10 s) of one PostgreSQL-backed "
        "worker under the uniform load, uncached, after a first pass; only its main thread, "
        "which serves the requests (the connection pool's threads and tqdm's monitor wait "
        "all along, and py-spy counts them as busy): "
        f"`{_short(found.get('main_thread_file', found['file']))}`. The change "
        f"check (`Engine._counters`) holds {found['check'].get('both', 0):.1%} of its "
        f"samples, {found['check'].get('counter_row', 0):.1%} of them in the single-row "
        "read of both counters (`CounterRow.read`). Inclusive: share of samples with "
        "the function on the stack; self: share with it running.",
        "",
        "| function | inclusive | self |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| `{row['function']}` | {row['inclusive']:.0%} | {row['self']:.0%} |"
        for row in found["top"]
    ]
    return [*lines, ""]


def render(run: dict[str, Any]) -> str:
    """The section, from a finished run's figures."""
    lines = header(run)
    for kind in TITLES:
        lines += table(run, kind)
    lines += check(run)
    lines += profile(run)
    return "\n".join(lines).rstrip() + "\n"
