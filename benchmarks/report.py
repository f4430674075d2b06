"""docs/benchmarks.md holds two reports: `make bench` writes the page, and
`make bench-scale` writes only its section, between two markers, so neither run
erases the other's figures."""

from __future__ import annotations

from pathlib import Path

SCALE_START = "<!-- bench-scale:start -->"
SCALE_END = "<!-- bench-scale:end -->"
PLACEHOLDER = "_Not measured yet: run `make bench-scale`._"


def scale_section(text: str) -> str:
    """The scale section of a page, markers included ("" when it has none)."""
    start, end = text.find(SCALE_START), text.find(SCALE_END)
    if start < 0 or end < start:
        return ""
    return text[start : end + len(SCALE_END)]


def with_scale_section(text: str, body: str) -> str:
    """``text`` with its scale section replaced by ``body`` (appended when absent);
    everything outside the markers is kept byte for byte."""
    block = f"{SCALE_START}\n{body.strip()}\n{SCALE_END}"
    old = scale_section(text)
    if old:
        return text.replace(old, block, 1)
    return f"{text.rstrip()}\n\n{block}\n" if text.strip() else f"{block}\n"


def keep_scale_section(new_page: str, old_page: str) -> str:
    """The page `make bench` writes, followed by the scale section the old page held
    (or a placeholder), so a speed run never erases the scale figures."""
    kept = scale_section(old_page)
    body = kept[len(SCALE_START) : -len(SCALE_END)] if kept else PLACEHOLDER
    return with_scale_section(new_page, body)


def write_scale_section(path: Path, body: str) -> None:
    """Replace the scale section of ``path`` (created if missing) with ``body``."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(with_scale_section(old, body), encoding="utf-8")


def write_speed_page(path: Path, page: str) -> None:
    """Write `make bench`'s page to ``path``, keeping the scale section it held."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(keep_scale_section(page, old), encoding="utf-8")
