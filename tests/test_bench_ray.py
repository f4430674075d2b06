"""`make bench-ray`'s report: its own section of docs/benchmarks.md, kept by the
other runs, and a projection that follows from the measured rates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks import raybench, report

from .test_bench_scale import SPEED_PAGE


def measured() -> dict[str, Any]:
    build = {"seconds": 100.0, "articles": 2_000, "embedded": 2_000, "articles_per_second": 20.0}
    run: dict[str, Any] = {
        "date": "2026-11-30 12:00 UTC",
        "machine": "2 cores",
        "cpus": 2,
        "actors": 2,
        "load": "1.0",
        "local": build | {"phases": {"read": 1.0, "embed": 95.0, "write": 2.0, "seal": 1.0}},
        "ray": build | {"seconds": 80.0, "phases": {"read": 5.0, "embed": 70.0, "write": 2.0}},
        "worker": {
            "embed_articles_per_second": 25.0,
            "model_load_seconds": 3.0,
            "dense_pairs_per_second": 100_000_000,
            "lexical_articles_per_second": 5_000.0,
            "read_articles_per_second": 2_000.0,
            "count_articles_per_second": 4_000.0,
            "cells": {
                "assign_pairs_per_second": 200_000_000.0,
                "search_pairs_per_second": 50_000_000.0,
                "pairs_per_article": 5_000.0,
                "cell_size": 100.0,
            },
        },
        "driver": {
            "rows": 100_000,
            "lexical_merge_seconds_per_article": 1e-5,
            "groups_seconds_per_article": 2e-5,
        },
        "options": {"workers": 8, "cpus": 8, "gpu_rate": 2_000.0},
    }
    run["projection"] = {
        str(size): raybench.project(run, size, 8, 8, 2_000.0) for size in (1_000_000, 10_000_000)
    }
    return run


def test_the_projection_scales_each_stage_by_its_workers() -> None:
    projected = measured()["projection"]["1000000"]
    assert projected["embed_gpu"] == 1_000_000 / (8 * 2_000.0)
    assert projected["embed_cpu_only"] == 1_000_000 / (64 * 25.0)
    assert projected["dense_exact"] == 1e12 / (64 * 1e8)
    assert projected["driver"] == 1_000_000 * 3.0 / 2_000
    assert projected["count"] == 1_000_000 / (64 * 4_000.0)
    assert projected["driver_lexical"] == 1_000_000 * 1e-5
    assert projected["driver_groups"] == 1_000_000 * 2e-5
    # 10,000 cells of 100: each article meets every centre once, then 5,000 articles.
    assert projected["dense_cells"] == 1e6 * 1e4 / (64 * 2e8) + 1e6 * 5_000 / (64 * 5e7)
    assert projected["kmeans"] == 200_000 * 1e4 * 10 / (8 * 2e8)  # a sample, 8 CPUs
    ten = measured()["projection"]["10000000"]
    assert ten["dense_exact"] == 100 * projected["dense_exact"]  # N squared
    # 65,536 cells at most: at 10M they hold about 153 articles, and each article
    # meets about 1.5 times as many.
    cells = 10_000_000 / 65_536
    assert ten["dense_cells"] == 1e7 * 65_536 / (64 * 2e8) + 1e7 * 5_000 * cells / 100 / (64 * 5e7)
    assert ten["kmeans"] == 200_000 * 65_536 * 10 / (8 * 2e8)  # a sample of 200,000


def test_the_section_states_figures_and_assumptions() -> None:
    text = raybench.render(measured())
    assert text.startswith("## Batch builds on Ray (`make bench-ray`)")
    assert "| single machine | 100.0 | 20.0 |" in text
    assert "Ray / single machine: 1.25×" in text
    assert "one GPU embeds 2,000 articles/s" in text and "not measured" in text
    assert "- 10,000,000 articles: the slowest stage is the driver's writing" in text
    assert "| dense candidate search (cells): searching the cells | 50 M article pairs/s" in text
    assert "the driver's merge of the term counts" in text and "100,000 articles" in text


def test_every_run_keeps_the_other_runs_sections(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    report.write_marked_section(page, report.RAY, "## Ray\n\nfigures")
    report.write_scale_section(page, "## Scale\n\nfigures")
    report.write_speed_page(page, SPEED_PAGE)
    text = page.read_text()
    assert text.startswith(SPEED_PAGE.rstrip())
    assert report.marked_section(text, "bench-ray") == (
        "<!-- bench-ray:start -->\n## Ray\n\nfigures\n<!-- bench-ray:end -->"
    )
    assert "## Scale\n\nfigures" in report.scale_section(text)
    report.write_marked_section(page, report.RAY, "## Ray\n\nagain")
    assert "## Scale\n\nfigures" in page.read_text() and "again" in page.read_text()
