"""Precomputed related and featured lists for every article (``recommender export``)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .articles import Article
from .engine import Engine

CSV_COLUMNS = ["article_id", "block", "rank", "item_id", "score", "title", "url"]


def exported_articles(engine: Engine) -> list[Article]:
    """The articles an export writes lists for: what readers can see now (published
    articles, and scheduled ones that went live), in the listing's order."""
    now, skew = engine.now(), engine.settings.clock_skew_seconds
    listed = engine.list_articles(limit=10**9).articles
    return [article for article in listed if article.is_visible_at(now, skew)]


def write_export(
    engine: Engine,
    articles: Sequence[Article],
    out: Path,
    fmt: str,
    k: int | None = None,
    on_article: Callable[[], None] | None = None,
) -> int:
    """Write both blocks of each article to ``out`` (jsonl or csv); returns the count.

    Written to a temporary file renamed into place, so a failed export never
    leaves a truncated file where a site build would read it.
    """
    temporary = out.with_name(f".{out.name}.partial")
    with temporary.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle) if fmt == "csv" else None
        if writer is not None:
            writer.writerow(CSV_COLUMNS)
        for article in articles:
            both = engine.recommendations(article.id, k)
            if writer is None:
                record = {
                    "article_id": article.id,
                    "related": [item.to_json() for item in both.related],
                    "featured": [item.to_json() for item in both.featured],
                }
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            else:
                for block, items in (("related", both.related), ("featured", both.featured)):
                    for rank, item in enumerate(items, start=1):
                        writer.writerow(
                            [
                                article.id,
                                block,
                                rank,
                                item.article.id,
                                f"{item.score:.6f}",
                                item.article.title,
                                item.article.url or "",
                            ]
                        )
            if on_article is not None:
                on_article()
    os.replace(temporary, out)
    return len(articles)
