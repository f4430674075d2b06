"""WordPress shortcodes: removed from article text the way WordPress strips them.

WordPress stores ``[caption id="attachment_5" align="alignright"]<img …> Cloves[/caption]``
or ``[gallery ids="1,2,3"]`` in a post and replaces them when it renders the page.
An export holds them raw; left in, their names and attributes ("caption",
"alignright", "gallery", "ids") would become words that articles share.

The grammar is WordPress's own (``get_shortcode_regex()`` and ``strip_shortcodes()``
in ``wp-includes/shortcodes.php``), ported rather than taken from a library: the
Python ``shortcodes`` package parses its own ``[% tag %]`` syntax and only the tags
it is told about, and knows neither ``[/name]`` closers nor ``[[name]]`` escapes.

- A tag is ``[name attributes]``, ``[name attributes /]`` (self-closing) or
  ``[name attributes]content[/name]`` (enclosing, up to the first ``[/name]``).
  A name is any run of characters other than ``<>&/[]=``, spaces and controls,
  and is not followed by a letter, digit, ``_`` or ``-``; attributes run to the
  first ``]`` and, unlike WordPress's, hold no ``[`` (so a text full of brackets
  is read in linear time).
- ``[[name …]]`` is an escape: WordPress prints it as the literal ``[name …]``.
- Brackets inside HTML tags and comments are never shortcodes.

WordPress removes only the shortcodes some plugin registered, which an export does
not list. So a bracketed tag counts as a shortcode only when it cannot be prose:

1. it is enclosing (``[/name]`` follows), or self-closing (``/]``), and its name
   looks like an identifier (a letter, then letters, digits, ``_`` or ``-``);
2. or its name is one of WordPress's own shortcodes or a popular plugin's
   (:data:`KNOWN`, :data:`KNOWN_PREFIXES`); names are case-sensitive, as in
   WordPress, so ``[VIDEO]`` in a headline is text;
3. or its name looks like an identifier and its attributes are all ``key=value``
   pairs, with at least one value quoted or a name holding ``_`` or ``-``
   (``[quote author="Jane"]``, ``[rev_slider alias=home]``).

``[sic]``, ``[1]``, ``[citation needed]``, ``[Editor's note: …]``, ``[n=30]`` and
``[mean age=54]`` are none of these, and stay.

An enclosing shortcode keeps its content (itself stripped), since most wrap prose:
a caption's text, a column, a tab, a highlighted phrase. The content of media,
embed and form shortcodes (:data:`DROP_CONTENT`) is a URL, a fallback link or
form fields, and is dropped with the tags.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left

# WordPress core's shortcodes, then popular plugins' that are written without
# attributes or with unquoted ones (those with quoted attributes are caught by rule 3).
KNOWN = frozenset(
    {
        # WordPress core
        "audio",
        "caption",
        "embed",
        "gallery",
        "playlist",
        "video",
        "wp_caption",
        # Jetpack
        "archives",
        "contact-field",
        "contact-form",
        "dailymotion",
        "googlemaps",
        "gravatar",
        "instagram",
        "slideshow",
        "soundcloud",
        "spotify",
        "tweet",
        "vimeo",
        "wpvideo",
        "youtube",
        # forms, sliders, tables, page builders
        "contact-form-7",
        "elementor-template",
        "gravityform",
        "mc4wp_form",
        "metaslider",
        "ninja_form",
        "rev_slider",
        "smartslider3",
        "wpforms",
        # WooCommerce pages
        "woocommerce_cart",
        "woocommerce_checkout",
        "woocommerce_my_account",
        "woocommerce_order_tracking",
    }
)
# Page builders and shortcode packs name all theirs with a prefix:
# Shortcodes Ultimate, WPBakery (Visual Composer), Divi, Avada (Fusion Builder).
KNOWN_PREFIXES = ("su_", "vc_", "et_pb_", "fusion_")
# Shortcodes whose content is not prose: a media URL, a fallback link, form fields.
DROP_CONTENT = frozenset(
    {
        "audio",
        "contact-form",
        "dailymotion",
        "embed",
        "gallery",
        "instagram",
        "playlist",
        "soundcloud",
        "spotify",
        "tweet",
        "video",
        "vimeo",
        "wpvideo",
        "youtube",
    }
)

# get_shortcode_regex() with any name instead of the registered ones: groups 1 to 4
# of WordPress's pattern. The content and the closing tag are found separately.
# Unlike WordPress, attributes stop at a "[": each try then reads only up to the next
# bracket, so a text full of "[" costs linear time, not quadratic.
_OPEN = re.compile(
    r"\[(?P<escape>\[?)"
    r"(?P<name>[^<>&/\[\]\x00-\x20=]+)(?![\w-])"
    r"(?P<attributes>[^\[\]/]*(?:/(?!\])[^\[\]/]*)*?)"
    r"(?:(?P<self_closing>/)\]|\])"
)
_CLOSER = re.compile(r"\[/([^<>&/\[\]\x00-\x20=]+)\]")
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
# get_shortcode_atts_regex(): key="v", key='v', key=v, "v", 'v', or a bare word.
_ATTRIBUTE = re.compile(
    r"""(?P<double>[\w-]+)\s*=\s*"[^"]*"(?:\s|$)"""
    r"""|(?P<single>[\w-]+)\s*=\s*'[^']*'(?:\s|$)"""
    r"""|(?P<unquoted>[\w-]+)\s*=\s*[^\s'"]+(?:\s|$)"""
    r"""|"[^"]*"(?:\s|$)|'[^']*'(?:\s|$)"""
    r"""|(?P<bare>\S+)(?:\s|$)"""
)
# HTML tags and comments: WordPress leaves the brackets inside them alone
# (do_shortcodes_in_html_tags with $ignore_html), e.g. <img alt="[x]">, <!--[if IE]>.
# A comment or CDATA section runs to its end marker, or to the end of the text.
_HTML_ELEMENT = re.compile(r"(?P<comment><!--)|(?P<cdata><!\[CDATA\[)|</?[A-Za-z][^<>]*>")
_HTML_END = {"comment": "-->", "cdata": "]]>"}
# Stand-ins for brackets inside HTML elements while shortcodes are removed (private use).
_OPEN_MASK, _CLOSE_MASK = "\ue000", "\ue001"


