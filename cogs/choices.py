"""The choices slash options offer for scene settings, in one place: `/scene`, `/prefs`,
`/character edit`'s defaults and `/admin quota price` all offer the same ones. discord.py builds
a command's choices from a `Literal` (or a list, for more than Literal reads well)."""

from __future__ import annotations

from typing import Literal

from discord import app_commands

from bot.providers.shapes import ASPECT_RATIOS

StyleChoice = Literal["auto", "realistic", "fiction", "general", "design"]
SpeedChoice = Literal["turbo", "default", "quality"]
MagicChoice = Literal["auto", "on", "off"]
FormatChoice = Literal["webp", "jpg", "png"]
ASPECT_CHOICES = [app_commands.Choice(name=ratio, value=ratio) for ratio in ASPECT_RATIOS]
