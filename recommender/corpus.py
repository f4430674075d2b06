"""Readers for corpus sources: a directory of Markdown files with YAML front
matter, a JSONL file, a CSV file, a WordPress export, an RSS or Atom feed file.

The XML sources are parsed in :mod:`recommender.feeds`; their records are
validated here like every other format's.

Readers never stop at a bad record: each record becomes an :class:`Article` or a
:class:`Rejection` that says which source, line and field is wrong and why, so a
site with one broken article still gets the others indexed. A source that cannot
be read at all (missing, unknown format, not UTF-8, malformed or hostile XML)
raises :class:`~recommender.errors.InvalidCorpus`.

Markdown front matter is read by :mod:`recommender.frontmatter`, so text fields
keep the text as written.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .articles import Article
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


@dataclass
class CorpusLoad:
    """What reading some sources produced: valid articles and rejected records."""

    articles: list[Article] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def load_corpus(sources: Iterable[Path | str]) -> CorpusLoad:
    """Read every source; ids must be unique across all of them (the first one wins).

    Raises:
        InvalidCorpus: a source is missing, of an unknown format or unreadable
            (including malformed XML and XML with a DTD).
    """
    result = CorpusLoad()
    first_seen: dict[str, str] = {}
    for source in sources:
        for item in read_source(Path(source)):
            if isinstance(item, Rejection):
                result.rejections.append(item)
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


_Item = tuple[Article, _Where] | Rejection


def read_source(path: Path) -> Iterator[_Item]:
    """Yield (article, where it came from) or a rejection for each record of one source.

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
        yield from _read_csv(path)
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


def _read_csv(path: Path) -> Iterator[_Item]:
    source = str(path)
    reader = csv.DictReader(_read_text(path).splitlines(keepends=True))
    if not reader.fieldnames:
        raise InvalidCorpus(path, "empty CSV file: expected a header row with id,title,body,...")
    start = 2
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if None in row:
                yield Rejection(source, line, None, "more cells than header columns")
                continue
            # An empty cell means "not given", as in the other formats.
            record = {k.strip(): v for k, v in row.items() if k and v not in (None, "")}
            yield from _validate(record, _Where(source, line))
    except csv.Error as exc:
        yield Rejection(source, reader.line_num, None, f"malformed CSV: {exc}")
