"""The layering DESIGN.md promises, checked on every run."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Where discord.py may be imported: the Discord side of the bot. Everything else in bot/ is
# the domain, which must not know Discord; a new module anywhere else that imports it fails.
DISCORD_SIDE = ("bot/app.py", "bot/client/", "bot/cli/")


def _on_discord_side(relative: str) -> bool:
    return any(
        relative == place or (place.endswith("/") and relative.startswith(place))
        for place in DISCORD_SIDE
    )


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
        if not _on_discord_side(path.relative_to(ROOT).as_posix()) and "discord" in _imports(path)
    ]
    assert offenders == []


def test_the_rule_names_folders_that_exist() -> None:
    # A renamed folder would otherwise make the rule above silently allow nothing new.
    assert all((ROOT / place).exists() for place in DISCORD_SIDE)


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


def test_only_the_image_folder_calls_pillow() -> None:
    # Every Pillow call goes through bot/images/, whose worker pool bounds how many pictures
    # are decoded at once (decoding is memory-hungry) and keeps them off the event loop.
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("bot", "cogs", "storage")
        for path in _python_files(package)
        if not path.relative_to(ROOT).as_posix().startswith("bot/images/")
        and "PIL" in _imports(path)
    ]
    assert offenders == []
