from pathlib import Path

import pytest

from bot.settings import DEFAULT_DAILY_CREDITS, Settings, SettingsError, load_settings

# Built in code so no committed line looks like a real key.
FAKE_SEGMIND_KEY = "SG_" + "0123456789abcdef"

SECRET = ".".join(["MTIzNDU2Nzg5MDEyMzQ1Njc4", "Gabcde", "super-secret-token-value-1234567"])


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("CAMEO_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout


def test_defaults_match_the_documented_table() -> None:
    settings = load_settings()
    assert settings.discord_token is None
    assert settings.data_dir == Path("./data")
    assert settings.discord_api_base == "https://discord.com/api/v10"
    assert settings.discord_gateway == "wss://gateway.discord.gg/"
    assert settings.dev_guild_id is None
    assert settings.providers == ()
    assert settings.segmind_base_url == "https://api.segmind.com"
    assert settings.apiframe_base_url == "https://api.apiframe.ai"
    assert settings.pixeldojo_base_url == "https://pixeldojo.ai/api/v1"
    assert settings.daily_credits == DEFAULT_DAILY_CREDITS


def test_reads_every_variable_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMEO_DISCORD_TOKEN", SECRET)
    monkeypatch.setenv("CAMEO_DATA_DIR", "/srv/cameo")
    monkeypatch.setenv("CAMEO_DISCORD_API_BASE", "http://127.0.0.1:9/api/v10/")
    monkeypatch.setenv("CAMEO_DISCORD_GATEWAY", "ws://127.0.0.1:9/gateway")
    monkeypatch.setenv("CAMEO_DEV_GUILD_ID", "123456789012345678")
    monkeypatch.setenv("CAMEO_PROVIDERS", "apiframe, segmind")
    monkeypatch.setenv("CAMEO_SEGMIND_API_KEY", FAKE_SEGMIND_KEY)
    monkeypatch.setenv("CAMEO_APIFRAME_API_KEY", "afk_key")
    monkeypatch.setenv("CAMEO_PIXELDOJO_API_KEY", "pd_key")
    monkeypatch.setenv("CAMEO_SEGMIND_BASE_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("CAMEO_APIFRAME_BASE_URL", "http://127.0.0.1:2")
    monkeypatch.setenv("CAMEO_PIXELDOJO_BASE_URL", "http://127.0.0.1:3/api/v1")
    monkeypatch.setenv("CAMEO_DAILY_CREDITS", "40")
    settings = load_settings()
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == SECRET
    assert settings.data_dir == Path("/srv/cameo")
    assert settings.discord_api_base == "http://127.0.0.1:9/api/v10"
    assert settings.dev_guild_id == 123456789012345678
    assert settings.providers == ("apiframe", "segmind")
    assert settings.enabled_providers == ("apiframe", "segmind")
    assert settings.pixeldojo_base_url == "http://127.0.0.1:3/api/v1"
    assert settings.daily_credits == 40


def test_reads_a_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CAMEO_DAILY_CREDITS=7\nCAMEO_DEV_GUILD_ID=42\n")
    settings = load_settings()
    assert settings.daily_credits == 7
    assert settings.dev_guild_id == 42


def test_enabled_providers_default_to_every_provider_with_a_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAMEO_PIXELDOJO_API_KEY", "pd_key")
    monkeypatch.setenv("CAMEO_SEGMIND_API_KEY", "SG_key")
    assert load_settings().enabled_providers == ("segmind", "segmind-poses", "pixeldojo")


def test_blank_values_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMEO_DISCORD_TOKEN", "  ")
    monkeypatch.setenv("CAMEO_DEV_GUILD_ID", "")
    settings = load_settings()
    assert settings.discord_token is None
    assert settings.dev_guild_id is None


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("CAMEO_DEV_GUILD_ID", "general", "CAMEO_DEV_GUILD_ID"),
        ("CAMEO_PROVIDERS", "segmind,midjourney", "unknown provider midjourney"),
        ("CAMEO_PROVIDERS", "segmind,segmind", "lists a provider twice"),
        ("CAMEO_DAILY_CREDITS", "-1", "CAMEO_DAILY_CREDITS"),
        ("CAMEO_DISCORD_GATEWAY", "https://gateway", "ws://"),
        ("CAMEO_SEGMIND_BASE_URL", "ftp://x", "http://"),
    ],
)
def test_bad_values_are_named_clearly(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, complaint: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=complaint):
        load_settings()


def test_secrets_never_appear_in_repr_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMEO_DISCORD_TOKEN", SECRET)
    monkeypatch.setenv("CAMEO_SEGMIND_API_KEY", FAKE_SEGMIND_KEY)
    settings = load_settings()
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert FAKE_SEGMIND_KEY not in repr(settings)
    monkeypatch.setenv("CAMEO_DAILY_CREDITS", "lots")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert SECRET not in str(raised.value)
    assert "lots" not in str(raised.value)  # values are never echoed, only names


def test_webhook_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().apiframe_webhook_url is None
    monkeypatch.setenv("CAMEO_APIFRAME_WEBHOOK_URL", "https://bot.example.org/webhooks/apiframe")
    monkeypatch.setenv("CAMEO_WEBHOOK_LISTEN", "127.0.0.1:9000")
    settings = load_settings()
    assert settings.apiframe_webhook_url == "https://bot.example.org/webhooks/apiframe"
    assert settings.webhook_host_port == ("127.0.0.1", 9000)
    monkeypatch.setenv("CAMEO_WEBHOOK_LISTEN", "8080")
    with pytest.raises(SettingsError, match="HOST:PORT"):
        load_settings()


def test_settings_are_immutable() -> None:
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.daily_credits = 5  # type: ignore[misc]
