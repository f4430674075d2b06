"""Dates and freshness: future-dated feed items show at once, scheduled articles go
live by the clock (with the skew tolerance) and caches follow, and between an API
write and a reindex the newest version wins. The clock is a fake one moved by the
tests: nothing sleeps."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from recommender import Article, Engine, RankingKnobs, Settings
from recommender.live import LIVE_FILE, LiveStore
from recommender.pipeline import build_index
from recommender.rules import ArticleRules, Pin
from service import create_app

from .conftest import TOPICS, topic_records
from .fakes import FakeClock, FakeEmbedder

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SKEW = 300  # the default RECOMMENDER_CLOCK_SKEW_SECONDS
PROBE_TITLE = "Snoring clinic opens"
KEY = "schedule-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def wp_date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# -- sources holding one sleep article dated relative to NOW (each returns its id) -------


def rss_item(folder: Path, when: datetime) -> str:
    (folder / "feed.rss").write_text(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Clinic news</title><link>https://clinic.example</link>
<item><title>{PROBE_TITLE}</title><guid isPermaLink="false">sleep-probe</guid>
<link>https://clinic.example/sleep-probe</link>
<pubDate>{format_datetime(when)}</pubDate>
<description>{TOPICS["sleep"]}</description></item>
</channel></rss>
""",
        encoding="utf-8",
    )
    return "sleep-probe"


def atom_entry(folder: Path, when: datetime) -> str:
    (folder / "feed.atom").write_text(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Clinic</title><id>urn:clinic</id>
<updated>{iso(when)}</updated>
<entry><title>{PROBE_TITLE}</title><id>urn:sleep-probe</id>
<link rel="alternate" href="https://clinic.example/sleep-probe"/>
<published>{iso(when)}</published><updated>{iso(when)}</updated>
<content type="text">{TOPICS["sleep"]}</content></entry>
</feed>
""",
        encoding="utf-8",
    )
    return "urn:sleep-probe"


def wordpress_post(status: str) -> Callable[[Path, datetime], str]:
    def write(folder: Path, when: datetime) -> str:
        (folder / "export.xml").write_text(
            f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
    xmlns:wp="http://wordpress.org/export/1.2/">
<channel><title>Clinic</title><wp:wxr_version>1.2</wp:wxr_version>
<item><title>{PROBE_TITLE}</title><link>https://clinic.example/?p=501</link>
<content:encoded><![CDATA[<p>{TOPICS["sleep"]}</p>]]></content:encoded>
<wp:post_id>501</wp:post_id>
<wp:post_date>{wp_date(when + timedelta(hours=1))}</wp:post_date>
<wp:post_date_gmt>{wp_date(when)}</wp:post_date_gmt>
<wp:status>{status}</wp:status><wp:post_type>post</wp:post_type></item>
</channel></rss>
""",
            encoding="utf-8",
        )
        return "501"

    return write


