"""A snapshot's articles on disk: the same articles and arrays after a write and a
load, records read one at a time, and snapshots of older code read whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from recommender.articles import Article
from recommender.records import ARTICLES, OFFSETS, ArticleRecords, Labels


def articles() -> list[Article]:
    return [
        Article(
            id="a",
            title="Walking again",
            body="Treadmill training.",
            tags=("stroke", "walking"),
            categories=("Rehab",),
            published=datetime(2025, 3, 1, tzinfo=UTC),
            featured=True,
        ),
        Article(id="b", title="Sleep", body="Apnea.", status="draft", tags=("sleep",)),
        Article(
            id="ç,d",
            title="Scheduled",
            body="Later.",
            status="scheduled",
            published=datetime(2030, 1, 1, tzinfo=UTC),
            updated=datetime(2030, 1, 2, tzinfo=UTC),
            tags=("walking",),
            categories=("Rehab", "News"),
        ),
    ]


HASHES = ["1" * 64, "2" * 64, "3" * 64]


def test_records_written_and_loaded_are_the_same(tmp_path: Path) -> None:
    ArticleRecords.of(articles(), HASHES).write(tmp_path)
    loaded = ArticleRecords.load(tmp_path)
    assert len(loaded) == 3 and loaded.ids == ["a", "b", "ç,d"]
    assert list(loaded) == articles() and loaded[-1] == articles()[2]
    assert loaded.content_hashes == HASHES
    assert loaded.published.tolist() == [
        datetime(2025, 3, 1, tzinfo=UTC).timestamp(),
        -np.inf,
        datetime(2030, 1, 1, tzinfo=UTC).timestamp(),
    ]
    assert loaded.updated.tolist()[:2] == [-np.inf, -np.inf]
    assert loaded.status.tolist() == [0, 1, 2] and loaded.featured.tolist() == [True, False, False]
    assert [loaded.tags.at(i) for i in range(3)] == [
        ("stroke", "walking"),
        ("sleep",),
        ("walking",),
    ]
    assert loaded.categories.at(2) == ("Rehab", "News")
    with pytest.raises(IndexError):
        loaded[3]


def test_a_record_is_read_only_when_asked_for(tmp_path: Path) -> None:
    ArticleRecords.of(articles(), HASHES).write(tmp_path)
    offsets = np.load(tmp_path / OFFSETS)
    lines = (tmp_path / ARTICLES).read_bytes()
    assert offsets[-1] == len(lines)
    second = json.loads(lines[offsets[1] : offsets[2]])
    assert second == {"article": articles()[1].to_json(), "content_hash": HASHES[1]}
    loaded = ArticleRecords.load(tmp_path)
    (tmp_path / ARTICLES).write_bytes(lines[: offsets[1]] + b"x" * (len(lines) - offsets[1]))
    assert loaded[0] == articles()[0]  # the first line is intact; the others are not read


def test_a_snapshot_of_older_code_is_read_whole(tmp_path: Path) -> None:
    with (tmp_path / ARTICLES).open("w", encoding="utf-8") as handle:
        for article, content in zip(articles(), HASHES, strict=True):
            handle.write(json.dumps({"article": article.to_json(), "content_hash": content}) + "\n")
    loaded = ArticleRecords.load(tmp_path)
    assert list(loaded) == articles() and loaded.content_hashes == HASHES
    assert loaded.status.tolist() == [0, 1, 2]


def test_label_positions_list_the_articles_carrying_each_label() -> None:
    labels = Labels.of([("stroke", "walking"), (), ("walking",), ("stroke",)])
    assert labels.vocabulary == ["stroke", "walking"]
    found = {name: positions.tolist() for name, positions in labels.positions().items()}
    assert found == {"stroke": [0, 3], "walking": [0, 2]}
