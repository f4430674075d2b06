"""One story, one link: syndicated copies are hidden, look-alikes are not.

The fixture (tests/fixtures/duplicates/stories.jsonl) holds four original stories
(one in Chinese) and seven articles that are *not* copies of them: a story on the
same subject in other words, a follow-up quoting one paragraph, two "Weekly
roundup" columns and two "Letters" columns sharing a title and their boilerplate,
and a Chinese story from the same library. Copies are made from the originals by
construction, one kind of syndication edit at a time.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recommender import Engine, Settings
from recommender.articles import Article
from recommender.duplicates import (
    _SCHEME,
    MIN_SHINGLES,
    Shingling,
    Signatures,
    Signer,
    near_duplicate_groups,
    resemblance,
    shingles,
    tokens,
)
from recommender.errors import SnapshotCorrupt
from recommender.evaluation import BenchmarkIndex, BenchQuery, Document, named_configs
from recommender.fields import dense_text
from recommender.live import LIVE_FILE, LiveStore
from recommender.pipeline import build_index
from recommender.snapshot import (
    MANIFEST,
    SHINGLE_COUNTS,
    SIGNATURES,
    Snapshot,
    SnapshotStore,
    corpus_fingerprint,
)

from .fakes import FakeEmbedder
from .servers import cli_json

STORIES = Path(__file__).parent / "fixtures" / "duplicates" / "stories.jsonl"
ORIGINALS = (
    "tram-extension-approved",
    "flood-walls-riverside",
    "free-school-meals",
    "library-night-opening-zh",
)
# Pairs that share a subject, a title or boilerplate, but not the story.
NOT_COPIES = [
    ("tram-extension-approved", "tram-extension-explainer"),  # same subject, other words
    ("tram-extension-approved", "tram-works-begin"),  # follow-up quoting a paragraph
    ("weekly-roundup-2025-09-05", "weekly-roundup-2025-09-12"),  # same title and frame
    ("letters-2025-09-01", "letters-2025-09-08"),  # same title and footer
    ("library-night-opening-zh", "library-family-day-zh"),  # same library, Chinese
]
KINDS = ("credit", "dateline", "suffix", "trimmed", "edited", "syndicated")


def stories() -> list[dict[str, Any]]:
    return [json.loads(line) for line in STORIES.read_text(encoding="utf-8").splitlines()]


def _chinese(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def _edited(body: str) -> str:
    """Four words (characters, in Chinese) replaced, spread over the story."""
    if _chinese(body):
        chars = list(body)
        han = [i for i, c in enumerate(chars) if "\u4e00" <= c <= "\u9fff"]
        for k in range(1, 5):
            chars[han[k * len(han) // 5]] = "某"
        return "".join(chars)
    words = body.split(" ")
    for k in range(1, 5):
        words[k * len(words) // 5] = "reportedly"
    return " ".join(words)


def copy_of(record: dict[str, Any], kind: str) -> dict[str, Any]:
    """A partner's syndicated copy of ``record``: its own id and URL, and one kind of edit
    (``syndicated`` is the usual mix: headline suffix, dateline and credit line)."""
    body, title = record["body"], record["title"]
    zh = _chinese(body)
    credit = (
        "本文原载于河畔日报，经授权转载。"
        if zh
        else "This article first appeared in the Riverside Ledger and is republished "
        "under a content-sharing agreement."
    )
    dateline = "河谷通讯社讯 " if zh else "HARBOUR CITY (Valley Wire) — "
    paragraphs = body.split("\n\n")
    bodies = {
        "credit": f"{body}\n\n{credit}",
        "dateline": dateline + body,
        "suffix": body,
        "trimmed": "\n\n".join(paragraphs[:-1]),
        "edited": _edited(body),
        "syndicated": f"{dateline}{body}\n\n{credit}",
    }
    suffixed = kind in ("suffix", "syndicated")
    return {
        **record,
        "id": f"valleywire-{record['id']}",
        "title": f"{title} | Valley Wire" if suffixed else title,
        "url": f"https://valleywire.example.net/{record['id']}",
        "body": bodies[kind],
        "tags": [*record.get("tags", []), "partner-content"],
    }


def copy_id(original: str) -> str:
    return f"valleywire-{original}"


def signatures_of(*bodies: str) -> Any:
    return Signer().sign(bodies)


# -- shingles and signatures -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Heat-pump grants DOUBLED, city says.",
            ["heat", "pump", "grants", "doubled", "city", "says"],
        ),
        ("6,000 euros", ["6", "000", "euros"]),
        ("市图书馆开放", ["市", "图", "书", "馆", "开", "放"]),
        ("東京の図書館", ["東", "京", "の", "図", "書", "館"]),
        ("ｆｕｌｌ－ｗｉｄｔｈ Ｔｅｘｔ", ["full", "width", "text"]),
        ("iPhone発売", ["iphone", "発", "売"]),
        ("under_score", ["under", "score"]),
    ],
)
def test_tokens_are_lowercase_words_and_single_cjk_characters(
    text: str, expected: list[str]
) -> None:
    assert tokens(text) == expected


def test_shingles_are_runs_of_tokens() -> None:
    assert shingles("One two three four five", 4) == {b"one two three four", b"two three four five"}
    assert shingles("Too short", 4) == {b"too short"}
    assert shingles("", 4) == set()
    assert shingles("一二三四五", 4) == {"一 二 三 四".encode(), "二 三 四 五".encode()}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("original", ORIGINALS)
def test_every_kind_of_copy_resembles_its_original(original: str, kind: str) -> None:
    record = next(r for r in stories() if r["id"] == original)
    signed = signatures_of(record["body"], copy_of(record, kind)["body"])
    estimate = resemblance(signed.rows(np.array([0])), signed.rows(np.array([1])))[0]
    assert estimate >= Settings().duplicate_jaccard


@pytest.mark.parametrize(("first", "second"), NOT_COPIES)
def test_look_alikes_do_not_resemble(first: str, second: str) -> None:
    by_id = {r["id"]: r for r in stories()}
    signed = signatures_of(by_id[first]["body"], by_id[second]["body"])
    estimate = resemblance(signed.rows(np.array([0])), signed.rows(np.array([1])))[0]
    assert estimate < 0.25  # far below the 0.5 default, despite shared titles and frames


def test_short_bodies_are_never_compared() -> None:
    short = "The library is closed on Monday for the holiday."  # 6 shingles
    long = stories()[0]["body"]
    signed = signatures_of(short, short, long)
    assert int(signed.counts[0]) < MIN_SHINGLES
    compared = resemblance(signed.rows(np.array([0])), signed)
    assert np.isnan(compared).all()


def test_signatures_are_the_same_in_every_process() -> None:
    """Signatures are stored at index time and compared with ones made later by other
    processes: they must not depend on the process (hash seeds, permutations)."""
    body = stories()[0]["body"]
    script = (
        "import sys; from recommender.duplicates import Signer; "
        "sys.stdout.write(Signer().sign([sys.stdin.read()]).hashes.tobytes().hex())"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], input=body, capture_output=True, text=True, check=True
    )
    assert done.stdout == Signer().sign([body]).hashes.tobytes().hex()


def test_groups_of_a_corpus() -> None:
    records = stories()
    by_id = {r["id"]: r for r in records}
    records += [copy_of(by_id[o], "syndicated") for o in ORIGINALS[:2]]
    records.append({**copy_of(by_id[ORIGINALS[0]], "trimmed"), "id": "third-copy"})
    ids = [r["id"] for r in records]
    signed = Signer().sign(r["body"] for r in records)
    groups = near_duplicate_groups(ids, signed, 0.5, Shingling())
    assert groups == [
        ["tram-extension-approved", copy_id("tram-extension-approved"), "third-copy"],
        ["flood-walls-riverside", copy_id("flood-walls-riverside")],
    ]


# -- serving ---------------------------------------------------------------------------


def engine_over(
    settings: Settings, path: Path, records: list[dict[str, Any]]
) -> tuple[Engine, Any]:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    embedder = FakeEmbedder()
    report = build_index([path], settings, embedder)
    return Engine(settings, embedder=embedder), report


def related_ids(engine: Engine, article_id: str, k: int = 30) -> list[str]:
    return [item.article.id for item in engine.related(article_id, k=k)]


@pytest.fixture(params=["both tests", "shingles only"])
def dedup_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The served defaults, and the same with the dense test out of reach, so the
    shingle test is seen doing the work alone."""
    if request.param == "shingles only":
        return settings.replace(duplicate_threshold=1.0)
    return settings