def strip_shortcodes(text: str) -> str:
    """Remove WordPress shortcodes from HTML or plain text (see the module docstring).

    ``[caption id="a" align="alignright"]<img src="x.jpg"> Cloves[/caption] Plant``
    → ``<img src="x.jpg"> Cloves Plant``; ``See [gallery ids="1,2"]`` → ``See ``;
    ``[[gallery]]`` → ``[gallery]``; ``[sic]`` stays. Where a removed shortcode
    stood between two letters or digits, a space keeps the words apart.
    """
    if "[" not in text:
        return text
    masked = _OPEN_MASK not in text and _CLOSE_MASK not in text
    if masked:
        text = _mask_html(text)
    stripped = _strip(text)
    if masked:
        stripped = stripped.replace(_OPEN_MASK, "[").replace(_CLOSE_MASK, "]")
    return stripped


def is_shortcode(name: str, attributes: str, *, self_closing: bool, enclosing: bool) -> bool:
    """Whether a bracketed tag is a shortcode rather than prose (rules 1 to 3 above)."""
    if name in KNOWN or name.startswith(KNOWN_PREFIXES):
        return True
    if not _IDENTIFIER.fullmatch(name):
        return False
    return self_closing or enclosing or _only_key_values(name, attributes)


def _only_key_values(name: str, attributes: str) -> bool:
    # Markdown renders quotes as &quot;, so the attributes are read decoded.
    kinds = [match.lastgroup for match in _ATTRIBUTE.finditer(html.unescape(attributes))]
    if not kinds or any(kind not in {"double", "single", "unquoted"} for kind in kinds):
        return False
    return "double" in kinds or "single" in kinds or "_" in name or "-" in name


def _mask_html(text: str) -> str:
    """``text`` with the brackets inside HTML tags, comments and CDATA masked."""
    parts = []
    position = 0
    while (match := _HTML_ELEMENT.search(text, position)) is not None:
        end = match.end()
        if match.lastgroup in _HTML_END:
            marker = _HTML_END[match.lastgroup]
            found = text.find(marker, end)
            end = len(text) if found < 0 else found + len(marker)
        element = text[match.start() : end].replace("[", _OPEN_MASK).replace("]", _CLOSE_MASK)
        parts += [text[position : match.start()], element]
        position = end
    parts.append(text[position:])
    return "".join(parts)


def _strip(text: str) -> str:
    if "[" not in text:
        return text
    # Where each closing tag starts, by name: the first one after an opening tag is
    # found by bisection instead of a scan of the rest of the text.
    closers: dict[str, list[int]] = {}
    for closer_match in _CLOSER.finditer(text):
        closers.setdefault(closer_match.group(1), []).append(closer_match.start())
    removed_names = set(KNOWN)
    out = _Joiner()
    position = search_from = 0
    while (match := _OPEN.search(text, search_from)) is not None:
        name = match.group("name")
        self_closing = match.group("self_closing") is not None
        end = match.end()
        content: str | None = None
        starts = closers.get(name, [])
        following = bisect_left(starts, end)
        if not self_closing and following < len(starts):
            closer = starts[following]
            content, end = text[end:closer], closer + len(name) + 3
        attributes = match.group("attributes")
        if not is_shortcode(
            name, attributes, self_closing=self_closing, enclosing=content is not None
        ):
            search_from = match.start() + 1  # not a shortcode: look again one character on
            continue
        removed_names.add(name)
        escape_close = text.startswith("]", end)
        if escape_close:
            end += 1
        _text_between(out, text[position : match.start()], removed_names)
        if match.group("escape") and escape_close:
            out.text(text[match.start() + 1 : end - 1])  # [[name]] is the literal [name]
        else:
            # strip_shortcode_tag() keeps a lone second bracket: "[[name]" → "[".
            out.text(match.group("escape"))
            kept = "" if content is None or name in DROP_CONTENT else _strip(content)
            out.removed(kept)
            out.text("]" if escape_close else "")
        position = search_from = end
    _text_between(out, text[position:], removed_names)
    return out.value()


def _text_between(out: _Joiner, text: str, removed_names: set[str]) -> None:
    """Add the text between shortcodes, without stray closing tags of removed ones.

    A ``[/name]`` with no opening tag is left by same-name nesting, which WordPress
    does not support either (``[row][row]…[/row][/row]``), or by a deleted opening tag.
    """
    position = 0
    for match in _CLOSER.finditer(text):
        if match.group(1) in removed_names or match.group(1).startswith(KNOWN_PREFIXES):
            out.text(text[position : match.start()])
            out.removed("")
            position = match.end()
    out.text(text[position:])


class _Joiner:
    """Collects the kept text; a removed shortcode between two word characters
    becomes a space, so ``word[gallery]word`` does not run the words together."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._gap = False

    def text(self, piece: str) -> None:
        if not piece:
            return
        if self._gap and self._parts and self._parts[-1][-1:].isalnum() and piece[0].isalnum():
            self._parts.append(" ")
        self._gap = False
        self._parts.append(piece)

    def removed(self, kept: str) -> None:
        self._gap = True
        if kept:
            self.text(kept)
            self._gap = True

    def value(self) -> str:
        return "".join(self._parts)
