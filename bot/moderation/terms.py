"""Matching blocked terms against member text: whole words, after Unicode normalisation and
case folding, so "ＮＳＦＷ", "Nsfw" and spaced-out tricks such as "n s f w" or "n.s.f.w" are
caught, while "Essex" never matches "sex".

Text is split into words once (linear time), and each plain term is a short sequence of words
looked up in a set. A term written between slashes (`/n[a4]ked/`) is a regular expression,
searched in the same normalised words (lower case, single spaces): it runs on RE2, whose
time grows linearly with the text whatever the pattern (no backtracking, so no pattern can
stall the bot), and whose memory per pattern is capped. RE2 has no backreferences or
look-around; a pattern using them is refused when it is added, with RE2's reason.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

import re2  # type: ignore[import-untyped]

from bot.errors import CameoError

TERM_MAX = 60
PATTERN_MAX = 200  # a pattern, slashes included
# RE2 builds an automaton per pattern; this caps its memory (RE2's default is 8 MiB), so 500
# patterns stay small. A pattern that needs more is refused as too complex.
PATTERN_MEMORY = 1 << 20
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


def is_pattern(term: str) -> bool:
    """A term written as /pattern/."""
    text = term.strip()
    return len(text) > 2 and text.startswith("/") and text.endswith("/")


def shown(key: str) -> str:
    """A term as Discord shows it in a message: a pattern in a code span (so its brackets and
    bars are not read as formatting), a plain term in quotes."""
    if is_pattern(key):
        return "`" + key.replace("`", "ˋ") + "`"
    return f"“{key}”"


def compile_pattern(key: str) -> re2._Regexp:
    """A pattern key (`/…/`) compiled for matching; InvalidTerm with RE2's reason if it can't be."""
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # RE2 would print each refusal to stderr
    options.max_mem = PATTERN_MEMORY
    try:
        return re2.compile(key[1:-1], options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise InvalidTerm(
            f"That pattern can't be used: {reason}. Patterns run on RE2, which has no "
            "backreferences or look-around."
        ) from exc


def term_key(term: str) -> str:
    """A term as it is stored and matched: a plain term's words, space-separated, or a
    pattern as typed between its slashes. Refused if empty, too long or (a pattern) invalid."""
    if is_pattern(term):
        key = term.strip()
        if len(key) > PATTERN_MAX:
            raise InvalidTerm(f"A pattern can be at most {PATTERN_MAX} characters.")
        compile_pattern(key)
        return key
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

    keys: frozenset[str]  # plain terms
    longest: int  # the most words in one plain term
    patterns: tuple[tuple[str, re2._Regexp], ...] = field(default=())  # (key, compiled)

    @classmethod
    def of(cls, keys: Iterable[str]) -> TermList:
        found = frozenset(keys)
        plain = frozenset(key for key in found if not is_pattern(key))
        patterns = []
        for key in sorted(found - plain):
            try:
                patterns.append((key, compile_pattern(key)))
            except InvalidTerm:
                continue  # stored by an older RE2 that accepted it; never fatal to a check
        return cls(plain, max((len(key.split()) for key in plain), default=0), tuple(patterns))

    def first_match(self, text: str) -> str | None:
        """The first blocked term in `text` (as its key), or None."""
        if not self.keys and not self.patterns:
            return None
        words = words_of(text)
        for candidates in (words, _joined_letters(words)):
            for start in range(len(candidates)):
                for size in range(1, min(self.longest, len(candidates) - start) + 1):
                    candidate = " ".join(candidates[start : start + size])
                    if candidate in self.keys:
                        return candidate
            normalised = " ".join(candidates)
            for key, pattern in self.patterns:
                if pattern.search(normalised) is not None:
                    return key
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
