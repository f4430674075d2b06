"""Relevance metrics computed as ``trec_eval`` computes them (graded, linear gains):
nDCG@10, MAP@100, P@10, R@100 and MRR@10, plus catalogue coverage and
intra-list diversity. On NFCorpus test runs they equal pytrec_eval's
``ndcg_cut_10``, ``map_cut_100``, ``P_10`` and ``recall_100`` to six decimals;
MRR@10 is BEIR's (``trec_eval``'s ``recip_rank`` has no cut-off).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .datasets import Qrels, Run

METRICS = ("nDCG@10", "MAP@100", "P@10", "R@100", "MRR@10")
"""The relevance metrics every report carries, in column order."""

DEPTH = 100
"""How many documents are ranked per query: the deepest cut-off among :data:`METRICS`."""

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
