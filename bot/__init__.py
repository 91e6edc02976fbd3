"""Cameo: a Discord bot that keeps characters consistent across every picture."""

__version__ = "0.1.0"
