"""`python -m bot`: the same as the `cameo` command."""

from bot.cli.main import entry_point

entry_point()
