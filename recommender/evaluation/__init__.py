"""Ranking quality on information-retrieval benchmarks.

Three parts, usable on their own:

- **readers** for the usual benchmark layouts: TREC qrels, BEIR (``corpus.jsonl``,
  ``queries.jsonl``, qrels TSV) and the NFCorpus release (``DOC_ID<TAB>TEXT``);
- **metrics** computed as ``trec_eval`` computes them (graded, linear gains):
  nDCG@10, MAP@100, P@10, R@100 and MRR@10, plus catalogue coverage and
  intra-list diversity. On NFCorpus test runs they equal pytrec_eval's
  ``ndcg_cut_10``, ``map_cut_100``, ``P_10`` and ``recall_100`` to six decimals;
  MRR@10 is BEIR's (``trec_eval``'s ``recip_rank`` has no cut-off);
- a **runner** that indexes a benchmark corpus through the engine's own pipeline
  (:func:`~recommender.pipeline.build_index`, with its embedding cache), ranks
  the corpus for every query with :class:`~recommender.ranking.Ranker` under
  several named configurations, tunes one of them on a separate split, and
  reports every metric per configuration.

The benchmark data itself never ships with the project: every function takes paths.

Example::

    bench = load_benchmark(corpus, queries, qrels)
    report = evaluate(bench, ["lexical", "dense", "hybrid"], embedder, Settings())
    print(report.to_markdown())
"""

from __future__ import annotations

from .configs import (
    DEFAULT_CONFIGS,
    SETTING_OF,
    TUNED,
    TUNED_LEXICAL,
    RankingConfig,
    named_configs,
)
from .datasets import (
    TUNING_SPLITS,
    Benchmark,
    BenchQuery,
    Document,
    Format,
    Qrels,
    Run,
    TuningSet,
    dataset_name,
    detect_format,
    find_qrels,
    find_tuning_set,
    holdout,
    load_benchmark,
    read_beir_corpus,
    read_beir_qrels,
    read_beir_queries,
    read_nfcorpus_docs,
    read_qrels,
    read_queries,
    read_trec_qrels,
    read_tsv_queries,
    split_sibling,
)
from .metrics import (
    DEPTH,
    METRICS,
    average_precision_at,
    catalogue_coverage,
    intra_list_diversity,
    mean_metrics,
    ndcg_at,
    per_query_metrics,
    precision_at,
    ranking,
    recall_at,
    reciprocal_rank_at,
)
from .runner import (
    BenchmarkIndex,
    ConfigResult,
    EvaluationPlan,
    EvaluationReport,
    evaluate,
    plan_evaluation,
)
from .tuning import B_GRID, CANDIDATE_GRID, DENSE_WEIGHT_GRID, K1_GRID, TITLE_WEIGHT_GRID, tune

__all__ = [
    "B_GRID",
    "CANDIDATE_GRID",
    "DEFAULT_CONFIGS",
    "DENSE_WEIGHT_GRID",
    "DEPTH",
    "K1_GRID",
    "METRICS",
    "SETTING_OF",
    "TITLE_WEIGHT_GRID",
    "TUNED",
    "TUNED_LEXICAL",
    "TUNING_SPLITS",
    "BenchQuery",
    "Benchmark",
    "BenchmarkIndex",
    "ConfigResult",
    "Document",
    "EvaluationPlan",
    "EvaluationReport",
    "Format",
    "Qrels",
    "RankingConfig",
    "Run",
    "TuningSet",
    "average_precision_at",
    "catalogue_coverage",
    "dataset_name",
    "detect_format",
    "evaluate",
    "find_qrels",
    "find_tuning_set",
    "holdout",
    "intra_list_diversity",
    "load_benchmark",
    "mean_metrics",
    "named_configs",
    "ndcg_at",
    "per_query_metrics",
    "plan_evaluation",
    "precision_at",
    "ranking",
    "read_beir_corpus",
    "read_beir_qrels",
    "read_beir_queries",
    "read_nfcorpus_docs",
    "read_qrels",
    "read_queries",
    "read_trec_qrels",
    "read_tsv_queries",
    "recall_at",
    "reciprocal_rank_at",
    "split_sibling",
    "tune",
]