@pytest.mark.parametrize("kind", KINDS)
def test_a_copy_never_appears_under_its_original_nor_beside_it(
    dedup_settings: Settings, tmp_path: Path, kind: str
) -> None:
    records = stories()
    by_id = {r["id"]: r for r in records}
    copies = [copy_of(by_id[o], kind) for o in ORIGINALS]
    engine, report = engine_over(dedup_settings, tmp_path / "c.jsonl", records + copies)
    everything = {r["id"] for r in records + copies}
    pairs = {original: copy_id(original) for original in ORIGINALS}

    def one_of_each_pair(query: str, listed: list[str]) -> None:
        for original, copy in pairs.items():
            if query not in (original, copy):
                assert (original in listed) != (copy in listed), (query, original, listed)

    for original, copy in pairs.items():
        # Under the story neither copy of it, and one of each other story: the
        # better-ranked one. The same under the copy.
        for query in (original, copy):
            listed = related_ids(engine, query)
            assert original not in listed and copy not in listed
            one_of_each_pair(query, listed)
            assert len(listed) == len(everything) - len(pairs) - 1
    # Under any other article, one of each pair.
    for query in ("tram-extension-explainer", "weekly-roundup-2025-09-12", "letters-2025-09-01"):
        listed = related_ids(engine, query)
        one_of_each_pair(query, listed)
        assert len(listed) == len(everything) - len(pairs) - 1
    assert report.to_json()["near_duplicates"] == {
        "groups": 4,
        "articles": 8,
        "listed": [[original, copy_id(original)] for original in ORIGINALS],
    }


