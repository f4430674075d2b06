"""Tuning: the knobs that score best on a split apart from the one evaluated,
found by coordinate search over the grids below.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ..config import Settings
from ..lexical import STEMMING
from ..ranking import FUSIONS, QUERY_WEIGHTS
from .configs import TUNED, RankingConfig, named_configs
from .datasets import BenchQuery, Qrels
from .metrics import mean_metrics

if TYPE_CHECKING:
    from .runner import BenchmarkIndex

DENSE_WEIGHT_GRID = tuple(round(0.1 * i, 1) for i in range(11))
CANDIDATE_GRID = (10, 25, 50, 100, 200, 400)
TITLE_WEIGHT_GRID = (1.0, 2.0, 3.0)
K1_GRID = (0.9, 1.2, 1.5, 2.0)
B_GRID = (0.4, 0.6, 0.75, 0.9)


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
