import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.invite import permission_value
from bot.cli.main import main


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMEO_")}
    env.update(extra)
    return env


def test_run_without_a_token_exits_2_and_explains_how_to_get_one(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "CAMEO_DISCORD_TOKEN" in result.stderr
    assert "discord.com/developers/applications" in result.stderr
    assert ".env" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_cameo_console_script_is_installed(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "cameo"
    result = subprocess.run(
        [str(script), "invite", "--application-id", "42"],
        cwd=tmp_path,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.strip().endswith(f"permissions={permission_value()}")


def test_invite_reads_the_application_id_from_the_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAMEO_DISCORD_TOKEN", "MTIzNDU2Nzg5.x.y")  # base64 of 123456789
    assert main(["invite"]) == 0
    assert "client_id=123456789" in capsys.readouterr().out


def test_invite_without_token_or_id_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CAMEO_DISCORD_TOKEN", raising=False)
    assert main(["invite"]) == 2
    assert "--application-id" in capsys.readouterr().err


def test_invalid_settings_are_reported_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAMEO_DEV_GUILD_ID", "my-server")
    assert main(["invite", "--application-id", "1"]) == 2
    err = capsys.readouterr().err
    assert "CAMEO_DEV_GUILD_ID" in err
    assert "Traceback" not in err


def test_an_unwritable_data_dir_is_reported_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the data directory should be")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=_clean_env(
            tmp_path,
            CAMEO_DISCORD_TOKEN="MTIzNDU2Nzg5.x.y",
            CAMEO_DATA_DIR=str(tmp_path / "data"),
            CAMEO_DISCORD_API_BASE="http://127.0.0.1:9/api/v10",
            CAMEO_DISCORD_GATEWAY="ws://127.0.0.1:9/gateway",
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "CAMEO_DATA_DIR" in result.stderr
    assert "Traceback" not in result.stderr
    assert "MTIzNDU2Nzg5.x.y" not in result.stderr


def test_unknown_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["paint"])
    assert raised.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "database_url", "says"),
    [
        (["--role", "worker"], None, "CAMEO_DATABASE_URL"),
        (["--role", "gateway"], None, "CAMEO_DATABASE_URL"),
        (
            ["--role", "worker", "--shards", "0", "--shard-count", "2"],
            "postgresql://h/db",
            "--shards",
        ),
    ],
)
def test_split_roles_are_refused_where_they_cannot_work(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    database_url: str | None,
    says: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAMEO_DISCORD_TOKEN", "a-token")
    if database_url is not None:
        monkeypatch.setenv("CAMEO_DATABASE_URL", database_url)
    assert main(["run", *arguments]) == 2
    err = capsys.readouterr().err
    assert says in err
    assert "Traceback" not in err


def test_a_database_url_that_is_not_one_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAMEO_DATABASE_URL", "mysql://user:hunter2@db/cameo")
    assert main(["invite", "--application-id", "1"]) == 2
    err = capsys.readouterr().err
    assert "CAMEO_DATABASE_URL" in err
    assert "hunter2" not in err
