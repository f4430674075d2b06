"""CSV files as spreadsheets write them: which delimiter, where each record
starts, and which rows are malformed.

:mod:`recommender.corpus` turns the rows into articles; this module only splits
text into rows of cells, so that one malformed row is reported on its own line
and never swallows the rows after it.

Dialect: cells are quoted with ``"`` (doubled inside a cell), as RFC 4180 and
every spreadsheet write them. The delimiter is named by the user, or sniffed by
the standard library's :class:`csv.Sniffer` from the first
:data:`SNIFF_CHARS` characters and checked against the header row, whose column
names the format fixes (``id``, ``title``, ``body``, ...).
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Literal

CANDIDATE_DELIMITERS = (",", ";", "\t", "|")
"""The delimiters sniffed for: comma, semicolon (Excel in many European
locales), tab (spreadsheet "text" exports) and pipe."""

DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

SNIFF_CHARS = 64 * 1024
"""How much of a file the sniffer reads: enough for dozens of rows, and bounded
so that sniffing a file of hundreds of megabytes costs no more than a small one
(the sniffer's quote patterns take time that grows faster than the sample)."""

_FIELD_LIMIT_LOCK = threading.Lock()


def delimiter_label(delimiter: str) -> str:
    """How a message names a delimiter: ``';' (semicolon)``, ``tab``."""
    if delimiter == "\t":
        return "tab"
    name = DELIMITER_NAMES.get(delimiter)
    return f"{delimiter!r} ({name})" if name else repr(delimiter)


def delimiter_option(delimiter: str) -> str:
    """How a user writes the delimiter in ``--csv-delimiter``: ``';'``, ``tab``."""
    return "tab" if delimiter == "\t" else repr(delimiter)


@dataclass(frozen=True)
class Delimiter:
    """The delimiter a file is read with, and how it was chosen.

    ``how`` is ``named`` (the setting or option), ``sniffed`` (the sniffer, and
    the header agrees), ``header`` (the header's column names, where the
    sniffer failed or disagreed) or ``default`` (comma: nothing could tell).
    """

    char: str
    how: Literal["named", "sniffed", "header", "default"]

    def describe(self) -> str:
        """A phrase for messages: ``';' (semicolon), sniffed from the first 64 KiB``."""
        why = {
            "named": "as named by RECOMMENDER_CSV_DELIMITER or --csv-delimiter",
            "sniffed": f"sniffed from the first {SNIFF_CHARS // 1024} KiB",
            "header": "found from the header's column names",
            "default": "the default: neither sniffing nor the header could tell",
        }[self.how]
        return f"{delimiter_label(self.char)}, {why}"


def choose_delimiter(text: str, named: str | None, columns: Iterable[str]) -> Delimiter:
    """The delimiter to read ``text`` with.

    Args:
        text: the whole file (only its first :data:`SNIFF_CHARS` characters are read).
        named: the delimiter the user named, or None to detect it.
        columns: the column names the format knows; a header that splits into
            more of them under another candidate delimiter overrules the sniffer,
            which can be misled when its sample ends inside a long multi-line cell.
    """
    if named is not None:
        return Delimiter(named, "named")
    sample = text[:SNIFF_CHARS]
    known = set(columns)
    matches = {d: known_header_names(sample, d, known) for d in CANDIDATE_DELIMITERS}
    best = max(matches.values())
    sniffed = _sniff(sample)
    if sniffed is not None and matches.get(sniffed, 0) == best:
        return Delimiter(sniffed, "sniffed")
    if best > 0:
        return Delimiter(next(d for d in CANDIDATE_DELIMITERS if matches[d] == best), "header")
    return Delimiter(",", "default")


def _sniff(sample: str) -> str | None:
    try:
        return csv.Sniffer().sniff(sample, delimiters="".join(CANDIDATE_DELIMITERS)).delimiter
    except csv.Error:  # "Could not determine delimiter": too few rows to tell
        return None


def known_header_names(text: str, delimiter: str, columns: set[str]) -> int:
    """How many distinct known column names the first record of ``text`` holds
    when split by ``delimiter``."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next((cells for cells in reader if not _blank(cells)), [])
    except csv.Error:
        return 0
    return len({cell.strip() for cell in header} & columns)


def header_hint(header_text: str, used: str, columns: Iterable[str]) -> str | None:
    """A sentence for a header that looks separated by another delimiter than
    ``used``, naming the option that reads it; None when it does not."""
    known = set(columns)
    used_count = known_header_names(header_text, used, known)
    counts = {
        d: known_header_names(header_text, d, known) for d in CANDIDATE_DELIMITERS if d != used
    }
    better = max(counts, key=lambda d: counts[d], default=None)
    if better is None or counts[better] <= used_count:
        return None
    shown = header_text if len(header_text) <= 80 else header_text[:77] + "..."
    name = DELIMITER_NAMES[better]
    return (
        f"the header {shown!r} looks {name}-separated: pass --csv-delimiter "
        f"{delimiter_option(better)} (or set RECOMMENDER_CSV_DELIMITER)"
    )


@dataclass(frozen=True)
class Row:
    """One record of a CSV file: its cells, or why it could not be read.

    ``line`` is the 1-based line where the record starts; a record may span
    several lines when a quoted cell holds line breaks.
    """

    line: int
    cells: list[str] | None
    problem: str = ""


def physical_lines(text: str) -> list[str]:
    """The lines of ``text`` with their ends, split only at ``\\n``, ``\\r\\n`` and
    ``\\r``, the line ends CSV knows (``str.splitlines`` also splits at U+2028
    and other characters a cell may hold)."""
    return io.StringIO(text, newline="").readlines()


def iter_rows(lines: list[str], delimiter: str) -> Iterator[Row]:
    """Split ``lines`` into records; the first readable one is the header.

    Rows of blank cells are skipped. A row with more cells than the header
    (other than empty trailing ones) or fewer is rejected as ragged. A record
    that is malformed (a quote never closed, text after a closing quote), or
    ragged across several lines (an unclosed quote that ran into the rows after
    it), is rejected at its first line and reading starts again on the next
    line, so the rows after it are still read.
    """
    width: int | None = None
    start = 0  # index in ``lines`` where the current reader began
    while start < len(lines):
        reader = csv.reader(islice(lines, start, None), delimiter=delimiter, strict=True)
        consumed = 0  # lines the reader has taken before the current record
        resync: int | None = None  # index to start again from after a broken record
        try:
            for cells in reader:
                first_line, last_line = start + consumed + 1, start + reader.line_num
                consumed = reader.line_num
                if _blank(cells):
                    continue
                if width is None:
                    width = len(cells)
                    yield Row(first_line, cells)
                    continue
                problem = _ragged(cells, width)
                if problem is None:
                    yield Row(first_line, cells[:width])
                elif last_line == first_line:
                    yield Row(first_line, None, problem)
                else:
                    yield Row(first_line, None, f"{problem}; {_runs_on(last_line)}")
                    resync = first_line  # the index of the line after first_line
                    break
        except csv.Error as exc:
            first_line, last_line = start + consumed + 1, start + reader.line_num
            yield Row(first_line, None, _malformed(str(exc), first_line, last_line))
            resync = first_line
        if resync is None:
            return
        start = resync


def _blank(cells: list[str]) -> bool:
    # Spreadsheets save rows of empty cells (";;;;") below the data.
    return not any(cell.strip() for cell in cells)


def _ragged(cells: list[str], width: int) -> str | None:
    if len(cells) > width and _blank(cells[width:]):
        return None  # trailing delimiters with nothing after them
    if len(cells) == width:
        return None
    more = "more" if len(cells) > width else "fewer"
    return f"{len(cells)} cells, {more} than the header's {width} columns (ragged row)"


def _runs_on(last_line: int) -> str:
    return f"the record runs on to line {last_line}: is a quote left open?"


def _malformed(message: str, first_line: int, last_line: int) -> str:
    if message == "unexpected end of data":
        return "malformed CSV: a quoted cell that starts here is never closed"
    spans = f"; {_runs_on(last_line)}" if last_line > first_line else ""
    return f"malformed CSV: {message}{spans}"


def allow_fields_up_to(chars: int) -> None:
    """Let the csv module read cells of up to ``chars`` characters.

    Python's csv module refuses cells over 131,072 characters by default. The
    limit is process-wide, so it is only ever raised (never lowered), under a
    lock, and only to the length of a file already held in memory. That is safe:
    the limit bounds the memory one cell may take while a stream is read, and a
    cell of text already in memory can be no longer than that text; raising it
    never makes another reader refuse a cell it accepted before.
    """
    with _FIELD_LIMIT_LOCK:
        if csv.field_size_limit() < chars:
            csv.field_size_limit(chars)