def jsonl_record(status: str | None) -> Callable[[Path, datetime], str]:
    def write(folder: Path, when: datetime) -> str:
        record = {"id": "sleep-probe", "title": PROBE_TITLE, "body": TOPICS["sleep"]}
        record |= {"published": iso(when)} | ({"status": status} if status else {})
        (folder / "probe.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
        return "sleep-probe"

    return write


def csv_row(folder: Path, when: datetime) -> str:
    (folder / "probe.csv").write_text(
        f"id,title,body,published,status\nsleep-probe,{PROBE_TITLE},{TOPICS['sleep']},"
        f"{iso(when)},scheduled\n",
        encoding="utf-8",
    )
    return "sleep-probe"


def front_matter(folder: Path, when: datetime) -> str:
    pages = folder / "pages"
    pages.mkdir()
    (pages / "probe.md").write_text(
        f"---\nid: sleep-probe\ntitle: {PROBE_TITLE}\npublished: {iso(when)}\n"
        f"status: scheduled\n---\n{TOPICS['sleep']}\n",
        encoding="utf-8",
    )
    return "sleep-probe"


def build(
    settings: Settings, folder: Path, probe: Callable[[Path, datetime], str], when: datetime
) -> tuple[Engine, FakeClock, str]:
    """An engine over the topic corpus plus the probe source, on a fake clock at NOW."""
    topics = folder / "topics.jsonl"
    topics.write_text("".join(json.dumps(r) + "\n" for r in topic_records()), encoding="utf-8")
    probe_id = probe(folder, when)
    sources = [topics, *(p for p in folder.iterdir() if p.name != "topics.jsonl")]
    embedder = FakeEmbedder()
    report = build_index(sources, settings, embedder)
    assert report.indexed == 21 and not report.rejected, report.rejected
    clock = FakeClock(NOW)
    return Engine(settings, embedder=embedder, now=clock), clock, probe_id


def related_ids(engine: Engine) -> list[str]:
    return [item.article.id for item in engine.related("sleep-0", k=50)]


# -- visibility at injected times ----------------------------------------------------------

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
SECOND = timedelta(seconds=1)

# (source, its date relative to NOW, [(clock relative to NOW, probe visible?)])
FUTURE_DATES: dict[str, tuple[Callable[[Path, datetime], str], timedelta, list[Any]]] = {
    # Live feed content dated ahead of the clock (a time-zone slip) shows at once.
    "rss item 3 hours ahead": (rss_item, 3 * HOUR, [(0 * HOUR, True), (4 * HOUR, True)]),
    "atom entry 4 days ahead": (atom_entry, 4 * DAY, [(0 * HOUR, True)]),
    "published JSONL 2 days ahead": (jsonl_record(None), 2 * DAY, [(0 * HOUR, True)]),
    "WordPress publish 3 hours ahead": (wordpress_post("publish"), 3 * HOUR, [(0 * HOUR, True)]),
    # Scheduled articles wait for their time, less the skew tolerance.
    "WordPress future post": (
        wordpress_post("future"),
        2 * HOUR,
        [
            (0 * HOUR, False),
            (2 * HOUR - (SKEW + 1) * SECOND, False),
            (2 * HOUR - SKEW * SECOND, True),
            (3 * HOUR, True),
        ],
    ),
    "scheduled JSONL": (
        jsonl_record("scheduled"),
        DAY,
        [(0 * HOUR, False), (DAY - (SKEW + 1) * SECOND, False), (DAY - SKEW * SECOND, True)],
    ),
    "scheduled CSV": (csv_row, 6 * HOUR, [(5 * HOUR, False), (6 * HOUR, True)]),
    "scheduled front matter": (front_matter, 10 * DAY, [(9 * DAY, False), (10 * DAY, True)]),
    "scheduled in the past": (jsonl_record("scheduled"), -DAY, [(0 * HOUR, True)]),
}


@pytest.mark.parametrize("kind", list(FUTURE_DATES))
def test_future_dates_are_hidden_only_when_scheduled(
    settings: Settings, tmp_path: Path, kind: str
) -> None:
    probe, dated, checks = FUTURE_DATES[kind]
    engine, clock, probe_id = build(settings, tmp_path, probe, NOW + dated)
    article = engine.article(probe_id)
    assert article.published == NOW + dated
    expected_status = "scheduled" if "future" in kind or "scheduled" in kind else "published"
    assert article.status == expected_status
    seen = []
    for offset, _ in checks:
        clock.set(NOW + offset)
        seen.append((offset, probe_id in related_ids(engine)))
    assert seen == checks


def test_scheduled_article_is_hidden_everywhere_until_due(
    settings: Settings, tmp_path: Path
) -> None:
    """Featured lists, pins and the fallback follow the same rule as related lists."""
    probe = tmp_path / "probe.jsonl"
    probe.write_text(
        json.dumps(
            {
                "id": "sleep-probe",
                "title": PROBE_TITLE,
                "body": TOPICS["sleep"],
                "published": iso(NOW + HOUR),
                "status": "scheduled",
                "featured": True,
                "tags": ["sleep"],
            }
        )
        + "\n"
    )
    topics = tmp_path / "topics.jsonl"
    topics.write_text("".join(json.dumps(r) + "\n" for r in topic_records()))
    embedder = FakeEmbedder()
    # Nothing reaches the minimum score: lists are pins and fallback items only.
    settings = settings.replace(min_score=0.99)
    build_index([topics, probe], settings, embedder)
    clock = FakeClock(NOW)
    engine = Engine(settings, embedder=embedder, now=clock)
    engine.set_article_rules(ArticleRules("sleep-0", (Pin("sleep-probe", 1),), (), None), "test")

    def shown() -> tuple[bool, bool, bool]:
        related = [i.article.id for i in engine.related("sleep-0", k=5)]
        featured = [i.article.id for i in engine.featured("sleep-0", k=5)]
        fallback = [i.article.id for i in engine.related("speech-0", k=20)]
        return "sleep-probe" in related, "sleep-probe" in featured, "sleep-probe" in fallback

    assert shown() == (False, False, False)
    clock.set(NOW + HOUR - SKEW * SECOND)
    assert shown() == (True, True, True)
    assert engine.related("sleep-0", k=5)[0].article.id == "sleep-probe"  # the pin


def test_future_dated_candidate_never_gets_a_recency_bonus(
    settings: Settings, tmp_path: Path
) -> None:
    engine, _, probe_id = build(settings, tmp_path, jsonl_record(None), NOW + 2 * DAY)
    knobs = RankingKnobs(recency_half_life_days=30)
    items = {i.article.id: i for i in engine.related("sleep-4", k=50, knobs=knobs)}
    # sleep-4 is from 2025-05-14: the probe, dated long after it (and after the clock),
    # counts as brand new (1.0), never as a "negative age" above 1; older ones decay.
    assert items[probe_id].recency == 1.0
    assert items["sleep-3"].recency == pytest.approx(0.5 ** (31 / 30))  # 2025-04-13
    assert all(0 < i.recency <= 1.0 for i in items.values())
    # A future-dated article asked about works as a query as well.
    assert [i.article.id for i in engine.related(probe_id, k=50, knobs=knobs)]


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        ({"status": "scheduled"}, "status", "a scheduled article needs a published time"),
        ({"status": "later"}, "status", "Input should be 'published', 'draft' or 'scheduled'"),
    ],
)
def test_scheduled_needs_a_date(
    write_jsonl: Callable[..., Path], record: dict[str, Any], field: str, reason: str
) -> None:
    from recommender.corpus import load_corpus

    good = {"id": "fine", "title": "T", "body": "b"}
    loaded = load_corpus([write_jsonl([{"id": "bad", "title": "T", "body": "b", **record}, good])])
    assert [a.id for a in loaded.articles] == ["fine"]
    (rejection,) = loaded.rejections
    assert (rejection.line, rejection.field) == (1, field)
    assert rejection.reason.startswith(reason), rejection.reason


