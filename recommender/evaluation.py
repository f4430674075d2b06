"""Ranking quality on information-retrieval benchmarks.

Three parts, usable on their own:

- **readers** for the usual benchmark layouts: TREC qrels, BEIR (``corpus.jsonl``,
  ``queries.jsonl``, qrels TSV) and the NFCorpus release (``DOC_ID<TAB>TEXT``);
- **metrics** computed as ``trec_eval`` computes them (graded, linear gains):
  nDCG@10, MAP@100, P@10, R@100 and MRR@10, plus catalogue coverage and
  intra-list diversity. On NFCorpus test runs they equal pytrec_eval's
  ``ndcg_cut_10``, ``map_cut_100``, ``P_10`` and ``recall_100`` to six decimals;
  MRR@10 is BEIR's (``trec_eval``'s ``recip_rank`` has no cut-off);
- a **runner** that indexes a benchmark corpus through the engine's own pipeline
  (:func:`~recommender.pipeline.build_index`, with its embedding cache), ranks
  the corpus for every query with :class:`~recommender.ranking.Ranker` under
  several named configurations, tunes one of them on a separate split, and
  reports every metric per configuration.

The benchmark data itself never ships with the project: every function takes paths.

Example::

    bench = load_benchmark(corpus, queries, qrels)
    report = evaluate(bench, ["lexical", "dense", "hybrid"], embedder, Settings())
    print(report.to_markdown())
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import random
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from .config import PARAMETERS, Settings
from .embedding import Embedder, EmbeddingCache, embed_texts
from .errors import InvalidArgument, InvalidCorpus
from .fields import lexical_fields
from .layout import IndexLayout
from .lexical import STEMMING, Stemming
from .pipeline import build_index, lexical_model
from .ranking import FUSIONS, QUERY_WEIGHTS, Fusion, Query, QueryWeights, Ranker, RankingKnobs
from .snapshot import Snapshot, SnapshotStore

Qrels = dict[str, dict[str, int]]
"""query id → {document id → graded relevance}."""

Run = dict[str, dict[str, float]]
"""query id → {document id → score}: what a system retrieved, as ``trec_eval`` reads it."""

Format = Literal["auto", "beir", "nfcorpus"]

METRICS = ("nDCG@10", "MAP@100", "P@10", "R@100", "MRR@10")
"""The relevance metrics every report carries, in column order."""

DEPTH = 100
"""How many documents are ranked per query: the deepest cut-off among :data:`METRICS`."""

# NFCorpus documents are "<page title> [pubmed ncbi] abstract <abstract>" with the
# punctuation stripped; past this many words a lone "abstract" is body text.
_TITLE_MARKER = "abstract"
_TITLE_MAX_WORDS = 60
_FALLBACK_TITLE_WORDS = 12


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Document:
    """One benchmark document."""

    id: str
    title: str
    text: str


@dataclass(frozen=True)
class BenchQuery:
    """One benchmark query.

    ``title`` is optional; when given it leads every embedding chunk of a long
    query after the first, as an article title does.
    """

    id: str
    text: str
    title: str = ""


@dataclass
class Benchmark:
    """A corpus, queries and relevance judgments for one split."""

    name: str
    documents: list[Document]
    queries: dict[str, BenchQuery]
    qrels: Qrels
    split: str = "test"

    def judged_queries(self) -> list[str]:
        """Ids of the queries that have text and at least one relevant judgment.

        Queries without a relevant document are skipped, as ``trec_eval`` and
        BEIR do: no system can score on them, so they would only dilute the mean.
        """
        return sorted(
            qid
            for qid, judged in self.qrels.items()
            if qid in self.queries and any(rel > 0 for rel in judged.values())
        )


# ------------------------------------------------------------------------ readers


def _open_text(path: Path) -> io.TextIOBase:
    """A text handle on a plain or gzip file; a missing or unreadable one is InvalidCorpus."""
    if not path.is_file():
        raise InvalidCorpus(path, "no such file")
    try:
        if path.suffix == ".gz":
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig")
        return open(path, encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidCorpus(path, exc.strerror or str(exc)) from None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line without its end) for every non-blank line."""
    with _open_text(path) as handle:
        try:
            for number, line in enumerate(handle, start=1):
                line = line.rstrip("\r\n")
                if line.strip():
                    yield number, line
        except UnicodeDecodeError as exc:
            raise InvalidCorpus(path, f"not UTF-8 text (byte {exc.start})") from None
        except (OSError, EOFError) as exc:  # a truncated or corrupt gzip file
            raise InvalidCorpus(path, f"cannot be read: {exc}") from None


def _relevance(path: Path, number: int, raw: str) -> int:
    try:
        value = float(raw)
    except ValueError:
        raise InvalidCorpus(path, f"relevance {raw!r} is not a number", number) from None
    if not value.is_integer():
        raise InvalidCorpus(path, f"relevance {raw!r} is not a whole number", number)
    return int(value)


