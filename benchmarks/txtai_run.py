"""txtai's hybrid index (faiss + its BM25) over a scale corpus's supplied vectors: the
build baseline of `make bench-scale`. Runs inside txtai's own virtualenv
(``var/bench/txtai-venv``), never the project's, so it imports nothing from the
project.

    var/bench/txtai-venv/bin/python benchmarks/txtai_run.py CORPUS.parquet OUT.json

Each document is the article's title and body; its vector is the one the corpus
supplies (txtai's ``external`` method, whose transform looks the text up), so no
model runs here either. Prints and writes build, save, load and query times (s).
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from txtai import Embeddings


def main(corpus: Path, out: Path, queries: int = 200) -> None:
    table = pq.read_table(corpus, columns=["id", "title", "body", "embedding"])
    ids = table.column("id").to_pylist()
    texts = [
        f"{title}\n\n{body}"
        for title, body in zip(
            table.column("title").to_pylist(), table.column("body").to_pylist(), strict=True
        )
    ]
    column = table.column("embedding").combine_chunks()
    vectors = column.values.to_numpy().reshape(len(column), -1).astype(np.float32)
    row_of = {text: row for row, text in enumerate(texts)}
    del table

    def transform(inputs: list[str]) -> np.ndarray:
        return vectors[[row_of[text] for text in inputs]]

    config = {"method": "external", "transform": transform, "backend": "faiss", "hybrid": True}
    embeddings = Embeddings(config)
    started = time.perf_counter()
    embeddings.index((uid, text, None) for uid, text in zip(ids, texts, strict=True))
    build = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        embeddings.save(folder)
        save = time.perf_counter() - started
        started = time.perf_counter()
        loaded = Embeddings()
        # The saved configuration names the transform; hand the function over again.
        loaded.load(folder, config={"transform": transform})
        load = time.perf_counter() - started
    rng = np.random.default_rng(0)
    picks = rng.integers(len(texts), size=queries)
    times = []
    for row in picks:
        started = time.perf_counter()
        loaded.search(texts[row], 20)
        times.append(time.perf_counter() - started)
    result = {
        "articles": len(ids),
        "build_seconds": build,
        "save_seconds": save,
        "load_seconds": load,
        "query_p50_ms": statistics.median(times) * 1000,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "config": {k: v for k, v in config.items() if k != "transform"},
    }
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
