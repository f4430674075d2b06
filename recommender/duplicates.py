"""Near-duplicate bodies: w-shingles, MinHash signatures and their resemblance.

A syndicated copy of a story (a partner's id and URL, a suffixed headline, a
dateline, a credit paragraph, a trimmed last paragraph) embeds close to its
original but not always above the dense duplicate threshold. Broder's
resemblance catches it: the Jaccard overlap of the two bodies' sets of
w-shingles (runs of ``w`` consecutive tokens). A MinHash signature (datasketch)
estimates it from ``num_perm`` 32-bit values per article: the share of
positions where two signatures agree.

Signatures are computed at index time and stored in the snapshot
(``signatures.npy``, ``shingle_counts.npy``); API upserts compute theirs when
they are written. At serve time comparing a query with its candidates is one
vectorised equality count per candidate. :func:`near_duplicate_groups` finds
the groups of a whole corpus with MinHash LSH, for the reindex report.

Titles are not part of a signature: a recurring title ("Weekly roundup") must
not make two articles duplicates, and a suffixed headline must not make a copy
different.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import sparse

# Scripts written without spaces between words: each character is a token, so a
# Chinese, Japanese or Thai body still yields shingles (a "word" there would be a
# whole clause). Han, kana, Thai, Lao, Myanmar, Khmer.
_UNSPACED = (
    "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
)
_TOKEN = re.compile(rf"[{_UNSPACED}]|[^\W_{_UNSPACED}]+")

MIN_SHINGLES = 20
"""Bodies with fewer distinct shingles than this get no resemblance: on a handful
of shingles one shared phrase swings the Jaccard overlap, so such an article is
never a near-duplicate by this test (the dense test still applies)."""

_SCHEME = "affine32"  # datasketch 2's collision-free permutations; values fit uint32


@dataclass(frozen=True)
class Shingling:
    """How signatures are made: part of a snapshot's build parameters.

    Attributes:
        shingle: tokens per shingle. 4 keeps light edits cheap (one changed word
            costs 4 shingles) while two different texts on one subject share
            almost no run of 4 words.
        num_perm: MinHash permutations, i.e. 32-bit values per article (512 bytes
            at 128). The estimate's standard error is sqrt(J(1-J)/num_perm), 0.044
            at J = 0.5: a copy missing a quarter of the story (J ≈ 0.75) is
            never estimated below 0.5, a story quoting one paragraph of another
            (J ≈ 0.2) never above.
        seed: seed of the permutations; signatures made with different seeds
            cannot be compared.
    """

    shingle: int = 4
    num_perm: int = 128
    seed: int = 1

    def describe(self) -> dict[str, Any]:
        """The parameters as stored in a manifest's ``build``."""
        return {"method": "minhash", "scheme": _SCHEME, "hash": "sha1-32", **asdict(self)}

    @classmethod
    def from_description(cls, described: Mapping[str, Any] | None) -> Shingling | None:
        """The shingling a manifest describes; None if it describes none (an older
        snapshot) or one this code cannot reproduce."""
        if not described or described.get("method") != "minhash":
            return None
        if described.get("scheme") != _SCHEME or described.get("hash") != "sha1-32":
            return None
        try:
            return cls(
                int(described["shingle"]), int(described["num_perm"]), int(described["seed"])
            )
        except (KeyError, TypeError, ValueError):
            return None


def tokens(text: str) -> list[str]:
    """The tokens shingles are made of: lowercase words (letters and digits), and
    each character of a script written without spaces.

    NFKC folds full-width forms and ligatures, so a copy that only differs in
    them has the same tokens; punctuation and spacing never matter.
    """
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def shingles(text: str, size: int) -> set[bytes]:
    """The distinct ``size``-token shingles of ``text``, UTF-8 encoded.

    A text shorter than ``size`` tokens is one shingle (or none, when empty).
    """
    words = tokens(text)
    if len(words) < size:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1)}


@dataclass(frozen=True)
class Signatures:
    """MinHash signatures of some articles, one row each.

    Attributes:
        hashes: ``(n, num_perm)`` uint32.
        counts: ``(n,)`` uint32, each body's number of distinct shingles; a row
            with fewer than :data:`MIN_SHINGLES` is never compared.
    """

    hashes: np.ndarray
    counts: np.ndarray

    def __len__(self) -> int:
        return int(self.counts.shape[0])

    def rows(self, positions: np.ndarray) -> Signatures:
        """The signatures at ``positions``, in that order."""
        return Signatures(np.asarray(self.hashes[positions]), np.asarray(self.counts[positions]))

    @staticmethod
    def concatenate(parts: Sequence[Signatures]) -> Signatures:
        """The rows of ``parts`` one after another."""
        return Signatures(
            np.concatenate([p.hashes for p in parts]), np.concatenate([p.counts for p in parts])
        )