def read_trec_qrels(path: Path | str) -> Qrels:
    """Read TREC qrels: ``QID ITER DOCID REL`` per line, whitespace separated.

    Raises:
        InvalidCorpus: the file is missing, or a line (named) is malformed.
    """
    path = Path(path)
    qrels: Qrels = {}
    for number, line in _lines(path):
        parts = line.split()
        if len(parts) != 4:
            raise InvalidCorpus(
                path, f"expected 4 fields 'QID 0 DOCID REL', found {len(parts)}", number
            )
        qid, _, docid, rel = parts
        qrels.setdefault(qid, {})[docid] = _relevance(path, number, rel)
    if not qrels:
        raise InvalidCorpus(path, "no judgments in the file")
    return qrels


def read_beir_qrels(path: Path | str) -> Qrels:
    """Read BEIR qrels: a TSV with the header ``query-id corpus-id score``.

    Raises:
        InvalidCorpus: the file is missing, the header is wrong, or a line is malformed.
    """
    path = Path(path)
    qrels: Qrels = {}
    lines = _lines(path)
    first = next(lines, None)
    if first is None or first[1].split("\t") != ["query-id", "corpus-id", "score"]:
        raise InvalidCorpus(path, "expected the header 'query-id<TAB>corpus-id<TAB>score'", 1)
    for number, line in lines:
        parts = line.split("\t")
        if len(parts) != 3:
            raise InvalidCorpus(
                path, f"expected 3 tab-separated fields, found {len(parts)}", number
            )
        qid, docid, rel = parts
        qrels.setdefault(qid, {})[docid] = _relevance(path, number, rel)
    if not qrels:
        raise InvalidCorpus(path, "no judgments in the file")
    return qrels


def read_qrels(path: Path | str) -> Qrels:
    """Read qrels in either layout: BEIR TSV if the first line is its header, else TREC."""
    path = Path(path)
    first = next(_lines(path), (0, ""))[1]
    if first.split("\t")[:1] == ["query-id"]:
        return read_beir_qrels(path)
    return read_trec_qrels(path)


def _split_nfcorpus_title(text: str) -> tuple[str, str]:
    words = text.split()
    for i, word in enumerate(words[:_TITLE_MAX_WORDS]):
        if word == _TITLE_MARKER and i > 0:
            title = words[:i]
            # PubMed page titles end in "PubMed - NCBI": boilerplate, not content.
            if title[-2:] == ["pubmed", "ncbi"] and len(title) > 2:
                title = title[:-2]
            return " ".join(title), " ".join(words[i + 1 :])
    return "", text


def read_nfcorpus_docs(path: Path | str) -> list[Document]:
    """Read NFCorpus documents: ``DOC_ID<TAB>TEXT`` per line, plain or gzip.

    The release's text is "<title> abstract <abstract>", pre-processed; the title
    is split off at that marker when it appears early (else it is left empty).

    Raises:
        InvalidCorpus: the file is missing, or a line (named) is malformed.
    """
    path = Path(path)
    documents = []
    for number, line in _lines(path):
        docid, tab, text = line.partition("\t")
        if not tab or not docid.strip() or not text.strip():
            raise InvalidCorpus(path, "expected 'DOC_ID<TAB>TEXT'", number)
        title, body = _split_nfcorpus_title(text.strip())
        documents.append(Document(docid.strip(), title, body))
    return documents


def _json_line(path: Path, number: int, line: str, fields: Sequence[str]) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidCorpus(path, f"invalid JSON: {exc.msg} (column {exc.colno})", number) from None
    if not isinstance(record, dict):
        raise InvalidCorpus(path, "each line must be a JSON object", number)
    for name in fields:
        if not isinstance(record.get(name), str | int) or isinstance(record.get(name), bool):
            raise InvalidCorpus(path, f"{name}: required string field is missing", number)
    return record


def read_beir_corpus(path: Path | str) -> list[Document]:
    """Read a BEIR corpus: JSONL (or .jsonl.gz) with ``_id``, ``title``, ``text``.

    Raises:
        InvalidCorpus: the file is missing, or a line (named) is malformed.
    """
    path = Path(path)
    documents = []
    for number, line in _lines(path):
        record = _json_line(path, number, line, ["_id", "text"])
        title = record.get("title") or ""
        documents.append(Document(str(record["_id"]), str(title).strip(), str(record["text"])))
    return documents


def read_beir_queries(path: Path | str) -> dict[str, BenchQuery]:
    """Read BEIR queries: JSONL with ``_id`` and ``text`` (an optional ``title`` is kept).

    Raises:
        InvalidCorpus: the file is missing, or a line (named) is malformed.
    """
    path = Path(path)
    queries = {}
    for number, line in _lines(path):
        record = _json_line(path, number, line, ["_id", "text"])
        qid = str(record["_id"])
        queries[qid] = BenchQuery(qid, str(record["text"]), str(record.get("title") or ""))
    return queries


def read_tsv_queries(path: Path | str) -> dict[str, BenchQuery]:
    """Read queries as ``QID<TAB>TEXT`` lines (the NFCorpus layout), plain or gzip.

    Raises:
        InvalidCorpus: the file is missing, or a line (named) is malformed.
    """
    path = Path(path)
    queries = {}
    for number, line in _lines(path):
        qid, tab, text = line.partition("\t")
        if not tab or not qid.strip() or not text.strip():
            raise InvalidCorpus(path, "expected 'QID<TAB>TEXT'", number)
        queries[qid.strip()] = BenchQuery(qid.strip(), text.strip())
    return queries