def test_exact_lists_with_a_syndicated_copy(settings: Settings, tmp_path: Path) -> None:
    records = stories()
    by_id = {r["id"]: r for r in records}
    copy = copy_of(by_id["tram-extension-approved"], "syndicated")
    engine, _ = engine_over(settings, tmp_path / "c.jsonl", [*records, copy])
    unrelated_after = ["weekly-roundup-2025-09-05", "flood-walls-riverside", "letters-2025-09-08"]
    expected = ["tram-works-begin", "tram-extension-explainer", *unrelated_after]
    assert related_ids(engine, "tram-extension-approved", k=5) == expected
    assert related_ids(engine, copy["id"], k=5) == expected
    # Under the follow-up: the story, and its copy nowhere (hidden as the same story).
    items = engine.related("tram-works-begin", k=5)
    assert [item.article.id for item in items] == [
        "tram-extension-approved",
        "tram-extension-explainer",
        "weekly-roundup-2025-09-05",
        "flood-walls-riverside",
        "weekly-roundup-2025-09-12",
    ]
    # Resemblance: to the query (the quoted paragraph: 9 of 128 values agree), or to
    # an item above (the two roundups share their frame: 12 of 128).
    assert [item.resemblance for item in items] == [9 / 128, 2 / 128, 0.0, 0.0, 12 / 128]


@pytest.mark.parametrize(("first", "second"), NOT_COPIES)
def test_look_alikes_both_stay(settings: Settings, tmp_path: Path, first: str, second: str) -> None:
    engine, report = engine_over(settings, tmp_path / "c.jsonl", stories())
    assert second in related_ids(engine, first)
    assert first in related_ids(engine, second)
    assert report.duplicate_groups == []


