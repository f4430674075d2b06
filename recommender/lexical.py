"""The lexical signal: Okapi BM25 over scikit-learn sparse matrices.

The document side is the usual BM25 weight of each term; a query (another
article, or a draft) is the set of its terms, so an article's score against
another is the sum of the BM25 weights of the terms they share. Saved as plain
files (vocabulary JSON, numpy arrays, a scipy ``.npz``): no pickles in snapshots.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

# Words of two or more characters that start with a letter; hyphens split words, so
# "post-stroke" matches "stroke".
TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W_]+\b"


class LexicalModel:
    """BM25 scores between articles, or between a text and the articles.

    Args:
        k1: term-frequency saturation.
        b: document-length normalisation.
    """

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b

    def _vectorizer(self, vocabulary: dict[str, int] | None = None) -> CountVectorizer:
        return CountVectorizer(
            lowercase=True,
            stop_words=sorted(ENGLISH_STOP_WORDS),
            token_pattern=TOKEN_PATTERN,
            vocabulary=vocabulary,
            dtype=np.float32,
        )

    def fit(self, texts: Sequence[str]) -> LexicalModel:
        """Learn the vocabulary and BM25 document weights of ``texts``."""
        self.vectorizer_ = self._vectorizer()
        try:
            counts = self.vectorizer_.fit_transform(texts).tocsr()
        except ValueError:  # every text was empty or stop words only
            self.vectorizer_ = self._vectorizer({"": 0})
            counts = sparse.csr_matrix((len(texts), 1), dtype=np.float32)
        self.vocabulary_: dict[str, int] = dict(self.vectorizer_.vocabulary_)
        n_docs = counts.shape[0]
        df = np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.float32)
        self.idf_ = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        lengths = np.asarray(counts.sum(axis=1)).ravel()
        average = float(lengths.mean()) if n_docs and lengths.mean() > 0 else 1.0
        self.average_length_ = average
        weights = counts.copy()
        row_of = np.repeat(np.arange(n_docs), np.diff(counts.indptr))
        tf = counts.data
        norm = self.k1 * (1 - self.b + self.b * lengths[row_of] / average)
        weights.data = (tf * (self.k1 + 1) / (tf + norm) * self.idf_[counts.indices]).astype(
            np.float32
        )
        self.matrix_ = weights.tocsr()
        self._terms = self._term_array()
        return self

    def _term_array(self) -> np.ndarray:
        terms = np.empty(len(self.vocabulary_), dtype=object)
        for term, index in self.vocabulary_.items():
            terms[index] = term
        return terms

    def transform_queries(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Binary term-presence vectors for query texts, in the fitted vocabulary."""
        counts = self.counts(texts)
        counts.data[:] = 1.0
        return counts

    def counts(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """How many times each text uses each term of the fitted vocabulary."""
        return self.vectorizer_.transform(texts).tocsr().astype(np.float32)

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
        self, query: sparse.csr_matrix, row: sparse.csr_matrix, n: int = 5
    ) -> list[str]:
        """The terms that weigh most in both the query and an article's BM25 ``row``.

        Ranked by the product of the two term-frequency saturations times the idf
        (the product of the BM25 weights over one idf): a word repeated in both
        texts outranks a rare word each mentions once in passing.
        """
        common, in_row, in_query = np.intersect1d(row.indices, query.indices, return_indices=True)
        if common.size == 0:
            return []
        weight = row.data[in_row] * query.data[in_query] / np.maximum(self.idf_[common], 1e-6)
        order = np.argsort(-weight, kind="stable")[:n]
        return [str(self._terms[common[i]]) for i in order]

    def weigh(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """BM25 weights of arbitrary texts (as if they were indexed), for explanations."""
        counts = self.vectorizer_.transform(texts).tocsr().astype(np.float32)
        lengths = np.asarray(counts.sum(axis=1)).ravel()
        row_of = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
        norm = self.k1 * (1 - self.b + self.b * lengths[row_of] / self.average_length_)
        tf = counts.data
        counts.data = (tf * (self.k1 + 1) / (tf + norm) * self.idf_[counts.indices]).astype(
            np.float32
        )
        return counts

    def save(self, directory: Path) -> list[Path]:
        """Write the fitted model into ``directory``; returns the files written."""
        directory.mkdir(parents=True, exist_ok=True)
        params = {
            "k1": self.k1,
            "b": self.b,
            "average_length": self.average_length_,
            "vocabulary": self.vocabulary_,
        }
        files = [directory / "lexical.json", directory / "idf.npy", directory / "bm25.npz"]
        files[0].write_text(json.dumps(params, ensure_ascii=False), encoding="utf-8")
        np.save(files[1], self.idf_)
        sparse.save_npz(files[2], self.matrix_)
        return files

    @classmethod
    def load(cls, directory: Path) -> LexicalModel:
        """Read a model written by :meth:`save`."""
        params: dict[str, Any] = json.loads((directory / "lexical.json").read_text("utf-8"))
        model = cls(k1=params["k1"], b=params["b"])
        model.vocabulary_ = params["vocabulary"]
        model.average_length_ = float(params["average_length"])
        model.vectorizer_ = model._vectorizer(model.vocabulary_)
        model.idf_ = np.load(directory / "idf.npy", allow_pickle=False)
        model.matrix_ = sparse.load_npz(directory / "bm25.npz").tocsr()
        model._terms = model._term_array()
        return model
