"""What one ranking request is made of, shared by every stage of :mod:`recommender.ranking`:
the query, the caller's filters and the items it returns (the ranking knobs are
declared with the settings: :class:`recommender.config.RankingKnobs`).

:mod:`recommender.ranking` re-exports every name here; import them from there.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, create_model

from .articles import Article, json_fields
from .duplicates import Signatures
from .lexical import LexicalDocument, LexicalQuery

Rule = Literal["pinned", "fallback"]
"""Why an item sits where it does when its score did not put it there."""

Fusion = Literal["weighted", "rrf", "minmax"]
"""The fusion methods the settings and the API accept (see :data:`recommender.scoring.FUSIONS`)."""


# -- the item record: what :meth:`Recommendation.to_json` writes, and the API documents
# (the models' docstrings are the descriptions in /openapi.json) ----------------------


class Explanation(BaseModel):
    """Why an item scored what it scored:
    score = (dense_contribution + lexical_contribution + tag) × recency × ctr_boost."""

    dense: float = Field(description="Cosine similarity of the embeddings.")
    lexical: float = Field(
        description="BM25 score (field-weighted, see RECOMMENDER_TITLE_WEIGHT) normalised by "
        "the query's own score."
    )
    fusion: Fusion = Field(description="How the two signals were combined (RECOMMENDER_FUSION).")
    dense_rank: int = Field(
        description="Rank of the item among the candidates by the dense signal (1 = best)."
    )
    lexical_rank: int = Field(
        description="Rank of the item among the candidates by the lexical signal (1 = best)."
    )
    dense_contribution: float = Field(
        description="What the dense signal adds to the score: RECOMMENDER_DENSE_WEIGHT × the "
        "cosine (weighted fusion) or × the scaled reciprocal rank (rrf)."
    )
    lexical_contribution: float = Field(
        description="What the lexical signal adds: (1 − RECOMMENDER_DENSE_WEIGHT) × the "
        "lexical score (weighted fusion) or × the scaled reciprocal rank (rrf)."
    )
    lexical_fields: dict[str, float] | None = Field(
        None,
        description="The lexical score split over the item's fields (title, summary, tags, "
        "body) by where its shared terms occur, each weighted by RECOMMENDER_<FIELD>_WEIGHT; "
        "the parts add up to `lexical`. Only with `explain=true`.",
    )
    tag: float = Field(
        description="Points added for shared tags and categories (RECOMMENDER_TAG_BOOST × Jaccard)."
    )
    recency: float = Field(
        description="Decay factor in (0, 1] for age; 1 when RECOMMENDER_RECENCY_HALF_LIFE_DAYS "
        "is 0."
    )
    redundancy: float | None = Field(
        description="Highest cosine similarity to an item listed before this one (pins "
        "included): what RECOMMENDER_MMR_LAMBDA penalises. null for the first item."
    )
    resemblance: float | None = Field(
        description="Highest estimated Jaccard overlap (MinHash) of the item's body shingles "
        "with the query's or with an item listed before it: at RECOMMENDER_DUPLICATE_JACCARD "
        "it would have been hidden as the same story. null when no body it meets is long "
        "enough to compare."
    )
    rule: Rule | None = Field(
        description="Set when an editor's pin or the fallback placed the item, not its score."
    )
    shared_terms: list[str] | None = Field(
        None, description="Words that weigh most in both texts. Only with `explain=true`."
    )
    ctr: float | None = Field(
        None,
        description="The item's smoothed click-through rate at position 1, from readers' "
        "impressions and clicks corrected for position (docs/signals.md). Only once events "
        "were counted, as are the next three.",
    )
    ctr_boost: float | None = Field(
        None,
        description="The factor the click-through boost gave the score "
        "(RECOMMENDER_CTR_WEIGHT; 1 when it is 0).",
    )
    impressions: float | None = Field(
        None,
        description="The item's impressions, time-decayed (RECOMMENDER_EVENTS_HALF_LIFE_DAYS).",
    )
    clicks: float | None = Field(None, description="The item's clicks, time-decayed.")


ITEM_ARTICLE_FIELDS = ("id", "title", "url", "summary", "published", "tags", "featured", "image")
"""The fields of its article an item shows, in the order it shows them."""
_ITEM_ARTICLE = set(ITEM_ARTICLE_FIELDS)

_ARTICLE_JSON = json_fields(published=(str | None, Field(description="ISO 8601 publication time.")))
# A model made at run time: mypy sees it as Any, hence the ignore where it is subclassed.
_ItemArticle: Any = create_model(
    "ItemArticle", **{name: _ARTICLE_JSON[name] for name in ITEM_ARTICLE_FIELDS}
)


class Item(_ItemArticle):  # type: ignore[misc]
    """One recommended article."""

    score: float = Field(
        description="Final score: (dense_contribution + lexical_contribution + tag) × ctr_boost × "
        "recency, where the two contributions add up to at most 1; higher is more related."
    )
    explanation: Explanation


@dataclass(frozen=True)
class Recommendation:
    """One suggested article, its score and why it scored so.

    ``score`` is the final score: ``(dense_part + lexical_part + tag) · recency · ctr_boost``,
    where the two parts are what ``dense`` and ``lexical`` (the raw similarities,
    ranked ``dense_rank`` and ``lexical_rank`` among the candidates) contribute
    under the ``fusion`` method. ``rule`` says whether an editorial pin or the
    fallback put the item there rather than its score. ``redundancy`` is the
    item's highest cosine to an item listed before it was picked (pins first),
    which maximal marginal relevance penalises; None for the first item.
    ``resemblance`` is the highest estimated Jaccard overlap of its body's shingles
    with the query's or with an item listed before it (pins first): how close it came
    to being hidden as the same story (``duplicate_jaccard``); None when its body, or
    every other, is too short to compare, or the snapshot has no signatures.
    ``ctr`` is the article's smoothed click-through rate at position 1 (see
    :mod:`recommender.clicks`), from ``impressions`` and ``clicks`` (time-decayed,
    summed over blocks), and ``ctr_boost`` the factor the ``ctr`` boost gave its score;
    the three counts are None until readers' events were counted.
    ``shared_terms`` and ``lexical_fields`` (the words both texts weigh most, and the
    lexical score split over the item's fields) are for people reading the list; they
    are None unless the call asked for them (``explain``), as they read the item's
    text and cost more than ranking it.
    """

    article: Article
    score: float
    dense: float
    lexical: float
    shared_terms: tuple[str, ...] | None
    tag: float = 0.0
    recency: float = 1.0
    rule: Rule | None = None
    fusion: Fusion = "weighted"
    dense_part: float = 0.0
    lexical_part: float = 0.0
    dense_rank: int = 0
    lexical_rank: int = 0
    lexical_fields: Mapping[str, float] | None = None
    redundancy: float | None = None
    resemblance: float | None = None
    ctr_boost: float = 1.0
    ctr: float | None = None
    impressions: float | None = None
    clicks: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The item as the API and CLI return it: an :class:`Item` whose optional
        explanation fields are there only when known (``shared_terms`` and
        ``lexical_fields`` when they were asked for, the click-through ones once
        readers' events were counted).

        Built by hand rather than through :class:`Item`, which would cost a request
        of ten items about 80 µs; tests/test_declarations.py checks every answer
        against the model."""
        explanation: dict[str, Any] = {
            "dense": round(self.dense, 6),
            "lexical": round(self.lexical, 6),
            "fusion": self.fusion,
            "dense_rank": self.dense_rank,
            "lexical_rank": self.lexical_rank,
            "dense_contribution": round(self.dense_part, 6),
            "lexical_contribution": round(self.lexical_part, 6),
        }
        if self.lexical_fields is not None:
            explanation["lexical_fields"] = {
                name: round(value, 6) for name, value in self.lexical_fields.items()
            }
        explanation |= {
            "tag": round(self.tag, 6),
            "recency": round(self.recency, 6),
            "redundancy": None if self.redundancy is None else round(self.redundancy, 6),
            "resemblance": None if self.resemblance is None else round(self.resemblance, 6),
            "rule": self.rule,
        }
        if self.ctr is not None:
            explanation |= {
                "ctr": round(self.ctr, 6),
                "ctr_boost": round(self.ctr_boost, 6),
                "impressions": round(self.impressions or 0.0, 3),
                "clicks": round(self.clicks or 0.0, 3),
            }
        if self.shared_terms is not None:
            explanation["shared_terms"] = list(self.shared_terms)
        article = self.article.model_dump(mode="json", include=_ITEM_ARTICLE)
        return {
            **{name: article[name] for name in ITEM_ARTICLE_FIELDS},
            "score": round(self.score, 6),
            "explanation": explanation,
        }


@dataclass(frozen=True)
class Filters:
    """Restrictions a caller puts on one list.

    Attributes:
        exclude: ids never to return.
        tags: if given, only articles carrying at least one of these tags.
        since: if given, only articles published at or after this time.
        min_score: only items scoring at least this much. Unlike the
            ``min_score`` knob, this is a hard floor: the fallback never fills it.
    """

    exclude: Collection[str] = ()
    tags: Collection[str] = ()
    since: datetime | None = None
    min_score: float = 0.0


@dataclass(frozen=True)
class Query:
    """What a ranking call compares candidates to: an indexed article or a draft.

    Attributes:
        vector: ``(dim,)`` float32, unit length: the dense side.
        lexical: the lexical side, before a query weighting is chosen.
        title: the query's title.
        position: the article's catalog position (None: a draft).
        article_id: the article's id (None: a draft).
        tags: its tags, as written.
        categories: its categories, as written.
        published: its publication time (None: a draft or an undated article).
        signature: the MinHash signature of its body (one row), if the snapshot
            has signatures.
    """

    vector: np.ndarray
    lexical: LexicalQuery
    title: str
    position: int | None = None
    article_id: str | None = None
    tags: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    published: datetime | None = None
    signature: Signatures | None = None

    @property
    def document(self) -> LexicalDocument | None:
        """The query's lexical fields, from which shared terms are shown."""
        return self.lexical.document

    @property
    def labels(self) -> frozenset[str]:
        """Its tags and categories, casefolded."""
        return labels_of(self.tags, self.categories)


def labels_of(tags: Collection[str], categories: Collection[str]) -> frozenset[str]:
    """Tags and categories as one set of casefolded labels (tag overlap compares these)."""
    return frozenset(label.casefold() for label in (*tags, *categories))
