"""The lexical signal: Okapi BM25 over scikit-learn sparse matrices.

A document is a set of fields (title, summary, tags, body). Each field's term
counts are multiplied by its weight and added up before BM25's saturation and
length normalisation, as BM25F does with one shared ``b``: a title word with
weight 2 counts as two body mentions. Words may be reduced to their Snowball
stems (PyStemmer), so "stroke" meets "strokes" and "rehabilitation" meets
"rehabilitate"; shared terms are still shown in the surface form the corpus
uses most. Chinese, Japanese and Korean text, written without spaces, is cut into
character pairs (see :mod:`recommender.cjk`).

The document side is the usual BM25 weight of each term. The query side is here
too (:class:`LexicalQuery`, :class:`WeightedQuery`): how a query's terms weigh
(:data:`QUERY_WEIGHTS`), the normalisation by the query's score against itself,
the scores of indexed rows, the shared terms and the split of a score over the
fields, so no other module reads the fitted matrices. Saved as plain files
(parameters JSON, numpy arrays, a scipy ``.npz``): no pickles in snapshots.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from . import cjk, neighbours
from .arrays import mapped

# Words of two or more characters that start with a letter; hyphens split words, so
# "post-stroke" matches "stroke".
TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W_]+\b"
_TOKEN = re.compile(TOKEN_PATTERN)

FIELDS = ("title", "summary", "tags", "body")
"""The fields of a lexical document; a plain string is a document with only a body."""

DEFAULT_FIELD_WEIGHTS: Mapping[str, float] = {
    "title": 2.0,
    "summary": 1.0,
    "tags": 1.0,
    "body": 1.0,
}

Stemming = Literal["none", "english"]
STEMMING: tuple[Stemming, ...] = ("none", "english")

CjkTerms = Literal["none", "bigrams"]
CJK_TERMS: tuple[CjkTerms, ...] = ("none", "bigrams")
"""How terms are found in text written without spaces: ``bigrams`` cuts Han, Katakana
and Hangul into character pairs (:mod:`recommender.cjk`); ``none`` is the tokeniser
of snapshots built before it existed, which reads a whole run of such characters
as one word."""

LexicalDocument = Mapping[str, str] | str

QueryWeights = Literal["presence", "bm25", "tf"]
QUERY_WEIGHTS: tuple[QueryWeights, ...] = ("presence", "bm25", "tf")
"""How a query term weighs in a lexical score: ``presence`` 1 for every term,
``bm25`` its BM25 term-frequency saturation in the query, ``tf`` how many times the
query uses it (BM25's query side with no saturation)."""

Row = tuple[np.ndarray, np.ndarray]
"""One document's BM25 weights as (term indexes ascending, weights float32)."""


def _fields(document: LexicalDocument) -> Mapping[str, str]:
    return {"body": document} if isinstance(document, str) else document


def _words(text: str) -> list[str]:
    """The words of ``text`` as the English tokeniser finds them, stop words left out."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in ENGLISH_STOP_WORDS]


def _all_words(text: str) -> list[str]:
    """The words of ``text``, stop words included (counting drops them once per word)."""
    return _TOKEN.findall(text.lower())


def _split(
    cjk_terms: CjkTerms, words: Callable[[str], list[str]] = _words
) -> Callable[[str], tuple[list[str], list[str]]]:
    """A function from a text to (its ``words``, its CJK terms)."""
    if cjk_terms == "none":
        return lambda text: (words(text), [])

    def split(text: str) -> tuple[list[str], list[str]]:
        text = cjk.fold_width(text)
        if not cjk.has_cjk(text):
            return words(text), []  # exactly what such a text always gave
        return words(cjk.without_cjk(text)), cjk.bigrams(text.lower())

    return split


def _stemmer(stemming: Stemming) -> Callable[[list[str]], list[str]] | None:
    if stemming == "none":
        return None
    import Stemmer  # PyStemmer: Snowball in C, with its own cache of recent words

    stemmer = Stemmer.Stemmer(stemming)
    return lambda words: list(stemmer.stemWords(words))


def _width(matrix: sparse.csr_matrix, columns: int) -> sparse.csr_matrix:
    """``matrix`` with exactly ``columns`` columns (counting may leave it one wide)."""
    if matrix.shape[1] == columns:
        return matrix
    return sparse.csr_matrix(
        (matrix.data, matrix.indices, matrix.indptr), shape=(matrix.shape[0], columns)
    )


def _renumbered(
    matrix: sparse.csr_matrix, new_index: np.ndarray, columns: int
) -> sparse.csr_matrix:
    """``matrix`` with column ``i`` moved to ``new_index[i]``, rows' indices sorted
    (in new arrays: ``matrix`` may be read-only, as a Ray task's result is)."""
    moved = sparse.csr_matrix(
        (matrix.data.copy(), new_index[matrix.indices], matrix.indptr),
        shape=(matrix.shape[0], columns),
    )
    moved.sort_indices()
    return moved


def _sorted_vocabulary(
    by_field: dict[str, sparse.csr_matrix], terms: list[str]
) -> tuple[dict[str, sparse.csr_matrix], list[str]]:
    """Counts whose columns follow ``terms``, renumbered so the terms are sorted (an
    empty vocabulary becomes the one empty term, as scikit-learn's did)."""
    if not terms:
        return by_field, [""]
    ranked = sorted(range(len(terms)), key=terms.__getitem__)
    new_index = np.empty(len(terms), dtype=np.int32)
    new_index[ranked] = np.arange(len(terms), dtype=np.int32)
    renumbered = {name: _renumbered(m, new_index, len(terms)) for name, m in by_field.items()}
    return renumbered, [terms[old] for old in ranked]


def _merge_counts(
    previous: LexicalModel,
    previous_rows: list[int],
    counted: dict[str, sparse.csr_matrix],
    counted_terms: list[str],
    counted_positions: list[int],
) -> tuple[dict[str, sparse.csr_matrix], list[str]]:
    """Each field's counts of a corpus some of whose rows come from ``previous``.

    The documents are, in order, the rows ``previous_rows`` of ``previous`` and the
    ``counted`` rows at ``counted_positions`` (their columns follow
    ``counted_terms``). The vocabulary is every term either part uses, sorted.
    """
    old_terms = np.empty(len(previous.vocabulary_), dtype=object)
    for term, index in previous.vocabulary_.items():
        old_terms[index] = term
    rows = np.asarray(previous_rows, dtype=np.int64)
    kept = {name: previous.field_counts_[name][rows] for name in counted}
    used = np.unique(np.concatenate([m.indices for m in kept.values()] or [np.zeros(0, int)]))
    terms = sorted(set(old_terms[used].tolist()) | set(counted_terms)) or [""]
    index_of = {term: i for i, term in enumerate(terms)}
    old_index = np.zeros(len(old_terms), dtype=np.int32)
    old_index[used] = [index_of[term] for term in old_terms[used]]
    new_index = np.array([index_of[term] for term in counted_terms], dtype=np.int32)
    total = len(previous_rows) + len(counted_positions)
    # Stacked as [reused rows; counted rows], then put back in document order.
    order = np.empty(total, dtype=np.int64)
    reused_positions = np.setdiff1d(np.arange(total), counted_positions, assume_unique=True)
    order[reused_positions] = np.arange(len(previous_rows))
    order[counted_positions] = len(previous_rows) + np.arange(len(counted_positions))
    merged = {}
    for name, matrix in counted.items():
        stacked = sparse.vstack(
            [
                _renumbered(kept[name], old_index, len(terms)),
                _renumbered(matrix, new_index, len(terms)),
            ],
            format="csr",
        )
        merged[name] = sparse.csr_matrix(stacked[order], dtype=np.float32)
    return merged, terms


@dataclass(frozen=True)
class TermCounts:
    """Raw term counts of some documents, as a fit counts them
    (:meth:`LexicalModel.count_terms`): a stage of the build, mapped over blocks of
    documents by the Ray build and joined by :func:`merge_term_counts`.

    Attributes:
        by_field: one CSR matrix (float32) per weighted field, a row per document,
            a column per term of ``terms``.
        terms: the terms the documents use, in the order first met.
        words: how often the documents use each word before stemming (the shared
            terms are shown in the form the corpus uses most); empty without stemming.
    """

    by_field: dict[str, sparse.csr_matrix]
    terms: list[str]
    words: Counter[str]


def merge_term_counts(parts: Sequence[TermCounts]) -> TermCounts:
    """The counts of the documents of ``parts``, in order: one column per term any
    part uses. A fit on the merged counts equals a fit that counted every document
    at once, since the fit sorts its vocabulary.

    Raises:
        ValueError: ``parts`` is empty, or its parts count different fields.
    """
    if not parts:
        raise ValueError("no term counts to merge")
    if len(parts) == 1:
        return parts[0]
    if len({tuple(part.by_field) for part in parts}) != 1:
        raise ValueError("the parts count different fields")
    terms = list(dict.fromkeys(term for part in parts for term in part.terms))
    index_of = {term: index for index, term in enumerate(terms)}
    columns = max(len(terms), 1)
    moved = [np.array([index_of[t] for t in part.terms], dtype=np.int32) for part in parts]
    by_field = {
        name: sparse.csr_matrix(
            sparse.vstack(
                [
                    _renumbered(part.by_field[name], new_index, columns)
                    for part, new_index in zip(parts, moved, strict=True)
                ],
                format="csr",
            ),
            dtype=np.float32,
        )
        for name in parts[0].by_field
    }
    words: Counter[str] = Counter()
    for part in parts:
        words.update(part.words)
    return TermCounts(by_field, terms, words)


class LexicalModel:
    """BM25 scores between articles, or between a text and the articles.

    Args:
        k1: term-frequency saturation.
        b: document-length normalisation.
        stemming: ``none``, or ``english`` for Snowball (Porter 2) stems.
        cjk_terms: ``bigrams``, or ``none`` for the tokeniser of older snapshots
            (see :data:`CJK_TERMS`).
        field_weights: how many body mentions one mention in each field of
            :data:`FIELDS` is worth (missing fields weigh 0).
    """

    def __init__(
        self,
        k1: float = 1.2,
        b: float = 0.75,
        *,
        stemming: Stemming = "none",
        cjk_terms: CjkTerms = "bigrams",
        field_weights: Mapping[str, float] | None = None,
    ) -> None:
        self.k1 = k1
        self.b = b
        if stemming not in STEMMING:
            raise ValueError(f"unknown stemming {stemming!r} (known: {', '.join(STEMMING)})")
        self.stemming: Stemming = stemming
        if cjk_terms not in CJK_TERMS:
            raise ValueError(f"unknown cjk_terms {cjk_terms!r} (known: {', '.join(CJK_TERMS)})")
        self.cjk_terms: CjkTerms = cjk_terms
        weights = dict(DEFAULT_FIELD_WEIGHTS if field_weights is None else field_weights)
        unknown = set(weights) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)} (known: {', '.join(FIELDS)})")
        self.field_weights = {name: float(weights.get(name, 0.0)) for name in FIELDS}
        self.surface_: dict[str, str] = {}
        self.field_counts_: dict[str, sparse.csr_matrix] = {}
        """Each weighted field's raw term counts, one row per article."""
        self.word_counts_: dict[str, int] | None = None
        """How often the corpus uses each word before stemming (stemmed models only):
        what the surface forms are chosen by, kept so a reindex can update them."""

    def describe(self) -> str:
        """The parameters in one line, for manifests and build fingerprints."""
        fields = ",".join(f"{name}={self.field_weights[name]:g}" for name in FIELDS)
        return (
            f"bm25(k1={self.k1:g},b={self.b:g},stemming={self.stemming},"
            f"cjk={self.cjk_terms},fields={fields})"
        )

    # -- counting ------------------------------------------------------------------------

    def _term_of(self) -> Callable[[str], str | None]:
        """A function from one word or character pair to its term (its stem), or None
        for a stop word; it stems each distinct word once."""
        stemmer = _stemmer(self.stemming)
        memo: dict[str, str | None] = {}

        def term_of(word: str) -> str | None:
            if word in memo:
                return memo[word]
            if word in ENGLISH_STOP_WORDS:
                found: str | None = None
            elif stemmer is None or not _TOKEN.fullmatch(word):
                found = word  # character pairs and unstemmed words are their own terms
            else:
                found = stemmer([word])[0]
            memo[word] = found
            return found

        return term_of

    def terms(self, text: str) -> list[str]:
        """The terms of ``text`` in order, as the model counts them: its words (stop
        words left out, stemmed), then its Chinese, Japanese and Korean terms."""
        term_of = self._term_of()
        found, pairs = _split(self.cjk_terms, _all_words)(text)
        return [term for term in map(term_of, [*found, *pairs]) if term is not None]

    def _count(
        self,
        documents: Sequence[LexicalDocument],
        vocabulary: dict[str, int],
        grow: bool,
        words: Counter[str] | None = None,
    ) -> dict[str, sparse.csr_matrix]:
        """Raw (unweighted) term counts of each field of :data:`FIELDS` that weighs
        anything: one CSR matrix per field, rows aligned with ``documents``.

        Every field of every document is tokenised once: the words of a field are
        counted in C (``Counter``), and only each distinct word of a document goes
        through Python to find its term. ``grow`` adds unseen terms to ``vocabulary``
        (a fit); otherwise they are dropped (a query). ``words`` collects how often
        the corpus uses each word before stemming (for the surface forms).
        """
        split = _split(self.cjk_terms, _all_words)
        term_of = self._term_of()
        docs = [_fields(d) for d in documents]
        matrices: dict[str, sparse.csr_matrix] = {}
        for name in FIELDS:
            if not self.field_weights[name]:
                continue
            indptr = np.zeros(len(docs) + 1, dtype=np.int64)
            indices: list[int] = []
            data: list[int] = []
            for row, document in enumerate(docs):
                found, pairs = split(document.get(name, ""))
                counted = Counter(found)
                if words is not None:
                    words.update(counted)
                counted.update(pairs)
                ids: dict[int, int] = {}
                for word, count in counted.items():
                    term = term_of(word)
                    if term is None:
                        continue
                    index = vocabulary.get(term)
                    if index is None:
                        if not grow:
                            continue
                        index = vocabulary[term] = len(vocabulary)
                    ids[index] = ids.get(index, 0) + count
                indices.extend(ids)
                data.extend(ids.values())
                indptr[row + 1] = len(indices)
            matrix = sparse.csr_matrix(
                (np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int32), indptr),
                shape=(len(docs), max(len(vocabulary), 1)),
            )
            matrix.sort_indices()
            matrices[name] = matrix
        return matrices

    def count_terms(self, documents: Sequence[LexicalDocument]) -> TermCounts:
        """The raw term counts a fit of ``documents`` starts from: every field
        tokenised (and stemmed), independently of any other document. The costly
        part of a fit, done block by block where the build runs on many workers."""
        vocabulary: dict[str, int] = {}
        words: Counter[str] = Counter()
        by_field = self._count(documents, vocabulary, grow=True, words=words)
        return TermCounts(by_field, sorted(vocabulary, key=vocabulary.__getitem__), words)

    def _weighted(self, by_field: Mapping[str, sparse.csr_matrix], rows: int) -> sparse.csr_matrix:
        """Field-weighted counts: the sum of each field's counts times its weight."""
        total: sparse.csr_matrix | None = None
        for name, matrix in by_field.items():
            scaled = matrix * np.float32(self.field_weights[name])
            total = scaled if total is None else total + scaled
        if total is None:
            total = sparse.csr_matrix((rows, max(len(self.vocabulary_), 1)), dtype=np.float32)
        total = sparse.csr_matrix(total, dtype=np.float32)
        total.sort_indices()
        return total

    def counts(self, documents: Sequence[LexicalDocument]) -> sparse.csr_matrix:
        """How many times each document uses each term, weighted by field."""
        by_field = self._count(documents, self.vocabulary_, grow=False)
        return self._weighted(
            {name: _width(m, len(self.vocabulary_)) for name, m in by_field.items()},
            len(documents),
        )

    def field_counts(self, document: LexicalDocument) -> sparse.csr_matrix:
        """The document's field-weighted term counts, one row per field of :data:`FIELDS`."""
        by_field = self._count([document], self.vocabulary_, grow=False)
        width = len(self.vocabulary_)
        rows = [
            _width(by_field[name], width) * np.float32(self.field_weights[name])
            if name in by_field
            else sparse.csr_matrix((1, width), dtype=np.float32)
            for name in FIELDS
        ]
        return sparse.csr_matrix(sparse.vstack(rows), dtype=np.float32)

    def fit(
        self,
        documents: Sequence[LexicalDocument],
        *,
        previous: LexicalModel | None = None,
        reused: Sequence[int | None] | None = None,
        dropped: Sequence[LexicalDocument] = (),
        count: Callable[[Sequence[LexicalDocument]], TermCounts] | None = None,
    ) -> LexicalModel:
        """Learn the vocabulary and BM25 document weights of ``documents``.

        A reindex passes the published snapshot's model as ``previous`` and, in
        ``reused``, the row of ``previous`` that already holds each document's
        counts (None for a new or changed document): those documents are not
        tokenised again. ``dropped`` are the documents of ``previous`` that are no
        longer counted (removed, or changed), whose words leave the counts the
        surface forms are chosen by. The result is the same as a fit from scratch:
        the vocabulary is sorted, so the same documents always give the same
        matrices however they were counted. ``previous`` is ignored when it was
        tokenised differently or holds no counts (a snapshot of older code).
        ``count`` counts the documents to count (default :meth:`count_terms`; a
        build's runner may count blocks of them on other workers and merge them).
        """
        reuse = (
            previous is not None
            and reused is not None
            and self._counts_like(previous)
            and (self.stemming == "none" or previous.word_counts_ is not None)
        )
        words: Counter[str] = Counter()
        if reuse:
            assert previous is not None and reused is not None  # narrowed by reuse
            if previous.word_counts_ is not None:
                words.update(previous.word_counts_)
                gone: Counter[str] = Counter()
                self._count(dropped, {}, grow=False, words=gone)
                words.subtract(gone)
            counted = [i for i, row in enumerate(reused) if row is None]
        else:
            counted = list(range(len(documents)))
        found = (count or self.count_terms)([documents[i] for i in counted])
        words.update(found.words)
        by_field, new_terms = found.by_field, found.terms
        if reuse:
            assert previous is not None and reused is not None
            by_field, terms = _merge_counts(
                previous, [row for row in reused if row is not None], by_field, new_terms, counted
            )
        else:
            by_field, terms = _sorted_vocabulary(by_field, new_terms)
        self.vocabulary_ = {term: index for index, term in enumerate(terms)}
        self.field_counts_ = by_field
        counts = self._weighted(by_field, len(documents))
        n_docs = counts.shape[0]
        df = np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.float32)
        self.idf_ = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        lengths = np.asarray(counts.sum(axis=1)).ravel()
        average = float(lengths.mean()) if n_docs and lengths.mean() > 0 else 1.0
        self.average_length_ = average
        self.matrix_ = self._saturate(counts)
        if self.stemming != "none":
            # Sorted: the same counts give the same files, however they were counted.
            self.word_counts_ = {word: count for word, count in sorted(words.items()) if count > 0}
            self.surface_ = self._surface_forms(Counter(self.word_counts_))
        else:
            self.word_counts_, self.surface_ = None, {}
        self._terms = self._term_array()
        return self

    def _counts_like(self, other: LexicalModel) -> bool:
        """Whether ``other`` counted terms as this model does, field for field."""
        weighted = {name for name in FIELDS if self.field_weights[name]}
        return (
            other.stemming == self.stemming
            and other.cjk_terms == self.cjk_terms
            and set(other.field_counts_) == weighted
        )

    def _text(self, document: LexicalDocument) -> str:
        """The fields of ``document`` that weigh anything, as one text."""
        fields = _fields(document)
        return "\n".join(fields.get(name, "") for name in FIELDS if self.field_weights[name])

    def _surface_forms(self, words: Counter[str]) -> dict[str, str]:
        """The word the corpus uses most for each stem (ties: the shorter, then the first
        alphabetically), so explanations say "strokes", never "strok". ``words``
        counts every word, stop words included (they have no stem to show)."""
        term_of = self._term_of()
        best: dict[str, tuple[int, int, str]] = {}
        for word, count in words.items():
            stem = term_of(word)
            if stem is None:
                continue
            key = (-count, len(word), word)
            if stem not in best or key < best[stem]:
                best[stem] = key
        return {stem: key[2] for stem, key in best.items() if key[2] != stem}

    def _saturate(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        """BM25 document weights of field-weighted ``counts``."""
        weights = counts.copy()
        lengths = np.asarray(counts.sum(axis=1)).ravel()
        row_of = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
        tf = counts.data
        norm = self.k1 * (1 - self.b + self.b * lengths[row_of] / self.average_length_)
        weights.data = (tf * (self.k1 + 1) / (tf + norm) * self.idf_[counts.indices]).astype(
            np.float32
        )
        return sparse.csr_matrix(weights, dtype=np.float32)

    def _term_array(self) -> np.ndarray:
        terms = np.empty(len(self.vocabulary_), dtype=object)
        for term, index in self.vocabulary_.items():
            terms[index] = self.surface_.get(term, term)
        return terms

    def transform_queries(self, documents: Sequence[LexicalDocument]) -> sparse.csr_matrix:
        """Binary term-presence vectors for query documents, in the fitted vocabulary."""
        counts = self.counts(documents)
        counts.data[:] = 1.0
        return counts

    @staticmethod
    def as_query(weights: sparse.csr_matrix) -> sparse.csr_matrix:
        """The term-presence query of a row of BM25 weights (an indexed article)."""
        rows = weights.copy()
        rows.data[:] = 1.0
        return rows

    def scores(self, queries: sparse.csr_matrix) -> np.ndarray:
        """BM25 score of every article for every query row: shape (queries, articles)."""
        # scipy turns matrix_.T into CSR on every product, which costs more than the
        # product itself: do it once per fitted matrix.
        postings = self._postings()
        if queries.shape[0] == 1:
            # One query (every request): its terms' postings, then one dense product
            # over them, in ascending term order as score_rows sums. A sparse product
            # makes a sparse result first, at about 1.4× the time.
            query = sparse.csr_matrix(queries, dtype=np.float32)
            query.sort_indices()
            weights = np.asarray(query.data, dtype=np.float32)
            return np.asarray(postings[query.indices].T @ weights, dtype=np.float32)[None, :]
        return np.asarray((queries @ postings).toarray(), dtype=np.float32)

    def _postings(self) -> sparse.csr_matrix:
        """The BM25 matrix by term, shape (terms, documents): loaded with the model,
        or transposed once per fitted matrix (scipy would transpose on every product,
        which costs more than the product itself)."""
        transposed = getattr(self, "_transposed", None)
        if transposed is None or transposed[0] is not self.matrix_:
            transposed = (self.matrix_, sparse.csr_matrix(self.matrix_.T.tocsr()))
            self._transposed = transposed
        return transposed[1]

    def shared_terms(
        self,
        query: sparse.csr_matrix,
        row: sparse.csr_matrix | tuple[np.ndarray, np.ndarray],
        n: int = 5,
        texts: tuple[LexicalDocument, LexicalDocument] | None = None,
    ) -> list[str]:
        """The terms that weigh most in both the query and an article's BM25 ``row``
        (a one-row matrix, or its term indexes and weights).

        Ranked by the product of the two term-frequency saturations times the idf
        (the product of the BM25 weights over one idf): a word repeated in both
        texts outranks a rare word each mentions once in passing.

        ``texts`` (the query's document and the article's) let a Chinese, Japanese or
        Korean character pair be shown as the stretch of text the two share around
        it (:func:`recommender.cjk.shared_stretch`): ``中风患者``, never ``风患``. A
        stretch that repeats or contains one already listed is left out.
        """
        row_terms, row_weights = row if isinstance(row, tuple) else (row.indices, row.data)
        # Both are a CSR row's term indexes: unique already, so nothing is deduplicated.
        common, in_row, in_query = np.intersect1d(
            row_terms, query.indices, assume_unique=True, return_indices=True
        )
        if common.size == 0:
            return []
        weight = row_weights[in_row] * query.data[in_query] / np.maximum(self.idf_[common], 1e-6)
        order = np.argsort(-weight, kind="stable")
        terms = (str(self._terms[common[i]]) for i in order)
        if texts is None or self.cjk_terms == "none":
            return [term for _, term in zip(range(n), terms, strict=False)]
        return self._displayed(terms, texts, n)

    def _displayed(
        self, terms: Iterable[str], texts: tuple[LexicalDocument, LexicalDocument], n: int
    ) -> list[str]:
        """The first ``n`` of ``terms`` as shown: character pairs as shared stretches."""
        runs: list[list[str]] | None = None
        shown: list[str] = []
        for term in terms:
            if cjk.is_cjk_pair(term):
                if runs is None:  # only texts with such a pair are read
                    runs = [cjk.runs(cjk.fold_width(self._text(t)).lower()) for t in texts]
                term = cjk.shared_stretch(term, runs)
                if not term or any(term in other or other in term for other in shown):
                    continue
            elif term in shown:
                continue
            shown.append(term)
            if len(shown) == n:
                break
        return shown

    def weigh(self, documents: Sequence[LexicalDocument]) -> sparse.csr_matrix:
        """BM25 weights of arbitrary documents (as if they were indexed)."""
        return self._saturate(self.counts(documents))

    @property
    def n_terms(self) -> int:
        """The size of the fitted vocabulary: the width of every term vector."""
        return len(self.vocabulary_)

    @property
    def n_documents(self) -> int:
        """How many documents were fitted (the indexed rows)."""
        return int(self.matrix_.shape[0])

    def more_like_this(
        self,
        k: int,
        *,
        rows: np.ndarray | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Each indexed document's ``k`` best matches for a query of its strongest
        terms, as "more like this" engines find them (never itself): see
        :func:`recommender.neighbours.lexical_neighbours`.

        Returns:
            ``(len(rows) or n_documents, k)`` int32 positions, best first, -1 padded.
        """
        queries = neighbours.strongest_terms(self.matrix_, neighbours.QUERY_TERMS)
        return neighbours.lexical_neighbours(
            queries,
            self.matrix_,
            k,
            rows=rows,
            max_postings=neighbours.MAX_POSTINGS,
            on_progress=on_progress,
        )

    def more_like_this_search(self) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        """What :meth:`more_like_this` searches with, for a search in blocks of
        documents (:func:`recommender.neighbours.lexical_step`; the Ray runner's):
        every indexed document's query of its strongest terms, shape (N, V), and
        the posting lists those are looked up in, shape (V, N)."""
        queries = neighbours.strongest_terms(self.matrix_, neighbours.QUERY_TERMS)
        return queries, neighbours.lexical_postings(self.matrix_, neighbours.MAX_POSTINGS)

    def more_like_this_for(self, weights: sparse.csr_matrix, k: int, block: int = 16) -> np.ndarray:
        """The ``k`` indexed documents best matching each row of ``weights`` (BM25
        weights of documents outside the index, as :meth:`weigh` gives) for a query
        of its strongest terms, as :meth:`more_like_this` finds them for indexed ones.

        Scored over the query terms' whole posting lists, a sparse product per
        ``block`` of rows: a worker links every live upsert it has not seen yet in
        one call, and a dense (rows × documents) table of scores made that call cost
        O(rows × N) memory and time (300 upserts at 1M documents: 1.2 GB and 5.6 s;
        this way about 30 MB at a time and 1.5 s, each row's product holding some
        150,000 documents).

        Returns:
            ``(rows, k)`` int32 positions, best first (ties: the lower position), -1
            padded.
        """
        queries = neighbours.strongest_terms(weights, neighbours.QUERY_TERMS)
        out = np.full((queries.shape[0], k), -1, dtype=np.int32)
        if not self.n_documents or k == 0:
            return out
        postings = self._postings()
        for start in range(0, queries.shape[0], block):
            rows = queries[start : start + block]
            outside = np.full(rows.shape[0], -1)  # no query is an indexed document
            out[start : start + rows.shape[0]] = neighbours.lexical_step(rows, outside, postings, k)
        return out

    def refreshed_more_like_this(
        self, previous: np.ndarray, moved: np.ndarray, fresh: np.ndarray
    ) -> np.ndarray:
        """:meth:`more_like_this` after a reindex, from the published matches
        ``previous`` (shape (N_old, k), old positions): only the rows the changes
        can affect are searched again (see :func:`recommender.neighbours.refresh`;
        ``moved`` and ``fresh`` as there).

        Returns:
            ``(n_documents, k)`` int32 positions, best first, -1 padded.
        """
        k = previous.shape[1]
        queries = neighbours.strongest_terms(self.matrix_, neighbours.QUERY_TERMS)
        matrix = self.matrix_

        def search(rows: np.ndarray) -> np.ndarray:
            found = neighbours.lexical_neighbours(
                queries, matrix, k, rows=rows, max_postings=neighbours.MAX_POSTINGS
            )
            return neighbours.padded(found, k)

        return neighbours.refresh(
            previous,
            moved,
            fresh,
            scores=lambda rows, columns: np.asarray((queries[rows] @ matrix[columns].T).toarray()),
            pairs=lambda rows, columns: np.asarray(
                queries[rows].multiply(matrix[columns]).sum(axis=1)
            ).ravel(),
            search=search,
            positive=True,
        )

    def row(self, position: int) -> Row:
        """The BM25 row of the indexed document at ``position``."""
        return row_of(self.matrix_, position)

    @property
    def has_field_counts(self) -> bool:
        """Whether the indexed documents' field counts are stored (snapshots of older
        code hold only the BM25 weights; their fields are counted from text)."""
        weighted = {name for name in FIELDS if self.field_weights[name]}
        return bool(weighted) and set(self.field_counts_) == weighted

    def stored_field_counts(self, position: int) -> FieldCounts:
        """The field-weighted term counts of the indexed document at ``position``, read
        from the stored counts (see :attr:`has_field_counts`): what
        :meth:`count_fields` gives for its text, without the text."""
        rows = {name: row_of(matrix, position) for name, matrix in self.field_counts_.items()}
        terms = np.unique(np.concatenate([indexes for indexes, _ in rows.values()]))
        by_field = np.zeros((len(FIELDS), terms.size), dtype=np.float32)
        for i, name in enumerate(FIELDS):
            if name in rows:
                indexes, counts = rows[name]
                by_field[i, np.searchsorted(terms, indexes)] = counts * self.field_weights[name]
        return FieldCounts(terms, by_field)

    def count_fields(self, document: LexicalDocument) -> FieldCounts:
        """The document's field-weighted term counts, kept only for the terms it uses."""
        by_field = self.field_counts(document)
        terms = np.unique(by_field.indices)
        return FieldCounts(terms, by_field[:, terms].toarray())

    def query_for_row(
        self,
        position: int,
        document: LexicalDocument | None = None,
        fields: Callable[[], FieldCounts] | None = None,
    ) -> LexicalQuery:
        """The query of the indexed document at ``position``.

        Args:
            position: the document's row.
            document: its lexical fields, from which shared terms are shown (None:
                shown as the index spells them).
            fields: gives its :meth:`count_fields`; called only if a ``tf``
                weighting needs them (without, ``tf`` weighs as ``bm25``).
        """
        return LexicalQuery(self, self.matrix_[position], document, fields=fields)

    def query_for_weights(
        self,
        weights: sparse.csr_matrix,
        document: LexicalDocument | None = None,
        fields: Callable[[], FieldCounts] | None = None,
    ) -> LexicalQuery:
        """The query of a document that is not indexed but weighed (:meth:`weigh`): a
        live upsert. ``weights`` is its one-row matrix; the rest as :meth:`query_for_row`."""
        return LexicalQuery(self, weights, document, fields=fields)

    def query_for_document(self, document: LexicalDocument) -> LexicalQuery:
        """The query of a text that is not indexed at all (a draft)."""
        return LexicalQuery(self, self.weigh([document]), document, self.counts([document]))

    def score_rows(self, query: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """The raw BM25 scores of the indexed rows at ``positions`` for one query,
        given as :meth:`dense_query` makes it.

        Equal, bit for bit, to the same entries of :meth:`scores`: both sum, in
        float32, each document weight times the query weight in ascending term order
        (here a term the query lacks adds an exact 0). A dense query and a row-wise
        product cost a tenth of a sparse product over the rows.
        """
        if positions.size == 0:
            return np.zeros(0, dtype=np.float32)
        return np.asarray(self.matrix_[positions] @ query, dtype=np.float32)

    def dense_query(self, terms: sparse.csr_matrix) -> np.ndarray:
        """One query row as a dense ``(n_terms,)`` float32 vector (0 where it lacks a
        term), which :meth:`score_rows` multiplies document rows with."""
        query = np.zeros(self.n_terms, dtype=np.float32)
        query[terms.indices] = terms.data
        return query

    def save(self, directory: Path) -> list[Path]:
        """Write the fitted model into ``directory``; returns the files written.

        The BM25 weights and each field's counts are stored as the three plain arrays
        of a CSR matrix (``.npy``), which :meth:`load` memory-maps: every server
        process on a machine shares one copy of the pages.
        """
        directory.mkdir(parents=True, exist_ok=True)
        params = {
            "k1": self.k1,
            "b": self.b,
            "stemming": self.stemming,
            "cjk_terms": self.cjk_terms,
            "field_weights": self.field_weights,
            "average_length": self.average_length_,
            "vocabulary": self.vocabulary_,
            "surface": self.surface_,
            "fields": sorted(self.field_counts_),
        }
        files = [directory / "lexical.json", directory / "idf.npy"]
        files[0].write_text(json.dumps(params, ensure_ascii=False), encoding="utf-8")
        np.save(files[1], self.idf_)
        files += _save_csr(directory / "bm25", self.matrix_)
        # The postings (the matrix by term): what scoring every document for a query
        # reads. Stored, so servers map one copy instead of each transposing its own.
        files += _save_csr(directory / "postings", self._postings())
        if self.word_counts_ is not None:
            files.append(directory / "words.json")
            files[-1].write_text(json.dumps(self.word_counts_, ensure_ascii=False), "utf-8")
        for name, matrix in sorted(self.field_counts_.items()):
            files += _save_csr(directory / f"counts-{name}", matrix)
        return files

    @classmethod
    def load(cls, directory: Path, *, word_counts: bool = False) -> LexicalModel:
        """Read a model written by :meth:`save`, its arrays memory-mapped.

        Snapshots written before stemming, field weights and CJK terms existed load
        as what they were built with: no stemming, the default field weights, and a
        run of Chinese, Japanese or Korean characters read as one word. Those written
        before the arrays were stored plainly (one compressed ``bm25.npz``, no field
        counts) load that file into memory and count fields from text when asked.
        ``word_counts`` also reads how often the corpus uses each word: what a
        reindex needs to update the surface forms, and serving does not.
        """
        params: dict[str, Any] = json.loads((directory / "lexical.json").read_text("utf-8"))
        model = cls(
            k1=params["k1"],
            b=params["b"],
            stemming=params.get("stemming", "none"),
            cjk_terms=params.get("cjk_terms", "none"),
            field_weights=params.get("field_weights"),
        )
        model.vocabulary_ = params["vocabulary"]
        model.surface_ = params.get("surface", {})
        model.average_length_ = float(params["average_length"])
        model.idf_ = np.load(directory / "idf.npy", allow_pickle=False)
        width = len(model.vocabulary_)
        if (directory / "bm25.npz").exists():
            model.matrix_ = sparse.load_npz(directory / "bm25.npz").tocsr()
        else:
            model.matrix_ = _load_csr(directory / "bm25", width)
        model.field_counts_ = {
            name: _load_csr(directory / f"counts-{name}", width)
            for name in params.get("fields", [])
        }
        if (directory / "postings.indptr.npy").exists():
            postings = _load_csr(directory / "postings", model.matrix_.shape[0])
            model._transposed = (model.matrix_, postings)
        words = directory / "words.json"
        if word_counts and words.exists():
            model.word_counts_ = json.loads(words.read_text("utf-8"))
        model._terms = model._term_array()
        return model


def row_of(matrix: sparse.csr_matrix, row: int) -> Row:
    """Row ``row`` of a CSR matrix as (term indexes, weights), without building a matrix
    (scipy's row slicing costs more than everything done with one row)."""
    start, end = matrix.indptr[row], matrix.indptr[row + 1]
    return matrix.indices[start:end], matrix.data[start:end]


@dataclass(frozen=True)
class FieldCounts:
    """One document's field-weighted term counts, for the terms it uses.

    Attributes:
        terms: ``(t,)`` term indexes, ascending.
        by_field: ``(len(FIELDS), t)`` float32 counts, one row per field of
            :data:`FIELDS`, already multiplied by the field weights.
    """

    terms: np.ndarray
    by_field: np.ndarray


class LexicalQuery:
    """A query's terms in a fitted model, before a weighting is chosen.

    Made by :meth:`LexicalModel.query_for_row`, :meth:`~LexicalModel.query_for_weights`
    or :meth:`~LexicalModel.query_for_document`. One query serves every weighting
    (:meth:`weighted`), so a caller may keep it across rankers.

    Attributes:
        model: the fitted model whose vocabulary the rows use.
        weights: ``(1, n_terms)`` float32: the query's own BM25 weights, as if indexed.
        document: the query's lexical fields (None: unknown).
    """

    def __init__(
        self,
        model: LexicalModel,
        weights: sparse.csr_matrix,
        document: LexicalDocument | None = None,
        counts: sparse.csr_matrix | None = None,
        fields: Callable[[], FieldCounts] | None = None,
    ) -> None:
        self.model = model
        self.weights = weights
        self.document = document
        self._counts = counts
        self._fields = fields

    def counts(self) -> sparse.csr_matrix | None:
        """``(1, n_terms)`` float32: how many times the query uses each term (field
        weights applied); None when they are not known."""
        if self._counts is None and self._fields is not None:
            fields = self._fields()
            self._counts = sparse.csr_matrix(
                (fields.by_field.sum(axis=0), fields.terms, [0, fields.terms.size]),
                shape=(1, self.model.n_terms),
                dtype=np.float32,
            )
        return self._counts

    def weighted(self, weighting: QueryWeights) -> WeightedQuery:
        """The query's terms weighted one way (:data:`QUERY_WEIGHTS`); ``tf`` without
        known counts weighs as ``bm25``."""
        counts = self.counts() if weighting == "tf" else None
        if counts is not None:
            terms = counts
            own = float(terms.multiply(self.weights).sum())
        elif weighting in ("bm25", "tf"):
            # BM25 weight over idf is the term-frequency saturation: the candidate side
            # already carries the idf, which must not count twice.
            terms = self.weights.copy()
            terms.data = terms.data / np.maximum(self.model.idf_[terms.indices], 1e-6)
            own = float(terms.multiply(self.weights).sum())
        else:
            terms = self.model.as_query(self.weights)
            own = float(self.weights.sum())
        return WeightedQuery(self.model, terms, own)

    def shared_terms(
        self, row: Row, n: int = 5, row_document: LexicalDocument | None = None
    ) -> list[str]:
        """The ``n`` terms weighing most in both the query and a document's BM25 ``row``
        (see :meth:`LexicalModel.shared_terms`); with both documents known, a Chinese,
        Japanese or Korean pair is shown as the stretch of text they share."""
        texts = None
        if self.document is not None and row_document is not None:
            texts = (self.document, row_document)
        return self.model.shared_terms(self.weights, row, n=n, texts=texts)


class WeightedQuery:
    """A query's term weights under one weighting, and the scores they give.

    A lexical score is the raw BM25 score (the sum, over shared terms, of the
    document's BM25 weight times the query's weight) divided by the query's score
    against itself, clipped to [0, 1]: a document sharing every term as strongly as
    the query scores 1, one shared word scores little. (Dividing by the best
    document instead would turn one weak match into a perfect 1.)

    Attributes:
        model: the fitted model.
        terms: ``(1, n_terms)`` float32: each query term's weight.
        own: the query's raw score against itself (0: nothing scores).
    """

    def __init__(self, model: LexicalModel, terms: sparse.csr_matrix, own: float) -> None:
        self.model = model
        self.terms = terms
        self.own = own
        self._scores: np.ndarray | None = None
        self._dense: np.ndarray | None = None  # the terms as a vector, once asked for

    def _normalised(self, raw: np.ndarray) -> np.ndarray:
        return np.clip(raw / self.own, 0.0, 1.0) if self.own > 0 else np.zeros_like(raw)

    def scores(self) -> np.ndarray:
        """``(n_documents,)`` float32 in [0, 1]: every indexed document's score (kept
        for this query's later calls)."""
        if self._scores is None:
            self._scores = self._normalised(self.model.scores(self.terms)[0])
        return self._scores

    def score_rows(self, positions: np.ndarray) -> np.ndarray:
        """``(len(positions),)`` float32 in [0, 1]: the indexed documents at
        ``positions``, the same values :meth:`scores` gives them."""
        if self._scores is not None:
            return np.asarray(self._scores[positions])
        return self._normalised(self.model.score_rows(self._dense_terms(), positions))

    def score_weighed(
        self, weights: sparse.csr_matrix, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """``(len(rows),)`` float32 in [0, 1]: documents that are weighed but not
        indexed (:meth:`LexicalModel.weigh`: live upserts), ``weights`` one row per
        document ``(documents, n_terms)``; only ``rows`` of them (default: all).

        Summed as :meth:`LexicalModel.score_rows` sums indexed documents (a row at a
        time, in float32, in the row's term order), so a document scores the same
        whichever rows are asked for. A request asks for the few live upserts among
        its candidates: a sparse product over every upsert's postings cost it about
        0.2 ms with 1,000 upserts at 100k articles, most of it scipy's overhead.
        """
        picked = weights if rows is None else weights[rows]
        if picked.shape[0] == 0:
            return np.zeros(0, dtype=np.float32)
        return self._normalised(np.asarray(picked @ self._dense_terms(), dtype=np.float32))

    def _dense_terms(self) -> np.ndarray:
        if self._dense is None:
            self._dense = self.model.dense_query(self.terms)
        return self._dense

    def by_field(
        self, row: Row, fields: Callable[[], FieldCounts], lexical: float
    ) -> dict[str, float]:
        """A document's lexical score ``lexical`` split over the fields its shared
        terms occur in (every field of :data:`FIELDS`, in order). ``fields`` gives the
        document's :meth:`LexicalModel.count_fields`, called only when a term is shared.

        Each shared term's part of the score is divided among the document's fields in
        proportion to the field-weighted count of the term there, so the parts add up
        to the score and show what the field weights did.
        """
        split = {name: 0.0 for name in FIELDS}
        if lexical <= 0:
            return split
        row_terms, row_weights = row
        common, in_row, in_query = np.intersect1d(
            row_terms, self.terms.indices, assume_unique=True, return_indices=True
        )
        if common.size == 0:
            return split
        counted = fields()
        counts = counted.by_field[:, np.searchsorted(counted.terms, common)]
        totals = counts.sum(axis=0)
        share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        parts = share @ (row_weights[in_row] * self.terms.data[in_query])
        scale = lexical / parts.sum() if parts.sum() > 0 else 0.0
        return {name: float(parts[i] * scale) for i, name in enumerate(FIELDS)}


def _save_csr(stem: Path, matrix: sparse.csr_matrix) -> list[Path]:
    """Write a CSR matrix as ``<stem>.data.npy``, ``.indices.npy``, ``.indptr.npy``,
    its index arrays in one integer type (so loading never converts them)."""
    index_type = np.int32 if matrix.nnz < 2**31 and matrix.shape[1] < 2**31 else np.int64
    parts = {
        "data": np.asarray(matrix.data, dtype=np.float32),
        "indices": np.asarray(matrix.indices, dtype=index_type),
        "indptr": np.asarray(matrix.indptr, dtype=index_type),
    }
    files = []
    for part, values in parts.items():
        path = stem.with_name(f"{stem.name}.{part}.npy")
        np.save(path, values)
        files.append(path)
    return files


def _load_csr(stem: Path, columns: int) -> sparse.csr_matrix:
    """A CSR matrix written by :func:`_save_csr`, its arrays memory-mapped."""
    data, indices, indptr = (
        mapped(stem.with_name(f"{stem.name}.{part}.npy")) for part in ("data", "indices", "indptr")
    )
    matrix = sparse.csr_matrix((len(indptr) - 1, columns), dtype=np.float32)
    # Assigned, not passed to the constructor: scipy would check and may copy them.
    matrix.data, matrix.indices, matrix.indptr = data, indices, indptr
    return matrix
