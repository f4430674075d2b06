"""Thumbnails: an article's ``image`` read from every source format, kept through the
snapshot and the live layer, and returned by the API."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from recommender import Engine, Settings, cli
from recommender.articles import IMAGE_DESCRIPTION, Article
from recommender.corpus import CorpusLoad, Rejection, SourceNote, load_corpus
from recommender.pipeline import build_index

from .conftest import AUTH, article, assert_problem, make_app, topic_records
from .fakes import FakeEmbedder
from .test_feeds import WXR_HEAD, WXR_TAIL, item_line, write, wxr_item

PICTURE = "https://cdn.example.org/uploads/2025/03/walking.jpg"

NOT_HTTP = "it does not start with http:// or https://"


def bad_reason(value: str, why: str) -> str:
    return f"{value!r} is not an absolute http(s) URL: {why}"


def no_base(value: str) -> str:
    return (
        f"{value!r} is relative, and the article has no absolute http(s) url to resolve it against"
    )


# An image that is no image URL for an article without a url, and why validation says so.
BAD_IMAGES = [
    ("ftp://cdn.example.org/a.jpg", bad_reason("ftp://cdn.example.org/a.jpg", NOT_HTTP)),
    ("/uploads/a.jpg", no_base("/uploads/a.jpg")),
    ("uploads/a.jpg", no_base("uploads/a.jpg")),
    ("//cdn.example.org/a.jpg", no_base("//cdn.example.org/a.jpg")),
    ("javascript:alert(1)", bad_reason("javascript:alert(1)", NOT_HTTP)),
    (
        "data:image/png;base64,iVBORw0KGgo=",
        bad_reason("data:image/png;base64,iVBORw0KGgo=", NOT_HTTP),
    ),
    ("https:/cdn.example.org/a.jpg", bad_reason("https:/cdn.example.org/a.jpg", NOT_HTTP)),
    ("http://", bad_reason("http://", "Input should be a valid URL, empty host")),
    (
        "https://cdn.example.org/a b.jpg",
        bad_reason("https://cdn.example.org/a b.jpg", "it holds whitespace (write spaces as %20)"),
    ),
    ("https://example.org/" + "a" * 2029, "longer than 2048 characters"),
]

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


# -- files: a bad image is left out with a note, the article kept ---------------------------

FORMATS = ["jsonl", "csv", "markdown", "parquet"]
INDEXED_WITHOUT = "left out, the article is indexed without it: "


def write_records(
    tmp_path: Path, form: str, records: list[dict[str, Any]]
) -> tuple[Path, list[SourceNote]]:
    """``records`` (id, title, body, url, image; None or absent: not given) written as
    one source of ``form``: the source to load, and for each record where a note on
    its image points (source, line, field; the note's text left empty)."""
    columns = ["id", "title", "body", "url", "image"]
    if form == "markdown":
        directory, notes = tmp_path / "site", []
        directory.mkdir()
        for number, record in enumerate(records):
            front = [
                f"{name}: {json.dumps(record[name])}"
                for name in ("id", "title", "url", "image")
                if record.get(name) is not None
            ]
            text = "\n".join(["---", *front, "---", record["body"], ""])
            path = write(directory / f"{number:02d}.md", text)
            line = next((i + 2 for i, field in enumerate(front) if field.startswith("image:")), 1)
            notes.append(SourceNote(str(path), "", line, "image"))
        return directory, notes
    path = tmp_path / f"c.{form}"
    rows = [[record.get(name) for name in columns] for record in records]
    first = 1
    if form == "jsonl":
        given = [{k: v for k, v in zip(columns, row, strict=True) if v is not None} for row in rows]
        write(path, "".join(json.dumps(record) + "\n" for record in given))
    elif form == "csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([columns, *([cell or "" for cell in row] for row in rows)])
        first = 2  # below the header
    else:
        pa = pytest.importorskip("pyarrow")
        pq = pytest.importorskip("pyarrow.parquet")
        table = {
            name: pa.array([row[i] for row in rows], pa.string()) for i, name in enumerate(columns)
        }
        pq.write_table(pa.table(table), path)
    return path, [SourceNote(str(path), "", first + i, "image") for i in range(len(rows))]


def image_notes(loaded: CorpusLoad) -> list[SourceNote]:
    """The notes of a load on images left out (not how a CSV file was read)."""
    return [note for note in loaded.notes if note.field is not None]


def left_out(where: SourceNote, reason: str) -> SourceNote:
    return replace(where, note=INDEXED_WITHOUT + reason)


@pytest.mark.parametrize("form", FORMATS)
@pytest.mark.parametrize(("value", "reason"), BAD_IMAGES)
def test_a_bad_image_is_left_out_with_a_note_and_the_article_kept(
    tmp_path: Path, form: str, value: str, reason: str
) -> None:
    records = [
        article("good", "Good", "Body.", image=PICTURE),
        article("none", "None", "Body."),
        article("bad", "Bad", "Body.", image=value),
    ]
    source, where = write_records(tmp_path, form, records)
    loaded = load_corpus([source])
    assert [(a.id, a.image) for a in loaded.articles] == [
        ("good", PICTURE),
        ("none", None),
        ("bad", None),
    ]
    assert loaded.rejections == []
    assert image_notes(loaded) == [left_out(where[2], reason)]
    assert str(image_notes(loaded)[0]) == (
        f"{where[2].source}:{where[2].line}: image: {INDEXED_WITHOUT}{reason}"
    )


PAGE = "https://example.org/posts/walking/"


@pytest.mark.parametrize("form", FORMATS)
@pytest.mark.parametrize(
    ("url", "image", "resolved"),
    [
        (PAGE, "/img/x.jpg", "https://example.org/img/x.jpg"),  # path-absolute
        (PAGE, "img/x.jpg", "https://example.org/posts/walking/img/x.jpg"),  # relative
        ("https://example.org/posts/walking", "img/x.jpg", "https://example.org/posts/img/x.jpg"),
        (PAGE, "../x.png?w=320", "https://example.org/posts/x.png?w=320"),
        (PAGE, "//cdn.example.org/x.jpg", "https://cdn.example.org/x.jpg"),  # protocol-relative
        ("http://example.org/p/", "//cdn.example.org/x.jpg", "http://cdn.example.org/x.jpg"),
        (PAGE, PICTURE, PICTURE),  # an absolute image is kept as written
    ],
)
def test_a_relative_image_resolves_against_the_article_url(
    tmp_path: Path, form: str, url: str, image: str, resolved: str
) -> None:
    source, _ = write_records(tmp_path, form, [article("a", "A", "Body.", url=url, image=image)])
    loaded = load_corpus([source])
    assert [(a.id, a.url, a.image) for a in loaded.articles] == [("a", url, resolved)]
    assert (loaded.rejections, image_notes(loaded)) == ([], [])


@pytest.mark.parametrize("form", FORMATS)
@pytest.mark.parametrize(
    ("url", "image", "reason"),
    [
        (None, "/img/x.jpg", no_base("/img/x.jpg")),
        ("/posts/walking/", "/img/x.jpg", no_base("/img/x.jpg")),  # the url is relative too
        ("ftp://example.org/p/", "img/x.jpg", no_base("img/x.jpg")),
        ("https://", "//cdn.example.org/x.jpg", no_base("//cdn.example.org/x.jpg")),
        (
            PAGE,
            "a b.jpg",
            "'a b.jpg' resolved against the url is 'https://example.org/posts/walking/a b.jpg': "
            "it holds whitespace (write spaces as %20)",
        ),
        (PAGE, "javascript:alert(1)", bad_reason("javascript:alert(1)", NOT_HTTP)),
        (
            PAGE,
            "data:image/gif;base64,R0lGOD==",
            bad_reason("data:image/gif;base64,R0lGOD==", NOT_HTTP),
        ),
        (PAGE, "x" * 2049, "longer than 2048 characters"),
        (PAGE, "x" * 2040, "longer than 2048 characters once resolved against the url"),
    ],
)
def test_an_image_that_does_not_resolve_is_left_out(
    tmp_path: Path, form: str, url: str | None, image: str, reason: str
) -> None:
    source, where = write_records(
        tmp_path, form, [article("a", "A", "Body.", url=url, image=image)]
    )
    loaded = load_corpus([source])
    assert [(a.id, a.url, a.image) for a in loaded.articles] == [("a", url, None)]
    assert loaded.rejections == []
    assert image_notes(loaded) == [left_out(where[0], reason)]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (42, "expected text, found a number"),
        (True, "expected text, found true or false"),
        ([PICTURE], "expected text, found a list"),
        ({"src": PICTURE}, "expected text, found a mapping"),
        ("", None),  # blank text: no image, nothing to say
        ("  ", None),
    ],
)
def test_jsonl_image_that_is_no_text(tmp_path: Path, value: Any, reason: str | None) -> None:
    path = write(tmp_path / "c.jsonl", json.dumps(article("a", "A", "Body.", image=value)) + "\n")
    loaded = load_corpus([path])
    assert [(a.id, a.image) for a in loaded.articles] == [("a", None)]
    expected = (
        [] if reason is None else [SourceNote(str(path), INDEXED_WITHOUT + reason, 1, "image")]
    )
    assert (loaded.rejections, loaded.notes) == ([], expected)


