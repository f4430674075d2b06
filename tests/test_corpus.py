"""Corpus readers: every format, every rejection reason, good records kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recommender.corpus import load_corpus
from recommender.errors import InvalidCorpus

GOOD_MD = """---
id: good-one
title: "A good article"
summary: Short summary
url: https://news.example.org/articles/good-one
published: 2025-03-14
updated: 2025-03-20T10:30:00+02:00
tags: [spasticity, gait]
categories: [Research]
author: Staff
status: published
featured: true
sponsor: Acme
---

## A heading

Body with **bold** text and <em>inline HTML</em>.
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_markdown_article_is_read_with_all_fields(tmp_path: Path) -> None:
    write(tmp_path / "docs" / "good.md", GOOD_MD)
    loaded = load_corpus([tmp_path / "docs"])
    assert loaded.rejections == []
    (a,) = loaded.articles
    assert a.id == "good-one"
    assert a.tags == ("spasticity", "gait")
    assert a.categories == ("Research",)
    assert a.featured is True
    assert a.published == datetime(2025, 3, 14, tzinfo=UTC)
    assert a.updated is not None and a.updated.utcoffset() is not None
    assert a.extra == {"sponsor": "Acme"}
    # Markdown and HTML are reduced to text.
    assert "##" not in a.body and "**" not in a.body and "<em>" not in a.body
    assert "A heading" in a.body and "inline HTML" in a.body


@pytest.mark.parametrize(
    ("text", "line", "field", "reason"),
    [
        ("no front matter\n", 1, None, "no YAML front matter"),
        ("---\ntitle: x\nbody text\n", 1, None, "not closed"),
        ("---\nid: a\ntitle: [unclosed\n---\nbody\n", 3, None, "invalid YAML"),
        ("---\n- a list\n---\nbody\n", 2, None, "must be a mapping"),
        ("---\ntitle: No id\n---\nbody\n", 1, "id", "required field is missing"),
        ("---\nid: x\n---\nbody\n", 1, "title", "required field is missing"),
        ("---\nid: x\ntitle: T\n---\n\n", 5, "body", "body is empty"),
        ("---\nid: x\ntitle: T\npublished: 14/03/2025\n---\nbody\n", 4, "published", "ISO 8601"),
        ("---\nid: x\ntitle: T\nstatus: archived\n---\nbody\n", 4, "status", "published"),
        ("---\nid: x\ntitle: T\nfeatured: maybe\n---\nbody\n", 4, "featured", "boolean"),
        ("---\nid: x\ntitle: T\ntags: [ok, [3]]\n---\nbody\n", 4, "tags[1]", "expected text"),
        ("---\nid: has space\ntitle: T\n---\nbody\n", 2, "id", "pattern"),
    ],
)
def test_markdown_rejections_name_line_field_and_reason(
    tmp_path: Path, text: str, line: int, field: str | None, reason: str
) -> None:
    path = write(tmp_path / "bad.md", text)
    loaded = load_corpus([path])
    assert loaded.articles == []
    assert len(loaded.rejections) == 1
    rejection = loaded.rejections[0]
    assert rejection.source == str(path)
    assert rejection.line == line
    assert rejection.field == field
    assert reason in rejection.reason
    assert str(path) in str(rejection)


def test_good_records_survive_bad_neighbours(tmp_path: Path) -> None:
    write(tmp_path / "d" / "a.md", GOOD_MD)
    write(tmp_path / "d" / "b.md", "---\ntitle: no id\n---\nbody\n")
    loaded = load_corpus([tmp_path / "d"])
    assert [a.id for a in loaded.articles] == ["good-one"]
    assert len(loaded.rejections) == 1


