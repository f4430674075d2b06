"""Index versions on disk, and the file format of one version.

This module is the only one that knows which files a version holds and what each
is: the others read a version through :class:`Snapshot` (everything, for serving)
or the readers of :class:`SnapshotStore` (one part, without loading the rest:
:meth:`~SnapshotStore.records`, :meth:`~SnapshotStore.lexical_model`,
:meth:`~SnapshotStore.candidate_sets`), and write one through
:func:`build_snapshot_dir`. Each part's own encoding inside its file or directory
belongs to the module of that part (:mod:`recommender.records`,
:mod:`recommender.lexical`, :mod:`recommender.index`). The index directory around
the versions (the pointer, the lock, the SQLite files) is :mod:`recommender.layout`'s.

Layout of an index directory (its file names come from :mod:`recommender.layout`)::

    CURRENT                 name of the published version (replaced atomically)
    versions/<version>/     one immutable snapshot per publish
        manifest.json       model id, dimension, counts, corpus fingerprint, checksums
        articles.jsonl      the article records, in vector order
        vectors.npy         one L2-normalised row per article
        dense.faiss         the vector index
        lexical/            the BM25 model
        signatures.npy      MinHash signatures of the bodies, uint32, one row per article
        candidates.npy      each article's candidate set: positions of its nearest
                            articles by either signal, int32, -1 padded
        featured_neighbours.npy
                            each article's nearest featured articles by cosine,
                            int32, -1 padded (only when many articles are featured)
        shingle_counts.npy  distinct shingles per body (both absent in older snapshots)
    versions/.build-*/      a build in progress (debris if a build died)
    embeddings.sqlite       the embedding cache (other state files: see layout.py)

A build writes only into its own ``.build-*`` directory; publishing renames it
into place and then replaces ``CURRENT``. Both are single atomic renames, so a
reader sees the old snapshot or the new one, never a mix, and a crash at any
moment leaves the previous snapshot published.

Writing and publishing report their steps to an optional :data:`StepCallback`
as (phase, done, total), so a caller can show progress and a crash test can stop
the process at an exact step (``write`` 0-4/4, ``seal`` 0-1/1, ``publish`` 0-2/2;
see :data:`recommender.pipeline.Progress`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from . import layout
from .arrays import mapped
from .articles import Article
from .duplicates import Shingling, Signatures
from .errors import NoSnapshot, SnapshotCorrupt, SnapshotError, SnapshotMismatch
from .index import VectorIndex
from .lexical import LexicalModel
from .records import ARTICLES, ArticleRecords
from .stores import VersionPointer

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURES = "signatures.npy"
CANDIDATES = "candidates.npy"
FEATURED_NEIGHBOURS = "featured_neighbours.npy"
SHINGLE_COUNTS = "shingle_counts.npy"
VECTORS = "vectors.npy"
DENSE = "dense.faiss"
LEXICAL = "lexical"  # a directory, written by :meth:`LexicalModel.save`
# What every snapshot holds besides its manifest, in the order a build writes them;
# a snapshot with near-duplicate signatures also holds SIGNATURES and SHINGLE_COUNTS,
# written together as one more step.
DATA_FILES = (ARTICLES, VECTORS, DENSE, LEXICAL)

StepCallback = Callable[[str, int, int], None]
"""Called with (phase, done, total) after each step of writing or publishing."""


def _no_report(phase: str, done: int, total: int) -> None:
    """The default :data:`StepCallback`: report nothing."""


def write_steps(with_signatures: bool, with_candidates: bool = False) -> int:
    """How many ``write`` steps a build reports after ``write`` 0: one per data file,
    and one for the signature files."""
    return len(DATA_FILES) + int(with_signatures) + int(with_candidates)


@dataclass(frozen=True)
class Manifest:
    """What a snapshot holds and how it was built."""

    version: str
    created: str
    model_id: str
    dim: int
    article_count: int
    corpus_fingerprint: str
    files: dict[str, str] = field(default_factory=dict)
    build: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT_VERSION
    supplied_vectors: int = 0
    """Articles whose vector came with the record (0 in snapshots built before)."""
    sizes: dict[str, int] = field(default_factory=dict)
    """Bytes of each file of :attr:`files` (empty in snapshots built before): what a
    server checks when it loads a version, see :meth:`SnapshotStore.check_sizes`."""

    def to_json(self) -> dict[str, Any]:
        """The manifest as a JSON-ready mapping."""
        return asdict(self)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_tree(directory: Path) -> None:
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def corpus_fingerprint(content_hashes: Iterable[tuple[str, str]], build: dict[str, Any]) -> str:
    """A digest of (id, content hash) pairs and the build parameters."""
    digest = hashlib.sha256(json.dumps(build, sort_keys=True).encode())
    for article_id, content in sorted(content_hashes):
        digest.update(f"{article_id}\x00{content}\n".encode())
    return digest.hexdigest()


class PointerFile:
    """The published-version pointer as a file (``CURRENT``) naming the version.

    Publishing writes the name to a temporary file beside it, fsyncs, and renames it
    over the pointer: one atomic rename, so readers see the old name or the new.

    Args:
        path: the pointer file.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def current_version(self) -> str | None:
        """The published version, or None if nothing has been published."""
        try:
            name = self.path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return name or None

    def point_to(self, version: str) -> None:
        """Publish ``version``."""
        temporary = self.path.parent / f".{self.path.name}.{uuid.uuid4().hex}"
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(version + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        _fsync_dir(self.path.parent)

    def remove_debris(self) -> None:
        """Delete temporary files left by a publish that died before its rename."""
        for path in self.path.parent.glob(f".{self.path.name}.*"):
            path.unlink(missing_ok=True)


class SnapshotStore:
    """The versions in one index directory, and the pointer to the published one.

    Args:
        root: the index directory.
        pointer: where the published version is recorded; default: the
            ``CURRENT`` file in ``root`` (:class:`PointerFile`).
    """

    def __init__(self, root: Path | str, pointer: VersionPointer | None = None):
        self.root = Path(root)
        files = layout.IndexLayout.of(self.root)
        self.versions_dir = files.versions
        self.pointer: VersionPointer = PointerFile(files.current) if pointer is None else pointer

    def current_version(self) -> str | None:
        """The published version, or None if nothing has been published."""
        return self.pointer.current_version()

    def path(self, version: str) -> Path:
        """The directory of one version."""
        return self.versions_dir / version

    def resolve(self, version: str | None = None) -> str:
        """``version``, or the published one when None.

        Raises:
            NoSnapshot: None was given and nothing is published.
        """
        version = version or self.current_version()
        if version is None:
            raise NoSnapshot(self.root, "no snapshot published yet: run `recommender index`")
        return version

    def article_ids(self, version: str | None = None) -> list[str]:
        """The ids of a version's articles (default: the published one), read without
        loading its models: what editorial rules are checked against where no
        engine runs (the CLI).

        Raises:
            NoSnapshot: nothing is published.
            SnapshotCorrupt: the article files cannot be read.
        """
        return list(self.records(version).ids)

    def records(self, version: str | None = None) -> ArticleRecords:
        """A version's article records (default: the published one), read without
        loading its vectors or models.

        Raises:
            NoSnapshot: nothing is published.
            SnapshotCorrupt: the article files cannot be read.
        """
        base = self.path(self.resolve(version))
        try:
            return ArticleRecords.load(base)
        except (OSError, ValueError, KeyError) as exc:
            raise SnapshotCorrupt(base, f"cannot be read: {exc}") from exc

    def lexical_model(self, version: str, *, word_counts: bool = False) -> LexicalModel:
        """A version's lexical model alone (``word_counts``: with each document's
        term counts, which a reindex reuses; see :meth:`LexicalModel.load`).

        Raises:
            SnapshotCorrupt: its files cannot be read.
        """
        path = self.path(version) / LEXICAL
        try:
            return LexicalModel.load(path, word_counts=word_counts)
        except (OSError, ValueError, KeyError) as exc:
            raise SnapshotCorrupt(path, f"cannot be read: {exc}") from exc

    def candidate_sets(self, version: str) -> np.ndarray | None:
        """A version's candidate sets alone, memory-mapped (see :attr:`Snapshot.candidates`);
        None for a version built before they existed.

        Raises:
            SnapshotCorrupt: the manifest or the array cannot be read, or the array's
                shape or type differs from the manifest's.
        """
        return self._rows(version, CANDIDATES, "candidate sets")

    def featured_neighbours(self, version: str) -> np.ndarray | None:
        """A version's featured neighbours alone, memory-mapped (see
        :attr:`Snapshot.featured_neighbours`); None when the version has none.

        Raises:
            SnapshotCorrupt: as :meth:`candidate_sets`.
        """
        return self._rows(version, FEATURED_NEIGHBOURS, "featured neighbours")

    def _rows(self, version: str, name: str, what: str) -> np.ndarray | None:
        manifest = self.read_manifest(version)
        base = self.path(version)
        try:
            return _load_rows(base, manifest, name, what)
        except (OSError, ValueError) as exc:
            raise SnapshotCorrupt(base / name, f"cannot be read: {exc}") from exc

    def versions(self) -> list[str]:
        """Every complete version on disk, oldest first."""
        if not self.versions_dir.exists():
            return []
        return sorted(
            p.name
            for p in self.versions_dir.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).exists()
        )

    def read_manifest(self, version: str) -> Manifest:
        """The manifest of one version.

        Raises:
            SnapshotCorrupt: the manifest is missing or unreadable.
        """
        path = self.path(version) / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Manifest(**data)
        except FileNotFoundError:
            raise SnapshotCorrupt(path, "manifest is missing") from None
        except (ValueError, TypeError) as exc:
            raise SnapshotCorrupt(path, f"manifest is unreadable: {exc}") from None

    def new_build_dir(self) -> Path:
        """A fresh private directory for a build to write into."""
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        path = self.versions_dir / f".build-{uuid.uuid4().hex}"
        path.mkdir()
        return path

    def _next_version(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        existing = self.versions()
        number = int(existing[-1].split("-", 1)[0].lstrip("v")) + 1 if existing else 1
        return f"v{number:06d}-{stamp}"

    def publish(
        self,
        build_dir: Path,
        manifest_fields: dict[str, Any],
        on_step: StepCallback = _no_report,
    ) -> Manifest:
        """Seal a finished build (checksums, manifest), move it into place, point to it.

        Reports ``seal`` 0/1 and 1/1 (manifest written and flushed: the build is
        complete but invisible), then ``publish`` 0/2, 1/2 (renamed under its version
        name, not yet published) and 2/2 (``CURRENT`` names it).
        """
        on_step("seal", 0, 1)
        paths = [p for p in sorted(build_dir.rglob("*")) if p.is_file() and p.name != MANIFEST]
        files = {str(p.relative_to(build_dir)): _sha256(p) for p in paths}
        version = self._next_version()
        manifest = Manifest(
            version=version,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            files=files,
            sizes={str(p.relative_to(build_dir)): p.stat().st_size for p in paths},
            **manifest_fields,
        )
        (build_dir / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=2), "utf-8")
        _fsync_tree(build_dir)
        on_step("seal", 1, 1)
        on_step("publish", 0, 2)
        final = self.path(version)
        os.rename(build_dir, final)
        _fsync_dir(self.versions_dir)
        on_step("publish", 1, 2)
        self.pointer.point_to(version)
        on_step("publish", 2, 2)
        return manifest

    def remove_debris(self) -> int:
        """Delete directories left by builds that died; returns how many."""
        if not self.versions_dir.exists():
            return 0
        removed = 0
        for path in self.versions_dir.glob(".build-*"):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
        if isinstance(self.pointer, PointerFile):
            self.pointer.remove_debris()
        return removed

    def rollback(self, version: str) -> Manifest:
        """Publish an older (or any existing) version again, after verifying it.

        The caller holds the index lock.

        Raises:
            SnapshotError: no such version.
            SnapshotCorrupt: it fails verification (nothing is changed).
        """
        if version not in self.versions():
            known = ", ".join(self.versions()[-5:]) or "none"
            raise SnapshotError(self.path(version), f"no such snapshot (latest: {known})")
        manifest = self.verify(version)
        self.pointer.point_to(version)
        return manifest

    def prune(self, keep: int) -> list[str]:
        """Delete all but the ``keep`` newest versions; never the published one.

        The caller holds the index lock. Returns the versions deleted.
        """
        current = self.current_version()
        versions = self.versions()
        doomed = [v for v in versions[: max(0, len(versions) - keep)] if v != current]
        for version in doomed:
            # Rename first so a reader never sees a half-deleted snapshot under its name.
            trash = self.versions_dir / f".build-trash-{version}"
            os.rename(self.path(version), trash)
            shutil.rmtree(trash, ignore_errors=True)
        return doomed

    def check_sizes(self, version: str) -> Manifest:
        """Check that every file of a version exists with the size its manifest gives:
        what serving checks at each load, in microseconds whatever the size. A
        snapshot is checksummed when it is sealed, and the checksums are verified in
        full by :meth:`verify` (``recommender verify``, a reindex's rollback); reading
        every byte again in every worker at every load would cost a large index
        seconds. Manifests written before sizes were kept are verified in full.

        Raises:
            SnapshotCorrupt: a file is missing or its size differs.
        """
        manifest = self.read_manifest(version)
        if set(manifest.sizes) != set(manifest.files):
            return self.verify(version)
        base = self.path(version)
        for name, expected in manifest.sizes.items():
            path = base / name
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                raise SnapshotCorrupt(path, "file listed in the manifest is missing") from None
            if size != expected:
                raise SnapshotCorrupt(
                    path, f"is {size} bytes, the manifest says {expected}: damaged or cut short"
                )
        return manifest

    def verify(self, version: str) -> Manifest:
        """Check every file of a version against its manifest.

        Raises:
            SnapshotCorrupt: a file is missing or its checksum differs.
        """
        manifest = self.read_manifest(version)
        base = self.path(version)
        for name, expected in manifest.files.items():
            path = base / name
            if not path.exists():
                raise SnapshotCorrupt(path, "file listed in the manifest is missing")
            if _sha256(path) != expected:
                raise SnapshotCorrupt(path, "checksum does not match the manifest")
        return manifest


