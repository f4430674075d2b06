"""`make bench-scale`'s parts: the synthetic corpus generator, the wrk output parser,
the report writer; and one small end-to-end run through wrk and the real server."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmarks import loadgen, report, scale, scale_report, synthetic
from benchmarks.synthetic import Base, BaseDocument, Generator, write_parquet
from recommender.corpus import ReadOptions, load_corpus
from recommender.duplicates import shingles
from recommender.vectors import ModelDimension


def fake_base(documents: int = 40, dim: int = 384, seed: int = 7) -> Base:
    """Documents of pseudo-words in four topics (each topic its own vocabulary), with
    vectors clustered by topic, like the benchmark documents' real vectors."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((4, dim))
    docs, vectors = [], []
    for n in range(documents):
        topic = n % 4
        letters = rng.choice(list("aeiouklmnprst"), size=(300, 6))
        vocabulary = ["bdfg"[topic] + "".join(word) for word in letters]
        passages = tuple(
            " ".join(rng.choice(vocabulary, size=20)) for _ in range(int(rng.integers(6, 14)))
        )
        docs.append(BaseDocument(f"d{n}", f"Document {n} on topic {topic}", passages))
        vectors.append(centres[topic] + 0.5 * rng.standard_normal(dim))
    matrix = np.asarray(vectors, dtype=np.float32)
    return Base(docs, matrix / np.linalg.norm(matrix, axis=1, keepdims=True))


def corpus(size: int, seed: int = 0, base: Base | None = None) -> dict[str, list[object]]:
    columns: dict[str, list[object]] = {}
    for batch in Generator(base or fake_base(), seed).batches(size):
        for name, values in batch.items():
            columns.setdefault(name, []).extend(list(values))  # type: ignore[call-overload]
    return columns


def test_generator_is_deterministic() -> None:
    first, again, other = corpus(120), corpus(120), corpus(120, seed=1)
    assert first["id"] == again["id"] == [f"s{n:07d}" for n in range(120)]
    for name in ("title", "body", "tags", "categories", "published", "featured", "author"):
        assert first[name] == again[name], name
    np.testing.assert_array_equal(np.asarray(first["embedding"]), np.asarray(again["embedding"]))
    assert first["body"] != other["body"]


def test_corpora_share_their_whole_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic, "BATCH", 20)
    small, large = corpus(40), corpus(70)
    assert large["body"][:40] == small["body"]
    assert large["body"][40:60] != corpus(60, seed=1)["body"][40:60]


