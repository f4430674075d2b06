"""The article record every source is read into, and its validation."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, time
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urljoin, urlsplit

import annotated_types
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from .shortcodes import strip_shortcodes
from .text import decode_entities, html_to_text

ID_PATTERN = r"^[^\s/?#]+$"
"""An id is one URL path segment: no whitespace, ``/``, ``?`` or ``#`` (and :func:`check_id`)."""
ID_MAX_LENGTH = 200
_DOT_SEGMENTS = frozenset({".", ".."})


def check_id(value: str) -> str:
    """Refuse the ids no URL can carry: ``.`` and ``..``.

    Browsers, ``fetch`` and most HTTP libraries resolve them as "this folder" and
    "the parent folder" in a path, even percent-encoded (``%2E%2E``), so
    ``/v1/articles/../related`` would become ``/v1/related``. Every other id
    matching :data:`ID_PATTERN` works over HTTP when percent-encoded.

    Raises:
        ValueError: the id is ``.`` or ``..``.
    """
    if value in _DOT_SEGMENTS:
        raise ValueError(
            f"{value!r} cannot be an id: URL clients read it as a folder step "
            "('.' this one, '..' the parent), so no URL could reach the article"
        )
    return value


ArticleId = Annotated[
    str,
    Field(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN),
    AfterValidator(check_id),
]
"""An article id, as every source, the API and the snapshot accept it."""
_ID: TypeAdapter[str] = TypeAdapter(ArticleId)

IMAGE_MAX_LENGTH = 2048
"""The longest image URL accepted: browsers and CDNs handle longer ones poorly."""
_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)
_HTTP_PREFIXES = ("http://", "https://")


def check_image(value: str) -> str:
    """Accept an absolute ``http``/``https`` URL, kept as written.

    pydantic's URL parser (the WHATWG rules browsers follow) decides whether it is
    a URL with a host; it is not normalised, so the widget loads what the source
    said. The parser forgives ``http:example.org`` and spaces; an image address
    given as data should not need that, so both are refused.

    Raises:
        ValueError: not an absolute http(s) URL (relative, another scheme such as
            ``javascript:`` or ``data:``, no host, whitespace, too long).
    """
    if len(value) > IMAGE_MAX_LENGTH:
        raise ValueError(f"longer than {IMAGE_MAX_LENGTH} characters")
    problem = _http_problem(value)
    if problem is not None:
        raise ValueError(f"{value!r} is not an absolute http(s) URL: {problem}")
    return value


def _http_problem(value: str) -> str | None:
    """Why ``value`` is not an absolute http(s) URL, or ``None`` when it is (its
    length aside)."""
    if not value.lower().startswith(_HTTP_PREFIXES):
        return "it does not start with http:// or https://"
    if any(character.isspace() for character in value):
        return "it holds whitespace (write spaces as %20)"
    try:
        _HTTP_URL.validate_python(value)
    except ValidationError as exc:
        return str(exc.errors()[0]["msg"])
    return None


def _is_relative_url(value: str) -> bool:
    """Whether ``value`` is a reference without a scheme: path-absolute
    (``/img/a.jpg``), relative (``img/a.jpg``) or protocol-relative
    (``//cdn.example.org/a.jpg``)."""
    try:
        return urlsplit(value).scheme == ""
    except ValueError:  # an unclosed "[" of an IPv6 host: no URL at all
        return False


def resolve_image(value: str, url: str | None) -> str:
    """The image URL of an article whose page is ``url``, given as ``value``.

    A relative ``value`` is resolved against ``url`` as a browser showing that page
    would resolve it (``urllib.parse.urljoin``; a protocol-relative one takes the
    page's scheme), so Hugo and Jekyll sites can write ``image: /img/a.jpg``. The
    result, like an absolute ``value``, must pass :func:`check_image`.

    Args:
        value: the image as the source gives it, stripped.
        url: the article's own ``url``; only an absolute http(s) one resolves.

    Raises:
        ValueError: why there is no image URL: ``value`` is relative and ``url``
            is not an absolute http(s) URL, or the result fails :func:`check_image`.
    """
    if not _is_relative_url(value):
        return check_image(value)
    if len(value) > IMAGE_MAX_LENGTH:
        raise ValueError(f"longer than {IMAGE_MAX_LENGTH} characters")
    if url is None or len(url) > IMAGE_MAX_LENGTH or _http_problem(url) is not None:
        raise ValueError(
            f"{value!r} is relative, and the article has no absolute http(s) url "
            "to resolve it against"
        )
    resolved = urljoin(url, value)
    if len(resolved) > IMAGE_MAX_LENGTH:
        raise ValueError(f"longer than {IMAGE_MAX_LENGTH} characters once resolved against the url")
    problem = _http_problem(resolved)
    if problem is not None:
        raise ValueError(f"{value!r} resolved against the url is {resolved!r}: {problem}")
    return resolved


