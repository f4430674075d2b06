"""XML sources: WordPress exports, RSS and Atom feeds, and hostile or broken XML."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from recommender import Settings
from recommender.corpus import load_corpus
from recommender.errors import InvalidCorpus
from recommender.feeds import feed_id
from recommender.pipeline import build_index
from recommender.snapshot import SnapshotStore

from .fakes import FakeEmbedder

WXR_HEAD = """<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0"
    xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
    xmlns:content="http://purl.org/rss/1.0/modules/content/"
    xmlns:wfw="http://wellformedweb.org/CommentAPI/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
  <title>Rehab News</title>
  <link>https://news.example.org</link>
  <wp:wxr_version>1.2</wp:wxr_version>
  <wp:base_site_url>https://news.example.org</wp:base_site_url>
  <wp:author>
    <wp:author_id>1</wp:author_id>
    <wp:author_login><![CDATA[mlind]]></wp:author_login>
    <wp:author_display_name><![CDATA[Maria Lindqvist]]></wp:author_display_name>
  </wp:author>
"""


def wxr_item(
    post_id: int,
    title: str,
    *,
    post_type: str = "post",
    status: str = "publish",
    sticky: int = 0,
    body: str = "<!-- wp:paragraph --><p>Walking <b>practice</b> after stroke.</p>",
    excerpt: str = "",
    categories: str = "",
    password: str = "",
) -> str:
    """One WXR <item>, shaped like WordPress 6 writes them."""
    return f"""  <item>
    <title><![CDATA[{title}]]></title>
    <link>https://news.example.org/?p={post_id}</link>
    <pubDate>Fri, 14 Mar 2025 09:00:00 +0000</pubDate>
    <dc:creator><![CDATA[mlind]]></dc:creator>
    <guid isPermaLink="false">https://news.example.org/?p={post_id}</guid>
    <description></description>
    <content:encoded><![CDATA[{body}]]></content:encoded>
    <excerpt:encoded><![CDATA[{excerpt}]]></excerpt:encoded>
    <wp:post_id>{post_id}</wp:post_id>
    <wp:post_date><![CDATA[2025-03-14 10:00:00]]></wp:post_date>
    <wp:post_date_gmt><![CDATA[2025-03-14 09:00:00]]></wp:post_date_gmt>
    <wp:post_modified><![CDATA[2025-03-20 12:30:00]]></wp:post_modified>
    <wp:post_modified_gmt><![CDATA[2025-03-20 11:30:00]]></wp:post_modified_gmt>
    <wp:comment_status><![CDATA[open]]></wp:comment_status>
    <wp:ping_status><![CDATA[closed]]></wp:ping_status>
    <wp:post_name><![CDATA[post-{post_id}]]></wp:post_name>
    <wp:status><![CDATA[{status}]]></wp:status>
    <wp:post_parent>0</wp:post_parent>
    <wp:menu_order>0</wp:menu_order>
    <wp:post_type><![CDATA[{post_type}]]></wp:post_type>
    <wp:post_password><![CDATA[{password}]]></wp:post_password>
    <wp:is_sticky>{sticky}</wp:is_sticky>
{categories}    <wp:postmeta>
      <wp:meta_key><![CDATA[_edit_last]]></wp:meta_key>
      <wp:meta_value><![CDATA[1]]></wp:meta_value>
    </wp:postmeta>
  </item>