def jaccard(a: set[bytes], b: set[bytes]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def test_articles_are_not_near_duplicates_of_each_other() -> None:
    # 200 articles from 40 documents: every passage is reused many times over.
    columns = corpus(200)
    sets = [shingles(str(body), 4) for body in columns["body"]]
    overlaps = [jaccard(a, b) for a, b in itertools.combinations(sets, 2)]
    assert max(overlaps) < 0.5  # the engine's near-duplicate threshold
    vectors = np.asarray(columns["embedding"])
    cosines = vectors @ vectors.T
    np.fill_diagonal(cosines, 0.0)
    assert cosines.max() < 0.97  # the dense duplicate threshold


def test_vectors_agree_with_the_text() -> None:
    # Each article draws on one topic's documents, so its vector is nearest that
    # topic's centre and its words are that topic's.
    base = fake_base(documents=80)  # 20 a topic: an anchor's 12 neighbours share it
    columns = corpus(100, base=base)
    centres = np.stack([base.vectors[t::4].mean(axis=0) for t in range(4)])
    for body, vector in zip(columns["body"], columns["embedding"], strict=True):
        topics = {"bdfg".index(word[0]) for word in str(body).split()}
        assert len(topics) == 1
        assert int(np.argmax(centres @ np.asarray(vector))) == topics.pop()


def test_metadata_is_realistic() -> None:
    columns = corpus(3000, base=fake_base(documents=80))
    tag_counts: dict[str, int] = {}
    for tags in columns["tags"]:
        assert 1 <= len(tags) <= 4  # type: ignore[arg-type]
        for tag in tags:  # type: ignore[attr-defined]
            tag_counts[tag] = tag_counts.get(tag, 0) + 1
    ranked = sorted(tag_counts.values(), reverse=True)
    assert ranked[0] > 5 * ranked[len(ranked) // 2]  # Zipf: a few tags dominate
    years = {
        int(np.datetime64(int(p), "s").astype("datetime64[Y]").astype(int)) + 1970
        for p in columns["published"]
    }
    assert years == set(range(2018, 2026))
    assert 10 <= sum(bool(f) for f in columns["featured"]) <= 60  # about 1%
    assert 2 <= len({c[0] for c in columns["categories"]}) <= 8  # type: ignore[index]


def test_parquet_corpus_reads_with_its_vectors(tmp_path: Path) -> None:
    path = write_parquet(Generator(fake_base(), 0), 25, tmp_path / "c.parquet")
    loaded = load_corpus([path], ReadOptions(model_dim=ModelDimension(lambda: 384)))
    assert (len(loaded.articles), len(loaded.vectors), loaded.rejections) == (25, 25, [])
    first = loaded.articles[0]
    assert first.id == "s0000000" and first.url == "https://news.example.org/articles/s0000000"
    assert first.published is not None and first.published.tzinfo is not None
    expected = np.asarray(corpus(25)["embedding"][0])
    np.testing.assert_allclose(loaded.vectors.matrix[0], expected, atol=1e-6)


# -- wrk ---------------------------------------------------------------------------------

WRK_WITH_HOOK = """Running 15s test @ http://127.0.0.1:41234
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.71ms    3.20ms  61.02ms   86.83%
    Req/Sec   187.45     21.33   240.00     71.00%
  Latency Distribution
     50%   10.14ms
     75%   11.90ms
     90%   14.02ms
     99%   21.77ms
  5601 requests in 15.02s, 41.52MB read
Requests/sec:    372.91
Transfer/sec:      2.76MB
SCALE-LATENCY p50_us=10143 p90_us=14021 p99_us=21768 max_us=61020 mean_us=10712.4 \
requests=5601 duration_us=15020112 status_errors=0 connect_errors=0 read_errors=0 \
write_errors=0 timeouts=0
"""

WRK_TABLE_ONLY = """Running 10s test @ http://127.0.0.1:8000
  2 threads and 4 connections
  Latency Distribution
     50%  812.00us
     75%    1.02ms
     90%    1.30ms
     99%    2.50s
  42000 requests in 10.00s, 5.00MB read
  Socket errors: connect 0, read 2, write 1, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   4200.00
Transfer/sec:    512.00KB
"""


def test_parse_wrk_prefers_the_hooks_exact_percentiles() -> None:
    result = loadgen.parse_wrk(WRK_WITH_HOOK)
    assert result == loadgen.WrkResult(
        requests_per_second=372.91,
        requests=5601,
        p50_ms=10.143,
        p90_ms=14.021,
        p99_ms=21.768,
        max_ms=61.02,
    )
    assert result.failed == 0


def test_parse_wrk_reads_the_table_units_and_failures() -> None:
    result = loadgen.parse_wrk(WRK_TABLE_ONLY)
    assert (result.requests_per_second, result.requests) == (4200.0, 42000)
    assert (result.p50_ms, result.p90_ms, result.p99_ms) == (0.812, 1.3, 2500.0)
    assert (result.non_2xx, result.socket_errors, result.failed) == (7, 6, 13)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("unable to connect to 127.0.0.1:1 Connection refused\n", "no Requests/sec"),
        ("  10 requests in 1.00s, 1KB read\nRequests/sec:  10.00\n", "no latency percentiles"),
    ],
)
def test_parse_wrk_refuses_output_without_figures(output: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        loadgen.parse_wrk(output)


def test_lua_script_draws_from_the_ids_file(tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    script = loadgen.write_lua(tmp_path / "s.lua", ids, seed=5).read_text()
    assert f'io.lines("{ids}")' in script
    assert 'wrk.format("GET", "/v1/articles/" .. id .. "/recommendations")' in script
    assert "math.randomseed(5 + (number or 0))" in script
    assert "latency:percentile(99)" in script


# -- the report on docs/benchmarks.md -------------------------------------------------------

SPEED_PAGE = "# Benchmarks\n\nProduced by `make bench` ...\n\n## Queries\n\n| a | b |\n"


def test_scale_section_is_appended_then_replaced_and_the_rest_kept() -> None:
    once = report.with_scale_section(SPEED_PAGE, "## Scale\n\nfirst run")
    assert once == (
        SPEED_PAGE.rstrip()
        + "\n\n<!-- bench-scale:start -->\n## Scale\n\nfirst run\n<!-- bench-scale:end -->\n"
    )
    twice = report.with_scale_section(once + "\nafter the section\n", "## Scale\n\nsecond run")
    assert twice == once.replace("first run", "second run") + "\nafter the section\n"


def test_speed_run_keeps_the_scale_section(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    report.write_speed_page(page, SPEED_PAGE)
    assert report.scale_section(page.read_text()) == (
        f"{report.SCALE_START}\n{report.PLACEHOLDER}\n{report.SCALE_END}"
    )
    report.write_scale_section(page, "## Scale\n\nfigures")
    report.write_speed_page(page, SPEED_PAGE.replace("...", "again"))
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\nProduced by `make bench` again")
    assert (
        report.scale_section(text)
        == f"{report.SCALE_START}\n## Scale\n\nfigures\n{report.SCALE_END}"
    )


def test_the_committed_page_has_one_scale_section() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md").read_text()
    assert text.count(report.SCALE_START) == text.count(report.SCALE_END) == 1


def test_report_says_which_steps_did_not_finish() -> None:
    run = {
        "started": "2026-11-30T03:00",
        "minutes": 80.0,
        "machine": {"cores": 2, "memory_gib": 23.4, "cpu": "AMD EPYC", "python": "3.11.7"},
        "command": "make bench-scale SIZES=1k,1m",
        "args": {"seconds": 15, "step_minutes": 20.0, "seed": 0},
        "sizes": [
            {
                "label": "1k",
                "size": 1000,
                "build": {"seconds": 2.5},
                "reindex": {"seconds": 2.0},
                "txtai": {"build_seconds": 1.25},
            },
            {
                "label": "1m",
                "size": 1_000_000,
                "build": {
                    "timeout": 20.0,
                    "stack": [
                        "LexicalModel.fit (recommender/lexical.py:187)",
                        "step_build (benchmarks/scale.py:96)",
                    ],
                },
            },
        ],
    }
    text = scale_report.render(run)
    assert "| 1,000 | 2.5 s | 1.2 s | 2.00× | 2.0 s | 1.0× | **not met** |" in text
    assert (
        "| 1,000,000 | not finished in 20 min (stopped in `LexicalModel.fit`) | not run | – "
        "| not run | – | **not met** |"
    ) in text
    assert "2 cores, 23 GiB, AMD EPYC" in text


def test_profile_summary_shares(tmp_path: Path) -> None:
    frames = [
        {"name": "run", "file": "/x/site-packages/gunicorn/arbiter.py", "line": 1},
        {"name": "related", "file": "/w/recommender/ranking.py", "line": 10},
        {"name": "fit", "file": "/w/recommender/lexical.py", "line": 5},
        {"name": "related", "file": "/w/recommender/ranking.py", "line": 12},
    ]
    samples = [[0, 1, 2], [0, 3], [0, 1], [0]]
    path = tmp_path / "p.json"
    path.write_text(
        json.dumps(
            {
                "shared": {"frames": frames},
                "profiles": [{"samples": samples, "weights": [1, 1, 1, 1]}],
            }
        )
    )
    assert scale.summarise_speedscope(path) == [
        {"function": "run (gunicorn/arbiter.py)", "inclusive": 1.0, "self": 0.25},
        {"function": "related (recommender/ranking.py)", "inclusive": 0.75, "self": 0.5},
        {"function": "fit (recommender/lexical.py)", "inclusive": 0.25, "self": 0.25},
    ]


# -- end to end ------------------------------------------------------------------------------


@pytest.mark.server
@pytest.mark.real_model
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make bench-scale)")
def test_small_scale_run_end_to_end(tmp_path: Path) -> None:
    """1k articles (dim 384, the packaged model's), 2 s of load per run; no txtai."""
    work = tmp_path / "scale"
    write_parquet(Generator(fake_base(), 0), 1000, work / "corpus-1k-seed0.parquet")
    out = tmp_path / "benchmarks.md"
    out.write_text(SPEED_PAGE)
    scale.main(
        [
            "--sizes",
            "1k",
            "--seconds",
            "2",
            "--puts",
            "3",
            "--live-upserts",
            "20",
            "--no-txtai",
            "--no-profile",
            "--work",
            str(work),
            "--out",
            str(out),
            "--step-minutes",
            "5",
        ]
    )
    run = json.loads((work / "run.json").read_text())
    size = run["sizes"][0]
    assert (size["build"]["indexed"], size["build"]["supplied"]) == (1000, 1000)
    assert (size["build"]["embedded"], size["build"]["model_loaded"]) == (0, False)
    assert (size["reindex"]["updated"], size["reindex"]["unchanged"]) == (1, 999)
    serving = size["serving"]
    for name in ("uniform_first", "uniform", "hot", "bare"):
        assert serving[name]["requests"] > 0 and serving[name]["non_2xx"] == 0, name
    assert set(serving["live"]["put_statuses"]) == {200}
    assert all(s is not None for s in serving["everywhere_seconds"])
    assert len(serving["idle_put_ms"]) == 3 and all(ms > 0 for ms in serving["idle_put_ms"])
    assert serving["memory_reads"]["total_pss_mib"] > 0
    many = serving["many_upserts"]
    assert many["count"] == 20 and many["put_statuses"] == [201]
    assert many["reads"]["requests"] > 0 and many["reads"]["non_2xx"] == 0
    text = out.read_text()
    assert text.startswith(SPEED_PAGE.rstrip())
    assert "### Serving" in text and "| 1,000 |" in text
    assert "### Reads with a full live layer" in text and "| 1,000 | 20 |" in text


def test_profiles_keep_only_the_thread_that_serves(tmp_path: Path) -> None:
    """py-spy samples idle threads (tqdm's monitor, a finished warm-up) as busy: the
    shares of "Where the time goes" count the serving thread alone."""
    frames = [
        {"name": "handle", "file": "service/app.py"},
        {"name": "rank", "file": "recommender/ranking.py"},
        {"name": "wait", "file": "threading.py"},
    ]
    profiles = [
        {"name": 'Thread 1 "MainThread"', "samples": [[0, 1], [0, 1], [0], [0, 1]]},
        {"name": 'Thread 2 "tqdm_monitor"', "samples": [[2], [2], [2], [2]]},
    ]
    for profile in profiles:
        profile["weights"] = [1] * len(profile["samples"])
    path = tmp_path / "p.speedscope.json"
    path.write_text(json.dumps({"shared": {"frames": frames}, "profiles": profiles}))
    main = scale.serving_thread(path, tmp_path / "p.main-thread.speedscope.json")
    assert scale.project_shares(main)["rank"] == 0.75
    assert scale.project_shares(path)["rank"] == 0.375  # diluted by the idle thread


def test_sizes_of_one_run_are_not_said_to_come_from_several() -> None:
    def run(*starts: str) -> dict[str, object]:
        sizes = [
            {"label": label, "size": size, "started": f"2026-12-01T01:0{n}", "run": start}
            for n, (label, size, start) in enumerate(
                zip(("1k", "1m"), (1000, 10**6), starts, strict=True)
            )
        ]
        return {
            "started": "2026-12-01T01:00",
            "minutes": 60.0,
            "machine": {"cores": 2, "memory_gib": 23.4, "cpu": "AMD EPYC", "python": "3.11.7"},
            "command": "make bench-scale SIZES=1k,1m",
            "args": {"seconds": 15, "step_minutes": 20.0, "seed": 0},
            "sizes": sizes,
        }

    one = scale_report.render(run("2026-12-01T01:00", "2026-12-01T01:00"))
    assert "more than one run" not in one
    two = scale_report.render(run("2026-11-30T19:00", "2026-12-01T01:00"))
    assert "Measured in more than one run" in two and "2026-11-30 19:00 UTC" in two
