"""Explanation: the picked items as :class:`~recommender.request.Recommendation`s,
with their score breakdown and, for people, the terms they share with the query
and the split of their lexical score over the fields.

Only the items a list shows are explained: shared terms and the field split read
the article's text and term counts, which cost more than ranking the candidates.
"""

from __future__ import annotations

import numpy as np

from .catalog import Catalog
from .clicks import ClickThrough
from .filling import Placed
from .lexical import WeightedQuery
from .request import Fusion, Query, Recommendation
from .rules import RuleSet
from .scoring import ScoreTable


class Explainer:
    """Turns placed rows of a fused score table into recommendations.

    Args:
        catalog: the articles.
        fusion: the fusion method, reported on every item.
        explain: compute shared terms and the field split unless a call says
            otherwise. They read each item's text and term counts: a quarter of an
            uncached request at 100k articles, and over 100 items per query
            (evaluation) more than the ranking itself.
    """

    def __init__(self, catalog: Catalog, fusion: Fusion, explain: bool = True) -> None:
        self.catalog = catalog
        self.fusion: Fusion = fusion
        self.explain = explain

    def items(
        self,
        query: Query,
        lexical: WeightedQuery,
        table: ScoreTable,
        placed: list[Placed],
        rules: RuleSet,
        explain: bool | None = None,
        clicks: ClickThrough | None = None,
    ) -> list[Recommendation]:
        """One recommendation per placed row, in order; ``explain`` overrides the
        explainer's own choice for this call; ``clicks``: the readers' click-through
        rates, shown in each item (None: nothing counted)."""
        explain = self.explain if explain is None else explain
        return [self.item(query, lexical, table, p, rules, explain, clicks) for p in placed]

    def item(
        self,
        query: Query,
        lexical: WeightedQuery,
        table: ScoreTable,
        placed: Placed,
        rules: RuleSet,
        explain: bool = True,
        clicks: ClickThrough | None = None,
    ) -> Recommendation:
        """The recommendation of one placed row.

        Its ``resemblance`` is the higher of its resemblance to the query and to the
        items listed before it; its article carries the editors' featured override.
        """
        i = placed.row
        position = int(table.positions[i])
        closest = np.fmax(table["resemblance"][i], placed.resemblance)
        article = self.catalog.article(position)
        override = rules.featured.get(article.id)
        if override is not None and override != article.featured:
            article = article.model_copy(update={"featured": override})
        lexical_score = float(table["lexical"][i])
        shared: tuple[str, ...] | None = None
        fields: dict[str, float] | None = None
        if explain:
            row = self.catalog.lexical_row(position)
            shared = tuple(
                query.lexical.shared_terms(
                    row,
                    row_document=None
                    if query.document is None
                    else self.catalog.lexical_document(position),
                )
            )
            fields = lexical.by_field(
                row, lambda: self.catalog.field_counts(position), lexical_score
            )
        ctr = impressions = clicked = None
        if clicks is not None:
            ctr = clicks.rate(article.id)
            impressions, clicked = clicks.counts(article.id)
        return Recommendation(
            article=article,
            score=float(table["final"][i]),
            dense=float(table["dense"][i]),
            lexical=lexical_score,
            shared_terms=shared,
            tag=float(table["tag"][i]),
            recency=float(table["recency"][i]),
            rule=placed.rule,
            fusion=self.fusion,
            dense_part=float(table["dense_part"][i]),
            lexical_part=float(table["lexical_part"][i]),
            dense_rank=int(table["dense_rank"][i]),
            lexical_rank=int(table["lexical_rank"][i]),
            lexical_fields=fields,
            redundancy=placed.redundancy,
            resemblance=None if np.isnan(closest) else float(closest),
            ctr_boost=float(table["ctr"][i]),
            ctr=ctr,
            impressions=impressions,
            clicks=clicked,
        )
