"""The Markdown section `make bench-scale` writes into docs/benchmarks.md, from the
figures of one run (``var/bench/scale/run.json``): each goal of issue 11 beside
its same-run baseline, and whether it is met."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

Size = dict[str, Any]


def _missing(step: Any) -> str | None:
    """Why a step has no figures: not finished in time, failed, or not run."""
    if not isinstance(step, dict):
        return "not run"
    if step.get("skipped"):
        return "skipped"
    if "timeout" in step:
        inside = [f for f in step.get("stack", []) if "(recommender/" in f][:1]
        where = f" (stopped in `{inside[0].split(' (', 1)[0]}`)" if inside else ""
        return f"not finished in {step['timeout']:g} min{where}"
    if "error" in step:
        return "failed"
    return None


def _get(size: Size, *path: str) -> Any:
    value: Any = size
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _num(value: float | None, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{unit}"


def _verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("**met**" if ok else "**not met**")


def _step_or(size: Size, step: str, show: Callable[[dict[str, Any]], str]) -> str:
    missing = _missing(size.get(step))
    return missing if missing else show(size[step])


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:,.1f} s"


def _mib_as_gb(mib: float | None) -> str:
    return "–" if mib is None else f"{mib / 1024:.2f} GB"


def header(run: dict[str, Any]) -> list[str]:
    machine = run["machine"]
    sizes = ", ".join(f"{s['size']:,}" for s in run["sizes"])
    return [
        "## Scale (`make bench-scale`)",
        "",
        f"Run on {run['started'][:16].replace('T', ' ')} UTC, {run['minutes']:.0f} minutes; "
        f"machine: {machine['cores']} cores, {machine['memory_gib']:.0f} GiB, {machine['cpu']}, "
        f"Python {machine['python']}. Command: `{run['command']}` "
        f"(wrk runs of {run['args']['seconds']} s; builds, reindexes and txtai limited to "
        f"{run['args'].get('build_minutes', run['args']['step_minutes']):g} min, every other "
        f"step to {run['args']['step_minutes']:g} min). Corpus sizes: {sizes} synthetic articles "
        "(`benchmarks/synthetic.py`, seed "
        f"{run['args']['seed']}): real all-MiniLM-L6-v2 vectors of the NFCorpus and SciFact "
        "documents mixed by neighbourhood plus noise, supplied as Parquet, so no model runs "
        "during a build. Every figure is beside its baseline from the same run; the "
        "machine is shared, so compare ratios. Load average (1 min) when each size "
        "started: "
        + ", ".join(
            f"{s['size']:,}: {s['load_average'][0]:.1f}"
            for s in run["sizes"]
            if "load_average" in s
        )
        + ".",
        "",
        "How to run it: `make bench-scale` (all four sizes) or `make bench-scale "
        "SIZES=1k,10k`. It installs wrk with apt-get (`make wrk`), reads the benchmark "
        "documents from `../shared/data` (or `$RECOMMENDER_BENCH_DATA`), embeds them once "
        "per machine into `var/bench/scale/`, installs txtai into its own virtualenv "
        "`var/bench/txtai-venv` on first use, and keeps every corpus, index, wrk output, "
        "server log, profile and the raw figures (`var/bench/scale/run.json`) under "
        "`var/bench/scale/`. Only this section of the page is rewritten; `make bench` "
        "rewrites the rest and keeps it. CI never runs it.",
        "",
        *_measured_apart(run),
        *(f"Note: {note}" for note in run.get("notes", [])),
        *([""] if run.get("notes") else []),
    ]


def _measured_apart(run: dict[str, Any]) -> list[str]:
    """A line saying when and on which commit each group of sizes was measured, when
    the sizes come from more than one run (``--add``); none otherwise. A size names
    its run by the run's start (``run``; older records only by their own start)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for size in run["sizes"]:
        when = str(size.get("run") or size.get("started") or run["started"])
        when = when[:16].replace("T", " ")
        commit = str(size.get("commit") or "an earlier commit")
        groups.setdefault((when, commit), []).append(f"{size['size']:,}")
    if len(groups) < 2:
        return []
    parts = [
        f"{', '.join(sizes)} articles on {when} UTC at commit `{commit}`"
        for (when, commit), sizes in groups.items()
    ]
    return [
        "Measured in more than one run, on different code (compare each row with its "
        "own baselines, never across runs): " + "; ".join(parts) + ".",
        "",
    ]


