"""docs/benchmarks.md holds several reports: `make bench` writes the page, and
`make bench-scale`, `make bench-state` and `make bench-ray` each write only
their own section, between two markers, so no run erases another's figures."""

from __future__ import annotations

from pathlib import Path

SCALE = "bench-scale"
STATE = "bench-state"
RAY = "bench-ray"
KEPT = (SCALE, STATE, RAY)
"""The marked sections a `make bench` run keeps, in page order."""

SCALE_START = "<!-- bench-scale:start -->"
SCALE_END = "<!-- bench-scale:end -->"
PLACEHOLDER = "_Not measured yet: run `make bench-scale`._"


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of section ``name`` (e.g. ``bench-state``)."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def marked_section(text: str, name: str) -> str:
    """Section ``name`` of a page, markers included ("" when it has none)."""
    start_marker, end_marker = markers(name)
    start = text.find(start_marker)
    end = text.find(end_marker, max(start, 0))
    if start < 0 or end < 0:
        return ""
    return text[start : end + len(end_marker)]


def with_marked_section(text: str, name: str, body: str) -> str:
    """``text`` with section ``name`` replaced by ``body`` (appended at the end when
    absent); everything outside its markers is kept byte for byte."""
    start_marker, end_marker = markers(name)
    block = f"{start_marker}\n{body.strip()}\n{end_marker}"
    old = marked_section(text, name)
    if old:
        return text.replace(old, block, 1)
    return f"{text.rstrip()}\n\n{block}\n" if text.strip() else f"{block}\n"


def write_marked_section(path: Path, name: str, body: str) -> None:
    """Replace section ``name`` of ``path`` (created if missing) with ``body``."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(with_marked_section(old, name, body), encoding="utf-8")


def scale_section(text: str) -> str:
    """The scale section of a page, markers included ("" when it has none)."""
    return marked_section(text, SCALE)


def with_scale_section(text: str, body: str) -> str:
    """``text`` with its scale section replaced by ``body`` (appended when absent)."""
    return with_marked_section(text, SCALE, body)


def keep_scale_section(new_page: str, old_page: str) -> str:
    """The page `make bench` writes, followed by the scale section the old page held
    (or a placeholder) and any other marked section it held (``KEPT``), so a speed
    run never erases the figures of the other benchmarks."""
    page = new_page
    for name in KEPT:
        kept = marked_section(old_page, name)
        start_marker, end_marker = markers(name)
        if kept:
            page = with_marked_section(page, name, kept[len(start_marker) : -len(end_marker)])
        elif name == SCALE:
            page = with_marked_section(page, name, PLACEHOLDER)
    return page


def write_scale_section(path: Path, body: str) -> None:
    """Replace the scale section of ``path`` (created if missing) with ``body``."""
    write_marked_section(path, SCALE, body)


def write_speed_page(path: Path, page: str) -> None:
    """Write `make bench`'s page to ``path``, keeping the marked sections it held."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(keep_scale_section(page, old), encoding="utf-8")
