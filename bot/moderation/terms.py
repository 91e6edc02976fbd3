"""Matching blocked terms against member text: whole words, after Unicode normalisation and
case folding, so "ＮＳＦＷ", "Nsfw" and spaced-out tricks such as "n s f w" or "n.s.f.w" are
caught, while "Essex" never matches "sex".

No regular expression built from a member's or moderator's text is ever run: text is split
into words once (linear time), and each term is a short sequence of words looked up in a set,
so no input can make a check slow.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from bot.errors import CameoError

TERM_MAX = 60
TERMS_MAX = 500
# A term of more words than this is a sentence, not a term.
TERM_WORDS_MAX = 5
_WORD = re.compile(r"\w+")
# Invisible characters (zero-width spaces and joiners, bidi marks) vanish before matching, so
# "ns\u200bfw" is "nsfw".
_INVISIBLE = {"Cf", "Cc", "Cs"}

# Cameo's default list, off unless a server switches it on: sexual content and gore, the
# usual reasons a community keeps pictures out of its channels. Kept short and unambiguous
# (no word that is also an everyday word), since a false refusal annoys everyone.
DEFAULT_TERMS = (
    "nsfw",
    "nude",
    "nudes",
    "naked",
    "nudity",
    "topless",
    "porn",
    "porno",
    "pornographic",
    "hentai",
    "explicit sex",
    "sex scene",
    "genitals",
    "gore",
    "gory",
    "dismembered",
    "decapitated",
)


class InvalidTerm(CameoError):
    pass


def words_of(text: str) -> list[str]:
    """The text's words, normalised: NFKC, case-folded, invisible characters removed."""
    visible = "".join(ch for ch in text if unicodedata.category(ch) not in _INVISIBLE)
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", visible).casefold())
    # Accents go too, so "nüde" is "nude".
    bare = "".join(
        ch for ch in unicodedata.normalize("NFD", folded) if unicodedata.category(ch) != "Mn"
    )
    return _WORD.findall(bare)


def term_key(term: str) -> str:
    """A term as it is stored and matched: its words, space-separated. Refused if empty or
    too long."""
    words = words_of(term)
    if not words:
        raise InvalidTerm("Give a term with at least one letter or digit.")
    if len(term) > TERM_MAX or len(words) > TERM_WORDS_MAX:
        raise InvalidTerm(
            f"A term can be at most {TERM_MAX} characters and {TERM_WORDS_MAX} words."
        )
    return " ".join(words)


@dataclass(frozen=True)
class TermList:
    """A server's terms, ready to check text against."""

    keys: frozenset[str]
    longest: int  # the most words in one term

    @classmethod
    def of(cls, keys: Iterable[str]) -> TermList:
        found = frozenset(keys)
        return cls(found, max((len(key.split()) for key in found), default=0))

    def first_match(self, text: str) -> str | None:
        """The first blocked term in `text` (as its key), or None."""
        if not self.keys:
            return None
        for words in (words_of(text), _joined_letters(words_of(text))):
            for start in range(len(words)):
                for size in range(1, min(self.longest, len(words) - start) + 1):
                    candidate = " ".join(words[start : start + size])
                    if candidate in self.keys:
                        return candidate
        return None


def _joined_letters(words: list[str]) -> list[str]:
    """Runs of single characters joined into one word: "n s f w" (or "n.s.f.w") is "nsfw"."""
    joined: list[str] = []
    run = ""
    for word in words:
        if len(word) == 1:
            run += word
            continue
        if run:
            joined.append(run)
            run = ""
        joined.append(word)
    if run:
        joined.append(run)
    return joined
