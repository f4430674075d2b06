"""Synthetic corpora for `make bench-scale`: N articles with supplied vectors, as Parquet.

    python -m benchmarks.synthetic --size 10000 --out var/bench/scale/corpus-10k.parquet

Every article is composed from the benchmark documents (NFCorpus and SciFact,
read from ``../shared/data``; see their SOURCE.md) so that its text agrees with
its vector, and no model runs while a corpus is built or indexed:

- Base vectors: every benchmark document embedded once per machine with the
  packaged model (one raw encode, truncated at the model's window), cached
  under ``var/bench/scale/`` (never in the repository).
- An article picks an anchor document and three of its twelve nearest
  neighbours (so articles form the neighbourhoods real embeddings form). Its
  body is four passages of the anchor and two or three of each neighbour, each
  passage with a quarter of its words dropped at random, so two articles
  built from the same passages still share few runs of four words (the engine
  hides bodies whose 4-word shingles overlap by half or more).
- Its vector is the mean of the documents' vectors weighted by the words each
  gave, plus Gaussian noise of norm 0.3 (then L2-normalised): close to its
  sources, and never within the dense duplicate threshold (0.97) of another
  article built from the same documents.
- Metadata: dates spread over 2018-2025, one to four tags from a Zipf-distributed
  vocabulary (the corpus's own frequent words), one of eight categories by the
  anchor's region of the vector space, about 1% featured, urls and authors.

The output is deterministic: the same base, size and seed give the same file.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "bench" / "scale"
NEIGHBOURS = 12  # an article mixes its anchor with documents among its anchor's 12 nearest
SOURCES_PER_ARTICLE = 4
DROP_RATE = 0.25
NOISE = 0.3
BATCH = 10_000
TAG_VOCABULARY = 2_000
ZIPF_EXPONENT = 1.1
FEATURED_SHARE = 0.01
CATEGORIES = (
    "Research",
    "Nutrition",
    "Prevention",
    "Treatment",
    "Policy",
    "Lifestyle",
    "Ageing",
    "Children",
)
AUTHORS = tuple(f"Reporter {n}" for n in range(1, 41))
START = datetime(2018, 1, 1, tzinfo=UTC).timestamp()
END = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")
_WORD = re.compile(r"[a-z][a-z-]{4,}")
PASSAGE_WORDS = 22  # NFCorpus text has no punctuation: passages are runs of this many words


@dataclass(frozen=True)
class BaseDocument:
    """One benchmark document: a title and its passages (sentences, or word runs)."""

    doc_id: str
    title: str
    passages: tuple[str, ...]

    @property
    def text(self) -> str:
        """The document's text, as embedded."""
        return " ".join(self.passages)


@dataclass(frozen=True)
class Base:
    """The documents articles are composed from, with one unit vector each."""

    documents: list[BaseDocument]
    vectors: np.ndarray  # (documents, dim) float32, L2-normalised


def data_dir() -> Path:
    """$RECOMMENDER_BENCH_DATA, else ``shared/data`` beside the repository."""
    return Path(os.environ.get("RECOMMENDER_BENCH_DATA") or ROOT.parent / "shared" / "data")


def _word_runs(text: str, size: int = PASSAGE_WORDS) -> tuple[str, ...]:
    words = text.split()
    return tuple(" ".join(words[i : i + size]) for i in range(0, len(words), size))