def test_a_live_upsert_of_a_copy_is_hidden_at_once(settings: Settings, tmp_path: Path) -> None:
    records = stories()
    by_id = {r["id"]: r for r in records}
    engine, _ = engine_over(settings, tmp_path / "c.jsonl", records)
    copy = copy_of(by_id["free-school-meals"], "credit")
    assert engine.upsert(Article.model_validate(copy)) is True
    # Kept with the change, made the snapshot's way.
    stored = LiveStore(settings.index_dir / LIVE_FILE).load().signatures[copy["id"]]
    assert stored[0] == Shingling()
    assert np.array_equal(stored[1].hashes, Signer().sign([copy["body"]]).hashes)
    assert "free-school-meals" not in related_ids(engine, copy["id"])
    assert copy["id"] not in related_ids(engine, "free-school-meals")
    listed = related_ids(engine, "tram-extension-approved")
    assert ("free-school-meals" in listed) != (copy["id"] in listed)
    # Another process sees the same (the signature comes from the live file).
    other = Engine(settings, embedder=FakeEmbedder())
    assert copy["id"] not in related_ids(other, "free-school-meals")
    # A follow-up upserted live, quoting one paragraph of the story, stays beside it.
    quoted = by_id["tram-extension-approved"]["body"].split("\n\n")[1]
    follow_up = {
        "id": "tram-budget-questions",
        "title": "Councillors question the tram budget",
        "body": "Two councillors asked on Friday for an independent review of the harbour "
        "tram budget, saying the estimate was made before building costs rose last year. "
        f"The plan they approved in May put it this way: {quoted}\n\nThe mayor said a "
        "review would delay the work by a year and that the regional share was secure.",
    }
    engine.upsert(Article.model_validate(follow_up))
    assert "tram-extension-approved" in related_ids(engine, "tram-budget-questions")
    assert "tram-budget-questions" in related_ids(engine, "tram-extension-approved")


def test_an_upsert_written_before_signatures_is_signed_when_served(
    settings: Settings, tmp_path: Path
) -> None:
    records = stories()
    by_id = {r["id"]: r for r in records}
    source = tmp_path / "c.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    build_index([source], settings, FakeEmbedder())
    copy = Article.model_validate(copy_of(by_id["flood-walls-riverside"], "edited"))
    # The live file as older code wrote it: no signature columns.
    db = sqlite3.connect(settings.index_dir / LIVE_FILE)
    with db:
        db.executescript(
            """
            CREATE TABLE changes (id TEXT PRIMARY KEY, seq INTEGER NOT NULL,
                deleted INTEGER NOT NULL, article TEXT, vector BLOB, model TEXT,
                changed_at TEXT NOT NULL);
            CREATE TABLE counter (one INTEGER PRIMARY KEY, seq INTEGER NOT NULL);
            INSERT INTO counter VALUES (1, 1);
            """
        )
        vector = FakeEmbedder().encode([dense_text(copy)])[0]
        db.execute(
            "INSERT INTO changes VALUES (?, 1, 0, ?, ?, 'fake-bow', '2025-09-11T00:00:00+00:00')",
            (copy.id, json.dumps(copy.to_json()), vector.tobytes()),
        )
    db.close()
    engine = Engine(settings, embedder=FakeEmbedder())
    assert LiveStore(settings.index_dir / LIVE_FILE).load().signatures == {}
    assert "flood-walls-riverside" not in related_ids(engine, copy.id)
    assert copy.id not in related_ids(engine, "flood-walls-riverside")


def test_a_draft_copy_is_not_suggested_its_original(settings: Settings, tmp_path: Path) -> None:
    records = stories()
    engine, _ = engine_over(settings, tmp_path / "c.jsonl", records)
    original = next(r for r in records if r["id"] == "flood-walls-riverside")
    draft = copy_of(original, "dateline")
    answer = engine.recommend_text(draft["title"] + " (updated)", draft["body"], k=10)
    ids = [item.article.id for item in answer.related]
    assert "flood-walls-riverside" not in ids
    assert "tram-extension-approved" in ids


