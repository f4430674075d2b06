"""The ``recommender`` command: a thin layer that parses options, calls the
core library and prints. Core errors become one-line messages, never tracebacks.

Exit codes: 0 done; 1 failed (unknown article, unusable snapshot, model missing);
2 bad input (bad option, unreadable corpus source).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from .config import Settings
from .errors import InvalidArgument, InvalidCorpus, RecommenderError

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_SOURCE = "corpus"
EXIT_BAD_INPUT = 2


class BadInput(click.ClickException):
    """A core error caused by what the user gave us (exit code 2)."""

    exit_code = EXIT_BAD_INPUT


def _core_errors(func: F) -> F:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (InvalidCorpus, InvalidArgument) as exc:
            raise BadInput(str(exc)) from exc
        except RecommenderError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except InvalidArgument as exc:
        raise BadInput(str(exc)) from exc


index_dir_option = click.option(
    "--index-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Index directory. Default: $RECOMMENDER_INDEX_DIR, else var/index.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (to stderr).")
@click.version_option(package_name="recommender")
def main(verbose: bool) -> None:
    """Related articles and featured picks for a corpus of articles.

    Index a corpus once (`recommender index corpus/`), then ask for related
    articles (`recommender related ID`) or serve the HTTP API (`recommender serve`).
    Settings come from RECOMMENDER_* environment variables; see `recommender settings`.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # faiss announces which CPU build it loaded on every start: noise for users.
    logging.getLogger("faiss").setLevel(logging.WARNING)


@main.command()
@click.argument("sources", nargs=-1, type=click.Path(path_type=Path))
@index_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar while embedding. Default: only on a terminal.",
)
@click.pass_context
@_core_errors
def index(
    ctx: click.Context,
    sources: Sequence[Path],
    index_dir: Path | None,
    as_json: bool,
    progress: bool | None,
) -> None:
    """Index SOURCES and publish a new snapshot.

    A SOURCE is a directory of Markdown files with YAML front matter, a .jsonl
    file or a .csv file (default: corpus/). Articles already embedded with the
    same model are taken from the cache; an unchanged corpus publishes nothing.
    Invalid records are reported with file, line and field, and skipped.
    """
    from .embedding import SentenceTransformerEmbedder
    from .pipeline import build_index

    settings = _settings(index_dir=index_dir)
    embedder = SentenceTransformerEmbedder(settings.model, batch_size=settings.batch_size)
    report = build_index(
        list(sources) or [Path(DEFAULT_SOURCE)], settings, embedder, progress=progress
    )
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    for rejection in report.rejected:
        click.echo(f"rejected: {rejection}", err=True)
    state = f"published {report.version}" if report.published else "nothing changed"
    click.echo(
        f"indexed {report.indexed} articles ({report.added} added, {report.updated} updated, "
        f"{report.removed} removed, {report.unchanged} unchanged), embedded {report.embedded}, "
        f"rejected {len(report.rejected)}; {state} in {report.seconds:.1f}s"
    )


def _print_items(article_id: str, items: list[Any], as_json: bool) -> None:
    if as_json:
        payload = {"article_id": article_id, "items": [item.to_json() for item in items]}
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    if not items:
        click.echo("(no items)")
    for rank, item in enumerate(items, start=1):
        click.echo(f"{rank:>2}. {item.score:.3f}  {item.article.id}  {item.article.title}")


def _answer_command(kind: str) -> Callable[..., None]:
    @click.argument("article_id")
    @click.option("-k", "--k", type=click.IntRange(1, 50), default=None, help="How many items.")
    @index_dir_option
    @click.option("--json", "as_json", is_flag=True, help='Print {"article_id", "items"} JSON.')
    @click.pass_context
    @_core_errors
    def command(
        ctx: click.Context, article_id: str, k: int | None, index_dir: Path | None, as_json: bool
    ) -> None:
        from .engine import Engine

        engine = Engine(_settings(index_dir=index_dir))
        items = getattr(engine, kind)(article_id, k)
        _print_items(article_id, items, as_json)

    return command


main.command(
    "related",
    help="The articles most related to ARTICLE_ID (never itself, drafts or duplicates).",
)(_answer_command("related"))
main.command("featured", help="The featured articles most relevant to ARTICLE_ID.")(
    _answer_command("featured")
)