def _is_jsonl(path: Path) -> bool:
    return path.name.endswith((".jsonl", ".jsonl.gz"))


def detect_format(corpus: Path | str) -> Literal["beir", "nfcorpus"]:
    """``beir`` for a ``.jsonl``/``.jsonl.gz`` corpus, else ``nfcorpus``."""
    return "beir" if _is_jsonl(Path(corpus)) else "nfcorpus"


def load_benchmark(
    corpus: Path | str,
    queries: Path | str,
    qrels: Path | str,
    *,
    format: Format = "auto",
    name: str | None = None,
    split: str = "test",
) -> Benchmark:
    """Read a corpus, its queries and one split's judgments.

    Args:
        corpus: documents (BEIR JSONL, or NFCorpus ``DOC_ID<TAB>TEXT``).
        queries: queries (JSONL, or ``QID<TAB>TEXT``); the format follows the file name.
        qrels: judgments (BEIR TSV or TREC; detected from the first line).
        format: the corpus layout; ``auto`` decides from the file name.
        name: the dataset name; default: the corpus's directory name.
        split: a label for the split these judgments belong to.

    Raises:
        InvalidCorpus: a file is missing or malformed, or ids repeat.
    """
    corpus, queries = Path(corpus), Path(queries)
    layout = detect_format(corpus) if format == "auto" else format
    documents = read_beir_corpus(corpus) if layout == "beir" else read_nfcorpus_docs(corpus)
    seen: set[str] = set()
    for doc in documents:
        if doc.id in seen:
            raise InvalidCorpus(corpus, f"duplicate document id {doc.id!r}")
        seen.add(doc.id)
    return Benchmark(
        name=name or dataset_name(corpus),
        documents=documents,
        queries=read_queries(queries),
        qrels=read_qrels(qrels),
        split=split,
    )


def dataset_name(corpus: Path | str) -> str:
    """A short name for a corpus file: its directory's name (``nfcorpus``, ``scifact``)."""
    path = Path(corpus).resolve()
    name = path.parent.name or path.name.split(".")[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name) or "benchmark"


def split_sibling(path: Path | str, split: str, other: str) -> Path | None:
    """The file of split ``other`` beside a file of split ``split``, if there is one.

    The split must be a dot-separated part of the file name, as in
    ``test.titles.queries`` → ``dev.titles.queries`` or ``test.tsv`` → ``train.tsv``;
    a gzip and a plain variant are both tried.
    """
    path = Path(path)
    parts = path.name.split(".")
    if split not in parts:
        return None
    name = ".".join(other if part == split else part for part in parts)
    for candidate in (name, name + ".gz", name.removesuffix(".gz")):
        if (path.parent / candidate).is_file():
            return path.parent / candidate
    return None


def holdout(qrels: Qrels, fraction: float, seed: int = 0) -> Qrels:
    """A reproducible random ``fraction`` of the queries of ``qrels`` (at least one).

    Used to tune on part of a train split when a benchmark has no dev split.
    """
    if not 0 < fraction <= 1:
        raise InvalidArgument("holdout", f"{fraction!r} is not in (0, 1]")
    ids = sorted(qrels)
    chosen = random.Random(seed).sample(ids, max(1, round(len(ids) * fraction)))
    return {qid: qrels[qid] for qid in sorted(chosen)}


def read_queries(path: Path | str) -> dict[str, BenchQuery]:
    """Read queries in the layout their file name says: JSONL (BEIR) or ``QID<TAB>TEXT``."""
    path = Path(path)
    return read_beir_queries(path) if _is_jsonl(path) else read_tsv_queries(path)


def find_qrels(path: Path | str, split: str) -> Path:
    """The judgments file of ``split``: ``path`` itself, or the one file in directory
    ``path`` whose name starts with ``<split>.`` (``test.tsv``, ``test.2-1-0.qrel``).

    Raises:
        InvalidCorpus: nothing, or more than one file, matches.
    """
    path = Path(path)
    if not path.is_dir():
        if not path.is_file():
            raise InvalidCorpus(path, "no such file or directory")
        return path
    matches = sorted(p for p in path.iterdir() if p.is_file() and p.name.startswith(split + "."))
    if len(matches) != 1:
        found = ", ".join(p.name for p in matches) or "none"
        raise InvalidCorpus(
            path, f"expected one judgments file named {split}.* (found: {found}); name the file"
        )
    return matches[0]


@dataclass
class TuningSet:
    """Queries and judgments to tune on, never the evaluated split."""

    queries: dict[str, BenchQuery]
    qrels: Qrels
    label: str


TUNING_SPLITS = ("dev", "validation", "train")


