"""`make bench-ray`: the single-machine build against the Ray build of the same
corpus, per-worker throughput of each stage, and what 1M and 10M articles would
take on a cluster.

    python -m benchmarks.raybench --size 2000 --out docs/benchmarks.md

Both builds start from an empty index and an empty embedding cache, with the
real model, on a corpus of short articles mixed from the bundled corpus
(:mod:`benchmarks.mixed`). Ray runs on this machine with every CPU. Per-worker
throughput is measured inside Ray tasks that claim one CPU (one BLAS and torch
thread): embedding (the model's steady rate, after loading it), the dense
candidate search (query-vector pairs scored), the lexical candidate search and
reading. The projection multiplies those rates by a cluster's workers; its
assumptions are printed with it. Only the "Ray" section of the page is
rewritten. Corpora and indexes go to ``var/bench/ray/``; CI never runs it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.mixed import mixed_records, write_jsonl
from benchmarks.report import RAY, write_marked_section
from recommender import neighbours

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "bench" / "ray"
PHASES = ("read", "embed", "candidates", "write", "seal", "publish", "cleanup")
CELL_RATE_ROWS = 100_000
"""Vectors the cell-by-cell search's per-worker rates are measured on."""


def timed_build(sources: list[Path], index: Path, runner: Any = None) -> dict[str, Any]:
    """Build ``sources`` into an empty ``index`` (its own empty cache); seconds per phase."""
    from recommender import Settings
    from recommender.embedding import SentenceTransformerEmbedder
    from recommender.pipeline import build_index

    shutil.rmtree(index, ignore_errors=True)
    first: dict[str, float] = {}

    def progress(phase: str, done: int, total: int) -> None:
        first.setdefault(phase, time.perf_counter())

    started = time.perf_counter()
    report = build_index(
        sources,
        Settings(index_dir=index),
        SentenceTransformerEmbedder(),
        runner=runner,
        on_progress=progress,
        progress=False,
    )
    ended = time.perf_counter()
    marks = [(phase, first[phase]) for phase in PHASES if phase in first] + [("end", ended)]
    phases = {phase: round(b - a, 2) for (phase, a), (_, b) in itertools.pairwise(marks)}
    return {
        "seconds": round(ended - started, 2),
        "articles": report.indexed,
        "embedded": report.embedded,
        "articles_per_second": round(report.indexed / (ended - started), 1),
        "phases": phases,
    }


def _embed_rate(texts: list[tuple[str, str]]) -> dict[str, float]:
    """A Ray task: the model's steady rate in one CPU thread (after loading it)."""
    from recommender.embedding import SentenceTransformerEmbedder, embed_batch

    started = time.perf_counter()
    embedder = SentenceTransformerEmbedder()
    embed_batch(embedder, texts[:16])
    loaded = time.perf_counter()
    for start in range(0, len(texts), 128):
        embed_batch(embedder, texts[start : start + 128])
    return {
        "load_seconds": round(loaded - started, 2),
        "articles_per_second": round(len(texts) / (time.perf_counter() - loaded), 1),
    }


def _dense_rate(vectors: np.ndarray, rows: int) -> float:
    """A Ray task: dense candidate search, query-vector pairs per second, one thread."""
    from recommender.neighbours import dense_against_shards

    queries = vectors[:rows]
    started = time.perf_counter()
    dense_against_shards(queries, np.arange(rows), [(0, vectors)], 100)
    return rows * len(vectors) / (time.perf_counter() - started)


def _clustered(rows: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors around ``rows // 100`` random centres: cells to find."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(1, rows // 100), dim)).astype(np.float32)
    vectors = centres[rng.integers(0, len(centres), rows)]
    vectors += 0.5 * rng.normal(size=(rows, dim)).astype(np.float32)
    return np.asarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), np.float32)


