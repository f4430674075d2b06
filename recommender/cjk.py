"""Lexical terms for text written without spaces: Chinese, Japanese and Korean.

A regular expression for words finds none in ``中风患者的康复训练``: the whole
sentence is one run of letters. Like Lucene's CJK analyzer, this module cuts each
run of Han, Katakana or Hangul characters into overlapping pairs of characters
(``中风 风患 患者 者的 ...``); a run of one character is a term of its own. Two
articles on one subject then share the pairs that spell their common words, with
no dictionary for any language, and idf makes pairs that are everywhere (``我们``,
``进行``) weigh little.

Runs are cut where the script changes, so a Japanese pair never spans kanji and
kana. Hiragana makes no terms: in running Japanese text it is mostly grammar
(particles, verb endings, auxiliaries such as の, は, ました, ている), which would
otherwise make any two Japanese articles look alike. The price is that a word
written only in hiragana (めまい) is not matched.

Full-width Latin letters and digits and half-width katakana are folded to their
usual forms first (``Ｐｙｔｈｏｎ`` is ``python``, ``ｶﾞ`` is ``ガ``), as Lucene's
CJK width filter does.

A pair is not always a word: ``风患`` is the middle of ``中风患者``. So shared
terms are shown as the longest stretch of text around the pair that is the same
wherever the pair occurs in the two articles (see :func:`shared_stretch`).
"""

from __future__ import annotations

import operator
import re
import unicodedata
from collections.abc import Sequence

_HAN = "\u3005\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
# Without U+30FB (・, a separator); with U+30FC (ー, the long-vowel mark).
_KATAKANA = "\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff"
_HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
_HIRAGANA = "\u3041-\u309f"

# One run per script, so that a run is one kind of writing.
_RUN = re.compile(f"[{_HAN}]+|[{_KATAKANA}]+|[{_HANGUL}]+|[{_HIRAGANA}]+")
_ANY = re.compile(f"[{_HAN}{_KATAKANA}{_HANGUL}{_HIRAGANA}]")
_HIRAGANA_RUN = re.compile(f"[{_HIRAGANA}]+")
# The halfwidth and fullwidth forms block (full-width ASCII, half-width katakana).
_WIDTH_FORMS = re.compile("[\uff00-\uffef]+")

MAX_STRETCH = 8
"""Longest shared stretch shown as one term, in characters; beyond it the pair
itself is shown (two articles that share a whole sentence share copied text)."""

# Grammatical characters trimmed from the ends of a shown stretch: Chinese 的 (either
# end) and 了 (at the end), Korean object and topic particles (at the end). They
# join most often with whatever word is next to them, so a pair still holding one
# after trimming (的水 from 的水温 and 的水分) is not shown: the rare words among
# them (目的, 为了, 가을) are still matched, only not listed.
_TRIM_START = frozenset("的")
_TRIM_END = frozenset("的了은는을를")


def fold_width(text: str) -> str:
    """Full-width ASCII to ASCII and half-width katakana to katakana (NFKC on the
    halfwidth and fullwidth forms block only; any other character is left alone)."""
    if not _WIDTH_FORMS.search(text):
        return text
    return _WIDTH_FORMS.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds any Han, kana or Hangul character."""
    return _ANY.search(text) is not None


def without_cjk(text: str) -> str:
    """``text`` with every run of Han, kana or Hangul replaced by a space, so the
    words around them (``Python`` in ``用Python编程``) stand alone."""
    return _RUN.sub(" ", text)


def runs(text: str) -> list[str]:
    """The runs of one script that make terms (hiragana runs make none)."""
    return [run for run in _RUN.findall(text) if not _HIRAGANA_RUN.fullmatch(run)]


def bigrams(text: str) -> list[str]:
    """The terms of ``text``'s Han, Katakana and Hangul runs: overlapping character
    pairs, or the character itself for a run of one."""
    terms: list[str] = []
    for run in runs(text):
        if len(run) == 1:
            terms.append(run)
        else:
            terms.extend(map(operator.add, run, run[1:]))
    return terms


def is_cjk_pair(term: str) -> bool:
    """Whether a term is a character pair made by :func:`bigrams`."""
    return len(term) == 2 and _ANY.match(term) is not None


def _trim(stretch: str) -> str:
    """``stretch`` without grammatical characters at its ends; empty if it would
    be shorter than two characters."""
    while stretch[:1] in _TRIM_START:
        stretch = stretch[1:]
    while stretch[-1:] in _TRIM_END:
        stretch = stretch[:-1]
    return stretch if len(stretch) >= 2 else ""


def shared_stretch(pair: str, texts: Sequence[Sequence[str]]) -> str:
    """The longest stretch around ``pair`` that is the same at each of its occurrences.

    ``texts`` are the runs (see :func:`runs`) of the texts compared. The stretch
    grows by one character to the left while every occurrence has the same
    character there, then to the right likewise; an occurrence at the edge of its
    run stops it. ``风患`` in two texts that both say ``中风患者`` becomes
    ``中风患者``; ``中风``, met in several contexts, stays ``中风``. A stretch longer
    than :data:`MAX_STRETCH` gives the pair back.

    Returns:
        The stretch, with grammatical characters trimmed from its ends (empty if
        less than two characters remain: nothing to show); the pair itself if it
        occurs in none of ``texts``.
    """
    spans = [
        (run, match.start(), match.start() + len(pair))
        for text in texts
        for run in text
        for match in re.finditer(f"(?={re.escape(pair)})", run)
    ]
    if not spans:
        return pair
    while True:
        lefts = {run[start - 1] if start else None for run, start, _ in spans}
        if len(lefts) == 1 and None not in lefts:
            spans = [(run, start - 1, end) for run, start, end in spans]
        else:
            rights = {run[end] if end < len(run) else None for run, _, end in spans}
            if len(rights) != 1 or None in rights:
                break
            spans = [(run, start, end + 1) for run, start, end in spans]
        if spans[0][2] - spans[0][1] > MAX_STRETCH:
            return pair
    run, start, end = spans[0]
    return _trim(run[start:end])
