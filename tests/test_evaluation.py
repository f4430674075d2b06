"""The evaluation harness: metrics against hand-computed values, readers on tiny
files written here, the CLI on a synthetic benchmark, and one run on a slice of
the real NFCorpus (skipped when the benchmark data is not beside the repository).

The benchmark data is never copied into the repository: every file these tests
read is either written by the test or found under RECOMMENDER_BENCH_DATA.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from recommender import Settings, cli
from recommender.errors import InvalidArgument, InvalidCorpus
from recommender.evaluation import (
    METRICS,
    Benchmark,
    BenchmarkIndex,
    BenchQuery,
    Document,
    TuningSet,
    average_precision_at,
    catalogue_coverage,
    evaluate,
    find_qrels,
    find_tuning_set,
    holdout,
    intra_list_diversity,
    load_benchmark,
    mean_metrics,
    named_configs,
    ndcg_at,
    plan_evaluation,
    precision_at,
    ranking,
    read_beir_corpus,
    read_beir_qrels,
    read_beir_queries,
    read_nfcorpus_docs,
    read_qrels,
    read_trec_qrels,
    read_tsv_queries,
    recall_at,
    reciprocal_rank_at,
    split_sibling,
)

from .conftest import ROOT, TOPICS, topic_records
from .fakes import FakeEmbedder

# ------------------------------------------------------------------------ metrics

# One query: five documents retrieved, three relevant judged (d1 at 2, d3 and d6 at 1),
# d9 judged not relevant. d6 is never retrieved.
RANKED = ["d1", "d2", "d3", "d4", "d5"]
JUDGED = {"d1": 2, "d3": 1, "d6": 1, "d9": 0}


def test_ndcg_linear_gains() -> None:
    # DCG@10 = 2/log2(2) + 0/log2(3) + 1/log2(4) = 2 + 0 + 0.5 = 2.5
    # ideal gains 2, 1, 1: IDCG = 2/log2(2) + 1/log2(3) + 1/log2(4) = 2 + 0.630930 + 0.5
    # = 3.130930; nDCG@10 = 2.5 / 3.130930 = 0.798485
    assert ndcg_at(RANKED, JUDGED, 10) == pytest.approx(2.5 / (2.5 + 1 / math.log2(3)))
    assert ndcg_at(RANKED, JUDGED, 10) == pytest.approx(0.798485, abs=1e-6)
    # @1: DCG = 2, IDCG = 2 (the ideal list is cut at 1 too)
    assert ndcg_at(RANKED, JUDGED, 1) == 1.0
    # @2: DCG = 2, IDCG = 2 + 1/log2(3) = 2.630930 → 0.760182
    assert ndcg_at(RANKED, JUDGED, 2) == pytest.approx(2 / (2 + 1 / math.log2(3)))
    assert ndcg_at(RANKED, {"d9": 0}, 10) == 0.0


def test_average_precision_divides_by_all_relevant() -> None:
    # hits at rank 1 (precision 1/1) and rank 3 (precision 2/3); 3 relevant judged:
    # (1 + 2/3) / 3 = 0.555556
    assert average_precision_at(RANKED, JUDGED, 100) == pytest.approx((1 + 2 / 3) / 3)
    # cut at 2: only the hit at rank 1 counts: 1 / 3
    assert average_precision_at(RANKED, JUDGED, 2) == pytest.approx(1 / 3)


def test_precision_always_over_k() -> None:
    # 2 relevant among the top 10, though only 5 were retrieved: 2 / 10 (as trec_eval's P_10)
    assert precision_at(RANKED, JUDGED, 10) == pytest.approx(0.2)
    # top 3 hold d1 and d3: 2 / 3
    assert precision_at(RANKED, JUDGED, 3) == pytest.approx(2 / 3)


def test_recall() -> None:
    # 2 of the 3 relevant documents retrieved (d6 never is)
    assert recall_at(RANKED, JUDGED, 100) == pytest.approx(2 / 3)
    # top 2 hold only d1: 1 / 3
    assert recall_at(RANKED, JUDGED, 2) == pytest.approx(1 / 3)


def test_reciprocal_rank_cut() -> None:
    assert reciprocal_rank_at(RANKED, JUDGED, 10) == 1.0
    # first relevant document at rank 3: 1/3
    assert reciprocal_rank_at(["d2", "d4", "d3"], JUDGED, 10) == pytest.approx(1 / 3)
    # first relevant document at rank 11: outside the cut, 0
    assert reciprocal_rank_at([f"x{i}" for i in range(10)] + ["d1"], JUDGED, 10) == 0.0


def test_ranking_breaks_ties_as_trec_eval() -> None:
    # score descending, then document id descending
    assert ranking({"a": 1.0, "b": 1.0, "c": 2.0, "d": 0.5}) == ["c", "b", "a", "d"]


def test_mean_skips_queries_without_relevant_judgment() -> None:
    run = {"q1": {"d1": 3.0, "d2": 2.0}, "q2": {"d1": 1.0}}
    # q2 has judgments, none relevant: skipped. q3 is judged but unanswered: scores 0.
    qrels = {"q1": {"d2": 1}, "q2": {"d1": 0}, "q3": {"d5": 1}}
    means = mean_metrics(run, qrels)
    assert set(means) == set(METRICS)
    # q1: relevant d2 at rank 2 → MRR 1/2; q3 → 0; mean over the 2 queries = 0.25
    assert means["MRR@10"] == pytest.approx(0.25)
    # q1: P@10 = 1/10, q3: 0 → 0.05
    assert means["P@10"] == pytest.approx(0.05)


def test_catalogue_coverage() -> None:
    run = {"q1": {"a": 2.0, "b": 1.0}, "q2": {"b": 2.0, "c": 1.0}}
    # a, b, c appear in some top-10 list: 3 of 10 documents
    assert catalogue_coverage(run, 10) == pytest.approx(0.3)
    # top 1 only: a (q1) and b (q2): 2 of 10
    assert catalogue_coverage(run, 10, k=1) == pytest.approx(0.2)


def test_intra_list_diversity() -> None:
    s = 1 / math.sqrt(2)
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [s, s]], dtype=np.float32)
    positions = {"a": 0, "b": 1, "c": 2}
    # q1 lists a, b, c: cosines a·b = 0, a·c = b·c = 0.7071; mean 0.4714 → 1 − 0.4714 = 0.5286.
    # q2 lists one document: no pair, left out of the mean.
    run = {"q1": {"a": 3.0, "b": 2.0, "c": 1.0}, "q2": {"a": 1.0}}
    assert intra_list_diversity(run, vectors, positions) == pytest.approx(1 - 2 * s / 3, abs=1e-6)
    assert intra_list_diversity({"q": {"a": 1.0}}, vectors, positions) == 0.0


# ------------------------------------------------------------------------ readers


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_trec_qrels(tmp_path: Path) -> None:
    path = write(tmp_path / "test.qrel", "Q1 0 D1 2\nQ1\t0\tD2\t1\n\nQ2 0 D1 0\n")
    assert read_trec_qrels(path) == {"Q1": {"D1": 2, "D2": 1}, "Q2": {"D1": 0}}
    assert read_qrels(path) == read_trec_qrels(path)


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("Q1 0 D1 2\nQ1 0 D2\n", 2, "expected 4 fields"),
        ("Q1 0 D1 high\n", 1, "is not a number"),
        ("Q1 0 D1 1.5\n", 1, "not a whole number"),
    ],
)
def test_trec_qrels_bad_line(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = write(tmp_path / "bad.qrel", text)
    with pytest.raises(InvalidCorpus, match=reason) as caught:
        read_trec_qrels(path)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_beir_qrels(tmp_path: Path) -> None:
    path = write(tmp_path / "test.tsv", "query-id\tcorpus-id\tscore\nq1\t7\t1\nq2\t8\t2\n")
    assert read_beir_qrels(path) == {"q1": {"7": 1}, "q2": {"8": 2}}
    assert read_qrels(path) == read_beir_qrels(path)
    with pytest.raises(InvalidCorpus, match="header"):
        read_beir_qrels(write(tmp_path / "nohead.tsv", "q1\t7\t1\n"))
    with pytest.raises(InvalidCorpus, match=r":3: expected 3 tab-separated"):
        read_beir_qrels(
            write(tmp_path / "short.tsv", "query-id\tcorpus-id\tscore\nq\t1\t1\nq\t2\n")
        )


def test_beir_corpus_and_queries(tmp_path: Path) -> None:
    corpus = write(
        tmp_path / "corpus.jsonl.gz",
        '{"_id": "1", "title": "Salt", "text": "Salt raises blood pressure."}\n'
        '{"_id": 2, "title": "", "text": "No title here."}\n',
    )
    assert read_beir_corpus(corpus) == [
        Document("1", "Salt", "Salt raises blood pressure."),
        Document("2", "", "No title here."),
    ]
    queries = write(tmp_path / "queries.jsonl", '{"_id": "q1", "text": "salt"}\n')
    assert read_beir_queries(queries) == {"q1": BenchQuery("q1", "salt")}
    bad = write(tmp_path / "bad.jsonl", '{"_id": "1", "text": "ok"}\n{"_id": "2"}\n[1]\n')
    with pytest.raises(InvalidCorpus, match=r"bad.jsonl:2: text: required"):
        read_beir_corpus(bad)
    with pytest.raises(InvalidCorpus, match=r":1: invalid JSON"):
        read_beir_queries(write(tmp_path / "q.jsonl", "{nope\n"))


def test_nfcorpus_docs_split_title_at_marker(tmp_path: Path) -> None:
    path = write(
        tmp_path / "corpus.docs.gz",
        "D-1\tgreen tea heart pubmed ncbi abstract background tea drinkers num\n"
        "D-2\tno marker in this text at all\n",
    )
    assert read_nfcorpus_docs(path) == [
        Document("D-1", "green tea heart", "background tea drinkers num"),
        Document("D-2", "", "no marker in this text at all"),
    ]
    with pytest.raises(InvalidCorpus, match=r"bad.docs:2: expected 'DOC_ID<TAB>TEXT'"):
        read_nfcorpus_docs(write(tmp_path / "bad.docs", "D-1\tok\nD-2 no tab\n"))


def test_tsv_queries_plain_and_gzip(tmp_path: Path) -> None:
    text = "Q-1\tgreen tea\nQ-2\tsalt - - and more\n"
    for name in ("q.queries", "q.queries.gz"):
        assert read_tsv_queries(write(tmp_path / name, text)) == {
            "Q-1": BenchQuery("Q-1", "green tea"),
            "Q-2": BenchQuery("Q-2", "salt - - and more"),
        }
    with pytest.raises(InvalidCorpus, match=r":1: expected 'QID<TAB>TEXT'"):
        read_tsv_queries(write(tmp_path / "bad.queries", "Q-1\t\n"))


def test_missing_file_is_invalid_corpus(tmp_path: Path) -> None:
    with pytest.raises(InvalidCorpus, match="no such file"):
        read_trec_qrels(tmp_path / "nope.qrel")


def test_duplicate_document_ids(tmp_path: Path) -> None:
    corpus = write(tmp_path / "c.docs", "D\tone abstract a\nD\ttwo abstract b\n")
    queries = write(tmp_path / "q.queries", "Q\tone\n")
    qrels = write(tmp_path / "r.qrel", "Q 0 D 1\n")
    with pytest.raises(InvalidCorpus, match="duplicate document id 'D'"):
        load_benchmark(corpus, queries, qrels)


def test_split_files_are_found(tmp_path: Path) -> None:
    test_q = write(tmp_path / "queries" / "test.titles.queries", "Q\tx\n")
    dev_q = write(tmp_path / "queries" / "dev.titles.queries.gz", "R\ty\n")
    test_r = write(tmp_path / "qrels" / "test.2-1-0.qrel", "Q 0 D 1\n")
    write(tmp_path / "qrels" / "dev.2-1-0.qrel", "R 0 D 2\n")
    assert find_qrels(tmp_path / "qrels", "test") == test_r
    assert split_sibling(test_q, "test", "dev") == dev_q
    assert split_sibling(test_q, "test", "train") is None
    tuning = find_tuning_set(test_q, test_r, "test")
    assert tuning is not None
    assert tuning.qrels == {"R": {"D": 2}} and set(tuning.queries) == {"R"}
    assert tuning.label == "dev.2-1-0.qrel"
    with pytest.raises(InvalidCorpus, match=r"expected one judgments file named train\.\*"):
        find_qrels(tmp_path / "qrels", "train")


def test_train_is_held_out_when_there_is_no_dev(tmp_path: Path) -> None:
    queries = write(
        tmp_path / "queries.jsonl", "".join(f'{{"_id": "q{i}", "text": "t"}}\n' for i in range(20))
    )
    rows = "".join(f"q{i}\t{i}\t1\n" for i in range(20))
    write(tmp_path / "qrels" / "train.tsv", "query-id\tcorpus-id\tscore\n" + rows)
    test_r = write(tmp_path / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\nq0\t0\t1\n")
    tuning = find_tuning_set(queries, test_r, "test", holdout_fraction=0.25)
    assert tuning is not None and len(tuning.qrels) == 5 and "train" in tuning.label
    # Reproducible: the same seed holds out the same queries.
    assert holdout(read_qrels(tmp_path / "qrels" / "train.tsv"), 0.25) == tuning.qrels


# -------------------------------------------------------------------- the runner


def synthetic_benchmark(split: str = "test") -> Benchmark:
    """The four-topic corpus of the other tests; a query per topic and article number.

    Every article of a topic is relevant to its topic's queries (the one named in
    the query at 2, the others at 1); the right answers are known by construction.
    """
    records = topic_records()
    documents = [Document(r["id"], r["title"], r["body"]) for r in records]
    queries, qrels = {}, {}
    offset = 0 if split == "test" else 3
    for topic, vocabulary in TOPICS.items():
        words = vocabulary.split()
        for i in (0 + offset, 1 + offset):
            qid = f"{split}-{topic}-{i}"
            picked = (words[(i + j) % len(words)] for j in (0, 1, 4))
            queries[qid] = BenchQuery(qid, " ".join(picked))
            qrels[qid] = {f"{topic}-{n}": 2 if n == i else 1 for n in range(5)}
    queries["unjudged"] = BenchQuery("unjudged", "nothing")
    return Benchmark("synthetic", documents, queries, qrels, split)


def test_evaluate_ranks_known_neighbours_first(tmp_path: Path) -> None:
    bench = synthetic_benchmark()
    dev = synthetic_benchmark("dev")
    report = evaluate(
        bench,
        ["lexical", "dense", "hybrid", "rrf", "unstemmed", "tuned", "served", "tuned-lexical"],
        FakeEmbedder(),
        Settings(),
        cache_dir=tmp_path / "cache",
        tuning=TuningSet(dev.queries, dev.qrels, "dev"),
        progress=False,
    )
    assert [r.config.name for r in report.results] == [
        "lexical",
        "dense",
        "hybrid",
        "rrf",
        "unstemmed",
        "tuned",
        "served",
        "tuned-lexical",
    ]
    assert report.queries == 8 and report.unjudged == 1
    for result in report.results:
        # Topics share no word: each query's five relevant articles come first, in an
        # order that may differ from the graded one.
        assert result.metrics["P@10"] == pytest.approx(0.5)
        assert result.metrics["MRR@10"] == 1.0 and result.metrics["R@100"] == 1.0
        assert result.metrics["nDCG@10"] > 0.9 and result.metrics["MAP@100"] > 0.9
        assert 0 < result.coverage <= 1 and 0 < result.diversity < 1
    tuned = report.result("tuned").config
    assert tuned.note.startswith("best nDCG@10 on dev")
    assert report.result("tuned-lexical").config.dense_weight == 0.0
    assert report.result("tuned-lexical").config.query_weights == tuned.query_weights
    assert "| hybrid |" in report.to_markdown()

    assert report.result("rrf").config.fusion == "rrf"
    assert report.result("unstemmed").config.stemming == "none"

    # The diverse row ranks with MMR on (what it changes is tested in test_ranking_features).
    index = BenchmarkIndex(bench.documents, FakeEmbedder(), Settings(), tmp_path / "cache")
    diverse = named_configs(Settings())["diverse"]
    assert index.ranker(diverse).knobs.mmr_lambda == 0.7
    assert diverse.describe().endswith("mmr_lambda 0.7, duplicates suppressed")

    again = evaluate(bench, ["hybrid"], FakeEmbedder(), Settings(), cache_dir=tmp_path / "cache")
    assert again.embedded == 0  # the corpus and the queries came from the cache


def test_a_benchmark_index_keeps_its_state_in_its_own_directory(tmp_path: Path) -> None:
    """Settings naming a shared database (read from the environment by the CLI) do not
    send the benchmark's snapshot, pointer or cache there: nothing connects to it."""
    shared = Settings(database_url="postgresql://nobody@nowhere.invalid/shared")
    bench = synthetic_benchmark()
    index = BenchmarkIndex(bench.documents, FakeEmbedder(), shared, tmp_path / "cache")
    assert (index.state.backend, index.settings.database_url) == ("sqlite", "")
    assert (tmp_path / "cache" / "index" / "CURRENT").is_file()
    assert (tmp_path / "cache" / "index" / "embeddings.sqlite").is_file()
    queries = list(bench.queries.values())
    assert index.embed_queries(queries).shape == (len(queries), FakeEmbedder().dim)
    embedded = index.embedded
    index.embed_queries(queries)
    assert index.embedded == embedded  # the second time, every query is in the cache


