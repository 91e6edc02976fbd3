"""`python -m bot`: the same as the `cameo` command."""

from bot.cli import entry_point

entry_point()
