"""The API contract: pydantic models that validate requests and, through
flask-openapi3, generate ``/openapi.json``, so the spec and the behaviour are the
same code."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from recommender import (
    BUCKETS,
    EXPERIMENT_KNOBS,
    MAX_PIN_POSITION,
    MAX_VARIANTS,
    PARAMETERS,
    REQUEST_KNOBS,
    ArticleId,
    ArticleRules,
    Filters,
    Item,
    Pin,
    RankingKnobs,
    Status,
    Variant,
    json_fields,
)

MAX_EXCLUDE_VALUES = 500
K_DESCRIPTION = (
    "How many items per list (1-50). Default: the server's RECOMMENDER_DEFAULT_K (5 unless set)."
)


class RequestBody(BaseModel):
    """Base of every request body model. A request that fails one of its subclasses is
    answered 422 (invalid body); any other request model failing is a 400 (invalid
    parameter). Deriving from it is all a new body model needs (see
    :func:`service.errors.validation_problem`)."""

    @classmethod
    def is_title(cls, title: str) -> bool:
        """Whether ``title``, the one name a pydantic ``ValidationError`` keeps of the
        model that failed, belongs to a subclass of this class."""
        pending: list[type[BaseModel]] = [cls]
        while pending:
            model = pending.pop()
            if (model.model_config.get("title") or model.__name__) == title:
                return model is not RequestBody
            pending.extend(model.__subclasses__())
        return False


class ArticlePath(BaseModel):
    """Path of the per-article routes."""

    article_id: ArticleId = Field(
        description="Article id, percent-encoded as one path segment (any id but . and ..)."
    )


def _limited(name: str, default: Any = None, description: str = "") -> Any:
    """A query parameter taking the values the setting ``name`` accepts (see
    :class:`recommender.config.Parameter`), described by its help unless told."""
    declared = PARAMETERS[name]
    return Field(
        default,
        ge=declared.at_least,
        gt=declared.above,
        le=declared.at_most,
        description=description or f"{declared.help} (RECOMMENDER_{name.upper()})",
    )


class QueryModel(BaseModel):
    """A model of query parameters.

    flask-openapi3 reads the model's JSON schema on every request to tell list
    parameters from scalar ones (``model_json_schema()``, no arguments), which costs
    pydantic a schema generation per request; the schema of a class never changes,
    so that call is answered once per class, read-only. Calls with arguments (the
    OpenAPI document's) are pydantic's own.
    """

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if args or kwargs:
            return super().model_json_schema(*args, **kwargs)
        cached = cls.__dict__.get("_request_schema")
        if cached is None:
            cached = MappingProxyType(super().model_json_schema())
            cls._request_schema = cached  # type: ignore[attr-defined]
        return cached  # type: ignore[return-value]


BUCKET_DESCRIPTION = (
    "The reader's A/B bucket, 0–9999: a random number the widget keeps per browser tab. "
    "While an experiment runs it decides the variant that answers (see `variant`)."
)


class _AnswerQuery(QueryModel):
    """The query parameters of :class:`ListQuery` that are not ranking knobs."""

    k: int | None = _limited("default_k", None, K_DESCRIPTION)
    exclude: list[Annotated[str, Field(max_length=10_000)]] = Field(
        default_factory=list,
        max_length=MAX_EXCLUDE_VALUES,
        description="Ids never to return. Repeat the parameter for several ids "
        "(exclude=a&exclude=b), or separate them with commas (exclude=a,b). A value that "
        "is exactly an article's id is that one id, even if it holds commas "
        "(tag:example.org,2025:42); any other value is split at its commas.",
    )
    tag: str | None = Field(None, max_length=200, description="Only articles with this tag.")
    since: date | datetime | None = Field(
        None, description="Only articles published on or after this ISO 8601 date or time."
    )
    min_score: float = _limited("min_score", 0.0, "Drop items scoring below this.")
    explain: bool = Field(
        False,
        description="Add each item's `shared_terms` and `lexical_fields` to its "
        "explanation (for people: they read every item's text, about a quarter of the "
        "cost of an uncached answer). The other explanation fields are always there.",
    )


# Ranking knobs: preview other values than the served settings for this request only.
# One query parameter per setting declared ``per_request`` (REQUEST_KNOBS), named,
# typed, limited and described by that declaration, so a new knob needs no line here.
# mypy sees the made model as Any, hence the ignore where it is subclassed.
_KNOB_PARAMETERS: dict[str, Any] = {
    name: (type(PARAMETERS[name].default) | None, _limited(name)) for name in REQUEST_KNOBS
}
_AnswerQueryWithKnobs: Any = create_model(
    "AnswerQueryWithKnobs",
    __base__=_AnswerQuery,
    **_KNOB_PARAMETERS,
    bucket=(int | None, Field(None, ge=0, lt=BUCKETS, description=BUCKET_DESCRIPTION)),
)


class ListQuery(_AnswerQueryWithKnobs):  # type: ignore[misc]
    """Query parameters shared by every route that returns recommendations."""

    model_config = ConfigDict(extra="ignore")

    def knobs(self, served: RankingKnobs) -> RankingKnobs | None:
        """The served knobs with this request's changes, or None when it changes none."""
        changes = {
            name: getattr(self, name) for name in REQUEST_KNOBS if getattr(self, name) is not None
        }
        return dataclasses.replace(served, **changes) if changes else None

    def filters(self, is_article: Callable[[str], bool]) -> Filters:
        """The engine filters these parameters ask for.

        Args:
            is_article: whether an id names an existing article; decides whether an
                ``exclude`` value holding commas is one id or a list of them.
        """
        since = self.since
        if isinstance(since, date) and not isinstance(since, datetime):
            since = datetime(since.year, since.month, since.day)
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        exclude = excluded_ids(self.exclude, is_article)
        tags = [self.tag] if self.tag else []
        return Filters(exclude=exclude, tags=tags, since=since, min_score=self.min_score)


def excluded_ids(values: list[str], is_article: Callable[[str], bool]) -> list[str]:
    """The ids ``exclude`` values name: a value that is exactly an article id is that
    id (ids may hold commas, as Atom tag URIs do); any other is split at commas."""
    ids: list[str] = []
    for value in values:
        value = value.strip()
        if is_article(value):
            ids.append(value)
        else:
            ids += [part.strip() for part in value.split(",") if part.strip()]
    return ids


class ArticlesQuery(QueryModel):
    """Query parameters of the article listing."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(20, ge=1, le=200, description="Articles per page.")
    offset: int = Field(0, ge=0, le=10_000_000, description="Articles to skip (or use cursor).")
    cursor: str | None = Field(
        None, max_length=500, description="Opaque cursor from a previous page's next_cursor."
    )
    tag: str | None = Field(None, max_length=200, description="Only articles with this tag.")
    status: Status | None = Field(None, description="Only this status.")
    q: str | None = Field(None, max_length=200, description="Substring of the title.")


VARIANT_DESCRIPTION = (
    'The A/B test variant that answered (docs/signals.md): "default" outside any '
    "experiment or without `bucket`. The widget tags its events with it."
)


class ItemsResponse(BaseModel):
    """One list of recommendations for an article."""

    article_id: str
    items: list[Item]
    variant: str = Field(description=VARIANT_DESCRIPTION)


class RecommendationsResponse(BaseModel):
    """Both blocks in one answer; featured picks never repeat related items."""

    article_id: str | None = Field(description="The article asked about; null for a draft.")
    related: list[Item]
    featured: list[Item]
    index_version: str = Field(description="Snapshot version + live-change sequence.")
    variant: str = Field(description=VARIANT_DESCRIPTION)


class DraftBody(RequestBody):
    """A text that is not published yet."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=1000)
    body: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list, max_length=100)
    k: int | None = _limited("default_k", None, K_DESCRIPTION)
    explain: bool = Field(
        False,
        description="Add each item's `shared_terms` and `lexical_fields` to its "
        "explanation (for people: they read every item's text, about a quarter of the "
        "cost of an uncached answer). The other explanation fields are always there.",
    )