def read_documents(data: Path) -> list[BaseDocument]:
    """NFCorpus's and SciFact's documents, in file order.

    NFCorpus text is lowercased and stripped of punctuation (its SOURCE.md), so
    its title is its first eight words and its passages are runs of words;
    SciFact's abstracts are split into sentences.
    """
    documents = []
    with gzip.open(data / "nfcorpus" / "corpus.docs.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            doc_id, _, text = line.rstrip("\n").partition("\t")
            words = text.split()
            if len(words) < 30:
                continue
            title = " ".join(words[:8]).capitalize()
            documents.append(BaseDocument(f"nf:{doc_id}", title, _word_runs(" ".join(words[8:]))))
    with gzip.open(data / "scifact" / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            passages = tuple(s for s in _SENTENCE.split(record["text"].strip()) if s)
            if len(" ".join(passages).split()) < 30:
                continue
            title = record["title"].strip().rstrip(".")
            documents.append(BaseDocument(f"sf:{record['_id']}", title, passages))
    return documents


def base_vectors(documents: list[BaseDocument], cache: Path = CACHE) -> np.ndarray:
    """The packaged model's vector of every document (title, then text), cached per
    machine under ``cache`` by a digest of the texts and the model."""
    from recommender.embedding import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    digest = hashlib.sha256(embedder.model_id.encode())
    for document in documents:
        digest.update(f"{document.doc_id}\x00{document.title}\x00{document.text}\n".encode())
    path = cache / f"base-vectors-{digest.hexdigest()[:16]}.npy"
    if path.exists():
        return np.load(path)
    texts = [f"{d.title}. {d.text}" for d in documents]
    # One raw encode per document (truncated at the window): what any engine would store.
    vectors = embedder.encode(texts)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def load_base(data: Path | None = None, cache: Path = CACHE) -> Base:
    """The benchmark documents and their cached vectors (embedded on first use)."""
    documents = read_documents(data or data_dir())
    return Base(documents, base_vectors(documents, cache))


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32)


class Generator:
    """Composes synthetic articles from a :class:`Base` (see the module docstring).

    Args:
        base: the documents and their vectors.
        seed: every draw derives from it; batch ``b`` of any corpus uses the stream
            ``(seed, b)``, so corpora of different sizes share their whole batches.
    """

    def __init__(self, base: Base, seed: int = 0) -> None:
        self.base = base
        self.seed = seed
        vectors = base.vectors.astype(np.float32)
        similarity = vectors @ vectors.T
        np.fill_diagonal(similarity, -np.inf)
        count = min(NEIGHBOURS, len(base.documents) - 1)
        self.neighbours = np.argsort(-similarity, axis=1)[:, :count]
        shape = (len(CATEGORIES), vectors.shape[1])
        directions = _unit(np.random.default_rng(seed).standard_normal(shape))
        self.category = np.argmax(vectors @ directions.T, axis=1)
        self.tags = self._tag_vocabulary()
        ranks = np.arange(1, len(self.tags) + 1, dtype=np.float64)
        weights = ranks**-ZIPF_EXPONENT
        self.tag_weights = weights / weights.sum()

    def _tag_vocabulary(self) -> list[str]:
        """The base's most frequent longer words by document frequency, most frequent first."""
        counts: Counter[str] = Counter()
        for document in self.base.documents:
            counts.update(set(_WORD.findall(document.text.lower())))
        return [word for word, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][
            :TAG_VOCABULARY
        ]

    def batches(self, size: int) -> Iterator[dict[str, object]]:
        """The corpus as column batches of up to :data:`BATCH` rows each."""
        for number, start in enumerate(range(0, size, BATCH)):
            yield self.batch(number, start, min(BATCH, size - start))

    def batch(self, number: int, start: int, rows: int) -> dict[str, object]:
        """Columns of articles ``start .. start + rows``: lists per field, and
        ``embedding`` as a (rows, dim) float32 array."""
        rng = np.random.default_rng([self.seed, number])
        documents = self.base.documents
        anchors = rng.integers(len(documents), size=rows)
        picks = np.argsort(rng.random((rows, self.neighbours.shape[1])), axis=1)
        others = np.take_along_axis(
            self.neighbours[anchors], picks[:, : SOURCES_PER_ARTICLE - 1], axis=1
        )
        sources = np.concatenate([anchors[:, None], others], axis=1)
        bodies, weights = [], np.zeros((rows, sources.shape[1]), dtype=np.float32)
        for row in range(rows):
            parts = []
            for column, doc in enumerate(sources[row]):
                passages = documents[doc].passages
                wanted = 4 if column == 0 else 2 + int(rng.random() < 0.5)
                chosen = np.sort(rng.permutation(len(passages))[: min(wanted, len(passages))])
                words = " ".join(passages[i] for i in chosen).split()
                dropped = rng.random(len(words)) < DROP_RATE
                kept = [w for w, drop in zip(words, dropped, strict=True) if not drop]
                weights[row, column] = len(kept)
                parts.append(" ".join(kept))
            bodies.append("\n\n".join(parts))
        mixed = _unit(np.einsum("rs,rsd->rd", weights, self.base.vectors[sources]))
        noise = _unit(rng.standard_normal(mixed.shape).astype(np.float32)) * NOISE
        embedding = _unit(mixed + noise)
        published = START + rng.random(rows) * (END - START)
        edited = rng.random(rows) < 0.1
        updated = published + rng.random(rows) * 30 * 86_400
        tag_counts = rng.integers(1, 5, size=rows)
        tag_draws = rng.choice(len(self.tags), size=(rows, 4), p=self.tag_weights)
        featured = rng.random(rows) < FEATURED_SHARE
        authors = rng.integers(len(AUTHORS), size=rows)
        ids = [f"s{start + row:07d}" for row in range(rows)]
        return {
            "id": ids,
            "title": [documents[a].title for a in anchors],
            "body": bodies,
            "url": [f"https://news.example.org/articles/{i}" for i in ids],
            "published": [int(p) for p in published],
            "updated": [int(u) if e else None for u, e in zip(updated, edited, strict=True)],
            "tags": [
                list(dict.fromkeys(self.tags[t] for t in draws[:count]))
                for draws, count in zip(tag_draws, tag_counts, strict=True)
            ],
            "categories": [[CATEGORIES[self.category[a]]] for a in anchors],
            "author": [AUTHORS[a] for a in authors],
            "status": ["published"] * rows,
            "featured": [bool(f) for f in featured],
            "embedding": embedding,
        }


def write_parquet(generator: Generator, size: int, path: Path) -> Path:
    """Write a corpus of ``size`` articles to ``path`` (one row group per batch)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dim = generator.base.vectors.shape[1]
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("title", pa.string()),
            ("body", pa.string()),
            ("url", pa.string()),
            ("published", pa.timestamp("s", tz="UTC")),
            ("updated", pa.timestamp("s", tz="UTC")),
            ("tags", pa.list_(pa.string())),
            ("categories", pa.list_(pa.string())),
            ("author", pa.string()),
            ("status", pa.string()),
            ("featured", pa.bool_()),
            ("embedding", pa.list_(pa.float32(), dim)),
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with pq.ParquetWriter(partial, schema) as writer:
        for columns in generator.batches(size):
            vectors = np.ascontiguousarray(columns.pop("embedding"), dtype=np.float32)
            flat = pa.array(vectors.reshape(-1), type=pa.float32())
            arrays = [
                pa.array(columns[f.name], type=f.type) for f in schema if f.name != "embedding"
            ]
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, dim))
            writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
    partial.replace(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args()
    write_parquet(Generator(load_base(args.data), args.seed), args.size, args.out)
    print(args.out)


if __name__ == "__main__":
    main()
