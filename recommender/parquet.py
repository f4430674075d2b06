"""Parquet corpus sources: one article per row, read in batches with pyarrow.

Columns are the article fields of the README (``id``, ``title``, ``body``,
``summary``, ``url``, ``tags``, ``categories``, ``published``, ``updated``,
``author``, ``status``, ``featured``, ``image``); other columns go to ``extra``, as in the
other formats. Tags and categories may be a list column or a string separated
by commas or semicolons; dates may be timestamp, date or ISO 8601 string
columns. A null cell means "not given".

``embedding``, when present, is a list (or fixed-size list) column of float32,
float64 or integer values. Each batch's column becomes one float32 array with
Arrow's own kernels, without a Python list per row: a million vectors cost the
array, not a million Python objects. A row whose vector cannot be used (see
:mod:`recommender.vectors`) carries the reason, and the corpus reader rejects
it with its row number (1 = the first row) as the line.

pyarrow is an optional dependency (``pip install 'recommender[parquet]'``).
This module returns raw records; :mod:`recommender.corpus` validates them like
every other format's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidCorpus
from .vectors import FIELD as EMBEDDING
from .vectors import ModelDimension, check_rows, length_problem

BATCH_ROWS = 10_000
"""Rows converted at a time: bounds the memory of a batch's Python records."""


@dataclass(frozen=True)
class ParquetRow:
    """One row: its number (1-based), its cells except ``embedding``, and the
    supplied vector (L2-normalised) or why it cannot be used."""

    number: int
    record: dict[str, Any]
    vector: np.ndarray | None = None
    problem: str | None = None


def read_parquet(
    path: Path,
    model_dim: ModelDimension | None = None,
    groups: tuple[int, int, int] | None = None,
) -> Iterator[ParquetRow]:
    """Every row of a Parquet file, in order.

    Args:
        path: the file.
        model_dim: the length a supplied vector must have (asked for once, when
            the file has an ``embedding`` column); by default any length.
        groups: ``(first, end, first row number)``: only the row groups
            ``first`` to ``end`` (excluded), whose first row has that number (see
            :func:`row_group_spans`); None for every row.

    Raises:
        InvalidCorpus: pyarrow is not installed, the file is not Parquet or cannot
            be read, or its ``embedding`` column does not hold lists of numbers.
    """
    pa, pq = _pyarrow(path)
    model_dim = model_dim or ModelDimension()
    try:
        parquet = pq.ParquetFile(path)
        schema = parquet.schema_arrow
        _check_embedding_type(path, schema)
        number = 1 if groups is None else groups[2]
        chosen = None if groups is None else list(range(groups[0], groups[1]))
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, row_groups=chosen):
            yield from _rows(batch, number, model_dim, pa)
            number += batch.num_rows
    except (OSError, pa.ArrowException) as exc:
        raise InvalidCorpus(path, f"cannot be read as Parquet: {exc}") from None


def row_group_spans(path: Path, rows: int) -> list[tuple[int, int, int]]:
    """``(first, end, first row number)`` of runs of whole row groups of about
    ``rows`` rows each (at least one group per run), from the file's footer alone.

    A row group is the smallest part of a Parquet file that can be read on its
    own, so a file written as one group is one run: write large corpora with
    groups of a few thousand rows (pyarrow's ``row_group_size``) to read them in
    parallel.

    Raises:
        InvalidCorpus: pyarrow is not installed, or the file is not Parquet.
    """
    pa, pq = _pyarrow(path)
    try:
        metadata = pq.ParquetFile(path).metadata
    except (OSError, pa.ArrowException) as exc:
        raise InvalidCorpus(path, f"cannot be read as Parquet: {exc}") from None
    spans: list[tuple[int, int, int]] = []
    first, number, held = 0, 1, 0
    for group in range(metadata.num_row_groups):
        held += metadata.row_group(group).num_rows
        if held >= rows or group == metadata.num_row_groups - 1:
            spans.append((first, group + 1, number))
            first, number, held = group + 1, number + held, 0
    return spans


def _pyarrow(path: Path) -> tuple[Any, Any]:
    """``(pyarrow, pyarrow.parquet)``.

    Raises:
        InvalidCorpus: pyarrow is not installed (naming ``path``, which needs it).
    """
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InvalidCorpus(
            path,
            "reading Parquet needs pyarrow, which is not installed: "
            "pip install 'recommender[parquet]'",
        ) from None
    return pa, pq


def _check_embedding_type(path: Path, schema: Any) -> None:
    import pyarrow as pa

    if EMBEDDING not in schema.names:
        return
    kind = schema.field(EMBEDDING).type
    is_list = (
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    )
    if not is_list or not (
        pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)
    ):
        held = f"lists of {kind.value_type}" if is_list else str(kind)
        raise InvalidCorpus(
            path,
            f"column {EMBEDDING!r} holds {held}: expected a list of float32 or float64 "
            "numbers per row",
        )


def _rows(batch: Any, first: int, model_dim: ModelDimension, pa: Any) -> Iterator[ParquetRow]:
    vectors: list[np.ndarray | None] = [None] * batch.num_rows
    problems: list[str | None] = [None] * batch.num_rows
    if EMBEDDING in batch.schema.names:
        vectors, problems = _vectors(batch.column(EMBEDDING), model_dim, pa)
        batch = batch.drop_columns([EMBEDDING])
    for offset, cells in enumerate(batch.to_pylist()):
        record = {name: value for name, value in cells.items() if value is not None}
        yield ParquetRow(first + offset, record, vectors[offset], problems[offset])


def _vectors(
    column: Any, model_dim: ModelDimension, pa: Any
) -> tuple[list[np.ndarray | None], list[str | None]]:
    """Each row's unit vector (None when the cell is null or unusable) and problem."""
    import pyarrow.compute as pc

    rows = len(column)
    vectors: list[np.ndarray | None] = [None] * rows
    problems: list[str | None] = [None] * rows
    present = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if not present.any():
        return vectors, problems
    dim = model_dim.get()
    lengths = np.asarray(pc.list_value_length(column).fill_null(0).to_numpy(), dtype=np.int64)
    flat = pc.list_flatten(column)  # null rows hold no values here
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    item_nulls = np.asarray(flat.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    values = np.asarray(flat.to_numpy(zero_copy_only=False))
    usable = present.copy()
    if dim is not None:
        for row in np.flatnonzero(present & (lengths != dim)):
            problems[row] = length_problem(int(lengths[row]), dim)
            usable[row] = False
    if item_nulls.any():
        row_of_item = np.repeat(np.arange(rows), lengths)
        for row in np.unique(row_of_item[item_nulls]):
            if usable[row]:
                nulls = np.flatnonzero(item_nulls[starts[row] : starts[row] + lengths[row]])
                problems[row] = f"item {int(nulls[0])} is null, not a number"
                usable[row] = False
    # Rows of one length at a time (one length only, when the model's is known).
    for width in np.unique(lengths[usable]):
        chosen = np.flatnonzero(usable & (lengths == width))
        gather = starts[chosen][:, None] + np.arange(width)[None, :]
        unit, found = check_rows(values[gather])
        for row, vector, problem in zip(chosen, unit, found, strict=True):
            if problem is None:
                vectors[row] = vector
            else:
                problems[row] = problem
    return vectors, problems


__all__ = ["BATCH_ROWS", "ParquetRow", "read_parquet", "row_group_spans"]