# The article models are made at run time from Article's fields (json_fields): mypy
# sees each base as Any, hence the ignore where it is subclassed.
_ArticleBodyFields: Any = create_model(
    "ArticleBodyFields",
    __base__=RequestBody,
    # Every field of the article, as Article defaults it, but for the limits a
    # request puts on some, and the vector a writer may bring.
    **json_fields(
        omit=("extra",),
        required=False,
        id=(str | None, Field(None, description="If given, must equal the id in the path.")),
        title=(str, Field(min_length=1, max_length=1000)),
        body=(str, Field(min_length=1)),
        tags=(list[str], Field(default_factory=list, max_length=100)),
        categories=(list[str], Field(default_factory=list, max_length=100)),
        published=(date | datetime | None, None),
        updated=(
            date | datetime | None,
            Field(
                None,
                description="When this version was written. Newest wins: the write is "
                "served until a reindex brings a version with a later `updated` (or "
                "`published`); without it, the time of the request counts.",
            ),
        ),
        status=(
            Status,
            Field(
                "published",
                description="published; draft (never suggested); scheduled (suggested "
                "from its `published` time on, less RECOMMENDER_CLOCK_SKEW_SECONDS; needs "
                "`published`).",
            ),
        ),
        image=(
            str | None,
            Field(
                None,
                description="A thumbnail: an absolute http or https URL, or a relative one "
                "resolved against `url` (anything else is a 422 naming `image`), at most "
                "2048 characters.",
            ),
        ),
        embedding=(
            list[float] | None,
            Field(
                None,
                max_length=8192,
                description="The article's vector, if you already have one: as many "
                "numbers as the model's vectors have (384 for all-MiniLM-L6-v2), normalised "
                "to unit length on arrival. Used instead of running the model, until a "
                "reindex embeds the article or takes the vector from its source.",
            ),
        ),
    ),
)


