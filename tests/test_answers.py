"""The ranking's answers on the bundled corpus are the recorded ones, score for score.

``tests/answers.py`` says what is asked (default and other serving settings, every
fusion method and query weighting, knobs, filters, fallback, rules and live
changes) and how to record the fixture again when answers are meant to change.
"""

from __future__ import annotations

import json
from pathlib import Path

from .answers import COLUMNS, SAMPLE, differences, record

FIXTURE = Path(__file__).parent / "fixtures" / "answers.json"


def test_every_answer_is_the_recorded_one(tmp_path: Path) -> None:
    expected = json.loads(FIXTURE.read_text("utf-8"))
    # Every id, rank, rule and shared term exactly; floats to the last rounded digit
    # (see TOLERANCE: on the machine that recorded them, they are all identical).
    assert list(differences(expected, record(tmp_path / "index", SAMPLE))) == []


def test_the_fixture_exercises_what_it_claims_to() -> None:
    expected = json.loads(FIXTURE.read_text("utf-8"))
    rows = [
        dict(zip(COLUMNS, row, strict=True))
        for queries in expected.values()
        for lists in queries.values()
        for items in lists.values()
        for row in items
    ]
    assert {row["fusion"] for row in rows} == {"weighted", "rrf", "minmax"}
    assert {row["rule"] for row in rows} == {None, "pinned", "fallback"}
    assert any(row["tag"] > 0 for row in rows)
    assert any(row["recency"] < 1 for row in rows)
    assert any(row["redundancy"] is not None for row in rows)
    assert any(row["resemblance"] is not None and row["resemblance"] > 0 for row in rows)
    assert any(row["id"] == "partner-copy" for row in rows)
    assert not any(row["id"] == "scheduled-20" for row in rows)  # still waiting
