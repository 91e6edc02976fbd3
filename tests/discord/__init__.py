"""Loopback Discord emulator: a Discord-compatible server the real discord.py talks to in tests.

Start with :class:`tests.discord.emulator.DiscordEmulator`; the ``emulator`` pytest fixture lives in
:mod:`tests.discord.fixtures`.
"""
