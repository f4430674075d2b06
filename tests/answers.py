"""Every answer of the ranking on the bundled corpus, so a change meant to keep them
(a restructure, a speed-up) can prove it changed none.

The bundled corpus is indexed with the fake embedder (no model runs). Each
:class:`Case` then asks, through the public :class:`~recommender.Engine` API only,
for the related and featured lists of the articles under one set of serving
settings, knobs and filters; the later cases
add editorial rules and live changes (pins, blocks, a global exclude, featured
overrides, a syndicated copy, a rewrite, scheduled articles, a delete). Each item
is recorded as one row of :data:`COLUMNS`: its ``to_json`` id, score and every
explanation field.

The query·article cosines are computed :func:`batch_free`: BLAS, which numpy uses
for them, may round the last bit of one row's product differently with the number
of rows multiplied at once, so two versions of the ranking that batch their
products differently would differ by that bit (and a rank can hang on it).

``tests/test_answers.py`` compares a sample (every :data:`SAMPLE`-th article per
case) with ``tests/fixtures/answers.json``, recorded from the code before the
stages of issue 11. The whole set can be compared with the answers of any commit,
whose ``recommender`` package is exported with ``git archive`` and asked the same
questions, by this module, in a subprocess::

    python -m tests.answers --against main      # every case and article, both versions
    python -m tests.answers --out tests/fixtures/answers.json            # record the sample
    python -m tests.answers --out tests/fixtures/answers.json --of main  # ... of a commit
    python -m tests.answers --against main --real-model   # with the real model's vectors

Record the fixture again only when answers are meant to change (a new tokeniser,
a fixed bug), and say so in the commit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

from recommender import Engine, Filters, RankingKnobs, Recommendation, Settings
from recommender.embedding import Embedder
from recommender.pipeline import build_index

from .fakes import FakeClock, FakeEmbedder

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 1, 1, tzinfo=UTC)
EDITOR = "answers"
SAMPLE = 12
"""The fixture holds every this many-th article of each case (a different one per case)."""
TOLERANCE = 1.5e-6
"""How far a recorded float may move: ``to_json`` rounds to 6 decimals, and another
machine's BLAS kernels may round a float32 product's last bit (the fake embedder's
norms, the duplicate test's cosines) the other way, which can tip that rounding by
one unit. On one machine the answers are identical to the last digit."""

COLUMNS = (
    "id",
    "score",
    "dense",
    "lexical",
    "fusion",
    "dense_rank",
    "lexical_rank",
    "dense_contribution",
    "lexical_contribution",
    "lexical_fields",
    "tag",
    "recency",
    "redundancy",
    "resemblance",
    "rule",
    "shared_terms",
)
"""One item of a list: ``to_json``'s id, score and explanation (``lexical_fields`` as
the list of its values, in field order)."""

Answers = dict[str, dict[str, dict[str, list[list[Any]]]]]
"""case name → query (an article id, or ``draft: <title>``) → ``related`` or
``featured`` → rows of :data:`COLUMNS`."""


@dataclass(frozen=True)
class Case:
    """One way of asking: serving settings, knobs and filters.

    Attributes:
        name: the key in the answers.
        settings: serving settings that differ from the defaults.
        knobs: ranking knobs that differ from the served ones (None: the served ones).
        filters: the caller's filters (None: none); ``since`` as ISO 8601 text.
        k: items per list.
        lists: ``both`` (``Engine.recommendations``: featured picks skip the related
            items) or ``apart`` (``Engine.related`` and ``Engine.featured``).
    """

    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    knobs: Mapping[str, Any] | None = None
    filters: Mapping[str, Any] | None = None
    k: int = 5
    lists: str = "both"


PLAIN_CASES = (
    Case("defaults"),
    Case("defaults, apart", lists="apart"),
    Case("rrf, presence", {"fusion": "rrf", "query_weights": "presence", "dense_weight": 0.6}),
    Case("minmax, bm25", {"fusion": "minmax", "query_weights": "bm25", "dense_weight": 0.3}),
    Case("weighted, bm25, few candidates", {"query_weights": "bm25", "candidates": 3}, k=8),
    Case(
        "boosts and diversity",
        knobs={"tag_boost": 0.3, "recency_half_life_days": 365.0, "mmr_lambda": 0.6},
    ),
    Case("floor and fallback", knobs={"min_score": 0.45}, k=6),
    Case(
        "shared tag, age window, floor",
        knobs={"require_shared_tag": True, "max_age_days": 400.0, "min_score": 0.3},
    ),
    Case("floor, no fallback", knobs={"min_score": 0.4, "fallback": False}),
    Case(
        "rrf with boosts and fallback",
        {"fusion": "rrf", "rrf_k": 10},
        knobs={"tag_boost": 0.5, "max_age_days": 700.0, "min_score": 0.9, "mmr_lambda": 0.8},
    ),
    Case(
        "filters",
        filters={
            "tags": ("spasticity", "walking", "aphasia", "fatigue"),
            "since": "2024-01-01T00:00:00+00:00",
            "min_score": 0.2,
        },
    ),
    Case("strict duplicates", {"duplicate_threshold": 0.6, "duplicate_jaccard": 0.1}),
)

COPIED = "constraint-induced-therapy-weaker-arm"
"""The article that a live upsert copies under another id (``partner-copy``)."""

EDITED_CASES = (
    Case("edited"),
    Case("edited, apart", lists="apart"),
    Case(
        "edited, minmax with knobs",
        {"fusion": "minmax", "query_weights": "presence"},
        knobs={"tag_boost": 0.2, "mmr_lambda": 0.7, "min_score": 0.5},
    ),
    # Without the article it copies, the syndicated copy is shown in its place.
    Case("edited, filters", filters={"exclude": ("fatigue-after-stroke", COPIED)}),
)

DRAFTS = (
    ("Botox and rehab", "Botulinum toxin injections relax stiff calf muscles after stroke."),
    ("Speaking again", "Aphasia therapy: naming practice, conversation groups and apps."),
    ("Garden notes", "Tomatoes, compost and watering in a dry summer."),
)


def _filters(case: Case) -> Filters | None:
    if case.filters is None:
        return None
    given = dict(case.filters)
    if "since" in given:
        given["since"] = datetime.fromisoformat(given["since"])
    return Filters(**given)


def _knobs(engine: Engine, case: Case) -> RankingKnobs | None:
    if case.knobs is None:
        return None
    served = RankingKnobs.from_settings(engine.settings)
    return replace(served, **case.knobs)


def _row(item: Recommendation) -> list[Any]:
    """An item as one row of :data:`COLUMNS`."""
    data = item.to_json()
    explanation = dict(data["explanation"])
    explanation["lexical_fields"] = list(explanation["lexical_fields"].values())
    return [data["id"], data["score"], *(explanation[name] for name in COLUMNS[2:])]


def _ask(
    engine: Engine, case: Case, queries: Sequence[str], drafts: Sequence[tuple[str, str]]
) -> dict[str, dict[str, list[list[Any]]]]:
    filters, knobs = _filters(case), _knobs(engine, case)
    out: dict[str, dict[str, list[list[Any]]]] = {}
    for article_id in queries:
        if case.lists == "both":
            both = engine.recommendations(article_id, case.k, filters, knobs, explain=True)
            related, featured = both.related, both.featured
        else:
            related = engine.related(article_id, case.k, filters, knobs, explain=True)
            featured = engine.featured(article_id, case.k, filters, knobs, explain=True)
        out[article_id] = {
            "related": [_row(r) for r in related],
            "featured": [_row(r) for r in featured],
        }
    for title, body in drafts:
        both = engine.recommend_text(
            title, body, case.k, filters=filters, knobs=knobs, explain=True
        )
        out[f"draft: {title}"] = {
            "related": [_row(r) for r in both.related],
            "featured": [_row(r) for r in both.featured],
        }
    return out


def _edit(engine: Engine, ids: Sequence[str]) -> str:
    """Editorial rules and live changes that touch many lists; returns the deleted id."""
    rules = engine.rules
    rules.add_pin(ids[0], ids[2], 1, EDITOR)
    rules.add_pin(ids[0], ids[1], 9, EDITOR)  # beyond k: not shown
    rules.add_pin(ids[1], ids[0], 3, EDITOR)
    rules.add_pin(ids[40], ids[41], 2, EDITOR)
    rules.add_pin(ids[40], ids[45], 4, EDITOR)
    rules.add_block(ids[2], ids[0], EDITOR)
    rules.add_block(ids[3], ids[4], EDITOR)
    rules.add_exclude(ids[1], EDITOR)
    rules.set_featured(ids[5], True, EDITOR)
    rules.set_featured(ids[7], False, EDITOR)
    # A syndicated copy (the same story under another id), a rewrite, a scheduled
    # article still waiting and one gone live, and a deletion.
    engine.upsert(engine.article(COPIED).model_copy(update={"id": "partner-copy"}))
    rewritten = engine.article(ids[12])
    engine.upsert(
        rewritten.model_copy(
            update={
                "title": f"Rewritten: {rewritten.title}",
                "tags": ("rewrite",),
                "featured": True,
            }
        )
    )
    for i, moment in ((20, "2026-06-01"), (21, "2025-12-31")):
        engine.upsert(
            engine.article(ids[i]).model_copy(
                update={
                    "id": f"scheduled-{i}",
                    "status": "scheduled",
                    "published": datetime.fromisoformat(moment).replace(tzinfo=UTC),
                }
            )
        )
    engine.delete(ids[30])
    return ids[30]


@contextmanager
def batch_free() -> Iterator[None]:
    """Within this block, each query·article cosine is the same whatever else is scored
    with it.

    numpy hands a float32 matrix-vector product to BLAS, whose kernels sum the rows
    of a batch in blocks: the last bit of a row's product can depend on how many
    rows are multiplied with it. Answers then depend on which articles a ranking
    happens to score together. Here every query vector is a view with a negative
    stride, which numpy never hands to BLAS: its own loop sums each row alone. Only
    the query side of the products changes; everything else is the code under test.
    """
    from recommender.ranking import Ranker

    originals = {name: getattr(Ranker, name) for name in ("query_for_article", "query_for_text")}

    def flipped(original: Callable[..., Any]) -> Callable[..., Any]:
        def query(self: Ranker, *args: Any, **kwargs: Any) -> Any:
            made = original(self, *args, **kwargs)
            return replace(made, vector=np.ascontiguousarray(made.vector[::-1])[::-1])

        return query

    for name, original in originals.items():
        setattr(Ranker, name, flipped(original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(Ranker, name, original)


def record(
    index_dir: Path, sample: int = 1, exact_products: bool = True, real_model: bool = False
) -> Answers:
    """Index the bundled corpus into ``index_dir`` and ask every case.

    Args:
        index_dir: an empty directory for the index.
        sample: ask every this many-th article per case (starting at a different
            one in each case, so the cases together cover them all) and one draft;
            1 asks every article and every draft.
        exact_products: rank :func:`batch_free`, so the answers do not depend on how
            a version of the ranking batches its products.
        real_model: embed with the real default model instead of the fake one.
    """
    if exact_products:
        with batch_free():
            return record(index_dir, sample, False, real_model)
    clock = FakeClock(NOW)
    embedder: Embedder = FakeEmbedder()
    if real_model:
        from recommender.embedding import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder()
    build_index([ROOT / "corpus"], Settings(index_dir=index_dir), embedder, progress=False)

    def engine(case: Case | None = None) -> Engine:
        given = {} if case is None else dict(case.settings)
        settings = Settings(index_dir=index_dir, reload_interval=0.0, **given)
        return Engine(settings, embedder=embedder, now=clock)

    def ask(number: int, case: Case, ids: Sequence[str], always: Sequence[str] = ()) -> None:
        drafts = DRAFTS if sample == 1 else DRAFTS[number % len(DRAFTS) :][:1]
        sampled = set(ids[number % sample :: sample]) | set(always)
        queries = [i for i in ids if i in sampled]
        answers[case.name] = _ask(engine(case), case, queries, drafts)

    answers: Answers = {}
    ids = sorted(engine().snapshot.positions)
    for number, case in enumerate(PLAIN_CASES):
        ask(number, case, ids)
    deleted = _edit(engine(), ids)
    always = [ids[0], ids[1], ids[40], "partner-copy"]  # pins under them; the copy
    ids = [i for i in ids if i != deleted] + ["partner-copy", "scheduled-21"]
    for number, case in enumerate(EDITED_CASES, start=len(PLAIN_CASES)):
        ask(number, case, ids, always)
    return answers


def differences(expected: Answers, actual: Answers, tolerance: float = TOLERANCE) -> Iterator[str]:
    """Where ``actual`` departs from ``expected``: a float by more than ``tolerance``,
    anything else at all (an id, a rank, a rule, a shared term, a list's length)."""

    def walk(path: str, a: Any, b: Any) -> Iterator[str]:
        if isinstance(a, float) and isinstance(b, float):
            if abs(a - b) > tolerance:
                yield f"{path}: {a!r} != {b!r}"
        elif isinstance(a, dict) and isinstance(b, dict):
            if list(a) != list(b):
                yield f"{path}: keys {list(a)} != {list(b)}"
                return
            for key in a:
                yield from walk(f"{path}/{key}", a[key], b[key])
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                yield f"{path}: {len(a)} items != {len(b)}: {a!r} != {b!r}"
                return
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                column = COLUMNS[i] if len(a) == len(COLUMNS) and path.count("/") == 4 else i
                yield from walk(f"{path}/{column}", x, y)
        elif a != b or type(a) is not type(b):
            yield f"{path}: {a!r} != {b!r}"

    yield from walk("", expected, actual)


def exact(expected: Answers, actual: Answers) -> tuple[int, int]:
    """How many floats of ``expected`` ``actual`` matches to the last digit, of how many."""
    same = total = 0

    def walk(a: Any, b: Any) -> None:
        nonlocal same, total
        if isinstance(a, float):
            total += 1
            same += a == b
        elif isinstance(a, dict):
            for key in a:
                walk(a[key], b[key])
        elif isinstance(a, list):
            for x, y in zip(a, b, strict=False):
                walk(x, y)

    walk(expected, actual)
    return same, total


def dump(answers: Answers, path: Path) -> None:
    """Write answers as JSON, one list per line (small diffs when they change)."""
    lines = ["{"]
    for c, (case, queries) in enumerate(answers.items()):
        lines.append(f"{json.dumps(case)}: {{")
        for q, (query, lists) in enumerate(queries.items()):
            lines.append(f"{json.dumps(query, ensure_ascii=False)}: {{")
            for n, (name, rows) in enumerate(lists.items()):
                items = ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows)
                comma = "," if n < len(lists) - 1 else ""
                lines.append(f'"{name}": [\n{items}\n]{comma}' if rows else f'"{name}": []{comma}')
            lines.append("}," if q < len(queries) - 1 else "}")
        lines.append("}," if c < len(answers) - 1 else "}")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _answers_of(ref: str, sample: int, exact_products: bool, real_model: bool) -> Answers:
    """The answers of commit ``ref``'s ``recommender`` package, asked by this module."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", ref, "recommender", "corpus"],
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(work, filter="data")
        (work / "tests").mkdir()
        for name in ("__init__.py", "answers.py", "fakes.py"):
            shutil.copy(ROOT / "tests" / name, work / "tests" / name)
        out = work / "answers.json"
        env = {**os.environ, "PYTHONPATH": str(work)}
        command = [sys.executable, "-m", "tests.answers", "--sample", str(sample)]
        command += [] if exact_products else ["--blas"]
        command += ["--real-model"] if real_model else []
        subprocess.run([*command, "--out", str(out)], check=True, cwd=work, env=env)
        answers: Answers = json.loads(out.read_text("utf-8"))
        return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="record the answers into this JSON file")
    parser.add_argument("--of", metavar="REF", help="with --out: record commit REF's answers")
    parser.add_argument("--against", metavar="REF", help="compare with commit REF's answers")
    parser.add_argument("--sample", type=int, default=None, help=f"(default: {SAMPLE} with --out)")
    parser.add_argument(
        "--blas", action="store_true", help="score with BLAS products, as served (see batch_free)"
    )
    parser.add_argument("--real-model", action="store_true", help="embed with the real model")
    args = parser.parse_args()
    exact_products, real = not args.blas, args.real_model
    import recommender

    print(f"recommender from {Path(recommender.__file__).parent}", file=sys.stderr)
    if args.out and args.of:
        dump(_answers_of(args.of, args.sample or SAMPLE, exact_products, real), args.out)
    elif args.out:
        with tempfile.TemporaryDirectory() as tmp:
            answers = record(Path(tmp) / "index", args.sample or SAMPLE, exact_products, real)
        dump(answers, args.out)
    if args.against:
        sample = args.sample or 1
        expected = _answers_of(args.against, sample, exact_products, real)
        with tempfile.TemporaryDirectory() as tmp:
            actual = record(Path(tmp) / "index", sample, exact_products, real)
        found = list(differences(expected, actual))
        same, total = exact(expected, actual)
        lists = sum(len(lists) for queries in expected.values() for lists in queries.values())
        rows = sum(
            len(rows)
            for queries in expected.values()
            for lists in queries.values()
            for rows in lists.values()
        )
        print(
            f"{len(expected)} cases, {lists} lists, {rows} items: {len(found)} differences "
            f"beyond {TOLERANCE:g}; {same} of {total} floats identical to the last digit"
        )
        for line in found[:50]:
            print(line)
        sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
