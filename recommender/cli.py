"""The ``recommender`` command: a thin layer that parses options, calls the
core library and prints. Core errors become one-line messages, never tracebacks.

Exit codes: 0 done; 1 failed (unknown article, unusable snapshot, model missing);
2 bad input (bad option, unreadable corpus source); 3 another reindex holds the lock.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from .config import Settings, parse_csv_delimiter
from .errors import IndexLocked, InvalidArgument, InvalidCorpus, RecommenderError

if TYPE_CHECKING:
    from .editing import RuleEditor
    from .pipeline import Progress
    from .state import State
    from .stores import EditorialRuleStore

F = TypeVar("F", bound=Callable[..., Any])

EXIT_BAD_INPUT = 2
EXIT_LOCKED = 3


class BadInput(click.ClickException):
    """A core error caused by what the user gave us (exit code 2)."""

    exit_code = EXIT_BAD_INPUT


class Locked(click.ClickException):
    """Another reindex holds the lock (exit code 3)."""

    exit_code = EXIT_LOCKED


def _core_errors(func: F) -> F:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (InvalidCorpus, InvalidArgument) as exc:
            raise BadInput(str(exc)) from exc
        except IndexLocked as exc:
            raise Locked(str(exc)) from exc
        except RecommenderError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except InvalidArgument as exc:
        raise BadInput(str(exc)) from exc


def _state(index_dir: Path | None) -> State:
    """The stores the settings name (SQLite files in the index directory, or PostgreSQL)."""
    from .state import open_state

    return open_state(_settings(index_dir=index_dir))


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


@main.command("reindex")
@click.argument("sources", nargs=-1, type=click.Path(path_type=Path))
@index_dir_option
@click.option("--full", is_flag=True, help="Re-embed everything and publish even if unchanged.")
@click.option(
    "--strict", is_flag=True, help="Fail (exit 2) on any rejected record; publish nothing."
)
@click.option("--wait", is_flag=True, help="Wait for a running reindex instead of exiting 3.")
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the summary as JSON to this file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bars. Default: on a terminal; plain log lines otherwise (cron).",
)
@click.option(
    "--csv-delimiter",
    callback=lambda _ctx, _param, value: _check_csv_delimiter(value),
    default=None,
    metavar="CHAR",
    help="Character between the cells of CSV sources: auto, one character, or tab, comma, "
    "semicolon, pipe. Default: $RECOMMENDER_CSV_DELIMITER, else auto (sniffed).",
)
@click.option(
    "--id-namespace",
    "id_namespaces",
    multiple=True,
    metavar="FILE=NAME",
    help="Name the posts of the WordPress export FILE NAME:<post id> (repeatable); "
    "see RECOMMENDER_WXR_ID_NAMESPACE.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Where the build runs: this process, or a Ray cluster (pip install "
    "'recommender[ray]'; see docs/operations.md).",
)
@click.option(
    "--ray-address",
    default=None,
    metavar="ADDRESS",
    help="With --engine ray: the cluster to join (HOST:6379 or auto from a node of it, "
    "ray://HOST:10001 through Ray Client). Default: $RAY_ADDRESS (set inside `ray job "
    "submit`), else Ray started on this machine.",
)
@_core_errors
def reindex(
    sources: Sequence[Path],
    index_dir: Path | None,
    full: bool,
    strict: bool,
    wait: bool,
    report_file: Path | None,
    as_json: bool,
    progress: bool | None,
    csv_delimiter: str | None,
    id_namespaces: Sequence[str],
    engine: str,
    ray_address: str | None,
) -> None:
    """Index SOURCES and publish a new snapshot (`index` is the same command).

    \b
    A SOURCE is a directory of Markdown files with YAML front matter, a .jsonl
    file, a .csv file, a WordPress export (.xml) or an RSS/Atom feed file
    (.rss, .atom, .xml). Default: $RECOMMENDER_SOURCES, else corpus/.

    Incremental: only new or changed articles are embedded (by content hash and
    model); removed ones are dropped; an unchanged corpus publishes nothing.
    Invalid records are reported with file, line and field, and skipped.
    --report FILE is written on failure too, with the error and the rejections.

    --engine ray reads, embeds and computes candidate sets on a Ray cluster; this
    process still holds the lock, keeps the embedding cache and publishes the
    same snapshot a local build would.

    \b
    Exit codes: 0 done; 1 failed (nothing was published); 2 bad input (an
    unreadable source, or rejected records with --strict); 3 another reindex
    holds the lock (use --wait to wait for it).
    """
    from .embedding import SentenceTransformerEmbedder
    from .pipeline import IndexReport, build_index

    report = IndexReport()
    runner = None
    try:
        if ray_address is not None and engine != "ray":
            raise BadInput("--ray-address: only with --engine ray")
        settings = _settings(index_dir=index_dir, csv_delimiter=csv_delimiter)
        chosen = _parse_id_namespaces(id_namespaces)
        stop = _stop_at(os.environ.get(STOP_AT_VARIABLE, ""))
        if engine == "ray":
            # Imported here: `make run`, the server and local builds never import Ray.
            from .raybuild import RayOptions, RayRunner, import_ray

            import_ray()  # a missing extra is said before anything else happens
            runner = RayRunner(RayOptions(address=ray_address))
        embedder = SentenceTransformerEmbedder(
            settings.model, batch_size=settings.batch_size, threads=settings.encode_threads or None
        )
        show_bars = sys.stderr.isatty() if progress is None else progress
        build_index(
            list(sources) or settings.source_list,
            settings,
            embedder,
            progress=show_bars,
            full=full,
            wait=wait,
            strict=strict,
            on_progress=_chain(None if show_bars else _log_progress(), stop),
            report=report,
            id_namespaces=chosen,
            on_wait=_say_waiting,
            runner=runner,
        )
    except (RecommenderError, click.ClickException) as exc:
        # Cron reads the report file: it must say why a run failed, and which
        # records were rejected before it did.
        report.error = exc.message
        if report_file is not None:
            _write_report(report_file, report.to_json())
        raise
    finally:
        if runner is not None:
            runner.close()
    if report_file is not None:
        _write_report(report_file, report.to_json())
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    for rejection in report.rejected:
        click.echo(f"rejected: {rejection}", err=True)
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    state = f"published {report.version}" if report.published else "nothing changed"
    click.echo(
        f"indexed {report.indexed} articles ({report.added} added, {report.updated} updated, "
        f"{report.removed} removed, {report.unchanged} unchanged), embedded {report.embedded}, "
        f"rejected {len(report.rejected)}; {state} in {report.seconds:.1f}s"
    )


main.add_command(reindex, "index")


def _check_csv_delimiter(value: str | None) -> str | None:
    if value is not None:
        try:
            parse_csv_delimiter(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def _write_report(path: Path, payload: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot write the report to {path}: {exc.strerror or exc}") from None


def _parse_id_namespaces(values: Sequence[str]) -> dict[Path, str]:
    """``FILE=NAME`` options → {file: name}; the name must be a short, plain word."""
    from .namespaces import NAME_PATTERN

    chosen: dict[Path, str] = {}
    for value in values:
        file, sep, name = value.rpartition("=")
        if not sep or not file or not NAME_PATTERN.fullmatch(name):
            raise BadInput(
                f"--id-namespace: {value!r} is not FILE=NAME, with NAME made of letters, "
                "digits, '.', '_' or '-' (at most 64, starting with a letter or digit)"
            )
        chosen[Path(file)] = name
    return chosen


def _say_waiting(holder: str) -> None:
    click.echo(f"waiting for the lock: {holder}", err=True)


# The crash-test seam (docs/operations.md, "Crashes and damaged snapshots").
STOP_AT_VARIABLE = "RECOMMENDER_TEST_STOP_AT"


def _stop_at(spec: str) -> Progress | None:
    """With ``PHASE:DONE`` (e.g. ``write:2``), a reindex stops itself right after
    reporting that step, so a test can ``kill -9`` it at exactly that point. With
    ``PHASE:DONE+`` it stops at the first step of PHASE with at least DONE done
    (a cluster's embedding batches arrive in sizes and orders no test can name).

    The process announces the stop on stderr, then sends itself SIGSTOP: it stays
    frozen, holding the lock, until SIGKILL (a crash there) or SIGCONT (carry on).
    Not a setting: only crash tests and crash rehearsals set it.

    Raises:
        BadInput: ``spec`` names no phase of a build, or DONE is not a count.
    """
    from .pipeline import PHASES

    if not spec:
        return None
    phase, _, count = spec.partition(":")
    at_least = count.endswith("+")
    count = count.removesuffix("+")
    if phase not in PHASES or not count.isdigit():
        raise BadInput(
            f"{STOP_AT_VARIABLE}={spec!r}: expected PHASE:DONE or PHASE:DONE+ with PHASE "
            f"one of {', '.join(PHASES)} (e.g. write:2)"
        )
    stopped = False

    def stop(reported: str, done: int, total: int) -> None:
        nonlocal stopped
        reached = done >= int(count) if at_least else done == int(count)
        if reported == phase and reached and not stopped:
            stopped = True
            click.echo(f"stopping at {reported}: {done}/{total} ({STOP_AT_VARIABLE})", err=True)
            os.kill(os.getpid(), signal.SIGSTOP)

    return stop


def _chain(*callbacks: Progress | None) -> Progress | None:
    """One progress callback calling each given one in turn (None if none is given)."""
    present = [callback for callback in callbacks if callback is not None]
    if not present:
        return None

    def call_all(phase: str, done: int, total: int) -> None:
        for callback in present:
            callback(phase, done, total)

    return call_all


def _log_progress() -> Progress:
    """Plain progress lines for logs: each phase start and end, and every tenth of embedding."""
    last: dict[str, int] = {}

    def report(phase: str, done: int, total: int) -> None:
        tenth = (10 * done) // total if total else 10
        if last.get(phase) == tenth:
            return
        last[phase] = tenth
        if phase == "embed" or done in (0, total):
            click.echo(f"{phase}: {done}/{total}", err=True)

    return report


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
        # People read this: each item says which words it shares, and where.
        items = getattr(engine, kind)(article_id, k, explain=True)
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
    settings = _settings(host=host, port=port, workers=workers, index_dir=index_dir)
    if settings.database_url:
        from .postgres import checked

        # Once here, before any worker starts: a schema that is behind is one
        # clear line (run `recommender db upgrade`), not a worker failing to boot.
        checked(settings.database_url)
    if not debug:
        # gunicorn workers add their metrics up through files; prometheus_client reads
        # this variable when it is first imported, so set it before the service loads.
        os.environ.setdefault(
            "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="recommender-metrics-")
        )
    from service.server import run

    # A server should say what it serves even without --verbose.
    for name in ("recommender", "service"):
        logging.getLogger(name).setLevel(logging.INFO)
    run(settings, debug=debug)


@main.command()
@index_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@_core_errors
def snapshots(index_dir: Path | None, as_json: bool) -> None:
    """List the snapshot versions on disk, oldest first; * marks the published one."""

    store = _state(index_dir).snapshots
    current = store.current_version()
    rows = [store.read_manifest(version) for version in store.versions()]
    if as_json:
        payload = [
            {
                "version": m.version,
                "created": m.created,
                "articles": m.article_count,
                "model": m.model_id,
                "published": m.version == current,
            }
            for m in rows
        ]
        click.echo(json.dumps(payload, indent=2))
        return
    if not rows:
        click.echo("no snapshots yet: run `recommender reindex`")
    for m in rows:
        mark = "*" if m.version == current else " "
        click.echo(f"{mark} {m.version}  {m.created}  {m.article_count:>6} articles  {m.model_id}")


@main.command()
@click.argument("version", required=False)
@index_dir_option
@_core_errors
def verify(version: str | None, index_dir: Path | None) -> None:
    """Check every file of VERSION (default: the published one) against its checksum.

    Servers check only file sizes when they load a version; this reads every byte.
    Exits 1 with the damaged file's name if one differs.
    """
    from .errors import NoSnapshot

    store = _state(index_dir).snapshots
    version = version or store.current_version()
    if version is None:
        raise NoSnapshot(store.root, "no snapshot published yet: run `recommender index`")
    manifest = store.verify(version)
    click.echo(f"{manifest.version}: {len(manifest.files)} files match their checksums")


@main.command()
@click.argument("version")
@index_dir_option
@click.option("--wait", is_flag=True, help="Wait for a running reindex instead of exiting 3.")
@_core_errors
def rollback(version: str, index_dir: Path | None, wait: bool) -> None:
    """Publish VERSION again (see `recommender snapshots`); servers switch within seconds."""
    manifest = _state(index_dir).rollback(version, wait=wait, on_wait=_say_waiting)
    click.echo(f"published {manifest.version} ({manifest.article_count} articles)")


@main.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-k", "--k", type=click.IntRange(1, 50), default=None, help="Items per list.")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@index_dir_option
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a TTY).")
@_core_errors
def export(
    out: Path, k: int | None, fmt: str, index_dir: Path | None, progress: bool | None
) -> None:
    """Write every published article's related and featured lists to OUT.

    \b
    jsonl: one {"article_id", "related": [items], "featured": [items]} per line.
    csv:   article_id,block,rank,item_id,score,title,url
    For static-site builds and for debugging the ranking.
    """
    from tqdm import tqdm

    from .engine import Engine
    from .exporting import exported_articles, write_export

    engine = Engine(_settings(index_dir=index_dir))
    show = sys.stderr.isatty() if progress is None else progress
    articles = exported_articles(engine)
    with tqdm(total=len(articles), desc="exporting", unit="article", disable=not show) as bar:
        count = write_export(engine, articles, out, fmt, k, on_article=lambda: bar.update(1))
    click.echo(f"wrote {count} articles to {out}")


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
    help="Configuration to evaluate (repeatable): lexical, dense, hybrid (the settings), "
    "rrf, minmax, unstemmed (the settings with one thing changed), served, diverse, "
    "tuned, tuned-lexical. "
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
    dev split (or a held-out part of train), never on the split evaluated;
    `recommender -v evaluate` logs every configuration tried and its score.
    """
    from .embedding import SentenceTransformerEmbedder
    from .evaluation import Format, evaluate, plan_evaluation

    settings = _settings()
    plan = plan_evaluation(
        corpus,
        queries,
        qrels,
        settings,
        configs,
        split=split,
        tune_split=tune_split,
        holdout=holdout,
        format=cast(Format, layout),
    )
    for note in plan.notes:
        click.echo(f"note: {note}", err=True)
    embedder = SentenceTransformerEmbedder(
        settings.model, batch_size=settings.batch_size, threads=settings.encode_threads or None
    )
    report = evaluate(
        plan.benchmark,
        plan.configs,
        embedder,
        settings,
        cache_dir=cache_dir,
        tuning=plan.tuning,
        progress=progress,
        # With --verbose, every configuration tried while tuning and its score.
        tuning_log=logging.getLogger("recommender.evaluation").info,
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


# -- editorial rules ---------------------------------------------------------------------


def _cli_user() -> str:
    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "cli:unknown"


who_option = click.option(
    "--who",
    default=None,
    help="Name recorded in the audit log. Default: cli:<your user name>.",
)


def _rule_command(
    group: click.Group, name: str, *params: Callable[[Any], Any]
) -> Callable[[Callable[..., None]], click.Command]:
    """Declare a rules command: ``params`` (click arguments and options, in the
    order of its usage line), then --index-dir and --who, with the core's errors
    turned into exit codes. The function is called with ``who`` already defaulted
    to cli:<your user name>."""

    def declare(function: Callable[..., None]) -> click.Command:
        @wraps(function)
        def run(*args: Any, who: str | None, **kwargs: Any) -> None:
            function(*args, who=who or _cli_user(), **kwargs)

        command: Any = who_option(_core_errors(run))
        command = index_dir_option(command)
        for param in reversed(params):
            command = param(command)
        return group.command(name)(command)

    return declare


def _rule_store(index_dir: Path | None) -> EditorialRuleStore:
    """The rule store of the settings (the index directory's file, or PostgreSQL)."""
    return _state(index_dir).rules


def _editor(index_dir: Path | None) -> RuleEditor:
    """Single-rule edits, checked against the published ids (see :meth:`State.rule_editor`)."""
    return _state(index_dir).rule_editor()


@main.group()
def rules() -> None:
    """Editorial rules, served at once without reindexing.

    A pin shows an article at a fixed position under another; a block never
    shows it there; an exclude never shows it anywhere; a featured override
    forces its featured flag. Every change is logged with who and when.
    """


@rules.group("add")
def rules_add() -> None:
    """Add a pin, block, exclude or featured override (ids must exist)."""


@rules.group("remove")
def rules_remove() -> None:
    """Remove a pin, block, exclude or featured override."""


@_rule_command(
    rules_add,
    "pin",
    click.argument("article_id"),
    click.argument("target_id"),
    click.option("--position", type=click.IntRange(1, 50), required=True, help="1-based position."),
)
def add_pin(
    article_id: str, target_id: str, position: int, index_dir: Path | None, who: str
) -> None:
    """Show TARGET_ID at --position in the related list under ARTICLE_ID."""
    version = _editor(index_dir).add_pin(article_id, target_id, position, who)
    click.echo(f"pinned {target_id} at {position} under {article_id} (rules version {version})")


@_rule_command(rules_add, "block", click.argument("article_id"), click.argument("target_id"))
def add_block(article_id: str, target_id: str, index_dir: Path | None, who: str) -> None:
    """Never list TARGET_ID under ARTICLE_ID."""
    version = _editor(index_dir).add_block(article_id, target_id, who)
    click.echo(f"blocked {target_id} under {article_id} (rules version {version})")


@_rule_command(rules_add, "exclude", click.argument("target_id"))
def add_exclude(target_id: str, index_dir: Path | None, who: str) -> None:
    """Never list TARGET_ID anywhere."""
    version = _editor(index_dir).add_exclude(target_id, who)
    click.echo(f"excluded {target_id} everywhere (rules version {version})")


@_rule_command(
    rules_add,
    "featured",
    click.argument("target_id"),
    click.option("--on/--off", "value", required=True, help="Force the featured flag on or off."),
)
def add_featured(target_id: str, value: bool, index_dir: Path | None, who: str) -> None:
    """Force TARGET_ID's featured flag on or off."""
    version = _editor(index_dir).set_featured(target_id, value, who)
    state = "on" if value else "off"
    click.echo(f"featured {state} for {target_id} (rules version {version})")


@_rule_command(rules_remove, "pin", click.argument("article_id"), click.argument("target_id"))
def remove_pin(article_id: str, target_id: str, index_dir: Path | None, who: str) -> None:
    """Unpin TARGET_ID under ARTICLE_ID."""
    _editor(index_dir).remove_pin(article_id, target_id, who)
    click.echo(f"removed pin of {target_id} under {article_id}")


@_rule_command(rules_remove, "block", click.argument("article_id"), click.argument("target_id"))
def remove_block(article_id: str, target_id: str, index_dir: Path | None, who: str) -> None:
    """Lift the block of TARGET_ID under ARTICLE_ID."""
    _editor(index_dir).remove_block(article_id, target_id, who)
    click.echo(f"removed block of {target_id} under {article_id}")


@_rule_command(rules_remove, "exclude", click.argument("target_id"))
def remove_exclude(target_id: str, index_dir: Path | None, who: str) -> None:
    """Lift the global exclude of TARGET_ID."""
    _editor(index_dir).remove_exclude(target_id, who)
    click.echo(f"removed exclude of {target_id}")


@_rule_command(rules_remove, "featured", click.argument("target_id"))
def remove_featured(target_id: str, index_dir: Path | None, who: str) -> None:
    """Drop the featured override of TARGET_ID (the corpus decides again)."""
    _editor(index_dir).remove_featured(target_id, who)
    click.echo(f"removed featured override of {target_id}")


@rules.command("list")
@click.argument("article_id", required=False)
@index_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the rules as a JSON list.")
@click.option("--history", is_flag=True, help="Print the audit log instead (newest first).")
@_core_errors
def list_rules(
    article_id: str | None, index_dir: Path | None, as_json: bool, history: bool
) -> None:
    """The rules in force (about ARTICLE_ID only, if given), with who set them and when."""
    store = _rule_store(index_dir)
    if history:
        changes = store.history(article_id)
        if as_json:
            click.echo(json.dumps([c.to_json() for c in changes], indent=2, ensure_ascii=False))
            return
        if not changes:
            click.echo("(no changes)")
        for c in changes:
            where = f" under {c.article_id}" if c.article_id else ""
            detail = f" {c.detail}" if c.detail else ""
            click.echo(f"{c.at}  {c.who}  {c.action} {c.target_id}{detail}{where}")
        return
    records = store.records(article_id)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in records], indent=2, ensure_ascii=False))
        return
    if not records:
        click.echo("(no rules)")
    for r in records:
        if r.kind == "pin":
            text = f"pin      {r.target_id} at {r.value} under {r.article_id}"
        elif r.kind == "block":
            text = f"block    {r.target_id} under {r.article_id}"
        elif r.kind == "exclude":
            text = f"exclude  {r.target_id} everywhere"
        else:
            text = f"featured {r.target_id} {'on' if r.value else 'off'}"
        click.echo(f"{text}  ({r.who}, {r.at})")


