"""Readers for XML sources: WordPress exports (WXR) and RSS or Atom feed files.

Every file is first parsed by defusedxml with DTDs forbidden. A DTD is what lets
XML declare entities, which can expand without bound (the "billion laughs"),
read local files or fetch URLs. WordPress exports and feeds never need one, so
any ``<!DOCTYPE>`` is refused before anything in it is expanded or fetched. The
same pass checks that the file is well-formed, records the line of every item,
and tells the formats apart by the root element.

WordPress exports are then mapped straight from that tree. Feeds are handed to
feedparser, which knows the RSS and Atom dialects and date formats found in the
wild. feedparser only ever sees bytes that have passed the safe parse, wrapped
in a stream, so it never treats them as a URL or a file name.

An article's ``image`` comes from the featured image of a WordPress post and the
media elements of a feed item (see :func:`_wxr_attachments` and :func:`_feed_image`);
an image that is not an absolute http(s) URL (a feed item's relative one resolved
against its link first) is left out, never the article.

These functions return raw records; :mod:`recommender.corpus` validates them
into articles, so every format reports problems the same way.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal
from xml.etree.ElementTree import Element, TreeBuilder

from .articles import ID_MAX_LENGTH, id_problem, image_url
from .errors import InvalidCorpus
from .text import html_to_text

XML_SUFFIXES = {".xml", ".rss", ".atom"}

Format = Literal["wxr", "rss", "atom"]

_ATOM_NS = "http://www.w3.org/2005/Atom"
_ATOM_03_NS = "http://purl.org/atom/ns#"
_RSS_10_NS = "http://purl.org/rss/1.0/"
_RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
# WXR 1.0, 1.1 and 1.2 differ only in the version in this namespace.
_WXR_NS = re.compile(r"^http://wordpress\.org/export/1\.\d+/$")
_WXR_EXCERPT_NS = re.compile(r"^http://wordpress\.org/export/1\.\d+/excerpt/$")
_PREFIXES = {
    "http://purl.org/rss/1.0/modules/content/": "content",
    "http://purl.org/dc/elements/1.1/": "dc",
}
# The elements that are one article each, in ElementTree's {namespace}local form.
_ITEM_TAGS = frozenset({"item", f"{{{_RSS_10_NS}}}item", f"{{{_ATOM_NS}}}entry"})
_ITEM_TAGS |= {f"{{{_ATOM_03_NS}}}entry"}

# WordPress statuses. Only "publish" is public; "future" is a scheduled post, shown
# from its post_date_gmt on; "private" and the unfinished ones become drafts:
# indexed, never suggested.
_WP_PUBLIC = "publish"
_WP_SCHEDULED = "future"
# Deleted or never saved by the editor: not content at all.
_WP_SKIPPED_STATUSES = frozenset({"trash", "auto-draft"})
_WP_TYPES = frozenset({"post", "page"})
# Simple wp: fields kept in ``extra`` (when non-empty and not the default "0").
_WP_EXTRA = ("post_type", "post_name", "comment_status", "ping_status", "post_parent", "menu_order")

# Characters an article id may not hold (see Article.id): they would break the URL path.
_ID_UNSAFE = re.compile(r"[\s/?#]+")
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(//)?")
# Hex digits of SHA-256 that make a derived id unique: 48 bits, so two guids that
# read alike would need some 16 million siblings before a collision became likely.
_DIGEST_HEX = 12


@dataclass(frozen=True)
class RawRecord:
    """One item of an XML source, mapped to article fields but not yet validated.

    ``line`` is the line of the item's start tag (``<item>`` or ``<entry>``).
    ``site`` is the WordPress site an export's item belongs to (``wp:base_site_url``,
    else the channel's ``link``; ``""`` when the export names neither) and ``None``
    for feed items.
    """

    record: dict[str, Any]
    line: int | None
    site: str | None = None


def read_xml(path: Path) -> Iterator[RawRecord]:
    """Read a WordPress export, an RSS feed or an Atom feed (sniffed by its root element).

    Items that are not articles (attachments, menu items, trashed posts) are
    skipped without a record.

    Raises:
        InvalidCorpus: the file cannot be read, is not well-formed XML, has a
            DTD, or is neither a WordPress export nor a feed.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidCorpus(path, exc.strerror or str(exc)) from None
    root, lines = parse_xml(path, data)
    kind = sniff(root)
    if kind is None:
        raise InvalidCorpus(
            path,
            f"unknown source format: root element <{_local(root.tag)}> is not a WordPress "
            "export (<rss> with wp: elements), an RSS <rss> feed or an Atom <feed>",
        )
    if kind == "wxr":
        yield from _read_wxr(root, lines)
    else:
        yield from _read_feed(data, root, lines)


