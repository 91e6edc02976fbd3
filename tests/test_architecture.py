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


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(module: str, is_package: bool, source: str, modules: set[str]) -> set[str]:
    """Which of `modules` this module's source imports, wherever the statement sits (in a
    function, or under `if TYPE_CHECKING:`, which mypy follows all the same)."""
    package = module if is_package else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - (node.level - 1)])
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                # `from pkg import name` imports the module pkg.name when there is one.
                submodule = f"{base}.{alias.name}"
                targets.add(submodule if submodule in modules else base)
    return {target for target in targets if target in modules and target != module}


def _import_graph() -> dict[str, set[str]]:
    paths = {
        _module_name(path): path
        for package in ("bot", "cogs", "storage")
        for path in _python_files(package)
    }
    return {
        module: _imported(module, path.name == "__init__.py", path.read_text(), set(paths))
        for module, path in paths.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_import_graph_has_no_cycles() -> None:
    # Imports point inward: a cycle means two modules cannot be read (or changed) apart.
    assert _cycles(_import_graph()) == []


def test_the_import_graph_sees_imports_everywhere() -> None:
    # Guards the check above against going blind: it must see imports in functions and under
    # TYPE_CHECKING, resolve relative ones and `from pkg import module`, and find a cycle.
    graph = _import_graph()
    assert "cogs.scenes._cog" in graph["cogs.scenes"]
    assert "bot.cli.generate" in graph["bot.cli.main"]  # inside a function
    assert "bot.client.cameo_bot" in graph["cogs.scenes._cog"]  # under TYPE_CHECKING
    modules = {"p", "p.a", "p.b", "p.q", "p.q.c", "p.q.d"}
    source = "from . import d\nfrom .. import a\nfrom ..b import thing\nimport p.q"
    assert _imported("p.q.c", False, source, modules) == {"p.q.d", "p.a", "p.b", "p.q"}
    assert _imported("p.q", True, "from . import d\nfrom .. import a", modules) == {
        "p.q.d",
        "p.a",
    }
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
