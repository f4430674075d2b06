"""Each record declared once (issue 15): an article's fields in
:class:`recommender.Article`, an item's shape in :class:`recommender.Item`; the
names sources may give, the API's article models and the answers derive from them."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any, get_args

import annotated_types
import pytest
from flask.testing import FlaskClient

from recommender import Item, json_fields
from recommender import articles as articles_module
from recommender.articles import IMAGE_DESCRIPTION, KNOWN_FIELDS, Article
from recommender.request import ITEM_ARTICLE_FIELDS, Recommendation
from service import schemas

from .conftest import AUTH, ROOT

ARTICLE_FIELDS = [
    "id",
    "title",
    "body",
    "summary",
    "url",
    "tags",
    "categories",
    "published",
    "updated",
    "author",
    "status",
    "featured",
    "image",
    "extra",
]
SUMMARY_FIELDS = [
    "id",
    "title",
    "summary",
    "url",
    "tags",
    "published",
    "status",
    "featured",
    "image",
]


def test_the_known_fields_are_the_articles_own() -> None:
    assert list(Article.model_fields) == ARTICLE_FIELDS
    assert tuple(ARTICLE_FIELDS[:-1]) == KNOWN_FIELDS


def test_the_api_article_models_have_the_articles_fields() -> None:
    assert list(schemas.ArticleOut.model_fields) == ARTICLE_FIELDS
    assert list(schemas.ArticleSummary.model_fields) == SUMMARY_FIELDS
    assert list(schemas.ArticleBody.model_fields) == [*ARTICLE_FIELDS[:-1], "embedding"]


def test_json_fields_gives_each_field_as_to_json_writes_it() -> None:
    derived = {name: kind for name, (kind, _) in json_fields().items()}
    # The limits the core checks go with the type (they document the answers too).
    assert get_args(derived.pop("id"))[0] is str
    assert get_args(derived.pop("title")) == (str, annotated_types.MinLen(1))
    limits = {type(m).__name__: m for m in get_args(json_fields()["id"][0])[1:]}
    assert limits["MinLen"].min_length == 1 and limits["MaxLen"].max_length == 200
    assert derived == {
        "body": str,
        "summary": str,
        "url": str | None,
        "tags": list[str],
        "categories": list[str],
        "published": str | None,
        "updated": str | None,
        "author": str | None,
        "status": Article.model_fields["status"].annotation,
        "featured": bool,
        "image": str | None,
        "extra": dict[str, Any],
    }
    assert all(info.is_required() for _, info in json_fields().values())
    assert json_fields()["image"][1].description == IMAGE_DESCRIPTION
    optional = json_fields(required=False)
    assert [name for name, (_, info) in optional.items() if info.is_required()] == [
        "id",
        "title",
        "body",
    ]
    assert optional["tags"][1].get_default(call_default_factory=True) == ()
    assert optional["status"][1].get_default() == "published"


class ArticleWithLanguage(Article):
    """An article with a made-up field, as a contributor would add one to Article."""

    language: str | None = None


@pytest.fixture
def extended_schemas(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``service/schemas.py`` executed afresh (as a module of its own, leaving
    ``service.schemas`` alone) while Article has one field more."""
    monkeypatch.setattr(articles_module, "Article", ArticleWithLanguage)
    spec = importlib.util.spec_from_file_location("extended_schemas", ROOT / "service/schemas.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_field_added_to_the_article_reaches_every_api_article_model(
    extended_schemas: ModuleType,
) -> None:
    assert list(extended_schemas.ArticleOut.model_fields) == [*ARTICLE_FIELDS, "language"]
    assert list(extended_schemas.ArticleSummary.model_fields) == [*SUMMARY_FIELDS, "language"]
    assert list(extended_schemas.ArticleBody.model_fields) == [
        *ARTICLE_FIELDS[:-1],
        "language",
        "embedding",
    ]
    out = extended_schemas.ArticleOut.model_json_schema()
    assert out["properties"]["language"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "title": "Language",
    }
    assert "language" in out["required"]  # to_json always writes it
    body = extended_schemas.ArticleBody.model_json_schema()
    assert body["properties"]["language"]["default"] is None
    assert "language" not in body["required"]


def recommendation(**fields: Any) -> Recommendation:
    article = Article.from_record(
        {
            "id": "walking-1",
            "title": "Walking again",
            "body": "Treadmill training.",
            "summary": "Steps.",
            "url": "https://example.org/walking",
            "tags": ["stroke", "walking"],
            "published": "2025-03-01",
            "featured": True,
            "image": "/img/walk.jpg",
        }
    )
    values: dict[str, Any] = {
        "score": 0.12345678,
        "dense": 0.5,
        "lexical": 0.25,
        "shared_terms": None,
        "tag": 0.1,
        "recency": 0.9,
        "fusion": "rrf",
        "dense_part": 0.3,
        "lexical_part": 0.2,
        "dense_rank": 1,
        "lexical_rank": 2,
    }
    return Recommendation(article, **(values | fields))