class _LineRecorder(TreeBuilder):
    """A tree builder that notes the line where each item element starts.

    ElementTree keeps no positions, but the parser calls ``start`` while expat
    stands on the start tag, so its current line is the item's line.
    """

    def __init__(self) -> None:
        super().__init__()
        self.expat: Any = None
        self.lines: dict[Element, int] = {}

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        element = super().start(tag, attrs)
        if tag in _ITEM_TAGS and self.expat is not None:
            self.lines[element] = int(self.expat.CurrentLineNumber)
        return element


def parse_xml(path: Path, data: bytes) -> tuple[Element, dict[Element, int]]:
    """Parse ``data`` safely; return the root and the start line of each item element.

    Raises:
        InvalidCorpus: malformed XML, or a DTD (with ``line`` and 1-based ``column``).
    """
    from xml.parsers.expat import ErrorString

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import DefusedXMLParser, ParseError

    recorder = _LineRecorder()
    # forbid_dtd refuses every DOCTYPE, which covers entity declarations (billion
    # laughs), external entities and external DTDs alike; the other two flags are
    # defusedxml's defaults, kept as a second line of defence.
    parser = DefusedXMLParser(
        target=recorder, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    recorder.expat = parser.parser
    try:
        parser.feed(data)
        root = parser.close()
    except ParseError as exc:
        line, column = exc.position
        raise InvalidCorpus(
            path, f"malformed XML: {ErrorString(exc.code)}", line=line, column=column + 1
        ) from None
    except DefusedXmlException as exc:
        system_id = getattr(exc, "sysid", None)
        what = f"a DTD naming the external file {system_id!r}" if system_id else "a DTD"
        raise InvalidCorpus(
            path,
            f"refused {what} (<!DOCTYPE ...>): DTDs can declare entities that expand without "
            "bound or read local files and URLs, and WordPress exports and feeds need none; "
            "nothing in it was expanded or fetched",
            line=int(parser.parser.CurrentLineNumber),
            column=int(parser.parser.CurrentColumnNumber) + 1,
        ) from None
    return root, recorder.lines


def sniff(root: Element) -> Format | None:
    """Which XML source ``root`` is the root of, or ``None`` for anything else."""
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is not None and _is_wxr(channel):
            return "wxr"
        return "rss"
    if root.tag == f"{{{_RDF_NS}}}RDF" and root.find(f"{{{_RSS_10_NS}}}channel") is not None:
        return "rss"  # RSS 1.0
    if root.tag in {f"{{{_ATOM_NS}}}feed", f"{{{_ATOM_03_NS}}}feed"}:
        return "atom"
    return None


def _is_wxr(channel: Element) -> bool:
    # The channel carries wp:wxr_version and wp:base_site_url; the items carry
    # wp:post_id. Looking at the channel's children and the first item is enough.
    first_item = channel.find("item")
    children = list(channel) + (list(first_item) if first_item is not None else [])
    return any(_WXR_NS.match(_namespace(child.tag)) for child in children)


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _short(tag: str) -> str:
    """``{namespace}local`` as ``prefix:local`` with the prefixes WXR uses."""
    namespace = _namespace(tag)
    if not namespace:
        return tag
    if _WXR_NS.match(namespace):
        prefix = "wp"
    elif _WXR_EXCERPT_NS.match(namespace):
        prefix = "excerpt"
    else:
        prefix = _PREFIXES.get(namespace, namespace)
    return f"{prefix}:{_local(tag)}"


def _text(element: Element) -> str:
    return "".join(element.itertext()).strip()


# --- WordPress (WXR) -----------------------------------------------------------------


def _read_wxr(root: Element, lines: dict[Element, int]) -> Iterator[RawRecord]:
    channel = root.find("channel")
    if channel is None:  # sniff() found one; this keeps the type checker informed
        return
    authors = _wxr_authors(channel)
    site = _wxr_site(channel)
    attachments = _wxr_attachments(channel)
    for item in channel.iter("item"):
        record = _wxr_record(item, authors, attachments)
        if record is not None:
            if site:
                record["extra"]["site_url"] = site
            yield RawRecord(record, lines.get(item), site)


def _wxr_site(channel: Element) -> str:
    """The site an export comes from: ``wp:base_site_url``, else the channel ``link``."""
    fields = {_short(child.tag): _text(child) for child in channel if len(child) == 0}
    return fields.get("wp:base_site_url") or fields.get("link") or ""


def _simple_fields(element: Element) -> dict[str, str]:
    """``prefix:local`` → text of the children without children (the first of each)."""
    fields: dict[str, str] = {}
    for child in element:
        if len(child) == 0:
            fields.setdefault(_short(child.tag), _text(child))
    return fields


def _wxr_attachments(channel: Element) -> dict[str, str]:
    """Attachment post id → its URL (``wp:attachment_url``, else its ``guid``), for
    the attachments whose URL is absolute http(s).

    Read in a pass of its own because a post names its featured image by the
    attachment's id (``_thumbnail_id``), and the attachment item may come before
    or after the post in the export. Attachments are never articles themselves.
    """
    urls: dict[str, str] = {}
    for item in channel.iter("item"):
        fields = _simple_fields(item)
        post_id = fields.get("wp:post_id")
        if fields.get("wp:post_type") != "attachment" or not post_id:
            continue
        url = image_url(fields.get("wp:attachment_url")) or image_url(fields.get("guid"))
        if url is not None:
            urls[post_id] = url
    return urls


def _wxr_thumbnail_id(item: Element) -> str | None:
    """The attachment id of a post's featured image: its ``_thumbnail_id`` postmeta."""
    for child in item:
        if _short(child.tag) == "wp:postmeta":
            meta = _simple_fields(child)
            if meta.get("wp:meta_key") == "_thumbnail_id":
                return meta.get("wp:meta_value")
    return None


def _wxr_authors(channel: Element) -> dict[str, str]:
    """Author login → display name: dc:creator holds the login, readers know the name."""
    names = {}
    for author in channel:
        if _short(author.tag) != "wp:author":
            continue
        fields = {_short(child.tag): _text(child) for child in author}
        login, name = fields.get("wp:author_login"), fields.get("wp:author_display_name")
        if login and name:
            names[login] = name
    return names


def _wxr_record(
    item: Element, authors: dict[str, str], attachments: dict[str, str]
) -> dict[str, Any] | None:
    """The article fields of one WXR item, or ``None`` for an item that is not an article.

    ``attachments`` (attachment id → URL) gives the post's featured image; a post
    whose ``_thumbnail_id`` names no attachment there has no image.
    """
    fields: dict[str, str] = {}
    tags: list[str] = []
    categories: list[str] = []
    for child in item:
        name = _short(child.tag)
        if name == "category":
            # domain="post_tag" or "category"; other taxonomies (formats, custom ones) are left out.
            domain = child.get("domain")
            # Term names are stored escaped ("fish &amp; chips"); validation decodes them.
            if domain == "post_tag":
                tags.append(_text(child))
            elif domain == "category":
                categories.append(_text(child))
        elif len(child) == 0:
            # wp:postmeta and wp:comment have children and are not article fields.
            fields.setdefault(name, _text(child))
    post_type = fields.get("wp:post_type", "")
    wp_status = fields.get("wp:status", "")
    if post_type not in _WP_TYPES or wp_status in _WP_SKIPPED_STATUSES:
        return None
    status = {_WP_PUBLIC: "published", _WP_SCHEDULED: "scheduled"}.get(wp_status, "draft")
    extra: dict[str, Any] = {
        key: fields[f"wp:{key}"] for key in _WP_EXTRA if fields.get(f"wp:{key}", "0") != "0"
    }
    extra["post_status"] = wp_status
    if fields.get("wp:post_password"):
        # WordPress hides a protected post's text from visitors, so it must not be
        # suggested, nor its words shown as shared terms. The password is not kept.
        status = "draft"
        extra["password_protected"] = True
    if fields.get("guid"):
        extra["guid"] = fields["guid"]
    if fields.get("wp:post_id"):
        # The id may become "<site>:<post id>" when exports of several sites are
        # read together (see corpus.load_corpus); the post id stays findable here.
        extra["post_id"] = fields["wp:post_id"]
    creator = fields.get("dc:creator", "")
    record: dict[str, Any] = {
        "id": fields.get("wp:post_id"),
        # A WordPress title is HTML: themes print it as it is, entities and all.
        "title": html_to_text(fields.get("title", "")),
        "body": fields.get("content:encoded"),
        "summary": fields.get("excerpt:encoded"),
        "url": fields.get("link"),
        # post_date is the site's local time with no offset in the export: it is
        # only a fallback (read as UTC) for drafts, whose GMT date is all zeros.
        "published": _wp_date(fields.get("wp:post_date_gmt"))
        or _wp_date(fields.get("wp:post_date"))
        or _rfc822(fields.get("pubDate")),
        "updated": _wp_date(fields.get("wp:post_modified_gmt"))
        or _wp_date(fields.get("wp:post_modified")),
        "author": authors.get(creator, creator),
        "tags": tags,
        "categories": categories,
        "status": status,
        "featured": fields.get("wp:is_sticky") == "1",
        "image": attachments.get(_wxr_thumbnail_id(item) or ""),
        "extra": extra,
    }
    # An empty element means "not given", so a missing title reads as missing.
    return {key: value for key, value in record.items() if value not in (None, "")}


def _wp_date(value: str | None) -> str | None:
    # WordPress writes "0000-00-00 00:00:00" for a date that was never set.
    if not value or value.startswith("0000-00-00"):
        return None
    return value


def _rfc822(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        # Drafts carry "Mon, 30 Nov -0001 00:00:00 +0000"; pubDate is only a fallback.
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- RSS and Atom feeds --------------------------------------------------------------


def _read_feed(data: bytes, root: Element, lines: dict[Element, int]) -> Iterator[RawRecord]:
    import feedparser

    parsed = feedparser.parse(io.BytesIO(data))
    is_atom = str(parsed.get("version", "")).startswith("atom")
    # feedparser keeps no positions; its entries are the item elements in document
    # order, so the n-th entry starts where the n-th item element does.
    item_lines = [line for element, line in lines.items() if element.tag in _ITEM_TAGS]
    entries = list(parsed.entries)
    if len(item_lines) != len(entries):
        item_lines = []
    for index, entry in enumerate(entries):
        line = item_lines[index] if item_lines else None
        yield RawRecord(_feed_record(entry, is_atom), line)


def _get(mapping: Any, key: str) -> Any:
    # feedparser's dict warns (DeprecationWarning) when "updated" is read and only
    # "published" exists; reading the plain dict gets exactly what the feed holds.
    return dict.get(mapping, key) if isinstance(mapping, dict) else None


def feed_id(raw: str) -> str:
    """An article id from a guid, an Atom id or a link, usable in the URL path of the API.

    A guid that is already a valid id (no whitespace, ``/``, ``?`` or ``#``, at most
    :data:`~recommender.articles.ID_MAX_LENGTH` characters) is kept as it is:
    ``tag:example.org,2025:42``. Any other becomes a readable slug (the scheme
    dropped, each run of those characters turned into ``-``), cut so that the slug,
    ``-`` and 12 hex digits of the SHA-256 of the guid fit the limit:
    ``https://example.org/a/b?p=1`` → ``example.org-a-b-p=1-`` + 12 hex digits.

    The same guid always gives the same id, and two different guids never give the
    same one: two guids that slug alike (``https://x.org/a b`` and
    ``https://x.org/a/b``) differ in their digests. An empty guid gives ``""``,
    which validation rejects.
    """
    raw = raw.strip()
    if not raw or id_problem(raw) is None:
        return raw
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_HEX]
    slug = _ID_UNSAFE.sub("-", _URI_SCHEME.sub("", raw)).strip("-")
    slug = slug[: ID_MAX_LENGTH - _DIGEST_HEX - 1].rstrip("-")
    return f"{slug}-{digest}" if slug else digest


def _feed_record(entry: Any, is_atom: bool) -> dict[str, Any]:
    """The article fields of one feedparser entry."""
    raw_id = _get(entry, "id") or _get(entry, "link") or ""
    title = _get(entry, "title") or ""
    if "html" in str(_get(_get(entry, "title_detail"), "type") or ""):
        title = html_to_text(title)
    contents = [_get(part, "value") or "" for part in _get(entry, "content") or []]
    content = next((value for value in contents if value.strip()), "")
    summary = _get(entry, "summary") or ""
    if summary == content:
        # feedparser copies an Atom content into summary when there is no summary.
        summary = ""
    links = _get(entry, "links") or []
    url = next((_get(link, "href") for link in links if _get(link, "rel") == "alternate"), None)
    if url is None and not is_atom:
        # An RSS guid with isPermaLink is the item's address; an Atom id never is.
        url = _get(entry, "link")
    author = _get(_get(entry, "author_detail"), "name") or _get(entry, "author")
    tags = [_get(tag, "term") or _get(tag, "label") for tag in _get(entry, "tags") or []]
    extra: dict[str, Any] = {}
    identifier = feed_id(raw_id)
    if identifier != raw_id.strip():
        extra["guid"] = raw_id
    record: dict[str, Any] = {
        "id": identifier,
        "title": title,
        "body": content or summary,
        "summary": summary if content else "",
        "url": url,
        "published": _feed_date(entry, "published"),
        "updated": _feed_date(entry, "updated"),
        "author": author,
        "tags": [tag for tag in tags if tag],
        "image": _feed_image(entry, url.strip() if isinstance(url, str) else None),
        "extra": extra,
    }
    return {key: value for key, value in record.items() if value not in (None, "")}


def _feed_image(entry: Any, url: str | None) -> str | None:
    """The first image of a feed entry that is, or resolves against the entry's
    ``url`` to, an absolute http(s) URL (see :func:`~recommender.articles.resolve_image`):
    a ``media:thumbnail``, else a ``media:content`` whose ``medium`` is ``image`` or
    whose ``type`` is ``image/*``, else an ``enclosure`` (RSS element or Atom link)
    whose ``type`` is ``image/*``.

    A ``media:content`` with neither attribute is left out: it may as well be a
    video. feedparser flattens ``media:group``, so grouped elements count too.
    """
    candidates = [_get(thumbnail, "url") for thumbnail in _get(entry, "media_thumbnail") or []]
    for content in _get(entry, "media_content") or []:
        kind = str(_get(content, "type") or "")
        if _get(content, "medium") == "image" or kind.startswith("image/"):
            candidates.append(_get(content, "url"))
    for link in _get(entry, "links") or []:
        # feedparser turns RSS <enclosure> elements into links of rel "enclosure".
        if _get(link, "rel") == "enclosure" and str(_get(link, "type") or "").startswith("image/"):
            candidates.append(_get(link, "href"))
    images = (image_url(candidate, url) for candidate in candidates)
    return next((image for image in images if image is not None), None)


def _feed_date(entry: Any, name: str) -> datetime | str | None:
    """The date feedparser understood (UTC), else the raw text so validation names it."""
    parsed = _get(entry, f"{name}_parsed")
    if parsed is not None:
        # feedparser gives a UTC struct_time.
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    raw = _get(entry, name)
    return str(raw) if raw else None