class ArticleBody(_ArticleBodyFields):  # type: ignore[misc]
    """An article to create or replace (the id comes from the path)."""

    model_config = ConfigDict(extra="allow")

    def record(self, article_id: str) -> dict[str, Any]:
        """The raw record for :meth:`recommender.Article.from_record` (without the
        vector, which is not part of the article)."""
        data: dict[str, Any] = self.model_dump(exclude_none=True, exclude={"embedding"})
        data["id"] = article_id
        return data


_ArticleOutFields: Any = create_model("ArticleOutFields", **json_fields())


class ArticleOut(_ArticleOutFields):  # type: ignore[misc]
    """An article as stored."""


SUMMARY_OMITS = ("body", "categories", "updated", "author", "extra")
"""What a listing leaves out of each article: the long and the rarely scanned fields."""


_ArticleSummaryFields: Any = create_model("ArticleSummaryFields", **json_fields(omit=SUMMARY_OMITS))


class ArticleSummary(_ArticleSummaryFields):  # type: ignore[misc]
    """An article in a listing (no body)."""


class ArticleList(BaseModel):
    """One page of articles."""

    items: list[ArticleSummary]
    total: int = Field(description="Articles matching the filters, all pages together.")
    next_cursor: str | None = Field(
        description="Pass as cursor for the next page; null at the end."
    )


class WriteResult(BaseModel):
    """What a write did."""

    id: str
    created: bool
    index_version: str


class Problem(BaseModel):
    """An RFC 9457 problem report; every error has this shape."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    parameter: str | None = Field(None, description="The offending query or path parameter.")
    field: str | None = Field(None, description="The offending body field.")


class Health(BaseModel):
    """Liveness or readiness."""

    status: str
    index_version: str | None = None
    articles: int | None = None


class ReindexBody(RequestBody):
    """Options of an admin reindex (the sources are the server's configured ones)."""

    model_config = ConfigDict(extra="forbid")

    full: bool = Field(False, description="Re-embed everything and publish even if unchanged.")


class JobPath(BaseModel):
    """Path of a job route."""

    job_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class JobProgress(BaseModel):
    """How far a job got."""

    phase: str | None = Field(
        description="read, embed, write, seal, publish or cleanup (in that order)."
    )
    done: int
    total: int


class JobOut(BaseModel):
    """A background job."""

    id: str
    kind: str
    state: Literal["queued", "running", "done", "failed"]
    created: str
    finished: str | None
    progress: JobProgress
    summary: dict[str, Any] | None = Field(description="The reindex report once done.")
    error: str | None


class JobStarted(BaseModel):
    """A job was accepted."""

    job_id: str
    state: str
    url: str = Field(description="Where to follow the job.")


class ReloadResult(BaseModel):
    """What a reload found."""

    reloaded: bool
    index_version: str
    click_through: bool = Field(
        description="Whether the click-through rates were estimated again from reader "
        "events (false: none counted yet)."
    )


# -- editorial rules ---------------------------------------------------------------------


class PinModel(BaseModel):
    """An article shown at a fixed position in the related list."""

    model_config = ConfigDict(extra="forbid")

    article_id: ArticleId = Field(description="The pinned article.")
    position: int = Field(
        ge=1, le=MAX_PIN_POSITION, description="1-based position in the related list."
    )


class ArticleRulesBody(RequestBody):
    """The rules under one article; a PUT replaces all of them."""

    model_config = ConfigDict(extra="forbid")

    pins: list[PinModel] = Field(
        default_factory=list, max_length=MAX_PIN_POSITION, description="Pinned articles."
    )
    blocks: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=1000, description="Ids never listed under it."
    )
    featured: bool | None = Field(
        None, description="Force this article's featured flag on or off; null: as in the corpus."
    )

    def rules(self, article_id: str) -> ArticleRules:
        """The core rule set this body describes."""
        return ArticleRules(
            article_id,
            tuple(Pin(pin.article_id, pin.position) for pin in self.pins),
            tuple(self.blocks),
            self.featured,
        )


class ArticleRulesOut(BaseModel):
    """The rules under one article."""

    article_id: str
    pins: list[PinModel]
    blocks: list[str]
    featured: bool | None = Field(description="The featured override; null when there is none.")
    version: int = Field(description="Rules version: grows with every change to any rule.")

    @classmethod
    def of(cls, rules: ArticleRules, version: int) -> dict[str, Any]:
        """The JSON answer for ``rules``."""
        return {
            "article_id": rules.article_id,
            "pins": [
                {"article_id": pin.article_id, "position": pin.position} for pin in rules.pins
            ],
            "blocks": list(rules.blocks),
            "featured": rules.featured,
            "version": version,
        }