def test_a_record_rejected_for_another_field_says_nothing_of_its_image(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.jsonl", json.dumps({"id": "a", "body": "B.", "image": "/a.jpg"}) + "\n"
    )
    loaded = load_corpus([path])
    assert loaded.rejections == [Rejection(str(path), 1, "title", "required field is missing")]
    assert loaded.notes == []


@pytest.mark.parametrize(
    ("front", "image", "note"),
    [
        (f"image: {PICTURE}\n", PICTURE, None),
        (f"image: '{PICTURE}'\n", PICTURE, None),
        ("image:\n", None, None),  # an empty value: not given
        ("", None, None),
        ("url: https://example.org/a/\nimage: 2024\n", "https://example.org/a/2024", None),
        ("image: /uploads/a.jpg\n", None, (4, no_base("/uploads/a.jpg"))),
        ("image: 2024\n", None, (4, no_base("2024"))),  # text as written
        (f"image: [{PICTURE}]\n", None, (4, "expected text, found a list")),
        (f"image:\n  src: {PICTURE}\n", None, (4, "expected text, found a mapping")),
    ],
)
def test_markdown_front_matter_image(
    tmp_path: Path, front: str, image: str | None, note: tuple[int, str] | None
) -> None:
    path = write(tmp_path / "a.md", f"---\nid: a\ntitle: Walking\n{front}---\nBody text.\n")
    loaded = load_corpus([path])
    assert [(a.id, a.image) for a in loaded.articles] == [("a", image)]
    assert loaded.rejections == []
    if note is None:
        assert loaded.notes == []
    else:
        assert loaded.notes == [SourceNote(str(path), INDEXED_WITHOUT + note[1], note[0], "image")]