def image_problem(value: Any, url: Any) -> str | None:
    """Why ``value`` cannot be the image of an article whose ``url`` is given, as
    :class:`Article` would say it; ``None`` when it can, and when there is no image
    (``None``, or blank text). For readers that leave a bad image out and keep the
    article rather than reject the record."""
    if value is None:
        return None
    if not isinstance(value, str):
        return f"expected text, found {_kind(value)}"
    if not value.strip():
        return None
    try:
        resolve_image(value.strip(), url.strip() if isinstance(url, str) else None)
    except ValueError as exc:
        return str(exc)
    return None


def _kind(value: Any) -> str:
    """What a source gave instead of text, in the words the readers use."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def image_url(value: Any, url: str | None = None) -> str | None:
    """The image URL ``value`` gives an article whose page is ``url``
    (:func:`resolve_image`), else ``None``: for sources whose images are optional
    extras (feeds, WordPress), where a bad one is left out rather than costing the
    article."""
    if not isinstance(value, str):
        return None
    try:
        return resolve_image(value.strip(), url)
    except ValueError:
        return None


IMAGE_DESCRIPTION = "The article's thumbnail: an absolute http(s) URL; null when it has none."
"""What ``image`` is, in the words the API's answers use."""

ImageUrl = Annotated[str, AfterValidator(check_image)]
"""An article's image (thumbnail): an absolute http(s) URL (a relative one is
resolved against the article's url first, see :meth:`Article._resolve_image`)."""

# Validation context keys (see Article.from_record and Article.from_stored).
_STORED = "stored"
_TITLE_IS_TEXT = "title_is_text"
_STRIP_SHORTCODES = "strip_shortcodes"


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be an article id, or ``None`` when it can."""
    try:
        _ID.validate_python(value)
    except ValidationError as exc:
        return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
    return None


def parse_timestamp(value: Any) -> Any:
    """Accept ``YYYY-MM-DD``, any ISO 8601 datetime, or date/datetime objects.

    Naive values are taken as UTC so that every timestamp compares with every other.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{value!r} is not an ISO 8601 date (YYYY-MM-DD) or datetime"
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"expected an ISO 8601 date string, got {type(value).__name__}")


def format_timestamp(value: datetime | None) -> str | None:
    """ISO 8601 with ``Z`` for UTC: the one timestamp format every output uses."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def parse_labels(value: Any) -> Any:
    """Tags and categories: a list of strings, or one string separated by commas or semicolons."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        parts = value.replace(";", ",").split(",")
        value = [p for p in (part.strip() for part in parts) if p]
    if isinstance(value, list | tuple):
        cleaned: list[Any] = []
        for item in value:
            if isinstance(item, str):
                item = item.strip()
                if item and item not in cleaned:
                    cleaned.append(item)
            else:
                cleaned.append(item)  # left for the type check to reject with its index
        return tuple(cleaned)
    return value