class Signer:
    """Makes MinHash signatures with one :class:`Shingling`.

    The permutations are drawn once (datasketch derives them from the seed), then
    copied for each text.
    """

    def __init__(self, shingling: Shingling | None = None) -> None:
        from datasketch import MinHash  # imported here: only builds and upserts sign

        self.shingling = shingling or Shingling()
        self._template = MinHash(
            num_perm=self.shingling.num_perm, seed=self.shingling.seed, scheme=_SCHEME
        )

    def sign(self, texts: Iterable[str]) -> Signatures:
        """The signatures of ``texts`` (article bodies), one row each."""
        hashes, counts = [], []
        for text in texts:
            minhash = self._template.copy()
            units = shingles(text, self.shingling.shingle)
            minhash.update_batch(units)
            hashes.append(np.asarray(minhash.hashvalues, dtype=np.uint32))
            counts.append(len(units))
        width = self.shingling.num_perm
        return Signatures(
            np.vstack(hashes) if hashes else np.zeros((0, width), dtype=np.uint32),
            np.asarray(counts, dtype=np.uint32),
        )


def resemblance(query: Signatures, others: Signatures) -> np.ndarray:
    """The estimated Jaccard overlap of one body's shingles with each of ``others``.

    Args:
        query: one row.
        others: ``n`` rows made with the same shingling.

    Returns:
        ``(n,)`` float64 in [0, 1]; NaN where either body has fewer than
        :data:`MIN_SHINGLES` shingles (not comparable: never a duplicate).
    """
    agree = np.count_nonzero(others.hashes == query.hashes[0], axis=1)
    estimate = agree / query.hashes.shape[1]
    comparable = (others.counts >= MIN_SHINGLES) & (int(query.counts[0]) >= MIN_SHINGLES)
    return np.where(comparable, estimate, np.nan)


def near_duplicate_groups(
    ids: Sequence[str], signatures: Signatures, threshold: float, shingling: Shingling
) -> list[list[str]]:
    """Groups of articles whose bodies resemble each other at least ``threshold``.

    MinHash LSH proposes pairs without comparing every pair: the signatures are cut
    into bands of ``r`` values, with the band count and width datasketch's
    ``MinHashLSH`` chooses for the threshold (misses weighed heavier than false
    alarms), and two articles whose values agree on a whole band are a pair. Each
    proposed pair is then checked on its estimated Jaccard, and groups are the
    connected components of the pairs that pass (scipy). The bands are matched as
    arrays, all articles at once, rather than inserted one by one into
    datasketch's index: the same pairs, without a Python call per article and band
    (a large corpus pays this on every reindex). Articles with too few shingles
    join no group.

    Returns:
        Groups of two or more ids, each in corpus order, largest group first (ties
        in corpus order).
    """
    from datasketch import MinHashLSH
    from scipy.sparse.csgraph import connected_components

    comparable = np.flatnonzero(signatures.counts >= MIN_SHINGLES)
    if comparable.size < 2:
        return []
    bands = MinHashLSH(threshold=threshold, num_perm=shingling.num_perm, weights=(0.3, 0.7))
    hashes = signatures.hashes[comparable]
    pairs: list[np.ndarray] = []
    for band in range(bands.b):
        values = np.ascontiguousarray(hashes[:, band * bands.r : (band + 1) * bands.r])
        keys = values.view(np.dtype((np.void, values.dtype.itemsize * bands.r))).ravel()
        _, bucket, sizes = np.unique(keys, return_inverse=True, return_counts=True)
        shared = np.flatnonzero(sizes[bucket] > 1)
        if shared.size:
            pairs.append(_bucket_pairs(shared[np.argsort(bucket[shared], kind="stable")], bucket))
    if not pairs:
        return []
    proposed = np.unique(np.concatenate(pairs), axis=0)
    agree = np.count_nonzero(hashes[proposed[:, 0]] == hashes[proposed[:, 1]], axis=1)
    close = proposed[agree / shingling.num_perm >= threshold]
    graph = sparse.coo_matrix(
        (np.ones(len(close)), (close[:, 0], close[:, 1])), shape=(len(comparable),) * 2
    )
    _, component = connected_components(graph, directed=False)
    groups: dict[int, list[int]] = {}
    for row, label in enumerate(component.tolist()):
        groups.setdefault(label, []).append(int(comparable[row]))
    found = sorted((g for g in groups.values() if len(g) > 1), key=lambda g: (-len(g), g[0]))
    return [[ids[p] for p in group] for group in found]


def _bucket_pairs(members: np.ndarray, bucket: np.ndarray) -> np.ndarray:
    """``(p, 2)`` every pair ``(a, b)``, ``a < b``, of rows in the same bucket;
    ``members`` are the rows of buckets holding two or more, grouped by bucket."""
    starts = np.flatnonzero(np.r_[True, bucket[members[1:]] != bucket[members[:-1]]])
    ends = np.r_[starts[1:], members.size]
    out = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        rows = np.sort(members[start:end])
        if rows.size > LARGE_BUCKET:
            # Thousands of bodies sharing a band are copies of one text: pairing each
            # with the first and with the next finds their group in linear work
            # (every pair would be quadratic), at the cost of missing a member that
            # resembles only some of the others.
            out.append(np.stack([np.full(rows.size - 1, rows[0]), rows[1:]], axis=1))
            out.append(np.stack([rows[:-1], rows[1:]], axis=1))
            continue
        first, second = np.triu_indices(rows.size, k=1)
        out.append(np.stack([rows[first], rows[second]], axis=1))
    return np.concatenate(out)


LARGE_BUCKET = 512
"""Articles in one LSH bucket above which not every pair is checked."""


__all__ = [
    "MIN_SHINGLES",
    "Shingling",
    "Signatures",
    "Signer",
    "near_duplicate_groups",
    "resemblance",
    "shingles",
    "tokens",
]
