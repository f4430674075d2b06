"""Editorial rules: the pins, blocks and featured override under an article, and the
ids never suggested anywhere (every route needs a key: they show unpublished
editorial intent)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_openapi3.models.tag import Tag

from ..schemas import ArticlePath, ArticleRulesBody, ArticleRulesOut, ExcludesBody, ExcludesOut
from .common import SECURITY, blueprint, engine, private, problems, who

RULES = Tag(
    name="rules",
    description="Editorial pins, blocks, excludes and featured overrides "
    "(every route needs a key).",
)

api = blueprint("rules", __name__)


@api.get(
    "/v1/articles/<article_id>/rules",
    tags=[RULES],
    security=SECURITY,
    responses={200: ArticleRulesOut, **problems(400, 401, 403, 404, 503)},
    summary="The pins and blocks under an article, and its featured override",
)
def get_article_rules(path: ArticlePath) -> Any:
    rules = engine().article_rules(path.article_id)
    return private(ArticleRulesOut.of(rules, engine().rules_version))


@api.put(
    "/v1/articles/<article_id>/rules",
    tags=[RULES],
    security=SECURITY,
    responses={
        200: ArticleRulesOut,
        **problems(400, 401, 403, 404, 413, 415, 422, 503),
    },
    summary="Replace the rules under an article (served on the next request)",
)
def put_article_rules(path: ArticlePath, body: ArticleRulesBody) -> Any:
    rules = engine().set_article_rules(body.rules(path.article_id), who())
    return private(ArticleRulesOut.of(rules, engine().rules_version))


@api.delete(
    "/v1/articles/<article_id>/rules",
    tags=[RULES],
    security=SECURITY,
    responses={204: None, **problems(400, 401, 403, 404, 503)},
    summary="Remove every rule under an article and its featured override",
)
def delete_article_rules(path: ArticlePath) -> Any:
    engine().clear_article_rules(path.article_id, who())
    return Response(status=204)


@api.get(
    "/v1/rules/excludes",
    tags=[RULES],
    security=SECURITY,
    responses={200: ExcludesOut, **problems(401, 403, 503)},
    summary="The ids never suggested anywhere",
)
def get_excludes() -> Any:
    return private({"ids": engine().excludes(), "version": engine().rules_version})


@api.put(
    "/v1/rules/excludes",
    tags=[RULES],
    security=SECURITY,
    responses={200: ExcludesOut, **problems(400, 401, 403, 413, 415, 422, 503)},
    summary="Replace the ids never suggested anywhere",
)
def put_excludes(body: ExcludesBody) -> Any:
    ids = engine().set_excludes(body.ids, who())
    return private({"ids": ids, "version": engine().rules_version})
