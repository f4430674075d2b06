"""docs/benchmarks.md holds three reports: `make bench` writes the page, and
`make bench-scale` and `make bench-ray` each write only their section, between
two markers, so no run erases another's figures."""

from __future__ import annotations

from pathlib import Path

SECTIONS = ("bench-scale", "bench-ray")
"""The sections other runs write, in the order a new page lists them."""
SCALE_START = "<!-- bench-scale:start -->"
SCALE_END = "<!-- bench-scale:end -->"
PLACEHOLDER = "_Not measured yet: run `make bench-scale`._"


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of a section."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def section(text: str, name: str) -> str:
    """The named section of a page, markers included ("" when it has none)."""
    opening, closing = markers(name)
    start, end = text.find(opening), text.find(closing)
    if start < 0 or end < start:
        return ""
    return text[start : end + len(closing)]


def with_section(text: str, name: str, body: str) -> str:
    """``text`` with its named section replaced by ``body`` (appended when absent);
    everything outside the markers is kept byte for byte."""
    opening, closing = markers(name)
    block = f"{opening}\n{body.strip()}\n{closing}"
    old = section(text, name)
    if old:
        return text.replace(old, block, 1)
    return f"{text.rstrip()}\n\n{block}\n" if text.strip() else f"{block}\n"


def write_section(path: Path, name: str, body: str) -> None:
    """Replace the named section of ``path`` (created if missing) with ``body``."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(with_section(old, name, body), encoding="utf-8")


def scale_section(text: str) -> str:
    """The scale section of a page, markers included ("" when it has none)."""
    return section(text, "bench-scale")


def with_scale_section(text: str, body: str) -> str:
    """``text`` with its scale section replaced by ``body`` (appended when absent)."""
    return with_section(text, "bench-scale", body)


def keep_scale_section(new_page: str, old_page: str) -> str:
    """The page `make bench` writes, followed by the sections the old page held
    (the scale section, or a placeholder, and the Ray section if it had one), so a
    speed run never erases their figures."""
    page = new_page
    for name in SECTIONS:
        kept = section(old_page, name)
        opening, closing = markers(name)
        if kept:
            page = with_section(page, name, kept[len(opening) : -len(closing)])
        elif name == "bench-scale":
            page = with_section(page, name, PLACEHOLDER)
    return page


def write_scale_section(path: Path, body: str) -> None:
    """Replace the scale section of ``path`` (created if missing) with ``body``."""
    write_section(path, "bench-scale", body)


def write_speed_page(path: Path, page: str) -> None:
    """Write `make bench`'s page to ``path``, keeping the sections it held."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(keep_scale_section(page, old), encoding="utf-8")
