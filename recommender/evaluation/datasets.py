"""Benchmark data: the usual layouts read into documents, queries and judgments.

TREC qrels, BEIR (``corpus.jsonl``, ``queries.jsonl``, qrels TSV) and the NFCorpus
release (``DOC_ID<TAB>TEXT``); the split to tune on beside the one evaluated.
The data never ships with the project: every function takes paths.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import InvalidArgument, InvalidCorpus

Qrels = dict[str, dict[str, int]]
"""query id → {document id → graded relevance}."""

Run = dict[str, dict[str, float]]
"""query id → {document id → score}: what a system retrieved, as ``trec_eval`` reads it."""

Format = Literal["auto", "beir", "nfcorpus"]


# NFCorpus documents are "<page title> [pubmed ncbi] abstract <abstract>" with the
# punctuation stripped; past this many words a lone "abstract" is body text.
_TITLE_MARKER = "abstract"
_TITLE_MAX_WORDS = 60


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Document:
    """One benchmark document."""

    id: str
    title: str
    text: str


@dataclass(frozen=True)
class BenchQuery:
    """One benchmark query.

    ``title`` is optional; when given it leads every embedding chunk of a long
    query after the first, as an article title does.
    """

    id: str
    text: str
    title: str = ""


@dataclass
class Benchmark:
    """A corpus, queries and relevance judgments for one split."""

    name: str
    documents: list[Document]
    queries: dict[str, BenchQuery]
    qrels: Qrels
    split: str = "test"

    def judged_queries(self) -> list[str]:
        """Ids of the queries that have text and at least one relevant judgment.

        Queries without a relevant document are skipped, as ``trec_eval`` and
        BEIR do: no system can score on them, so they would only dilute the mean.
        """
        return sorted(
            qid
            for qid, judged in self.qrels.items()
            if qid in self.queries and any(rel > 0 for rel in judged.values())
        )


# ------------------------------------------------------------------------ readers


def _open_text(path: Path) -> io.TextIOBase:
    """A text handle on a plain or gzip file; a missing or unreadable one is InvalidCorpus."""
    if not path.is_file():
        raise InvalidCorpus(path, "no such file")
    try:
        if path.suffix == ".gz":
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig")
        return open(path, encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidCorpus(path, exc.strerror or str(exc)) from None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line without its end) for every non-blank line."""
    with _open_text(path) as handle:
        try:
            for number, line in enumerate(handle, start=1):
                line = line.rstrip("\r\n")
                if line.strip():
                    yield number, line
        except UnicodeDecodeError as exc:
            raise InvalidCorpus(path, f"not UTF-8 text (byte {exc.start})") from None
        except (OSError, EOFError) as exc:  # a truncated or corrupt gzip file
            raise InvalidCorpus(path, f"cannot be read: {exc}") from None


def _relevance(path: Path, number: int, raw: str) -> int:
    try:
        value = float(raw)
    except ValueError:
        raise InvalidCorpus(path, f"relevance {raw!r} is not a number", number) from None
    if not value.is_integer():
        raise InvalidCorpus(path, f"relevance {raw!r} is not a whole number", number)
    return int(value)


def read_trec_qrels(path: Path | str) -> Qrels:
    """Read TREC qrels: ``QID ITER DOCID REL`` per line, whitespace separated.

    Raises:
        InvalidCorpus: the file is missing, or a line (named) is malformed.
    """
    path = Path(path)
    qrels: Qrels = {}
    for number, line in _lines(path):
        parts = line.split()
        if len(parts) != 4:
            raise InvalidCorpus(
                path, f"expected 4 fields 'QID 0 DOCID REL', found {len(parts)}", number
            )
        qid, _, docid, rel = parts
        qrels.setdefault(qid, {})[docid] = _relevance(path, number, rel)
    if not qrels:
        raise InvalidCorpus(path, "no judgments in the file")
    return qrels


def read_beir_qrels(path: Path | str) -> Qrels:
    """Read BEIR qrels: a TSV with the header ``query-id corpus-id score``.

    Raises:
        InvalidCorpus: the file is missing, the header is wrong, or a line is malformed.
    """
    path = Path(path)
    qrels: Qrels = {}
    lines = _lines(path)
    first = next(lines, None)
    if first is None or first[1].split("\t") != ["query-id", "corpus-id", "score"]:
        raise InvalidCorpus(path, "expected the header 'query-id<TAB>corpus-id<TAB>score'", 1)
    for number, line in lines:
        parts = line.split("\t")
        if len(parts) != 3:
            raise InvalidCorpus(
                path, f"expected 3 tab-separated fields, found {len(parts)}", number
            )
        qid, docid, rel = parts
        qrels.setdefault(qid, {})[docid] = _relevance(path, number, rel)
    if not qrels:
        raise InvalidCorpus(path, "no judgments in the file")
    return qrels


