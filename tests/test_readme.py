"""The README is a newcomer's only guide: every setting the bot reads is listed there."""

from __future__ import annotations

from pathlib import Path

from bot.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_has_a_row_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    prefix = Settings.model_config.get("env_prefix", "")
    missing = [
        f"{prefix}{name}".upper()
        for name in Settings.model_fields
        if f"| `{prefix}{name}`".upper() not in text.upper()
    ]
    assert missing == [], f"settings missing from the README's table: {missing}"