def _cells_rate(rows: int, dim: int) -> dict[str, float]:
    """A Ray task: the approximate (cell-by-cell) dense candidate search on ``rows``
    clustered vectors, one thread: its assignment of articles to cells in
    article-centre pairs per second, and its search of the cells in article pairs
    scored per second, with the pairs scored per article."""
    from recommender import neighbours

    vectors = _clustered(rows, dim, seed=3)
    centres = neighbours.train_cells(vectors)
    started = time.perf_counter()
    nearest = neighbours.assign_step(vectors, centres)
    assign_seconds = time.perf_counter() - started
    plan = neighbours.plan_cells(centres, nearest)
    pairs = 0

    def rows_of(positions: np.ndarray) -> np.ndarray:
        return vectors[positions]

    started = time.perf_counter()
    for first, end in neighbours.cell_groups(plan, 10_000):
        neighbours.cells_step(rows_of, plan, first, end, 100)
    search_seconds = time.perf_counter() - started
    for cell in range(plan.cells):
        members = plan.members(cell)
        searched = np.union1d(plan.nearest_cells[cell], plan.nearest_own[members].ravel())
        pairs += members.size * sum(plan.members(c).size for c in searched)
    return {
        "assign_pairs_per_second": rows * len(centres) / assign_seconds,
        "search_pairs_per_second": pairs / search_seconds,
        "pairs_per_article": pairs / rows,
        "cell_size": rows / len(centres),
    }


def _lexical_rate(index: str) -> float:
    """A Ray task: lexical candidate search, articles per second, one thread."""
    from recommender.lexical import LexicalModel
    from recommender.neighbours import lexical_step

    queries, postings = LexicalModel.load(Path(index) / "lexical").more_like_this_search()
    n = queries.shape[0]
    started = time.perf_counter()
    lexical_step(queries, np.arange(n), postings, 100)
    return n / (time.perf_counter() - started)


def _count_rate(source: str) -> float:
    """A Ray task: the lexical fit's term counting, documents per second, one thread."""
    from recommender import Settings
    from recommender.corpus import load_corpus
    from recommender.fields import lexical_fields
    from recommender.pipeline import lexical_model

    documents = [lexical_fields(a) for a in load_corpus([source]).articles]
    started = time.perf_counter()
    lexical_model(Settings()).count_terms(documents)
    return len(documents) / (time.perf_counter() - started)


