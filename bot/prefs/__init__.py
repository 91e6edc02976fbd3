"""Preset scene settings: a member's own per server, and a character's from its owner."""