@dataclass
class Snapshot:
    """A loaded, read-only index version: articles, vectors, dense and lexical models,
    and the bodies' MinHash signatures (None in a snapshot built before they existed:
    it is then served with the dense duplicate test only)."""

    manifest: Manifest
    articles: ArticleRecords
    vectors: np.ndarray
    dense: VectorIndex
    lexical: LexicalModel
    signatures: Signatures | None = None
    candidates: np.ndarray | None = None
    """Each article's candidate set, shape (articles, width), int32, -1 padded: the
    positions a request for its related articles scores (see
    :mod:`recommender.neighbours`); None in a snapshot built before they existed."""
    featured_neighbours: np.ndarray | None = None
    """Each article's nearest featured articles by cosine, shape (articles, width),
    int32, nearest first, -1 padded: the shortlist of its featured picks (see
    :func:`recommender.neighbours.featured_neighbours`); None when the snapshot
    features too few articles to need it, or was built before it existed."""
    positions: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        # From the stored ids: reading every article here would cost most of a load.
        self.positions = dict(zip(self.articles.ids, range(len(self.articles)), strict=True))

    @property
    def version(self) -> str:
        """The snapshot's version name."""
        return self.manifest.version

    def write(self, directory: Path, on_step: StepCallback = _no_report) -> None:
        """Write the snapshot's data files (not the manifest) into ``directory``.

        Reports ``write`` n/N after each of :data:`DATA_FILES` is written, and after
        the signature files (N is :func:`write_steps`).
        """
        writers: dict[str, Callable[[Path], object]] = {
            ARTICLES: lambda path: self.articles.write(path.parent),
            VECTORS: lambda path: np.save(path, self.vectors),
            DENSE: self.dense.save,
            LEXICAL: self.lexical.save,
        }
        with_candidates = self.candidates is not None or self.featured_neighbours is not None
        total = write_steps(self.signatures is not None, with_candidates)
        done = len(DATA_FILES)
        for done, name in enumerate(DATA_FILES, start=1):
            writers[name](directory / name)
            on_step("write", done, total)
        if self.signatures is not None:
            self._write_signatures(directory)
            done += 1
            on_step("write", done, total)
        if with_candidates:
            # One step for both kinds of neighbours: they are made in the same phase.
            if self.candidates is not None:
                np.save(directory / CANDIDATES, np.asarray(self.candidates, dtype=np.int32))
            if self.featured_neighbours is not None:
                rows = np.asarray(self.featured_neighbours, dtype=np.int32)
                np.save(directory / FEATURED_NEIGHBOURS, rows)
            done += 1
            on_step("write", done, total)

    @property
    def content_hashes(self) -> list[str]:
        """Each article's content hash, in position order."""
        return self.articles.content_hashes

    def _write_signatures(self, directory: Path) -> None:
        assert self.signatures is not None  # only called when there are signatures
        np.save(directory / SIGNATURES, self.signatures.hashes)
        np.save(directory / SHINGLE_COUNTS, self.signatures.counts)

    @property
    def shingling(self) -> Shingling | None:
        """How the signatures were made; None when the snapshot has none."""
        if self.signatures is None:
            return None
        return Shingling.from_description(self.manifest.build.get("duplicates"))

    @classmethod
    def load(
        cls,
        store: SnapshotStore,
        version: str | None = None,
        *,
        expect_model: str | None = None,
        expect_dim: int | None = None,
        verify: bool | Literal["sizes"] = True,
    ) -> Snapshot:
        """Load a version (default: the published one).

        ``verify``: True checks every file's checksum (:meth:`SnapshotStore.verify`),
        ``"sizes"`` only their sizes (:meth:`SnapshotStore.check_sizes`, what a
        server does), False nothing.

        Raises:
            NoSnapshot: nothing is published.
            SnapshotMismatch: built with another model or dimension than expected.
            SnapshotCorrupt: a file is missing, altered or unreadable.
        """
        version = store.resolve(version)
        if verify == "sizes":
            manifest = store.check_sizes(version)
        else:
            manifest = store.verify(version) if verify else store.read_manifest(version)
        if manifest.format != FORMAT_VERSION:
            raise SnapshotMismatch(
                store.path(version), f"format {manifest.format}, this code reads {FORMAT_VERSION}"
            )
        if expect_model is not None and manifest.model_id != expect_model:
            raise SnapshotMismatch(
                store.path(version),
                f"built with model {manifest.model_id!r}, but the configured model is "
                f"{expect_model!r}: reindex with `recommender index --full` or set "
                "RECOMMENDER_MODEL to the snapshot's model",
            )
        if expect_dim is not None and manifest.dim != expect_dim:
            raise SnapshotMismatch(
                store.path(version),
                f"vectors have {manifest.dim} dimensions, the model gives {expect_dim}",
            )
        base = store.path(version)
        try:
            articles = ArticleRecords.load(base)
            vectors = mapped(base / VECTORS)
            dense = VectorIndex.load(base / DENSE, lazy=True)
            lexical = LexicalModel.load(base / LEXICAL)
            signatures = _load_signatures(base, manifest)
            candidates = _load_rows(base, manifest, CANDIDATES, "candidate sets")
            featured = _load_rows(base, manifest, FEATURED_NEIGHBOURS, "featured neighbours")
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise SnapshotCorrupt(base, f"cannot be read: {exc}") from exc
        if len(articles) != manifest.article_count or vectors.shape != (
            manifest.article_count,
            manifest.dim,
        ):
            raise SnapshotCorrupt(base, "article count or vector shape differs from the manifest")
        return cls(manifest, articles, vectors, dense, lexical, signatures, candidates, featured)


