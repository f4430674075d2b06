"""Text preparation: HTML and Markdown to plain text, and token windows for
chunking long bodies. What each field of an article contributes to the two
signals is :mod:`recommender.fields`'s."""

from __future__ import annotations

import html
import re
import warnings
from collections.abc import Sequence
from functools import lru_cache
from html.entities import html5

_TAG = re.compile(r"<(?:[a-zA-Z][a-zA-Z0-9-]*|/[a-zA-Z][a-zA-Z0-9-]*|!--)[^>]*>")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_BLOCK_TAGS = ("p", "div", "li", "br", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote")
# Every ampersand, with the character reference it may start. Only references closed
# by ";" count: "AT&T", "R&D" and "Smith&notes" are text, although HTML5 would read
# "&not" in "&notes" as "¬". WordPress agrees: it prints a bare "&" as "&#038;".
_AMPERSAND = re.compile(r"&(#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]{0,31};)?")


def normalise_whitespace(text: str) -> str:
    """Collapse runs of spaces, keep paragraph breaks, strip the ends."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _is_reference(match: re.Match[str]) -> bool:
    """Whether an :data:`_AMPERSAND` match is a character reference HTML knows."""
    reference = match.group(1)
    if reference is None:
        return False
    return reference.startswith("#") or reference in html5


def decode_entities(text: str) -> str:
    """Decode the HTML character references in plain text, once.

    ``Fish &amp; chips`` → ``Fish & chips``, ``&#8220;`` → ``“``, ``&#x2019;`` → ``’``;
    ``&nbsp;`` becomes a plain space. Only references closed by ``;`` are decoded, so
    ``AT&T``, ``R&D`` and ``Smith&notes`` stay as written, unknown names such as
    ``&foo;`` too, and ``&amp;amp;`` becomes ``&amp;`` (never decoded twice).
    """
    if "&" not in text:
        return text

    def decode(match: re.Match[str]) -> str:
        if not _is_reference(match):
            return match.group()
        character = html.unescape(match.group())
        return " " if character == "\u00a0" else character

    return _AMPERSAND.sub(decode, text)


def _escape_bare_ampersands(text: str) -> str:
    # Python's HTML parser reads "&notes" as "¬es" and drops the "&" of "R&D" at the
    # end of the input, and BeautifulSoup drops the ";" of an unknown "&foo;". An "&"
    # that starts no known reference is text, so it is escaped before parsing.
    return _AMPERSAND.sub(
        lambda match: match.group() if _is_reference(match) else "&amp;" + (match.group(1) or ""),
        text,
    )


def html_to_text(text: str) -> str:
    """Reduce HTML to readable text; text without tags is only whitespace-normalised.

    Scripts and styles are dropped, character references decoded (only those closed
    by ``;``, see :func:`decode_entities`), block elements become line breaks.
    """
    if not _TAG.search(text) and "&" not in text:
        return normalise_whitespace(text)
    text = _escape_bare_ampersands(text)
    from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

    with warnings.catch_warnings():
        # A plain sentence that happens to look like a URL is still text, not a locator.
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(text, "html.parser")
    for node in soup(["script", "style", "template", "noscript"]):
        node.decompose()
    for node in soup.find_all(_BLOCK_TAGS):
        node.insert_after("\n")
    return normalise_whitespace(soup.get_text())


@lru_cache(maxsize=1)
def _markdown() -> object:
    from markdown_it import MarkdownIt

    # "commonmark" keeps raw HTML blocks, which html_to_text then reduces.
    return MarkdownIt("commonmark")


def markdown_to_html(text: str) -> str:
    """Render Markdown (CommonMark) to HTML; raw HTML in it is kept."""
    md = _markdown()
    return str(md.render(text))  # type: ignore[attr-defined]


def markdown_to_text(text: str) -> str:
    """Render Markdown and reduce it to text, so ``##`` and ``**`` never reach the model."""
    return html_to_text(markdown_to_html(text))


def token_windows(
    n_tokens: int, size: int, overlap: int, first_size: int | None = None
) -> list[tuple[int, int]]:
    """Split ``n_tokens`` positions into windows sharing ``overlap`` tokens.

    The first window holds at most ``first_size`` tokens (default ``size``), the
    others at most ``size``. The last window is pulled back to end at
    ``n_tokens`` so it is never a short stub that would carry little meaning.
    """
    first_size = size if first_size is None else first_size
    if size <= 0 or first_size <= 0:
        raise ValueError("window size must be positive")
    overlap = max(0, min(overlap, size // 2, first_size // 2))
    if n_tokens <= first_size:
        return [(0, n_tokens)]
    windows = [(0, first_size)]
    start = first_size - overlap
    while start + size < n_tokens:
        windows.append((start, start + size))
        start += size - overlap
    windows.append((max(0, n_tokens - size), n_tokens))
    return windows


def spans_to_chunks(
    text: str,
    offsets: Sequence[tuple[int, int]],
    size: int,
    overlap: int,
    first_size: int | None = None,
) -> list[str]:
    """Cut ``text`` into token windows (see :func:`token_windows`), given each token's span."""
    if not offsets:
        return [text] if text.strip() else []
    chunks = []
    for start, end in token_windows(len(offsets), size, overlap, first_size):
        chunks.append(text[offsets[start][0] : offsets[end - 1][1]].strip())
    return [c for c in chunks if c]
