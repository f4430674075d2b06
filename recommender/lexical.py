"""The lexical signal: Okapi BM25 over scikit-learn sparse matrices.

A document is a set of fields (title, summary, tags, body). Each field's term
counts are multiplied by its weight and added up before BM25's saturation and
length normalisation, as BM25F does with one shared ``b``: a title word with
weight 2 counts as two body mentions. Words may be reduced to their Snowball
stems (PyStemmer), so "stroke" meets "strokes" and "rehabilitation" meets
"rehabilitate"; shared terms are still shown in the surface form the corpus
uses most. Chinese, Japanese and Korean text, written without spaces, is cut into
character pairs (see :mod:`recommender.cjk`).

The document side is the usual BM25 weight of each term; how a query's terms
weigh is the ranker's choice (see :mod:`recommender.ranking`). Saved as plain
files (parameters JSON, numpy arrays, a scipy ``.npz``): no pickles in snapshots.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
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
        common, in_row, in_query = np.intersect1d(row_terms, query.indices, return_indices=True)
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