@main.group()
def db() -> None:
    """The database of the shared state: its schema, and moving state into it.

    With RECOMMENDER_DATABASE_URL empty the state is SQLite files in the index
    directory, which bring themselves up to date when opened; with a
    postgresql:// URL, run `recommender db upgrade` before starting new servers.
    """


def _database_url(settings: Settings) -> str:
    if not settings.database_url:
        raise BadInput(
            "RECOMMENDER_DATABASE_URL is empty: the state is SQLite files in the index "
            "directory; set it to a postgresql:// URL"
        )
    return settings.database_url


@db.command()
@index_dir_option
@_core_errors
def upgrade(index_dir: Path | None) -> None:
    """Bring the database's schema up to this version (safe to run twice, or from two hosts)."""
    settings = _settings(index_dir=index_dir)
    if not settings.database_url:
        from .state import open_state

        state = open_state(settings)
        state.live.seq(), state.rules.version()  # opening a file runs its steps
        click.echo(f"SQLite files in {settings.index_dir} are up to date")
        return
    from .postgres import Migrations

    applied = Migrations(settings.database_url).upgrade()
    if applied:
        click.echo(f"applied {len(applied)} schema step(s): {', '.join(applied)}")
    else:
        click.echo("the schema is up to date")


@db.command()
@index_dir_option
@_core_errors
def status(index_dir: Path | None) -> None:
    """Say whether the database's schema matches this version; exits 1 if not."""
    from .postgres import Migrations

    url = _database_url(_settings(index_dir=index_dir))
    Migrations(url).check()
    click.echo("the schema is up to date")


@db.command("migrate-from-sqlite")
@click.option(
    "--from",
    "source",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Index directory whose SQLite files to copy. Default: the index directory.",
)
@index_dir_option
@_core_errors
def migrate_from_sqlite(source: Path | None, index_dir: Path | None) -> None:
    """Copy an index directory's SQLite state (live changes, rules and audit log,
    jobs, embedding cache, published version) into an empty PostgreSQL database.

    Upgrades the schema first. All or nothing: one transaction. The SQLite files
    are only read; the snapshot files stay where they are (point every host's
    RECOMMENDER_INDEX_DIR at them).
    """
    from .layout import IndexLayout
    from .postgres import Connections, Migrations, copy_from_sqlite

    settings = _settings(index_dir=index_dir)
    url = _database_url(settings)
    Migrations(url).upgrade()
    files = IndexLayout.of(source or settings.index_dir)
    connections = Connections(url, settings.database_timeout, settings.database_pool_size)
    try:
        copied = copy_from_sqlite(files, connections)
    finally:
        connections.close()
    summary = ", ".join(f"{table} {count}" for table, count in copied.items()) or "nothing"
    click.echo(f"copied from {files.root}: {summary}")


if __name__ == "__main__":  # pragma: no cover
    main()
