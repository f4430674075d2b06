"""What one ranking request is made of, shared by every stage of :mod:`recommender.ranking`:
the query, the caller's filters, the ranking knobs, and the items it returns.

:mod:`recommender.ranking` re-exports every name here; import them from there.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .articles import Article, format_timestamp
from .config import PARAMETERS
from .duplicates import Signatures
from .errors import InvalidArgument
from .lexical import LexicalDocument, LexicalQuery

if TYPE_CHECKING:
    from .config import Settings

Rule = Literal["pinned", "fallback"]
"""Why an item sits where it does when its score did not put it there."""

Fusion = Literal["weighted", "rrf", "minmax"]
"""The fusion methods the settings and the API accept (see :data:`recommender.scoring.FUSIONS`)."""


@dataclass(frozen=True)
class RankingKnobs:
    """The ranking features a call may tune; :meth:`from_settings` gives the served ones.

    An editor page passes changed knobs to :meth:`recommender.Engine.related` to
    preview other values without touching the live settings.

    Attributes:
        tag_boost: points added times the Jaccard overlap of tags and categories.
        require_shared_tag: only candidates sharing a tag with the query (a query
            without tags is exempt).
        max_age_days: hide candidates published more than this many days before
            the reference time (0 = off).
        recency_half_life_days: halve the score for every this many days a
            candidate was published before the reference time (0 = off).
        mmr_lambda: relevance against novelty when filling a list (1 = off).
        ctr_weight: power of the click-through boost (0 = off; see
            :mod:`recommender.clicks`).
        min_score: smallest score a suggestion needs.
        fallback: fill a list short of ``min_score`` with featured, then recent
            same-category articles.
    """

    # Defaults and accepted values are the settings' (one declaration each).
    tag_boost: float = PARAMETERS["tag_boost"].default
    require_shared_tag: bool = PARAMETERS["require_shared_tag"].default
    max_age_days: float = PARAMETERS["max_age_days"].default
    recency_half_life_days: float = PARAMETERS["recency_half_life_days"].default
    mmr_lambda: float = PARAMETERS["mmr_lambda"].default
    ctr_weight: float = PARAMETERS["ctr_weight"].default
    min_score: float = PARAMETERS["min_score"].default
    fallback: bool = PARAMETERS["fallback"].default

    def __post_init__(self) -> None:
        for f in fields(self):
            problem = PARAMETERS[f.name].problem(getattr(self, f.name))
            if problem:
                raise InvalidArgument(f.name, problem)

    def changed(self, values: Mapping[str, float]) -> RankingKnobs:
        """These knobs with ``values`` (knob name → value) replacing theirs.

        Raises:
            InvalidArgument: a value outside the knob's range (names the knob).
        """
        changes: dict[str, Any] = dict(values)
        return replace(self, **changes) if changes else self

    @classmethod
    def from_settings(cls, settings: Settings) -> RankingKnobs:
        """The knobs the settings serve with."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


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
        """The item as the API and CLI return it (``shared_terms`` and
        ``lexical_fields`` only when they were asked for)."""
        a = self.article
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
        return {
            "id": a.id,
            "title": a.title,
            "url": a.url,
            "summary": a.summary,
            "published": format_timestamp(a.published),
            "tags": list(a.tags),
            "featured": a.featured,
            "image": a.image,
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
