"""Related and featured ranking on a corpus whose right answers are known."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recommender import Engine, Filters, Settings
from recommender.errors import ArticleNotFound, InvalidArgument

from .conftest import TOPICS, article, make_engine, topic_of


@pytest.mark.parametrize("article_id", [f"{t}-{i}" for t in TOPICS for i in (0, 4)])
def test_related_ranks_same_topic_first_and_never_itself(engine: Engine, article_id: str) -> None:
    items = engine.related(article_id, k=4)
    ids = [item.article.id for item in items]
    assert article_id not in ids
    assert len(ids) == 4
    assert {topic_of(i) for i in ids} == {topic_of(article_id)}
    scores = [item.score for item in items]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_related_lists_other_topics_only_after_own_topic(engine: Engine) -> None:
    ids = [i.article.id for i in engine.related("speech-1", k=10)]
    topics = [topic_of(i) for i in ids]
    assert topics[:4] == ["speech"] * 4
    assert "speech" not in topics[4:]


def test_explanation_names_shared_terms(engine: Engine) -> None:
    item = engine.related("swallow-0", k=1, explain=True)[0]
    data = item.to_json()
    assert set(data) >= {"id", "title", "url", "summary", "published", "tags", "featured", "score"}
    words = set(TOPICS["swallow"].split())
    assert data["explanation"]["shared_terms"]
    assert set(data["explanation"]["shared_terms"]) <= words | {"swallow"}


def test_drafts_and_scheduled_articles_never_appear(settings: Settings, tmp_path: Path) -> None:
    # (A published article dated in the future does appear: tests/test_schedule.py.)
    body = TOPICS["sleep"]
    engine = make_engine(
        settings,
        tmp_path / "c.jsonl",
        [
            article("sleep-draft", "sleep draft", body, status="draft"),
            article(
                "sleep-future", "sleep later", body, published="2999-01-01", status="scheduled"
            ),
        ],
    )
    ids = [i.article.id for i in engine.related("sleep-0", k=50)]
    assert "sleep-draft" not in ids and "sleep-future" not in ids
    # A draft can still be asked about (editors preview it), it just is never suggested.
    assert engine.related("sleep-draft", k=2)


def test_near_duplicates_are_suppressed(settings: Settings, tmp_path: Path) -> None:
    engine = make_engine(
        settings,
        tmp_path / "c.jsonl",
        [
            # Same story under two ids: the titles differ, the vectors nearly match.
            article("copy-a", "Repost one", "apnea snoring night " * 30),
            article("copy-b", "Repost two", "apnea snoring night " * 30),
            # Same title (up to punctuation and case), different wording: not the same
            # story (a recurring title says nothing; tests/test_duplicates.py has more).
            article("title-a", "Night apnea: what now?", "apnea bedtime snoring"),
            article("title-b", "night apnea what now", "sleep apnea drowsiness"),
        ],
    )
    ids = [i.article.id for i in engine.related("sleep-2", k=30)]
    assert len({"copy-a", "copy-b"} & set(ids)) == 1
    # A near-copy of the query article is never suggested for it.
    assert "copy-b" not in [i.article.id for i in engine.related("copy-a", k=30)]
    assert "title-b" in [i.article.id for i in engine.related("title-a", k=30)]


def test_exclude_parameter(engine: Engine) -> None:
    ids = [
        i.article.id
        for i in engine.related("sleep-0", k=3, filters=Filters(exclude=["sleep-1", "nope"]))
    ]
    assert "sleep-1" not in ids and len(ids) == 3


def test_featured_only_lists_featured_articles(engine: Engine) -> None:
    items = engine.featured("speech-0", k=4)
    assert [i.article.featured for i in items] == [True] * 4
    assert items[0].article.id == "speech-2"  # the featured article of its own topic
    assert "speech-2" not in [i.article.id for i in engine.featured("speech-2", k=4)]


def test_unknown_article(engine: Engine) -> None:
    with pytest.raises(ArticleNotFound) as caught:
        engine.related("no-such-article")
    assert caught.value.article_id == "no-such-article"
    assert isinstance(caught.value, KeyError)


@pytest.mark.parametrize("k", [0, -1, 51, 2.5, True])
def test_bad_k(engine: Engine, k: Any) -> None:
    with pytest.raises(InvalidArgument) as caught:
        engine.related("sleep-0", k=k)
    assert caught.value.parameter == "k"


def test_recommend_text_for_a_draft(engine: Engine) -> None:
    result = engine.recommend_text(
        "Swallowing after stroke", "dysphagia throat choking saliva", k=3
    )
    assert {topic_of(i.article.id) for i in result.related} == {"swallow"}
    related_ids = {i.article.id for i in result.related}
    assert all(i.article.featured for i in result.featured)
    assert not related_ids & {i.article.id for i in result.featured}


@pytest.mark.parametrize(
    ("title", "body", "parameter"), [("", "x", "title"), ("T", "<p></p>", "body")]
)
def test_recommend_text_rejects_empty_input(
    engine: Engine, title: str, body: str, parameter: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        engine.recommend_text(title, body)
    assert caught.value.parameter == parameter


def test_engine_picks_up_a_new_snapshot(settings: Settings, tmp_path: Path) -> None:
    engine = make_engine(settings, tmp_path / "c.jsonl")
    first = engine.snapshot.version
    make_engine(settings, tmp_path / "d.jsonl", [article("sleep-new", "new", TOPICS["sleep"])])
    engine.related("sleep-0")
    assert engine.snapshot.version != first
    assert engine.article("sleep-new").title == "new"


@pytest.mark.parametrize("query_weights", ["presence", "bm25", "tf"])
def test_query_weights_count_repeated_words(
    settings: Settings, tmp_path: Path, query_weights: str
) -> None:
    # Lexical only: a draft that keeps coming back to aphasia and mentions sleep once.
    lexical = settings.replace(dense_weight=0.0, query_weights=query_weights)
    engine = make_engine(lexical, tmp_path / "c.jsonl")
    body = "aphasia " * 12 + "speech therapist " * 3 + "insomnia snoring night daytime"
    items = engine.recommend_text("Notes", body, k=10).related
    assert all(0.0 <= i.score <= 1.0 and 0.0 <= i.lexical <= 1.0 for i in items)
    topics = [topic_of(i.article.id) for i in items]
    # Indexed articles as queries work under every weighting.
    assert {topic_of(i.article.id) for i in engine.related("speech-1", k=4)} == {"speech"}
    if query_weights != "presence":
        # The repeated words decide: speech articles come first.
        assert topics[:4] == ["speech"] * 4
    else:
        # Each shared word counts once: the four sleep words outweigh the three speech ones.
        assert topics[0] == "sleep"


def test_query_weights_setting_is_validated() -> None:
    with pytest.raises(InvalidArgument) as caught:
        Settings.from_env({"RECOMMENDER_QUERY_WEIGHTS": "tfidf"})
    assert caught.value.parameter == "RECOMMENDER_QUERY_WEIGHTS"
