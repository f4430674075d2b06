"""Snapshot arrays on disk, read memory-mapped.

Every worker of a server maps the same files, so the pages are held once by the
operating system's page cache and shared, not copied per worker; a snapshot loads
in the time it takes to read the ``.npy`` headers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def mapped(path: Path) -> np.ndarray:
    """The array saved at ``path`` (``np.save``), memory-mapped read-only.

    Returned as a plain ``ndarray`` view of the map: ``np.memmap``'s subclass hooks
    run on every slice and cost more than the slice itself on the per-request paths
    (a row of a CSR matrix, one candidate set). The view keeps the map open.

    Raises:
        OSError: the file cannot be opened.
        ValueError: it is not an ``.npy`` array (or holds Python objects).
    """
    array: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
    return array.view(np.ndarray)