def serving_table(run: dict[str, Any]) -> list[str]:
    lines = [
        "### Serving: `GET /v1/articles/<id>/recommendations`",
        "",
        "2 gunicorn workers on loopback; wrk, 4 connections, ids drawn uniformly from the "
        "whole corpus with the response cache off (every answer computed), then from a "
        "hot set of 100 ids on a server with the cache on (4,096 answers per worker, the "
        "default). Baseline: a bare Flask "
        "app under the same gunicorn with the same workers, returning one response "
        "captured from the server. The uniform figures are a second pass of the same "
        "length; the first pass after the workers start, when each first touches most "
        "of the snapshot's mapped pages, is shown apart. Goals: ≥ 0.5× bare Flask and "
        "p99 ≤ 10 ms at 100k, ≥ 0.4× at 1M, p50 at 1M ≤ 1.5× p50 at 1k, hot set ≥ 0.9×.",
        "",
        "| articles | req/s | bare Flask req/s | ratio | p50 | p99 | first pass req/s "
        "| first pass p99 | hot set req/s | hot ratio | goal |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    first_p50 = None
    for size in run["sizes"]:
        uniform = _get(size, "serving", "uniform")
        bare = _get(size, "serving", "bare")
        hot = _get(size, "serving", "hot")
        first = _get(size, "serving", "uniform_first")
        if not uniform or not bare:
            why = _missing(size.get("build")) or _get(size, "serving", "error") or "not run"
            lines.append(f"| {size['size']:,} | {why} | | | | | | | | | |")
            continue
        ratio = uniform["requests_per_second"] / bare["requests_per_second"]
        hot_ratio = hot["requests_per_second"] / bare["requests_per_second"] if hot else None
        first_p50 = first_p50 if first_p50 is not None else uniform["p50_ms"]
        if size["size"] >= 1_000_000:
            ok = ratio >= 0.4 and uniform["p50_ms"] <= 1.5 * first_p50
        else:
            ok = ratio >= 0.5 and uniform["p99_ms"] <= 10
        ok = ok and (hot_ratio or 0) >= 0.9
        lines.append(
            f"| {size['size']:,} | {uniform['requests_per_second']:,.0f} "
            f"| {bare['requests_per_second']:,.0f} | {ratio:.3f} | {uniform['p50_ms']:.1f} ms "
            f"| {uniform['p99_ms']:.1f} ms | {_num(first and first['requests_per_second'], 0)} "
            f"| {_num(first and first['p99_ms'], 1, ' ms')} "
            f"| {_num(hot and hot['requests_per_second'], 0)} "
            f"| {_num(hot_ratio, 3)} | {_verdict(ok)} |"
        )
    return [*lines, ""]


def live_table(run: dict[str, Any]) -> list[str]:
    lines = [
        "### Live changes",
        "",
        "Reads as above while a second client PUTs an edited article every second (the "
        "model was loaded as the server started). PUT latency under that load, and on "
        "the otherwise idle server (the 3 PUTs of the next column, median), beside raw "
        "model encodes of such articles measured in the same run (model loaded, median): "
        "one encode cut at the model's 256-token window, and one of the windows a PUT "
        "embeds (see Drafts). Under load the PUT shares 2 cores with 2 busy workers and "
        'the load client. "Served by both workers": from sending a PUT until 20 reads '
        "in a row on fresh connections return it (median of 3). Goals: read p99 ≤ 20 ms "
        "while PUTs arrive, PUT ≤ 3× one encode (judged on the idle PUT against the "
        "encode of its windows), served by every worker within 1 s.",
        "",
        "| articles | read p99 during PUTs | read req/s during PUTs | PUT median under load "
        "| PUT max under load | PUT, idle | raw encode (cut) | encode of the windows "
        "| idle PUT / windows | served by both workers | goal |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for size in run["sizes"]:
        live = _get(size, "serving", "live")
        if not live:
            lines.append(f"| {size['size']:,} | not run | | | | | | | | | |")
            continue
        reads, puts = live["reads"], live["put_ms"]
        later = puts[1:] or puts
        put_median = statistics.median(later) if later else None
        idle = size["serving"].get("idle_put_ms") or []
        idle_median = statistics.median(idle) if idle else None
        windows = live.get("windows_encode_ms")
        ratio = idle_median / windows if idle_median and windows else None
        everywhere = [s for s in size["serving"].get("everywhere_seconds", []) if s is not None]
        both = statistics.median(everywhere) if everywhere else None
        ok = (
            reads["p99_ms"] <= 20
            and ratio is not None
            and ratio <= 3
            and both is not None
            and both <= 1
            and len(everywhere) == len(size["serving"].get("everywhere_seconds", []))
        )
        lines.append(
            f"| {size['size']:,} | {reads['p99_ms']:.1f} ms | {reads['requests_per_second']:,.0f} "
            f"| {_num(put_median, 0, ' ms')} | {_num(max(later) if later else None, 0, ' ms')} "
            f"| {_num(idle_median, 0, ' ms')} | {_num(live.get('encode_ms'), 1, ' ms')} "
            f"| {_num(windows, 1, ' ms')} | {_num(ratio, 1, '×')} | {_seconds(both)} "
            f"| {_verdict(ok)} |"
        )
    return [*lines, ""]


def upserts_table(run: dict[str, Any]) -> list[str]:
    lines = [
        "### Reads with a full live layer",
        "",
        "After the writes above, 1,000 new articles PUT one after another with their "
        "vectors supplied (`embedding` in the body, so the model does not run), each "
        "an existing article's text under a new id; then uniform reads as above: a "
        "first pass, in which each worker lays the new upserts over its catalog, shown "
        "apart, then a second pass of the same length, the steady state. Baseline: the "
        "uniform reads (second pass) of the same server before any write. Goal (the "
        'issue\'s "thousands of live upserts must not slow reads", read as): ≥ 0.9× '
        "the throughput without them.",
        "",
        "| articles | upserts | req/s | without upserts | ratio | p99 | first pass req/s "
        "| first pass p99 | PUT median, first 100 | PUT median, last 100 | goal |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for size in run["sizes"]:
        many = _get(size, "serving", "many_upserts")
        uniform = _get(size, "serving", "uniform")
        if not many or not uniform or "reads" not in many:
            lines.append(f"| {size['size']:,} | not run | | | | | | | | | |")
            continue
        reads = many["reads"]
        ratio = reads["requests_per_second"] / uniform["requests_per_second"]
        ok = ratio >= 0.9 and many["put_statuses"] in ([200], [201], [200, 201])
        first = many.get("reads_first") or {}
        lines.append(
            f"| {size['size']:,} | {many['count']:,} | {reads['requests_per_second']:,.0f} "
            f"| {uniform['requests_per_second']:,.0f} | {ratio:.2f} "
            f"| {reads['p99_ms']:.1f} ms "
            f"| {_num(first.get('requests_per_second'), 0, '')} "
            f"| {_num(first.get('p99_ms'), 1, ' ms')} "
            f"| {_num(statistics.median(many['put_ms_first_100']), 0, ' ms')} "
            f"| {_num(statistics.median(many['put_ms_last_100']), 0, ' ms')} | {_verdict(ok)} |"
        )
    return [*lines, ""]


def build_table(run: dict[str, Any]) -> list[str]:
    lines = [
        "### Build and reindex",
        "",
        "Build: `build_index` of the whole Parquet corpus into an empty index, every vector "
        "supplied (the model is never loaded). Baseline: txtai 9.14's hybrid index "
        "(faiss + its BM25) over the same texts and vectors, in its own virtualenv, same "
        "run. Reindex: the same corpus with one article's body changed, published over the "
        "build. Goals: build no slower than txtai, 1M within 60 min; reindex at 100k ≤ 2× "
        "the 1k figure.",
        "",
        "| articles | build | txtai build | build / txtai | reindex after changing 1 "
        "| reindex / 1k | goal |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    first_reindex = None
    for size in run["sizes"]:
        build = _step_or(size, "build", lambda s: _seconds(s["seconds"]))
        txtai = _step_or(size, "txtai", lambda s: _seconds(s["build_seconds"]))
        build_s = _get(size, "build", "seconds")
        txtai_s = _get(size, "txtai", "build_seconds")
        ratio = build_s / txtai_s if build_s and txtai_s else None
        reindex_s = _get(size, "reindex", "seconds")
        if first_reindex is None and reindex_s:
            first_reindex = reindex_s
        reindex = _step_or(size, "reindex", lambda s: _seconds(s["seconds"]))
        growth = reindex_s / first_reindex if reindex_s and first_reindex else None
        ok: bool | None = None
        if ratio is not None:
            ok = ratio <= 1.0
        if size["size"] >= 100_000 and growth is not None:
            ok = (ok is not False) and growth <= 2
        if size["size"] >= 1_000_000:
            ok = (ok is not False) and build_s is not None and build_s <= 3600
        if build_s is None:
            ok = False
        lines.append(
            f"| {size['size']:,} | {build} | {txtai} | {_num(ratio, 2, '×')} | {reindex} "
            f"| {_num(growth, 1, '×')} | {_verdict(ok)} |"
        )
    return [*lines, ""]


def memory_table(run: dict[str, Any]) -> list[str]:
    lines = [
        "### Memory and start-up",
        "",
        "RSS and PSS summed over the gunicorn master, its 2 workers and the process "
        "that holds the model for them (from `/proc/<pid>/smaps_rollup`), after the "
        "read runs and again after the writes. PSS divides each shared page among the "
        "processes sharing it, so its sum is what the server really holds. "
        "`Snapshot.load` as a server worker loads a version (file sizes checked, arrays "
        "memory-mapped, the dense and lexical indexes opened), the same with every "
        "checksum verified (what `recommender verify` reads), and the engine's start "
        "(load plus catalog) in one process; txtai loading its saved hybrid index, for "
        "reference. Goals: RSS ≤ 1.5 GB at 100k, snapshot load ≤ 1 s at 100k.",
        "",
        "| articles | RSS (reads) | PSS (reads) | per worker RSS | embedding process RSS "
        "| RSS after writes | `Snapshot.load` | with checksums | engine start | txtai load "
        "| goal |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for size in run["sizes"]:
        reads = _get(size, "serving", "memory_reads") or {}
        writes = _get(size, "serving", "memory_after_writes") or {}
        load = _get(size, "inspect", "load_seconds")
        start = _get(size, "inspect", "engine_start_seconds")
        workers = [v["rss_mib"] for k, v in reads.items() if k.startswith("worker")]
        rss = reads.get("total_rss_mib")
        ok = None  # the goals are set at 100k (and the 1M figure reported)
        if size["size"] >= 100_000 and rss is not None and load is not None:
            ok = rss <= 1.5 * 1024 and load <= 1.0
        lines.append(
            f"| {size['size']:,} | {_mib_as_gb(rss)} | {_mib_as_gb(reads.get('total_pss_mib'))} "
            f"| {_mib_as_gb(max(workers) if workers else None)} "
            f"| {_mib_as_gb((reads.get('embedding process') or {}).get('rss_mib'))} "
            f"| {_mib_as_gb(writes.get('total_rss_mib'))} "
            f"| {_missing(size.get('inspect')) or _seconds(load)} "
            f"| {_seconds(_get(size, 'inspect', 'verify_seconds'))} | {_seconds(start)} "
            f"| {_seconds(_get(size, 'txtai', 'load_seconds'))} | {_verdict(ok)} |"
        )
    return [*lines, ""]


def recall_table(run: dict[str, Any]) -> list[str]:
    lines = [
        "### Dense search",
        "",
        "recall@20 against exact inner-product search (faiss `IndexFlatIP`), over 1,000 "
        "articles' own vectors as queries (the query itself left out), on the corpus's "
        "real vectors plus noise: of the index that answers drafts (exact below 50,000 "
        "articles, HNSW above), and of the dense half of the candidate sets stored at "
        "build time (exact below 20,000 articles, k-means cells above; its first 20 "
        "against the exact 20 nearest). Goal: ≥ 0.98 where the search is approximate.",
        "",
        "| articles | drafts' index | recall@20 | candidate sets' recall@20 | goal |",
        "|---:|---|---:|---:|---|",
    ]
    for size in run["sizes"]:
        missing = _missing(size.get("inspect"))
        if missing:
            lines.append(f"| {size['size']:,} | {missing} | | | |")
            continue
        inspect = size["inspect"]
        exact = inspect["recall_exact_by_construction"]
        recall = inspect["recall_at_20"]
        stored = inspect.get("candidates_recall_at_20")
        stored_exact = inspect.get("candidates_exact_by_construction")
        checked = [
            r for r, e in ((recall, exact), (stored, stored_exact)) if r is not None and not e
        ]
        stored_text = "–" if stored is None else ("1 (exact)" if stored_exact else f"{stored:.4f}")
        lines.append(
            f"| {size['size']:,} | `{inspect['dense_index']}` "
            f"| {'1 (exact)' if exact else f'{recall:.4f}'} | {stored_text} "
            f"| {_verdict(min(checked) >= 0.98) if checked else '–'} |"
        )
    return [*lines, ""]


def draft_table(run: dict[str, Any]) -> list[str]:
    lines = [
        "### Drafts",
        "",
        "`Engine.recommend_text` (what `POST /v1/recommendations` runs: embed the draft, "
        "then search the whole index, related and featured) beside raw model encodes of "
        "the same text, in one process with the model loaded, medians over 60 drafts "
        "(20 texts of the corpus, 3 times). Two baselines: one encode of the text, which "
        "the model cuts at its 256-token window, and one encode of the windows the "
        "engine embeds (a longer draft is embedded whole, in overlapping windows, as "
        "indexed articles are, so its vector is comparable with theirs). Goal: ≤ 1.3× "
        "one raw encode, judged against the encode of the same windows; the draft's "
        "own cost is the difference.",
        "",
        "| articles | draft | raw encode (cut at 256 tokens) | draft / encode "
        "| windows per draft | encode of the windows | draft / windows | goal |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for size in run["sizes"]:
        missing = _missing(size.get("draft"))
        if missing:
            lines.append(f"| {size['size']:,} | {missing} | | | | | | |")
            continue
        draft = size["draft"]
        windows_ratio = draft.get("windows_ratio")
        lines.append(
            f"| {size['size']:,} | {draft['draft_ms']:.1f} ms | {draft['encode_ms']:.1f} ms "
            f"| {draft['ratio']:.2f}× | {_num(draft.get('windows_per_draft'), 1)} "
            f"| {_num(draft.get('windows_encode_ms'), 1, ' ms')} | {_num(windows_ratio, 2, '×')} "
            f"| {_verdict(windows_ratio is not None and windows_ratio <= 1.3)} |"
        )
    return [*lines, ""]


def profiles(run: dict[str, Any]) -> list[str]:
    lines = [
        "### Where the time goes",
        "",
        "py-spy (`record --format speedscope`, 200 Hz, 10 s) of one worker under the "
        "uniform load, at each size: the project's functions holding the most samples, "
        "and the functions running themselves the most (any code). Inclusive: share of "
        "samples with the function on the stack; self: share with it running.",
        "",
    ]
    for size in run["sizes"]:
        found = _get(size, "serving", "profile")
        if not found or "top" not in found:
            continue
        lines += [
            f"**{size['size']:,} articles** (`{found['file']}`):",
            "",
            "| function | inclusive | self |",
            "|---|---:|---:|",
        ]
        for row in found["top"]:
            name = row["function"].replace("|", "\\|")
            lines.append(f"| `{name}` | {row['inclusive']:.0%} | {row['self']:.0%} |")
        lines.append("")
    return lines


def _share(size: Size, function: str) -> float | None:
    """A project function's inclusive share of a size's profile (0 when absent from a
    profile that was taken; None without a profile)."""
    shares = _get(size, "serving", "profile", "shares")
    return None if shares is None else float(shares.get(function, 0.0))


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


STAGES = {
    "Explainer.items": "explanations of the picked items (shared terms, field split)",
    "fill": "filling the lists (floors, duplicates, MMR, pins, fallback)",
    "Scorer.table": "scoring the candidates (one score table)",
    "PrecomputedCandidates.for_query": "choosing the candidates",
    "Ranker._request": "masks of what may appear",
}
"""Stages whose share of a worker's samples the limits name (bare profile names)."""


def _phases(step: dict[str, Any] | None) -> str:
    """A build's or reindex's time per phase, in words."""
    if not step or "phase_started" not in step:
        return ""
    started = step["phase_started"]
    names = [name for name in started if name != "cleanup"]
    ends = [*(started[n] for n in names[1:]), step["seconds"]]
    parts = [f"{name} {end - started[name]:.1f} s" for name, end in zip(names, ends, strict=True)]
    return ", ".join(parts)


def limits(run: dict[str, Any]) -> list[str]:
    """What limits each goal that is not met, from this run's figures and profiles
    only (the words name stages; the numbers are measured)."""
    served = [s for s in run["sizes"] if _get(s, "serving", "uniform")]
    built = [s for s in run["sizes"] if _get(s, "build", "phase_started")]
    lines = ["### What limits it", ""]
    if served:
        small, large = served[0], served[-1]
        reads, bare = large["serving"]["uniform"], _get(large, "serving", "bare")
        engine = _share(large, "Engine.recommendations")
        handler = _share(large, "_cached")
        stages = ", ".join(
            f"{what} {_pct(_share(large, name))}"
            for name, what in STAGES.items()
            if _share(large, name)
        )
        growth = reads["p50_ms"] / small["serving"]["uniform"]["p50_ms"]
        lines.append(
            f"- **Serving.** At {large['size']:,} a worker answers "
            f"{reads['requests_per_second']:,.0f} req/s against "
            f"{_num(_get(bare or {}, 'requests_per_second'), 0)} for bare Flask; p50 "
            f"{reads['p50_ms']:.1f} ms is {growth:.2f}× the p50 at {small['size']:,}, so the "
            f"cost of a request {'barely grows' if growth <= 1.5 else 'grows'} with the corpus. "
            f"Of one worker's samples under load, the engine's answer holds {_pct(engine)} and "
            f"the view around it (flask-openapi3's validation, the response cache, JSON) "
            f"{_pct(None if handler is None or engine is None else handler - engine)}; inside "
            f"the engine: {stages or 'no stage sampled'}. Above 5,000 articles every stage "
            "works on the article's stored candidate set (about 200 positions), so "
            + (
                "what a request costs is the Python and numpy overhead of the stages and "
                "of the web framework, not the corpus."
                if growth <= 1.5
                else "what grows with the corpus is outside the candidate sets: see the "
                "profiles below."
            )
        )
        live, uniform = _get(large, "serving", "live"), _get(large, "serving", "uniform")
        if live and uniform:
            puts = live["put_ms"]
            later = puts[1:] or puts
            put_median = statistics.median(later) if later else None
            lines.append(
                f"- **Live changes.** At {large['size']:,} the read p99 is "
                f"{uniform['p99_ms']:.0f} ms without writes and {live['reads']['p99_ms']:.0f} ms "
                f"while PUTs arrive; a PUT takes {_num(put_median, 0, ' ms')} (median) against "
                f"{_num(live.get('encode_ms'), 1, ' ms')} for one raw encode measured alone. A "
                "PUT embeds the article (one model pass per chunk of its text, in the "
                "process that holds the model for the workers) on the same two cores that "
                "serve the reads, then stores it; the other workers lay it over their "
                "catalogs at their next request."
            )
    if built:
        large = built[-1]
        lines.append(
            f"- **Build.** At {large['size']:,}: {_phases(large['build'])} "
            f"({_seconds(large['build']['seconds'])} in all)."
        )
        reindexed = [s for s in run["sizes"] if _get(s, "reindex", "phase_started")]
        if reindexed:
            last = reindexed[-1]
            lines.append(
                f"- **Reindex after one change.** At {last['size']:,}: "
                f"{_phases(last['reindex'])} ({_seconds(last['reindex']['seconds'])} in all). "
                "Unchanged articles' records (not validated again), BM25 counts, candidate "
                "sets, vectors and signatures are taken over; reading every source record "
                "and the stored articles taken over, rebuilding the HNSW graph, grouping "
                "near-duplicates and writing every array of the new version still grow with "
                "the corpus (docs/architecture.md says what would make it cost what the "
                "change costs)."
            )
    loaded = [s for s in run["sizes"] if _get(s, "inspect", "load_seconds")]
    if loaded:
        large = loaded[-1]
        reads = _get(large, "serving", "memory_reads") or {}
        workers = [v["rss_mib"] for k, v in reads.items() if k.startswith("worker")]
        lines.append(
            f"- **Memory and start-up.** At {large['size']:,}: "
            f"{_mib_as_gb(max(workers) if workers else None)} RSS per worker, PSS "
            f"{_mib_as_gb(reads.get('total_pss_mib'))} of RSS "
            f"{_mib_as_gb(reads.get('total_rss_mib'))} for the server (the mapped arrays are "
            f"counted in each worker's RSS but held once); `Snapshot.load` "
            f"{_seconds(large['inspect']['load_seconds'])}."
        )
    return [*lines, ""] if len(lines) > 2 else []


def render(run: dict[str, Any]) -> str:
    """The whole section (without its markers)."""
    return "\n".join(
        header(run)
        + serving_table(run)
        + live_table(run)
        + upserts_table(run)
        + build_table(run)
        + memory_table(run)
        + recall_table(run)
        + draft_table(run)
        + limits(run)
        + profiles(run)
    )