"""


WXR_TAIL = "</channel>\n</rss>\n"

TAXONOMY = (
    '    <category domain="category" nicename="research"><![CDATA[Research]]></category>\n'
    '    <category domain="post_tag" nicename="gait"><![CDATA[gait]]></category>\n'
    '    <category domain="post_tag" nicename="walking-aids"><![CDATA[walking aids]]></category>\n'
    '    <category domain="post_format" nicename="post-format-aside">'
    "<![CDATA[Aside]]></category>\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def wxr_export() -> str:
    """Posts, a page, an attachment, a menu item, a draft, a sticky, a trashed and a bad post."""
    return (
        WXR_HEAD
        + wxr_item(
            11,
            "Treadmill training helps walking",
            excerpt="<p>A short <em>excerpt</em>.</p>",
            categories=TAXONOMY,
        )
        + wxr_item(12, "Featured: balance classes", sticky=1)
        + wxr_item(13, "About us", post_type="page", body="<p>Who we are and what we do.</p>")
        + wxr_item(14, "photo.jpg", post_type="attachment", status="inherit")
        + wxr_item(15, "Home", post_type="nav_menu_item")
        + wxr_item(16, "Unfinished draft", status="draft")
        + wxr_item(17, "Scheduled post", status="future")
        + wxr_item(18, "Deleted post", status="trash")
        + wxr_item(19, "", body="<p>A post whose title was never written.</p>")
        + wxr_item(20, "Members only", password="s3cret")
        + WXR_TAIL
    )


def item_line(text: str, post_id: int) -> int:
    """The line of the <item> start tag holding ``post_id``."""
    lines = text.split("\n")
    target = next(i for i, line in enumerate(lines) if f"<wp:post_id>{post_id}<" in line)
    return next(i for i in range(target, -1, -1) if lines[i].strip() == "<item>") + 1


def test_wordpress_export_maps_every_field(tmp_path: Path) -> None:
    text = wxr_export()
    path = write(tmp_path / "export.xml", text)
    loaded = load_corpus([path])
    by_id = {a.id: a for a in loaded.articles}
    # Attachments, menu items and trashed posts are not articles; 19 has no title.
    assert sorted(by_id) == ["11", "12", "13", "16", "17", "20"]

    post = by_id["11"]
    assert post.title == "Treadmill training helps walking"
    assert post.body == "Walking practice after stroke."  # block comments and tags gone
    assert post.summary == "A short excerpt."
    assert post.url == "https://news.example.org/?p=11"
    assert post.published == datetime(2025, 3, 14, 9, 0, tzinfo=UTC)  # the GMT date
    assert post.updated == datetime(2025, 3, 20, 11, 30, tzinfo=UTC)
    assert post.author == "Maria Lindqvist"  # the login resolved to the display name
    assert post.tags == ("gait", "walking aids")
    assert post.categories == ("Research",)  # post_format is not a category
    assert post.status == "published" and post.featured is False
    assert post.extra == {
        "post_type": "post",
        "post_name": "post-11",
        "comment_status": "open",
        "ping_status": "closed",
        "post_status": "publish",
        "guid": "https://news.example.org/?p=11",
        "post_id": "11",
        "site_url": "https://news.example.org",
    }

    assert by_id["12"].featured is True
    assert by_id["13"].extra["post_type"] == "page" and by_id["13"].is_published
    assert by_id["16"].status == "draft" and by_id["16"].extra["post_status"] == "draft"
    assert by_id["17"].status == "scheduled"  # "future": shown from its GMT date on
    protected = by_id["20"]
    assert protected.status == "draft" and protected.extra["password_protected"] is True
    assert "s3cret" not in str(protected.to_json())

    (rejection,) = loaded.rejections
    assert (rejection.source, rejection.field) == (str(path), "title")
    assert rejection.line == item_line(text, 19)
    assert "required field is missing" in rejection.reason


def test_wordpress_draft_dates_fall_back_to_local_date(tmp_path: Path) -> None:
    item = (
        wxr_item(30, "Draft with no GMT date", status="draft")
        .replace("2025-03-14 09:00:00", "0000-00-00 00:00:00")
        .replace("Fri, 14 Mar 2025 09:00:00 +0000", "Mon, 30 Nov -0001 00:00:00 +0000")
    )
    path = write(tmp_path / "drafts.xml", WXR_HEAD + item + WXR_TAIL)
    (draft,) = load_corpus([path]).articles
    assert draft.published == datetime(2025, 3, 14, 10, 0, tzinfo=UTC)


def test_wordpress_bad_date_is_a_rejection_at_the_item(tmp_path: Path) -> None:
    item = wxr_item(31, "Bad date").replace("2025-03-14 09:00:00", "last tuesday")
    text = WXR_HEAD + wxr_item(32, "Good one") + item + WXR_TAIL
    path = write(tmp_path / "export.xml", text)
    loaded = load_corpus([path])
    assert [a.id for a in loaded.articles] == ["32"]
    (rejection,) = loaded.rejections
    assert (rejection.line, rejection.field) == (item_line(text, 31), "published")
    assert f"{path}:{rejection.line}: published:" in str(rejection)


RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>Rehab News</title>
  <link>https://news.example.org/</link>
  <description>Stroke rehabilitation news</description>
  <item>
    <title>Mirror therapy &amp; arm recovery</title>
    <link>https://news.example.org/articles/mirror-therapy</link>
    <guid isPermaLink="true">https://news.example.org/articles/mirror-therapy</guid>
    <description>Mirror therapy may help the &lt;b&gt;arm&lt;/b&gt;.</description>
    <content:encoded><![CDATA[<p>Full text about <strong>mirror</strong> therapy.</p>]]>
    </content:encoded>
    <pubDate>Tue, 03 Jun 2025 09:30:00 +0200</pubDate>
    <category>arm</category>
    <category domain="https://news.example.org/tags">mirror-therapy</category>
    <author>editor@news.example.org (Ed Itor)</author>
  </item>
  <item>
    <title>Only a description</title>
    <link>https://news.example.org/articles/only-description</link>
    <description>The description is the body here.</description>
    <dc:creator>Kim Berg</dc:creator>
  </item>
  <item>
    <guid isPermaLink="false">rehab-news-3</guid>
    <description>An item without a title.</description>
  </item>
  <item>
    <title>Bad date</title>
    <guid isPermaLink="false">rehab-news-4</guid>
    <description>Body.</description>
    <pubDate>sometime soon</pubDate>
  </item>
</channel>
</rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Rehab News</title>
  <id>urn:uuid:60a76c80-d399-11d9-b93c-0003939e0af6</id>
  <updated>2025-02-02T00:00:00Z</updated>
  <entry>
    <title type="html">Sleep &lt;em&gt;after&lt;/em&gt; stroke</title>
    <id>tag:news.example.org,2025:sleep-after-stroke</id>
    <link rel="alternate" href="https://news.example.org/articles/sleep-after-stroke"/>
    <published>2025-02-01T10:00:00+01:00</published>
    <updated>2025-02-02T00:00:00Z</updated>
    <author><name>Ann Holm</name></author>
    <category term="sleep" label="Sleep"/>
    <category term="fatigue"/>
    <summary>Why nights change.</summary>
    <content type="html">&lt;p&gt;Insomnia and apnea are common after stroke.&lt;/p&gt;</content>
  </entry>
  <entry>
    <title>Only content</title>
    <id>https://news.example.org/articles/only-content</id>
    <updated>2025-02-03T00:00:00Z</updated>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>X body</p></div></content>
  </entry>
</feed>
"""