def _load_rows(base: Path, manifest: Manifest, name: str, what: str) -> np.ndarray | None:
    """An int32 array of one row per article (``name``), memory-mapped; None when
    the snapshot holds no such file.

    Raises:
        ValueError: the array's shape or type differs from the manifest's.
    """
    if name not in manifest.files:
        return None
    rows = mapped(base / name)
    if rows.ndim != 2 or rows.shape[0] != manifest.article_count:
        raise ValueError(f"{what} differ from the manifest's article count")
    if rows.dtype != np.int32:
        raise ValueError(f"{what} are {rows.dtype}, not int32")
    return rows


def _load_signatures(base: Path, manifest: Manifest) -> Signatures | None:
    """The snapshot's signatures, memory-mapped (workers share the pages); None for a
    snapshot built before signatures existed, or with a shingling this code cannot
    reproduce (its next reindex makes new ones).

    Raises:
        ValueError: the arrays' shapes or types differ from the manifest's.
    """
    shingling = Shingling.from_description(manifest.build.get("duplicates"))
    if SIGNATURES not in manifest.files or shingling is None:
        return None
    hashes = mapped(base / SIGNATURES)
    counts = mapped(base / SHINGLE_COUNTS)
    rows = manifest.article_count
    if (
        hashes.shape != (rows, shingling.num_perm)
        or counts.shape != (rows,)
        or hashes.dtype != np.uint32
        or counts.dtype != np.uint32
    ):
        raise ValueError("signature arrays differ from the manifest's article count or shingling")
    return Signatures(hashes, counts)