EXPLANATION = {
    "dense": 0.5,
    "lexical": 0.25,
    "fusion": "rrf",
    "dense_rank": 1,
    "lexical_rank": 2,
    "dense_contribution": 0.3,
    "lexical_contribution": 0.2,
    "tag": 0.1,
    "recency": 0.9,
    "redundancy": None,
    "resemblance": None,
    "rule": None,
}
"""The explanation of :func:`recommendation` when nothing optional is known."""


def test_an_item_answer_has_the_item_models_fields() -> None:
    assert recommendation().to_json() == {
        "id": "walking-1",
        "title": "Walking again",
        "url": "https://example.org/walking",
        "summary": "Steps.",
        "published": "2025-03-01T00:00:00Z",
        "tags": ["stroke", "walking"],
        "featured": True,
        "image": "https://example.org/img/walk.jpg",
        "score": 0.123457,
        "explanation": EXPLANATION,
    }
    assert list(Item.model_fields)[: len(ITEM_ARTICLE_FIELDS)] == list(ITEM_ARTICLE_FIELDS)


def test_the_optional_explanation_fields_appear_when_known() -> None:
    answer = recommendation(
        shared_terms=("treadmill",),
        lexical_fields={"title": 0.1234567, "body": 0.2},
        redundancy=0.33333333,
        rule="pinned",
        ctr=0.0123456789,
        ctr_boost=1.05,
        impressions=12.3456,
        clicks=1.23456,
    ).to_json()
    assert answer["explanation"] == EXPLANATION | {
        "lexical_fields": {"title": 0.123457, "body": 0.2},
        "redundancy": 0.333333,
        "rule": "pinned",
        "shared_terms": ["treadmill"],
        "ctr": 0.012346,
        "ctr_boost": 1.05,
        "impressions": 12.346,
        "clicks": 1.235,
    }


OPTIONAL = {
    "explained": {"shared_terms": ("treadmill",), "lexical_fields": {"title": 0.1}},
    "clicked": {"ctr": 0.01, "ctr_boost": 1.05, "impressions": 12.0, "clicks": 1.0},
    "placed": {"redundancy": 0.3, "resemblance": 0.4, "rule": "fallback"},
}


@pytest.mark.parametrize("known", [(), *[(group,) for group in OPTIONAL], tuple(OPTIONAL)])
def test_every_item_answer_is_an_item(known: tuple[str, ...]) -> None:
    values: dict[str, Any] = {}
    for group in known:
        values |= OPTIONAL[group]
    answer = recommendation(**values).to_json()
    # The model takes the answer as it is, and has a field for each of its keys.
    assert Item.model_validate(answer).model_dump(mode="json", exclude_unset=True) == answer
    explanation = Item.model_fields["explanation"].annotation.model_fields
    shown = set(answer["explanation"])
    assert shown <= set(explanation)
    assert shown == {name for name, f in explanation.items() if f.is_required()} | {
        name for group in known for name in OPTIONAL[group] if name in explanation
    }


def test_the_api_answers_with_the_cores_item() -> None:
    assert schemas.ItemsResponse.model_fields["items"].annotation == list[Item]
    both = schemas.RecommendationsResponse.model_fields
    assert both["related"].annotation == both["featured"].annotation == list[Item]


def test_a_listing_shows_the_summary_fields(client: FlaskClient) -> None:
    written = {"title": "Listed", "body": "A body.", "author": "Ann", "categories": ["x"]}
    assert client.put("/v1/articles/listed", json=written, headers=AUTH).status_code == 201
    (listed,) = [
        a for a in client.get("/v1/articles?limit=200").get_json()["items"] if a["id"] == "listed"
    ]
    assert listed == {
        "id": "listed",
        "title": "Listed",
        "summary": "",
        "url": None,
        "tags": [],
        "published": None,
        "status": "published",
        "featured": False,
        "image": None,
    }
    stored = client.get("/v1/articles/listed").get_json()
    assert list(stored) == ARTICLE_FIELDS
    assert (stored["author"], stored["categories"]) == ("Ann", ["x"])


def test_a_new_optional_field_keeps_the_hash_of_articles_without_it() -> None:
    class Later(Article):
        reading_minutes: int | None = None

    base = Article(id="a-1", title="Mirror therapy", body="Mirror therapy helps a weak hand.")
    without = Later(**base.model_dump())
    assert without.content_hash() == base.content_hash()
    assert Later(**base.model_dump(), reading_minutes=4).content_hash() != base.content_hash()
    # The fields hashed from the start are hashed even when empty.
    assert base.model_copy(update={"url": "https://x.org/a"}).content_hash() != base.content_hash()


def test_the_record_digest_follows_the_articles_declared_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from recommender import corpus

    before = corpus.record_digest(b'{"id": "a"}', True, False)
    monkeypatch.setattr(corpus, "ARTICLE_SCHEMA", "another schema")
    assert corpus.record_digest(b'{"id": "a"}', True, False) != before
