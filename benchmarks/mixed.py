"""Corpora of any size in real text: short articles mixed from the sentences of the
bundled corpus (``corpus/``, 63 articles written for this project).

    python -m benchmarks.mixed --size 1500 --out var/bench/mixed-1500.jsonl

Article ``n`` takes a run of two or three consecutive sentences of one bundled
article (its anchor, ``n`` modulo 63) and one sentence of another that shares a
tag with it; its title is the anchor's with that tag, and its tags, categories
and author are the anchor's. Bodies are about 60 words (a tenth of a bundled
article), so embedding them is cheap, and articles about one subject share words
and meaning, so neighbours are not random. The output depends only on the size
and the seed.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from recommender.articles import Article
from recommender.corpus import load_corpus

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "corpus"
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
START = datetime(2019, 1, 1, tzinfo=UTC)


def _sentences(article: Article) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(article.body) if len(s.split()) >= 4]


def mixed_records(size: int, seed: int = 0, corpus: Path = BUNDLED) -> list[dict[str, Any]]:
    """``size`` article records (``id``, ``title``, ``body``, labels, dates) mixed
    from ``corpus``'s sentences; deterministic for one ``seed``."""
    articles = load_corpus([corpus]).articles
    sentences = [_sentences(a) for a in articles]
    rng = np.random.default_rng(seed)
    records = []
    for n in range(size):
        anchor = n % len(articles)
        own = sentences[anchor]
        tag = articles[anchor].tags[n // len(articles) % len(articles[anchor].tags)]
        partners = [i for i, other in enumerate(articles) if i != anchor and tag in other.tags] or [
            (anchor + 1) % len(articles)
        ]
        partner = partners[int(rng.integers(len(partners)))]
        run = int(rng.integers(2, 4))
        start = int(rng.integers(0, max(1, len(own) - run)))
        picked = own[start : start + run]
        borrowed = sentences[partner]
        picked.append(borrowed[int(rng.integers(len(borrowed)))])
        source = articles[anchor]
        published = START + timedelta(days=int(rng.integers(0, 6 * 365)))
        records.append(
            {
                "id": f"{source.id}-{n:06d}",
                "title": f"{source.title} ({tag.replace('-', ' ')})",
                "body": " ".join(picked),
                "tags": list(source.tags),
                "categories": list(source.categories),
                "author": source.author,
                "published": published.date().isoformat(),
                "featured": n % 97 == 0,
            }
        )
    return records


def write_jsonl(records: list[dict[str, Any]], path: Path) -> Path:
    """Write ``records`` as JSON Lines to ``path`` (its folder is made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, required=True, help="Articles to write.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="The JSONL file to write.")
    args = parser.parse_args()
    write_jsonl(mixed_records(args.size, args.seed), args.out)


if __name__ == "__main__":
    main()
