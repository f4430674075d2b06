"""The named ranking configurations an evaluation compares, each a set of knobs
of the engine (:class:`RankingConfig`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import cast

from ..config import PARAMETERS, Settings
from ..errors import InvalidArgument
from ..lexical import Stemming
from ..ranking import Fusion, QueryWeights


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
