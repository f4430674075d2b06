"""Thumbnails: an article's ``image`` read from every source format, kept through the
snapshot and the live layer, and returned by the API."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from recommender import Engine, Settings
from recommender.articles import Article
from recommender.corpus import Rejection, load_corpus
from recommender.pipeline import build_index
from service.schemas import IMAGE_DESCRIPTION

from .conftest import article, topic_records
from .fakes import FakeEmbedder
from .test_api import AUTH, assert_problem, make_app
from .test_feeds import WXR_HEAD, WXR_TAIL, item_line, write, wxr_item

PICTURE = "https://cdn.example.org/uploads/2025/03/walking.jpg"

# An image that is not an absolute http(s) URL, and why validation says so.
BAD_IMAGES = [
    ("ftp://cdn.example.org/a.jpg", "it does not start with http:// or https://"),
    ("/uploads/a.jpg", "it does not start with http:// or https://"),
    ("javascript:alert(1)", "it does not start with http:// or https://"),
    ("data:image/png;base64,iVBORw0KGgo=", "it does not start with http:// or https://"),
    ("https:/cdn.example.org/a.jpg", "it does not start with http:// or https://"),
    ("http://", "Input should be a valid URL, empty host"),
    ("https://cdn.example.org/a b.jpg", "it holds whitespace (write spaces as %20)"),
]


def bad_reason(value: str, why: str) -> str:
    return f"{value!r} is not an absolute http(s) URL: {why}"


# -- the field -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (PICTURE, PICTURE),
        ("http://example.org/a.png?w=320&h=180", "http://example.org/a.png?w=320&h=180"),
        ("  HTTPS://Example.org/A.PNG ", "HTTPS://Example.org/A.PNG"),  # stripped, not rewritten
        ("https://example.org", "https://example.org"),  # no "/" added
    ],
)
def test_an_http_image_is_kept_as_written(given: str, kept: str) -> None:
    found = Article.from_record(article("a", "Title", "Body.", image=given))
    assert found.image == kept
    assert found.to_json()["image"] == kept


def test_an_image_longer_than_2048_characters_is_refused(tmp_path: Path) -> None:
    long = "https://example.org/" + "a" * 2029
    path = write(tmp_path / "long.jsonl", json.dumps(article("a", "T", "B.", image=long)) + "\n")
    assert load_corpus([path]).rejections == [
        Rejection(str(path), 1, "image", "longer than 2048 characters")
    ]


def test_an_article_stored_before_images_loads_without_one_and_keeps_its_hash() -> None:
    stored = Article.from_record(article("a", "Title", "Body.", tags=["x"])).to_json()
    del stored["image"]  # as code older than the field wrote it
    old_hash = hashlib.sha256(
        json.dumps(stored, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    loaded = Article.from_stored(stored)
    assert loaded.image is None
    # Unchanged articles stay unchanged for a reindex (their hash covers no image).
    assert loaded.content_hash() == old_hash
    with_image = loaded.model_copy(update={"image": PICTURE})
    assert with_image.content_hash() != old_hash


def test_a_reindex_sees_an_image_as_a_change_of_that_article_alone(
    settings: Settings, write_jsonl: Callable[..., Path]
) -> None:
    records = topic_records()
    build_index([write_jsonl(records)], settings, FakeEmbedder())
    records[0] = {**records[0], "image": PICTURE}
    report = build_index([write_jsonl(records)], settings, FakeEmbedder())
    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 1, 0, 19)
    stored = Engine(settings, embedder=FakeEmbedder()).article(records[0]["id"])
    assert stored.image == PICTURE


# -- sources with a column or front matter field: a bad image rejects the record ------------


@pytest.mark.parametrize(("value", "why"), BAD_IMAGES)
def test_jsonl_rows_name_line_and_field_of_a_bad_image(
    tmp_path: Path, value: str, why: str
) -> None:
    rows = [
        article("good", "Good", "Body.", image=PICTURE),
        article("none", "None", "Body."),
        article("null", "Null", "Body.", image=None),
        article("bad", "Bad", "Body.", image=value),
    ]
    path = write(tmp_path / "c.jsonl", "".join(json.dumps(row) + "\n" for row in rows))
    loaded = load_corpus([path])
    assert [(a.id, a.image) for a in loaded.articles] == [
        ("good", PICTURE),
        ("none", None),
        ("null", None),
    ]
    assert loaded.rejections == [Rejection(str(path), 4, "image", bad_reason(value, why))]


@pytest.mark.parametrize(("value", "why"), BAD_IMAGES)
def test_csv_rows_name_line_and_field_of_a_bad_image(tmp_path: Path, value: str, why: str) -> None:
    text = (
        "id,title,body,image\n"
        f"good,Good,Body.,{PICTURE}\n"
        "empty,Empty,Body.,\n"  # an empty cell: no image
        f'bad,Bad,Body.,"{value}"\n'
    )
    path = write(tmp_path / "c.csv", text)
    loaded = load_corpus([path])
    assert [(a.id, a.image) for a in loaded.articles] == [("good", PICTURE), ("empty", None)]
    assert loaded.rejections == [Rejection(str(path), 4, "image", bad_reason(value, why))]


@pytest.mark.parametrize(
    ("front", "image", "rejection"),
    [
        (f"image: {PICTURE}\n", PICTURE, None),
        (f"image: '{PICTURE}'\n", PICTURE, None),
        ("image:\n", None, None),  # an empty value: not given
        ("", None, None),
        ("image: /uploads/a.jpg\n", None, (4, bad_reason("/uploads/a.jpg", BAD_IMAGES[1][1]))),
        ("image: 2024\n", None, (4, bad_reason("2024", BAD_IMAGES[1][1]))),  # text as written
        (f"image: [{PICTURE}]\n", None, (4, "expected text, found a list")),
    ],
)
def test_markdown_front_matter_image(
    tmp_path: Path, front: str, image: str | None, rejection: tuple[int, str] | None
) -> None:
    path = write(tmp_path / "a.md", f"---\nid: a\ntitle: Walking\n{front}---\nBody text.\n")
    loaded = load_corpus([path])
    if rejection is None:
        assert [(a.id, a.image) for a in loaded.articles] == [("a", image)]
        assert loaded.rejections == []
    else:
        assert loaded.articles == []
        assert loaded.rejections == [Rejection(str(path), rejection[0], "image", rejection[1])]


def test_parquet_image_column(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table(
        {
            "id": ["good", "null", "bad"],
            "title": ["Good", "Null", "Bad"],
            "body": ["Body.", "Body.", "Body."],
            "image": [PICTURE, None, "ftp://cdn.example.org/a.jpg"],
        }
    )
    path = tmp_path / "c.parquet"
    pq.write_table(table, path)
    loaded = load_corpus([path])
    assert [(a.id, a.image) for a in loaded.articles] == [("good", PICTURE), ("null", None)]
    reason = bad_reason("ftp://cdn.example.org/a.jpg", BAD_IMAGES[0][1])
    assert loaded.rejections == [Rejection(str(path), 3, "image", reason)]


# -- WordPress: the featured image is the post's _thumbnail_id attachment -----------------


def with_meta(item: str, key: str, value: str) -> str:
    """``item`` with one more postmeta entry."""
    meta = (
        "    <wp:postmeta>\n"
        f"      <wp:meta_key><![CDATA[{key}]]></wp:meta_key>\n"
        f"      <wp:meta_value><![CDATA[{value}]]></wp:meta_value>\n"
        "    </wp:postmeta>\n"
    )
    return item.replace("  </item>\n", meta + "  </item>\n")


def post(post_id: int, thumbnail_id: int | None) -> str:
    item = wxr_item(post_id, f"Post {post_id}")
    return item if thumbnail_id is None else with_meta(item, "_thumbnail_id", str(thumbnail_id))


def attachment(post_id: int, url: str | None, guid: str | None = None) -> str:
    """An attachment item: its ``wp:attachment_url`` (left out when None) and guid."""
    item = wxr_item(post_id, f"photo-{post_id}.jpg", post_type="attachment", status="inherit")
    item = item.replace(
        f'<guid isPermaLink="false">https://news.example.org/?p={post_id}</guid>',
        f'<guid isPermaLink="false">{guid or ""}</guid>',
    )
    if url is not None:
        line = f"    <wp:attachment_url><![CDATA[{url}]]></wp:attachment_url>\n"
        item = item.replace("  </item>\n", line + "  </item>\n")
    return item


UPLOADS = "https://news.example.org/wp-content/uploads/2025/03/"


def test_wordpress_featured_images_resolve_before_and_after_the_post(tmp_path: Path) -> None:
    text = (
        WXR_HEAD
        + attachment(90, UPLOADS + "before.jpg")  # before its post
        + post(11, thumbnail_id=90)
        + post(12, thumbnail_id=91)  # its attachment comes later in the file
        + post(13, thumbnail_id=99)  # no such attachment
        + post(14, thumbnail_id=None)
        + post(15, thumbnail_id=92)  # attachment_url is not http(s): the guid is used
        + post(16, thumbnail_id=93)  # neither is http(s)
        + post(17, thumbnail_id=90)  # two posts may share one image
        + attachment(91, UPLOADS + "after.jpg")
        + attachment(92, "/wp-content/uploads/relative.jpg", guid=UPLOADS + "from-guid.jpg")
        + attachment(93, "file:///srv/uploads/local.jpg", guid="local.jpg")
        + WXR_TAIL
    )
    loaded = load_corpus([write(tmp_path / "export.xml", text)])
    assert loaded.rejections == []
    # Attachments are never articles; every post is one, with or without its image.
    assert [(a.id, a.image) for a in loaded.articles] == [
        ("11", UPLOADS + "before.jpg"),
        ("12", UPLOADS + "after.jpg"),
        ("13", None),
        ("14", None),
        ("15", UPLOADS + "from-guid.jpg"),
        ("16", None),
        ("17", UPLOADS + "before.jpg"),
    ]
    assert "image" not in loaded.articles[0].extra


def test_wordpress_image_of_a_rejected_post_does_not_move_its_line(tmp_path: Path) -> None:
    bad = with_meta(wxr_item(19, "", body="<p>No title.</p>"), "_thumbnail_id", "90")
    text = WXR_HEAD + attachment(90, UPLOADS + "a.jpg") + bad + WXR_TAIL
    path = write(tmp_path / "export.xml", text)
    loaded = load_corpus([path])
    assert loaded.articles == []
    assert [(r.line, r.field) for r in loaded.rejections] == [(item_line(text, 19), "title")]


# -- feeds: media:thumbnail, media:content, image enclosures -------------------------------

RSS_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
<channel>
  <title>Rehab News</title>
  <link>https://news.example.org/</link>
  <description>News.</description>
"""
IMG = "https://news.example.org/img/"