def driver_rates(source: Path, rows: int) -> dict[str, float]:
    """The driver's own seconds per article at ``rows`` articles, in this process:
    merging the workers' term counts and weighing BM25 (the corpus's counts repeated
    to ``rows`` documents, in blocks of 5,000), and grouping near-duplicates (random
    signatures: no pairs, the usual case)."""
    from recommender import Settings
    from recommender.corpus import load_corpus
    from recommender.duplicates import Shingling, Signatures, near_duplicate_groups
    from recommender.fields import lexical_fields
    from recommender.lexical import merge_term_counts
    from recommender.pipeline import lexical_model

    documents = [lexical_fields(a) for a in load_corpus([source]).articles]
    repeated = (documents * (rows // len(documents) + 1))[:rows]
    model = lexical_model(Settings())
    parts = [model.count_terms(repeated[i : i + 5_000]) for i in range(0, rows, 5_000)]
    started = time.perf_counter()
    model.fit(repeated, count=lambda _documents: merge_term_counts(parts))
    merge_seconds = time.perf_counter() - started
    shingling = Shingling()
    rng = np.random.default_rng(0)
    signatures = Signatures(
        rng.integers(0, 2**32, size=(rows, shingling.num_perm), dtype=np.uint32),
        np.full(rows, 1_000, dtype=np.uint32),
    )
    started = time.perf_counter()
    near_duplicate_groups([str(i) for i in range(rows)], signatures, 0.5, shingling)
    group_seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "lexical_merge_seconds_per_article": merge_seconds / rows,
        "groups_seconds_per_article": group_seconds / rows,
    }


def _read_rate(source: str) -> float:
    """A Ray task: records read and validated per second, one thread."""
    from recommender.corpus import load_corpus

    started = time.perf_counter()
    count = len(load_corpus([source]).articles)
    return count / (time.perf_counter() - started)


def worker_rates(ray: Any, source: Path, index: Path) -> dict[str, Any]:
    """Each stage's throughput in a task that claims one CPU."""
    from recommender.corpus import load_corpus
    from recommender.fields import dense_text
    from recommender.snapshot import Snapshot, SnapshotStore

    articles = load_corpus([source]).articles
    texts = [(a.title, dense_text(a)) for a in articles[:512]]
    store = SnapshotStore(index)
    snapshot = Snapshot.load(store)
    version_dir = store.path(snapshot.version)
    vectors = np.ascontiguousarray(snapshot.vectors, dtype=np.float32)
    one_cpu = {"num_cpus": 1}
    embed = ray.get(ray.remote(**one_cpu)(_embed_rate).remote(texts))
    dense = ray.get(ray.remote(**one_cpu)(_dense_rate).remote(vectors, min(1024, len(vectors))))
    lexical = ray.get(ray.remote(**one_cpu)(_lexical_rate).remote(str(version_dir)))
    cells = ray.get(ray.remote(**one_cpu)(_cells_rate).remote(CELL_RATE_ROWS, vectors.shape[1]))
    read = ray.get(ray.remote(**one_cpu)(_read_rate).remote(str(source)))
    count = ray.get(ray.remote(**one_cpu)(_count_rate).remote(str(source)))
    return {
        "embed_articles_per_second": embed["articles_per_second"],
        "model_load_seconds": embed["load_seconds"],
        "dense_pairs_per_second": round(dense),
        "cells": {key: round(value, 1) for key, value in cells.items()},
        "lexical_articles_per_second": round(lexical, 1),
        "read_articles_per_second": round(read, 1),
        "count_articles_per_second": round(count, 1),
    }


def project(
    run: dict[str, Any], size: int, workers: int, cpus: int, gpu_rate: float
) -> dict[str, Any]:
    """Seconds per stage for ``size`` articles on ``workers`` nodes of one GPU and
    ``cpus`` CPUs each (see :func:`render` for the assumptions)."""
    rates = run["worker"]
    local = run["local"]
    writing = sum(local["phases"].get(p, 0.0) for p in ("write", "seal", "publish"))
    driver_per_article = writing / local["articles"]
    all_cpus = workers * cpus
    cells = rates["cells"]
    # The cells hold CELL_SIZE articles up to MAX_CELLS cells, and grow past it: the
    # pairs scored per article grow with the cells (the probes are fixed).
    count = max(1, min(size // neighbours.CELL_SIZE, neighbours.MAX_CELLS))
    per_article = cells["pairs_per_article"] * (size / count) / cells["cell_size"]
    kmeans_pairs = min(size, neighbours.TRAINING_SAMPLE) * count * neighbours.KMEANS_ITERATIONS
    return {
        "read": size / (all_cpus * rates["read_articles_per_second"]),
        "embed_gpu": size / (workers * gpu_rate),
        "embed_cpu_only": size / (all_cpus * rates["embed_articles_per_second"]),
        "dense_exact": size * size / (all_cpus * rates["dense_pairs_per_second"]),
        "kmeans": kmeans_pairs / (cpus * cells["assign_pairs_per_second"]),
        "dense_cells": size * count / (all_cpus * cells["assign_pairs_per_second"])
        + size * per_article / (all_cpus * cells["search_pairs_per_second"]),
        "count": size / (all_cpus * rates["count_articles_per_second"]),
        "lexical": size / (all_cpus * rates["lexical_articles_per_second"]),
        "driver_lexical": size * run["driver"]["lexical_merge_seconds_per_article"],
        "driver_groups": size * run["driver"]["groups_seconds_per_article"],
        "driver": size * driver_per_article,
    }


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def render(run: dict[str, Any]) -> str:
    """The "Ray" section of docs/benchmarks.md."""
    local, on_ray, worker = run["local"], run["ray"], run["worker"]
    options = run["options"]
    phases = [p for p in PHASES if p in local["phases"] or p in on_ray["phases"]]
    lines = [
        "## Batch builds on Ray (`make bench-ray`)",
        "",
        f"Run on {run['date']}; machine: {run['machine']}. Corpus: {local['articles']:,} short "
        "articles mixed from the bundled corpus's sentences (`benchmarks/mixed.py`, about 70 "
        "words each, one model window), real all-MiniLM-L6-v2, empty index and cache for each "
        f"build. Ray on this machine with {run['cpus']} CPUs: {run['actors']} embedding actors of "
        f"0.5 CPU each (one torch thread), candidate and signing tasks of one CPU. The machine "
        f"is shared (load average {run['load']} at the start): compare ratios.",
        "",
        "| build | seconds | articles/s | " + " | ".join(phases) + " |",
        "|---|---|---|" + "---|" * len(phases),
    ]
    for name, build in (("single machine", local), ("Ray, local mode", on_ray)):
        cells = [f"{build['phases'].get(p, 0.0):.1f}" for p in phases]
        lines.append(
            f"| {name} | {build['seconds']:.1f} | {build['articles_per_second']:.1f} | "
            + " | ".join(cells)
            + " |"
        )
    lines += [
        "",
        f"Ray / single machine: {local['seconds'] / on_ray['seconds']:.2f}× the throughput on "
        "the same two cores. Ray's own costs (starting the actors, which each load torch and "
        "the model, moving batches through its object store) are paid once per build; it pays "
        "off where there is more than one machine.",
        "",
        "Per worker (a Ray task or actor claiming one CPU, one thread):",
        "",
        "| stage | throughput |",
        "|---|---|",
        f"| embedding (model loaded; loading took {worker['model_load_seconds']:.1f} s) | "
        f"{worker['embed_articles_per_second']:.1f} articles/s |",
        f"| dense candidate search (exact) | {worker['dense_pairs_per_second'] / 1e6:.0f} M "
        "article pairs/s |",
        f"| dense candidate search (cells): assigning articles to cells | "
        f"{worker['cells']['assign_pairs_per_second'] / 1e6:.0f} M article-centre pairs/s |",
        f"| dense candidate search (cells): searching the cells | "
        f"{worker['cells']['search_pairs_per_second'] / 1e6:.0f} M article pairs/s "
        f"({worker['cells']['pairs_per_article']:,.0f} pairs per article, cells of "
        f"{worker['cells']['cell_size']:.0f}) |",
        f"| lexical fit: counting terms | {worker['count_articles_per_second']:,.0f} articles/s |",
        f"| lexical candidate search | {worker['lexical_articles_per_second']:,.0f} articles/s |",
        f"| reading and validating | {worker['read_articles_per_second']:,.0f} articles/s |",
        "",
        f"Projection for {options['workers']} workers of one GPU and {options['cpus']} CPUs each:",
        "",
        "| articles | read | embed (GPUs) | embed (CPUs only) | dense sets, exact "
        "| dense sets, cells | driver: k-means | lexical fit: counting | lexical sets "
        "| driver: lexical merge, BM25 | driver: near-duplicate groups "
        "| driver: write, seal, publish |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size, projected in sorted(run["projection"].items(), key=lambda kv: int(kv[0])):
        lines.append(
            f"| {int(size):,} | "
            + " | ".join(_duration(projected[key]) for key in PROJECTED)
            + " |"
        )
    lines += [
        "",
        "Assumptions: every stage scales linearly with workers (they share nothing but the "
        "object store); the articles are as long as these (one window: longer articles cost "
        "one model pass per window); exact dense candidate sets cost N² pairs, the cells' "
        f"search N × (cells + pairs per article), measured on {CELL_RATE_ROWS:,} clustered "
        "random vectors (cells of 100 articles up to 65,536 cells, larger cells above); the "
        "driver trains the k-means on at most 200,000 vectors, 10 iterations, with all "
        "of one worker's CPUs at the per-CPU assignment rate; "
        f"**one GPU embeds {options['gpu_rate']:,.0f} articles/s** (not measured: this machine "
        "has no GPU; run `make bench-ray` on a GPU node, where the per-worker figure is the "
        "GPU's, and pass `GPU_RATE=`); the driver's writing grows linearly from this run "
        "(`make bench-scale` measures writing at 1M); the driver's merge of the term counts "
        "(with the BM25 weighting) and its near-duplicate grouping grow linearly from "
        f"{run['driver']['rows']:,} articles measured in one process (the corpus's counts "
        "repeated; random signatures, so no pairs). Not included: the driver's scan of "
        "JSON Lines sources for line ends when it plans their shards.",
        "",
    ]
    for size, projected in sorted(run["projection"].items(), key=lambda kv: int(kv[0])):
        stages = {k: v for k, v in projected.items() if k not in {"embed_cpu_only", "dense_exact"}}
        slowest = max(stages, key=lambda key: stages[key])
        lines.append(
            f"- {int(size):,} articles: the slowest stage is {STAGE_NAMES[slowest]} "
            f"({_duration(stages[slowest])})."
        )
    lines += [
        "",
        "From `RECOMMENDER_EXACT_NEIGHBOURS_BELOW` articles on (20,000), both builds find "
        "the dense candidate sets by the cells, the slowest stage above leaves the exact "
        "search out: its N² pairs are shown for comparison. The cells' recall@20 against "
        "the exact search is measured on real vectors by `make bench-scale` (0.990 at "
        "100,000 articles, 0.998 at 1,000,000).",
    ]
    return "\n".join(lines)


PROJECTED = (
    "read",
    "embed_gpu",
    "embed_cpu_only",
    "dense_exact",
    "dense_cells",
    "kmeans",
    "count",
    "lexical",
    "driver_lexical",
    "driver_groups",
    "driver",
)
STAGE_NAMES = {
    "read": "reading",
    "embed_gpu": "embedding on the GPUs",
    "dense_cells": "the dense candidate sets by the cells",
    "kmeans": "the driver's k-means",
    "count": "counting terms for the lexical fit",
    "driver_lexical": "the driver's merge of the term counts",
    "driver_groups": "the driver's near-duplicate grouping",
    "lexical": "the lexical candidate sets",
    "driver": "the driver's writing",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2_000, help="Articles in the corpus.")
    parser.add_argument("--out", type=Path, default=None, help="Page to write its section into.")
    parser.add_argument("--workers", type=int, default=8, help="Projected GPU workers.")
    parser.add_argument("--cpus", type=int, default=8, help="Projected CPUs per worker.")
    parser.add_argument(
        "--gpu-rate", type=float, default=2_000.0, help="Assumed articles/s of one GPU."
    )
    parser.add_argument(
        "--driver-rows", type=int, default=100_000, help="Articles the driver's costs are timed at."
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)
    import ray

    from recommender.raybuild import RayOptions, RayRunner

    WORK.mkdir(parents=True, exist_ok=True)
    source = write_jsonl(mixed_records(args.size), WORK / f"mixed-{args.size}.jsonl")
    load = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    print(f"single-machine build of {args.size} articles ...", flush=True)
    local = timed_build([source], WORK / "local")
    ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
    try:
        print("Ray build ...", flush=True)
        actors = cpus
        with RayRunner(RayOptions(embed_actors=actors)) as runner:
            on_ray = timed_build([source], WORK / "ray", runner)
        print("per-worker rates ...", flush=True)
        worker = worker_rates(ray, source, WORK / "local")
    finally:
        ray.shutdown()
    print("the driver's own costs ...", flush=True)
    driver = driver_rates(source, args.driver_rows)
    run: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{cpus} cores, Python {'.'.join(map(str, __import__('sys').version_info[:3]))}",
        "cpus": cpus,
        "actors": actors,
        "load": f"{load:.1f}",
        "local": local,
        "ray": on_ray,
        "worker": worker,
        "driver": driver,
        "options": {"workers": args.workers, "cpus": args.cpus, "gpu_rate": args.gpu_rate},
    }
    run["projection"] = {
        str(size): project(run, size, args.workers, args.cpus, args.gpu_rate)
        for size in (1_000_000, 10_000_000)
    }
    (WORK / "run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")
    text = render(run)
    print(text)
    if args.out is not None:
        write_marked_section(args.out, RAY, text)


if __name__ == "__main__":
    main()
