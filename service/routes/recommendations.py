"""Related articles, featured picks and both in one call, for an indexed article or
a draft (public; answers for indexed articles go through the response cache)."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask_openapi3.models.tag import Tag

from recommender import DEFAULT_VARIANT, Filters, RankingKnobs

from ..kept import ANSWER_RULES, answer_key
from ..schemas import (
    ArticlePath,
    DraftBody,
    ItemsResponse,
    ListQuery,
    RecommendationsResponse,
)
from .common import blueprint, cached, engine, items, problems

READ = Tag(name="recommendations", description="Related articles and featured picks (public).")

api = blueprint("recommendations", __name__)


def _answer_args(query: ListQuery) -> tuple[int | None, Filters, RankingKnobs, bool]:
    """``k``, filters, knobs and ``explain`` of an answer route, for
    :meth:`Engine.related` and kin (``k`` None: the engine's RECOMMENDER_DEFAULT_K).
    The knobs are the served ones (with the reader's A/B variant's, see
    :func:`_variant`) changed by the request's own."""
    current = engine()
    filters = query.filters(current.has_article)
    served, _ = current.served_knobs(query.bucket)
    return query.k, filters, query.knobs(served) or served, query.explain


def _variant(query: ListQuery) -> str:
    """The A/B variant answering this request (``"default"`` outside an experiment)."""
    return engine().served_knobs(query.bucket)[1]


def _answer_key(path: ArticlePath, query: ListQuery) -> str:
    """The cache key of an answer route's request (see :func:`~service.kept.answer_key`)."""
    return answer_key(request.path, request.args, _variant(query))


@api.get(
    ANSWER_RULES["related"],
    tags=[READ],
    responses={200: ItemsResponse, 304: None, **problems(400, 404, 503)},
    summary="Related articles for an article",
)
@cached(key=_answer_key)
def related(path: ArticlePath, query: ListQuery) -> Any:
    return {
        "article_id": path.article_id,
        "items": items(engine().related(path.article_id, *_answer_args(query))),
        "variant": _variant(query),
    }


@api.get(
    ANSWER_RULES["featured"],
    tags=[READ],
    responses={200: ItemsResponse, 304: None, **problems(400, 404, 503)},
    summary="Featured picks for an article",
)
@cached(key=_answer_key)
def featured(path: ArticlePath, query: ListQuery) -> Any:
    return {
        "article_id": path.article_id,
        "items": items(engine().featured(path.article_id, *_answer_args(query))),
        "variant": _variant(query),
    }


@api.get(
    ANSWER_RULES["recommendations"],
    tags=[READ],
    responses={200: RecommendationsResponse, 304: None, **problems(400, 404, 503)},
    summary="Related and featured blocks in one call",
)
@cached(key=_answer_key)
def recommendations(path: ArticlePath, query: ListQuery) -> Any:
    both = engine().recommendations(path.article_id, *_answer_args(query))
    return {
        "article_id": path.article_id,
        "related": items(both.related),
        "featured": items(both.featured),
        "index_version": both.index_version,
        "variant": _variant(query),
    }


@api.post(
    "/v1/recommendations",
    tags=[READ],
    responses={200: RecommendationsResponse, **problems(400, 413, 415, 422, 503)},
    summary="Related and featured blocks for a draft that is not in the corpus",
)
def draft_recommendations(body: DraftBody) -> Any:
    both = engine().recommend_text(body.title, body.body, body.k, body.tags, explain=body.explain)
    return jsonify(
        {
            "article_id": None,
            "related": items(both.related),
            "featured": items(both.featured),
            "index_version": both.index_version,
            "variant": DEFAULT_VARIANT,
        }
    )