# -- caches follow the clock ----------------------------------------------------------------


@pytest.fixture
def scheduled_app(settings: Settings, tmp_path: Path) -> tuple[FlaskClient, FakeClock]:
    """The API over the topic corpus plus an article scheduled 330 s after NOW: with the
    300 s tolerance it goes live 30 s after NOW."""
    settings = settings.replace(api_keys=KEY)
    engine, clock, _ = build(
        settings, tmp_path, jsonl_record("scheduled"), NOW + (30 + SKEW) * SECOND
    )
    app = create_app(engine=engine)
    app.testing = True
    return app.test_client(), clock


def test_etag_and_max_age_change_when_a_scheduled_article_goes_live(
    scheduled_app: tuple[FlaskClient, FakeClock],
) -> None:
    client, clock = scheduled_app
    url = "/v1/articles/sleep-0/related?k=50"
    before = client.get(url)
    assert "sleep-probe" not in [i["id"] for i in before.get_json()["items"]]
    # No cache may keep this answer past the moment the article goes live.
    assert before.headers["Cache-Control"] == "public, max-age=30"
    clock.advance(seconds=20)
    again = client.get(url, headers={"If-None-Match": before.headers["ETag"]})
    assert again.status_code == 304 and again.headers["Cache-Control"] == "public, max-age=10"
    clock.advance(seconds=10)  # due now: nothing was written, the index version is the same
    after = client.get(url, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.headers["ETag"] != before.headers["ETag"]
    assert "sleep-probe" in [i["id"] for i in after.get_json()["items"]]
    assert after.headers["Cache-Control"] == "public, max-age=60"  # nothing else is waiting
    assert after.get_json() != before.get_json()


@pytest.mark.parametrize(
    "url",
    [
        "/v1/articles/sleep-0/featured",
        "/v1/articles/sleep-0/recommendations",
        "/v1/articles?limit=5",
        "/v1/articles/sleep-probe",
    ],
)
def test_every_cached_route_follows_the_schedule(
    scheduled_app: tuple[FlaskClient, FakeClock], url: str
) -> None:
    client, clock = scheduled_app
    before = client.get(url)
    assert before.status_code == 200
    assert before.headers["Cache-Control"] == "public, max-age=30"
    clock.advance(seconds=30)
    after = client.get(url, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.headers["ETag"] != before.headers["ETag"]


def test_status_and_listing_show_scheduled(
    scheduled_app: tuple[FlaskClient, FakeClock],
) -> None:
    client, _ = scheduled_app
    listing = client.get("/v1/articles?status=scheduled").get_json()
    assert [i["id"] for i in listing["items"]] == ["sleep-probe"]
    assert listing["items"][0]["status"] == "scheduled"
    written = client.put(
        "/v1/articles/sleep-later",
        json={"title": "Later", "body": TOPICS["sleep"], "status": "scheduled"},
        headers=AUTH,
    )
    assert written.status_code == 422 and written.get_json()["field"] == "status"
    written = client.put(
        "/v1/articles/sleep-later",
        json={
            "title": "Later",
            "body": TOPICS["sleep"],
            "status": "scheduled",
            "published": iso(NOW + DAY),
        },
        headers=AUTH,
    )
    assert written.status_code == 201
    ids = [i["id"] for i in client.get("/v1/articles/sleep-0/related?k=50").get_json()["items"]]
    assert "sleep-later" not in ids


# -- newest wins between API writes and reindexes -------------------------------------------


def corpus_record(title: str, **dates: str) -> dict[str, Any]:
    return {"id": "sleep-1", "title": title, "body": TOPICS["sleep"], **dates}


# (the corpus's sleep-1 at the reindex, the PUT body's dates, the title served after it)
ORDERINGS = {
    "upsert newer than corpus": ({"updated": "2025-05-01"}, {"updated": "2025-06-01"}, "API"),
    "corpus newer than upsert": ({"updated": "2025-07-01"}, {"updated": "2025-06-01"}, "Corpus"),
    "corpus without dates": ({}, {"updated": "2025-06-01"}, "API"),
    "equal dates": ({"updated": "2025-06-01"}, {"updated": "2025-06-01"}, "API"),
    "corpus published (no updated) newer": (
        {"published": "2025-07-01"},
        {"updated": "2025-06-01"},
        "Corpus",
    ),
    "upsert without updated, corpus later than the PUT": (
        {"updated": iso(NOW + HOUR)},
        {},
        "Corpus",
    ),
    "upsert without updated, corpus earlier than the PUT": (
        {"updated": iso(NOW - HOUR)},
        {},
        "API",
    ),
}


@pytest.mark.parametrize("case", list(ORDERINGS))
def test_newest_wins_between_put_and_reindex(
    settings: Settings, write_jsonl: Callable[..., Path], case: str
) -> None:
    corpus_dates, put_dates, winner = ORDERINGS[case]
    records = [r for r in topic_records() if r["id"] != "sleep-1"]
    embedder = FakeEmbedder()
    build_index([write_jsonl([*records, corpus_record("Old")], "a.jsonl")], settings, embedder)
    clock = FakeClock(NOW)
    engine = Engine(settings, embedder=embedder, now=clock)
    put = {"id": "sleep-1", "title": "API", "body": TOPICS["sleep"], **put_dates}
    engine.upsert(Article.from_record(put))
    assert engine.article("sleep-1").title == "API"
    clock.advance(minutes=5)  # the reindex comes later
    new_corpus = [*records, corpus_record("Corpus", **corpus_dates)]
    build_index([write_jsonl(new_corpus, "b.jsonl")], settings, embedder)
    engine.reload()
    assert engine.article("sleep-1").title == winner
    assert engine.list_articles(limit=50).total == 20  # one sleep-1, never two
    related = [i.article for i in engine.related("sleep-0", k=50)]
    assert [a.title for a in related if a.id == "sleep-1"] == [winner]
    # The publish dropped an upsert the corpus outdated, and kept one in force.
    upserts = LiveStore(settings.index_dir / LIVE_FILE).load().upserts
    assert ("sleep-1" in upserts) == (winner == "API")


@pytest.mark.parametrize(
    ("corpus_dates", "upsert_updated", "served"),
    [
        ({"updated": "2025-07-01"}, "2025-06-01", "Corpus"),
        ({"published": "2025-07-01"}, "2025-06-01", "Corpus"),
        ({"updated": "2025-05-01"}, "2025-06-01", "API"),
        ({}, "2025-06-01", "API"),
    ],
)
def test_serve_time_rule_without_a_publish(
    settings: Settings,
    write_jsonl: Callable[..., Path],
    corpus_dates: dict[str, str],
    upsert_updated: str,
    served: str,
) -> None:
    """A live change older than the published corpus is not served even before the next
    publish drops it (e.g. written by an older server, or during the reindex)."""
    records = [r for r in topic_records() if r["id"] != "sleep-1"]
    embedder = FakeEmbedder()
    source = write_jsonl([*records, corpus_record("Corpus", **corpus_dates)])
    build_index([source], settings, embedder)
    stale = Article.from_record(
        {"id": "sleep-1", "title": "API", "body": TOPICS["sleep"], "updated": upsert_updated}
    )
    store = LiveStore(settings.index_dir / LIVE_FILE, now=FakeClock(NOW))
    store.upsert(stale, embedder.encode([TOPICS["sleep"]])[0], embedder.model_id)
    engine = Engine(settings, embedder=embedder, now=FakeClock(NOW))
    assert engine.article("sleep-1").title == served
    titles = [i.article.title for i in engine.related("sleep-0", k=50) if i.article.id == "sleep-1"]
    assert titles == [served]


def test_put_older_than_the_served_version_is_refused(
    settings: Settings, write_jsonl: Callable[..., Path]
) -> None:
    records = [r for r in topic_records() if r["id"] != "sleep-1"]
    source = write_jsonl([*records, corpus_record("Corpus", updated="2025-07-01T08:00:00Z")])
    embedder = FakeEmbedder()
    build_index([source], settings.replace(api_keys=KEY), embedder)
    engine = Engine(settings.replace(api_keys=KEY), embedder=embedder, now=FakeClock(NOW))
    client = create_app(engine=engine).test_client()
    old = {"title": "API", "body": TOPICS["sleep"], "updated": "2025-06-01"}
    refused = client.put("/v1/articles/sleep-1", json=old, headers=AUTH)
    assert refused.status_code == 409
    problem = refused.get_json()
    assert problem["type"] == "/problems/stale-version"
    assert (problem["field"], problem["article_id"]) == ("updated", "sleep-1")
    assert problem["detail"] == (
        "the index serves a newer version of 'sleep-1' (of 2025-07-01T08:00:00+00:00) than "
        "this one (of 2025-06-01T00:00:00+00:00); send a later `updated` to replace it"
    )
    assert client.get("/v1/articles/sleep-1").get_json()["title"] == "Corpus"
    # An equal or later version is accepted, and so is one without `updated`: the
    # time of the request (NOW, 2026) counts. Between two writes the rule is the same.
    steps = [
        ({"title": "Equal", "updated": "2025-07-01T08:00:00Z"}, 200, "Equal"),
        ({"title": "August", "updated": "2025-08-01"}, 200, "August"),
        ({"title": "July", "updated": "2025-07-15"}, 409, "August"),
        ({"title": "Undated"}, 200, "Undated"),
        ({"title": "September", "updated": "2025-09-01"}, 409, "Undated"),
    ]
    for change, status, served in steps:
        body = {"body": TOPICS["sleep"], **change}
        assert client.put("/v1/articles/sleep-1", json=body, headers=AUTH).status_code == status
        assert client.get("/v1/articles/sleep-1").get_json()["title"] == served
