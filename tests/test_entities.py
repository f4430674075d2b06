"""HTML character references are decoded once, in every text field of every source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recommender import Engine, Settings
from recommender.articles import Article
from recommender.corpus import load_corpus
from recommender.pipeline import build_index
from recommender.text import decode_entities, html_to_text

from .fakes import FakeEmbedder
from .test_feeds import WXR_HEAD, WXR_TAIL, write, wxr_item


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fish &amp; chips", "Fish & chips"),
        ("the &#8220;proper&#8221; way", "the \u201cproper\u201d way"),
        ("The chip shop&#x2019;s secret", "The chip shop\u2019s secret"),
        ("10&nbsp;km", "10 km"),  # a no-break space is a space in a title or a tag
        ("&lt;main&gt; explained", "<main> explained"),
        ("&notin; and &hellip;", "\u2209 and \u2026"),
        # only references closed by ";" count: these are text
        ("R&D", "R&D"),
        ("AT&T", "AT&T"),
        ("Q&A", "Q&A"),
        ("Smith&notes", "Smith&notes"),
        ("&copy 2025", "&copy 2025"),
        ("&foo; stays", "&foo; stays"),
        # decoded once: text about "&amp;" keeps it
        ("Writing &amp;amp; in HTML", "Writing &amp; in HTML"),
        ("3 < 5 and <main> as written", "3 < 5 and <main> as written"),
    ],
)
def test_decode_entities(text: str, expected: str) -> None:
    assert decode_entities(text) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>R&D</p>", "R&D"),
        ("R&D", "R&D"),  # Python's parser drops the "&" of an unfinished "&D" at the end
        ("AT&T", "AT&T"),
        ("<p>Ask us: Q&A</p>", "Ask us: Q&A"),
        ("<p>Smith&notes</p>", "Smith&notes"),  # not "Smith¬es"
        ("<p>x &foo; y</p>", "x &foo; y"),  # an unknown name keeps its ";"
        ("<p>Fish &amp; chips at 180&nbsp;°C</p>", "Fish & chips at 180 °C"),
        ("<p>&#8220;Hi&#8221; &#x2019;</p>", "\u201cHi\u201d \u2019"),
        ("<p>Use &lt;b&gt; for bold</p>", "Use <b> for bold"),
        ("<p>Writing &amp;amp;</p>", "Writing &amp;"),
    ],
)
def test_html_to_text_decodes_only_real_references(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_every_wordpress_field_is_decoded(tmp_path: Path) -> None:
    head = WXR_HEAD.replace(
        "<![CDATA[Maria Lindqvist]]>", "<![CDATA[Maria &amp; Team &#8220;Rehab&#8221;]]>"
    )
    taxonomy = (
        '    <category domain="category" nicename="food-drink"><![CDATA[Food &amp; Drink]]>'
        "</category>\n"
        '    <category domain="post_tag" nicename="fish-chips"><![CDATA[fish &amp; chips]]>'
        "</category>\n"
        '    <category domain="post_tag" nicename="r-d"><![CDATA[R&D]]></category>\n'
        '    <category domain="post_tag" nicename="km"><![CDATA[10&nbsp;km]]></category>\n'
    )
    item = wxr_item(
        201,
        "Fish &amp; chips: the &#8220;proper&#8221; way &#x2014; 3 &lt; 5, AT&T",
        excerpt="Cod, chips &amp; a cold batter &#8217;n&#8217; R&D.",
        categories=taxonomy,
    )
    path = write(tmp_path / "export.xml", head + item + WXR_TAIL)
    (post,) = load_corpus([path]).articles
    assert post.title == "Fish & chips: the \u201cproper\u201d way \u2014 3 < 5, AT&T"
    assert post.summary == "Cod, chips & a cold batter \u2019n\u2019 R&D."
    assert post.tags == ("fish & chips", "R&D", "10 km")
    assert post.categories == ("Food & Drink",)
    assert post.author == "Maria & Team \u201cRehab\u201d"


def test_a_wordpress_title_is_html(tmp_path: Path) -> None:
    # Themes print a post title as HTML, so its tags are markup, not text.
    item = wxr_item(202, "<em>Hamlet</em> at the Globe &amp; after")
    path = write(tmp_path / "export.xml", WXR_HEAD + item + WXR_TAIL)
    (post,) = load_corpus([path]).articles
    assert post.title == "Hamlet at the Globe & after"


TITLES = [
    ("Fish &amp; chips", "Fish & chips"),
    ("&#8220;Quoted&#8221; title", "\u201cQuoted\u201d title"),
    ("R&D at AT&T", "R&D at AT&T"),
    ("The &lt;main&gt; element", "The <main> element"),
    ("The <main> element", "The <main> element"),  # a plain-text title keeps its "<"
    ("Writing &amp;amp; in HTML", "Writing &amp; in HTML"),
]


@pytest.mark.parametrize(("title", "expected"), TITLES)
def test_jsonl_title_tags_and_author_are_decoded(tmp_path: Path, title: str, expected: str) -> None:
    record = {
        "id": "a1",
        "title": title,
        "body": "Body.",
        "tags": ["fish &amp; chips", "R&D"],
        "categories": "Food &amp; Drink; News",
        "author": "Tom &amp; Jerry",
    }
    path = write(tmp_path / "corpus.jsonl", json.dumps(record) + "\n")
    (article,) = load_corpus([path]).articles
    assert article.title == expected
    assert article.tags == ("fish & chips", "R&D")
    # Decoded before splitting: the ";" of "&amp;" does not split a category.
    assert article.categories == ("Food & Drink", "News")
    assert article.author == "Tom & Jerry"


@pytest.mark.parametrize(("title", "expected"), TITLES)
def test_csv_title_is_decoded(tmp_path: Path, title: str, expected: str) -> None:
    cell = '"' + title.replace('"', '""') + '"'
    path = write(
        tmp_path / "corpus.csv",
        f'id,title,body,tags\na1,{cell},Body.,"fish &amp; chips; R&D"\n',
    )
    (article,) = load_corpus([path]).articles
    assert article.title == expected
    assert article.tags == ("fish & chips", "R&D")


@pytest.mark.parametrize(("title", "expected"), TITLES)
def test_markdown_title_is_decoded(tmp_path: Path, title: str, expected: str) -> None:
    text = f"---\nid: a1\ntitle: {json.dumps(title)}\n---\nBody with `&amp;amp;` in code.\n"
    path = write(tmp_path / "post.md", text)
    (article,) = load_corpus([path]).articles
    assert article.title == expected
    # The body is reduced once: the code span's "&amp;amp;" reads "&amp;amp;" as written.
    assert article.body == "Body with &amp;amp; in code."


RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Kitchen</title>
  <item>
    <title>Fish &amp; chips &#8220;at home&#8221;</title>
    <guid isPermaLink="false">k-1</guid>
    <description>Body.</description>
    <category><![CDATA[fish &amp; chips]]></category>
  </item>
  <item>
    <title>3 &lt; 5: the &lt;main&gt; element</title>
    <guid isPermaLink="false">k-2</guid>
    <description>Body.</description>
  </item>
</channel></rss>
"""


