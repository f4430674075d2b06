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
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from . import cjk

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


def _split(cjk_terms: CjkTerms) -> Callable[[str], tuple[list[str], list[str]]]:
    """A function from a text to (its words, its CJK terms)."""
    if cjk_terms == "none":
        return lambda text: (_words(text), [])

    def split(text: str) -> tuple[list[str], list[str]]:
        text = cjk.fold_width(text)
        if not cjk.has_cjk(text):
            return _words(text), []  # exactly what such a text always gave
        return _words(cjk.without_cjk(text)), cjk.bigrams(text.lower())

    return split


def _stemmer(stemming: Stemming) -> Callable[[list[str]], list[str]] | None:
    if stemming == "none":
        return None
    import Stemmer  # PyStemmer: Snowball in C, with its own cache of recent words

    stemmer = Stemmer.Stemmer(stemming)
    return lambda words: list(stemmer.stemWords(words))


def _analyzer(stemming: Stemming, cjk_terms: CjkTerms) -> Callable[[str], list[str]]:
    split, stem = _split(cjk_terms), _stemmer(stemming)

    def terms(text: str) -> list[str]:
        words, pairs = split(text)
        return (words if stem is None else stem(words)) + pairs

    return terms


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

    def describe(self) -> str:
        """The parameters in one line, for manifests and build fingerprints."""
        fields = ",".join(f"{name}={self.field_weights[name]:g}" for name in FIELDS)
        return (
            f"bm25(k1={self.k1:g},b={self.b:g},stemming={self.stemming},"
            f"cjk={self.cjk_terms},fields={fields})"
        )

    def _vectorizer(self, vocabulary: dict[str, int] | None = None) -> CountVectorizer:
        return CountVectorizer(
            analyzer=_analyzer(self.stemming, self.cjk_terms),
            vocabulary=vocabulary,
            dtype=np.float32,
        )

    def counts(self, documents: Sequence[LexicalDocument]) -> sparse.csr_matrix:
        """How many times each document uses each term, weighted by field."""
        docs = [_fields(d) for d in documents]
        total: sparse.csr_matrix | None = None
        for name in FIELDS:
            weight = self.field_weights[name]
            if not weight:
                continue
            counts = self.vectorizer_.transform([d.get(name, "") for d in docs]).tocsr()
            counts = counts.astype(np.float32) * np.float32(weight)
            total = counts if total is None else total + counts
        if total is None:
            total = sparse.csr_matrix((len(docs), len(self.vocabulary_)), dtype=np.float32)
        return sparse.csr_matrix(total, dtype=np.float32)

    def field_counts(self, document: LexicalDocument) -> sparse.csr_matrix:
        """The document's field-weighted term counts, one row per field of :data:`FIELDS`."""
        fields = _fields(document)
        texts = [fields.get(name, "") if self.field_weights[name] else "" for name in FIELDS]
        counts = self.vectorizer_.transform(texts).tocsr().astype(np.float32)
        scale = sparse.diags(np.array([self.field_weights[n] for n in FIELDS], dtype=np.float32))
        return sparse.csr_matrix(scale @ counts, dtype=np.float32)

    def fit(self, documents: Sequence[LexicalDocument]) -> LexicalModel:
        """Learn the vocabulary and BM25 document weights of ``documents``."""
        texts = [self._text(d) for d in documents]
        self.vectorizer_ = self._vectorizer()
        try:
            self.vectorizer_.fit(texts)
            self.vocabulary_: dict[str, int] = dict(self.vectorizer_.vocabulary_)
        except ValueError:  # every text was empty or stop words only
            self.vocabulary_ = {"": 0}
            self.vectorizer_ = self._vectorizer(self.vocabulary_)
        counts = self.counts(documents)
        n_docs = counts.shape[0]
        df = np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.float32)
        self.idf_ = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        lengths = np.asarray(counts.sum(axis=1)).ravel()
        average = float(lengths.mean()) if n_docs and lengths.mean() > 0 else 1.0
        self.average_length_ = average
        self.matrix_ = self._saturate(counts)
        self.surface_ = self._surface_forms(texts) if self.stemming != "none" else {}
        self._terms = self._term_array()
        return self

    def _text(self, document: LexicalDocument) -> str:
        """The fields of ``document`` that weigh anything, as one text."""
        fields = _fields(document)
        return "\n".join(fields.get(name, "") for name in FIELDS if self.field_weights[name])

    def _surface_forms(self, texts: Sequence[str]) -> dict[str, str]:
        """The word the corpus uses most for each stem (ties: the shorter, then the first
        alphabetically), so explanations say "strokes", never "strok"."""
        words: Counter[str] = Counter()
        split = _split(self.cjk_terms)
        for text in texts:
            words.update(split(text)[0])
        unique = sorted(words)
        stemmer = _stemmer(self.stemming)
        stems = stemmer(unique) if stemmer is not None else unique
        best: dict[str, tuple[int, int, str]] = {}
        for word, stem in zip(unique, stems, strict=True):
            key = (-words[word], len(word), word)
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
        transposed = getattr(self, "_transposed", None)
        if transposed is None or transposed[0] is not self.matrix_:
            transposed = (self.matrix_, self.matrix_.T.tocsr())
            self._transposed = transposed
        return np.asarray((queries @ transposed[1]).toarray(), dtype=np.float32)

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

    def row(self, position: int) -> Row:
        """The BM25 row of the indexed document at ``position``."""
        return row_of(self.matrix_, position)

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

    def score_rows(self, terms: sparse.csr_matrix, positions: np.ndarray) -> np.ndarray:
        """The raw BM25 scores of the indexed rows at ``positions`` for one query row.

        Equal, bit for bit, to the same entries of :meth:`scores`: both sum, in
        float32, each document weight times the query weight in ascending term order
        (here a term the query lacks adds an exact 0). A dense query and a row-wise
        product cost a tenth of a sparse product over the rows.
        """
        if positions.size == 0:
            return np.zeros(0, dtype=np.float32)
        query = np.zeros(self.n_terms, dtype=np.float32)
        query[terms.indices] = terms.data
        return np.asarray(self.matrix_[positions] @ query, dtype=np.float32)

    def save(self, directory: Path) -> list[Path]:
        """Write the fitted model into ``directory``; returns the files written."""
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
        }
        files = [directory / "lexical.json", directory / "idf.npy", directory / "bm25.npz"]
        files[0].write_text(json.dumps(params, ensure_ascii=False), encoding="utf-8")
        np.save(files[1], self.idf_)
        sparse.save_npz(files[2], self.matrix_)
        return files

    @classmethod
    def load(cls, directory: Path) -> LexicalModel:
        """Read a model written by :meth:`save`.

        Snapshots written before stemming, field weights and CJK terms existed load
        as what they were built with: no stemming, the default field weights, and a
        run of Chinese, Japanese or Korean characters read as one word.
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
        model.vectorizer_ = model._vectorizer(model.vocabulary_)
        model.idf_ = np.load(directory / "idf.npy", allow_pickle=False)
        model.matrix_ = sparse.load_npz(directory / "bm25.npz").tocsr()
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
        return self._normalised(self.model.score_rows(self.terms, positions))

    def score_weights(self, rows: sparse.csr_matrix) -> np.ndarray:
        """``(rows,)`` float32 in [0, 1]: documents that are weighed but not indexed
        (:meth:`LexicalModel.weigh`: live upserts)."""
        raw = np.asarray((self.terms @ rows.T).toarray()).ravel().astype(np.float32)
        return self._normalised(raw)

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
