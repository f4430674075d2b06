"""Ranking features and editorial rules through the Engine, on the topic corpus
whose right answers are known: each feature moves the order the way it should."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from recommender import (
    ArticleRules,
    Engine,
    Filters,
    InvalidRule,
    Pin,
    RankingKnobs,
    Recommendation,
    Settings,
)
from recommender.errors import ArticleNotFound, InvalidArgument

from .conftest import TOPICS, article, make_engine, topic_of
from .fakes import FakeEmbedder

EDITOR = "test-editor"


def ids(items: list[Recommendation]) -> list[str]:
    return [item.article.id for item in items]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """One fixed fusion (not the served defaults, which follow the benchmarks), so
    each test below sees only the feature it moves."""
    return Settings(
        index_dir=tmp_path / "index",
        reload_interval=0.0,
        dense_weight=0.7,
        query_weights="presence",
        stemming="none",
    )


# -- the score breakdown ---------------------------------------------------------------


def test_explanation_has_every_part_and_defaults_change_nothing(engine: Engine) -> None:
    items = engine.related("sleep-0", k=4, explain=True)
    explanation = items[0].to_json()["explanation"]
    assert list(explanation) == [
        "dense",
        "lexical",
        "fusion",
        "dense_rank",
        "lexical_rank",
        "dense_contribution",
        "lexical_contribution",
        "lexical_fields",
        "tag",
        "recency",
        "redundancy",
        "resemblance",
        "rule",
        "shared_terms",
    ]
    assert explanation["fusion"] == "weighted"
    for item in items:
        assert (item.tag, item.recency, item.rule) == (0.0, 1.0, None)
        assert item.dense_part == pytest.approx(0.7 * max(item.dense, 0.0))
        assert item.lexical_part == pytest.approx(0.3 * item.lexical)
        # No boost by default: the score is the two contributions.
        assert item.score == pytest.approx(item.dense_part + item.lexical_part)
    # Ranks count among the candidates by each signal alone.
    assert items[0].dense_rank == 1
    assert [i.dense_rank for i in items] == sorted(i.dense_rank for i in items)


def test_lexical_score_is_split_over_the_fields_the_terms_occur_in(
    settings: Settings, tmp_path: Path
) -> None:
    # "aphasia" appears only in the first candidate's title, only in the second's body.
    extra = [
        article("in-title", "Aphasia", "weekly group notes", tags=["x"]),
        article("in-body", "Monthly letters", "aphasia club", tags=["x"]),
    ]
    engine = make_engine(settings, tmp_path / "c.jsonl", extra)
    items = {
        i.article.id: i for i in engine.recommend_text("Q", "aphasia", k=25, explain=True).related
    }
    title, body = items["in-title"], items["in-body"]
    assert title.lexical_fields["title"] == pytest.approx(title.lexical)
    assert body.lexical_fields["body"] == pytest.approx(body.lexical)
    assert title.lexical_fields["body"] == body.lexical_fields["title"] == 0.0
    # The title weighs twice the body by default: the title match scores higher.
    assert title.lexical > body.lexical
    for item in items.values():
        assert sum(item.lexical_fields.values()) == pytest.approx(item.lexical, abs=1e-6)
    flat = make_engine(
        settings.replace(title_weight=1.0, index_dir=tmp_path / "flat"),
        tmp_path / "f.jsonl",
        extra,
    )
    flat_items = {i.article.id: i for i in flat.recommend_text("Q", "aphasia", k=25).related}
    assert flat_items["in-title"].lexical / flat_items["in-body"].lexical < (
        title.lexical / body.lexical
    )


# -- fusion ------------------------------------------------------------------------------


def test_rrf_scores_reciprocal_ranks_and_ignores_score_gaps(
    settings: Settings, tmp_path: Path
) -> None:
    engine = make_engine(settings.replace(fusion="rrf", rrf_k=10), tmp_path / "c.jsonl")
    items = engine.related("sleep-0", k=8)
    assert {topic_of(i.article.id) for i in items[:4]} == {"sleep"}
    for item in items:
        assert item.fusion == "rrf"
        dense = 0.7 * 11 / (10 + item.dense_rank) if item.dense > 0 else 0.0
        lexical = 0.3 * 11 / (10 + item.lexical_rank) if item.lexical > 0 else 0.0
        assert (item.dense_part, item.lexical_part) == (
            pytest.approx(dense),
            pytest.approx(lexical),
        )
        assert item.score == pytest.approx(dense + lexical)
        assert 0.0 <= item.score <= 1.0
    assert [i.score for i in items] == sorted((i.score for i in items), reverse=True)
    # Only ranks count: the best item by both signals scores exactly 1.
    best = items[0]
    if best.dense_rank == best.lexical_rank == 1:
        assert best.score == pytest.approx(1.0)


def test_ranks_count_among_the_candidates(settings: Settings, tmp_path: Path) -> None:
    # k covers every other article, so every article is a candidate and each rank is
    # 1 + how many others score strictly higher by that signal alone.
    engine = make_engine(settings.replace(fusion="rrf"), tmp_path / "c.jsonl")
    items = engine.related("speech-2", k=19)
    assert len(items) == 19
    for item in items:
        assert item.dense_rank == 1 + sum(other.dense > item.dense for other in items)
        assert item.lexical_rank == 1 + sum(other.lexical > item.lexical for other in items)


def test_minmax_rescales_each_signal_over_the_candidates(
    settings: Settings, tmp_path: Path
) -> None:
    # k covers every other article, so every article is a candidate: the lowest and
    # highest scores of each signal among the items are the ends of its scale.
    engine = make_engine(settings.replace(fusion="minmax"), tmp_path / "c.jsonl")
    items = engine.related("swallow-1", k=19)
    dense = [i.dense for i in items]
    lexical = [i.lexical for i in items]
    for item in items:
        assert item.fusion == "minmax"
        expected_dense = 0.7 * (item.dense - min(dense)) / (max(dense) - min(dense))
        expected_lexical = 0.3 * (item.lexical - min(lexical)) / (max(lexical) - min(lexical))
        assert item.dense_part == pytest.approx(expected_dense, abs=1e-6)
        assert item.lexical_part == pytest.approx(expected_lexical, abs=1e-6)
        assert item.score == pytest.approx(item.dense_part + item.lexical_part)
    # The best candidate by both signals gets the full 1, however weak the match.
    assert max(i.score for i in items) == pytest.approx(1.0)
    assert {topic_of(i.article.id) for i in items[:4]} == {"swallow"}


def test_fusion_setting_is_validated() -> None:
    with pytest.raises(InvalidArgument) as caught:
        Settings.from_env({"RECOMMENDER_FUSION": "borda"})
    assert caught.value.parameter == "RECOMMENDER_FUSION"


def test_knobs_come_from_settings(settings: Settings) -> None:
    changed = settings.replace(tag_boost=0.2, mmr_lambda=0.5, fallback=False)
    knobs = RankingKnobs.from_settings(changed)
    assert (knobs.tag_boost, knobs.mmr_lambda, knobs.fallback) == (0.2, 0.5, False)
    assert RankingKnobs.from_settings(settings) == RankingKnobs()


@pytest.mark.parametrize(
    "changes", [{"tag_boost": -0.1}, {"mmr_lambda": 1.5}, {"min_score": 2.0}, {"max_age_days": -1}]
)
def test_bad_knobs_name_themselves(changes: dict[str, float]) -> None:
    with pytest.raises(InvalidArgument) as caught:
        RankingKnobs(**changes)  # type: ignore[arg-type]
    assert caught.value.parameter == next(iter(changes))


# -- recency -----------------------------------------------------------------------------


def test_recency_decay_favours_articles_closer_to_the_query_date(engine: Engine) -> None:
    # sleep-4 is the newest of its topic; sleep-i is older the smaller i is.
    only_sleep = Filters(tags=["sleep"])
    plain = ids(engine.related("sleep-4", k=4, filters=only_sleep))
    knobs = RankingKnobs(recency_half_life_days=5)
    decayed = engine.related("sleep-4", k=4, filters=only_sleep, knobs=knobs)
    assert ids(decayed) == ["sleep-3", "sleep-2", "sleep-1", "sleep-0"] != plain
    assert [i.recency for i in decayed] == sorted((i.recency for i in decayed), reverse=True)
    assert decayed[0].recency == pytest.approx(0.5 ** (31 / 5))  # 2025-04-13 → 05-14
    assert all(
        i.score == pytest.approx((0.7 * i.dense + 0.3 * i.lexical) * i.recency) for i in decayed
    )


def test_recency_never_decays_newer_articles(engine: Engine) -> None:
    # sleep-0 is the oldest: everything else is newer, so nothing decays.
    items = engine.related("sleep-0", k=4, knobs=RankingKnobs(recency_half_life_days=1))
    assert [i.recency for i in items] == [1.0] * 4
    assert ids(items) == ids(engine.related("sleep-0", k=4))


def test_hard_age_window(engine: Engine) -> None:
    knobs = RankingKnobs(max_age_days=40, fallback=False)
    items = engine.related("sleep-4", k=20, knobs=knobs)
    assert items and set(ids(items)) <= {f"{t}-{i}" for t in TOPICS for i in (3, 4)}
    assert "sleep-3" in ids(items)


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_draft_recency_is_measured_from_now(engine: Engine) -> None:
    # A fixed clock: answers measured from now do not depend on the day the tests run.
    engine.now = lambda: NOW
    result = engine.recommend_text(
        "Snoring", TOPICS["sleep"], k=3, knobs=RankingKnobs(recency_half_life_days=365)
    )
    assert len(result.related) == 3
    for item in result.related:
        assert item.article.published is not None
        age_days = (NOW - item.article.published).total_seconds() / 86400
        assert item.recency == pytest.approx(0.5 ** (age_days / 365))


# -- tags ----------------------------------------------------------------------------------


def test_tag_boost_lifts_an_article_sharing_tags(settings: Settings, tmp_path: Path) -> None:
    # Tagged "sleep" but written in the speech topic's words.
    cross = article("cross", "Talking together", TOPICS["speech"], tags=["sleep"])
    engine = make_engine(settings, tmp_path / "c.jsonl", [cross])
    plain = engine.related("sleep-0", k=20)
    boosted = engine.related("sleep-0", k=20, knobs=RankingKnobs(tag_boost=0.5))
    assert ids(boosted).index("cross") < ids(plain).index("cross")
    assert ids(boosted)[:5] == [*ids(plain)[:4], "cross"]  # first after its tag-mates
    item = boosted[ids(boosted).index("cross")]
    assert item.tag == pytest.approx(0.5)  # Jaccard of {sleep} and {sleep} is 1
    assert all(i.tag == 0.0 for i in boosted if topic_of(i.article.id) != "sleep" and i is not item)


def test_require_shared_tag(engine: Engine) -> None:
    knobs = RankingKnobs(require_shared_tag=True, fallback=False)
    items = engine.related("speech-0", k=20, knobs=knobs)
    assert ids(items) and {topic_of(i) for i in ids(items)} == {"speech"}


# -- diversity -----------------------------------------------------------------------------


def test_mmr_spreads_the_list(settings: Settings, tmp_path: Path) -> None:
    # Mostly about sleep, partly about speech: by relevance alone the sleep articles
    # (all alike) fill the list; diversity lets the speech side in.
    body = f"{TOPICS['sleep']} {TOPICS['sleep']} {TOPICS['speech']}"
    mixed = article("mixed", "Mixed", body, tags=["sleep", "speech"])
    engine = make_engine(settings, tmp_path / "c.jsonl", [mixed])
    plain = engine.related("mixed", k=5)
    assert {topic_of(i) for i in ids(plain)} == {"sleep"}
    diverse = engine.related("mixed", k=5, knobs=RankingKnobs(mmr_lambda=0.7))
    assert diverse[0].article.id == plain[0].article.id  # the most relevant still leads
    assert topic_of(diverse[1].article.id) == "speech"  # the other side comes next
    assert {topic_of(i) for i in ids(diverse)} == {"sleep", "speech"}
    assert ids(engine.related("mixed", k=5, knobs=RankingKnobs(mmr_lambda=1.0))) == ids(plain)
    # The breakdown shows why: the speech article repeats less of what is listed above it.
    assert plain[0].redundancy is None and diverse[0].redundancy is None
    assert diverse[1].redundancy is not None and plain[1].redundancy is not None
    assert diverse[1].redundancy < plain[1].redundancy


# -- threshold and fallback ------------------------------------------------------------------


def test_min_score_falls_back_to_featured_then_recent(engine: Engine) -> None:
    items = engine.related("sleep-0", k=6, knobs=RankingKnobs(min_score=0.95))
    assert len(items) == 6 and all(i.rule == "fallback" for i in items)
    featured = [i for i in items if i.article.featured]
    assert ids(items)[: len(featured)] == ids(featured)  # featured first...
    assert ids(featured)[0] == "sleep-2"  # ...the most relevant featured first
    recent = items[len(featured) :]
    assert recent and {topic_of(i) for i in ids(recent)} == {"sleep"}  # then its category
    dates = [i.article.published for i in recent]
    assert dates == sorted(dates, reverse=True)  # newest first
    assert items[0].to_json()["explanation"]["rule"] == "fallback"


def test_fallback_prefers_the_category(settings: Settings, tmp_path: Path) -> None:
    extra = [
        article("cat-q", "Question", "nothing in common here", categories=["Living"]),
        article(
            "cat-old",
            "Old",
            "unrelated words entirely",
            categories=["Living"],
            published="2020-01-01",
        ),
        article(
            "cat-new", "New", "other unrelated words", categories=["Living"], published="2024-01-01"
        ),
    ]
    engine = make_engine(settings, tmp_path / "c.jsonl", extra)
    items = engine.related("cat-q", k=6, knobs=RankingKnobs(min_score=0.99))
    assert ids(items)[-2:] == ["cat-new", "cat-old"]
    assert len(items) == 6


def test_passing_items_come_first_then_fallback(engine: Engine) -> None:
    items = engine.related("sleep-0", k=6, knobs=RankingKnobs(min_score=0.8))
    rules = [i.rule for i in items]
    assert rules[0] is None and "fallback" in rules
    assert rules == sorted(rules, key=lambda r: r is not None)  # passing ones lead
    assert all(i.score >= 0.8 for i in items if i.rule is None)


def test_fallback_off_leaves_short_lists(engine: Engine) -> None:
    assert engine.related("sleep-0", k=6, knobs=RankingKnobs(min_score=0.95, fallback=False)) == []


def test_request_min_score_is_a_hard_floor(engine: Engine) -> None:
    # The caller's min_score is never filled by the fallback (the knob's is).
    assert engine.related("sleep-0", k=5, filters=Filters(min_score=0.99)) == []


def test_featured_fallback_stays_featured(engine: Engine) -> None:
    items = engine.featured("sleep-0", k=3, knobs=RankingKnobs(min_score=0.95))
    assert len(items) == 3 and all(i.article.featured and i.rule == "fallback" for i in items)


# -- editorial rules -------------------------------------------------------------------------


def test_pins_take_their_position_without_reindex(engine: Engine) -> None:
    before = ids(engine.related("sleep-0", k=5))
    engine.set_article_rules(
        ArticleRules("sleep-0", pins=(Pin("speech-3", 2), Pin("swallow-1", 4))), EDITOR
    )
    items = engine.related("sleep-0", k=5)
    assert ids(items)[1] == "speech-3" and ids(items)[3] == "swallow-1"
    assert [i.rule for i in items] == [None, "pinned", None, "pinned", None]
    assert [ids(items)[i] for i in (0, 2, 4)] == before[:3]
    assert "speech-3" not in ids(engine.related("sleep-1", k=5))  # only under sleep-0


def test_pin_beyond_k_or_list_end(engine: Engine) -> None:
    engine.set_article_rules(ArticleRules("sleep-0", pins=(Pin("speech-3", 8),)), EDITOR)
    assert "speech-3" not in ids(engine.related("sleep-0", k=5))
    assert ids(engine.related("sleep-0", k=8))[7] == "speech-3"
    items = engine.related(
        "sleep-0",
        k=8,
        filters=Filters(tags=["sleep", "speech"]),
        knobs=RankingKnobs(fallback=False, min_score=0.5),
    )
    assert ids(items)[-1] == "speech-3"  # a short list: the pin goes last, never lost


def test_pins_of_unpublished_or_excluded_articles_are_skipped(
    settings: Settings, tmp_path: Path
) -> None:
    extra = [article("sleep-draft", "draft", TOPICS["sleep"], status="draft")]
    engine = make_engine(settings, tmp_path / "c.jsonl", extra)
    engine.set_article_rules(
        ArticleRules("sleep-0", pins=(Pin("sleep-draft", 1), Pin("speech-1", 2))), EDITOR
    )
    items = ids(engine.related("sleep-0", k=3))
    assert "sleep-draft" not in items and items[1] == "speech-1"
    assert "speech-1" not in ids(
        engine.related("sleep-0", k=3, filters=Filters(exclude=["speech-1"]))
    )
    engine.set_excludes(["speech-1"], EDITOR)
    assert "speech-1" not in ids(engine.related("sleep-0", k=3))


def test_blocks_and_excludes_never_appear(engine: Engine) -> None:
    top = ids(engine.related("sleep-0", k=2))
    engine.set_article_rules(ArticleRules("sleep-0", blocks=(top[0],)), EDITOR)
    assert top[0] not in ids(engine.related("sleep-0", k=50))
    assert top[0] in ids(engine.related("sleep-4", k=4))  # a block is per article
    engine.set_excludes([top[1]], EDITOR)
    for query in ("sleep-0", "sleep-4", "speech-0"):
        assert top[1] not in ids(engine.related(query, k=50))
    assert top[1] not in ids(engine.recommend_text("Snoring", TOPICS["sleep"], k=50).related)
    engine.set_excludes([], EDITOR)
    assert top[1] in ids(engine.related("sleep-4", k=4))


def test_featured_override(engine: Engine) -> None:
    assert "sleep-3" not in ids(engine.featured("sleep-0", k=10))
    engine.set_article_rules(ArticleRules("sleep-3", featured=True), EDITOR)
    engine.set_article_rules(ArticleRules("sleep-2", featured=False), EDITOR)
    items = engine.featured("sleep-0", k=10)
    assert ids(items)[0] == "sleep-3" and "sleep-2" not in ids(items)
    assert all(i.article.featured for i in items)
    related = {i.article.id: i for i in engine.related("sleep-0", k=4)}
    assert related["sleep-3"].article.featured is True
    assert related["sleep-2"].article.featured is False
    engine.clear_article_rules("sleep-3", EDITOR)
    assert "sleep-3" not in ids(engine.featured("sleep-0", k=10))


def test_rules_survive_a_restart(settings: Settings, tmp_path: Path) -> None:
    engine = make_engine(settings, tmp_path / "c.jsonl")
    engine.set_article_rules(
        ArticleRules("sleep-0", pins=(Pin("speech-3", 1),), blocks=("sleep-3",)), EDITOR
    )
    engine.set_excludes(["sleep-2"], EDITOR)
    restarted = Engine(settings, embedder=FakeEmbedder())  # a new process over the same files
    items = ids(restarted.related("sleep-0", k=5))
    assert items[0] == "speech-3" and not {"sleep-3", "sleep-2"} & set(items)
    assert restarted.rules_version == engine.rules_version > 0


def test_a_change_by_another_process_is_seen_on_the_next_call(
    engine: Engine, settings: Settings
) -> None:
    other = Engine(settings, embedder=FakeEmbedder())
    assert ids(engine.related("sleep-0", k=1)) == ["sleep-3"]
    other.set_article_rules(ArticleRules("sleep-0", pins=(Pin("speech-0", 1),)), "other")
    assert ids(engine.related("sleep-0", k=1)) == ["speech-0"]


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        (ArticleRules("sleep-0", pins=(Pin("sleep-0", 1),)), "pins.0.article_id"),
        (ArticleRules("sleep-0", pins=(Pin("ghost", 1),)), "pins.0.article_id"),
        (ArticleRules("sleep-0", pins=(Pin("sleep-1", 0),)), "pins.0.position"),
        (ArticleRules("sleep-0", pins=(Pin("sleep-1", 51),)), "pins.0.position"),
        (ArticleRules("sleep-0", pins=(Pin("sleep-1", 2), Pin("sleep-2", 2))), "pins.1.position"),
        (ArticleRules("sleep-0", pins=(Pin("sleep-1", 2), Pin("sleep-1", 3))), "pins.1.article_id"),
        (ArticleRules("sleep-0", blocks=("sleep-1", "ghost")), "blocks.1"),
        (ArticleRules("sleep-0", pins=(Pin("sleep-1", 2),), blocks=("sleep-1",)), "blocks.0"),
    ],
)
def test_invalid_rules_name_the_field(engine: Engine, rules: ArticleRules, field: str) -> None:
    with pytest.raises(InvalidRule) as caught:
        engine.set_article_rules(rules, EDITOR)
    assert caught.value.field == field
    assert engine.rules_version == 0  # nothing was written


def test_rules_for_unknown_articles(engine: Engine) -> None:
    with pytest.raises(ArticleNotFound):
        engine.set_article_rules(ArticleRules("ghost"), EDITOR)
    with pytest.raises(ArticleNotFound):
        engine.article_rules("ghost")
    with pytest.raises(InvalidRule) as caught:
        engine.set_excludes(["sleep-1", "ghost"], EDITOR)
    assert caught.value.field == "ids.1"


def test_every_change_is_audited(engine: Engine) -> None:
    engine.set_article_rules(
        ArticleRules("sleep-0", pins=(Pin("speech-3", 2),), blocks=("sleep-1",), featured=True),
        "alice",
    )
    engine.set_article_rules(ArticleRules("sleep-0", pins=(Pin("speech-3", 3),)), "bob")
    history = engine.rules.history("sleep-0")
    actions = [(e.who, e.action, e.target_id, e.detail) for e in reversed(history)]
    assert actions == [
        ("alice", "pin", "speech-3", "2"),
        ("alice", "block", "sleep-1", None),
        ("alice", "featured", "sleep-0", "on"),
        ("bob", "unpin", "speech-3", "2"),
        ("bob", "pin", "speech-3", "3"),
        ("bob", "unblock", "sleep-1", None),
        ("bob", "featured", "sleep-0", "cleared"),
    ]
    assert all(e.at for e in history)
    records = engine.rules.records("sleep-0")
    assert [(r.kind, r.target_id, r.value, r.who) for r in records] == [
        ("pin", "speech-3", 3, "bob")
    ]
