"""The lexical model: BM25 with field weights and optional stemming."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recommender import Settings, build_index, neighbours
from recommender.corpus import load_corpus
from recommender.errors import InvalidArgument
from recommender.fields import lexical_fields
from recommender.lexical import LexicalModel, TermCounts, merge_term_counts

from .conftest import BUNDLED_CORPUS, article, make_engine
from .fakes import FakeEmbedder

DOCS = [
    {
        "title": "Strokes and rehabilitation",
        "body": "patients rehabilitating after strokes: rehabilitation works",
    },
    {"title": "Sleep", "body": "insomnia at night, sleeping badly"},
    {"title": "Walking", "body": "gait training and walking speed"},
]


def score(model: LexicalModel, query: str) -> np.ndarray:
    return model.scores(model.transform_queries([query]))[0]


def test_stemming_matches_inflected_forms() -> None:
    plain = LexicalModel().fit(DOCS)
    stemmed = LexicalModel(stemming="english").fit(DOCS)
    query = "stroke rehabilitate slept"
    assert score(plain, query)[0] == 0.0  # no exact word in common
    scores = score(stemmed, query)
    assert scores[0] > 0.0 and scores[2] == 0.0


def test_shared_terms_show_words_the_corpus_uses_not_stems() -> None:
    model = LexicalModel(stemming="english").fit(DOCS)
    query = model.weigh(["rehabilitation of a stroke"])
    terms = model.shared_terms(query, model.matrix_[0])
    # "strok" and "rehabilit" are the stems; "rehabilitation" is used more than
    # "rehabilitating", which has the same stem.
    assert set(terms) == {"strokes", "rehabilitation"}


def test_field_weights_scale_the_counts_of_each_field() -> None:
    doc = {"title": "aphasia", "summary": "aphasia", "tags": "speech", "body": "aphasia words"}
    model = LexicalModel(field_weights={"title": 3, "summary": 0.5, "tags": 0, "body": 1})
    model.fit([doc, {"title": "other", "body": "words"}])
    counts = model.counts([doc]).toarray()[0]
    assert counts[model.vocabulary_["aphasia"]] == pytest.approx(3 + 0.5 + 1)
    assert counts[model.vocabulary_["words"]] == pytest.approx(1)
    assert "speech" not in model.vocabulary_  # a field weighing 0 is not read at all


def test_a_heavier_title_ranks_title_matches_higher() -> None:
    docs = [
        {"title": "Aphasia therapy", "body": "therapy sessions every week with a therapist"},
        {"title": "Weekly sessions", "body": "aphasia therapy therapist sessions in groups"},
    ]
    query = "aphasia"
    flat = score(LexicalModel(field_weights={"title": 1, "body": 1}).fit(docs), query)
    heavy = score(LexicalModel(field_weights={"title": 4, "body": 1}).fit(docs), query)
    assert flat[0] / flat[1] < heavy[0] / heavy[1]
    assert heavy[0] > heavy[1]


def test_default_field_weights_equal_the_title_counted_twice() -> None:
    # The weights that reproduce snapshots built before field weights existed.
    model = LexicalModel().fit([{"title": "gait", "body": "gait speed"}, {"body": "sleep"}])
    plain = LexicalModel(field_weights={"body": 1}).fit(["gait\ngait\ngait speed", "sleep"])
    assert np.allclose(model.matrix_.toarray(), plain.matrix_.toarray())


def test_save_and_load_keep_everything(tmp_path: Path) -> None:
    model = LexicalModel(stemming="english", field_weights={"title": 3, "body": 1}).fit(DOCS)
    model.save(tmp_path)
    loaded = LexicalModel.load(tmp_path)
    assert loaded.describe() == model.describe()
    assert loaded.surface_ == model.surface_
    query = "strokes rehabilitate"
    assert np.allclose(score(loaded, query), score(model, query))


def test_models_saved_before_stemming_existed_load_as_built(tmp_path: Path) -> None:
    model = LexicalModel().fit(DOCS)
    model.save(tmp_path)
    params = json.loads((tmp_path / "lexical.json").read_text())
    for key in ("stemming", "field_weights", "surface"):
        del params[key]
    (tmp_path / "lexical.json").write_text(json.dumps(params))
    loaded = LexicalModel.load(tmp_path)
    assert (loaded.stemming, loaded.field_weights["title"]) == ("none", 2.0)
    assert np.allclose(score(loaded, "strokes sleep"), score(model, "strokes sleep"))


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="stemming"):
        LexicalModel(stemming="klingon")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="field"):
        LexicalModel(field_weights={"author": 1.0})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RECOMMENDER_STEMMING", "porter"),
        ("RECOMMENDER_TITLE_WEIGHT", "-1"),
        ("RECOMMENDER_BM25_B", "1.5"),
        ("RECOMMENDER_BM25_K1", "-0.1"),
    ],
)
def test_lexical_settings_are_validated(variable: str, value: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        Settings.from_env({variable: value})
    assert caught.value.parameter == variable


def test_changing_stemming_republishes_without_embedding_again(
    settings: Settings, tmp_path: Path
) -> None:
    plain = settings.replace(stemming="none")
    engine = make_engine(plain, tmp_path / "c.jsonl", [article("x", "Strokes", "strokes")])
    before = engine.snapshot.version
    assert not engine.recommend_text("Draft", "a stroke", k=3, explain=True).related[0].shared_terms
    stemmed = settings.replace(stemming="english")
    embedder = FakeEmbedder()
    report = build_index([tmp_path / "c.jsonl"], stemmed, embedder)
    assert report.published and report.embedded == 0 and report.version != before
    engine.reload()
    assert engine.snapshot.lexical.stemming == "english"
    items = engine.recommend_text("Draft", "a stroke", k=3, explain=True).related
    best = items[0]
    assert best.article.id == "x" and best.shared_terms == ("strokes",)


def test_length_normalisation_follows_b() -> None:
    docs = [{"body": "aphasia"}, {"body": "aphasia " + "therapy session notes " * 20}]
    normalised = score(LexicalModel(b=0.75).fit(docs), "aphasia")
    flat = score(LexicalModel(b=0.0).fit(docs), "aphasia")
    assert normalised[0] > normalised[1]  # one mention in a short text weighs more
    assert flat[0] == pytest.approx(flat[1])  # b = 0: length does not matter


def test_bm25_settings_reach_the_snapshot(settings: Settings, tmp_path: Path) -> None:
    tuned = settings.replace(bm25_k1=2.0, bm25_b=0.4)
    engine = make_engine(tuned, tmp_path / "c.jsonl")
    assert (engine.snapshot.lexical.k1, engine.snapshot.lexical.b) == (2.0, 0.4)
    assert "k1=2,b=0.4" in engine.snapshot.manifest.build["lexical"]


@pytest.mark.parametrize("stemming", ["english", "none"])
def test_a_fit_reusing_the_previous_counts_equals_a_fit_from_scratch(
    stemming: str, tmp_path: Path
) -> None:
    docs = [lexical_fields(a) for a in load_corpus([BUNDLED_CORPUS]).articles]
    previous = LexicalModel(stemming=stemming).fit(docs)  # type: ignore[arg-type]
    previous.save(tmp_path)
    previous = LexicalModel.load(tmp_path, word_counts=True)
    # A reindex: 5 articles removed, 3 changed, 4 added, and the order shuffled.
    order = random.Random(5).sample(range(len(docs)), len(docs))
    removed, changed, kept = order[:5], order[5:8], order[8:]
    rows: list[tuple[dict[str, str] | Mapping[str, str], int | None]] = [
        (docs[row], row) for row in kept
    ]
    rows += [({**docs[row], "body": docs[row]["body"] + " zebra strokes"}, None) for row in changed]
    rows += [({"title": f"New {n}", "body": "walking after strokes " * n}, None) for n in (1, 2, 3)]
    rows += [({"title": "Stop words only", "body": "the and of"}, None)]
    random.Random(6).shuffle(rows)
    documents = [document for document, _ in rows]
    again = LexicalModel(stemming=stemming).fit(  # type: ignore[arg-type]
        documents,
        previous=previous,
        reused=[row for _, row in rows],
        dropped=[docs[row] for row in removed + changed],
    )
    scratch = LexicalModel(stemming=stemming).fit(documents)  # type: ignore[arg-type]
    assert again.vocabulary_ == scratch.vocabulary_
    assert again.surface_ == scratch.surface_ and again.word_counts_ == scratch.word_counts_
    assert np.array_equal(again.idf_, scratch.idf_)
    assert (again.matrix_ != scratch.matrix_).nnz == 0
    for name, counts in scratch.field_counts_.items():
        assert (again.field_counts_[name] != counts).nnz == 0


def cut_counting(model: LexicalModel, size: int) -> Callable[[Sequence[Any]], TermCounts]:
    """Counting as a cluster build counts: blocks of ``size`` documents, merged."""

    def count(documents: Sequence[Any]) -> TermCounts:
        blocks = [documents[i : i + size] for i in range(0, len(documents), size)]
        return merge_term_counts([model.count_terms(block) for block in blocks])

    return count


@pytest.mark.parametrize(("stemming", "size"), [("english", 1), ("english", 7), ("none", 50)])
def test_a_fit_counted_in_blocks_equals_a_fit_counted_at_once(stemming: str, size: int) -> None:
    docs = [lexical_fields(a) for a in load_corpus([BUNDLED_CORPUS]).articles]
    docs += [{"title": "", "body": "the and of"}, {"title": "中风患者 康复", "body": ""}]
    model = LexicalModel(stemming=stemming)  # type: ignore[arg-type]
    blocks = model.fit(docs, count=cut_counting(model, size))
    at_once = LexicalModel(stemming=stemming).fit(docs)  # type: ignore[arg-type]
    assert blocks.vocabulary_ == at_once.vocabulary_ and len(at_once.vocabulary_) > 1000
    assert blocks.surface_ == at_once.surface_ and blocks.word_counts_ == at_once.word_counts_
    assert np.array_equal(blocks.idf_, at_once.idf_)
    assert (blocks.matrix_ != at_once.matrix_).nnz == 0
    for name, counts in at_once.field_counts_.items():
        assert (blocks.field_counts_[name] != counts).nnz == 0


def test_term_counts_of_documents_without_terms_merge() -> None:
    model = LexicalModel()
    empty = model.count_terms([{"title": "", "body": "the of"}])
    some = model.count_terms([{"title": "Gait", "body": "walking"}])
    merged = merge_term_counts([empty, some, empty])
    assert merged.terms == some.terms
    assert merged.by_field["body"].shape == (3, len(some.terms))
    assert merged.by_field["title"].getrow(1).nnz == 1
    assert merged.by_field["body"].getrow(0).nnz == 0
    with pytest.raises(ValueError, match="no term counts"):
        merge_term_counts([])


def test_more_like_this_for_outside_documents_ranks_by_every_posting() -> None:
    """Live upserts are linked to the indexed articles that best match a query of
    their strongest terms: the same list, ties by position, whether the rows come in
    one block or several."""
    docs = [lexical_fields(a) for a in load_corpus([BUNDLED_CORPUS]).articles]
    model = LexicalModel().fit(docs[:40])
    outside = model.weigh([*docs[40:], {"title": "", "body": "the of"}])
    queries = neighbours.strongest_terms(outside, neighbours.QUERY_TERMS)
    every = model.scores(queries)  # dense: every indexed article's score per query
    k = 7
    expected = np.full((outside.shape[0], k), -1, dtype=np.int32)
    for row, values in enumerate(every):
        ranked = sorted(np.flatnonzero(values > 0), key=lambda p: (-values[p], p))[:k]
        expected[row, : len(ranked)] = ranked
    assert (expected[:-1, 0] >= 0).all() and (expected[-1] == -1).all()
    for block in (1, 4, 256):
        assert np.array_equal(model.more_like_this_for(outside, k, block=block), expected)