@pytest.mark.parametrize("name", ["feed.rss", "feed.xml"])
def test_rss_feed_maps_every_field(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, RSS)
    loaded = load_corpus([path])
    first, second = loaded.articles
    # The guid is a URL: a readable slug plus 12 hex digits of its SHA-256.
    assert first.id == "news.example.org-articles-mirror-therapy-8ccc41d3d980"
    assert first.extra == {"guid": "https://news.example.org/articles/mirror-therapy"}
    assert first.title == "Mirror therapy & arm recovery"
    assert first.body == "Full text about mirror therapy."
    assert first.summary == "Mirror therapy may help the arm."
    assert first.url == "https://news.example.org/articles/mirror-therapy"
    assert first.published == datetime(2025, 6, 3, 7, 30, tzinfo=UTC)
    assert first.author == "Ed Itor"
    assert first.tags == ("arm", "mirror-therapy")
    assert first.status == "published" and first.featured is False

    # No guid: the link is the id; no content: the description is the body.
    assert second.id == "news.example.org-articles-only-description-3d9d9561fb49"
    assert second.body == "The description is the body here." and second.summary == ""
    assert second.author == "Kim Berg"

    lines = RSS.split("\n")
    items = [i + 1 for i, line in enumerate(lines) if line.strip() == "<item>"]
    found = {(r.line, r.field) for r in loaded.rejections}
    assert found == {(items[2], "title"), (items[3], "published")}
    assert all(r.source == str(path) for r in loaded.rejections)


