"""Reading the services' JSON answers into models, at the edge of each client.

Each client declares models of exactly the fields Cameo uses (services add fields freely, so
the rest is ignored) and reads every answer through `read_answer`: the body is validated once,
and a malformed one becomes one typed error that names the service, the call and the field.
Which error depends on the call: before any money is spent the service is merely misbehaving
(`Unavailable`, so the router may try another); once a paid submission was accepted, nothing
may fail over (`OutcomeUnknown`), whatever the body looked like.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    OnErrorOmit,
    Strict,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from bot.providers.errors import ProviderError

T = TypeVar("T")
AnswerT = TypeVar("AnswerT", bound="Answer")

# How a call site turns "this answer is malformed" into its error: an error class such as
# Unavailable or OutcomeUnknown, called with (provider, detail).
Malformed = Callable[[str, str], ProviderError]


class Answer(BaseModel):
    """A service's answer, as far as Cameo reads it."""

    model_config = ConfigDict(frozen=True, extra="ignore")


def _absent_if_unreadable(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        return None


# A field Cameo only reports (a price, a balance): one it cannot read counts as absent. Failing
# a paid job over its price tag would throw away pictures already paid for, or lose the job id
# the member's picture is waiting on.
Incidental = Annotated[T | None, WrapValidator(_absent_if_unreadable)]

# A number as JSON writes one: `true` and `"15"` are not prices.
Number = Annotated[float, Strict()]

# Result URLs. An entry that is not a string is skipped (as the clients always did), so one odd
# entry does not cost the member the pictures beside it; a list with no usable entry at all
# still fails, as a job that completed without images.
Urls = list[OnErrorOmit[str]]


def read_answer(
    model: type[AnswerT],
    provider: str,
    response: httpx.Response,
    *,
    answering: str,
    malformed: Malformed,
) -> AnswerT:
    """Validate a (fully read) JSON answer into `model`, or raise `malformed` naming the field."""
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        problem = describe(exc)
    raise malformed(
        provider, f"malformed answer (HTTP {response.status_code}) to {answering}: {problem}"
    )


def read_error_body(model: type[AnswerT], response: httpx.Response) -> AnswerT | None:
    """The error envelope of a failed call, or None when it has another shape.

    An error answer is already a failure: its body only adds words, so an unreadable one must
    not replace the error the status code names.
    """
    try:
        return model.model_validate_json(response.content)
    except ValidationError:
        return None


def describe(exc: ValidationError) -> str:
    """Name what is wrong with an answer: the field (by the service's own name) and why."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        return "the body is not JSON"
    locations = [error["loc"] for error in errors]
    # A field with several documented shapes reports one error per shape, each located under
    # the shape's name (`result.str`, `result.list[str]`…); what they share is the field.
    shared = _common_prefix(locations)
    if shared:
        why = first["msg"] if len(errors) == 1 else "it has none of its documented shapes"
        return f"field `{_dotted(shared)}`: {why}"
    if not first["loc"]:
        return f"the body is not a JSON object ({first['msg']})"
    fields = ", ".join(f"`{name}`" for name in dict.fromkeys(str(loc[0]) for loc in locations))
    return f"fields {fields} (the first: {first['msg']})"


def _common_prefix(locations: Sequence[tuple[int | str, ...]]) -> tuple[int | str, ...]:
    shortest = min(locations, key=len)
    for index, part in enumerate(shortest):
        if any(location[index] != part for location in locations):
            return shortest[:index]
    return shortest


def _dotted(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location)
