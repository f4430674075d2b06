"""Every store behaves the same on both backends: SQLite files in the index
directory, and a real PostgreSQL database (the ``backend_settings`` fixture runs
each test once per backend)."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

from recommender import Settings
from recommender.articles import Article
from recommender.errors import IndexLocked, InvalidRule, JobConflict
from recommender.postgres import Connections, close_all
from recommender.rules import Pin
from recommender.state import State, open_state
from recommender.stores import (
    BuildLock,
    EditorialRuleStore,
    JobStateStore,
    LiveChangeStore,
    VersionPointer,
)


@pytest.fixture
def state(backend_settings: Settings) -> State:
    return open_state(backend_settings)


def article(article_id: str, body: str = "body", **fields: object) -> Article:
    return Article.from_stored(
        {"id": article_id, "title": f"title {article_id}", "body": body, **fields}
    )


def test_each_store_implements_its_protocol(state: State) -> None:
    assert isinstance(state.live, LiveChangeStore)
    assert isinstance(state.rules, EditorialRuleStore)
    assert isinstance(state.jobs, JobStateStore)
    assert isinstance(state.pointer, VersionPointer)
    assert isinstance(state.lock(), BuildLock)


def test_live_changes_upsert_delete_and_load_since(state: State) -> None:
    live = state.live
    assert live.seq() == 0
    first = live.upsert(article("a"), np.arange(4, dtype=np.float32), "model-x")
    assert first == 1 == live.seq()
    loaded = live.load()
    assert set(loaded.upserts) == {"a"}
    stored, vector, model = loaded.upserts["a"]
    assert stored.title == "title a" and model == "model-x"
    assert vector.tolist() == [0.0, 1.0, 2.0, 3.0]

    assert live.delete("b") == 2
    assert live.upsert(article("a", "new body"), np.ones(4, dtype=np.float32), "model-x") == 3
    since = live.load(loaded)  # reads only the rows written after the first load
    assert since.seq == 3
    assert since.deleted == frozenset({"b"})
    assert since.upserts["a"][0].body == "new body"
    again = live.load()
    assert set(since.upserts) == set(again.upserts) == {"a"}
    assert since.upserts["a"][1].tolist() == again.upserts["a"][1].tolist() == [1.0] * 4


def test_live_changes_the_corpus_holds_are_forgotten(state: State) -> None:
    live = state.live
    kept = article("kept", "only here")
    held = article("held", "the same text")
    live.upsert(kept, np.zeros(2, dtype=np.float32), "m")
    live.upsert(held, np.zeros(2, dtype=np.float32), "m")
    live.delete("gone")
    before = live.seq()
    dropped = live.forget_redundant({"held": held.content_hash()})
    assert dropped == 2  # the upsert the corpus holds, the delete of an id it lacks
    assert live.seq() > before  # readers see that something changed
    assert set(live.load().upserts) == {"kept"}
    assert live.load().deleted == frozenset()


def test_rules_write_read_audit_and_version(state: State) -> None:
    rules = state.rules
    assert rules.version() == 0
    rules.add_pin("a", "b", 1, "ed")
    rules.add_block("a", "c", "ed")
    rules.add_exclude("z", "ed")
    version = rules.set_featured("b", True, "ed")
    assert version == rules.version() == 4
    loaded = rules.load()
    assert loaded.version == 4
    assert loaded.pins == {"a": (Pin("b", 1),)}
    assert loaded.blocks == {"a": frozenset({"c"})}
    assert loaded.excludes == frozenset({"z"})
    assert loaded.featured == {"b": True}
    assert [r.kind for r in rules.records("a")] == ["block", "pin"]
    history = rules.history(limit=2)
    assert [entry.action for entry in history] == ["featured", "exclude"]
    assert history[0].seq > history[1].seq

    rules.replace_article("a", [Pin("d", 2)], [], None, "ed2")
    assert rules.load().pins == {"a": (Pin("d", 2),)}
    assert "a" not in rules.load().blocks
    assert rules.remove_exclude("z", "ed") is True
    assert rules.remove_exclude("z", "ed") is False
    assert rules.clear_article("a", "ed") is True
    assert rules.load().pins == {}
    assert rules.set_featured("b", None, "ed") > version


def test_rules_refuse_a_clash_and_keep_what_was_there(state: State) -> None:
    rules = state.rules
    rules.add_pin("a", "b", 1, "ed")
    with pytest.raises(InvalidRule):
        rules.replace_article("a", [Pin("a", 1)], [], None, "ed")  # a self-pin
    assert rules.load().pins == {"a": (Pin("b", 1),)}


def test_jobs_one_at_a_time(state: State) -> None:
    jobs = state.jobs
    job_id = jobs.create("reindex")
    with pytest.raises(JobConflict):
        jobs.create("reindex")
    jobs.update(job_id, state="running", phase="embed", done=3, total=10)
    job = jobs.get(job_id)
    assert job is not None and (job.state, job.phase, job.done, job.total) == (
        "running",
        "embed",
        3,
        10,
    )
    jobs.update(job_id, state="done", summary={"indexed": 10}, finished="2026-01-01T00:00:00")
    done = jobs.get(job_id)
    assert done is not None and done.summary == {"indexed": 10}
    assert jobs.get("no-such-job") is None
    assert jobs.create("reindex") != job_id  # the finished job no longer blocks


def test_embedding_cache_round_trip_and_replace(state: State) -> None:
    cache = state.embedding_cache()
    try:
        cache.put_many("m", {"k1": np.arange(3, dtype=np.float32)})
        cache.put_many("m", {"k1": np.ones(3, dtype=np.float32), "k2": np.zeros(3, np.float32)})
        found = cache.get_many(["k1", "k2", "missing"])
        assert set(found) == {"k1", "k2"}
        assert found["k1"].tolist() == [1.0, 1.0, 1.0]
    finally:
        cache.close()


def test_the_pointer_switches(state: State) -> None:
    assert state.pointer.current_version() is None
    state.pointer.point_to("v000001-a")
    state.pointer.point_to("v000002-b")
    assert state.pointer.current_version() == "v000002-b"


def test_the_build_lock_is_exclusive_and_names_its_holder(state: State) -> None:
    first = state.lock("reindex")
    second = state.lock("rollback")
    assert not second.is_held_elsewhere()
    first.acquire()
    try:
        assert second.is_held_elsewhere()
        with pytest.raises(IndexLocked) as raised:
            second.acquire()
        assert "reindex by pid" in str(raised.value)
    finally:
        first.release()
    assert not second.is_held_elsewhere()
    with second:
        assert first.is_held_elsewhere()


def test_a_waiting_build_gets_the_lock_when_the_holder_lets_go(state: State) -> None:
    holder = state.lock("reindex")
    holder.acquire()
    waiter = state.lock("second reindex")
    told = threading.Event()
    got = threading.Event()

    def wait_for_it() -> None:
        waiter.acquire(wait=True, on_wait=lambda who: told.set())
        got.set()
        waiter.release()

    thread = threading.Thread(target=wait_for_it)
    thread.start()
    assert told.wait(30)  # the waiter was told whom it waits for, before blocking
    assert not got.is_set()
    holder.release()
    thread.join(30)
    assert got.is_set()


def test_two_processes_states_see_each_others_writes(backend_settings: Settings) -> None:
    # Two State objects stand for two servers: what one writes, the other reads.
    one, other = open_state(backend_settings), open_state(backend_settings)
    one.rules.add_exclude("x", "ed")
    one.live.delete("y")
    one.pointer.point_to("v000003-c")
    assert other.rules.load().excludes == frozenset({"x"})
    assert other.live.load().deleted == frozenset({"y"})
    assert other.pointer.current_version() == "v000003-c"


@pytest.mark.postgres
def test_a_pool_is_closed_by_its_owner_never_by_the_garbage_collector(postgres_url: str) -> None:
    # psycopg_pool's own __del__ joins the pool's threads, and the collector may
    # run in one of them ("cannot join current thread"): unreferenced
    # connections are therefore held until closed, and closed in this thread.
    before = set(threading.enumerate())
    connections = Connections(postgres_url)
    with connections.transaction(""):
        pass
    pool_threads = [
        t for t in set(threading.enumerate()) - before if t.name.startswith("recommender")
    ]
    assert pool_threads
    held = weakref.ref(connections)
    del connections
    gc.collect()
    assert held() is not None
    assert all(thread.is_alive() for thread in pool_threads)
    close_all()
    gc.collect()
    assert held() is None
