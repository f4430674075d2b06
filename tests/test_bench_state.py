"""`make bench-state`: its section of docs/benchmarks.md beside the others, and one
small end-to-end run through wrk, real servers on both backends and a throwaway
PostgreSQL."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from benchmarks import report, scale, state
from benchmarks.synthetic import Generator, write_parquet
from tests.postgres import find_bin_dir
from tests.test_bench_scale import SPEED_PAGE, fake_base


def test_state_section_follows_the_scale_section_and_survives_a_speed_run(
    tmp_path: Path,
) -> None:
    page = tmp_path / "benchmarks.md"
    report.write_speed_page(page, SPEED_PAGE)
    report.write_scale_section(page, "## Scale\n\nscale figures")
    report.write_marked_section(page, report.STATE, f"{state.HEADING}\n\nfirst")
    first = page.read_text()
    assert first.index(report.SCALE_END) < first.index("<!-- bench-state:start -->")
    report.write_marked_section(page, report.STATE, f"{state.HEADING}\n\nsecond")
    assert page.read_text() == first.replace("first", "second")
    report.write_speed_page(page, SPEED_PAGE.replace("...", "again"))
    text = page.read_text()
    assert "Produced by `make bench` again" in text
    assert report.marked_section(text, report.STATE) == (
        f"<!-- bench-state:start -->\n{state.HEADING}\n\nsecond\n<!-- bench-state:end -->"
    )
    assert "scale figures" in report.scale_section(text)


def test_the_committed_page_has_at_most_one_state_section() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md").read_text()
    start, end = report.markers(report.STATE)
    assert text.count(start) == text.count(end) <= 1
    assert text.count(state.HEADING) == text.count(start)


def test_check_share_counts_the_change_check_by_any_path(tmp_path: Path) -> None:
    frames = [
        {"name": "recommendations", "file": "/w/service/app.py"},
        {"name": "Engine._counters", "file": "/w/recommender/engine.py"},
        {"name": "CounterRow.read", "file": "/w/recommender/postgres.py"},
        {"name": "Connections.query", "file": "/w/recommender/postgres.py"},
        {"name": "LiveStore.seq", "file": "/w/recommender/live.py"},
        {"name": "Condition.wait", "file": "/usr/lib/python3.11/threading.py"},
    ]
    profiles = [
        {"name": 'Thread 1 "MainThread"', "samples": [[0, 1, 2, 3], [0, 1, 4], [0], [0]]},
        {"name": 'Thread 2 "recommender-worker-0"', "samples": [[5], [5], [5], [5]]},
    ]
    for profile in profiles:
        profile["weights"] = [1] * len(profile["samples"])
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"shared": {"frames": frames}, "profiles": profiles}))
    main = scale.serving_thread(path, tmp_path / "main.json")
    assert state.check_share(main) == {
        "both": 0.5,
        "counter_row": 0.25,
        "live_seq": 0.25,
        "rules_version": 0.0,
    }
    assert state.check_share(path)["both"] == 0.25  # diluted by the idle pool thread


def fake_round(number: int, sqlite: float, postgres: float, others: float = 0.0) -> dict[str, Any]:
    def measured(rate: float) -> dict[str, float]:
        return {
            "requests_per_second": rate,
            "p50_ms": 1000 / rate,
            "p99_ms": 3000 / rate,
            "others_cpu_cores": others,
        }

    return {
        "round": number,
        "sqlite": {kind: {"measured": measured(sqlite)} for kind in state.KINDS},
        "postgresql": {kind: {"measured": measured(postgres)} for kind in state.KINDS},
        "disturbed": {kind: {"postgresql": others} if others else {} for kind in state.KINDS},
    }


def test_medians_leave_out_disturbed_rounds() -> None:
    run = {
        "rounds": [
            fake_round(1, 500, 480),
            fake_round(2, 500, 150, others=1.2),
            fake_round(3, 400, 340),
        ]
    }
    state.summarise(run)
    uniform = run["summary"]["uniform"]
    assert uniform["rounds"] == [1, 3] and not uniform["all_disturbed"]
    assert uniform["ratio"] == pytest.approx((0.96 + 0.85) / 2)
    assert uniform["sqlite"]["requests_per_second"] == 450
    assert run["summary"]["met"]
    for r in run["rounds"]:
        r["disturbed"]["uniform"] = {"sqlite": 0.5}
    state.summarise(run)
    assert run["summary"]["uniform"]["all_disturbed"]
    assert run["summary"]["uniform"]["ratio"] == pytest.approx(0.85)
    assert not run["summary"]["met"]


NUMBER = r"[\d,]+"
MS = r"\d+\.\d\d ms"


@pytest.mark.server
@pytest.mark.postgres
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make wrk)")
@pytest.mark.skipif(find_bin_dir() is None, reason="no PostgreSQL found (make postgres)")
def test_small_state_run_end_to_end(tmp_path: Path) -> None:
    """1k articles built here (no scale index to reuse), one round of 1 s passes."""
    work = tmp_path / "state"
    write_parquet(Generator(fake_base(), 0), 1000, work / "corpus-1k-seed0.parquet")
    out = tmp_path / "benchmarks.md"
    out.write_text(SPEED_PAGE)
    no_scale = tmp_path / "scale"
    state.main(
        [
            "--size", "1k",
            "--seconds", "1",
            "--rounds", "1",
            "--check-calls", "200",
            "--profile", "never",
            "--work", str(work),
            "--scale-work", str(no_scale),
            "--out", str(out),
            "--step-minutes", "5",
            "--quiet-minutes", "0",
            "--retries", "0",
        ]
    )  # fmt: skip
    assert not no_scale.exists()
    run = json.loads((work / "run.json").read_text())
    assert run["source"]["origin"] == "built by this run"
    assert run["migrate"]["output"].endswith("published 1")
    built = Path(run["source"]["index"]) / "versions" / run["version"] / "vectors.npy"
    served = work / "1k" / "index-sqlite" / "versions" / run["version"] / "vectors.npy"
    assert served.stat().st_ino == built.stat().st_ino  # hard-linked, not copied
    (only,) = run["rounds"]
    for backend in state.BACKENDS:
        for kind in ("uniform", "hot"):
            measured = only[backend][kind]["measured"]
            assert measured["requests"] > 0 and measured["non_2xx"] == 0, (backend, kind)
    assert only["postgresql"]["uniform"]["statements_per_request"] > 0
    assert run["check"]["postgresql"]["us_per_check"] > 0
    text = out.read_text()
    assert text.startswith(SPEED_PAGE.rstrip())
    section = report.marked_section(text, report.STATE)
    assert state.HEADING in section
    assert re.search(rf"\| 1\*? \| SQLite \| {NUMBER} \| {MS} \| {MS} \|  \|", section)
    assert re.search(rf"\| 1\*? \| PostgreSQL \| {NUMBER} \| {MS} \| {MS} \| \d+\.\d+×", section)
    assert re.search(r"\| median \| PostgreSQL \| .*\*\*\d+\.\d+×\*\*", section)
    assert re.search(r"\| SQLite \| \d+\.\d \|", section)
    assert re.search(r"\| PostgreSQL \| \d+\.\d \|", section)
    assert re.search(
        r"uncached: \d+\.\d+× \(median of 1 round\): goal (met|NOT met)\.\*\*", section
    )