def _strip_signatures(store: SnapshotStore) -> str:
    """Turn the published snapshot into one written before signatures existed."""
    version = store.current_version()
    assert version is not None
    base = store.path(version)
    manifest = json.loads((base / MANIFEST).read_text())
    for name in (SIGNATURES, SHINGLE_COUNTS):
        (base / name).unlink()
        del manifest["files"][name]
    del manifest["build"]["duplicates"]
    # The fingerprint older code computed: without the shingling among the parameters.
    with (base / "articles.jsonl").open(encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    pairs = [(r["article"]["id"], r["content_hash"]) for r in records]
    manifest["corpus_fingerprint"] = corpus_fingerprint(pairs, manifest["build"])
    (base / MANIFEST).write_text(json.dumps(manifest))
    return version


def test_an_old_snapshot_without_signatures_loads_and_serves(
    settings: Settings, tmp_path: Path
) -> None:
    records = stories()
    by_id = {r["id"]: r for r in records}
    # Trimmed: its cosine to the story (0.94 with the fake model) is below the dense test.
    copy = copy_of(by_id["free-school-meals"], "trimmed")
    source = tmp_path / "c.jsonl"
    engine_over(settings, source, [*records, copy])
    store = SnapshotStore(settings.index_dir)
    old = _strip_signatures(store)
    snapshot = Snapshot.load(store)
    assert snapshot.signatures is None and snapshot.shingling is None
    engine = Engine(settings, embedder=FakeEmbedder())
    # Served with the dense test alone: the trimmed copy is not caught, nothing fails.
    items = engine.related("free-school-meals", k=30)
    assert copy["id"] in [item.article.id for item in items]
    assert {item.resemblance for item in items} == {None}
    # A live upsert on the old snapshot is signed the way the next reindex will sign.
    live_copy = {**copy_of(by_id["free-school-meals"], "syndicated"), "id": "live-copy"}
    engine.upsert(Article.model_validate(live_copy))
    assert LiveStore(settings.index_dir / LIVE_FILE).load().signatures["live-copy"][0] == (
        Shingling()
    )
    assert "live-copy" in related_ids(engine, "free-school-meals")
    # The next reindex adds signatures (embedding nothing) and hides both copies.
    report = build_index([source], settings, FakeEmbedder())
    assert report.published and report.embedded == 0 and report.version != old
    engine.reload()
    listed = related_ids(engine, "free-school-meals")
    assert copy["id"] not in listed and "live-copy" not in listed


def test_reindex_signs_only_new_content(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = stories()
    source = tmp_path / "c.jsonl"
    engine_over(settings, source, records)
    signed: list[str] = []
    sign = Signer.sign

    def counting(self: Signer, texts: Any) -> Any:
        texts = list(texts)
        signed.extend(texts)
        return sign(self, texts)

    monkeypatch.setattr(Signer, "sign", counting)
    records[1] = {**records[1], "body": records[1]["body"] + "\n\nCorrection: six hours."}
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    assert build_index([source], settings, FakeEmbedder()).published
    assert signed == [records[1]["body"]]
    monkeypatch.undo()
    stored = Snapshot.load(SnapshotStore(settings.index_dir)).signatures
    fresh = Signer().sign(r["body"] for r in records)
    assert stored is not None
    assert np.array_equal(stored.hashes, fresh.hashes)
    assert np.array_equal(stored.counts, fresh.counts)


def test_a_damaged_signature_file_is_refused(settings: Settings, tmp_path: Path) -> None:
    engine_over(settings, tmp_path / "c.jsonl", stories())
    store = SnapshotStore(settings.index_dir)
    version = store.current_version()
    assert version is not None
    path = store.path(version) / SIGNATURES
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotCorrupt, match="checksum does not match"):
        Snapshot.load(store)


# -- evaluation ------------------------------------------------------------------------


def test_evaluation_counts_copies_and_the_served_row_hides_them(tmp_path: Path) -> None:
    records = stories()
    by_id = {r["id"]: r for r in records}
    copy = copy_of(by_id["free-school-meals"], "edited")
    documents = [Document(r["id"], r["title"], r["body"]) for r in [*records, copy]]
    index = BenchmarkIndex(documents, FakeEmbedder(), Settings(), tmp_path / "cache")
    query = BenchQuery("q1", by_id["free-school-meals"]["body"])
    vectors = index.embed_queries([query])
    configs = named_configs(Settings())
    judged = index.run(configs["hybrid"], [query], vectors)
    served = index.run(configs["served"], [query], vectors)
    # Judgments count duplicates: the unsuppressed run keeps the story and its copy.
    assert {"free-school-meals", copy["id"]} <= set(judged["q1"])
    # Served: the query's own text is the story, so neither copy of it is listed.
    assert not {"free-school-meals", copy["id"]} & set(served["q1"])
    assert set(served["q1"]) == set(judged["q1"]) - {"free-school-meals", copy["id"]}


# -- through the real model and the CLI ------------------------------------------------


@pytest.mark.real_model
def test_syndicated_copies_through_real_cli(tmp_path: Path) -> None:
    records = stories()
    by_id = {r["id"]: r for r in records}
    copies = [copy_of(by_id[o], kind) for o, kind in zip(ORIGINALS, KINDS[3:], strict=False)]
    source = tmp_path / "feed.jsonl"
    source.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in [*records, *copies]), "utf-8"
    )
    index_dir = tmp_path / "idx"

    def run(*args: str) -> Any:
        return cli_json(index_dir, *args)

    report = run("index", str(source), "--json")
    assert report["near_duplicates"] == {
        "groups": 3,
        "articles": 6,
        "listed": [[o, copy_id(o)] for o in ORIGINALS[:3]],
    }
    everything = {r["id"] for r in [*records, *copies]}
    pairs = [(original, copy_id(original)) for original in ORIGINALS[:3]]
    for query in ("tram-works-begin", *(i for pair in pairs for i in pair)):
        ids = [item["id"] for item in run("related", query, "--json", "-k", "20")["items"]]
        for pair in pairs:
            shown = len(set(pair) & set(ids))
            assert shown == (0 if query in pair else 1), (query, pair, ids)
        # Everything else is listed: look-alikes (same titles, subject or frame) stay.
        assert len(ids) == len(everything) - len(pairs) - 1, (query, ids)


