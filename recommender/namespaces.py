"""Namespaces for WordPress post ids, so exports of several sites can be read together.

A WordPress export names each post by its ``wp:post_id``, a number that is only
unique within one site: two sites both have a post 12. When one load reads
exports of more than one site, every post id of that load becomes
``<site>:<post id>``, where ``<site>`` comes from the export's site URL
(``https://garden.example.org`` → ``garden.example.org:12``) or is a name the user
chose for that export. Exports of the same site (a split export) share one
namespace, so a post present in two of them is still a duplicate.

Modes (``RECOMMENDER_WXR_ID_NAMESPACE``):

- ``auto``: bare post ids while every export comes from one site; namespaced ids
  for every export as soon as the posts read come from two or more sites;
- ``site``: always namespaced, so ids never change when a second site is added;
- ``none``: always bare; posts of two sites with the same id are duplicates.

A name chosen for one export (``--id-namespace FILE=NAME``) applies in every mode,
and to the other exports of the same site unless they have a name of their own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

NamespaceMode = Literal["auto", "site", "none"]
NAMESPACE_MODES: tuple[NamespaceMode, ...] = ("auto", "site", "none")

# What a chosen name may hold: it is part of every id, and ":" separates it.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# The namespace of exports that name no site (WordPress always writes one).
UNKNOWN_SITE = "wordpress"
_UNSAFE = re.compile(r"[^\w.-]+")


def site_key(site_url: str) -> str:
    """What makes two exports the same site: host (lowercase, port kept) and path.

    The scheme is ignored, so an export taken before and after a move to HTTPS is
    the same site; ``""`` for an export that names no site.
    """
    url = site_url.strip()
    if not url:
        return ""
    parts = urlsplit(url if "//" in url else "//" + url)
    host = (parts.hostname or "").lower()
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return host + parts.path.rstrip("/")


def site_namespace(site_url: str) -> str:
    """The namespace of a site: its host, then its path if the site lives under one.

    ``https://garden.example.org/`` → ``garden.example.org``;
    ``https://example.org/blog`` → ``example.org-blog``;
    ``http://localhost:8080`` → ``localhost-8080``; no URL → ``wordpress``.
    """
    key = site_key(site_url)
    name = _UNSAFE.sub("-", key.replace(":", "-").replace("/", "-")).strip("-")
    return name or UNKNOWN_SITE


@dataclass(frozen=True)
class NamespacePlan:
    """The namespace of each export's post ids, and what to tell the user."""

    by_source: Mapping[str, str]
    """Source → namespace; a source missing here keeps bare post ids."""
    notice: str | None = None

    def id_for(self, source: str, post_id: str) -> str:
        """The article id of post ``post_id`` read from ``source``."""
        namespace = self.by_source.get(source)
        return f"{namespace}:{post_id}" if namespace else post_id


def plan_namespaces(
    sites: Mapping[str, str], mode: NamespaceMode, names: Mapping[str, str]
) -> NamespacePlan:
    """Decide how the post ids of each WordPress export are namespaced.

    Args:
        sites: every WordPress export read → its site URL (``""`` if it names none),
            in the order the sources were given.
        mode: ``auto``, ``site`` or ``none`` (see the module docstring).
        names: export → the namespace the user chose for it.
    """
    chosen_for_site: dict[str, str] = {}
    for source, site in sites.items():
        if source in names:
            chosen_for_site.setdefault(site_key(site), names[source])
    keys = {site_key(site) for site in sites.values()}
    namespace_all = mode == "site" or (mode == "auto" and len(keys) > 1)
    by_source: dict[str, str] = {}
    for source, site in sites.items():
        key = site_key(site)
        if source in names:
            by_source[source] = names[source]
        elif key in chosen_for_site:
            by_source[source] = chosen_for_site[key]
        elif namespace_all:
            by_source[source] = site_namespace(site)
    notice = None
    if mode == "auto" and len(keys) > 1:
        listed = ", ".join(sorted({by_source.get(s, site_namespace(u)) for s, u in sites.items()}))
        example = next(iter(by_source.values()))
        notice = (
            f"WordPress exports of {len(keys)} sites ({listed}): post ids are namespaced "
            f"by site, e.g. {example}:12, so equal post ids of different sites stay apart. "
            "Set RECOMMENDER_WXR_ID_NAMESPACE=site to keep these ids when sites are added "
            "or removed, or name a site with --id-namespace FILE=NAME."
        )
    return NamespacePlan(by_source, notice)
