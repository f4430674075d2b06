"""Front matter (issue 10): text fields keep the scalar text as written, dates
are still dates, and a field of the wrong shape is rejected with its file, line
and field while the rest of the corpus is indexed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from recommender.corpus import load_corpus


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


YAML_SCALARS = ["1917", "no", "on", "yes", "0042", "0x1F", "1e3", "2024-05-01", "~", "null", ".inf"]
TEXT_FIELDS = ["id", "title", "summary", "author", "url"]


def markdown(fields: dict[str, str], body: str = "Body text.") -> str:
    front = "".join(f"{name}: {value}\n" for name, value in fields.items())
    return f"---\n{front}---\n{body}\n"


@pytest.mark.parametrize("scalar", YAML_SCALARS)
@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_front_matter_text_fields_keep_the_written_text(
    tmp_path: Path, field: str, scalar: str
) -> None:
    fields = {"id": "doc", "title": "Title", field: scalar}
    loaded = load_corpus([write(tmp_path / "a.md", markdown(fields))])
    assert loaded.rejections == []
    (article,) = loaded.articles
    assert getattr(article, field) == scalar


@pytest.mark.parametrize("scalar", YAML_SCALARS)
@pytest.mark.parametrize("field", ["tags", "categories"])
def test_front_matter_labels_keep_the_written_text(tmp_path: Path, field: str, scalar: str) -> None:
    as_list = {"id": "l", "title": "T", field: f"[{scalar}, plain]"}
    as_block = {"id": "b", "title": "T", field: f"\n  - {scalar}\n  - plain"}
    as_scalar = {"id": "s", "title": "T", field: scalar}
    write(tmp_path / "d" / "l.md", markdown(as_list))
    write(tmp_path / "d" / "b.md", markdown(as_block))
    write(tmp_path / "d" / "s.md", markdown(as_scalar))
    loaded = load_corpus([tmp_path / "d"])
    assert loaded.rejections == []
    got = {a.id: getattr(a, field) for a in loaded.articles}
    assert got == {"l": (scalar, "plain"), "b": (scalar, "plain"), "s": (scalar,)}


@pytest.mark.parametrize(
    ("written", "text"),
    [
        ("'1917'", "1917"),
        ('"0042"', "0042"),
        ("'it''s'", "it's"),
        ('"tab\\there"', "tab\there"),
        ("|\n  Two\n  lines", "Two\nlines"),
        ("Stroke rehab, what's new", "Stroke rehab, what's new"),
        ("  spaced  ", "spaced"),
    ],
)
def test_front_matter_quotes_keep_their_meaning(tmp_path: Path, written: str, text: str) -> None:
    loaded = load_corpus([write(tmp_path / "q.md", markdown({"id": "q", "title": written}))])
    (article,) = loaded.articles
    assert article.title == text


@pytest.mark.parametrize(
    ("written", "published"),
    [
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("'2024-05-01'", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024-05-01T10:30:00Z", datetime(2024, 5, 1, 10, 30, tzinfo=UTC)),
        (
            "2024-05-01 10:30:00 +02:00",
            datetime(2024, 5, 1, 10, 30, tzinfo=timezone(timedelta(hours=2))),
        ),
        ('"2024-05-01T10:30:00+02:00"', datetime(2024, 5, 1, 8, 30, tzinfo=UTC)),
    ],
)
def test_front_matter_dates_are_still_dates(
    tmp_path: Path, written: str, published: datetime
) -> None:
    fields = {"id": "d", "title": "2024-05-01", "published": written, "updated": written}
    loaded = load_corpus([write(tmp_path / "d.md", markdown(fields))])
    (article,) = loaded.articles
    assert article.title == "2024-05-01"
    assert article.published == published and article.updated == published


@pytest.mark.parametrize(
    ("front", "line", "field", "reason"),
    [
        ("id: x\ntitle:\n  nested: map\n", 3, "title", "expected text, found a mapping"),
        ("id: x\ntitle: [a, b]\n", 3, "title", "expected text, found a list"),
        ("id: {a: 1}\ntitle: T\n", 2, "id", "expected text, found a mapping"),
        ("id: x\ntitle: T\nauthor:\n  - A\n  - B\n", 4, "author", "expected text, found a list"),
        ("id: x\ntitle: T\ntags: [ok, [x, y]]\n", 4, "tags[1]", "expected text, found a list"),
        (
            "id: x\ntitle: T\ncategories:\n  - ok\n  - {a: b}\n",
            6,
            "categories[1]",
            "expected text, found a mapping",
        ),
        (
            "id: x\ntitle: T\ntags: {a: b}\n",
            4,
            "tags",
            "expected text or a list of texts, found a mapping",
        ),
        (
            "id: x\ntitle: T\npublished: 2024-13-45\n",
            4,
            "published",
            "cannot read '2024-13-45': month must be in 1..12",
        ),
        ("id: x\ntitle: T\nsummary: S\n? [a]\n: b\n", 5, None, "a field name must be plain text"),
    ],
)
def test_front_matter_wrong_shapes_are_rejected_and_the_rest_indexed(
    tmp_path: Path, front: str, line: int, field: str | None, reason: str
) -> None:
    bad = write(tmp_path / "d" / "bad.md", f"---\n{front}---\nBody\n")
    write(tmp_path / "d" / "good.md", markdown({"id": "good", "title": "Good"}))
    loaded = load_corpus([tmp_path / "d"])
    assert [a.id for a in loaded.articles] == ["good"]
    (rejection,) = loaded.rejections
    assert (rejection.source, rejection.line, rejection.field, rejection.reason) == (
        str(bad),
        line,
        field,
        reason,
    )


@pytest.mark.parametrize(
    ("text", "line", "field", "reason"),
    [
        ("+++\ntitle = 'T'\n+++\nBody\n", 1, None, "TOML front matter ('+++') is not read"),
        ("---\nid: x\ntitle: a: b\n---\nBody\n", 3, None, "invalid YAML front matter"),
        ("---\nid: x\ntitle:\n---\nBody\n", 3, "title", "required field is missing"),
        ("---\nid: ''\ntitle: T\n---\nBody\n", 2, "id", "at least 1 character"),
    ],
)
def test_front_matter_unreadable(
    tmp_path: Path, text: str, line: int, field: str | None, reason: str
) -> None:
    loaded = load_corpus([write(tmp_path / "x.md", text)])
    (rejection,) = loaded.rejections
    assert (rejection.line, rejection.field) == (line, field)
    assert reason in rejection.reason


def test_front_matter_empty_value_means_not_given(tmp_path: Path) -> None:
    text = "---\nid: e\ntitle: T\nsummary:\nauthor: ''\ntags:\n---\nBody\n"
    (article,) = load_corpus([write(tmp_path / "e.md", text)]).articles
    assert (article.summary, article.author, article.tags) == ("", "", ())


def test_front_matter_other_fields_keep_yaml_types(tmp_path: Path) -> None:
    text = markdown(
        {
            "id": "t",
            "title": "T",
            "featured": "yes",
            "reading_time": "4",
            "defaults": "&d {status: draft}",
            "<<": "*d",
        }
    )
    (article,) = load_corpus([write(tmp_path / "t.md", text)]).articles
    assert article.featured is True
    assert article.status == "draft"  # from the merge key
    assert article.extra == {"reading_time": 4, "defaults": {"status": "draft"}}
