"""The :class:`Engine`: the published snapshot plus ranking, answering
``related``, ``featured`` and ``recommend_text``. Web and CLI layers call only this."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import cast

from .articles import Article
from .config import Settings
from .embedding import Embedder, SentenceTransformerEmbedder, embed_texts
from .errors import ArticleNotFound, InvalidArgument, SnapshotError, SnapshotMismatch
from .ranking import QueryWeights, Ranker, Recommendation
from .snapshot import Snapshot, SnapshotStore
from .text import dense_text, html_to_text, lexical_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recommendations:
    """Both blocks for one article or draft."""

    related: list[Recommendation]
    featured: list[Recommendation]


class Engine:
    """Answers related-article and featured-pick questions from the published snapshot.

    The embedding model is loaded only when a text outside the index must be
    embedded (drafts), so serving indexed articles starts in well under a second.
    A newly published snapshot is picked up on the next call after
    ``settings.reload_interval`` seconds; if it cannot be loaded the engine keeps
    serving the one it has.

    Args:
        settings: engine settings (index directory, model, ranking knobs).
        embedder: the model for drafts; default: the configured sentence-transformers model.
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.store = SnapshotStore(settings.index_dir)
        self.embedder: Embedder = embedder or SentenceTransformerEmbedder(
            settings.model, batch_size=settings.batch_size
        )
        self._lock = threading.Lock()
        self._snapshot, self._ranker = self._load(None)
        self._checked_at = time.monotonic()

    def _load(self, version: str | None) -> tuple[Snapshot, Ranker]:
        snapshot = Snapshot.load(self.store, version, expect_model=self.embedder.model_id)
        ranker = Ranker(
            snapshot,
            dense_weight=self.settings.dense_weight,
            candidates=self.settings.candidates,
            duplicate_threshold=self.settings.duplicate_threshold,
            query_weights=cast(QueryWeights, self.settings.query_weights),
        )
        log.info(
            "serving snapshot %s (%d articles)", snapshot.version, snapshot.manifest.article_count
        )
        return snapshot, ranker

    @property
    def snapshot(self) -> Snapshot:
        """The snapshot being served."""
        return self._snapshot

    def reload(self) -> bool:
        """Switch to the published snapshot if it changed; True if it did.

        Raises:
            SnapshotError: the published snapshot cannot be loaded (the old one stays).
        """
        with self._lock:
            self._checked_at = time.monotonic()
            published = self.store.current_version()
            if published is None or published == self._snapshot.version:
                return False
            self._snapshot, self._ranker = self._load(published)
            return True

    def maybe_reload(self) -> None:
        """Reload if the reload interval has passed; failures are logged, not raised."""
        if time.monotonic() - self._checked_at < self.settings.reload_interval:
            return
        try:
            self.reload()
        except SnapshotError as exc:
            log.error("keeping snapshot %s: %s", self._snapshot.version, exc)

    def _check_k(self, k: int | None) -> int:
        k = self.settings.default_k if k is None else k
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= self.settings.max_k:
            raise InvalidArgument("k", f"must be a whole number from 1 to {self.settings.max_k}")
        return k

    def article(self, article_id: str) -> Article:
        """One indexed article.

        Raises:
            ArticleNotFound: no such id.
        """
        self.maybe_reload()
        position = self._snapshot.positions.get(article_id)
        if position is None:
            raise ArticleNotFound(article_id)
        return self._snapshot.articles[position]

    def related(
        self, article_id: str, k: int | None = None, exclude: Collection[str] = ()
    ) -> list[Recommendation]:
        """The ``k`` articles most related to an indexed article (never itself or drafts)."""
        k = self._check_k(k)
        self.maybe_reload()
        ranker = self._ranker
        return ranker.related(ranker.query_for_article(article_id), k, exclude)

    def featured(
        self, article_id: str, k: int | None = None, exclude: Collection[str] = ()
    ) -> list[Recommendation]:
        """The ``k`` featured articles most relevant to an indexed article."""
        k = self._check_k(k)
        self.maybe_reload()
        ranker = self._ranker
        return ranker.featured(ranker.query_for_article(article_id), k, exclude)

    def recommend_text(
        self, title: str, body: str, k: int | None = None, tags: Sequence[str] = ()
    ) -> Recommendations:
        """Related and featured picks for a text that is not indexed (a draft).

        Raises:
            InvalidArgument: empty title or body, or bad ``k``.
        """
        k = self._check_k(k)
        if not title.strip():
            raise InvalidArgument("title", "must not be empty")
        if not html_to_text(body):
            raise InvalidArgument("body", "must not be empty (after reducing HTML to text)")
        draft = Article(id="draft", title=title, body=body, tags=tuple(tags))
        self.maybe_reload()
        ranker = self._ranker
        vector = embed_texts(
            self.embedder,
            [(draft.title, dense_text(draft))],
            chunk_tokens=self.settings.chunk_tokens,
            chunk_overlap=self.settings.chunk_overlap,
            progress=False,
        )[0]
        if vector.shape[0] != self._snapshot.manifest.dim:
            raise SnapshotMismatch(
                self.store.path(self._snapshot.version),
                f"model gives {vector.shape[0]} dimensions, snapshot has "
                f"{self._snapshot.manifest.dim}",
            )
        query = ranker.query_for_text(vector, lexical_text(draft), draft.title)
        related = ranker.related(query, k)
        featured = ranker.featured(query, k, exclude=[r.article.id for r in related])
        return Recommendations(related=related, featured=featured)


__all__ = ["ArticleNotFound", "Engine", "Recommendations"]
