"""A self-hosted related-content engine: semantic and lexical related articles
and featured picks over a corpus of articles.

The public API::

    from recommender import Settings, Engine, build_index

    settings = Settings(index_dir=Path("var/index"))
    build_index(["corpus/"], settings, SentenceTransformerEmbedder())
    engine = Engine(settings)
    engine.related("botox-intensive-rehab-chronic-stroke", k=3)
"""

from .articles import Article
from .config import Settings
from .corpus import CorpusLoad, ReadOptions, Rejection, load_corpus
from .embedding import Embedder, EmbeddingCache, SentenceTransformerEmbedder
from .engine import ArticlePage, Engine, Recommendations
from .errors import (
    ArticleNotFound,
    InvalidArgument,
    InvalidCorpus,
    InvalidRule,
    ModelUnavailable,
    NoSnapshot,
    RecommenderError,
    SnapshotCorrupt,
    SnapshotError,
    SnapshotMismatch,
)
from .pipeline import IndexReport, build_index
from .ranking import Filters, RankingKnobs, Recommendation
from .rules import ArticleRules, Pin, RuleSet, RuleStore
from .snapshot import Manifest, Snapshot, SnapshotStore

__all__ = [
    "Article",
    "ArticleNotFound",
    "ArticlePage",
    "ArticleRules",
    "CorpusLoad",
    "Embedder",
    "EmbeddingCache",
    "Engine",
    "Filters",
    "IndexReport",
    "InvalidArgument",
    "InvalidCorpus",
    "InvalidRule",
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
    "RuleSet",
    "RuleStore",
    "SentenceTransformerEmbedder",
    "Settings",
    "Snapshot",
    "SnapshotCorrupt",
    "SnapshotError",
    "SnapshotMismatch",
    "SnapshotStore",
    "build_index",
    "load_corpus",
]