def plural_benchmark(split: str) -> Benchmark:
    """The synthetic benchmark with every query word in the plural: only a stemmed
    lexical model (the fake embedder knows exact words only) can match them."""
    bench = synthetic_benchmark(split)
    queries = {
        qid: BenchQuery(qid, " ".join(word + "s" for word in q.text.split()))
        for qid, q in bench.queries.items()
    }
    return replace(bench, queries=queries)


def test_tuning_searches_every_stage_and_picks_stemming_when_it_helps(tmp_path: Path) -> None:
    test, dev = plural_benchmark("test"), plural_benchmark("dev")
    tried: list[str] = []
    report = evaluate(
        test,
        ["lexical", "tuned"],
        FakeEmbedder(),
        Settings(stemming="none"),  # the untuned rows do not stem
        cache_dir=tmp_path / "cache",
        tuning=TuningSet(dev.queries, dev.qrels, "dev"),
        progress=False,
        tuning_log=tried.append,
    )
    # 2 stemmings × 3 title weights × 3 query weightings, then 4 k1 × 4 b, then
    # 3 fusions × 3 query weightings × 11 dense weights, then 6 candidate counts.
    assert len(tried) == 18 + 16 + 99 + 6
    assert any("k1 2, b 0.4" in line for line in tried)
    assert all(line.startswith("dev: nDCG@10 ") for line in tried)
    assert any("rrf fusion" in line for line in tried)
    assert any("minmax fusion" in line for line in tried)
    tuned = report.result("tuned")
    assert tuned.config.stemming == "english"
    assert tuned.metrics["nDCG@10"] > report.result("lexical").metrics["nDCG@10"] + 0.2
    # Lexical variants are refitted in memory: one snapshot was ever published.
    assert len(list((tmp_path / "cache" / "index").glob("v*"))) == 1


