"""Records split where their format says (issue 10): JSON Lines at "\\n" only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recommender.corpus import load_corpus


def write(path: Path, text: str) -> Path:
    """Write ``text`` exactly (no newline translation), as UTF-8."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    return path


# ---------------------------------------------------------------- JSON Lines


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085", "\u2028\u0085\u2029"])
@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_jsonl_line_separators_inside_strings_do_not_cut_records(
    tmp_path: Path, separator: str, line_end: str
) -> None:
    records = [
        {"id": "first", "title": f"Before{separator}after", "body": f"One{separator}two"},
        {"id": "second", "title": f"Plain{separator}", "body": "Body"},
        {"id": "third", "title": "Third", "body": f"x{separator}y{separator}z"},
    ]
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    lines.append('{"id": "bad", "title": "No body"}')  # line 4: rejected with its own number
    lines.append(json.dumps({"id": "fifth", "title": "Fifth", "body": "B"}))
    path = write(tmp_path / "c.jsonl", line_end.join(lines) + line_end)
    assert separator in path.read_text(encoding="utf-8")  # written raw, not \\u-escaped

    loaded = load_corpus([path])

    assert [(a.id, a.title) for a in loaded.articles] == [
        ("first", f"Before{separator}after"),
        ("second", f"Plain{separator}".strip()),
        ("third", "Third"),
        ("fifth", "Fifth"),
    ]
    assert [(r.line, r.field) for r in loaded.rejections] == [(4, "body")]


def test_jsonl_lone_carriage_return_is_not_a_line_end(tmp_path: Path) -> None:
    good = json.dumps({"id": "good", "title": "Good", "body": "B"})
    # A raw CR inside a JSON string is invalid JSON; it must not split the record in two.
    path = write(tmp_path / "c.jsonl", good + "\n" + '{"id": "x", "title": "a\rb", "body": "B"}\n')
    loaded = load_corpus([path])
    assert [a.id for a in loaded.articles] == ["good"]
    ((line, reason),) = [(r.line, r.reason) for r in loaded.rejections]
    assert line == 2 and reason.startswith("invalid JSON: Invalid control character")
