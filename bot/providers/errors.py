"""Every way an image service can fail, each with a sentence for members and one for operators."""

from __future__ import annotations

from bot.errors import CameoError


class ProviderError(CameoError):
    """A service call failed. `message` is for members; `detail` is for operators' logs."""

    # Whether this counts against the service's health (opens its circuit when repeated).
    unhealthy = False
    user_text = "The image service couldn't make that picture. Nothing was charged."

    def __init__(self, provider: str, detail: str, *, user_text: str | None = None) -> None:
        super().__init__(user_text or self.user_text)
        self.provider = provider
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.provider}: {self.detail}"


class Unsupported(ProviderError):
    """The service cannot honour this request; found before any money is spent."""

    user_text = "No image service can do that combination of options."

    def __init__(self, provider: str, reason: str) -> None:
        super().__init__(provider, reason, user_text=f"{provider} can't do that: {reason}.")
        self.reason = reason


class BadCredentials(ProviderError):
    unhealthy = True
    user_text = "The image service refused Cameo's key. The server staff have to fix it."


class InsufficientCredits(ProviderError):
    unhealthy = True
    user_text = "The image service account is out of credits. The server staff have to top it up."


class RateLimited(ProviderError):
    user_text = "The image service is busy right now. Try again in a minute."

    def __init__(self, provider: str, detail: str, retry_after: float | None) -> None:
        super().__init__(provider, detail)
        self.retry_after = retry_after


class InvalidRequest(ProviderError):
    user_text = "The image service didn't accept those settings."

    def __init__(self, provider: str, service_message: str) -> None:
        super().__init__(
            provider,
            f"invalid request: {service_message}",
            user_text=f"The image service didn't accept those settings: {service_message[:300]}",
        )
        self.service_message = service_message


class ContentRejected(ProviderError):
    user_text = (
        "The image service declined that prompt or picture under its content rules. "
        "Nothing was charged; try wording it differently."
    )


class Unavailable(ProviderError):
    unhealthy = True
    user_text = "The image service is having trouble. Try again in a few minutes."


class TimedOut(ProviderError):
    unhealthy = True
    user_text = "The image service took too long to answer."


class JobFailed(ProviderError):
    user_text = "The image service couldn't finish that picture. Try again."


class OutcomeUnknown(ProviderError):
    """A paid request may have been carried out (and charged) but we could not see the result.

    Never failed over: trying another service would pay twice for one picture.
    """

    unhealthy = True
    user_text = (
        "The image service had a problem while making your picture. Cameo won't pay for it a "
        "second time elsewhere; try again in a few minutes."
    )


# Words services use when they refuse a prompt or picture on content grounds (their error
# shapes differ; the wording is what they share).
_CONTENT_WORDS = ("content", "policy", "safety", "nsfw", "moderation", "inappropriate")


def mentions_content_rules(message: str) -> bool:
    """Whether a service's error text says the prompt or picture broke its content rules."""
    lowered = message.lower()
    return any(word in lowered for word in _CONTENT_WORDS)


class FailedAfterPayment(ProviderError):
    """A failure once a service accepted a paid call: the money may be spent, so the router
    never fails over to another service (that could pay twice).

    Raised `from` the original error (kept as `original`), with the same member text, provider
    and detail (plus the paid job's id where known), so messages, logs and refunds read exactly
    as the original's would.
    """

    def __init__(self, original: ProviderError, *, detail: str | None = None) -> None:
        super().__init__(original.provider, detail or original.detail, user_text=original.message)
        self.original = original
        self.unhealthy = original.unhealthy
        # Chained here as well as by `raise ... from`, so a shortfall (kept, never raised) also
        # points at what happened.
        self.__cause__ = original


def after_payment(error: ProviderError, *, detail: str | None = None) -> FailedAfterPayment:
    """Return `error` as a failure after payment (raise it `from error`).

    `detail` replaces the operator's detail (to add a paid job's id). An error that already is
    a failure after payment is returned as it is, unless a new detail is given.
    """
    if isinstance(error, FailedAfterPayment):
        if detail is None or detail == error.detail:
            return error
        error = error.original
    return FailedAfterPayment(error, detail=detail)


class NoProviderAvailable(CameoError):
    """Every configured service was skipped or failed over; `reasons` says why for each."""

    def __init__(self, reasons: list[str], user_text: str | None = None) -> None:
        super().__init__(
            user_text
            or "No image service can take this request right now. Try again in a few minutes."
        )
        self.reasons = reasons

    def __str__(self) -> str:
        return "; ".join(self.reasons) or "no providers configured"