def test_evaluate_rejects_unknown_config_and_untunable(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="unknown configuration 'best'"):
        evaluate(synthetic_benchmark(), ["best"], FakeEmbedder(), Settings(), cache_dir=tmp_path)
    with pytest.raises(InvalidArgument, match="needs a dev or train split"):
        evaluate(synthetic_benchmark(), ["tuned"], FakeEmbedder(), Settings(), cache_dir=tmp_path)


# -------------------------------------------------------------------------- CLI


def write_beir(root: Path) -> tuple[Path, Path, Path]:
    """The synthetic benchmark as BEIR files: corpus, queries (every split), qrels dir."""
    test, dev = synthetic_benchmark("test"), synthetic_benchmark("dev")
    corpus = write(
        root / "corpus.jsonl",
        "".join(
            json.dumps({"_id": d.id, "title": d.title, "text": d.text}) + "\n"
            for d in test.documents
        ),
    )
    queries = {**test.queries, **dev.queries}
    write(
        root / "queries.jsonl",
        "".join(json.dumps({"_id": q.id, "text": q.text}) + "\n" for q in queries.values()),
    )
    for bench in (test, dev):
        rows = "".join(
            f"{qid}\t{doc}\t{rel}\n"
            for qid, judged in bench.qrels.items()
            for doc, rel in judged.items()
        )
        write(root / "qrels" / f"{bench.split}.tsv", "query-id\tcorpus-id\tscore\n" + rows)
    return corpus, root / "queries.jsonl", root / "qrels"


