"""The article record every source is read into, and its validation."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from .shortcodes import strip_shortcodes
from .text import decode_entities, html_to_text

KNOWN_FIELDS = (
    "id",
    "title",
    "body",
    "summary",
    "url",
    "tags",
    "categories",
    "published",
    "updated",
    "author",
    "status",
    "featured",
)

# An id is one segment of the API's URL path: no "/", "?", "#" or whitespace.
ID_MAX_LENGTH = 200
ID_PATTERN = r"^[^\s/?#]+$"
_ID = TypeAdapter(Annotated[str, Field(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)])

# Validation context keys (see Article.from_record and Article.from_stored).
_STORED = "stored"
_TITLE_IS_TEXT = "title_is_text"
_STRIP_SHORTCODES = "strip_shortcodes"


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be an article id, or ``None`` when it can."""
    try:
        _ID.validate_python(value)
    except ValidationError as exc:
        return str(exc.errors()[0]["msg"])
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


Timestamp = Annotated[datetime | None, BeforeValidator(parse_timestamp)]
Labels = Annotated[tuple[str, ...], BeforeValidator(parse_labels)]


class Article(BaseModel):
    """One article of the corpus.

    ``body`` is plain text: HTML in a source body is reduced to text on the way in.
    Fields a source carries beyond the known ones are kept in ``extra``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)
    title: str = Field(min_length=1)
    body: str
    summary: str = ""
    url: str | None = None
    tags: Labels = ()
    categories: Labels = ()
    published: Timestamp = None
    updated: Timestamp = None
    author: str | None = None
    status: Literal["published", "draft"] = "published"
    featured: Annotated[bool, BeforeValidator(parse_flag)] = False
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
        """Whether readers may see it (drafts never appear in results)."""
        return self.status == "published"

    def content_hash(self) -> str:
        """A digest of everything that affects how the article is indexed or shown."""
        payload = self.model_dump(mode="json")
        return hashlib.sha256(
            json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()

    def to_json(self) -> dict[str, Any]:
        """The article as a JSON-ready mapping (timestamps as ISO 8601 strings)."""
        return self.model_dump(mode="json")