def jsonl(tmp_path: Path, lines: list[str]) -> Path:
    return write(tmp_path / "c.jsonl", "\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("line_text", "field", "reason"),
    [
        ('{"id": "a", "title": "T", "body": "B"', None, "invalid JSON"),
        ('["not", "an", "object"]', None, "JSON object"),
        ('{"title": "T", "body": "B"}', "id", "required field is missing"),
        ('{"id": "a", "body": "B"}', "title", "required field is missing"),
        ('{"id": "a", "title": "T"}', "body", "required field is missing"),
        ('{"id": "a", "title": "T", "body": "<p> </p>"}', "body", "empty"),
        ('{"id": "a", "title": "T", "body": "B", "published": "soon"}', "published", "ISO"),
        ('{"id": "a", "title": "T", "body": "B", "tags": "x", "featured": 3}', "featured", ""),
    ],
)
def test_jsonl_rejections(tmp_path: Path, line_text: str, field: str | None, reason: str) -> None:
    good = json.dumps({"id": "good", "title": "Good", "body": "Fine"})
    path = jsonl(tmp_path, [good, "", line_text])
    loaded = load_corpus([path])
    assert [a.id for a in loaded.articles] == ["good"]
    (rejection,) = loaded.rejections
    assert (rejection.line, rejection.field) == (3, field)
    assert reason in rejection.reason


def test_jsonl_contract_fields_and_extras(tmp_path: Path) -> None:
    record = {
        "id": "x1",
        "title": "Title",
        "body": "<p>Hello <b>world</b></p><script>alert(1)</script>",
        "summary": "S",
        "url": "https://news.example.org/x1",
        "tags": ["a", "b", "a"],
        "categories": ["C"],
        "published": "2024-01-02T03:04:05Z",
        "updated": "2024-01-03",
        "author": "Me",
        "status": "draft",
        "featured": False,
        "reading_time": 4,
    }
    loaded = load_corpus([jsonl(tmp_path, [json.dumps(record)])])
    (a,) = loaded.articles
    assert a.body == "Hello world"
    assert a.tags == ("a", "b")
    assert a.status == "draft" and not a.is_published
    assert a.published == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert a.extra == {"reading_time": 4}


def test_duplicate_ids_rejected_with_first_location(tmp_path: Path) -> None:
    one = json.dumps({"id": "dup", "title": "First", "body": "one"})
    two = json.dumps({"id": "dup", "title": "Second", "body": "two"})
    path = jsonl(tmp_path, [one, two])
    loaded = load_corpus([path])
    assert [a.title for a in loaded.articles] == ["First"]
    (rejection,) = loaded.rejections
    assert rejection.line == 2 and rejection.field == "id"
    assert f"{path}:1" in rejection.reason


def test_csv_reader(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.csv",
        "id,title,body,tags,featured,published,color\n"
        'c1,First,"Body, with comma",gait; balance,yes,2025-01-01,red\n'
        'c2,Second,"multi\nline body",,no,,\n'
        "c3,,missing title,,,,\n"
        "c4,Too,many,cells,x,y,z,extra\n"
        "c5,Bad date,body,,,2025-13-01,\n",
    )
    loaded = load_corpus([path])
    assert [a.id for a in loaded.articles] == ["c1", "c2"]
    c1, c2 = loaded.articles
    assert c1.tags == ("gait", "balance") and c1.featured is True
    assert c1.extra == {"color": "red"}
    assert c2.body == "multi\nline body"
    by_line = {(r.line, r.field) for r in loaded.rejections}
    assert by_line == {(5, "title"), (6, None), (7, "published")}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.jsonl", None, "no such file"),
        ("corpus.xml", "<x/>", "unknown source format"),
        ("latin1.jsonl", b"\xff\xfe bad", "not UTF-8"),
        ("empty.csv", "", "empty CSV"),
        ("emptydir", "dir", "no Markdown"),
    ],
)
def test_unreadable_sources_raise_invalid_corpus(
    tmp_path: Path, name: str, content: str | bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(InvalidCorpus) as caught:
        load_corpus([path])
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_bundled_corpus_is_valid() -> None:
    root = Path(__file__).resolve().parent.parent / "corpus"
    loaded = load_corpus([root])
    assert loaded.rejections == []
    assert len(loaded.articles) >= 60
    drafts = [a for a in loaded.articles if a.status == "draft"]
    featured = [a for a in loaded.articles if a.featured and a.is_published]
    assert len(drafts) >= 2 and len(featured) >= 4
    ids = {a.id for a in loaded.articles}
    assert {
        "botox-intensive-rehab-chronic-stroke",
        "botox-review-22-studies-muscle-spasm",
        "sudden-sounds-startle-movement-cues",
    } <= ids