def test_plan_runs_the_defaults_with_tuning_on_dev(tmp_path: Path) -> None:
    corpus, queries, qrels = write_beir(tmp_path / "synthetic")
    plan = plan_evaluation(corpus, queries, qrels, Settings())
    assert plan.configs == ["lexical", "dense", "hybrid", "tuned"]
    assert plan.tuning is not None and plan.tuning.label == "dev.tsv"
    assert plan.tuning.qrels == synthetic_benchmark("dev").qrels
    assert plan.notes == []
    assert (plan.benchmark.name, plan.benchmark.split) == ("synthetic", "test")
    assert plan.benchmark.qrels == synthetic_benchmark("test").qrels


def test_plan_keeps_named_configs_once_in_order_and_tunes_only_when_asked(
    tmp_path: Path,
) -> None:
    corpus, queries, qrels = write_beir(tmp_path / "synthetic")
    plan = plan_evaluation(corpus, queries, qrels, Settings(), ["dense", "rrf", "dense"])
    assert (plan.configs, plan.tuning, plan.notes) == (["dense", "rrf"], None, [])


def test_plan_without_a_split_to_tune_on(tmp_path: Path) -> None:
    corpus, queries, qrels = write_beir(tmp_path / "synthetic")
    (qrels / "dev.tsv").unlink()
    plan = plan_evaluation(corpus, queries, qrels, Settings())
    # The defaults drop `tuned` and say so ...
    assert (plan.configs, plan.tuning) == (["lexical", "dense", "hybrid"], None)
    assert plan.notes == ["no dev or train split beside --qrels; 'tuned' left out"]
    # ... asked for by name, it is an error.
    with pytest.raises(InvalidArgument) as caught:
        plan_evaluation(corpus, queries, qrels, Settings(), ["hybrid", "tuned-lexical"])
    assert caught.value.parameter == "config"
    assert caught.value.reason == "'tuned' needs a dev or train split beside --qrels"


