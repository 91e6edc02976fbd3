"""The one place logging is configured; it also keeps secrets out of every log line."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import TextIO

REDACTED = "[redacted]"

# Interaction tokens are not configured secrets: Discord hands out a new one with every
# interaction, and for 15 minutes it lets anyone answer, edit or follow up as the bot. At DEBUG,
# discord.py logs them in two shapes, so they are found by shape rather than by value:
# - the path segment after the id in interaction and webhook URLs
#   (`/interactions/<id>/<token>/callback`, `/webhooks/<application id>/<token>/messages/...`);
# - the "token" field of gateway payloads, which discord.py logs as a Python dict (single quotes)
#   and others might log as JSON (double quotes, sometimes escaped inside another string).
_TOKEN_IN_URL = re.compile(r"(/(?:interactions|webhooks)/\d+/)[^/?#\s'\"\\]+")
_TOKEN_FIELD = re.compile(r"""(\\?["'](?:\w+_)?token\\?["']\s*:\s*\\?["'])[^"'\\]+""")


def redact_interaction_tokens(text: str) -> str:
    """Replace interaction and webhook tokens in URLs and in "token" fields."""
    # Substring checks first: they cost almost nothing, and most lines contain neither.
    if "/interactions/" in text or "/webhooks/" in text:
        text = _TOKEN_IN_URL.sub(rf"\1{REDACTED}", text)
    if "token" in text:
        text = _TOKEN_FIELD.sub(rf"\1{REDACTED}", text)
    return text


class RedactSecrets(logging.Filter):
    """Replace configured secrets and interaction tokens in a record's message and traceback.

    Our own code never logs secrets; this catches what a library might echo back (a URL, a
    request header in an exception, a gateway payload at DEBUG), as a second line of defence.
    As a handler's filter it runs only for records that handler is about to emit.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return redact_interaction_tokens(text)

    def filter(self, record: logging.LogRecord) -> bool:
        # Store the rendered, scrubbed message whether or not it changed: the formatter then
        # uses it as is instead of formatting the arguments (a whole gateway payload) again.
        record.msg, record.args = self._scrub(record.getMessage()), None
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, scrubbed, so the formatter does not render the raw one.
            record.exc_text = self._scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self._scrub(record.stack_info)
        return True


def make_handler(stream: TextIO, secrets: Iterable[str]) -> logging.Handler:
    """Return the production handler: one line format, secrets and tokens redacted."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    handler.addFilter(RedactSecrets(secrets))
    return handler


def configure_logging(level: str, secrets: Iterable[str]) -> None:
    """Send logs to stderr in one format, at the given level, with secrets redacted."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(make_handler(sys.stderr, secrets))
    root.setLevel(level)
    # httpx logs every request URL at INFO; useful when debugging, noise otherwise.
    logging.getLogger("httpx").setLevel(max(logging.getLevelName(level), logging.WARNING))
