"""Rules for character names and descriptions: what is allowed and how names compare.

`visible_length` is Cameo's one notion of text that shows on screen; prompts use it too.
"""

from __future__ import annotations

import re
import unicodedata

from bot.errors import CameoError

NAME_MAX = 32
DESCRIPTION_MAX = 1000

# Control, format (zero-width joiners, bidi overrides), private-use, unassigned and separator
# characters: invisible or misleading in a name, so refused rather than silently kept.
_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"}
_COMBINING = {"Mn", "Me"}
# Letters and symbols that draw nothing: the Hangul fillers (Unicode's default-ignorable letters)
# and the blank Braille pattern, the usual way to pass a blank for text.
_BLANK_GLYPHS = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}
_DRAWS_NOTHING = _INVISIBLE_CATEGORIES | _COMBINING
_SPACES = re.compile(r"\s+")


class InvalidText(CameoError):
    pass


def visible_length(text: str) -> int:
    """Count the characters that show on screen.

    Spaces of every kind, the invisible categories above (zero-width spaces and joiners, the
    byte order mark, bidi marks), combining marks (they only change the character before them)
    and blank glyphs do not count: text where this is 0 looks empty, however long it is.
    """
    return sum(
        1
        for ch in text
        if not ch.isspace()
        and ch not in _BLANK_GLYPHS
        and unicodedata.category(ch) not in _DRAWS_NOTHING
    )


def clean_name(raw: str) -> str:
    """Return the name as it will be shown: NFC, trimmed, inner whitespace collapsed.

    Raises InvalidText unless it has 1 to 32 visible characters and nothing invisible.
    """
    name = _SPACES.sub(" ", unicodedata.normalize("NFC", raw)).strip()
    if any(unicodedata.category(ch) in _INVISIBLE_CATEGORIES for ch in name):
        raise InvalidText("Names can't contain invisible or control characters.")
    visible = visible_length(name)
    if visible == 0:
        raise InvalidText("Give the character a name with at least one visible character.")
    if visible > NAME_MAX or len(name) > NAME_MAX * 4:
        raise InvalidText(f"Names can be at most {NAME_MAX} characters long.")
    return name


def name_key(name: str) -> str:
    """Return the form names are compared in: NFKC, case-folded, so look-alikes clash."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def clean_description(raw: str | None) -> str:
    """Return the description trimmed, with control characters (but not line breaks) refused."""
    if raw is None:
        return ""
    text = unicodedata.normalize("NFC", raw).replace("\r\n", "\n").strip()
    if any(unicodedata.category(ch) in {"Cc", "Cs"} and ch not in "\n\t" for ch in text):
        raise InvalidText("Descriptions can't contain control characters.")
    if len(text) > DESCRIPTION_MAX:
        raise InvalidText(
            f"Descriptions can be at most {DESCRIPTION_MAX} characters (this one has {len(text)})."
        )
    return text
