"""Ideogram Character's own spellings of Cameo's options, shared by the services that pass
them through unchanged (Segmind and PixelDojo take them as the upstream model documents them;
Apiframe takes the same styles and magic-prompt values but lower-case speeds)."""

from __future__ import annotations

SPEEDS = {"turbo": "Turbo", "default": "Default", "quality": "Quality"}
STYLES = {"auto": "Auto", "realistic": "Realistic", "fiction": "Fiction"}
MAGIC_PROMPT = {"auto": "Auto", "on": "On", "off": "Off"}
