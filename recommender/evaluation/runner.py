"""The runner: index a benchmark corpus through the engine's own pipeline
(:func:`~recommender.pipeline.build_index`, with its embedding cache), rank the
corpus for every query under each configuration with
:class:`~recommender.ranking.Ranker`, tune one on a separate split, and report
every metric per configuration.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Settings
from ..embedding import Embedder, EmbedStats, embed_texts
from ..errors import InvalidArgument, InvalidCorpus
from ..fields import lexical_fields
from ..pipeline import build_index, lexical_model
from ..ranking import Query, Ranker, RankingKnobs
from ..snapshot import Snapshot
from ..state import open_state
from .configs import DEFAULT_CONFIGS, TUNED, TUNED_LEXICAL, RankingConfig, named_configs
from .datasets import (
    Benchmark,
    BenchQuery,
    Document,
    Format,
    Qrels,
    Run,
    TuningSet,
    find_qrels,
    find_tuning_set,
    load_benchmark,
)
from .metrics import DEPTH, METRICS, catalogue_coverage, intra_list_diversity, mean_metrics
from .tuning import tune

_FALLBACK_TITLE_WORDS = 12


@dataclass
class ConfigResult:
    """The scores of one configuration on one split."""

    config: RankingConfig
    metrics: dict[str, float]
    coverage: float
    diversity: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        knobs = asdict(self.config)
        return {
            "config": knobs.pop("name"),
            **knobs,
            **{name: round(value, 4) for name, value in self.metrics.items()},
            "coverage@10": round(self.coverage, 4),
            "diversity@10": round(self.diversity, 4),
        }


@dataclass
class EvaluationReport:
    """Everything one evaluation run measured."""

    dataset: str
    split: str
    documents: int
    queries: int
    unjudged: int
    missing_text: int
    results: list[ConfigResult]
    tuning: str = ""
    embedded: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def result(self, name: str) -> ConfigResult:
        """The result of the configuration called ``name``.

        Raises:
            KeyError: no such configuration was evaluated.
        """
        for item in self.results:
            if item.config.name == name:
                return item
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "dataset": self.dataset,
            "split": self.split,
            "documents": self.documents,
            "queries": self.queries,
            "unjudged_queries": self.unjudged,
            "judged_queries_without_text": self.missing_text,
            "tuning": self.tuning,
            "embedded": self.embedded,
            "seconds": round(self.seconds, 1),
            "notes": self.notes,
            "results": [r.to_json() for r in self.results],
        }

    def to_markdown(self) -> str:
        """One table row per configuration, the metrics as columns."""
        header = ["config", *METRICS, "coverage@10", "diversity@10", "settings"]
        lines = [
            "| " + " | ".join(header) + " |",
            "|---|" + "---:|" * (len(header) - 2) + "---|",
        ]
        for item in self.results:
            values = [f"{item.metrics[m]:.4f}" for m in METRICS]
            values += [f"{item.coverage:.4f}", f"{item.diversity:.4f}"]
            lines.append(
                f"| {item.config.name} | " + " | ".join(values) + f" | {item.config.describe()} |"
            )
        return "\n".join(lines)

    def summary(self) -> str:
        """What was evaluated on how many queries, and what was skipped and why."""
        text = (
            f"{self.dataset} {self.split}: {self.documents} documents, {self.queries} queries "
            f"evaluated; {self.unjudged} queries of the queries file skipped (no relevant "
            "judgment in this split, as trec_eval and BEIR skip them)"
        )
        if self.missing_text:
            text += f"; {self.missing_text} judged queries skipped (not in the queries file)"
        return text + (f"; tuned on {self.tuning}" if self.tuning else "")


def _document_record(doc: Document) -> dict[str, str]:
    title, body = doc.title.strip(), doc.text.strip()
    if not title:
        # Articles need a title; a benchmark document without one lends its first words,
        # which are then not repeated in the body.
        words = body.split()
        cut = min(_FALLBACK_TITLE_WORDS, max(1, len(words) // 2))
        title, body = " ".join(words[:cut]), " ".join(words[cut:]) or " ".join(words)
    return {"id": doc.id, "title": title, "body": body or title}


class BenchmarkIndex:
    """A benchmark corpus indexed by the engine's pipeline, with cached query vectors.

    The corpus is written as JSONL into ``cache_dir`` and indexed with
    :func:`~recommender.pipeline.build_index` into ``cache_dir/index``, whose
    embedding cache also holds the query vectors: a repeated run embeds nothing.

    Args:
        documents: the corpus.
        embedder: the embedding model.
        settings: chunking and batch settings (``index_dir`` and ``database_url`` are
            ignored: the index and its stores are SQLite files in ``cache_dir``, see
            ``state``).
        cache_dir: where the index and the embedding cache live.
        progress: show progress bars; default: only when stderr is a terminal.
    """

    def __init__(
        self,
        documents: Sequence[Document],
        embedder: Embedder,
        settings: Settings,
        cache_dir: Path,
        *,
        progress: bool | None = None,
    ) -> None:
        self.embedder = embedder
        # A private index: its stores are SQLite files in it even when the settings
        # name a shared database (whose published version a benchmark must not replace).
        self.settings = settings.replace(index_dir=Path(cache_dir) / "index", database_url="")
        self.state = open_state(self.settings)
        self.progress = progress
        cache_dir = Path(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
        source = cache_dir / "corpus.jsonl"
        payload = "".join(
            json.dumps(_document_record(d), ensure_ascii=False) + "\n" for d in documents
        )
        # Rewritten only when the corpus changed, so the file's age says when it last did.
        if not source.exists() or _digest(source.read_bytes()) != _digest(payload.encode()):
            source.write_text(payload, encoding="utf-8")
        report = build_index([source], self.settings, embedder, progress=progress, state=self.state)
        if report.rejected:
            raise InvalidCorpus(source, f"{len(report.rejected)} rejected: {report.rejected[0]}")
        self.embedded = report.embedded
        self._queries: dict[tuple[str, str, str], Query] = {}
        self.snapshot = Snapshot.load(self.state.snapshots, expect_model=embedder.model_id)
        self._variants: dict[str, Snapshot] = {}

    def variant(self, config: RankingConfig) -> Snapshot:
        """The snapshot with its lexical model refitted with ``config``'s stemming,
        title weight and BM25 parameters (in memory: the vectors are shared, nothing
        is embedded or written)."""
        model = lexical_model(
            self.settings.replace(
                stemming=config.stemming,
                title_weight=config.title_weight,
                bm25_k1=config.k1,
                bm25_b=config.b,
            )
        )
        key = model.describe()
        if key not in self._variants:
            if self.snapshot.lexical.describe() == key:
                self._variants[key] = self.snapshot
            else:
                model.fit([lexical_fields(a) for a in self.snapshot.articles])
                self._variants[key] = replace(self.snapshot, lexical=model)
        return self._variants[key]

    def embed_queries(self, queries: Sequence[BenchQuery]) -> np.ndarray:
        """Query vectors, one row per query, through the same cache as the corpus."""
        cache = self.state.embedding_cache()
        stats = EmbedStats()
        try:
            vectors = embed_texts(
                self.embedder,
                [(q.title, q.text) for q in queries],
                cache=cache,
                chunk_tokens=self.settings.chunk_tokens,
                chunk_overlap=self.settings.chunk_overlap,
                progress=self.progress,
                stats=stats,
            )
        finally:
            cache.close()
        self.embedded += stats.embedded
        return vectors

    def ranker(self, config: RankingConfig) -> Ranker:
        """A ranker over the benchmark snapshot with ``config``'s knobs."""
        return Ranker(
            self.variant(config),
            dense_weight=config.dense_weight,
            candidates=config.candidates,
            duplicate_threshold=self.settings.duplicate_threshold,
            duplicate_jaccard=self.settings.duplicate_jaccard,
            suppress_duplicates=config.suppress_duplicates,
            query_weights=config.query_weights,
            fusion=config.fusion,
            rrf_k=self.settings.rrf_k,
            knobs=RankingKnobs(mmr_lambda=config.mmr_lambda),
            explain=False,  # shared terms are for people; metrics never read them
        )

    def run(
        self,
        config: RankingConfig,
        queries: Sequence[BenchQuery],
        vectors: np.ndarray,
        depth: int = DEPTH,
        progress: bool | None = None,
    ) -> Run:
        """Rank the corpus for every query; the top ``depth`` documents with their scores."""
        from tqdm import tqdm

        ranker = self.ranker(config)
        show = (sys.stderr.isatty() if self.progress is None else self.progress) and (
            progress is not False
        )
        run: Run = {}
        for query, vector in tqdm(
            list(zip(queries, vectors, strict=True)),
            desc=config.name,
            unit="query",
            disable=not show,
            leave=False,
        ):
            # A query's terms depend on the lexical model only: build them once per model.
            key = (query.id, query.text, ranker.snapshot.lexical.describe())
            if key not in self._queries:
                self._queries[key] = ranker.query_for_text(
                    vector, query.text, query.title or query.text
                )
            items = ranker.related(self._queries[key], depth)
            run[query.id] = {item.article.id: item.score for item in items}
        return run

    def score(self, config: RankingConfig, run: Run, qrels: Qrels) -> ConfigResult:
        """Every metric of one configuration's run."""
        return ConfigResult(
            config=config,
            metrics=mean_metrics(run, qrels),
            coverage=catalogue_coverage(run, len(self.snapshot.articles)),
            diversity=intra_list_diversity(run, self.snapshot.vectors, self.snapshot.positions),
        )


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_DERIVED = (TUNED, TUNED_LEXICAL)


