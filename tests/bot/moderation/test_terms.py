"""Matching blocked terms: whole words after normalisation, spacing tricks, and patterns on RE2."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.moderation.terms import InvalidTerm, TermList, term_key

TERMS = TermList.of([term_key("NSFW"), term_key("sex scene"), term_key("Dragon fire")])


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("an NSFW drawing", "nsfw"),
        ("ＮＳＦＷ", "nsfw"),  # full-width letters
        ("n s f w", "nsfw"),
        ("n.s.f.w!", "nsfw"),
        ("ns\u200bfw", "nsfw"),  # a zero-width space inside
        ("a Sex   Scene", "sex scene"),
        ("dragon-fire", "dragon fire"),
        ("nşfw", "nsfw"),  # an accent
        ("Essex at dusk", None),  # inside another word: not a match
        ("sexscene", None),
        ("a dragon breathing fire", None),
        ("", None),
    ],
)
def test_terms_match_whole_words_however_they_are_written(text: str, found: str | None) -> None:
    assert TERMS.first_match(text) == found


def test_terms_are_refused_when_empty_or_too_long() -> None:
    with pytest.raises(InvalidTerm):
        term_key("  ...  ")
    with pytest.raises(InvalidTerm):
        term_key("one two three four five six")
    assert term_key("  Dragon   FIRE ") == "dragon fire"


@given(st.text(max_size=300))
def test_any_text_is_checked_without_error(text: str) -> None:
    TERMS.first_match(text)


def test_a_long_hostile_text_is_read_once_word_by_word() -> None:
    # What a catastrophic regular expression would take forever on: no pattern runs here, the
    # text is split into words once and each window looked up in a set.
    hostile = "a " * 50_000 + "x" * 10_000 + "!"
    assert TERMS.first_match(hostile) is None


PATTERNS = TermList.of([term_key("/n[a4]k(e|3)d/"), term_key("/\\bblood ?bath/")])


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("a NAK3D knight", "/n[a4]k(e|3)d/"),
        ("ｎａｋｅｄ", "/n[a4]k(e|3)d/"),  # full-width: patterns see the normalised words
        ("n a k e d", "/n[a4]k(e|3)d/"),  # and the spaced-out letters joined
        ("a bloodbath", "/\\bblood ?bath/"),
        ("Blood   bath", "/\\bblood ?bath/"),
        ("snaked through the hills", "/n[a4]k(e|3)d/"),  # a pattern matches where it says
        ("a quiet lake", None),
    ],
)
def test_patterns_search_the_normalised_words(text: str, found: str | None) -> None:
    assert PATTERNS.first_match(text) == found


@pytest.mark.parametrize("pattern", ["/(a)\\1/", "/foo(?=bar)/", "/a++/", "/(/"])
def test_a_pattern_re2_cannot_run_is_refused_with_its_reason(pattern: str) -> None:
    with pytest.raises(InvalidTerm, match="can't be used"):
        term_key(pattern)


@pytest.mark.timeout(20)
def test_a_catastrophic_pattern_cannot_hang_a_check() -> None:
    # On a backtracking engine (Python's re) each of these takes exponential time on a long
    # run of "a"s that fails at its end; RE2 reads the text once. A hang fails the test by
    # its timeout, which is minutes away from what RE2 takes (milliseconds).
    terms = TermList.of([term_key("/(a+)+b/"), term_key("/(a|aa)+c/"), term_key("/(.*a){20}z/")])
    hostile = "a" * 50_000 + " !"
    assert terms.first_match(hostile) is None
    assert terms.first_match(hostile + " aab") == "/(a+)+b/"


def test_a_pattern_longer_than_the_limit_is_refused() -> None:
    with pytest.raises(InvalidTerm, match="at most"):
        term_key("/" + "a" * 300 + "/")