def rss_item(guid: str, media: str) -> str:
    return (
        f"  <item>\n    <guid>{guid}</guid>\n    <title>Item {guid}</title>\n"
        f"    <description>Body of {guid}.</description>\n{media}  </item>\n"
    )


def test_rss_feed_images(tmp_path: Path) -> None:
    items = [
        rss_item(
            "thumbnail",
            f'    <media:thumbnail url="{IMG}t.jpg" width="160" height="90"/>\n'
            f'    <media:content url="{IMG}c.jpg" medium="image"/>\n',
        ),
        rss_item("content-medium", f'    <media:content url="{IMG}m.jpg" medium="image"/>\n'),
        rss_item(
            "content-type",  # the video comes first, but is not an image
            f'    <media:content url="{IMG}v.mp4" type="video/mp4"/>\n'
            f'    <media:content url="{IMG}p.png" type="image/png"/>\n',
        ),
        rss_item("untyped-content", f'    <media:content url="{IMG}u.jpg"/>\n'),
        rss_item(
            "enclosure",
            f'    <enclosure url="{IMG}e.mp3" type="audio/mpeg" length="1"/>\n'
            f'    <enclosure url="{IMG}e.jpg" type="image/jpeg" length="1"/>\n',
        ),
        rss_item(
            "group",
            f'    <media:group><media:content url="{IMG}g.jpg" medium="image"/></media:group>\n',
        ),
        rss_item(
            "bad-then-good",  # a thumbnail that is not http(s) gives way to the next image
            '    <media:thumbnail url="ftp://news.example.org/t.jpg"/>\n'
            f'    <enclosure url="{IMG}fallback.jpg" type="image/jpeg" length="1"/>\n',
        ),
        rss_item(
            "only-bad",  # left out, the article kept
            '    <media:thumbnail url="javascript:alert(1)"/>\n'
            '    <media:content url="/img/relative.jpg" medium="image"/>\n',
        ),
        rss_item("none", ""),
    ]
    path = write(tmp_path / "feed.rss", RSS_HEAD + "".join(items) + "</channel>\n</rss>\n")
    loaded = load_corpus([path])
    assert loaded.rejections == []
    assert [(a.id, a.image) for a in loaded.articles] == [
        ("thumbnail", IMG + "t.jpg"),
        ("content-medium", IMG + "m.jpg"),
        ("content-type", IMG + "p.png"),
        ("untyped-content", None),
        ("enclosure", IMG + "e.jpg"),
        ("group", IMG + "g.jpg"),
        ("bad-then-good", IMG + "fallback.jpg"),
        ("only-bad", None),
        ("none", None),
    ]


