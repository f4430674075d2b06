"""Readers for corpus sources: a directory of Markdown files with YAML front
matter, a JSONL file, a CSV file, a WordPress export, an RSS or Atom feed file.

The XML sources are parsed in :mod:`recommender.feeds`; their records are
validated here like every other format's.

Readers never stop at a bad record: each record becomes an :class:`Article` or a
:class:`Rejection` that says which source, line and field is wrong and why, so a
site with one broken article still gets the others indexed. A source that cannot
be read at all (missing, unknown format, not UTF-8, malformed or hostile XML)
raises :class:`~recommender.errors.InvalidCorpus`. What is worth knowing about
how a source was read (the delimiter a CSV file was read with) is a
:class:`SourceNote`.

Records are split where their format says: JSON Lines at ``\n`` only (a JSON
string may hold U+2028, U+2029 and U+0085, which ``str.splitlines`` would cut
at); CSV as :mod:`recommender.csvreader` reads it; Markdown front matter as
:mod:`recommender.frontmatter` reads it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from . import csvreader
from .articles import KNOWN_FIELDS, Article
from .errors import InvalidCorpus
from .feeds import XML_SUFFIXES, read_xml
from .frontmatter import parse_front_matter
from .text import markdown_to_text

MARKDOWN_SUFFIXES = {".md", ".markdown"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
CSV_SUFFIXES = {".csv"}


@dataclass(frozen=True)
class Rejection:
    """A record that was not indexed, and why."""

    source: str
    line: int | None
    field: str | None
    reason: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        """The rejection as a JSON-ready mapping."""
        return {
            "source": self.source,
            "line": self.line,
            "field": self.field,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class SourceNote:
    """How a source was read, when that is worth saying (a CSV file's delimiter)."""

    source: str
    note: str

    def __str__(self) -> str:
        return f"{self.source}: {self.note}"

    def to_json(self) -> dict[str, Any]:
        """The note as a JSON-ready mapping."""
        return {"source": self.source, "note": self.note}


@dataclass
class CorpusLoad:
    """What reading some sources produced: valid articles, rejected records, notes."""

    articles: list[Article] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    notes: list[SourceNote] = field(default_factory=list)


def load_corpus(sources: Iterable[Path | str], *, csv_delimiter: str | None = None) -> CorpusLoad:
    """Read every source; ids must be unique across all of them (the first one wins).

    Args:
        sources: Markdown directories and files, JSONL, CSV, WordPress and feed files.
        csv_delimiter: the one character between CSV cells, or None to detect it
            for each CSV file (see :func:`recommender.csvreader.choose_delimiter`).

    Raises:
        InvalidCorpus: a source is missing, of an unknown format or unreadable
            (including malformed XML and XML with a DTD).
    """
    result = CorpusLoad()
    first_seen: dict[str, str] = {}
    for source in sources:
        for item in read_source(Path(source), csv_delimiter=csv_delimiter):
            if isinstance(item, Rejection):
                result.rejections.append(item)
                continue
            if isinstance(item, SourceNote):
                result.notes.append(item)
                continue
            article, where = item
            if article.id in first_seen:
                result.rejections.append(
                    Rejection(
                        where.source,
                        where.line,
                        "id",
                        f"duplicate id {article.id!r} (first seen at {first_seen[article.id]})",
                    )
                )
                continue
            first_seen[article.id] = str(where)
            result.articles.append(article)
    return result


@dataclass(frozen=True)
class _Where:
    source: str
    line: int | None

    def __str__(self) -> str:
        return self.source if self.line is None else f"{self.source}:{self.line}"


_Item = tuple[Article, _Where] | Rejection | SourceNote


def read_source(path: Path, *, csv_delimiter: str | None = None) -> Iterator[_Item]:
    """Yield (article, where it came from) or a rejection for each record of one
    source, and notes on how it was read.

    The format follows the suffix; ``.xml``, ``.rss`` and ``.atom`` files are told
    apart by their root element (see :func:`recommender.feeds.read_xml`).

    Raises:
        InvalidCorpus: the source cannot be read at all.
    """
    if not path.exists():
        raise InvalidCorpus(path, "no such file or directory")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in MARKDOWN_SUFFIXES)
        if not files:
            raise InvalidCorpus(path, "directory holds no Markdown (.md) files")
        for file in files:
            yield from _read_markdown(file)
        return
    suffix = path.suffix.lower()
    if suffix in MARKDOWN_SUFFIXES:
        yield from _read_markdown(path)
    elif suffix in JSONL_SUFFIXES:
        yield from _read_jsonl(path)
    elif suffix in CSV_SUFFIXES:
        yield from _read_csv(path, csv_delimiter)
    elif suffix in XML_SUFFIXES:
        yield from _read_xml(path)
    else:
        raise InvalidCorpus(
            path,
            f"unknown source format {suffix!r}: expected a directory of .md, .jsonl, .csv, "
            "or a WordPress export or RSS/Atom feed (.xml, .rss, .atom)",
        )