def reference_groups(signed: Signatures, threshold: float) -> list[list[int]]:
    """Groups as datasketch's own LSH index finds them (inserted and queried one
    article at a time), for comparison with the banding done as arrays."""
    from datasketch import LeanMinHash, MinHashLSH

    shingling = Shingling()
    lsh = MinHashLSH(threshold=threshold, num_perm=shingling.num_perm, weights=(0.3, 0.7))
    rows = [r for r in range(len(signed)) if signed.counts[r] >= MIN_SHINGLES]
    sketches = {
        r: LeanMinHash(seed=shingling.seed, hashvalues=signed.hashes[r], scheme=_SCHEME)
        for r in rows
    }
    for row, sketch in sketches.items():
        lsh.insert(row, sketch)
    parent = {r: r for r in rows}

    def root(r: int) -> int:
        while parent[r] != r:
            r = parent[r]
        return r

    for row, sketch in sketches.items():
        for other in lsh.query(sketch):
            if other > row and sketch.jaccard(sketches[other]) >= threshold:
                parent[root(other)] = root(row)
    groups: dict[int, list[int]] = {}
    for row in rows:
        groups.setdefault(root(row), []).append(row)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: (-len(g), g[0]))


@pytest.mark.parametrize("seed", [0, 1])
def test_groups_match_datasketchs_lsh_index(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, width = 3000, Shingling().num_perm
    hashes = rng.integers(0, 2**32, size=(n, width), dtype=np.uint64).astype(np.uint32)
    for row in range(0, 600, 3):  # copies of random rows, each with some values changed
        hashes[row] = hashes[rng.integers(0, n)]
        changed = rng.random(width) < rng.uniform(0.05, 0.7)
        hashes[row, changed] = rng.integers(0, 2**32, changed.sum(), dtype=np.uint64)
    counts = np.full(n, 40, dtype=np.uint32)
    counts[::37] = 1  # too short to compare
    signed = Signatures(hashes, counts)
    ids = [f"a{i}" for i in range(n)]
    groups = near_duplicate_groups(ids, signed, 0.5, Shingling())
    assert groups and groups == [[ids[r] for r in g] for g in reference_groups(signed, 0.5)]
