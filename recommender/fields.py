"""What each field of an article contributes to the two signals: the text the
embedding model reads, and the fields the lexical model weighs.

Apart from :mod:`recommender.text`, which prepares text and knows nothing of
articles, so that :mod:`recommender.articles` can use it without a cycle.
"""

from __future__ import annotations

from .articles import Article


def dense_text(article: Article) -> str:
    """The text the embedding model sees: title, summary, then body."""
    parts = [article.title, article.summary, article.body]
    return "\n\n".join(p for p in parts if p)


def lexical_fields(article: Article) -> dict[str, str]:
    """The fields the lexical model sees (weighted by the ``*_weight`` settings).

    Tags and categories are one field of words, because editors chose them.
    """
    labels = " ".join(article.tags + article.categories).replace("-", " ")
    return {
        "title": article.title,
        "summary": article.summary,
        "tags": labels,
        "body": article.body,
    }
