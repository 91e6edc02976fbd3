"""The layering DESIGN.md promises, checked on every run."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Modules in bot/ that adapt Discord; everything else in bot/ is domain and must not know Discord.
DISCORD_ADAPTERS = {
    "bot/app.py",
    "bot/cli/main.py",
    "bot/client/cameo_bot.py",
    "bot/client/command_sync.py",
    "bot/client/endpoints.py",
    "bot/client/gateway_fairness.py",
    "bot/client/interaction_errors.py",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_the_domain_never_imports_discord() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in _python_files("bot")
        if str(path.relative_to(ROOT)) not in DISCORD_ADAPTERS and "discord" in _imports(path)
    ]
    assert offenders == []


def test_storage_knows_neither_discord_nor_http() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in _python_files("storage")
        if _imports(path) & {"discord", "httpx", "cogs"}
    ]
    assert offenders == []


def test_cogs_contain_no_sql_or_http() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in _python_files("cogs")
        if _imports(path) & {"aiosqlite", "sqlite3", "httpx", "PIL"}
    ]
    assert offenders == []


def test_nothing_reads_the_environment_but_the_settings_model() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("bot", "cogs", "storage")
        for path in _python_files(package)
        if "os.environ" in path.read_text() or "getenv" in path.read_text()
    ]
    assert offenders == []