def test_a_reindex_still_notes_the_image_it_left_out(
    settings: Settings, write_jsonl: Callable[..., Path]
) -> None:
    records = [*topic_records(), article("extra", "Extra", "sleep", image="/a.jpg")]
    source = write_jsonl(records)
    expected = [SourceNote(str(source), INDEXED_WITHOUT + no_base("/a.jpg"), 21, "image")]
    first = build_index([source], settings, FakeEmbedder())
    assert (first.indexed, first.rejected, first.notes) == (21, [], expected)
    # The record is unchanged, so the reindex takes its article as stored: still noted.
    again = build_index([source], settings, FakeEmbedder())
    assert (again.unchanged, again.rejected, again.notes) == (21, [], expected)
    assert again.to_json()["notes"] == [
        {
            "source": str(source),
            "line": 21,
            "field": "image",
            "note": INDEXED_WITHOUT + no_base("/a.jpg"),
        }
    ]


def test_the_cli_prints_the_note_and_its_json_report_carries_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "recommender.embedding.SentenceTransformerEmbedder",
        lambda model, batch_size, threads=None: FakeEmbedder(),
    )
    monkeypatch.setenv("RECOMMENDER_MODEL", "fake-bow")
    rows = [article("a", "A", "sleep"), article("b", "B", "sleep", image="javascript:alert(1)")]
    source = write(tmp_path / "c.jsonl", "".join(json.dumps(row) + "\n" for row in rows))
    reason = INDEXED_WITHOUT + bad_reason("javascript:alert(1)", NOT_HTTP)
    command = ["index", str(source), "--index-dir", str(tmp_path / "index"), "--no-progress"]
    result = CliRunner().invoke(cli.main, command)
    assert result.exit_code == 0, result.output
    assert f"note: {source}:2: image: {reason}\n" in result.output
    assert "indexed 2 articles" in result.output
    report = CliRunner().invoke(cli.main, [*command, "--json"])
    assert report.exit_code == 0, report.output
    notes = json.loads(report.stdout)["notes"]
    assert notes == [{"source": str(source), "line": 2, "field": "image", "note": reason}]


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
        rss_item(
            "relative-to-link",  # resolved against the item's link, as the files' are
            "    <link>https://news.example.org/2025/walk/</link>\n"
            '    <media:thumbnail url="/img/w.jpg"/>\n',
        ),
        rss_item(
            "relative-to-page",
            "    <link>https://news.example.org/2025/walk/</link>\n"
            '    <enclosure url="w.jpg" type="image/jpeg" length="1"/>\n',
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
        ("relative-to-link", IMG + "w.jpg"),
        ("relative-to-page", "https://news.example.org/2025/walk/w.jpg"),
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
        (
            "protocol-relative",
            '    <link rel="alternate" href="https://news.example.org/2025/a/"/>\n'
            '    <link rel="enclosure" type="image/png" href="//cdn.example.org/a.png"/>\n',
        ),
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
        ("relative", None),  # no link to resolve it against
        ("protocol-relative", "https://cdn.example.org/a.png"),
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


@pytest.mark.parametrize(("value", "reason"), BAD_IMAGES)
def test_a_put_with_a_bad_image_is_a_422_naming_it(
    client: FlaskClient, value: str, reason: str
) -> None:
    body = {"title": "Naming practice", "body": "aphasia naming words", "image": value}
    problem = assert_problem(client.put("/v1/articles/new", json=body, headers=AUTH), 422)
    assert problem["field"] == "image"
    assert problem["detail"] == f"image: {reason}"
    assert client.get("/v1/articles/new").status_code == 404


@pytest.mark.parametrize("value", ["", "   "])
def test_a_put_with_a_blank_image_has_none(client: FlaskClient, value: str) -> None:
    # As in the files, where an empty value is no image.
    body = {"title": "Naming", "body": "aphasia naming words", "image": value}
    assert client.put("/v1/articles/new", json=body, headers=AUTH).status_code == 201
    assert client.get("/v1/articles/new").get_json()["image"] is None


NAMING = "https://example.org/posts/naming/"


@pytest.mark.parametrize(
    ("image", "resolved"),
    [
        ("/img/n.jpg", "https://example.org/img/n.jpg"),
        ("img/n.jpg", "https://example.org/posts/naming/img/n.jpg"),
        ("//cdn.example.org/n.jpg", "https://cdn.example.org/n.jpg"),
    ],
)
def test_a_put_resolves_a_relative_image_against_its_url(
    client: FlaskClient, image: str, resolved: str
) -> None:
    body = {"title": "Naming", "body": "aphasia naming words", "url": NAMING, "image": image}
    assert client.put("/v1/articles/new", json=body, headers=AUTH).status_code == 201
    assert client.get("/v1/articles/new").get_json()["image"] == resolved


@pytest.mark.parametrize(
    ("url", "image", "reason"),
    [
        ("/posts/naming/", "/img/n.jpg", no_base("/img/n.jpg")),
        (
            NAMING,
            "a b.jpg",
            "'a b.jpg' resolved against the url is 'https://example.org/posts/naming/a b.jpg': "
            "it holds whitespace (write spaces as %20)",
        ),
    ],
)
def test_a_put_whose_relative_image_does_not_resolve_is_a_422(
    client: FlaskClient, url: str, image: str, reason: str
) -> None:
    body = {"title": "Naming", "body": "aphasia naming words", "url": url, "image": image}
    problem = assert_problem(client.put("/v1/articles/new", json=body, headers=AUTH), 422)
    assert (problem["field"], problem["detail"]) == ("image", f"image: {reason}")
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
