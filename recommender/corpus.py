"""Readers for corpus sources: a directory of Markdown files with YAML front
matter, a JSONL file, a CSV file, a Parquet file, a WordPress export, an RSS or
Atom feed file.

The XML sources are parsed in :mod:`recommender.feeds` and Parquet files in
:mod:`recommender.parquet`; their records are validated here like every other
format's. A record's supplied vector (``embedding``, see
:mod:`recommender.vectors`) is taken out of the record, checked, and carried
beside the articles in :class:`SuppliedVectors`.

Readers never stop at a bad record: each record becomes an :class:`Article` or a
:class:`Rejection` that says which source, line and field is wrong and why, so a
site with one broken article still gets the others indexed. A source that cannot
be read at all (missing, unknown format, not UTF-8, malformed or hostile XML)
raises :class:`~recommender.errors.InvalidCorpus`. What is worth knowing about
how sources were read (the delimiter a CSV file was read with, WordPress ids
given a site namespace) is a :class:`SourceNote`.

Records are split where their format says: JSON Lines at ``\n`` only (a JSON
string may hold U+2028, U+2029 and U+0085, which ``str.splitlines`` would cut
at); CSV as :mod:`recommender.csvreader` reads it; Markdown front matter as
:mod:`recommender.frontmatter` reads it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import yaml
from pydantic import ValidationError

from . import csvreader
from .articles import KNOWN_FIELDS, Article, id_problem, image_problem
from .errors import InvalidArgument, InvalidCorpus
from .feeds import XML_SUFFIXES, read_xml
from .frontmatter import parse_front_matter
from .namespaces import NamespaceMode, NamespacePlan, plan_namespaces
from .parquet import read_parquet, row_group_spans
from .text import markdown_to_html
from .vectors import FIELD as EMBEDDING
from .vectors import ModelDimension, VectorProblem, check_vector

ShortcodeScope = Literal["all", "wordpress"]

MARKDOWN_SUFFIXES = {".md", ".markdown"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
CSV_SUFFIXES = {".csv"}
PARQUET_SUFFIXES = {".parquet"}


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
    """How sources were read, when that is worth saying: the delimiter a CSV file
    was read with, WordPress ids given a site namespace, or an optional value left
    out of an article that was kept (a bad ``image``, see :func:`left_out`).
    ``source`` is None for a note about the whole load; ``line`` and ``field``
    say where in the source, when the note is about one record."""

    source: str | None
    note: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        about = f"{self.field}: {self.note}" if self.field else self.note
        return about if where is None else f"{where}: {about}"

    def to_json(self) -> dict[str, Any]:
        """The note as a JSON-ready mapping."""
        return {"source": self.source, "line": self.line, "field": self.field, "note": self.note}


def left_out(source: str, line: int | None, field: str, reason: str) -> SourceNote:
    """The note on an optional value left out of a record that was indexed without it."""
    return SourceNote(source, f"left out, the article is indexed without it: {reason}", line, field)


@dataclass
class SuppliedVectors:
    """The vectors records supplied (their ``embedding``), beside the articles: kept
    out of :class:`Article` so they never reach the snapshot's article records, and
    held as one array rather than one object per article.

    Attributes:
        positions: ascending indexes into :attr:`CorpusLoad.articles`, int64.
        matrix: ``(len(positions), dim)`` float32, row ``i`` the L2-normalised
            vector of article ``positions[i]``.
    """

    positions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))

    def __len__(self) -> int:
        return len(self.positions)

    def by_id(self, articles: list[Article]) -> dict[str, np.ndarray]:
        """Article id → supplied vector (for tests and small corpora)."""
        return {articles[p].id: self.matrix[i] for i, p in enumerate(self.positions)}


READER_VERSION = 2
"""Part of every record digest: raise it when reading or validating a record changes
what it gives, so a reindex validates every record again instead of taking the
articles an older version made (see :class:`KnownRecords`). 2: ``image`` became an
article field (version 1 kept it in ``extra``); a bad one is left out, a relative
one resolved against the article's url. A change to :class:`Article`'s fields needs
no raise: the digest covers their schema too (:data:`ARTICLE_SCHEMA`)."""

ARTICLE_SCHEMA = hashlib.blake2b(
    json.dumps(Article.model_json_schema(), sort_keys=True).encode(), digest_size=8
).hexdigest()
"""A digest of the article's declared fields (names, types, limits): a field added or
changed makes every record read again, so a key an earlier build kept in ``extra``
reaches its new field."""


def record_digest(raw: bytes, shortcodes: bool, title_is_text: bool) -> bytes:
    """16 bytes naming one raw record as read (its bytes in the source, and how it is
    read): two records with one digest validate to the same article."""
    salt = f"{READER_VERSION}|{ARTICLE_SCHEMA}|{int(shortcodes)}|{int(title_is_text)}|".encode()
    return hashlib.blake2b(salt + raw, digest_size=16).digest()


@dataclass(frozen=True)
class KnownRecords:
    """Articles an earlier build validated, by the digest of their raw record
    (:func:`record_digest`): a reindex takes a record it finds here as that article
    and its content hash, without validating it again (most of reading a large
    corpus is validation and reducing HTML to text).

    Attributes:
        positions: record digest → position in the earlier build.
        article: the stored article at a position; None on a worker of a sharded
            read, which knows only the digests (:meth:`digests_only`): it names the
            position, and :func:`combine_shards` takes the article there.
        content_hash: its content hash as stored (covering its supplied vector);
            None with ``article``.
    """

    positions: Mapping[bytes, int]
    article: Callable[[int], Article] | None = None
    content_hash: Callable[[int], str] | None = None

    def digests_only(self) -> KnownRecords:
        """What a worker needs: the digests and positions alone, as two arrays
        (:class:`KnownDigests`) that a cluster shares without copying, not the
        stored articles, which only the driver reads."""
        return KnownRecords(KnownDigests.of(self.positions))


class KnownDigests(Mapping[bytes, int]):
    """A read-only map from 16-byte record digests to positions, held as two numpy
    arrays (digests sorted, and their positions): a million entries are 24 MB that
    Ray's object store hands to every task without a copy, where a dict would be
    unpickled by each.

    Args:
        digests: ``(n,)`` ``S16``, ascending.
        positions: ``(n,)`` int64, the position of each digest.
    """

    def __init__(self, digests: np.ndarray, positions: np.ndarray) -> None:
        self.digests = digests
        self.positions = positions

    @classmethod
    def of(cls, mapping: Mapping[bytes, int]) -> KnownDigests:
        """The arrays of ``mapping`` (16-byte keys)."""
        digests = np.array(list(mapping), dtype="S16")
        positions = np.fromiter(mapping.values(), dtype=np.int64, count=len(mapping))
        order = np.argsort(digests, kind="stable")
        return cls(digests[order], positions[order])

    def __getitem__(self, digest: bytes) -> int:
        at = int(np.searchsorted(self.digests, digest))
        # numpy hands S16 items back without trailing NUL bytes; with every key 16
        # bytes long, stripping them loses nothing.
        if at < len(self.digests) and self.digests[at] == digest.rstrip(b"\0"):
            return int(self.positions[at])
        raise KeyError(digest)

    def __iter__(self) -> Iterator[bytes]:
        return (bytes(d).ljust(16, b"\0") for d in self.digests)

    def __len__(self) -> int:
        return len(self.digests)


@dataclass
class CorpusLoad:
    """What reading some sources produced: valid articles, the vectors some of them
    supplied, rejected records, and notes on how they were read.

    ``digests`` and ``known_hashes`` run beside ``articles``: each article's record
    digest (None for records read without one, such as WordPress posts, whose ids
    are namespaced after validation) and, for an article taken from
    :class:`KnownRecords`, its stored content hash.
    """

    articles: list[Article] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    notes: list[SourceNote] = field(default_factory=list)
    vectors: SuppliedVectors = field(default_factory=SuppliedVectors)
    digests: list[bytes | None] = field(default_factory=list)
    known_hashes: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A load made of articles alone (a test, an API) read no record digests.
        missing = len(self.articles) - len(self.digests)
        self.digests.extend([None] * missing)
        self.known_hashes.extend([None] * (len(self.articles) - len(self.known_hashes)))


@dataclass(frozen=True)
class ReadOptions:
    """How sources are read (see docs/sources.md).

    Attributes:
        strip_shortcodes: ``all`` removes WordPress shortcodes from the body and
            summary of every source, ``wordpress`` only from WordPress exports.
        wxr_id_namespace: ``auto``, ``site`` or ``none``: when WordPress post ids
            become ``<site>:<post id>`` (see :mod:`recommender.namespaces`).
        id_namespaces: WordPress export file → the namespace chosen for its posts.
        csv_delimiter: the one character between CSV cells, or None to detect it
            for each CSV file (see :func:`recommender.csvreader.choose_delimiter`).
        model_dim: the length a supplied ``embedding`` must have (the configured
            model's), asked for when the first one is read; by default any length.
        known: articles an earlier build validated, taken as they are when their
            raw record is read again unchanged.
    """

    strip_shortcodes: ShortcodeScope = "all"
    wxr_id_namespace: NamespaceMode = "auto"
    id_namespaces: Mapping[Path, str] = field(default_factory=dict)
    csv_delimiter: str | None = None
    model_dim: ModelDimension = field(default_factory=ModelDimension)
    known: KnownRecords | None = None


def load_corpus(sources: Iterable[Path | str], options: ReadOptions | None = None) -> CorpusLoad:
    """Read every source; ids must be unique across all of them (the first one wins).

    Raises:
        InvalidCorpus: a source is missing, of an unknown format or unreadable
            (including malformed XML and XML with a DTD).
        InvalidArgument: ``options.id_namespaces`` names a file that is not one of
            ``sources``.
    """
    options = options or ReadOptions()
    paths = [Path(source) for source in sources]
    names = _chosen_namespaces(options.id_namespaces, paths)
    # Every source is read before any id is final: whether WordPress post ids need
    # a site namespace depends on how many sites the whole load holds.
    items = [
        _resolved(item, options.known) for path in paths for item in read_source(path, options)
    ]
    return _combined(items, options, names)


@dataclass(frozen=True)
class Shard:
    """A part of the sources that can be read on its own (:func:`read_shard`), on
    any machine that sees the source at the same path.

    Attributes:
        source: the source as given: a file, or a directory of Markdown files.
        files: for a Markdown directory, the files of this part, as
            :func:`read_source` names them; empty for a file.
        span: for a JSON Lines file, (first byte, end byte, number of the first
            line) of this part, whole lines; None for a whole file.
        groups: for a Parquet file, (first row group, end row group, number of
            the first row) of this part; None for a whole file.
    """

    source: str
    files: tuple[str, ...] = ()
    span: tuple[int, int, int] | None = None
    groups: tuple[int, int, int] | None = None
    base: str | None = None
    """The directory a relative ``source`` is found in (where the shards were
    planned), so a worker in another directory reads the same files; records
    and rejections still name the source as given."""


SHARD_RECORDS = 2_000
"""Records per shard: Markdown files of a directory, or lines of a JSON Lines file."""


def plan_shards(
    sources: Iterable[Path | str],
    options: ReadOptions | None = None,
    records: int = SHARD_RECORDS,
) -> list[Shard]:
    """Cut ``sources`` into shards of about ``records`` records, in reading order.

    A Markdown directory is cut into groups of files, a JSON Lines file into
    runs of whole lines (found by scanning its bytes once for line ends) and a
    Parquet file into runs of whole row groups (from its footer); every other
    source (CSV, XML) is one shard, as its records are not self-contained (a CSV
    header and quoted line ends, a feed's sites). Reading the shards in order
    and combining them (:func:`combine_shards`) gives what :func:`load_corpus`
    gives.

    Raises:
        InvalidCorpus: a directory holds no Markdown files.
        InvalidArgument: ``options.id_namespaces`` names a file that is not one of
            ``sources`` (checked here, before anything is read).
    """
    paths = [Path(source) for source in sources]
    _chosen_namespaces((options or ReadOptions()).id_namespaces, paths)
    shards: list[Shard] = []
    for path in paths:
        base = None if path.is_absolute() else os.getcwd()
        if path.is_dir():
            files = [str(file) for file in _markdown_files(path)]
            shards.extend(
                Shard(str(path), files=tuple(files[start : start + records]), base=base)
                for start in range(0, len(files), records)
            )
        elif path.suffix.lower() in JSONL_SUFFIXES and path.is_file():
            spans = _line_spans(path, records)
            shards.extend(Shard(str(path), span=span, base=base) for span in spans)
        elif path.suffix.lower() in PARQUET_SUFFIXES and path.is_file():
            groups = row_group_spans(path, records)
            shards.extend(Shard(str(path), groups=group, base=base) for group in groups)
        else:
            shards.append(Shard(str(path), base=base))
    return shards


def _line_spans(path: Path, lines: int) -> list[tuple[int, int, int]]:
    """(first byte, end byte, first line number) of each run of ``lines`` lines."""
    spans: list[tuple[int, int, int]] = []
    start, line, offset, seen = 0, 1, 0, 0
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                at = block.find(b"\n")
                while at >= 0:
                    seen += 1
                    if seen == lines:
                        spans.append((start, offset + at + 1, line))
                        start, line, seen = offset + at + 1, line + lines, 0
                    at = block.find(b"\n", at + 1)
                offset += len(block)
    except OSError as exc:
        raise InvalidCorpus(path, exc.strerror or str(exc)) from None
    if offset > start or not spans:
        spans.append((start, offset, line))
    return spans


def read_shard(shard: Shard, options: ReadOptions | None = None) -> list[_Item]:
    """The records of one shard, each an article (with where it was read), a
    rejection or a note: a stage of the build that any worker can run.

    Raises:
        InvalidCorpus: the source cannot be read at all.
    """
    options = options or ReadOptions()
    if shard.base is None:
        return _read_located(shard, options)
    base = Path(shard.base)
    located = replace(
        shard,
        source=str(base / shard.source),
        files=tuple(str(base / file) for file in shard.files),
        base=None,
    )
    prefix = str(base / "_")[:-1]  # the base and its separator
    return [_named(item, prefix) for item in _read_located(located, options)]


def _named(item: _Item, prefix: str) -> _Item:
    """``item`` with its source named as given: without the ``prefix`` it was read under."""

    def given(source: str) -> str:
        return source.removeprefix(prefix)

    if isinstance(item, _Read | _KnownRead):
        return item._replace(where=replace(item.where, source=given(item.where.source)))
    if item.source is None:
        return item
    return replace(item, source=given(item.source))


def _read_located(shard: Shard, options: ReadOptions) -> list[_Item]:
    """The records of a shard whose paths can be opened from here as they are."""
    shortcodes = options.strip_shortcodes == "all"
    if shard.files:
        return [
            item
            for file in shard.files
            for item in _read_markdown(Path(file), shortcodes, options.model_dim, options.known)
        ]
    if shard.span is not None:
        return list(
            _read_jsonl(
                Path(shard.source), shortcodes, options.model_dim, options.known, shard.span
            )
        )
    if shard.groups is not None:
        return list(
            _read_parquet(
                Path(shard.source), shortcodes, options.model_dim, options.known, shard.groups
            )
        )
    return list(read_source(Path(shard.source), options))


def combine_shards(
    sources: Iterable[Path | str],
    reads: Iterable[Sequence[_Item]],
    options: ReadOptions | None = None,
) -> CorpusLoad:
    """What :func:`load_corpus` gives, from the :func:`read_shard` results of
    :func:`plan_shards` of ``sources`` (in the shards' order): ids namespaced
    across the whole load, the first of two equal ids kept, supplied vectors
    gathered into one array."""
    options = options or ReadOptions()
    names = _chosen_namespaces(options.id_namespaces, [Path(source) for source in sources])
    items = [_resolved(item, options.known) for read in reads for item in read]
    return _combined(items, options, names)


def _resolved(item: _Item, known: KnownRecords | None) -> _Resolved:
    """``item``, with a record a worker found unchanged taken from ``known``."""
    if not isinstance(item, _KnownRead):
        return item
    if known is None or known.article is None or known.content_hash is None:
        raise ValueError("a shard named known records, but the stored articles are not given")
    position = item.position
    return _Read(
        known.article(position),
        item.where,
        item.vector,
        item.digest,
        known_hash=known.content_hash(position),
    )


def _combined(items: list[_Resolved], options: ReadOptions, names: dict[str, str]) -> CorpusLoad:
    """The load made of every source's items, in reading order."""
    result = CorpusLoad()
    namespaces = _plan_namespaces(items, options, names, result)
    first_seen: dict[str, str] = {}
    supplied: list[tuple[int, np.ndarray]] = []
    for item in items:
        if isinstance(item, SourceNote):
            result.notes.append(item)
            continue
        if not isinstance(item, Rejection) and item.where.site is not None:
            item = _namespaced(item, namespaces)
        if isinstance(item, Rejection):
            result.rejections.append(item)
            continue
        article, where = item.article, item.where
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
        if item.vector is not None:
            supplied.append((len(result.articles), item.vector))
        result.articles.append(article)
        result.digests.append(item.digest)
        result.known_hashes.append(item.known_hash)
    if supplied:
        result.vectors = SuppliedVectors(
            np.array([position for position, _ in supplied], dtype=np.int64),
            np.stack([vector for _, vector in supplied]),
        )
    return result


@dataclass(frozen=True)
class _Where:
    source: str
    line: int | None
    site: str | None = None  # the site URL of a WordPress export's post

    def __str__(self) -> str:
        return self.source if self.line is None else f"{self.source}:{self.line}"


class _Read(NamedTuple):
    """A valid record: its article, where it was read, and the vector it supplied."""

    article: Article
    where: _Where
    vector: np.ndarray | None = None
    digest: bytes | None = None
    known_hash: str | None = None


class _KnownRead(NamedTuple):
    """A record a worker found unchanged (:meth:`KnownRecords.digests_only`): the
    position of its article in the earlier build, which :func:`combine_shards`
    takes on the driver."""

    position: int
    where: _Where
    digest: bytes
    vector: np.ndarray | None = None


_Resolved = _Read | Rejection | SourceNote
_Item = _Read | _KnownRead | Rejection | SourceNote


def _chosen_namespaces(chosen: Mapping[Path, str], paths: list[Path]) -> dict[str, str]:
    """Source (as read) → chosen namespace; the files are matched by resolved path."""
    by_path = {path.resolve(): str(path) for path in paths}
    names = {}
    for file, name in chosen.items():
        source = by_path.get(Path(file).resolve())
        if source is None:
            raise InvalidArgument(
                "--id-namespace", f"{file} is not one of the sources being indexed"
            )
        names[source] = name
    return names


def _plan_namespaces(
    items: list[_Resolved], options: ReadOptions, names: dict[str, str], result: CorpusLoad
) -> NamespacePlan:
    sites: dict[str, str] = {}
    for item in items:
        if isinstance(item, _Read) and item.where.site is not None:
            sites.setdefault(item.where.source, item.where.site)
    plan = plan_namespaces(sites, options.wxr_id_namespace, names)
    if plan.notice:
        result.notes.append(SourceNote(None, plan.notice))
    for source in names:
        if source not in sites:
            result.notes.append(
                SourceNote(
                    source,
                    "--id-namespace: no WordPress post was read from it, so the name "
                    "is not used (namespaces apply to WordPress exports)",
                )
            )
    return plan


def _namespaced(item: _Read, namespaces: NamespacePlan) -> _Read | Rejection:
    article, where = item.article, item.where
    new_id = namespaces.id_for(where.source, article.id)
    if new_id == article.id:
        return item
    problem = id_problem(new_id)
    if problem is not None:
        return Rejection(where.source, where.line, "id", f"namespaced id {new_id!r}: {problem}")
    return item._replace(article=article.model_copy(update={"id": new_id}))


def read_source(path: Path, options: ReadOptions | None = None) -> Iterator[_Item]:
    """Yield (article, where it came from) or a rejection for each record of one source.

    The format follows the suffix; ``.xml``, ``.rss`` and ``.atom`` files are told
    apart by their root element (see :func:`recommender.feeds.read_xml`). WordPress
    post ids are bare here; :func:`load_corpus` namespaces them.

    Raises:
        InvalidCorpus: the source cannot be read at all.
    """
    options = options or ReadOptions()
    shortcodes = options.strip_shortcodes == "all"
    if not path.exists():
        raise InvalidCorpus(path, "no such file or directory")
    if path.is_dir():
        for file in _markdown_files(path):
            yield from _read_markdown(file, shortcodes, options.model_dim, options.known)
        return
    suffix = path.suffix.lower()
    if suffix in MARKDOWN_SUFFIXES:
        yield from _read_markdown(path, shortcodes, options.model_dim, options.known)
    elif suffix in JSONL_SUFFIXES:
        yield from _read_jsonl(path, shortcodes, options.model_dim, options.known)
    elif suffix in CSV_SUFFIXES:
        yield from _read_csv(
            path, options.csv_delimiter, shortcodes, options.model_dim, options.known
        )
    elif suffix in PARQUET_SUFFIXES:
        yield from _read_parquet(path, shortcodes, options.model_dim, options.known)
    elif suffix in XML_SUFFIXES:
        yield from _read_xml(path, shortcodes)
    else:
        raise InvalidCorpus(
            path,
            f"unknown source format {suffix!r}: expected a directory of .md, .jsonl, .csv, "
            ".parquet, or a WordPress export or RSS/Atom feed (.xml, .rss, .atom)",
        )


def _markdown_files(directory: Path) -> list[Path]:
    """The Markdown files under ``directory``, in reading order.

    Raises:
        InvalidCorpus: there is none.
    """
    files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in MARKDOWN_SUFFIXES)
    if not files:
        raise InvalidCorpus(directory, "directory holds no Markdown (.md) files")
    return files


def _read_span(path: Path, span: tuple[int, int, int]) -> str:
    """The text of bytes ``span[0]:span[1]`` of a file, cut at line ends (a
    byte-order mark is dropped at the start of the file only)."""
    start, end, _ = span
    try:
        with path.open("rb") as handle:
            handle.seek(start)
            data = handle.read(end - start)
    except OSError as exc:
        raise InvalidCorpus(path, exc.strerror or str(exc)) from None
    try:
        return data.decode("utf-8-sig" if start == 0 else "utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidCorpus(path, f"not UTF-8 text (byte {start + exc.start})") from None


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
    record: dict[str, Any],
    where: _Where,
    line_of: dict[str, int] | None = None,
    *,
    shortcodes: bool = False,
    title_is_text: bool = False,
    model_dim: ModelDimension | None = None,
    raw: bytes | None = None,
    known: KnownRecords | None = None,
) -> list[_Item]:
    """The record as an article, or its rejections. A supplied ``embedding`` is
    taken out of the record (it never becomes part of the article) and checked
    against the model's length; a bad one rejects the record. ``raw`` (the record's
    bytes in its source) names it for :class:`KnownRecords`."""
    vector, problem = None, None
    if EMBEDDING in record:
        record = dict(record)
        value = record.pop(EMBEDDING)
        if value is not None:
            try:
                vector = check_vector(value, (model_dim or ModelDimension()).get())
            except VectorProblem as exc:
                problem = str(exc)
    line = (line_of or {}).get(EMBEDDING, where.line)
    return _with_vector(
        _known_or_validated(record, where, line_of, shortcodes, title_is_text, raw, known),
        vector,
        problem,
        where.source,
        line,
    )


def _with_vector(
    items: list[_Item],
    vector: np.ndarray | None,
    problem: str | None,
    source: str,
    line: int | None,
) -> list[_Item]:
    """A validated record with its supplied vector attached, or rejected for it."""
    if problem is not None:
        others = [item for item in items if isinstance(item, Rejection)]
        return [Rejection(source, line, EMBEDDING, problem), *others]
    if vector is None:
        return items
    return [
        item._replace(vector=vector) if isinstance(item, _Read | _KnownRead) else item
        for item in items
    ]


def _known_or_validated(
    record: dict[str, Any],
    where: _Where,
    line_of: dict[str, int] | None,
    shortcodes: bool,
    title_is_text: bool,
    raw: bytes | None,
    known: KnownRecords | None,
) -> list[_Item]:
    """The article of a record read before unchanged (see :class:`KnownRecords`),
    else the record validated; either way with the record's digest, and with a
    note on a bad image it was indexed without (on every read, so a reindex that
    takes the known article still says so)."""
    record, notes = _without_bad_image(record, where, line_of)
    if raw is None:
        return _kept_with(
            _validate_article(record, where, line_of, shortcodes, title_is_text), notes
        )
    digest = record_digest(raw, shortcodes, title_is_text)
    position = known.positions.get(digest) if known is not None else None
    if known is not None and position is not None:
        if known.article is None or known.content_hash is None:  # a worker: by position
            return [_KnownRead(position, where, digest), *notes]
        article = known.article(position)
        read = _Read(article, where, digest=digest, known_hash=known.content_hash(position))
        return [read, *notes]
    items = _validate_article(record, where, line_of, shortcodes, title_is_text)
    items = [item._replace(digest=digest) if isinstance(item, _Read) else item for item in items]
    return _kept_with(items, notes)


def _without_bad_image(
    record: dict[str, Any], where: _Where, line_of: dict[str, int] | None
) -> tuple[dict[str, Any], list[SourceNote]]:
    """``record`` without an ``image`` that is no image URL, and the note saying so.

    An image is an optional extra: a bad one must not cost the article (its
    record is otherwise good), so it is left out here rather than rejected by
    validation. :func:`~recommender.articles.image_problem` says why exactly as
    validation would (a relative image resolves against the record's ``url``).
    """
    problem = image_problem(record.get("image"), record.get("url"))
    if problem is None:
        return record, []
    line = (line_of or {}).get("image", where.line)
    rest = {name: value for name, value in record.items() if name != "image"}
    return rest, [left_out(where.source, line, "image", problem)]


def _kept_with(items: list[_Item], notes: Sequence[SourceNote]) -> list[_Item]:
    """``items`` and ``notes`` on what the article was indexed without; the notes
    only if the record became an article (a rejected record's rejections say what
    to fix first)."""
    return [*items, *notes] if any(isinstance(item, _Read) for item in items) else items


def _validate_article(
    record: dict[str, Any],
    where: _Where,
    line_of: dict[str, int] | None,
    shortcodes: bool,
    title_is_text: bool,
) -> list[_Item]:
    try:
        article = Article.from_record(
            record, strip_shortcodes=shortcodes, title_is_text=title_is_text
        )
        return [_Read(article, where)]
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


def _read_markdown(
    path: Path, shortcodes: bool, model_dim: ModelDimension, known: KnownRecords | None = None
) -> Iterator[_Item]:
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
    notes = [left_out(source, p.line, p.field or "", p.reason) for p in meta.left_out]
    line_of = {**meta.lines, "body": end + 2}
    record = dict(meta.values)
    if "body" in record:
        yield Rejection(source, meta.lines["body"], "body", "set in front matter; write it below")
        return
    # Rendered to HTML only: validation reduces it to text once, so "&amp;amp;" in
    # the Markdown is not decoded twice.
    record["body"] = markdown_to_html("\n".join(lines[end + 1 :]))
    items = _validate(
        record,
        _Where(source, 1),
        line_of,
        shortcodes=shortcodes,
        model_dim=model_dim,
        raw=text.encode("utf-8"),
        known=known,
    )
    yield from _kept_with(items, notes)


def _read_jsonl(
    path: Path,
    shortcodes: bool,
    model_dim: ModelDimension,
    known: KnownRecords | None = None,
    span: tuple[int, int, int] | None = None,
) -> Iterator[_Item]:
    source = str(path)
    text = _read_text(path, newline="") if span is None else _read_span(path, span)
    # JSON Lines ends records at "\n" (a "\r" before it is tolerated); JSON strings
    # may hold U+2028, U+2029 and U+0085, where str.splitlines() would also split.
    first = 1 if span is None else span[2]
    for number, raw in enumerate(text.split("\n"), start=first):
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
        yield from _validate(
            record,
            _Where(source, number),
            shortcodes=shortcodes,
            model_dim=model_dim,
            raw=raw.encode("utf-8"),
            known=known,
        )


def _read_xml(path: Path, shortcodes: bool) -> Iterator[_Item]:
    source = str(path)
    for raw in read_xml(path):
        # feeds.py hands over titles as text (feedparser's, or a WordPress title's
        # HTML reduced there); WordPress exports always lose their shortcodes.
        yield from _validate(
            raw.record,
            _Where(source, raw.line, raw.site),
            shortcodes=shortcodes or raw.site is not None,
            title_is_text=True,
        )


_REQUIRED_FIELDS = tuple(n for n, f in Article.model_fields.items() if f.is_required())


def _read_csv(
    path: Path,
    named_delimiter: str | None,
    shortcodes: bool,
    model_dim: ModelDimension,
    known: KnownRecords | None = None,
) -> Iterator[_Item]:
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
        record: dict[str, Any] = {name: value for name, value in cells if name and value != ""}
        if EMBEDDING in record:
            record[EMBEDDING] = _json_array(record[EMBEDDING])
        yield from _validate(
            record,
            _Where(source, row.line),
            shortcodes=shortcodes,
            model_dim=model_dim,
            raw=json.dumps([columns, row.cells], ensure_ascii=False).encode("utf-8"),
            known=known,
        )
    below = f"{count} row(s)" if count else "no rows"
    yield SourceNote(source, f"{note}; {below} below the header")


def _json_array(cell: str) -> Any:
    """A CSV cell's supplied vector: the JSON array it holds, else the text itself
    (which the vector check then refuses as not a list)."""
    try:
        return json.loads(cell)
    except ValueError:
        return cell


def _read_parquet(
    path: Path,
    shortcodes: bool,
    model_dim: ModelDimension,
    known: KnownRecords | None = None,
    groups: tuple[int, int, int] | None = None,
) -> Iterator[_Item]:
    source = str(path)
    for row in read_parquet(path, model_dim, groups):
        where = _Where(source, row.number)
        # The row's cells (in column order, as Arrow gives them) and its vector.
        raw = json.dumps(row.record, ensure_ascii=False, default=str).encode("utf-8")
        if row.vector is not None:
            raw += row.vector.tobytes()
        items = _known_or_validated(row.record, where, None, shortcodes, False, raw, known)
        yield from _with_vector(items, row.vector, row.problem, source, row.number)


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
