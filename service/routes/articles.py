"""The articles: listing and reading are public (and cached), writing needs a key."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask_openapi3.models.tag import Tag
from pydantic import ValidationError

from recommender import Article, InvalidArgument

from ..errors import ApiProblem, body_problem
from ..schemas import (
    ArticleBody,
    ArticleList,
    ArticleOut,
    ArticlePath,
    ArticlesQuery,
    ArticleSummary,
    WriteResult,
)
from .common import SECURITY, blueprint, cached, engine, problems, settings

ARTICLES = Tag(name="articles", description="The articles (reads public, writes need a key).")

api = blueprint("articles", __name__)


@api.get(
    "/v1/articles",
    tags=[ARTICLES],
    responses={200: ArticleList, 304: None, **problems(400, 503)},
    summary="List articles, newest first",
)
@cached()
def list_articles(query: ArticlesQuery) -> Any:
    page = engine().list_articles(
        limit=query.limit,
        offset=query.offset,
        cursor=query.cursor,
        tag=query.tag,
        status=query.status,
        title_contains=query.q,
    )
    # The listing's keys are the schema's, so the two cannot drift apart.
    keys = ArticleSummary.model_fields
    shown = [article.to_json() for article in page.articles]
    return {
        "items": [{k: whole[k] for k in keys} for whole in shown],
        "total": page.total,
        "next_cursor": page.next_cursor,
    }


@api.get(
    "/v1/articles/<article_id>",
    tags=[ARTICLES],
    responses={200: ArticleOut, 304: None, **problems(400, 404, 503)},
    summary="One article",
)
@cached()
def get_article(path: ArticlePath) -> Any:
    return engine().article(path.article_id).to_json()


@api.put(
    "/v1/articles/<article_id>",
    tags=[ARTICLES],
    security=SECURITY,
    responses={
        200: WriteResult,
        201: WriteResult,
        **problems(400, 401, 403, 409, 413, 415, 422, 503),
    },
    summary="Create or replace an article (visible to readers within a second)",
)
def put_article(path: ArticlePath, body: ArticleBody) -> Any:
    if body.id is not None and body.id != path.article_id:
        raise ApiProblem(
            409,
            "id-conflict",
            f"the body's id {body.id!r} differs from the path's {path.article_id!r}",
            field="id",
        )
    try:
        article = Article.from_record(
            body.record(path.article_id),
            strip_shortcodes=settings().strip_shortcodes == "all",
        )
    except ValidationError as exc:
        raise body_problem(exc) from None
    try:
        created = engine().upsert(article, body.embedding)
    except InvalidArgument as exc:
        if exc.parameter != "embedding":
            raise
        raise ApiProblem(422, "invalid-body", str(exc), field="embedding") from None
    result = {"id": article.id, "created": created, "index_version": engine().index_version}
    return jsonify(result), 201 if created else 200


@api.delete(
    "/v1/articles/<article_id>",
    tags=[ARTICLES],
    security=SECURITY,
    responses={204: None, **problems(400, 401, 403, 404, 503)},
    summary="Delete an article (gone from every list at once)",
)
def delete_article(path: ArticlePath) -> Any:
    engine().delete(path.article_id)
    return Response(status=204)
