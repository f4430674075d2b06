"""Each default store implements its protocol, and the engine takes the stores it is
given. (mypy checks the signatures too: ``recommender/stores.py``, ``_conforms``.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recommender import Engine, Settings
from recommender.embedding import EmbeddingCache
from recommender.jobs import JobStore
from recommender.layout import IndexLayout
from recommender.live import LiveStore
from recommender.locking import IndexLock
from recommender.rules import RuleStore
from recommender.snapshot import PointerFile, SnapshotStore
from recommender.stores import (
    BuildLock,
    EditorialRuleStore,
    EmbeddingCacheStore,
    JobStateStore,
    LiveChangeStore,
    VersionPointer,
)

from .conftest import make_engine
from .fakes import FakeEmbedder


@pytest.mark.parametrize(
    ("make", "protocol"),
    [
        (lambda root: LiveStore(root / "live.sqlite"), LiveChangeStore),
        (lambda root: RuleStore(root / "rules.sqlite"), EditorialRuleStore),
        (lambda root: JobStore(root / "jobs.sqlite"), JobStateStore),
        (lambda root: EmbeddingCache(root / "embeddings.sqlite"), EmbeddingCacheStore),
        (lambda root: PointerFile(root / "CURRENT"), VersionPointer),
        (lambda root: IndexLock(root), BuildLock),
    ],
)
def test_each_default_implements_its_protocol(
    tmp_path: Path, make: Any, protocol: type[Any]
) -> None:
    store = make(tmp_path)
    assert isinstance(store, protocol)
    database = getattr(store, "db", None)
    if database is not None:
        database.close()


class MemoryPointer:
    """A pointer kept in memory: enough of a second backend to show the seam."""

    def __init__(self, version: str | None = None) -> None:
        self.version = version

    def current_version(self) -> str | None:
        return self.version

    def point_to(self, version: str) -> None:
        self.version = version


def test_the_snapshot_store_reads_its_pointer(tmp_path: Path) -> None:
    pointer = MemoryPointer("v000007-x")
    assert isinstance(pointer, VersionPointer)
    store = SnapshotStore(tmp_path, pointer=pointer)
    assert store.current_version() == "v000007-x"
    assert not IndexLayout.of(tmp_path).current.exists()


def test_the_engine_uses_the_stores_it_is_given(settings: Settings, tmp_path: Path) -> None:
    make_engine(settings, tmp_path / "c.jsonl")  # builds the index
    elsewhere = tmp_path / "elsewhere"
    rules = RuleStore(elsewhere / "rules.sqlite")
    live = LiveStore(elsewhere / "live.sqlite")
    engine = Engine(settings, embedder=FakeEmbedder(), rules=rules, live=live)
    engine.set_excludes(["sleep-1"], "ed")
    engine.delete("sleep-2")
    assert rules.load().excludes == {"sleep-1"}
    assert live.load().deleted == {"sleep-2"}
    files = IndexLayout.of(settings.index_dir)
    assert RuleStore(files.rules).load().excludes == frozenset()
    assert not LiveStore(files.live).load().deleted
