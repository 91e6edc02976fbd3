import asyncio
import io
import logging

import pytest

from bot.app import running_bot
from bot.logging_setup import REDACTED, RedactSecrets, make_handler
from bot.settings import Settings
from tests.discord.emulator import DiscordEmulator
from tests.imagefactory import png

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


# Shaped like the loopback emulator's (and Discord's): "interaction:" in base64, then 144 more.
INTERACTION_TOKEN = "aW50ZXJhY3Rpb246" + "Qk9HVVMtdG9rZW4tZm9yLXRlc3RzX2Nhbm5vdC1iZS11c2Vk" * 3


def test_interaction_tokens_in_discord_py_debug_lines_are_redacted(
    captured: list[str],
) -> None:
    # The exact calls discord.py 2.7 makes (gateway.py, webhook/async_.py, http.py).
    log = logging.getLogger("tests.redaction")
    event = {
        "t": "INTERACTION_CREATE",
        "op": 0,
        "d": {"id": "1234", "application_id": "42", "token": INTERACTION_TOKEN, "type": 2},
    }
    log.debug("For Shard ID %s: WebSocket Event: %s", None, event)
    callback = f"https://discord.com/api/v10/interactions/1234/{INTERACTION_TOKEN}/callback"
    log.debug("Webhook ID %s with %s %s has returned status code %s", 1234, "POST", callback, 204)
    followup = f"https://discord.com/api/v10/webhooks/42/{INTERACTION_TOKEN}/messages/@original"
    log.debug("%s %s has received %s", "PATCH", followup, {"id": "99"})
    log.debug('sent {"token": "%s"} and {\\"token\\": \\"%s\\"}', *[INTERACTION_TOKEN] * 2)
    assert not any(INTERACTION_TOKEN in line for line in captured)
    assert f"'token': '{REDACTED}'" in captured[0]
    assert f"/interactions/1234/{REDACTED}/callback" in captured[1]
    assert f"/webhooks/42/{REDACTED}/messages/@original" in captured[2]
    assert captured[3] == f'sent {{"token": "{REDACTED}"}} and {{\\"token\\": \\"{REDACTED}\\"}}'


def test_interaction_tokens_in_tracebacks_are_redacted(captured: list[str]) -> None:
    try:
        raise RuntimeError(f"POST /webhooks/42/{INTERACTION_TOKEN} failed")
    except RuntimeError:
        logging.getLogger("tests.redaction").exception("follow-up failed")
    assert INTERACTION_TOKEN not in captured[0]
    assert f"/webhooks/42/{REDACTED} failed" in captured[0]


def test_urls_and_fields_without_tokens_are_untouched(captured: list[str]) -> None:
    log = logging.getLogger("tests.redaction")
    log.info("GET /api/v10/webhooks/42 and /channels/7/messages; token bucket %s", "full")
    assert captured == ["GET /api/v10/webhooks/42 and /channels/7/messages; token bucket full"]


async def test_a_real_interaction_token_never_reaches_the_debug_log(
    emulator: DiscordEmulator, settings: Settings
) -> None:
    """The real bot at DEBUG, through the production handler, answering a real interaction."""
    out = io.StringIO()
    handler = make_handler(out, settings.secrets())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        async with running_bot(settings, guild_ready_timeout=0.1) as bot:
            await asyncio.wait_for(bot.wait_until_ready(), timeout=15)
            # Deferred through the callback URL, then answered through the follow-up webhook.
            ix = await emulator.slash(
                emulator.user("alice"), "character create", name="Mira", image=png()
            )
            assert (await ix.response()).embeds
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    logged = out.getvalue()
    assert ix.token not in logged
    assert emulator.bot_token not in logged
    # The lines that carried the token were logged, redacted.
    assert f"'token': '{REDACTED}'" in logged
    assert f"/interactions/{ix.id}/{REDACTED}/callback" in logged
    assert f"/webhooks/{ix.payload['application_id']}/{REDACTED} " in logged