def _read_text(path: Path, newline: str | None = None) -> str:
    """The file's text; ``newline=""`` keeps line ends as they are (the default
    turns ``\r\n`` and ``\r`` into ``\n``)."""
    try:
        # utf-8-sig: spreadsheet exports often start with a byte-order mark.
        with path.open(encoding="utf-8-sig", newline=newline) as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        raise InvalidCorpus(path, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InvalidCorpus(path, exc.strerror or str(exc)) from None


def _validate(
    record: dict[str, Any], where: _Where, line_of: dict[str, int] | None = None
) -> list[_Item]:
    try:
        return [(Article.from_record(record), where)]
    except ValidationError as exc:
        rejections: list[_Item] = []
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            name = loc[0] if loc else None
            label = name + "".join(f"[{p}]" for p in loc[1:]) if name else None
            line = (line_of or {}).get(name or "", where.line)
            reason = error["msg"]
            if error["type"] == "missing":
                reason = "required field is missing"
            elif error["type"] == "value_error":
                reason = reason.removeprefix("Value error, ")
            rejections.append(Rejection(where.source, line, label, reason))
        return rejections


def _read_markdown(path: Path) -> Iterator[_Item]:
    text = _read_text(path)
    source = str(path)
    lines = text.split("\n")
    if lines[0].strip() == "+++":
        reason = "TOML front matter ('+++') is not read: write it as YAML between '---' lines"
        yield Rejection(source, 1, None, reason)
        return
    if lines[0].strip() != "---":
        yield Rejection(source, 1, None, "no YAML front matter (the file must start with '---')")
        return
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() in {"---", "..."})
    except StopIteration:
        yield Rejection(source, 1, None, "front matter is not closed by a '---' line")
        return
    try:
        meta = parse_front_matter("\n".join(lines[1:end]), first_line=2)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        yield Rejection(source, line, None, f"invalid YAML front matter: {problem}")
        return
    if meta.problems:
        for problem in meta.problems:
            yield Rejection(source, problem.line, problem.field, problem.reason)
        return
    line_of = {**meta.lines, "body": end + 2}
    record = dict(meta.values)
    if "body" in record:
        yield Rejection(source, meta.lines["body"], "body", "set in front matter; write it below")
        return
    record["body"] = markdown_to_text("\n".join(lines[end + 1 :]))
    yield from _validate(record, _Where(source, 1), line_of)


def _read_jsonl(path: Path) -> Iterator[_Item]:
    source = str(path)
    # JSON Lines ends records at "\n" (a "\r" before it is tolerated); JSON strings
    # may hold U+2028, U+2029 and U+0085, where str.splitlines() would also split.
    for number, raw in enumerate(_read_text(path, newline="").split("\n"), start=1):
        raw = raw.removesuffix("\r")
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield Rejection(source, number, None, f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(record, dict):
            yield Rejection(source, number, None, "each line must be a JSON object")
            continue
        yield from _validate(record, _Where(source, number))


def _read_xml(path: Path) -> Iterator[_Item]:
    source = str(path)
    for raw in read_xml(path):
        yield from _validate(raw.record, _Where(source, raw.line))


_REQUIRED_FIELDS = tuple(n for n, f in Article.model_fields.items() if f.is_required())


def _read_csv(path: Path, named_delimiter: str | None) -> Iterator[_Item]:
    source = str(path)
    text = _read_text(path)
    lines = csvreader.physical_lines(text)
    delimiter = csvreader.choose_delimiter(text, named_delimiter, KNOWN_FIELDS)
    csvreader.allow_fields_up_to(len(text) + 1)
    rows = csvreader.iter_rows(lines, delimiter.char)
    header = next(rows, None)
    if header is None:
        raise InvalidCorpus(path, "empty CSV file: expected a header row with id,title,body,...")
    note = f"read as CSV with {delimiter.describe()}"
    if header.cells is None:
        yield Rejection(source, header.line, None, f"header row: {header.problem}")
        yield SourceNote(source, note)
        return
    columns = [cell.strip() for cell in header.cells]
    problem = _header_problem(columns, lines[header.line - 1], delimiter)
    if problem:
        yield Rejection(source, header.line, None, problem)
        yield SourceNote(source, note)
        return
    count = 0
    for row in rows:
        count += 1
        if row.cells is None:
            yield Rejection(source, row.line, None, row.problem)
            continue
        # An empty cell means "not given", as in the other formats.
        cells = zip(columns, row.cells, strict=True)
        record = {name: value for name, value in cells if name and value != ""}
        yield from _validate(record, _Where(source, row.line))
    below = f"{count} row(s)" if count else "no rows"
    yield SourceNote(source, f"{note}; {below} below the header")


def _header_problem(columns: list[str], header_text: str, delimiter: csvreader.Delimiter) -> str:
    """Why no row of a CSV file can be read with this header ("" when it can)."""
    seen: dict[str, int] = {}
    for number, name in enumerate(columns, start=1):
        if name and name in seen:
            return f"header row: column {name!r} appears twice (columns {seen[name]} and {number})"
        seen[name] = number
    missing = [name for name in _REQUIRED_FIELDS if name not in seen]
    if not missing:
        return ""
    listed = ", ".join(repr(name) for name in missing)
    label = csvreader.delimiter_label(delimiter.char)
    reason = f"header row: no {listed} column when split at {label}, so no row can be read"
    hint = csvreader.header_hint(header_text.rstrip("\r\n"), delimiter.char, KNOWN_FIELDS)
    return f"{reason}; {hint}" if hint else reason
