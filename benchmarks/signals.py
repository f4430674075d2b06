"""`make bench-signals`: the click model of :mod:`benchmarks.clicksim` over the bundled
corpus, with the click-through boost off and on, and an A/B test between the two.

Writes the marked section of docs/signals.md and its plot (docs/signals-ctr.png); the
raw figures go to ``var/bench/signals/run.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recommender import Engine
from recommender.config import Settings
from recommender.pipeline import build_index
from recommender.ranking import RankingKnobs
from recommender.request import labels_of

from .clicksim import ClickModel, Simulation, compare, simulate
from .report import write_marked_section

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "corpus" / "articles"
WORK = ROOT / "var" / "bench" / "signals"
PLOT = "signals-ctr.png"
SECTION = "bench-signals"

ARMS = {
    "off": (0.0, 0.9),  # ctr_weight, ctr_exploration
    "on": (1.0, 0.9),
    "on, no exploration": (1.0, 0.5),
}
"""The runs compared on the same readers: the boost off, on, and on without the
exploration that keeps new articles shown."""


def _engine(index: Path) -> Engine:
    settings = Settings(index_dir=index)
    if not (index / "CURRENT").exists():
        from recommender.embedding import SentenceTransformerEmbedder

        build_index([BUNDLED], settings, SentenceTransformerEmbedder(), progress=False)
    return Engine(settings)


def _newcomers(engine: Engine, ids: list[str]) -> list[str]:
    """Two featured and three other articles, published halfway through."""
    featured = [i for i in ids if engine.article(i).featured]
    others = [i for i in ids if not engine.article(i).featured]
    return featured[1:3] + others[10:13]


def run(rounds: int, views: int, seeds: list[int]) -> dict[str, Any]:
    """Every arm and the A/B test for each seed; the figures as a dict."""
    engine = _engine(WORK / "index")
    ids = sorted(engine._current().positions)
    labels = {i: labels_of(engine.article(i).tags, engine.article(i).categories) for i in ids}
    newcomers = _newcomers(engine, ids)
    half = rounds // 2
    arms: dict[str, list[dict[str, Any]]] = {name: [] for name in ARMS}
    tests: list[dict[str, Any]] = []
    for seed in seeds:
        model = ClickModel.drawn(labels, seed=seed)
        for name, (weight, quantile) in ARMS.items():
            sim = simulate(
                engine,
                model,
                {name: RankingKnobs(ctr_weight=weight)},
                rounds=rounds,
                views_per_round=views,
                seed=1000 + seed,
                newcomers=newcomers,
                newcomers_from=half,
                quantile=quantile,
            )
            arms[name].append(_arm_figures(sim, name, half))
        for label, b_weight in (("A/B", 1.0), ("A/A", 0.0)):
            sim = simulate(
                engine,
                model,
                {"A": RankingKnobs(ctr_weight=0.0), "B": RankingKnobs(ctr_weight=b_weight)},
                rounds=rounds,
                views_per_round=views,
                seed=2000 + seed,
            )
            result = compare("A", sim.total("A", "featured"), "B", sim.total("B", "featured"))
            tests.append(
                {
                    "seed": seed,
                    "test": label,
                    "rates": {k: [*v[:3], list(v[3])] for k, v in result.rates.items()},
                    "p_value": result.p_value,
                    "better": result.better,
                }
            )
    return {"arms": arms, "tests": tests, "newcomers": newcomers, "half": half}


def _arm_figures(sim: Simulation, name: str, half: int) -> dict[str, Any]:
    featured = sim.total(name, "featured", half)
    related = sim.total(name, "related", half)
    return {
        "featured_curve": sim.curve(name, "featured"),
        "related_curve": sim.curve(name, "related"),
        "featured_ctr": featured.rate,
        "related_ctr": related.rate,
        "newcomer_impressions": [sum(r.values()) for r in sim.newcomers],
        # The least shown of the new articles, per round after they were published.
        "newcomer_least": min(
            sum(r[article_id] for r in sim.newcomers[half:]) for article_id in sim.newcomers[half]
        )
        / max(len(sim.newcomers) - half, 1),
        "impressions_per_round": 2 * sim.views * 4,
    }


def _mean_curve(runs: list[dict[str, Any]], key: str) -> list[float]:
    return [statistics.fmean(values) for values in zip(*(r[key] for r in runs), strict=True)]


def plot(figures: dict[str, Any], path: Path) -> None:
    """Featured click-through per round, and the newcomers' impressions per round."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=100)
    for name, runs in figures["arms"].items():
        curve = _mean_curve(runs, "featured_curve")
        left.plot(range(1, len(curve) + 1), curve, label=f"boost {name}")
        impressions = _mean_curve(runs, "newcomer_impressions")
        right.plot(range(1, len(impressions) + 1), impressions, label=f"boost {name}")
    for axis in (left, right):
        axis.axvline(figures["half"] + 0.5, color="grey", linestyle=":", linewidth=1)
        axis.set_xlabel("round")
        axis.legend(fontsize=8)
    left.set_ylabel("featured picks: clicks per impression")
    left.set_title("Click-through of featured picks", fontsize=10)
    right.set_ylabel("impressions of the 5 new articles")
    right.set_title("New articles (published at the dotted line)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def section(figures: dict[str, Any], meta: dict[str, Any]) -> str:
    """The Markdown of the benchmark's section of docs/signals.md."""
    arms = figures["arms"]
    seeds = meta["seeds"]
    half = figures["half"]
    lines = [
        "## Simulation (`make bench-signals`)",
        "",
        f"Run on {meta['started']} UTC, {meta['minutes']:.1f} minutes, commit {meta['commit']}; "
        f"machine: {meta['cores']} cores, Python {meta['python']}. {len(seeds)} click models "
        f"(seeds {', '.join(map(str, seeds))}), each read by {meta['rounds']} rounds of "
        f"{meta['views']} page views; every arm sees the same readers (common random "
        "numbers). Figures from the second half of each run (after the new articles are "
        f"published at round {half + 1}), mean over the seeds, with the lowest and highest "
        "seed in brackets.",
        "",
        f"![Featured click-through per round, and the new articles' impressions]({PLOT})",
        "",
        "| boost | featured click-through | related click-through | new articles' "
        "impressions per round | least shown new article, per round |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, runs in arms.items():
        featured = [r["featured_ctr"] for r in runs]
        related = [r["related_ctr"] for r in runs]
        fresh = [statistics.fmean(r["newcomer_impressions"][half:]) for r in runs]
        least = [r["newcomer_least"] for r in runs]
        lines.append(
            f"| {name} | {_spread(featured, percent=True)} | {_spread(related, percent=True)} "
            f"| {_spread(fresh)} | {_spread(least, digits=1)} |"
        )
    off = statistics.fmean(r["featured_ctr"] for r in arms["off"])
    on = statistics.fmean(r["featured_ctr"] for r in arms["on"])
    lines += [
        "",
        f"With the boost on (`ctr_weight` 1, `ctr_exploration` 0.9), featured picks are "
        f"clicked {on / off:.2f}× as often as with it off, on the same readers.",
        "",
        "**A/B tests**: each page view draws variant A or B with equal shares; both "
        "variants' events feed the same counts, as on a site. A/B: A has the boost off, "
        "B on. A/A: both off, to check that the test does not see differences that are "
        "not there. Featured picks, whole run; 95% Wilson intervals; p from the χ² test "
        "of the 2×2 table (the two-proportion z-test).",
        "",
        "| seed | test | A click-through | B click-through | p | verdict |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for test in figures["tests"]:
        a, b = test["rates"]["A"], test["rates"]["B"]
        verdict = f"{test['better']} is better" if test["better"] else "no significant difference"
        lines.append(
            f"| {test['seed']} | {test['test']} | {_rate(a)} | {_rate(b)} "
            f"| {test['p_value']:.2g} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def _rate(rate: list[Any]) -> str:
    clicks, impressions, value, (low, high) = rate
    return f"{value:.2%} ({low:.2%}–{high:.2%}; {clicks}/{impressions})"


def _spread(values: list[float], percent: bool = False, digits: int = 0) -> str:
    show = (lambda v: f"{v:.2%}") if percent else (lambda v: f"{v:.{digits}f}")
    return f"{show(statistics.fmean(values))} [{show(min(values))}–{show(max(values))}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--views", type=int, default=400, help="page views per round")
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "signals.md")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    WORK.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    clock = time.monotonic()
    seeds = [int(s) for s in args.seeds.split(",")]
    figures = run(args.rounds, args.views, seeds)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    meta = {
        "started": started.strftime("%Y-%m-%d %H:%M"),
        "minutes": (time.monotonic() - clock) / 60,
        "commit": commit or "unknown",
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "seeds": seeds,
        "rounds": args.rounds,
        "views": args.views,
    }
    (WORK / "run.json").write_text(json.dumps({"meta": meta, **figures}, indent=1))
    plot(figures, args.out.parent / PLOT)
    write_marked_section(args.out, SECTION, section(figures, meta))
    print(f"wrote {args.out} and {args.out.parent / PLOT}")


if __name__ == "__main__":
    main()
