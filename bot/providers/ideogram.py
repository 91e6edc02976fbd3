"""Ideogram Character's spellings of Cameo's options, as the upstream model documents them.

Segmind takes these as its page lists them (seed page 000: style_type "Auto", "Fiction",
"Realistic"); PixelDojo's page lists the same fields as enums without values, so it gets the
spellings of the model it passes them to (Replicate's ideogram-character). Apiframe documents
its own spellings and keeps them in its client.
"""

from __future__ import annotations

SPEEDS = {"turbo": "Turbo", "default": "Default", "quality": "Quality"}
# Neither Segmind nor Replicate documents GENERAL or DESIGN for Ideogram Character, so the
# services using these spellings refuse those styles before anything is sent.
STYLES = {"auto": "Auto", "realistic": "Realistic", "fiction": "Fiction"}
MAGIC_PROMPT = {"auto": "Auto", "on": "On", "off": "Off"}