def stored_signatures(
    store: SnapshotStore, version: str, content_hashes: Sequence[str] | None = None
) -> tuple[list[str], Signatures, Shingling] | None:
    """A version's signatures with the content hash of each row, without loading its
    models; None when it has no signatures (so a build signs every article again).
    ``content_hashes``: the version's, when the caller has read them already.

    Raises:
        SnapshotCorrupt: the manifest, the article list or the arrays are unreadable.
    """
    manifest = store.read_manifest(version)
    base = store.path(version)
    try:
        signatures = _load_signatures(base, manifest)
        if signatures is None:
            return None
        hashes = (
            list(content_hashes)
            if content_hashes is not None
            else ArticleRecords.load(base).content_hashes
        )
    except (OSError, ValueError, KeyError) as exc:
        raise SnapshotCorrupt(base, f"cannot be read: {exc}") from exc
    shingling = Shingling.from_description(manifest.build.get("duplicates"))
    if shingling is None or len(hashes) != len(signatures):
        return None
    return hashes, signatures, shingling


def build_snapshot_dir(
    store: SnapshotStore,
    articles: Sequence[Article],
    content_hashes: Sequence[str],
    vectors: np.ndarray,
    lexical: LexicalModel,
    manifest_fields: dict[str, Any],
    signatures: Signatures | None = None,
    on_step: StepCallback = _no_report,
    candidates: np.ndarray | None = None,
    carried: tuple[ArticleRecords, Sequence[int | None]] | None = None,
    record_digests: Sequence[bytes | None] | None = None,
    featured_neighbours: np.ndarray | None = None,
) -> Manifest:
    """Write a new version into a private directory and publish it atomically.

    ``carried``: the published records and, per article, its position there when
    unchanged (else None): their stored lines are copied, not made again.
    ``record_digests``: each article's record digest, stored for the next reindex.

    If anything fails before the final rename the build directory is removed and
    the published version is untouched. Reports ``write`` 0/N once the private
    directory exists, then the steps of :meth:`Snapshot.write` and
    :meth:`SnapshotStore.publish`.
    """
    build_dir = store.new_build_dir()
    try:
        with_candidates = candidates is not None or featured_neighbours is not None
        on_step("write", 0, write_steps(signatures is not None, with_candidates))
        dense = VectorIndex().fit(vectors)
        placeholder = Manifest("", "", "", 0, 0, "")
        records = ArticleRecords.of(articles, content_hashes, record_digests)
        if carried is not None:
            records.carry_over(*carried)
        Snapshot(
            placeholder,
            records,
            vectors,
            dense,
            lexical,
            signatures,
            candidates,
            featured_neighbours,
        ).write(build_dir, on_step)
        return store.publish(build_dir, manifest_fields, on_step)
    except BaseException:
        shutil.rmtree(build_dir, ignore_errors=True)
        raise


__all__ = [
    "DATA_FILES",
    "Manifest",
    "NoSnapshot",
    "PointerFile",
    "Snapshot",
    "SnapshotError",
    "SnapshotStore",
    "StepCallback",
    "build_snapshot_dir",
    "corpus_fingerprint",
    "stored_signatures",
]
