"""A self-hosted related-content engine: semantic and lexical related articles
and featured picks over a corpus of articles.

The public API::

    from recommender import Settings, Engine, build_index

    settings = Settings(index_dir=Path("var/index"))
    build_index(["corpus/"], settings, SentenceTransformerEmbedder())
    engine = Engine(settings)
    engine.related("botox-intensive-rehab-chronic-stroke", k=3)
"""

from .articles import Article, ArticleId, Status, json_fields
from .config import EXPERIMENT_KNOBS, PARAMETERS, REQUEST_KNOBS, Settings
from .corpus import CorpusLoad, ReadOptions, Rejection, load_corpus
from .editing import RuleEditor
from .embedding import Embedder, EmbeddingCache, SentenceTransformerEmbedder
from .embedding_service import EmbeddingProcess, RemoteEmbedder
from .engine import ArticlePage, Engine, Recommendations
from .errors import (
    ArticleNotFound,
    ExperimentConflict,
    ExperimentNotFound,
    IndexLocked,
    InvalidArgument,
    InvalidCorpus,
    InvalidEvent,
    InvalidRule,
    JobConflict,
    ModelUnavailable,
    NoSnapshot,
    RecommenderError,
    RuleNotFound,
    SchemaBehind,
    SnapshotCorrupt,
    SnapshotError,
    SnapshotMismatch,
    StaleVersion,
    StateUnavailable,
    TooManyEvents,
    UnknownEventArticle,
)
from .events import DEFAULT_VARIANT, article_events, record_events
from .experiments import BUCKETS, MAX_VARIANTS, Experiment, Variant
from .jobs import JobRunner
from .pipeline import IndexReport, build_index
from .ranking import Filters, RankingKnobs, Recommendation
from .request import Item
from .rules import MAX_PIN_POSITION, ArticleRules, Pin, RuleSet, RuleStore
from .snapshot import Manifest, Snapshot, SnapshotStore
from .state import State, open_state
from .stores import EventStore

__all__ = [
    "BUCKETS",
    "DEFAULT_VARIANT",
    "EXPERIMENT_KNOBS",
    "MAX_PIN_POSITION",
    "MAX_VARIANTS",
    "PARAMETERS",
    "REQUEST_KNOBS",
    "Article",
    "ArticleId",
    "ArticleNotFound",
    "ArticlePage",
    "ArticleRules",
    "CorpusLoad",
    "Embedder",
    "EmbeddingCache",
    "EmbeddingProcess",
    "Engine",
    "EventStore",
    "Experiment",
    "ExperimentConflict",
    "ExperimentNotFound",
    "Filters",
    "IndexLocked",
    "IndexReport",
    "InvalidArgument",
    "InvalidCorpus",
    "InvalidEvent",
    "InvalidRule",
    "Item",
    "JobConflict",
    "JobRunner",
    "Manifest",
    "ModelUnavailable",
    "NoSnapshot",
    "Pin",
    "RankingKnobs",
    "ReadOptions",
    "Recommendation",
    "Recommendations",
    "RecommenderError",
    "Rejection",
    "RemoteEmbedder",
    "RuleEditor",
    "RuleNotFound",
    "RuleSet",
    "RuleStore",
    "SchemaBehind",
    "SentenceTransformerEmbedder",
    "Settings",
    "Snapshot",
    "SnapshotCorrupt",
    "SnapshotError",
    "SnapshotMismatch",
    "SnapshotStore",
    "StaleVersion",
    "State",
    "StateUnavailable",
    "Status",
    "TooManyEvents",
    "UnknownEventArticle",
    "Variant",
    "article_events",
    "build_index",
    "json_fields",
    "load_corpus",
    "open_state",
    "record_events",
]
