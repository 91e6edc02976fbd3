"""Everything that touches discord.py: the bot class, interaction replies and error ids,
command sync, endpoint redirection, the fair gateway reader, the bot-wide REST pacer."""