def test_plan_refuses_unknown_configs_and_missing_files(tmp_path: Path) -> None:
    corpus, queries, qrels = write_beir(tmp_path / "synthetic")
    with pytest.raises(InvalidArgument, match="unknown configuration 'best'") as unknown:
        plan_evaluation(corpus, queries, qrels, Settings(), ["dense", "best"])
    assert unknown.value.parameter == "config"
    missing = tmp_path / "missing.jsonl"
    with pytest.raises(InvalidCorpus) as no_corpus:
        plan_evaluation(missing, queries, qrels, Settings())
    assert (no_corpus.value.path, no_corpus.value.reason) == (str(missing), "no such file")
    with pytest.raises(InvalidCorpus) as no_queries:
        plan_evaluation(corpus, missing, qrels, Settings())
    assert no_queries.value.path == str(missing)


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI builds its own embedder: hand it the fake one.
    monkeypatch.setattr(
        "recommender.embedding.SentenceTransformerEmbedder", lambda *a, **k: FakeEmbedder()
    )


def test_cli_evaluate_prints_a_table(tmp_path: Path, fake_model: None) -> None:
    corpus, queries, qrels = write_beir(tmp_path / "synthetic")
    args = ["evaluate", "--corpus", str(corpus), "--queries", str(queries), "--qrels", str(qrels)]
    args += ["--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("synthetic test: 20 documents, 8 queries evaluated")
    assert "tuned on dev.tsv: 8 queries" in lines[0]
    table = [line for line in lines if line.startswith("|")]
    assert table[0].startswith("| config | nDCG@10 | MAP@100 | P@10 | R@100 | MRR@10 |")
    assert [row.split("|")[1].strip() for row in table[2:]] == [
        "lexical",
        "dense",
        "hybrid",
        "tuned",
    ]

    result = CliRunner().invoke(cli.main, [*args, "--config", "dense", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["embedded"] == 0 and [r["config"] for r in payload["results"]] == ["dense"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--corpus": "missing.jsonl"}, "missing.jsonl: no such file"),
        ({"--qrels": "nowhere"}, "nowhere: no such file or directory"),
        ({"--config": "best"}, "unknown configuration 'best'"),
    ],
)
def test_cli_evaluate_bad_input_exit_2(
    tmp_path: Path, fake_model: None, change: dict[str, str], message: str
) -> None:
    corpus, queries, qrels = write_beir(tmp_path / "synthetic")
    options = {"--corpus": str(corpus), "--queries": str(queries), "--qrels": str(qrels)}
    options.update({k: str(tmp_path / v) if k != "--config" else v for k, v in change.items()})
    args = ["evaluate", "--cache-dir", str(tmp_path / "cache")]
    for key, value in options.items():
        args += [key, value]
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert message in result.output


# ------------------------------------------------------------ real data, real model


def bench_data() -> Path:
    """Where the benchmark data lives: $RECOMMENDER_BENCH_DATA, else ../shared/data."""
    return Path(os.environ.get("RECOMMENDER_BENCH_DATA") or ROOT.parent / "shared" / "data")


@pytest.mark.real_model
def test_real_nfcorpus_dev_slice(tmp_path: Path, real_embedder: object) -> None:
    data = bench_data() / "nfcorpus"
    if not (data / "corpus.docs.gz").is_file():
        pytest.skip(f"NFCorpus not found at {data} (set RECOMMENDER_BENCH_DATA)")
    full = load_benchmark(
        data / "corpus.docs.gz",
        data / "queries" / "dev.titles.queries",
        data / "qrels" / "dev.2-1-0.qrel",
        split="dev",
    )
    # 15 judged queries; their relevant documents plus others, 200 documents in all
    # (about 10 s of embedding on two cores).
    chosen = full.judged_queries()[:15]
    keep = {doc for qid in chosen for doc, rel in full.qrels[qid].items() if rel > 0}
    by_id = {d.id: d for d in full.documents}
    ids = sorted(keep & set(by_id))[:100]
    ids += [d.id for d in full.documents if d.id not in set(ids)][: 200 - len(ids)]
    sliced = Benchmark(
        "nfcorpus-slice",
        [by_id[i] for i in ids],
        {q: full.queries[q] for q in chosen},
        {q: full.qrels[q] for q in chosen},
        "dev",
    )
    report = evaluate(
        sliced,
        ["lexical", "dense", "hybrid"],
        real_embedder,  # type: ignore[arg-type]
        Settings(),
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    assert report.documents == 200 and report.queries == 15
    # A random order of the same documents, for a floor every signal must clear.
    rng = np.random.default_rng(0)
    shuffled = {
        q: {d: float(s) for d, s in zip(ids, rng.permutation(len(ids)), strict=True)}
        for q in chosen
    }
    chance = mean_metrics(shuffled, sliced.qrels)["nDCG@10"]
    ndcg = {r.config.name: r.metrics["nDCG@10"] for r in report.results}
    for result in report.results:
        assert all(0.0 <= value <= 1.0 for value in result.metrics.values())
        assert result.metrics["nDCG@10"] > chance + 0.05, (ndcg, chance)