ATOM_ENTRY = """  <entry>
    <id>{id}</id>
    <title>Entry {id}</title>
    <updated>2025-02-03T00:00:00Z</updated>
    <content>Body of {id}.</content>
{media}  </entry>
"""


def test_atom_feed_images(tmp_path: Path) -> None:
    entries = [
        ("link-enclosure", f'    <link rel="enclosure" type="image/png" href="{IMG}a.png"/>\n'),
        ("audio-enclosure", f'    <link rel="enclosure" type="audio/mpeg" href="{IMG}a.mp3"/>\n'),
        ("thumbnail", f'    <media:thumbnail url="{IMG}t.png"/>\n'),
        ("relative", '    <link rel="enclosure" type="image/png" href="/img/r.png"/>\n'),
    ]
    text = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">\n'
        "  <title>Rehab News</title>\n  <id>urn:feed</id>\n"
        "  <updated>2025-02-03T00:00:00Z</updated>\n"
        + "".join(ATOM_ENTRY.format(id=name, media=media) for name, media in entries)
        + "</feed>\n"
    )
    loaded = load_corpus([write(tmp_path / "feed.atom", text)])
    assert loaded.rejections == []
    assert [(a.id, a.image) for a in loaded.articles] == [
        ("link-enclosure", IMG + "a.png"),
        ("audio-enclosure", None),
        ("thumbnail", IMG + "t.png"),
        ("relative", None),
    ]


