"""Indexing and query speed on the bundled corpus, against baselines measured
in the same run (the machine is shared: ratios travel, absolute times do not).

    python -m benchmarks.speed --out docs/benchmarks.md

Baselines:
- indexing: the raw model encode rate on the same prepared article texts
  (sentence-transformers ``encode``, which truncates each text at the window);
- related(): one raw model encode of a short query (what any semantic engine pays
  per draft), and a brute-force numpy dot product over all article vectors.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from recommender import Engine, Settings
from recommender.corpus import load_corpus
from recommender.embedding import SentenceTransformerEmbedder, plan_chunks
from recommender.fields import dense_text, lexical_fields
from recommender.lexical import LexicalModel
from recommender.pipeline import build_index

from .report import write_speed_page

ROOT = Path(__file__).resolve().parent.parent


def timed(func, repeat: int = 1) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--out", type=Path, default=None, help="Markdown report to write.")
    parser.add_argument("--queries", type=int, default=200, help="related() calls to time.")
    args = parser.parse_args()

    articles = load_corpus([args.corpus]).articles
    texts = [dense_text(a) for a in articles]
    embedder = SentenceTransformerEmbedder()
    model = embedder._loaded()  # warm up: loading is not part of any rate
    model.encode(texts[:8])

    raw_seconds = min(timed(lambda: model.encode(texts, batch_size=32), repeat=2))
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(index_dir=Path(tmp) / "index", reload_interval=3600)

        def index() -> None:
            build_index([args.corpus], settings, embedder, progress=False)

        cold = timed(index)[0]
        unchanged = timed(index)[0]
        # Forget what is published (the cache stays): a full rebuild that embeds nothing.
        (settings.index_dir / "CURRENT").unlink()
        warm = timed(index)[0]
        chunks = sum(len(plan_chunks(embedder, a.title, dense_text(a)).chunks) for a in articles)

        engine = Engine(settings, embedder=embedder)
        ids = [a.id for a in articles]
        engine.related(ids[0])
        per_query = []
        for i in range(args.queries):
            per_query.extend(timed(lambda i=i: engine.related(ids[i % len(ids)], k=5)))
        query_text = "botulinum toxin for spasticity after stroke"
        encode_one = timed(lambda: model.encode([query_text]), repeat=50)
        vectors = engine.snapshot.vectors
        dot = timed(lambda: np.argsort(-(vectors @ vectors[0]))[:5], repeat=200)
        draft = timed(lambda: engine.recommend_text("Botox and rehab", texts[0], k=5), repeat=20)
    # The lexical model alone, without and with stemming (the default), best of 5.
    documents = [lexical_fields(a) for a in articles]
    fit_plain = min(timed(lambda: LexicalModel(stemming="none").fit(documents), repeat=5))
    fit_stemmed = min(timed(lambda: LexicalModel(stemming="english").fit(documents), repeat=5))
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    n = len(articles)
    raw_rate = n / raw_seconds
    cold_rate = n / cold
    warm_rate = n / warm
    unchanged_rate = n / unchanged
    related_ms = statistics.median(per_query) * 1000
    related_p95 = float(np.percentile(per_query, 95)) * 1000
    encode_ms = statistics.median(encode_one) * 1000
    dot_ms = statistics.median(dot) * 1000
    draft_ms = statistics.median(draft) * 1000
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"({platform.machine()}, {platform.python_version()}, CPU only). "
        "Every figure has its baseline measured in the same run; compare the ratios.",
        "",
        f"Corpus: the bundled corpus, {n} articles, {chunks} chunks of at most "
        f"{embedder.max_tokens} tokens.",
        "",
        "## Indexing",
        "",
        "| what | articles/s | ratio to raw encode |",
        "|---|---:|---:|",
        f"| raw model encode of the same texts (baseline, truncated at the window) "
        f"| {raw_rate:.1f} | 1.00 |",
        f"| `build_index`, cold cache (chunking, embedding, BM25, faiss, snapshot) "
        f"| {cold_rate:.1f} | {cold_rate / raw_rate:.2f} |",
        f"| the same cold run in model windows per second ({chunks} windows in all) "
        f"| {chunks / cold:.1f} | {chunks / cold / raw_rate:.2f} |",
        f"| `build_index`, warm cache, full rebuild (nothing embedded) "
        f"| {warm_rate:.1f} | {warm_rate / raw_rate:.2f} |",
        f"| `build_index`, unchanged corpus (nothing embedded or published) "
        f"| {unchanged_rate:.1f} | {unchanged_rate / raw_rate:.2f} |",
        "",
        "The lexical model alone (part of every build above):",
        "",
        "| what | articles/s | ratio to the unstemmed fit |",
        "|---|---:|---:|",
        f"| BM25 fit, no stemming (baseline) | {n / fit_plain:.0f} | 1.00 |",
        f"| BM25 fit, Snowball stemming (the default) | {n / fit_stemmed:.0f} "
        f"| {fit_plain / fit_stemmed:.2f} |",
        "",
        f"The cold run embeds {chunks} chunks where the baseline embeds {n} truncated texts: "
        "its lower rate is the price of reading whole articles. The unchanged-corpus run "
        "is what a repeated `make run` costs.",
        "",
        "## Queries",
        "",
        "| what | median ms | ratio to one model encode |",
        "|---|---:|---:|",
        f"| one raw model encode of a short query (baseline) | {encode_ms:.2f} | 1.00 |",
        f"| brute-force numpy dot product + sort over all vectors | {dot_ms:.3f} "
        f"| {dot_ms / encode_ms:.3f} |",
        f"| `Engine.related(id, k=5)` (dense + BM25 + fusion + dedup + explanations, "
        "shared terms and field split included) "
        f"| {related_ms:.2f} (p95 {related_p95:.2f}) | {related_ms / encode_ms:.2f} |",
        f"| `Engine.recommend_text` for a full draft article | {draft_ms:.2f} "
        f"| {draft_ms / encode_ms:.2f} |",
        "",
        f"Peak resident memory of the benchmark process: {rss_mib:.0f} MiB "
        "(model, torch and the index).",
        "",
    ]
    report = "\n".join(lines)
    print(report)
    if args.out:
        # The scale section (`make bench-scale`) lives on the same page: keep it.
        write_speed_page(args.out, report)


if __name__ == "__main__":
    main()