def parse_flag(value: Any) -> Any:
    """Booleans from YAML/JSON, and the spellings CSV files use."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"true", "yes", "1", "y"}:
            return True
        if lowered in {"false", "no", "0", "n", ""}:
            return False
    return value


Status = Literal["published", "draft", "scheduled"]
"""``published``: suggested; ``draft``: indexed, never suggested; ``scheduled``:
suggested from its ``published`` time on (minus the clock-skew tolerance)."""
STATUSES: tuple[Status, ...] = ("published", "draft", "scheduled")

Timestamp = Annotated[datetime | None, BeforeValidator(parse_timestamp)]
Labels = Annotated[tuple[str, ...], BeforeValidator(parse_labels)]


class Article(BaseModel):
    """One article of the corpus.

    ``body`` is plain text: HTML in a source body is reduced to text on the way in.
    Fields a source carries beyond the known ones are kept in ``extra``.
    ``image`` is the URL of a thumbnail (absolute http(s); a relative one is
    resolved against ``url``); articles stored before it existed load without one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    id: ArticleId
    title: str = Field(min_length=1)
    body: str
    summary: str = ""
    url: str | None = None
    tags: Labels = ()
    categories: Labels = ()
    published: Timestamp = None
    updated: Timestamp = None
    author: str | None = None
    status: Status = "published"
    featured: Annotated[bool, BeforeValidator(parse_flag)] = False
    image: ImageUrl | None = Field(default=None, description=IMAGE_DESCRIPTION)
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _decode_entities(cls, data: Any, info: ValidationInfo) -> Any:
        # Exports escape "&" in titles, names and labels ("Fish &amp; chips"). Decoded
        # once, here, unless the reader already made the title text (feedparser, the
        # WordPress reader) or the text was prepared when it was first read (snapshots,
        # live changes): decoding twice would turn a title about "&amp;" into one about "&".
        context = info.context or {}
        if not isinstance(data, dict) or context.get(_STORED):
            return data
        names: tuple[str, ...] = ("author", "tags", "categories")
        if not context.get(_TITLE_IS_TEXT):
            names = ("title", *names)
        decoded = dict(data)
        for name in names:
            value = decoded.get(name)
            if isinstance(value, str):
                decoded[name] = decode_entities(value)
            elif name in ("tags", "categories") and isinstance(value, list | tuple):
                decoded[name] = [decode_entities(v) if isinstance(v, str) else v for v in value]
        return decoded

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        # CSV and YAML readers may hand over a number for a numeric id.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("image", mode="before")
    @classmethod
    def _resolve_image(cls, value: Any, info: ValidationInfo) -> Any:
        # ``url`` is declared first, so it is validated already (absent if invalid).
        # Stored images were resolved when first read; blank text is no image.
        if not isinstance(value, str) or (info.context or {}).get(_STORED):
            return value
        if not value.strip():
            return None
        return resolve_image(value.strip(), info.data.get("url"))

    @field_validator("body", "summary", mode="before")
    @classmethod
    def _reduce_html(cls, value: Any, info: ValidationInfo) -> Any:
        context = info.context or {}
        if not isinstance(value, str) or context.get(_STORED):
            return value
        if context.get(_STRIP_SHORTCODES):
            value = strip_shortcodes(value)
        return html_to_text(value)

    @field_validator("body")
    @classmethod
    def _body_not_blank(cls, value: str) -> str:
        if not value:
            raise ValueError("body is empty (after reducing HTML to text)")
        return value

    @field_validator("status")
    @classmethod
    def _scheduled_has_a_time(cls, value: str, info: ValidationInfo) -> str:
        # ``published`` is declared first, so it is validated already (absent if invalid).
        if value == "scheduled" and "published" in info.data and info.data["published"] is None:
            raise ValueError("a scheduled article needs a published time: when it goes live")
        return value

    @field_serializer("published", "updated", when_used="json")
    def _format_time(self, value: datetime | None) -> str | None:
        return format_timestamp(value)

    @classmethod
    def from_record(
        cls,
        record: dict[str, Any],
        *,
        title_is_text: bool = False,
        strip_shortcodes: bool = False,
    ) -> Article:
        """Validate a raw mapping as a source gives it; unknown keys go to ``extra``.

        HTML in the body and summary is reduced to text, and character references
        (``&amp;``, ``&#8217;``) in the title, author, tags and categories are decoded.

        Args:
            record: field name → value.
            title_is_text: the reader has already made the title plain text
                (feedparser does, and the WordPress reader, whose titles are HTML),
                so it is taken as it is.
            strip_shortcodes: remove WordPress shortcodes from the body and summary
                first (see :mod:`recommender.shortcodes`).

        Raises:
            pydantic.ValidationError: a field is missing or invalid.
        """
        known = {k: v for k, v in record.items() if k in KNOWN_FIELDS}
        extra = {k: v for k, v in record.items() if k not in KNOWN_FIELDS and k != "extra"}
        if isinstance(record.get("extra"), dict):
            extra = {**record["extra"], **extra}
        context = {_TITLE_IS_TEXT: title_is_text, _STRIP_SHORTCODES: strip_shortcodes}
        return cls.model_validate({**known, "extra": extra}, context=context)

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> Article:
        """Load an article saved by :meth:`to_json` (a snapshot, the live store).

        Its text was prepared when it was first read, so it is not reduced or
        decoded again: a body that says "&lt;b&gt;" stays as it was shown.

        Raises:
            pydantic.ValidationError: the mapping is not a valid article.
        """
        return cls.model_validate(data, context={_STORED: True})

    @property
    def is_published(self) -> bool:
        """Whether readers may see it whatever the time (drafts never appear in results,
        scheduled articles only from their publication time: see :meth:`is_visible_at`)."""
        return self.status == "published"

    def is_visible_at(self, now: datetime, clock_skew: float = 0.0) -> bool:
        """Whether readers may see it at ``now``: published, or scheduled with its
        ``published`` time at most ``clock_skew`` seconds after ``now``.

        A ``published`` article dated in the future is visible at once: a date
        ahead of the clock is far more often a time-zone slip than a plan.
        """
        if self.status == "scheduled" and self.published is not None:
            return self.published.timestamp() - clock_skew <= now.timestamp()
        return self.is_published

    def content_hash(self) -> str:
        """A digest of everything that affects how the article is indexed or shown.

        A field declared after the digest was first defined (any not in
        :data:`HASHED_SINCE_THE_START`: ``image``, and whatever is added later) is
        left out while it is None, so adding an optional field keeps the hash of
        every article without it (a reindex finds them unchanged).
        """
        later = {
            name
            for name in type(self).model_fields
            if name not in HASHED_SINCE_THE_START and getattr(self, name) is None
        }
        payload = self.model_dump(mode="json", exclude=later or None)
        return hashlib.sha256(
            json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()

    def to_json(self) -> dict[str, Any]:
        """The article as a JSON-ready mapping (timestamps as ISO 8601 strings)."""
        return self.model_dump(mode="json")


HASHED_SINCE_THE_START = frozenset(
    {
        *("id", "title", "body", "summary", "url", "tags", "categories", "published"),
        *("updated", "author", "status", "featured", "extra"),
    }
)
"""The fields :meth:`Article.content_hash` always covers: those articles had when the
digest was defined. Never add to it (that would change every stored article's hash)."""

KNOWN_FIELDS: tuple[str, ...] = tuple(name for name in Article.model_fields if name != "extra")
"""The fields a source may give an article, in :class:`Article`'s order; any other key
of a record goes to ``extra``."""


def _json_type(annotation: Any) -> Any:
    """The type a value of ``annotation`` has in :meth:`Article.to_json`: a tuple is
    written as a list, a time as an ISO 8601 string (:func:`format_timestamp`), and
    validators and constraints (``Annotated``) have done their work."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _json_type(get_args(annotation)[0])
    if origin is tuple:
        return list[_json_type(get_args(annotation)[0])]  # type: ignore[misc]
    if origin in (Union, UnionType):
        return Union[tuple(_json_type(arg) for arg in get_args(annotation))]  # noqa: UP007
    return str if annotation is datetime else annotation


def json_fields(
    *, omit: tuple[str, ...] = (), required: bool = True, **fields: Any
) -> dict[str, Any]:
    """The article's fields as :func:`pydantic.create_model` takes them, for models of
    its JSON form (:meth:`Article.to_json`): the one declaration the API's article
    models derive from, so a field added to :class:`Article` appears in them all.

    Each field keeps :class:`Article`'s order, its type as JSON gives it, its limits
    and its description; a reader that wants a narrower or a described field names
    it.

    Args:
        omit: fields left out (in order to show only part of an article).
        required: every field required, as :meth:`Article.to_json` always writes them
            all (an answer); else each takes :class:`Article`'s default (a request).
        fields: field name → ``(type, FieldInfo)`` replacing the derived field in
            its place, or added after the article's own.
    """
    derived: dict[str, Any] = {}
    for name, declared in Article.model_fields.items():
        if name in omit:
            continue
        default = (
            ...
            if required or declared.is_required()
            else declared.get_default(call_default_factory=True)
        )
        described = Field(default, description=declared.description)
        # The field's limits (ge=1, min_length=1, ...) hold in its JSON form too.
        limits = [m for m in declared.metadata if isinstance(m, annotated_types.BaseMetadata)]
        json_type = _json_type(declared.annotation)
        limited = Annotated[json_type, *limits] if limits else json_type
        derived[name] = fields.get(name, (limited, described))
    return derived | fields