@main.command()
@click.option("--host", default=None, help="Bind address. Default: $RECOMMENDER_HOST, 127.0.0.1.")
@click.option("--port", type=int, default=None, help="Port. Default: $RECOMMENDER_PORT, 8000.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Gunicorn workers.")
@index_dir_option
@click.option("--debug", is_flag=True, help="Flask's development server (one process, reloader).")
@click.pass_context
@_core_errors
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    workers: int | None,
    index_dir: Path | None,
    debug: bool,
) -> None:
    """Serve the HTTP API (gunicorn; Flask's dev server with --debug)."""
    from service.server import run

    # A server should say what it serves even without --verbose.
    logging.getLogger("recommender").setLevel(logging.INFO)
    settings = _settings(host=host, port=port, workers=workers, index_dir=index_dir)
    run(settings, debug=debug)


@main.command()
@click.option("--corpus", type=click.Path(path_type=Path), required=True, help="Documents file.")
@click.option("--queries", type=click.Path(path_type=Path), required=True, help="Queries file.")
@click.option(
    "--qrels",
    type=click.Path(path_type=Path),
    required=True,
    help="Judgments file, or a directory holding <split>.* judgments.",
)
@click.option(
    "--config",
    "configs",
    multiple=True,
    help="Configuration to evaluate (repeatable): lexical, dense, hybrid, served, tuned, "
    "tuned-lexical. "
    "Default: lexical, dense, hybrid and tuned (when a split to tune on is found).",
)
@click.option("--split", default="test", show_default=True, help="The split evaluated.")
@click.option(
    "--tune-split",
    default=None,
    help="Split to tune on, found beside --qrels/--queries. Default: dev, else part of train.",
)
@click.option(
    "--holdout",
    type=click.FloatRange(0.01, 1.0),
    default=0.25,
    show_default=True,
    help="Share of train queries held out to tune on when there is no dev split.",
)
@click.option(
    "--format",
    "layout",
    type=click.Choice(["auto", "beir", "nfcorpus"]),
    default="auto",
    show_default=True,
    help="Corpus layout; auto: .jsonl(.gz) is BEIR, anything else NFCorpus.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Index and embedding cache. Default: var/bench/<dataset name>.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bars. Default: only on a terminal.",
)
@click.pass_context
@_core_errors
def evaluate(
    ctx: click.Context,
    corpus: Path,
    queries: Path,
    qrels: Path,
    configs: Sequence[str],
    split: str,
    tune_split: str | None,
    holdout: float,
    layout: str,
    cache_dir: Path | None,
    as_json: bool,
    progress: bool | None,
) -> None:
    """Measure ranking quality on a benchmark (nDCG@10, MAP@100, P@10, R@100, MRR@10).

    Indexes the benchmark corpus into a cache (a repeated run embeds nothing),
    ranks it for every judged query of --split under each configuration, and
    prints one markdown table row per configuration. `tuned` is tuned on the
    dev split (or a held-out part of train), never on the split evaluated.
    """
    from .embedding import SentenceTransformerEmbedder
    from .evaluation import (
        DEFAULT_CONFIGS,
        TUNED,
        TUNED_LEXICAL,
        Format,
        evaluate,
        find_qrels,
        find_tuning_set,
        load_benchmark,
    )

    settings = _settings()
    for path in (corpus, queries):
        if not path.is_file():
            raise InvalidCorpus(path, "no such file")
    qrels_file = find_qrels(qrels, split)
    benchmark = load_benchmark(
        corpus, queries, qrels_file, format=cast(Format, layout), split=split
    )
    names = list(dict.fromkeys(configs or DEFAULT_CONFIGS))
    tuning = None
    if TUNED in names or TUNED_LEXICAL in names:
        tuning = find_tuning_set(
            queries, qrels_file, split, tune_split=tune_split, holdout_fraction=holdout
        )
        if tuning is None and not configs:
            names = [n for n in names if n not in (TUNED, TUNED_LEXICAL)]
            click.echo("note: no dev or train split beside --qrels; 'tuned' left out", err=True)
        elif tuning is None:
            raise BadInput("config: 'tuned' needs a dev or train split beside --qrels")
    embedder = SentenceTransformerEmbedder(settings.model, batch_size=settings.batch_size)
    report = evaluate(
        benchmark,
        names,
        embedder,
        settings,
        cache_dir=cache_dir,
        tuning=tuning,
        progress=progress,
    )
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    click.echo(report.summary() + "\n")
    click.echo(report.to_markdown())


@main.command("settings")
def show_settings() -> None:
    """List every setting: environment variable, default and meaning."""
    for name, default, text in Settings.describe():
        click.echo(f"{name}  (default: {default})\n    {text}")


if __name__ == "__main__":  # pragma: no cover
    main()