@pytest.mark.parametrize("name", ["feed.atom", "feed.xml"])
def test_atom_feed_maps_every_field(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, ATOM)
    loaded = load_corpus([path])
    assert loaded.rejections == []
    sleep, only = loaded.articles
    assert sleep.id == "tag:news.example.org,2025:sleep-after-stroke" and sleep.extra == {}
    assert sleep.title == "Sleep after stroke"
    assert sleep.body == "Insomnia and apnea are common after stroke."
    assert sleep.summary == "Why nights change."
    assert sleep.url == "https://news.example.org/articles/sleep-after-stroke"
    assert sleep.published == datetime(2025, 2, 1, 9, 0, tzinfo=UTC)
    assert sleep.updated == datetime(2025, 2, 2, tzinfo=UTC)
    assert sleep.author == "Ann Holm"
    assert sleep.tags == ("sleep", "fatigue")

    assert only.id == "news.example.org-articles-only-content-edee22f7684b"
    assert only.body == "X body" and only.summary == ""  # content is not repeated as summary
    assert only.url is None  # an Atom id is not an address
    assert only.published is None and only.updated == datetime(2025, 2, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("tag:example.org,2025:42", "tag:example.org,2025:42"),
        ("https://example.org/a/b/", "example.org-a-b-8a5ff03404bc"),
        ("https://example.org/?p=1#top", "example.org-p=1-top-6c1bfb616b51"),
        ("urn:uuid:1234", "urn:uuid:1234"),
        ("two words", "two-words-a03f1d611645"),
    ],
)
def test_feed_ids_fit_the_api_path(raw: str, expected: str) -> None:
    assert feed_id(raw) == expected


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<rss version="2.0" xmlns:wp="http://wordpress.org/export/1.2/"><channel>
<item><title>&lol9;</title><wp:post_id>1</wp:post_id></item>
</channel></rss>
"""


def external_entity(secret: Path) -> str:
    return f"""<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY xxe SYSTEM "{secret.as_uri()}">
]>
<rss version="2.0"><channel><item><title>Leak</title><description>&xxe;</description>
</item></channel></rss>
"""


EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE rss SYSTEM "http://127.0.0.1:9/evil.dtd">
<rss version="2.0"><channel><item><title>T</title><description>B</description>
</item></channel></rss>
"""


@pytest.mark.parametrize(
    ("kind", "line", "message"),
    [
        ("billion-laughs", 2, "refused a DTD"),
        ("external-entity", 2, "refused a DTD"),
        ("external-dtd", 2, "'http://127.0.0.1:9/evil.dtd'"),
        ("truncated", 60, "malformed XML: no element found"),  # where the file ends
        ("mismatched", 3, "malformed XML: mismatched tag"),
        ("undefined-entity", 3, "malformed XML: undefined entity"),
        ("empty", 1, "malformed XML: no element found"),
    ],
)
def test_hostile_or_broken_xml_is_refused_with_position(
    tmp_path: Path, kind: str, line: int, message: str
) -> None:
    secret = write(tmp_path / "secret.txt", "TOP-SECRET-VALUE")
    text = {
        "billion-laughs": BILLION_LAUGHS,
        "external-entity": external_entity(secret),
        "external-dtd": EXTERNAL_DTD,
        # Cut after 60 lines, in the middle of the second post.
        "truncated": "\n".join((WXR_HEAD + wxr_item(1, "A") + wxr_item(2, "B")).split("\n")[:60]),
        "mismatched": "<rss>\n<channel>\n<item></channel></rss>\n",
        # &nbsp; is HTML, not XML: without a DTD it is undefined.
        "undefined-entity": "<rss>\n<channel>\n<item><title>&nbsp;</title></item></channel>",
        "empty": "",
    }[kind]
    path = write(tmp_path / "export.xml", text)
    with pytest.raises(InvalidCorpus) as caught:
        load_corpus([path])
    error = caught.value
    assert error.path == str(path) and error.line == line
    assert error.column is not None and error.column >= 1
    assert str(error).startswith(f"{path}:{line}:{error.column}: ")
    assert message in str(error)
    assert "TOP-SECRET-VALUE" not in str(error)


def test_unknown_xml_root_is_an_unknown_format(tmp_path: Path) -> None:
    path = write(tmp_path / "sitemap.xml", "<urlset><url><loc>https://x.org/</loc></url></urlset>")
    with pytest.raises(InvalidCorpus, match=r"unknown source format: root element <urlset>"):
        load_corpus([path])


def test_wordpress_export_builds_an_index_and_hostile_file_leaves_it_alone(
    tmp_path: Path, settings: Settings
) -> None:
    export = write(tmp_path / "export.xml", wxr_export())
    report = build_index([export], settings, FakeEmbedder(), progress=False)
    store = SnapshotStore(settings.index_dir)
    published = store.current_version()
    assert report.published and published == report.version
    assert report.indexed == 6 and len(report.rejected) == 1

    hostile = write(tmp_path / "hostile.xml", BILLION_LAUGHS)
    changed = write(tmp_path / "export.xml", wxr_export().replace("Walking", "Running"))
    with pytest.raises(InvalidCorpus, match="refused a DTD"):
        build_index([changed, hostile], settings, FakeEmbedder(), progress=False)
    assert store.current_version() == published
    assert store.versions() == [published]
