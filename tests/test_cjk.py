"""Lexical terms for Chinese, Japanese and Korean: character pairs, the stretches
shown as shared terms, and English left exactly as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recommender import Engine, Settings, build_index
from recommender.cjk import bigrams, fold_width, runs, shared_stretch
from recommender.corpus import load_corpus
from recommender.errors import InvalidArgument
from recommender.fields import lexical_fields
from recommender.lexical import LexicalModel

from .conftest import BUNDLED_CORPUS
from .fakes import FakeEmbedder

FIXTURES = Path(__file__).parent / "fixtures" / "cjk"


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("中风患者", ["中风", "风患", "患者"]),
        # Punctuation ends a run; a run of one character is a term of its own.
        ("康复训练，手。", ["康复", "复训", "训练", "手"]),
        # Japanese: runs end where the script changes, hiragana makes no terms.
        ("脳卒中のリハビリ", ["脳卒", "卒中", "リハ", "ハビ", "ビリ"]),
        ("手の訓練を毎日行った", ["手", "訓練", "毎日", "日行"]),
        ("これはペンです", ["ペン"]),
        ("コーヒー・ブレイク", ["コー", "ーヒ", "ヒー", "ブレ", "レイ", "イク"]),
        # Korean: spaces already split words; pairs match a stem with its particle.
        ("뇌졸중 환자는", ["뇌졸", "졸중", "환자", "자는"]),
        # Half-width katakana is folded first.
        ("ﾘﾊﾋﾞﾘ", ["リハ", "ハビ", "ビリ"]),
        ("no such characters here", []),
    ],
)
def test_runs_become_character_pairs(text: str, terms: list[str]) -> None:
    assert bigrams(fold_width(text)) == terms


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        # Words around CJK runs stand alone; numbers are no terms, as in English.
        ("用Python编程，2025年", ["python", "用", "编程", "年"]),
        # Full-width letters and digits read as their ASCII forms.
        ("ＡＰＩ文档：Ｓｔｒｏｋｅ\u3000２０２５", ["api", "stroke", "文档"]),
        ("脳卒中（stroke）の患者", ["stroke", "脳卒", "卒中", "患者"]),
        ("재활 rehabilitation 훈련", ["rehabilitation", "재활", "훈련"]),
        # English stop words still go; the rest of English is untouched.
        ("the stroke unit and 中风", ["stroke", "unit", "中风"]),
    ],
)
def test_mixed_text_keeps_words_and_pairs(text: str, terms: list[str]) -> None:
    assert LexicalModel(stemming="none", cjk_terms="bigrams").terms(text) == terms


def test_the_old_tokeniser_reads_a_run_as_one_word() -> None:
    old = LexicalModel(stemming="none", cjk_terms="none")
    assert old.terms("用Python编程，中风患者") == ["用python编程", "中风患者"]


@pytest.mark.parametrize("stemming", ["none", "english"])
def test_english_scores_of_the_bundled_corpus_do_not_change(stemming: str) -> None:
    docs = [lexical_fields(a) for a in load_corpus([BUNDLED_CORPUS]).articles]
    assert len(docs) > 50
    before = LexicalModel(stemming=stemming, cjk_terms="none").fit(docs)  # type: ignore[arg-type]
    after = LexicalModel(stemming=stemming, cjk_terms="bigrams").fit(docs)  # type: ignore[arg-type]
    assert after.vocabulary_ == before.vocabulary_
    assert after.surface_ == before.surface_
    queries = before.transform_queries(docs)
    assert np.array_equal(after.scores(queries), before.scores(queries))
    assert np.array_equal(after.matrix_.toarray(), before.matrix_.toarray())


@pytest.mark.parametrize(
    ("pair", "texts", "shown"),
    [
        # A pair inside a longer stretch the two texts always share is shown whole.
        ("风患", [["两百多名中风患者"], ["例如中风患者上肢"]], "中风患者"),
        ("风康", [["老人中风康复"], ["他的中风康复"]], "中风康复"),
        # A pair met in different contexts is a word of its own.
        ("中风", [["中风后", "名中风患者"], ["中风患者"]], "中风"),
        ("训练", [["步行训练的"], ["康复训练组"]], "训练"),
        # Grammatical characters at the ends are trimmed...
        ("价格", [["的价格上涨"], ["的价格下降"]], "价格"),
        ("환자", [["환자는"], ["환자는"]], "환자"),
        # ...and a pair still holding one is not shown at all.
        ("的水", [["的水温"], ["的水分"]], ""),
        # Two texts sharing a whole sentence share copied text: the pair is shown.
        ("风患", [["研究人员跟踪了中风患者的恢复"], ["研究人员跟踪了中风患者的恢复"]], "风患"),
    ],
)
def test_a_pair_is_shown_as_the_stretch_both_texts_share(
    pair: str, texts: list[list[str]], shown: str
) -> None:
    assert shared_stretch(pair, texts) == shown


def test_shared_terms_of_a_small_corpus_read_as_words() -> None:
    docs = [
        {
            "title": "中风患者的步行训练",
            "body": "中风以后，患者尽早开始步行训练。康复科医生建议每天练习。",
        },
        {
            "title": "中风患者的手臂训练",
            "body": "手臂训练帮助中风患者恢复。康复科医生说训练要坚持。",
        },
        {"title": "红烧肉的做法", "body": "五花肉切块，小火慢炖一个小时。"},
    ]
    model = LexicalModel(stemming="english").fit(docs)
    query = model.weigh([docs[0]])
    # 中风 and 患者 are met apart (中风以后, 帮助中风患者恢复); 康复科医生 never is.
    assert model.shared_terms(query, model.matrix_[1], texts=(docs[0], docs[1])) == [
        "训练",
        "中风",
        "患者",
        "康复科医生",
    ]
    # Without the texts the pairs themselves are listed, middles of words included.
    assert model.shared_terms(query, model.matrix_[1]) == ["训练", "中风", "患者", "风患", "者的"]
    assert model.shared_terms(query, model.matrix_[2], texts=(docs[0], docs[2])) == []


def _engine(tmp_path: Path, *sources: Path, **changes: object) -> Engine:
    settings = Settings(index_dir=tmp_path / "index", reload_interval=0.0).replace(**changes)
    embedder = FakeEmbedder()  # reads no CJK: dense is 0, the lexical signal decides
    build_index(list(sources), settings, embedder)
    return Engine(settings, embedder=embedder)


SAME_SUBJECT = [
    ("zh", "zh-diabetes-diet", "zh-diabetes-exercise", ["血糖", "糖尿病患者", "可以"]),
    ("zh", "zh-rail-new-line", "zh-rail-holiday-tickets", ["高铁", "线路", "列车", "乘客", "车票"]),
    ("zh", "zh-tea-storage", "zh-tea-brewing", ["茶叶", "绿茶", "会变", "容易", "建议"]),
    ("zh", "zh-stroke-speech", "zh-stroke-swallowing", ["中风", "康复", "训练", "困难", "患者"]),
    ("ja", "ja-stroke-walking", "ja-stroke-hand", ["脳卒中", "訓練", "毎日", "患者", "早"]),
    ("ja", "ja-ramen-shoyu", "ja-ramen-miso", ["スープ", "ラーメン", "麺", "合"]),
    ("ja", "ja-quake-evacuation", "ja-quake-stockpile", ["地震", "防災", "専門家"]),
    ("ko", "ko-stroke-arm", "ko-stroke-walking", ["훈련", "뇌졸중", "환자", "재활", "시작"]),
    ("ko", "ko-kimchi-making", "ko-kimchi-storage", ["김치", "맛있게", "배추", "깨끗", "뒤"]),
]


@pytest.mark.parametrize(("language", "query", "other", "shared"), SAME_SUBJECT)
def test_same_subject_articles_share_terms(
    tmp_path: Path, language: str, query: str, other: str, shared: list[str]
) -> None:
    engine = _engine(tmp_path, FIXTURES / f"{language}.jsonl")
    first = engine.related(query, k=3, explain=True)[0]
    assert first.article.id == other
    assert first.lexical > 0.1 and first.lexical_rank == 1
    assert list(first.shared_terms) == shared


@pytest.mark.parametrize(
    ("language", "query", "other"),
    [
        ("zh", "zh-tea-storage", "zh-rail-new-line"),
        ("zh", "zh-stroke-speech", "zh-basketball"),
        ("ja", "ja-ramen-shoyu", "ja-quake-stockpile"),
        ("ja", "ja-stroke-hand", "ja-ramen-miso"),
        ("ko", "ko-kimchi-making", "ko-football"),
    ],
)
def test_different_subjects_share_nothing(
    tmp_path: Path, language: str, query: str, other: str
) -> None:
    engine = _engine(tmp_path, FIXTURES / f"{language}.jsonl")
    item = next(i for i in engine.related(query, k=10, explain=True) if i.article.id == other)
    assert (item.lexical, item.shared_terms) == (0.0, ())


def test_a_chinese_draft_finds_its_subject(tmp_path: Path) -> None:
    engine = _engine(tmp_path, FIXTURES / "zh.jsonl")
    draft = engine.recommend_text(
        "高铁新车站", "这条高铁线路的列车每天都坐满了乘客。", k=2, explain=True
    )
    first = draft.related[0]
    assert first.article.id == "zh-rail-new-line"
    assert list(first.shared_terms) == ["高铁线路", "列车", "车站", "乘客", "每天"]


def test_models_saved_before_cjk_terms_tokenise_as_built(tmp_path: Path) -> None:
    docs = [{"title": "中风患者", "body": "康复训练"}, {"title": "茶叶", "body": "绿茶"}]
    LexicalModel(cjk_terms="none").fit(docs).save(tmp_path)
    params = json.loads((tmp_path / "lexical.json").read_text(encoding="utf-8"))
    del params["cjk_terms"]
    (tmp_path / "lexical.json").write_text(json.dumps(params), encoding="utf-8")
    loaded = LexicalModel.load(tmp_path)
    assert loaded.cjk_terms == "none"
    assert sorted(loaded.vocabulary_) == ["中风患者", "康复训练", "绿茶", "茶叶"]
    # A query is read the way the snapshot was built: whole runs, not pairs.
    assert loaded.scores(loaded.transform_queries(["中风患者"]))[0][0] > 0
    assert loaded.scores(loaded.transform_queries(["中风"]))[0].tolist() == [0.0, 0.0]


def test_save_and_load_keep_the_cjk_terms(tmp_path: Path) -> None:
    docs = [{"title": "中风患者", "body": "康复训练"}, {"title": "茶叶", "body": "绿茶"}]
    model = LexicalModel().fit(docs)
    model.save(tmp_path)
    loaded = LexicalModel.load(tmp_path)
    assert loaded.cjk_terms == "bigrams" and "cjk=bigrams" in loaded.describe()
    assert loaded.scores(loaded.transform_queries(["中风"]))[0][0] > 0


def test_changing_cjk_terms_republishes_without_embedding_again(tmp_path: Path) -> None:
    source = FIXTURES / "zh.jsonl"
    engine = _engine(tmp_path, source, cjk_terms="none")
    assert engine.related("zh-tea-brewing", k=1)[0].lexical == 0.0
    before = engine.snapshot.version
    settings = engine.settings.replace(cjk_terms="bigrams")
    report = build_index([source], settings, FakeEmbedder())
    assert report.published and report.embedded == 0 and report.version != before
    assert (
        "cjk=bigrams"
        in Engine(settings, embedder=FakeEmbedder()).snapshot.manifest.build["lexical"]
    )


@pytest.mark.parametrize("value", ["jieba", "words", "BIGRAMS"])
def test_unknown_cjk_terms_are_refused(value: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        Settings.from_env({"RECOMMENDER_CJK_TERMS": value})
    assert caught.value.parameter == "RECOMMENDER_CJK_TERMS"
    with pytest.raises(ValueError, match="cjk_terms"):
        LexicalModel(cjk_terms=value)  # type: ignore[arg-type]


def test_runs_leave_hiragana_out() -> None:
    assert runs("脳卒中の患者がリハビリをした") == ["脳卒中", "患者", "リハビリ"]


@pytest.mark.real_model
def test_cjk_corpus_through_real_cli(tmp_path: Path) -> None:
    """Chinese, Japanese and Korean articles, the real (English) model, real processes.

    The dense weight is the one docs/sources.md advises for a site that keeps the
    packaged English model: its cosines between Chinese articles are noise.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOMMENDER_")}
    env["RECOMMENDER_DENSE_WEIGHT"] = "0.3"
    env["RECOMMENDER_INDEX_DIR"] = str(tmp_path / "index")

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "recommender.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    sources = [str(FIXTURES / f"{language}.jsonl") for language in ("zh", "ja", "ko")]
    assert "indexed 23 articles" in cli("index", *sources)
    for _, query, other, shared in SAME_SUBJECT:
        first = json.loads(cli("related", query, "--json", "-k", "3"))["items"][0]
        assert first["id"] == other
        assert first["explanation"]["lexical"] > 0.1
        # Three languages in one index weigh terms apart from one language alone, so
        # the order may differ from SAME_SUBJECT's; the two leading words are there.
        assert set(shared[:2]) <= set(first["explanation"]["shared_terms"])