def _check_names(config_names: Sequence[str], fixed: Mapping[str, RankingConfig]) -> None:
    for name in config_names:
        if name not in _DERIVED and name not in fixed:
            known = ", ".join([*fixed, *_DERIVED])
            raise InvalidArgument("config", f"unknown configuration {name!r} (known: {known})")


@dataclass
class EvaluationPlan:
    """What one evaluation run will do: the output of :func:`plan_evaluation`, the
    input of :func:`evaluate`.

    Attributes:
        benchmark: corpus, queries and the evaluated split's judgments.
        configs: the configuration names to run, in report order, each once.
        tuning: the split ``tuned`` is tuned on (None when no configuration needs one).
        notes: what was decided for the caller, one line each (a default left out).
    """

    benchmark: Benchmark
    configs: list[str]
    tuning: TuningSet | None = None
    notes: list[str] = field(default_factory=list)


def plan_evaluation(
    corpus: Path,
    queries: Path,
    qrels: Path,
    settings: Settings,
    configs: Sequence[str] = (),
    *,
    split: str = "test",
    tune_split: str | None = None,
    holdout: float = 0.25,
    format: Format = "auto",
) -> EvaluationPlan:
    """Read a benchmark and decide which configurations run, and what ``tuned`` tunes on.

    With no ``configs``, the defaults (:data:`DEFAULT_CONFIGS`) run, and ``tuned``
    is left out (with a note) when no split to tune on sits beside ``qrels``; named
    explicitly, it is required.

    Args:
        corpus: the benchmark corpus file.
        queries: the queries file.
        qrels: the judgments file, or a directory holding ``<split>.*``.
        settings: engine settings; their ranking knobs make the ``hybrid`` row.
        configs: names from :func:`named_configs`, ``tuned`` or ``tuned-lexical``;
            empty for the defaults. Repeats are dropped.
        split: the split evaluated.
        tune_split: the split to tune on; default: dev, else part of train.
        holdout: share of train queries held out to tune on when there is no dev split.
        format: the corpus layout (see :func:`load_benchmark`).

    Raises:
        InvalidCorpus: a missing or unreadable file.
        InvalidArgument: an unknown configuration name, or ``tuned`` asked for with
            no split to tune on.
    """
    for path in (corpus, queries):
        if not path.is_file():
            raise InvalidCorpus(path, "no such file")
    qrels_file = find_qrels(qrels, split)
    benchmark = load_benchmark(corpus, queries, qrels_file, format=format, split=split)
    names = list(dict.fromkeys(configs or DEFAULT_CONFIGS))
    _check_names(names, named_configs(settings))
    plan = EvaluationPlan(benchmark, names)
    if any(name in _DERIVED for name in names):
        plan.tuning = find_tuning_set(
            queries, qrels_file, split, tune_split=tune_split, holdout_fraction=holdout
        )
        if plan.tuning is None and not configs:
            plan.configs = [name for name in names if name not in _DERIVED]
            plan.notes.append("no dev or train split beside --qrels; 'tuned' left out")
        elif plan.tuning is None:
            raise InvalidArgument("config", "'tuned' needs a dev or train split beside --qrels")
    return plan