class ExcludesBody(RequestBody):
    """The globally excluded ids; a PUT replaces the list."""

    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        max_length=10_000, description="Ids never suggested anywhere."
    )


class ExcludesOut(BaseModel):
    """The globally excluded ids."""

    ids: list[str]
    version: int = Field(description="Rules version: grows with every change to any rule.")


class StatusResponse(BaseModel):
    """What the server is serving."""

    index_version: str = Field(description="Snapshot version + live-change sequence.")
    snapshot_version: str = Field(description="The published snapshot's version.")
    model_id: str = Field(description="The embedding model the snapshot was built with.")
    articles: int = Field(description="Articles that exist now (snapshot + live changes).")
    created: str = Field(description="When the snapshot was built (ISO 8601).")
    age_seconds: float = Field(description="Seconds since the snapshot was built.")


class VariantModel(BaseModel):
    """One arm of an A/B test."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="Shown in answers and events.")
    knobs: dict[str, float] = Field(
        default_factory=dict,
        description="Ranking knobs replacing the served ones for this variant's readers: "
        f"any of {', '.join(EXPERIMENT_KNOBS)}, within the limits of the settings of the "
        "same names. An empty set is the control: the served knobs.",
    )
    share: float = Field(
        1.0, gt=0, description="Traffic weight; the variants' weights are scaled to add up to 1."
    )

    def variant(self) -> Variant:
        """The core's variant."""
        return Variant(self.name, dict(self.knobs), self.share)


class ExperimentBody(RequestBody):
    """An A/B test to start. The first variant is the control the others are compared with."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, description="Unique among all experiments.")
    variants: list[VariantModel] = Field(min_length=2, max_length=MAX_VARIANTS)


class StopExperimentBody(RequestBody):
    """How to stop an A/B test."""

    model_config = ConfigDict(extra="forbid")

    promote: str | None = Field(
        None,
        description="A variant whose knobs become the served default for every request "
        "that does not set them (until `DELETE /v1/rules/knobs`).",
    )


class ExperimentPath(BaseModel):
    """Path of one experiment."""

    experiment_id: str = Field(min_length=1, max_length=64)


class VariantOut(BaseModel):
    """One arm of an A/B test as stored (shares scaled to add up to 1)."""

    name: str
    knobs: dict[str, float]
    share: float


class VariantResultOut(BaseModel):
    """How one variant did on one block."""

    variant: str
    impressions: int
    clicks: int
    ctr: float = Field(description="Clicks per impression.")
    ctr_95: list[float] = Field(description="95% Wilson interval of `ctr`.")
    p_value: float | None = Field(
        description="χ² test (two-proportion z-test) against the first variant; null for it."
    )
    significant: bool = Field(description="`p_value` below 0.05.")


class ExperimentOut(BaseModel):
    """An A/B test, and how its variants did so far (per block)."""

    id: str
    status: Literal["running", "stopped"]
    variants: list[VariantOut]
    started: str
    stopped: str | None
    promoted: str | None
    who: str
    results: dict[str, list[VariantResultOut]] | None = Field(
        None, description="Per block (related, featured): each variant's click-through."
    )


class ExperimentList(BaseModel):
    """Every A/B test, the newest first."""

    experiments: list[ExperimentOut]


class ServedKnobs(BaseModel):
    """The ranking knobs served to requests that set none."""

    knobs: dict[str, float | bool] = Field(description="Every knob as served now.")
    promoted: dict[str, float] = Field(
        description="Those set by a promoted experiment variant rather than the settings."
    )


# -- reader events (the request body is parsed by recommender.events, which names
# fields as events[3].position; these models document the answers) ----------------


class EventsCounted(BaseModel):
    """What ``POST /v1/events`` counted."""

    counted: int = Field(
        description="Events counted: all of the batch, or 0 for a request from a bot."
    )


class EventCounts(BaseModel):
    """Time-decayed counts of one aggregate."""

    impressions: float = Field(description="Impressions, each halved every half-life since.")
    clicks: float = Field(description="Clicks, each halved every half-life since.")
    ctr: float | None = Field(description="clicks / impressions; null before any impression.")


class ShownEvents(EventCounts):
    """The article's counts wherever it was shown, for one block and variant."""

    block: str
    variant: str


class ShownHereEvents(EventCounts):
    """The counts of one article shown on this article's page."""

    shown: str


class ArticleEventsOut(BaseModel):
    """What readers did with an article, decayed to now."""

    article_id: str
    half_life_days: float
    as_shown: list[ShownEvents]
    shown_here: list[ShownHereEvents] = Field(description="Most clicked first.")