def find_tuning_set(
    queries: Path | str,
    qrels: Path | str,
    split: str = "test",
    *,
    tune_split: str | None = None,
    holdout_fraction: float = 0.25,
) -> TuningSet | None:
    """The split to tune on, found beside the evaluated split's files.

    The first of ``dev``, ``validation`` and ``train`` (or ``tune_split``) whose
    judgments file sits beside ``qrels`` (see :func:`split_sibling`) is used. Its
    queries are the sibling of ``queries`` when that file is named by split, else
    ``queries`` itself (BEIR keeps every split's queries in one file). A train
    split is never used whole: a :func:`holdout` of ``holdout_fraction`` of its
    queries is, so the rest stays free for anything trained later.

    Returns:
        None when no such split is found.
    """
    queries, qrels = Path(queries), Path(qrels)
    for other in (tune_split,) if tune_split else TUNING_SPLITS:
        if other == split:
            continue
        other_qrels = split_sibling(qrels, split, other)
        if other_qrels is None:
            continue
        named_by_split = split in queries.name.split(".")
        other_queries = split_sibling(queries, split, other) if named_by_split else queries
        if other_queries is None:
            continue
        judgments = read_qrels(other_qrels)
        label = other_qrels.name
        if other == "train":
            judgments = holdout(judgments, holdout_fraction)
            label = f"a held-out {holdout_fraction:.0%} of {other_qrels.name} (seed 0)"
        return TuningSet(read_queries(other_queries), judgments, label)
    return None


# ------------------------------------------------------------------------ metrics


def ranking(scores: Mapping[str, float]) -> list[str]:
    """Document ids in ``trec_eval`` order: score descending, then document id descending."""
    return [
        doc for doc, _ in sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)
    ]


def ndcg_at(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """nDCG@k with linear gains and log2(rank + 1) discounts, as ``trec_eval``'s ``ndcg_cut``.

    The ideal list is every judged document sorted by relevance; gains below 0 count as 0.
    """
    dcg = sum(
        max(judged.get(doc, 0), 0) / math.log2(rank + 1)
        for rank, doc in enumerate(ranked[:k], start=1)
    )
    ideal_gains = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    ideal = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal_gains, start=1))
    return dcg / ideal if ideal > 0 else 0.0