# -- through the snapshot, the live layer and the API --------------------------------------


@pytest.fixture
def client(settings: Settings, write_jsonl: Callable[..., Path]) -> FlaskClient:
    """The API over the topic corpus, where the speech articles have images."""
    records = [
        {**record, "image": f"{IMG}{record['id']}.jpg"}
        if record["id"].startswith("speech")
        else record
        for record in topic_records()
    ]
    return make_app(settings, write_jsonl(records)).test_client()


def images(items: list[dict[str, Any]]) -> dict[str, str | None]:
    return {item["id"]: item["image"] for item in items}


def test_items_carry_the_image_or_null(client: FlaskClient) -> None:
    related = client.get("/v1/articles/speech-0/related?k=4").get_json()["items"]
    assert images(related) == {f"speech-{i}": f"{IMG}speech-{i}.jpg" for i in range(1, 5)}
    both = client.get("/v1/articles/sleep-0/recommendations?k=4").get_json()
    assert images(both["related"]) == {f"sleep-{i}": None for i in range(1, 5)}
    assert images(both["featured"]) == {
        f"{topic}-2": f"{IMG}speech-2.jpg" if topic == "speech" else None
        for topic in ("spasticity", "speech", "swallow")
    }


def test_articles_carry_the_image_or_null(client: FlaskClient) -> None:
    assert client.get("/v1/articles/speech-3").get_json()["image"] == f"{IMG}speech-3.jpg"
    assert client.get("/v1/articles/sleep-3").get_json()["image"] is None
    listing = client.get("/v1/articles?tag=speech&limit=2").get_json()["items"]
    assert [item["image"] for item in listing] == [f"{IMG}speech-4.jpg", f"{IMG}speech-3.jpg"]


def test_a_put_image_is_served_and_replaced(client: FlaskClient) -> None:
    body = {"title": "Naming practice", "body": "aphasia naming words speech therapist"}
    put = client.put("/v1/articles/new", json={**body, "image": PICTURE}, headers=AUTH)
    assert put.status_code == 201
    assert client.get("/v1/articles/new").get_json()["image"] == PICTURE
    related = client.get("/v1/articles/speech-0/related?k=5").get_json()["items"]
    assert images(related)["new"] == PICTURE
    assert client.put("/v1/articles/new", json=body, headers=AUTH).status_code == 200
    assert client.get("/v1/articles/new").get_json()["image"] is None


@pytest.mark.parametrize(("value", "why"), BAD_IMAGES)
def test_a_put_with_a_bad_image_is_a_422_naming_it(
    client: FlaskClient, value: str, why: str
) -> None:
    body = {"title": "Naming practice", "body": "aphasia naming words", "image": value}
    problem = assert_problem(client.put("/v1/articles/new", json=body, headers=AUTH), 422)
    assert problem["field"] == "image"
    assert problem["detail"] == f"image: {bad_reason(value, why)}"
    assert client.get("/v1/articles/new").status_code == 404


@pytest.mark.parametrize("value", [42, ["https://example.org/a.jpg"], {"url": PICTURE}])
def test_a_put_with_an_image_that_is_no_text_is_a_422_naming_it(
    client: FlaskClient, value: Any
) -> None:
    body = {"title": "Naming practice", "body": "aphasia naming words", "image": value}
    problem = assert_problem(client.put("/v1/articles/new", json=body, headers=AUTH), 422)
    assert problem["field"] == "image"


def test_the_openapi_document_describes_image(client: FlaskClient) -> None:
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    for name in ("Item", "ArticleOut", "ArticleSummary"):
        image = schemas[name]["properties"]["image"]
        assert image["anyOf"] == [{"type": "string"}, {"type": "null"}]
        assert image["description"] == IMAGE_DESCRIPTION
        assert "image" in schemas[name]["required"]  # always in answers, null when absent
    written = schemas["ArticleBody"]["properties"]["image"]
    assert written["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert written["default"] is None and "422 naming `image`" in written["description"]
