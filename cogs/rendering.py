"""Small pure functions that turn Cameo's data into embeds; no I/O here."""

from __future__ import annotations

import discord

BRAND_COLOUR = discord.Colour(0x7C5CFF)

ABOUT = (
    "Cameo keeps a character consistent across every picture. Register a character once from "
    "one image, then ask for scenes of them: the pictures land in a thread, ready to reroll, "
    "favourite or reuse."
)
