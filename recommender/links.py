"""Links for articles that have none: ``RECOMMENDER_URL_TEMPLATE``.

A corpus may hold only ids, titles and bodies (a JSONL export, say). Readers
need a link to follow, so the answers fill a missing ``url`` from a template
such as ``https://news.example.org/articles/{id}``. The template is applied to
what the engine returns, never stored in a snapshot: changing it takes effect at
the next server start, with no reindex.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from .articles import Article

PLACEHOLDERS = ("id",)
"""What a template may name: ``{id}``, the article id percent-encoded as one path segment."""

_SCHEMES = ("https://", "http://", "/")


def url_template_problem(template: str) -> str | None:
    """Why ``template`` cannot be used as a URL template, or None if it can (or is empty).

    A template is an absolute ``http(s)://`` URL or a root-relative path (``/...``)
    holding ``{id}``; ``{{`` and ``}}`` stand for literal braces.
    """
    if not template:
        return None
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:  # a lone "{" or "}"
        return f"{template!r}: {exc} (write {{{{ or }}}} for a literal brace)"
    names = [name for _, name, _, _ in parts if name is not None]
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            shown = (
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
            return f"{template!r}: unknown placeholder {shown}; the only one is {{id}}"
    if "id" not in names:
        return f"{template!r} has no {{id}}: every article would get the same link"
    if not template.startswith(_SCHEMES):
        return f"{template!r} must start with https://, http:// or / (a path on the site)"
    return None


def article_url(article_id: str, template: str) -> str:
    """The link ``template`` gives the article ``article_id`` (a checked, non-empty template)."""
    return template.format_map({"id": quote(article_id, safe="")})


def with_url(article: Article, template: str) -> Article:
    """``article`` with ``url`` filled from ``template`` when it has none and a template is set."""
    if article.url or not template:
        return article
    return article.model_copy(update={"url": article_url(article.id, template)})
