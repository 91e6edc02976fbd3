"""Rules for character names and descriptions: what is allowed and how names compare."""

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
_SPACES = re.compile(r"\s+")


class InvalidText(CameoError):
    pass


def clean_name(raw: str) -> str:
    """Return the name as it will be shown: NFC, trimmed, inner whitespace collapsed.

    Raises InvalidText unless it has 1 to 32 visible characters and nothing invisible.
    """
    name = _SPACES.sub(" ", unicodedata.normalize("NFC", raw)).strip()
    if any(unicodedata.category(ch) in _INVISIBLE_CATEGORIES for ch in name):
        raise InvalidText("Names can't contain invisible or control characters.")
    visible = sum(
        1 for ch in name if unicodedata.category(ch) not in _COMBINING and not ch.isspace()
    )
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
