"""The one error type whose message is meant for users, and ids for the ones that are not."""

from __future__ import annotations

import secrets


class CameoError(Exception):
    """A problem the user can understand and act on; its message is shown to them as is.

    Raise it (or a subclass) anywhere in the domain: the Discord layer shows the text privately
    to the person who asked, and the command line prints it and exits with a non-zero status.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def new_error_id() -> str:
    """Return a short id that a user can quote and an operator can grep the logs for."""
    return secrets.token_hex(4)
