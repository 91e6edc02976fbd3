"""Cameo's settings: one typed model, read from the environment or a `.env` file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Every image service Cameo can drive, in the default order of preference.
KNOWN_PROVIDERS: tuple[str, ...] = ("segmind", "segmind-poses", "apiframe", "pixeldojo")

# Which key setting each provider needs (the two Segmind endpoints share one account).
PROVIDER_KEY_FIELDS: dict[str, str] = {
    "segmind": "segmind_api_key",
    "segmind-poses": "segmind_api_key",
    "apiframe": "apiframe_api_key",
    "pixeldojo": "pixeldojo_api_key",
}

# One credit is worth about one US cent of service spend; 100 a day is roughly six
# default-speed character images per member.
DEFAULT_DAILY_CREDITS = 100


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class SettingsError(Exception):
    """The settings cannot be used; the message says which one and why (never its value)."""


def _strip_trailing_slash(value: str) -> str:
    return value.rstrip("/")


class Settings(BaseSettings):
    """Everything an operator can configure; see the README's settings table."""

    model_config = SettingsConfigDict(
        env_prefix="CAMEO_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    discord_token: SecretStr | None = None
    data_dir: Path = Path("./data")
    discord_api_base: str = "https://discord.com/api/v10"
    discord_gateway: str = "wss://gateway.discord.gg/"
    dev_guild_id: int | None = Field(default=None, gt=0)
    providers: Annotated[tuple[str, ...], NoDecode] = ()
    segmind_api_key: SecretStr | None = None
    apiframe_api_key: SecretStr | None = None
    pixeldojo_api_key: SecretStr | None = None
    segmind_base_url: str = "https://api.segmind.com"
    apiframe_base_url: str = "https://api.apiframe.ai"
    pixeldojo_base_url: str = "https://pixeldojo.ai/api/v1"
    daily_credits: int = Field(default=DEFAULT_DAILY_CREDITS, ge=0)
    # The hour (UTC) at which every member's daily credits come back.
    quota_reset_hour: int = Field(default=0, ge=0, le=23)
    log_level: str = "INFO"
    # How long to wait before the first status poll of an asynchronous job; later polls wait
    # half as long again each time, up to 5 s (or this value, if larger).
    provider_poll_seconds: float = Field(default=2.0, gt=0, le=60)
    # At most one edit of a scene's card per this many seconds: progress that passes within
    # one interval is folded into the next edit. Shorter feels livelier and costs more edits
    # (each channel's edits stay within Discord's per-channel limit either way).
    card_edit_seconds: float = Field(default=3.0, gt=0, le=60)
    # Optional: the public URL at which Apiframe can reach this bot's webhook listener (which
    # serves /webhooks/apiframe on CAMEO_WEBHOOK_LISTEN). Unset: Cameo only polls.
    apiframe_webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0:8080"
    # Where /healthz and /metrics are served; "off" serves neither. Loopback by default: the
    # figures are for the operator's Prometheus, not for the internet.
    metrics_listen: str = "127.0.0.1:9810"
    # Check every result for age-restricted content before it is posted (needs the vision
    # extra; about 90 ms of one core per picture here). Off: blocked terms and the services'
    # own rules alone keep pictures suitable.
    safety_check: bool = True
    # This process's share of Discord's global limit of REST requests a second (50 per bot,
    # unless Discord raised it): with several processes, split it so the sum stays within.
    rest_budget: float = Field(default=50.0, ge=5, le=10_000)
    # How long a worker's claim on a job lasts unless renewed (every third of it): with several
    # workers, how soon one that died has its jobs taken over by the others.
    job_lease_seconds: float = Field(default=30.0, ge=3, le=600)
    # Where stored images live: a folder (default: `images` in the data directory) or an
    # S3-compatible bucket, "s3://bucket/prefix", reached with the four settings after it
    # (unset ones come from the usual AWS_* environment variables).
    image_store: str | None = None
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    # The database: unset (or sqlite:///path) for the SQLite file in the data directory;
    # postgresql://user:password@host:port/name for PostgreSQL 15+, which several processes
    # on several hosts can share. A secret: it usually carries a password.
    database_url: SecretStr | None = None

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        url = value.get_secret_value().strip()
        if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must start with postgresql:// (or sqlite:/// for a file)")
        if url.startswith("sqlite:///") and not url[len("sqlite:///") :].strip("/"):
            raise ValueError("sqlite:/// must be followed by the database file's path")
        return SecretStr(url)

    @field_validator("image_store", "s3_endpoint", "s3_region", "s3_access_key_id")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("image_store")
    @classmethod
    def _image_store(cls, value: str | None) -> str | None:
        if value is None or not value.startswith(("s3://", "S3://")):
            if value is not None and "://" in value:
                raise ValueError('must be a folder or "s3://bucket/prefix"')
            return value
        bucket = value[len("s3://") :].split("/", 1)[0]
        if not bucket:
            raise ValueError('must name a bucket: "s3://bucket" or "s3://bucket/prefix"')
        return "s3://" + value[len("s3://") :]

    @field_validator("s3_endpoint")
    @classmethod
    def _s3_endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator(
        "discord_token",
        "segmind_api_key",
        "apiframe_api_key",
        "pixeldojo_api_key",
        "s3_secret_access_key",
    )
    @classmethod
    def _blank_secret_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(value.get_secret_value().strip())

    @field_validator("dev_guild_id", mode="before")
    @classmethod
    def _blank_guild_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "discord_api_base", "segmind_base_url", "apiframe_base_url", "pixeldojo_base_url"
    )
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return _strip_trailing_slash(value)

    @field_validator("apiframe_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.strip()

    @field_validator("webhook_listen")
    @classmethod
    def _listen_address(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("must look like HOST:PORT, for example 0.0.0.0:8080")
        return value

    @property
    def webhook_host_port(self) -> tuple[str, int]:
        return _host_port(self.webhook_listen)

    @field_validator("metrics_listen")
    @classmethod
    def _metrics_address(cls, value: str) -> str:
        value = value.strip()
        if value.lower() == "off":
            return "off"
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError('must look like HOST:PORT, for example 127.0.0.1:9810, or be "off"')
        return value

    @property
    def metrics_host_port(self) -> tuple[str, int] | None:
        """Where to serve /healthz and /metrics; None when turned off."""
        return None if self.metrics_listen == "off" else _host_port(self.metrics_listen)

    @field_validator("discord_gateway")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("must start with ws:// or wss://")
        return value

    @field_validator("providers", mode="before")
    @classmethod
    def _split_providers(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip().lower() for name in value.split(",") if name.strip())
        return value

    @field_validator("providers")
    @classmethod
    def _known_providers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in KNOWN_PROVIDERS]
        if unknown:
            raise ValueError(
                f"unknown provider {', '.join(unknown)}; choose from {', '.join(KNOWN_PROVIDERS)}"
            )
        if len(set(value)) != len(value):
            raise ValueError("lists a provider twice")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @property
    def database_path(self) -> Path:
        """The SQLite file (when the database is not PostgreSQL)."""
        url = self.database_url.get_secret_value() if self.database_url else None
        if url and url.startswith("sqlite:///"):
            return Path(url[len("sqlite:///") :])  # sqlite:////abs/path keeps its leading slash
        return self.data_dir / "cameo.sqlite3"

    @property
    def postgres_url(self) -> str | None:
        """The PostgreSQL URL, when the database is PostgreSQL."""
        url = self.database_url.get_secret_value() if self.database_url else None
        return url if url and url.startswith(("postgresql://", "postgres://")) else None

    @property
    def database_target(self) -> str | Path:
        """What `open_database` opens: the PostgreSQL URL, else the SQLite file."""
        return self.postgres_url or self.database_path

    @property
    def image_bucket(self) -> str | None:
        """The bucket URL when images live in one, else None."""
        return (
            self.image_store if self.image_store and self.image_store.startswith("s3://") else None
        )

    @property
    def images_dir(self) -> Path:
        """The folder of stored images (when they are not in a bucket)."""
        if self.image_store and self.image_bucket is None:
            return self.data_dir / self.image_store  # a relative folder is in the data directory
        return self.data_dir / "images"

    def provider_key(self, provider: str) -> SecretStr | None:
        key: SecretStr | None = getattr(self, PROVIDER_KEY_FIELDS[provider])
        return key

    @property
    def enabled_providers(self) -> tuple[str, ...]:
        """Return the providers to use, in order: the configured list, else every one with a key."""
        candidates = self.providers or KNOWN_PROVIDERS
        return tuple(name for name in candidates if self.provider_key(name) is not None)

    def secrets(self) -> list[str]:
        """Return every secret value, so logging can redact them wherever they appear."""
        values = (
            self.discord_token,
            self.segmind_api_key,
            self.apiframe_api_key,
            self.pixeldojo_api_key,
            self.s3_secret_access_key,
        )
        found = [v.get_secret_value() for v in values if v is not None]
        url = self.postgres_url
        password = urlsplit(url).password if url else None
        if password:
            found += [url, password]  # type: ignore[list-item]
        return found


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning validation errors into one readable message without values."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            problems.append(f"CAMEO_{field.upper()}: {error['msg']}")
        raise SettingsError("Invalid settings:\n  " + "\n  ".join(problems)) from None