def read_qrels(path: Path | str) -> Qrels:
    """Read qrels in either layout: BEIR TSV if the first line is its header, else TREC."""
    path = Path(path)
    first = next(_lines(path), (0, ""))[1]
    if first.split("\t")[:1] == ["query-id"]:
        return read_beir_qrels(path)
    return read_trec_qrels(path)


def _split_nfcorpus_title(text: str) -> tuple[str, str]:
    words = text.split()
    for i, word in enumerate(words[:_TITLE_MAX_WORDS]):
        if word == _TITLE_MARKER and i > 0:
            title = words[:i]
            # PubMed page titles end in "PubMed - NCBI": boilerplate, not content.
            if title[-2:] == ["pubmed", "ncbi"] and len(title) > 2:
                title = title[:-2]
            return " ".join(title), " ".join(words[i + 1 :])
    return "", text


def read_nfcorpus_docs(path: Path | str) -> list[Document]:
    """Read NFCorpus documents: ``DOC_ID<TAB>TEXT`` per line, plain or gzip.

    The release's text is "<title> abstract <abstract>", pre-processed; the title
    is split off at that marker when it appears early (else it is left empty).

    Raises:
        InvalidCorpus: the file is missing, or a line (named) is malformed.
    """
    path = Path(path)
    documents = []
    for number, line in _lines(path):
        docid, tab, text = line.partition("\t")
        if not tab or not docid.strip() or not text.strip():
            raise InvalidCorpus(path, "expected 'DOC_ID<TAB>TEXT'", number)
        title, body = _split_nfcorpus_title(text.strip())
        documents.append(Document(docid.strip(), title, body))
    return documents


def _json_line(path: Path, number: int, line: str, fields: Sequence[str]) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidCorpus(path, f"invalid JSON: {exc.msg} (column {exc.colno})", number) from None
    if not isinstance(record, dict):
        raise InvalidCorpus(path, "each line must be a JSON object", number)
    for name in fields:
        if not isinstance(record.get(name), str | int) or isinstance(record.get(name), bool):
            raise InvalidCorpus(path, f"{name}: required string field is missing", number)
    return record


def read_beir_corpus(path: Path | str) -> list[Document]:
    """Read a BEIR corpus: JSONL (or .jsonl.gz) with ``_id``, ``title``, ``text``.

    Raises:
        InvalidCorpus: the file is missing, or a line (named) is malformed.
    """
    path = Path(path)
    documents = []
    for number, line in _lines(path):
        record = _json_line(path, number, line, ["_id", "text"])
        title = record.get("title") or ""
        documents.append(Document(str(record["_id"]), str(title).strip(), str(record["text"])))
    return documents


def read_beir_queries(path: Path | str) -> dict[str, BenchQuery]:
    """Read BEIR queries: JSONL with ``_id`` and ``text`` (an optional ``title`` is kept).

    Raises:
        InvalidCorpus: the file is missing, or a line (named) is malformed.
    """
    path = Path(path)
    queries = {}
    for number, line in _lines(path):
        record = _json_line(path, number, line, ["_id", "text"])
        qid = str(record["_id"])
        queries[qid] = BenchQuery(qid, str(record["text"]), str(record.get("title") or ""))
    return queries


def read_tsv_queries(path: Path | str) -> dict[str, BenchQuery]:
    """Read queries as ``QID<TAB>TEXT`` lines (the NFCorpus layout), plain or gzip.

    Raises:
        InvalidCorpus: the file is missing, or a line (named) is malformed.
    """
    path = Path(path)
    queries = {}
    for number, line in _lines(path):
        qid, tab, text = line.partition("\t")
        if not tab or not qid.strip() or not text.strip():
            raise InvalidCorpus(path, "expected 'QID<TAB>TEXT'", number)
        queries[qid.strip()] = BenchQuery(qid.strip(), text.strip())
    return queries


def _is_jsonl(path: Path) -> bool:
    return path.name.endswith((".jsonl", ".jsonl.gz"))


def detect_format(corpus: Path | str) -> Literal["beir", "nfcorpus"]:
    """``beir`` for a ``.jsonl``/``.jsonl.gz`` corpus, else ``nfcorpus``."""
    return "beir" if _is_jsonl(Path(corpus)) else "nfcorpus"


def load_benchmark(
    corpus: Path | str,
    queries: Path | str,
    qrels: Path | str,
    *,
    format: Format = "auto",
    name: str | None = None,
    split: str = "test",
) -> Benchmark:
    """Read a corpus, its queries and one split's judgments.

    Args:
        corpus: documents (BEIR JSONL, or NFCorpus ``DOC_ID<TAB>TEXT``).
        queries: queries (JSONL, or ``QID<TAB>TEXT``); the format follows the file name.
        qrels: judgments (BEIR TSV or TREC; detected from the first line).
        format: the corpus layout; ``auto`` decides from the file name.
        name: the dataset name; default: the corpus's directory name.
        split: a label for the split these judgments belong to.

    Raises:
        InvalidCorpus: a file is missing or malformed, or ids repeat.
    """
    corpus, queries = Path(corpus), Path(queries)
    layout = detect_format(corpus) if format == "auto" else format
    documents = read_beir_corpus(corpus) if layout == "beir" else read_nfcorpus_docs(corpus)
    seen: set[str] = set()
    for doc in documents:
        if doc.id in seen:
            raise InvalidCorpus(corpus, f"duplicate document id {doc.id!r}")
        seen.add(doc.id)
    return Benchmark(
        name=name or dataset_name(corpus),
        documents=documents,
        queries=read_queries(queries),
        qrels=read_qrels(qrels),
        split=split,
    )