def test_feed_titles_are_not_decoded_twice(tmp_path: Path) -> None:
    # feedparser has made the titles text; WordPress feeds escape category names.
    path = write(tmp_path / "feed.rss", RSS)
    first, second = load_corpus([path]).articles
    assert first.title == "Fish & chips \u201cat home\u201d"
    assert first.tags == ("fish & chips",)
    assert second.title == "3 < 5: the <main> element"


def test_stored_articles_are_not_decoded_again(tmp_path: Path, settings: Settings) -> None:
    record = {
        "id": "a1",
        "title": "Writing &amp;amp; in HTML",
        "body": "<p>Use &lt;b&gt; for bold, and &amp;amp; for &amp;.</p>",
        "tags": ["R&amp;amp;D"],
    }
    path = write(tmp_path / "corpus.jsonl", json.dumps(record) + "\n")
    build_index([path], settings, FakeEmbedder(), progress=False)
    loaded = Engine(settings.replace(model="fake-bow"), embedder=FakeEmbedder()).article("a1")
    assert loaded.title == "Writing &amp; in HTML"
    assert loaded.body == "Use <b> for bold, and &amp; for &."
    assert loaded.tags == ("R&amp;D",)
    assert Article.from_stored(loaded.to_json()) == loaded


@pytest.mark.parametrize(
    ("scope", "body"),
    [
        ("all", "Cloves. Plant them deep."),
        ("wordpress", '[caption align="alignright"]Cloves.[/caption] Plant them deep.'),
    ],
)
def test_http_writes_are_prepared_like_sources(
    tmp_path: Path, settings: Settings, scope: str, body: str
) -> None:
    from service import create_app

    settings = settings.replace(api_keys="k-123", strip_shortcodes=scope)
    source = write(
        tmp_path / "corpus.jsonl", json.dumps({"id": "a0", "title": "A", "body": "B."}) + "\n"
    )
    embedder = FakeEmbedder()
    build_index([source], settings, embedder, progress=False)
    client = create_app(engine=Engine(settings, embedder=embedder)).test_client()
    record = {
        "title": "Writing &amp;amp; &#8220;well&#8221;",
        "body": '[caption align="alignright"]Cloves.[/caption] Plant them deep.',
        "tags": ["R&amp;D"],
    }
    auth = {"Authorization": "Bearer k-123"}
    assert client.put("/v1/articles/w1", json=record, headers=auth).status_code == 201
    stored = client.get("/v1/articles/w1").get_json()
    # Decoded once on the way in, and not again when read back from the live store.
    assert stored["title"] == "Writing &amp; \u201cwell\u201d"
    assert stored["tags"] == ["R&D"]
    assert stored["body"] == body
