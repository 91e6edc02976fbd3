"""Discord's error responses: status, JSON error code and the nested ``errors`` tree.

Every error the emulator returns goes through :class:`ApiError`, so the body always has Discord's
shape (``{"message", "code", "errors"?}``) and discord.py raises the matching exception class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Issue:
    """One field-level problem, as in Discord's ``50035 Invalid Form Body`` errors tree."""

    path: tuple[str | int, ...]
    code: str
    message: str

    def describe(self) -> str:
        where = ".".join(str(p) for p in self.path) or "(body)"
        return f"{where}: {self.message}"


class ApiError(Exception):
    """An error response. ``violation`` says whether it means the bot broke a rule."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        issues: list[Issue] | None = None,
        detail: str | None = None,
        violation: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.issues = issues or []
        # A human sentence for the violation list; the body keeps Discord's terse message.
        self.detail = detail
        self.violation = violation

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.issues:
            data["errors"] = _errors_tree(self.issues)
        return data

    def describe(self) -> str:
        parts = [f"{self.status} {self.code} {self.message}"]
        if self.detail:
            parts.append(self.detail)
        parts.extend(issue.describe() for issue in self.issues)
        return "; ".join(parts)


def _errors_tree(issues: list[Issue]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for issue in issues:
        node = tree
        for part in issue.path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": issue.code, "message": issue.message})
    return tree


def invalid_form(issues: list[Issue]) -> ApiError:
    return ApiError(400, 50035, "Invalid Form Body", issues=issues)


def max_length(path: tuple[str | int, ...], limit: int, got: int) -> Issue:
    return Issue(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length. (got {got})")


def unknown_channel() -> ApiError:
    return ApiError(404, 10003, "Unknown Channel")


def unknown_message() -> ApiError:
    return ApiError(404, 10008, "Unknown Message")


def unknown_webhook(detail: str | None = None) -> ApiError:
    return ApiError(404, 10015, "Unknown Webhook", detail=detail)


def unknown_interaction(detail: str | None = None) -> ApiError:
    return ApiError(404, 10062, "Unknown interaction", detail=detail)


def unknown_command() -> ApiError:
    return ApiError(404, 10063, "Unknown application command")


def already_acknowledged(detail: str | None = None) -> ApiError:
    return ApiError(400, 40060, "Interaction has already been acknowledged.", detail=detail)


def invalid_webhook_token(detail: str | None = None) -> ApiError:
    return ApiError(401, 50027, "Invalid Webhook Token", detail=detail)


def missing_permissions(detail: str) -> ApiError:
    return ApiError(403, 50013, "Missing Permissions", detail=detail)


def missing_access(detail: str) -> ApiError:
    return ApiError(403, 50001, "Missing Access", detail=detail)


def entity_too_large(detail: str) -> ApiError:
    return ApiError(413, 40005, "Request entity too large", detail=detail)


def empty_message() -> ApiError:
    return ApiError(400, 50006, "Cannot send an empty message")


def cannot_edit_others() -> ApiError:
    return ApiError(403, 50005, "Cannot edit a message authored by another user")