def dataset_name(corpus: Path | str) -> str:
    """A short name for a corpus file: its directory's name (``nfcorpus``, ``scifact``)."""
    path = Path(corpus).resolve()
    name = path.parent.name or path.name.split(".")[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name) or "benchmark"


def split_sibling(path: Path | str, split: str, other: str) -> Path | None:
    """The file of split ``other`` beside a file of split ``split``, if there is one.

    The split must be a dot-separated part of the file name, as in
    ``test.titles.queries`` → ``dev.titles.queries`` or ``test.tsv`` → ``train.tsv``;
    a gzip and a plain variant are both tried.
    """
    path = Path(path)
    parts = path.name.split(".")
    if split not in parts:
        return None
    name = ".".join(other if part == split else part for part in parts)
    for candidate in (name, name + ".gz", name.removesuffix(".gz")):
        if (path.parent / candidate).is_file():
            return path.parent / candidate
    return None


def holdout(qrels: Qrels, fraction: float, seed: int = 0) -> Qrels:
    """A reproducible random ``fraction`` of the queries of ``qrels`` (at least one).

    Used to tune on part of a train split when a benchmark has no dev split.
    """
    if not 0 < fraction <= 1:
        raise InvalidArgument("holdout", f"{fraction!r} is not in (0, 1]")
    ids = sorted(qrels)
    chosen = random.Random(seed).sample(ids, max(1, round(len(ids) * fraction)))
    return {qid: qrels[qid] for qid in sorted(chosen)}


def read_queries(path: Path | str) -> dict[str, BenchQuery]:
    """Read queries in the layout their file name says: JSONL (BEIR) or ``QID<TAB>TEXT``."""
    path = Path(path)
    return read_beir_queries(path) if _is_jsonl(path) else read_tsv_queries(path)


def find_qrels(path: Path | str, split: str) -> Path:
    """The judgments file of ``split``: ``path`` itself, or the one file in directory
    ``path`` whose name starts with ``<split>.`` (``test.tsv``, ``test.2-1-0.qrel``).

    Raises:
        InvalidCorpus: nothing, or more than one file, matches.
    """
    path = Path(path)
    if not path.is_dir():
        if not path.is_file():
            raise InvalidCorpus(path, "no such file or directory")
        return path
    matches = sorted(p for p in path.iterdir() if p.is_file() and p.name.startswith(split + "."))
    if len(matches) != 1:
        found = ", ".join(p.name for p in matches) or "none"
        raise InvalidCorpus(
            path, f"expected one judgments file named {split}.* (found: {found}); name the file"
        )
    return matches[0]


@dataclass
class TuningSet:
    """Queries and judgments to tune on, never the evaluated split."""

    queries: dict[str, BenchQuery]
    qrels: Qrels
    label: str


TUNING_SPLITS = ("dev", "validation", "train")


def find_tuning_set(
    queries: Path | str,
    qrels: Path | str,
    split: str = "test",
    *,
    tune_split: str | None = None,
    holdout_fraction: float = 0.25,
) -> TuningSet | None:
    """The split to tune on, found beside the evaluated split's files.

    The first of ``dev``, ``validation`` and ``train`` (or ``tune_split``) whose
    judgments file sits beside ``qrels`` (see :func:`split_sibling`) is used. Its
    queries are the sibling of ``queries`` when that file is named by split, else
    ``queries`` itself (BEIR keeps every split's queries in one file). A train
    split is never used whole: a :func:`holdout` of ``holdout_fraction`` of its
    queries is, so the rest stays free for anything trained later.

    Returns:
        None when no such split is found.
    """
    queries, qrels = Path(queries), Path(qrels)
    for other in (tune_split,) if tune_split else TUNING_SPLITS:
        if other == split:
            continue
        other_qrels = split_sibling(qrels, split, other)
        if other_qrels is None:
            continue
        named_by_split = split in queries.name.split(".")
        other_queries = split_sibling(queries, split, other) if named_by_split else queries
        if other_queries is None:
            continue
        judgments = read_qrels(other_qrels)
        label = other_qrels.name
        if other == "train":
            judgments = holdout(judgments, holdout_fraction)
            label = f"a held-out {holdout_fraction:.0%} of {other_qrels.name} (seed 0)"
        return TuningSet(read_queries(other_queries), judgments, label)
    return None