def average_precision_at(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """AP cut at k (``trec_eval``'s ``map_cut``): precision at each relevant hit in the
    top k, summed, over the number of relevant documents judged (not over k)."""
    relevant = sum(1 for g in judged.values() if g > 0)
    if relevant == 0:
        return 0.0
    hits = 0
    total = 0.0
    for rank, doc in enumerate(ranked[:k], start=1):
        if judged.get(doc, 0) > 0:
            hits += 1
            total += hits / rank
    return total / relevant


def precision_at(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """Relevant documents in the top k over k (``trec_eval``'s ``P``: always over k)."""
    return sum(1 for doc in ranked[:k] if judged.get(doc, 0) > 0) / k


def recall_at(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """Relevant documents in the top k over all relevant documents judged."""
    relevant = sum(1 for g in judged.values() if g > 0)
    if relevant == 0:
        return 0.0
    return sum(1 for doc in ranked[:k] if judged.get(doc, 0) > 0) / relevant


def reciprocal_rank_at(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """1 / rank of the first relevant document in the top k, else 0 (BEIR's MRR@k)."""
    for rank, doc in enumerate(ranked[:k], start=1):
        if judged.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


_METRIC_FUNCTIONS: dict[str, tuple[Callable[[Sequence[str], Mapping[str, int], int], float], int]]
_METRIC_FUNCTIONS = {
    "nDCG@10": (ndcg_at, 10),
    "MAP@100": (average_precision_at, 100),
    "P@10": (precision_at, 10),
    "R@100": (recall_at, 100),
    "MRR@10": (reciprocal_rank_at, 10),
}


def per_query_metrics(run: Run, qrels: Qrels) -> dict[str, dict[str, float]]:
    """Every metric of :data:`METRICS` for every query that has a relevant judgment.

    A judged query the run has no answer for scores 0 (``trec_eval -c``).
    """
    results = {}
    for qid, judged in qrels.items():
        if not any(g > 0 for g in judged.values()):
            continue
        ranked = ranking(run.get(qid, {}))
        results[qid] = {
            name: function(ranked, judged, k) for name, (function, k) in _METRIC_FUNCTIONS.items()
        }
    return results


def mean_metrics(run: Run, qrels: Qrels) -> dict[str, float]:
    """The mean of each metric over the queries with a relevant judgment."""
    per_query = per_query_metrics(run, qrels)
    if not per_query:
        return {name: 0.0 for name in METRICS}
    return {name: float(np.mean([m[name] for m in per_query.values()])) for name in METRICS}


def catalogue_coverage(run: Run, corpus_size: int, k: int = 10) -> float:
    """Share of the corpus that appears in at least one query's top k."""
    if corpus_size <= 0:
        return 0.0
    shown = {doc for scores in run.values() for doc in ranking(scores)[:k]}
    return len(shown) / corpus_size


def intra_list_diversity(
    run: Run, vectors: np.ndarray, positions: Mapping[str, int], k: int = 10
) -> float:
    """Mean over queries of 1 − the mean pairwise cosine among the top k documents.

    ``vectors`` must be L2-normalised rows, found by ``positions[doc id]``. Lists
    of fewer than two documents have no pair and are left out.
    """
    values = []
    for scores in run.values():
        top = [positions[doc] for doc in ranking(scores)[:k] if doc in positions]
        if len(top) < 2:
            continue
        block = vectors[top]
        similarity = block @ block.T
        n = len(top)
        mean_pair = (float(similarity.sum()) - float(np.trace(similarity))) / (n * (n - 1))
        values.append(1.0 - mean_pair)
    return float(np.mean(values)) if values else 0.0


# ------------------------------------------------------------------------- runner


@dataclass(frozen=True)
class RankingConfig:
    """One named way of ranking: the :class:`~recommender.ranking.Ranker` knobs.

    Attributes:
        name: the row label in reports.
        dense_weight: share of the dense signal in the fused score.
        candidates: candidates taken from each signal before fusion.
        suppress_duplicates: skip near-duplicates as serving does (off for evaluation).
        query_weights: how query terms weigh in the lexical score (see ``Ranker``).
        fusion: ``weighted``, ``minmax`` or ``rrf`` (see ``Ranker``).
        stemming: the lexical model's stemming (see ``LexicalModel``).
        title_weight: the lexical weight of a title word (the body's is 1).
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.
        mmr_lambda: maximal marginal relevance (1 = off; see ``RankingKnobs``).
        note: how the values were chosen, for the report.
    """

    name: str
    dense_weight: float
    candidates: int
    suppress_duplicates: bool = False
    query_weights: QueryWeights = "presence"
    fusion: Fusion = "weighted"
    stemming: Stemming = "none"
    title_weight: float = PARAMETERS["title_weight"].default
    k1: float = PARAMETERS["bm25_k1"].default
    b: float = PARAMETERS["bm25_b"].default
    mmr_lambda: float = PARAMETERS["mmr_lambda"].default
    note: str = ""

    def __post_init__(self) -> None:
        # The values the settings of the same meaning accept (one declaration each).
        for name, setting in SETTING_OF.items():
            problem = PARAMETERS[setting].problem(getattr(self, name))
            if problem:
                raise InvalidArgument(name, problem)

    def describe(self) -> str:
        """The knobs in a few words."""
        text = (
            f"{self.fusion} fusion, dense_weight {self.dense_weight:g}, "
            f"candidates {self.candidates}, query_weights {self.query_weights}, "
            f"stemming {self.stemming}, title_weight {self.title_weight:g}, "
            f"k1 {self.k1:g}, b {self.b:g}"
        )
        if self.mmr_lambda < 1.0:
            text += f", mmr_lambda {self.mmr_lambda:g}"
        return text + (", duplicates suppressed" if self.suppress_duplicates else "")


SETTING_OF = {
    "dense_weight": "dense_weight",
    "candidates": "candidates",
    "query_weights": "query_weights",
    "fusion": "fusion",
    "stemming": "stemming",
    "title_weight": "title_weight",
    "k1": "bm25_k1",
    "b": "bm25_b",
    "mmr_lambda": "mmr_lambda",
}
"""Each :class:`RankingConfig` knob → the setting it stands for (its declaration
gives the default and the accepted values)."""

TUNED = "tuned"
TUNED_LEXICAL = "tuned-lexical"
DEFAULT_CONFIGS = ("lexical", "dense", "hybrid", TUNED)
DENSE_WEIGHT_GRID = tuple(round(0.1 * i, 1) for i in range(11))
CANDIDATE_GRID = (10, 25, 50, 100, 200, 400)
TITLE_WEIGHT_GRID = (1.0, 2.0, 3.0)
K1_GRID = (0.9, 1.2, 1.5, 2.0)
B_GRID = (0.4, 0.6, 0.75, 0.9)


def named_configs(settings: Settings) -> dict[str, RankingConfig]:
    """The fixed configurations: ``lexical``, ``dense``, ``hybrid`` (the defaults),
    the ablations ``rrf`` (reciprocal-rank fusion instead of the weighted sum),
    ``minmax`` (min-max normalised signals) and ``unstemmed`` (no stemming),
    ``served`` (the defaults with near-duplicate suppression, exactly as served)
    and ``diverse`` (served, with MMR at 0.7)."""
    base = RankingConfig(
        "hybrid",
        settings.dense_weight,
        settings.candidates,
        query_weights=cast(QueryWeights, settings.query_weights),
        fusion=cast(Fusion, settings.fusion),
        stemming=cast(Stemming, settings.stemming),
        title_weight=settings.title_weight,
        k1=settings.bm25_k1,
        b=settings.bm25_b,
        note="the default settings",
    )
    return {
        "lexical": replace(base, name="lexical", dense_weight=0.0, note="BM25 only"),
        "dense": replace(base, name="dense", dense_weight=1.0, note="embeddings only"),
        "hybrid": base,
        "rrf": replace(base, name="rrf", fusion="rrf", note="reciprocal-rank fusion"),
        "minmax": replace(base, name="minmax", fusion="minmax", note="min-max normalised sum"),
        "unstemmed": replace(base, name="unstemmed", stemming="none", note="no stemming"),
        "served": replace(
            base,
            name="served",
            suppress_duplicates=True,
            note="the default settings, near-duplicates suppressed as when serving",
        ),
        "diverse": replace(
            base,
            name="diverse",
            suppress_duplicates=True,
            mmr_lambda=0.7,
            note="served, with maximal marginal relevance at 0.7",
        ),
    }


@dataclass
class ConfigResult:
    """The scores of one configuration on one split."""

    config: RankingConfig
    metrics: dict[str, float]
    coverage: float
    diversity: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        knobs = asdict(self.config)
        return {
            "config": knobs.pop("name"),
            **knobs,
            **{name: round(value, 4) for name, value in self.metrics.items()},
            "coverage@10": round(self.coverage, 4),
            "diversity@10": round(self.diversity, 4),
        }


@dataclass
class EvaluationReport:
    """Everything one evaluation run measured."""

    dataset: str
    split: str
    documents: int
    queries: int
    unjudged: int
    missing_text: int
    results: list[ConfigResult]
    tuning: str = ""
    embedded: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def result(self, name: str) -> ConfigResult:
        """The result of the configuration called ``name``.

        Raises:
            KeyError: no such configuration was evaluated.
        """
        for item in self.results:
            if item.config.name == name:
                return item
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "dataset": self.dataset,
            "split": self.split,
            "documents": self.documents,
            "queries": self.queries,
            "unjudged_queries": self.unjudged,
            "judged_queries_without_text": self.missing_text,
            "tuning": self.tuning,
            "embedded": self.embedded,
            "seconds": round(self.seconds, 1),
            "notes": self.notes,
            "results": [r.to_json() for r in self.results],
        }

    def to_markdown(self) -> str:
        """One table row per configuration, the metrics as columns."""
        header = ["config", *METRICS, "coverage@10", "diversity@10", "settings"]
        lines = [
            "| " + " | ".join(header) + " |",
            "|---|" + "---:|" * (len(header) - 2) + "---|",
        ]
        for item in self.results:
            values = [f"{item.metrics[m]:.4f}" for m in METRICS]
            values += [f"{item.coverage:.4f}", f"{item.diversity:.4f}"]
            lines.append(
                f"| {item.config.name} | " + " | ".join(values) + f" | {item.config.describe()} |"
            )
        return "\n".join(lines)

    def summary(self) -> str:
        """What was evaluated on how many queries, and what was skipped and why."""
        text = (
            f"{self.dataset} {self.split}: {self.documents} documents, {self.queries} queries "
            f"evaluated; {self.unjudged} queries of the queries file skipped (no relevant "
            "judgment in this split, as trec_eval and BEIR skip them)"
        )
        if self.missing_text:
            text += f"; {self.missing_text} judged queries skipped (not in the queries file)"
        return text + (f"; tuned on {self.tuning}" if self.tuning else "")


def _document_record(doc: Document) -> dict[str, str]:
    title, body = doc.title.strip(), doc.text.strip()
    if not title:
        # Articles need a title; a benchmark document without one lends its first words,
        # which are then not repeated in the body.
        words = body.split()
        cut = min(_FALLBACK_TITLE_WORDS, max(1, len(words) // 2))
        title, body = " ".join(words[:cut]), " ".join(words[cut:]) or " ".join(words)
    return {"id": doc.id, "title": title, "body": body or title}


class BenchmarkIndex:
    """A benchmark corpus indexed by the engine's pipeline, with cached query vectors.

    The corpus is written as JSONL into ``cache_dir`` and indexed with
    :func:`~recommender.pipeline.build_index` into ``cache_dir/index``, whose
    embedding cache also holds the query vectors: a repeated run embeds nothing.

    Args:
        documents: the corpus.
        embedder: the embedding model.
        settings: chunking and batch settings (``index_dir`` is ignored).
        cache_dir: where the index and the embedding cache live.
        progress: show progress bars; default: only when stderr is a terminal.
    """

    def __init__(
        self,
        documents: Sequence[Document],
        embedder: Embedder,
        settings: Settings,
        cache_dir: Path,
        *,
        progress: bool | None = None,
    ) -> None:
        self.embedder = embedder
        self.settings = settings.replace(index_dir=Path(cache_dir) / "index")
        self.progress = progress
        cache_dir = Path(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
        source = cache_dir / "corpus.jsonl"
        payload = "".join(
            json.dumps(_document_record(d), ensure_ascii=False) + "\n" for d in documents
        )
        # Rewritten only when the corpus changed, so the file's age says when it last did.
        if not source.exists() or _digest(source.read_bytes()) != _digest(payload.encode()):
            source.write_text(payload, encoding="utf-8")
        report = build_index([source], self.settings, embedder, progress=progress)
        if report.rejected:
            raise InvalidCorpus(source, f"{len(report.rejected)} rejected: {report.rejected[0]}")
        self.embedded = report.embedded
        self._queries: dict[tuple[str, str, str], Query] = {}
        self.snapshot = Snapshot.load(
            SnapshotStore(self.settings.index_dir), expect_model=embedder.model_id
        )
        self._variants: dict[str, Snapshot] = {}

    def variant(self, config: RankingConfig) -> Snapshot:
        """The snapshot with its lexical model refitted with ``config``'s stemming,
        title weight and BM25 parameters (in memory: the vectors are shared, nothing
        is embedded or written)."""
        model = lexical_model(
            self.settings.replace(
                stemming=config.stemming,
                title_weight=config.title_weight,
                bm25_k1=config.k1,
                bm25_b=config.b,
            )
        )
        key = model.describe()
        if key not in self._variants:
            if self.snapshot.lexical.describe() == key:
                self._variants[key] = self.snapshot
            else:
                model.fit([lexical_fields(a) for a in self.snapshot.articles])
                self._variants[key] = replace(self.snapshot, lexical=model)
        return self._variants[key]

    def embed_queries(self, queries: Sequence[BenchQuery]) -> np.ndarray:
        """Query vectors, one row per query, through the same cache as the corpus."""
        cache = EmbeddingCache(IndexLayout.of(self.settings.index_dir).embeddings)
        try:
            before = cache.misses
            vectors = embed_texts(
                self.embedder,
                [(q.title, q.text) for q in queries],
                cache=cache,
                chunk_tokens=self.settings.chunk_tokens,
                chunk_overlap=self.settings.chunk_overlap,
                progress=self.progress,
            )
            self.embedded += cache.misses - before
        finally:
            cache.close()
        return vectors

    def ranker(self, config: RankingConfig) -> Ranker:
        """A ranker over the benchmark snapshot with ``config``'s knobs."""
        return Ranker(
            self.variant(config),
            dense_weight=config.dense_weight,
            candidates=config.candidates,
            duplicate_threshold=self.settings.duplicate_threshold,
            duplicate_jaccard=self.settings.duplicate_jaccard,
            suppress_duplicates=config.suppress_duplicates,
            query_weights=config.query_weights,
            fusion=config.fusion,
            rrf_k=self.settings.rrf_k,
            knobs=RankingKnobs(mmr_lambda=config.mmr_lambda),
            explain=False,  # shared terms are for people; metrics never read them
        )

    def run(
        self,
        config: RankingConfig,
        queries: Sequence[BenchQuery],
        vectors: np.ndarray,
        depth: int = DEPTH,
        progress: bool | None = None,
    ) -> Run:
        """Rank the corpus for every query; the top ``depth`` documents with their scores."""
        from tqdm import tqdm

        ranker = self.ranker(config)
        show = (sys.stderr.isatty() if self.progress is None else self.progress) and (
            progress is not False
        )
        run: Run = {}
        for query, vector in tqdm(
            list(zip(queries, vectors, strict=True)),
            desc=config.name,
            unit="query",
            disable=not show,
            leave=False,
        ):
            # A query's terms depend on the lexical model only: build them once per model.
            key = (query.id, query.text, ranker.snapshot.lexical.describe())
            if key not in self._queries:
                self._queries[key] = ranker.query_for_text(
                    vector, query.text, query.title or query.text
                )
            items = ranker.related(self._queries[key], depth)
            run[query.id] = {item.article.id: item.score for item in items}
        return run

    def score(self, config: RankingConfig, run: Run, qrels: Qrels) -> ConfigResult:
        """Every metric of one configuration's run."""
        return ConfigResult(
            config=config,
            metrics=mean_metrics(run, qrels),
            coverage=catalogue_coverage(run, len(self.snapshot.articles)),
            diversity=intra_list_diversity(run, self.snapshot.vectors, self.snapshot.positions),
        )


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tune(
    index: BenchmarkIndex,
    queries: Sequence[BenchQuery],
    qrels: Qrels,
    settings: Settings,
    *,
    metric: str = "nDCG@10",
    label: str = "dev",
    log: Callable[[str], None] | None = None,
) -> RankingConfig:
    """The knobs that maximise ``metric`` on ``qrels``, by coordinate search.

    1. The lexical model alone (``dense_weight`` 0): every stemming of
       :data:`~recommender.lexical.STEMMING` and title weight of
       :data:`TITLE_WEIGHT_GRID` under each query-term weighting; then every
       BM25 ``k1`` of :data:`K1_GRID` and ``b`` of :data:`B_GRID` with the best.
    2. With that lexical model: every fusion method of
       :data:`~recommender.ranking.FUSIONS`, query-term weighting and dense weight
       of :data:`DENSE_WEIGHT_GRID`, at the default candidate count.
    3. Every count of :data:`CANDIDATE_GRID` with the best of those.

    Ties go to the value nearer the default, so noise never moves a setting.
    ``log`` receives one line per configuration tried, with its score.
    """
    vectors = index.embed_queries(queries)
    default = named_configs(settings)["hybrid"]

    def value(config: RankingConfig) -> float:
        run = index.run(config, queries, vectors, progress=False)
        result = mean_metrics(run, qrels)[metric]
        if log is not None:
            log(f"{label}: {metric} {result:.4f}  {config.describe()}")
        return result

    def best(
        options: Sequence[RankingConfig], distance: Callable[[RankingConfig], float]
    ) -> tuple[float, RankingConfig]:
        scored = [(value(c), -distance(c), c) for c in options]
        top = max(scored, key=lambda item: (round(item[0], 6), item[1]))
        return top[0], top[2]

    def changes(c: RankingConfig) -> float:
        return (
            abs(c.dense_weight - default.dense_weight)
            + (c.query_weights != default.query_weights)
            + (c.fusion != default.fusion)
            + (c.stemming != default.stemming)
            + abs(c.title_weight - default.title_weight)
            + abs(c.k1 - default.k1)
            + abs(c.b - default.b)
        )

    lexical = [
        replace(
            default, name=TUNED, dense_weight=0.0, stemming=st, title_weight=tw, query_weights=q
        )
        for st in STEMMING
        for tw in TITLE_WEIGHT_GRID
        for q in QUERY_WEIGHTS
    ]
    _, chosen = best(lexical, changes)
    bm25 = [replace(chosen, k1=k1, b=b) for k1 in K1_GRID for b in B_GRID]
    _, chosen = best(bm25, changes)
    grid = [
        replace(chosen, fusion=f, dense_weight=w, query_weights=q)
        for f in FUSIONS
        for q in QUERY_WEIGHTS
        for w in DENSE_WEIGHT_GRID
    ]
    _, chosen = best(grid, changes)
    counts = [replace(chosen, candidates=n) for n in CANDIDATE_GRID]
    score, chosen = best(counts, lambda c: abs(math.log(c.candidates / default.candidates)))
    return replace(chosen, note=f"best {metric} on {label} ({score:.4f})")


def evaluate(
    benchmark: Benchmark,
    config_names: Sequence[str],
    embedder: Embedder,
    settings: Settings,
    *,
    cache_dir: Path | None = None,
    tuning: TuningSet | None = None,
    extra_configs: Sequence[RankingConfig] = (),
    progress: bool | None = None,
    tuning_log: Callable[[str], None] | None = None,
) -> EvaluationReport:
    """Index the benchmark corpus, rank it for every judged query under each
    configuration, and score every run.

    Args:
        benchmark: corpus, queries and the evaluated split's judgments.
        config_names: names from :func:`named_configs`, ``tuned``, or ``tuned-lexical``
            (the tuned configuration with the dense signal off: the fair single-signal
            baseline for it).
        embedder: the embedding model.
        settings: engine settings; their ranking knobs make the ``hybrid`` row.
        cache_dir: index and embedding cache; default ``var/bench/<dataset name>``.
        tuning: the split ``tuned`` is tuned on (required for ``tuned``).
        extra_configs: further configurations, evaluated after the named ones.
        progress: progress bars; default: only when stderr is a terminal.
        tuning_log: receives one line per configuration tried while tuning.

    Raises:
        InvalidArgument: an unknown configuration name, or ``tuned`` without a tuning set.
    """
    started = time.perf_counter()
    fixed = named_configs(settings)
    derived = (TUNED, TUNED_LEXICAL)
    for name in config_names:
        if name not in derived and name not in fixed:
            known = ", ".join([*fixed, *derived])
            raise InvalidArgument("config", f"unknown configuration {name!r} (known: {known})")
    wants_tuning = any(name in derived for name in config_names)
    if wants_tuning and tuning is None:
        raise InvalidArgument("config", "'tuned' needs a dev or train split to tune on")
    cache_dir = cache_dir or Path("var/bench") / benchmark.name
    index = BenchmarkIndex(benchmark.documents, embedder, settings, cache_dir, progress=progress)
    judged = benchmark.judged_queries()
    queries = [benchmark.queries[qid] for qid in judged]
    vectors = index.embed_queries(queries)
    tuned: RankingConfig | None = None
    tuning_label = ""
    if wants_tuning and tuning is not None:
        tune_ids = [
            qid
            for qid in sorted(tuning.qrels)
            if qid in tuning.queries and any(g > 0 for g in tuning.qrels[qid].values())
        ]
        overlap = set(tune_ids) & set(judged)
        if overlap:
            raise InvalidArgument(
                "tuning", f"{len(overlap)} tuning queries are also evaluated queries"
            )
        tuned = tune(
            index,
            [tuning.queries[q] for q in tune_ids],
            {q: tuning.qrels[q] for q in tune_ids},
            settings,
            label=tuning.label,
            log=tuning_log,
        )
        tuning_label = f"{tuning.label}: {len(tune_ids)} queries"
    configs: list[RankingConfig] = []
    for name in config_names:
        if name == TUNED and tuned is not None:
            configs.append(tuned)
        elif name == TUNED_LEXICAL and tuned is not None:
            configs.append(
                replace(
                    tuned,
                    name=TUNED_LEXICAL,
                    dense_weight=0.0,
                    note="BM25 only, with the tuned query weighting",
                )
            )
        else:
            configs.append(fixed[name])
    configs.extend(extra_configs)
    qrels = {qid: benchmark.qrels[qid] for qid in judged}
    results = [index.score(c, index.run(c, queries, vectors), qrels) for c in configs]
    return EvaluationReport(
        dataset=benchmark.name,
        split=benchmark.split,
        documents=len(benchmark.documents),
        queries=len(judged),
        unjudged=len(set(benchmark.queries) - set(judged)),
        missing_text=sum(1 for qid in benchmark.qrels if qid not in benchmark.queries),
        results=results,
        tuning=tuning_label,
        embedded=index.embedded,
        seconds=time.perf_counter() - started,
    )
