"""The house rules that review used to check by eye: the pipeline order of imports, no import cycles,
the Alembic migrations agreeing with `store/schema.py`, every setting and every command documented."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from paperscope.settings import Settings
from paperscope.store.schema import metadata

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "paperscope"
README = (ROOT / "README.md").read_text(encoding="utf-8")

# sources/ -> store/ -> embed/ -> index/ -> search/ -> feed/, mail/ -> web/, cli/ (docs/architecture.md).
# Left of them all, what every stage may use: files.py (write_atomically), runtime.py (process-wide
# setup), then the shared values.
RANK = {"files": 0, "file_cache": 0, "runtime": 0, "settings": 1, "model": 1, "sources": 2, "store": 3,
        "embed": 4, "index": 5, "search": 6, "feed": 7, "mail": 7, "web": 8, "cli": 8, "__main__": 9}
# Siblings do not import each other, except that the command line starts and administers the web app.
SIBLING_IMPORTS_ALLOWED = {("cli", "web")}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> Iterator[str]:
    """Every paperscope module `path` imports, at any depth (function-level and TYPE_CHECKING included)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "paperscope")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "paperscope":
                yield node.module
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"{path}: relative import (use absolute paperscope.* imports)")


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}

    def resolve(name: str) -> str:
        while name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        return name

    return {m: {resolve(i) for i in imported_modules(p)} - {m} for m, p in modules.items()}


def stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_stage_has_a_place_in_the_pipeline() -> None:
    stages = {stage(m) for m in import_graph()} - {None}
    assert stages <= set(RANK), f"new top-level module or package: add it to RANK: {stages - set(RANK)}"


def test_no_import_runs_back_up_the_pipeline() -> None:
    wrong = []
    for module, imports in import_graph().items():
        here = stage(module)
        for target in imports:
            there = stage(target)
            if here is None or there is None or here == there:
                continue
            if RANK[there] > RANK[here] or (RANK[there] == RANK[here]
                                            and (here, there) not in SIBLING_IMPORTS_ALLOWED):
                wrong.append(f"{module} imports {target} ({here} may only import stages to its left)")
    assert not wrong, "\n".join(wrong)


def test_similar_papers_and_for_you_retrieve_through_the_retriever() -> None:
    """One read side of the indexes (index/retriever.py): feed/ never opens the search engine to reach
    its indexes, pool or lexical index (issue #18)."""
    through_engine = [m for m, imports in import_graph().items()
                      if stage(m) == "feed" and "paperscope.search.engine" in imports]
    assert not through_engine, through_engine


def test_no_module_import_cycle() -> None:
    graph = import_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    assert not cycles, f"modules importing each other: {cycles}"


def test_no_test_module_imports_another() -> None:
    """What several test modules share lives in tests/support/ (fixtures in tests/conftest.py), never in
    one test module that others import: that re-registers its tests' fixtures under other modules and
    ties unrelated tests together (issue #18)."""
    def test_module(name: str) -> bool:
        return any(part.startswith("test_") for part in name.split("."))

    wrong = []
    for path in sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):  # a test module, or one imported from a package
                module = node.module or ""
                names = [module] if test_module(module) else [f"{module}.{a.name}" for a in node.names]
            else:
                continue
            wrong += [f"{path.relative_to(ROOT)} imports {name}" for name in names if test_module(name)]
    assert not wrong, "\n".join(wrong)


def _fulltext_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Full-text tables and indexes are raw SQL in migration 0002 (FTS5 / tsvector), not in schema.py."""
    return not (name and ("papers_fts" in name or "paper_search" in name))


@pytest.mark.both_backends
def test_migrations_match_the_schema_module(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "include_object": _fulltext_object})
        drift = compare_metadata(context, metadata)
    assert drift == [], "store/schema.py and the Alembic migrations disagree:\n" + "\n".join(map(str, drift))


def documented_variables() -> set[str]:
    """Variable names in the first column of the README's configuration table, `_X` expanded to
    `PAPERSCOPE_X`."""
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_column = line.split("|")[1]
            names |= {("PAPERSCOPE" + n if n.startswith("_") else n)
                      for n in re.findall(r"`([A-Z_]+)`", first_column)}
    return names


def test_every_setting_is_documented() -> None:
    documented = documented_variables()
    missing = [f"PAPERSCOPE_{name.upper()}" for name in Settings.model_fields
               if f"PAPERSCOPE_{name.upper()}" not in documented]
    assert not missing, f"add to the README's configuration table: {missing}"
    unknown = {n for n in documented if n.removeprefix("PAPERSCOPE_").lower() not in Settings.model_fields}
    assert not unknown, f"documented but not a setting: {unknown}"


def cli_commands() -> dict[str, set[str]]:
    """Every leaf command of `paperscope` ("digest run", "search", ...) with its long options."""
    import typer.main

    from paperscope.cli import app

    found: dict[str, set[str]] = {}

    def walk(command: Any, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, [*path, name])
        else:
            found[" ".join(path)] = {o for p in command.params for o in (*p.opts, *p.secondary_opts)
                                     if o.startswith("--")}

    walk(typer.main.get_command(app), [])
    return found


def readme_command_lines() -> dict[str, str]:
    """The README's command block: command path -> its text (continuation lines included)."""
    block = README.split("## Commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = cli_commands()
    entries: dict[str, str] = {}
    current = ""
    for line in block.splitlines():
        if line.startswith("paperscope "):
            words = line.split()[1:]
            current = next((" ".join(words[:n]) for n in (2, 1) if " ".join(words[:n]) in commands),
                           " ".join(words[:1]))
            entries[current] = entries.get(current, "") + "\n" + line.split("#", 1)[0]
        elif current and line.startswith(" "):
            entries[current] += "\n" + line.split("#", 1)[0]
    return entries


def test_every_documented_command_and_option_exists() -> None:
    commands = cli_commands()
    for path, text in readme_command_lines().items():
        assert path in commands, f"README documents `paperscope {path}`, which does not exist"
        options = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))
        assert options <= commands[path], f"`paperscope {path}`: unknown options {options - commands[path]}"


def test_every_command_is_documented() -> None:
    missing = [path for path in cli_commands() if f"paperscope {path}" not in README]
    assert not missing, f"commands the README does not mention: {missing}"


@pytest.mark.serial
def test_serial_tests_share_one_xdist_group(request: pytest.FixtureRequest) -> None:
    # `make test` relies on pytest-xdist's --dist loadgroup to keep `serial` tests off each other (conftest).
    # A pytest or pytest-xdist release that stops honouring the groups would let them overlap silently.
    if getattr(request.config.option, "loadgroup", False) is not True:
        pytest.skip("not under pytest-xdist --dist loadgroup (make test runs it so)")
    assert request.node.nodeid.endswith("@serial"), request.node.nodeid