def evaluate(
    benchmark: Benchmark,
    config_names: Sequence[str],
    embedder: Embedder,
    settings: Settings,
    *,
    cache_dir: Path | None = None,
    tuning: TuningSet | None = None,
    extra_configs: Sequence[RankingConfig] = (),
    progress: bool | None = None,
    tuning_log: Callable[[str], None] | None = None,
) -> EvaluationReport:
    """Index the benchmark corpus, rank it for every judged query under each
    configuration, and score every run.

    Args:
        benchmark: corpus, queries and the evaluated split's judgments.
        config_names: names from :func:`named_configs`, ``tuned``, or ``tuned-lexical``
            (the tuned configuration with the dense signal off: the fair single-signal
            baseline for it).
        embedder: the embedding model.
        settings: engine settings; their ranking knobs make the ``hybrid`` row.
        cache_dir: index and embedding cache; default ``var/bench/<dataset name>``.
        tuning: the split ``tuned`` is tuned on (required for ``tuned``).
        extra_configs: further configurations, evaluated after the named ones.
        progress: progress bars; default: only when stderr is a terminal.
        tuning_log: receives one line per configuration tried while tuning.

    Raises:
        InvalidArgument: an unknown configuration name, or ``tuned`` without a tuning set.
    """
    started = time.perf_counter()
    fixed = named_configs(settings)
    _check_names(config_names, fixed)
    wants_tuning = any(name in _DERIVED for name in config_names)
    if wants_tuning and tuning is None:
        raise InvalidArgument("config", "'tuned' needs a dev or train split to tune on")
    cache_dir = cache_dir or Path("var/bench") / benchmark.name
    index = BenchmarkIndex(benchmark.documents, embedder, settings, cache_dir, progress=progress)
    judged = benchmark.judged_queries()
    queries = [benchmark.queries[qid] for qid in judged]
    vectors = index.embed_queries(queries)
    tuned: RankingConfig | None = None
    tuning_label = ""
    if wants_tuning and tuning is not None:
        tune_ids = [
            qid
            for qid in sorted(tuning.qrels)
            if qid in tuning.queries and any(g > 0 for g in tuning.qrels[qid].values())
        ]
        overlap = set(tune_ids) & set(judged)
        if overlap:
            raise InvalidArgument(
                "tuning", f"{len(overlap)} tuning queries are also evaluated queries"
            )
        tuned = tune(
            index,
            [tuning.queries[q] for q in tune_ids],
            {q: tuning.qrels[q] for q in tune_ids},
            settings,
            label=tuning.label,
            log=tuning_log,
        )
        tuning_label = f"{tuning.label}: {len(tune_ids)} queries"
    configs: list[RankingConfig] = []
    for name in config_names:
        if name == TUNED and tuned is not None:
            configs.append(tuned)
        elif name == TUNED_LEXICAL and tuned is not None:
            configs.append(
                replace(
                    tuned,
                    name=TUNED_LEXICAL,
                    dense_weight=0.0,
                    note="BM25 only, with the tuned query weighting",
                )
            )
        else:
            configs.append(fixed[name])
    configs.extend(extra_configs)
    qrels = {qid: benchmark.qrels[qid] for qid in judged}
    results = [index.score(c, index.run(c, queries, vectors), qrels) for c in configs]
    return EvaluationReport(
        dataset=benchmark.name,
        split=benchmark.split,
        documents=len(benchmark.documents),
        queries=len(judged),
        unjudged=len(set(benchmark.queries) - set(judged)),
        missing_text=sum(1 for qid in benchmark.qrels if qid not in benchmark.queries),
        results=results,
        tuning=tuning_label,
        embedded=index.embedded,
        seconds=time.perf_counter() - started,
    )
