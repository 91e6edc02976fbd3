import base64
from urllib.parse import parse_qs, urlparse

import discord
import pytest

from bot.cli.invite import application_id_from_token, invite_url, permission_value
from bot.errors import CameoError


def test_permissions_are_exactly_what_cameo_needs() -> None:
    expected = discord.Permissions(
        view_channel=True,
        send_messages=True,
        send_messages_in_threads=True,
        create_public_threads=True,
        attach_files=True,
        embed_links=True,
        read_message_history=True,
        pin_messages=True,
    )
    assert permission_value() == expected.value
    granted = discord.Permissions(permission_value())
    assert not granted.administrator
    assert not granted.manage_guild
    assert not granted.mention_everyone


def test_invite_url_has_both_scopes_and_the_permissions() -> None:
    url = urlparse(invite_url(1234))
    query = parse_qs(url.query)
    assert url.scheme == "https"
    assert url.netloc == "discord.com"
    assert query["client_id"] == ["1234"]
    assert query["scope"] == ["bot applications.commands"]
    assert query["permissions"] == [str(permission_value())]


def test_application_id_is_read_from_the_token() -> None:
    first = base64.b64encode(b"987654321098765432").decode().rstrip("=")
    assert application_id_from_token(f"{first}.abc.def") == 987654321098765432


@pytest.mark.parametrize("token", ["not-a-token", "", "%%%.x.y", "aGVsbG8.x.y"])
def test_a_malformed_token_gets_a_clear_error(token: str) -> None:
    with pytest.raises(CameoError, match="--application-id"):
        application_id_from_token(token)
