import logging

import pytest

from bot.logging_setup import REDACTED, RedactSecrets

# Built in code so no committed line looks like a real key.
FAKE_SEGMIND_KEY = "SG_" + "0123456789abcdef"

SECRET = "MTIzNDU2Nzg5MDEyMzQ1Njc4.Gabcde.secret"


@pytest.fixture
def captured() -> list[str]:
    lines: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = ListHandler()
    handler.addFilter(RedactSecrets([SECRET, FAKE_SEGMIND_KEY]))
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield lines
    logger.removeHandler(handler)


def test_secrets_in_messages_and_arguments_are_redacted(captured: list[str]) -> None:
    log = logging.getLogger("tests.redaction")
    log.warning("token is %s and key is %s", SECRET, FAKE_SEGMIND_KEY)
    assert captured == [f"token is {REDACTED} and key is {REDACTED}"]


def test_secrets_in_tracebacks_are_redacted(captured: list[str]) -> None:
    log = logging.getLogger("tests.redaction")
    try:
        raise RuntimeError(f"request failed with header Authorization: Bot {SECRET}")
    except RuntimeError:
        log.exception("call failed")
    assert SECRET not in captured[0]
    assert REDACTED in captured[0]
    assert "RuntimeError" in captured[0]


def test_lines_without_secrets_are_untouched(captured: list[str]) -> None:
    logging.getLogger("tests.redaction").info("%d characters", 3)
    assert captured == ["3 characters"]
