"""The bundled corpus through the real model, and the real server on loopback."""

from __future__ import annotations

import pytest

from recommender import Engine, Settings
from recommender.embedding import SentenceTransformerEmbedder
from recommender.pipeline import build_index

from .conftest import BUNDLED_CORPUS

UCHIYAMA = "botox-intensive-rehab-chronic-stroke"
REVIEW = "botox-review-22-studies-muscle-spasm"

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def engine(bundled_index: Settings, real_embedder: SentenceTransformerEmbedder) -> Engine:
    return Engine(bundled_index, embedder=real_embedder)


def test_uchiyama_related_lists_the_review_in_top_3(engine: Engine) -> None:
    items = engine.related(UCHIYAMA, k=3, explain=True)
    assert REVIEW in [i.article.id for i in items]
    first = items[0]
    assert "spasticity" in first.article.tags or "botulinum-toxin" in first.article.tags
    assert {"botox", "toxin", "botulinum", "spasticity", "injections"} & set(first.shared_terms)


def test_featured_lists_only_featured_published(engine: Engine) -> None:
    items = engine.featured(UCHIYAMA, k=10)
    assert items
    assert all(i.article.featured and i.article.is_published for i in items)
    assert UCHIYAMA not in [i.article.id for i in items]


def test_drafts_never_suggested(engine: Engine) -> None:
    drafts = {a.id for a in engine.snapshot.articles if not a.is_published}
    assert drafts
    for article in engine.snapshot.articles[:20]:
        assert not drafts & {i.article.id for i in engine.related(article.id, k=10)}


def test_draft_text_gets_related_articles(engine: Engine) -> None:
    result = engine.recommend_text(
        "Injections ease stiff calf muscles",
        "A new clinic offers botulinum toxin injections for spasticity of the ankle after stroke.",
        k=3,
    )
    tags = {t for item in result.related for t in item.article.tags}
    assert {"spasticity", "botulinum-toxin"} & tags


def test_reindexing_the_bundled_corpus_embeds_nothing(
    bundled_index: Settings, real_embedder: SentenceTransformerEmbedder
) -> None:
    report = build_index([BUNDLED_CORPUS], bundled_index, real_embedder, progress=False)
    assert report.embedded == 0 and not report.published
