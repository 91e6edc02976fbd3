"""Moderation: the rules a server's staff set for what Cameo makes there."""
