"""Vectors supplied with the articles (the ``embedding`` field), checked and normalised.

A site or batch job that already embedded its articles with the configured
model passes each vector as the record's ``embedding``: a list of numbers in
JSON Lines (and a JSON array in a CSV cell, a YAML list in front matter), a
list column in a Parquet file (:mod:`recommender.parquet`). A supplied vector
is the article's vector as it is, once L2-normalised, and no model runs for it.

A vector is refused, with the reason, when it is not a list, holds something
that is not a number, holds NaN or an infinity, is all zeros (it has no
direction to compare), or has another length than the model's vectors. The
checks of a whole Parquet column are vectorised (:func:`check_rows`).

An article's content hash covers its supplied vector (:func:`with_vector`), so a
changed vector makes the article count as updated and an unchanged one as
unchanged.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np

FIELD = "embedding"
"""The record field (and Parquet column) holding a supplied vector."""
_PLAIN_NUMBERS = {float, int}
_ALL_ZEROS = "is all zeros, so it has no direction to compare"


class VectorProblem(ValueError):
    """A supplied vector that cannot be used; the message says why."""


@dataclass
class ModelDimension:
    """The configured model's vector length, asked for once, when the first
    supplied vector is checked (so a corpus without vectors never asks).

    Args:
        ask: returns the length (e.g. ``lambda: embedder.dim``); None accepts any
            length (a reader used without a model).
    """

    ask: Callable[[], int] | None = None
    _known: int | None = field(default=None, init=False, repr=False)

    def get(self) -> int | None:
        """The length every supplied vector must have, or None to accept any."""
        if self._known is None and self.ask is not None:
            self._known = int(self.ask())
        return self._known


def length_problem(length: int, dim: int | None) -> str | None:
    """Why a vector of ``length`` numbers cannot be used with the model, if it cannot."""
    if dim is None or length == dim:
        return None
    return f"has {length} numbers, but the model's vectors have {dim} dimensions"


def check_vector(value: Any, dim: int | None) -> np.ndarray:
    """One supplied vector as a unit-length float32 array.

    Args:
        value: the record's ``embedding``: a list or tuple of numbers.
        dim: the length it must have; None accepts any.

    Returns:
        The vector divided by its L2 norm, shape ``(len(value),)``, float32.

    Raises:
        VectorProblem: not a list of finite numbers of the model's length, or all zeros.
    """
    if not isinstance(value, list | tuple):
        raise VectorProblem(f"must be a list of numbers, got {_type_name(value)}")
    # JSON gives floats and ints: one pass over the types settles the common case
    # (isinstance against numbers.Real per item costs 10x more).
    if not set(map(type, value)) <= _PLAIN_NUMBERS:
        _find_non_number(value)
    problem = length_problem(len(value), dim)
    if problem:
        raise VectorProblem(problem)
    try:
        vector = np.asarray(value, dtype=np.float64)
    except OverflowError:  # an integer beyond any float
        raise VectorProblem("holds a number too large for a float") from None
    if not np.isfinite(vector).all():
        _find_non_number(value)
    scale = float(np.abs(vector).max(initial=0.0))
    if scale == 0.0:
        raise VectorProblem(_ALL_ZEROS)
    vector /= scale  # first, so huge numbers do not overflow the norm
    vector /= np.linalg.norm(vector)
    return vector.astype(np.float32)


def _find_non_number(value: list[Any] | tuple[Any, ...]) -> None:
    """Raise for the first item that is not a finite number (bools are not numbers)."""
    for position, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, Real):
            raise VectorProblem(f"item {position} is not a number: {item!r}")
        if not math.isfinite(item):
            raise VectorProblem(f"item {position} is not a finite number: {item!r}")


def check_rows(matrix: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
    """Many supplied vectors of one length at once (a Parquet column).

    Args:
        matrix: ``(rows, dim)`` float32 or float64.

    Returns:
        The rows L2-normalised as float32 (rows that fail are left unnormalised),
        and per row None or why it cannot be used.
    """
    values = np.array(matrix, dtype=np.float64 if matrix.dtype == np.float64 else np.float32)
    finite = np.isfinite(values)
    clean = np.where(finite, values, 0.0)
    # Scaled by the largest magnitude first, so huge numbers do not overflow the norm.
    scale = np.abs(clean).max(axis=1, initial=0.0)
    good = finite.all(axis=1) & (scale > 0)
    problems: list[str | None] = [None] * len(values)
    for row in np.flatnonzero(~finite.all(axis=1)):
        position = int(np.flatnonzero(~finite[row])[0])
        problems[row] = f"item {position} is not a finite number: {float(values[row, position])}"
    for row in np.flatnonzero(finite.all(axis=1) & (scale == 0)):
        problems[row] = _ALL_ZEROS
    values[good] /= scale[good, None]
    values[good] /= np.linalg.norm(values[good], axis=1, keepdims=True)
    return values.astype(np.float32, copy=False), problems


def vector_digest(vector: np.ndarray) -> str:
    """A digest of a normalised vector's float32 bytes."""
    return hashlib.sha256(np.ascontiguousarray(vector, dtype=np.float32).tobytes()).hexdigest()


def with_vector(content_hash: str, vector: np.ndarray) -> str:
    """An article's content hash extended by its supplied vector, so changing only
    the vector changes the hash (and the article counts as updated)."""
    joined = f"{content_hash}\x00{FIELD}\x00{vector_digest(vector)}"
    return hashlib.sha256(joined.encode()).hexdigest()


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


__all__ = [
    "FIELD",
    "ModelDimension",
    "VectorProblem",
    "check_rows",
    "check_vector",
    "length_problem",
    "vector_digest",
    "with_vector",
]
