"""Dependencies point one way (ARCHITECTURE.md, "Rules of the house"), checked by reading the imports with ``ast``.

- Nothing outside ``mtlzoo/cli/`` imports ``mtlzoo.cli`` (the CLI imports the library, never the reverse);
  ``mtlzoo/__main__.py``, the ``python -m mtlzoo`` entry point, is part of the CLI.
- The core (``mtlzoo/`` outside ``cli/`` and the lazy facade ``mtlzoo/__init__.py``) imports no other
  room at module level.
- The rooms point ``tools`` -> ``models`` -> ``training`` -> core at module level: ``training`` imports
  neither ``models`` nor ``tools``, ``models`` does not import ``tools``.
- The core's list of modules that register Keras serializables names each room by its package only:
  a room registers its own classes when it is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: folder -> the package it is imported as (pyproject's package-dir)
ROOMS = {"mtlzoo": "mtlzoo", "models": "mtlzoo.models", "training": "mtlzoo.training", "tools": "mtlzoo.tools"}
#: a room may import the rooms of a lower rank only (at module level)
RANK = {"mtlzoo": 0, "mtlzoo.training": 1, "mtlzoo.models": 2, "mtlzoo.tools": 3}
SHELL = {"mtlzoo", "mtlzoo.__main__"}  # the lazy facade and the entry point may import any room
#: Known violations waiting for their fix (issue 18), each "file imports module": a new violation fails,
#: and so does an entry here that no longer occurs (delete it then).
PENDING_CLI_IMPORTS = {
    "tools/reproduce/multimnist_leaderboard.py imports mtlzoo.cli.recipe_run",  # run_recipe -> training room
    "tools/reproduce/multimnist_table3.py imports mtlzoo.cli.recipe_run",
}
#: modules inside other rooms that mtlzoo.saving still names (re-exports of the moved classes)
PENDING_SERIALIZABLE: set[str] = set()


def _modules():
    """``(module name, path)`` of every module of the package."""
    for folder, package in ROOMS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = [package, *path.relative_to(ROOT / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            yield ".".join(parts), path


def _imports(name: str, path: Path):
    """``(imported module, line, at module level?)`` for every import statement of one module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(node, in_function: bool):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                continue  # never runs
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, not in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    module = ".".join(base + ([child.module] if child.module else []))
                else:
                    module = child.module
                found.append((module, child.lineno, not in_function))
                found.extend((f"{module}.{alias.name}", child.lineno, not in_function) for alias in child.names)
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return found


def _is_type_checking(test) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _room(module: str) -> str | None:
    """The room an ``mtlzoo`` module belongs to (``"mtlzoo"`` for the core), ``"cli"``, or None (not ours)."""
    parts = module.split(".")
    if parts[0] != "mtlzoo":
        return None
    if len(parts) > 1 and parts[1] == "cli":
        return "cli"
    if len(parts) > 1 and f"mtlzoo.{parts[1]}" in RANK:
        return f"mtlzoo.{parts[1]}"
    return "mtlzoo"


MODULES = list(_modules())


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def test_the_walk_finds_every_room():
    rooms = {_room(name) for name, _ in MODULES}
    assert rooms == {"mtlzoo", "cli", "mtlzoo.models", "mtlzoo.training", "mtlzoo.tools"}
    assert len(MODULES) > 100


def test_nothing_outside_the_cli_imports_the_cli():
    found = {(f"{path.relative_to(ROOT)} imports {module}", _where(path, line))
             for name, path in MODULES if _room(name) != "cli" and name not in SHELL
             for module, line, _ in _imports(name, path) if _room(module) == "cli"}
    bad = sorted(f"{where} ({what})" for what, where in found
                 if not any(what == p or what.startswith(p + ".") for p in PENDING_CLI_IMPORTS))
    assert not bad, "the CLI imports the library, never the reverse:\n" + "\n".join(bad)
    assert PENDING_CLI_IMPORTS <= {what for what, _ in found}, "fixed: drop it from PENDING_CLI_IMPORTS"


def test_the_core_imports_no_other_room_at_module_level():
    bad = [f"{_where(path, line)} imports {module}"
           for name, path in MODULES if _room(name) == "mtlzoo" and name not in SHELL
           for module, line, top in _imports(name, path) if top and _room(module) in RANK and _room(module) != "mtlzoo"]
    assert not bad, "the core (mtlzoo/ outside cli/) imports no other room:\n" + "\n".join(bad)


def test_rooms_import_downwards_only_at_module_level():
    bad = [f"{_where(path, line)} ({_room(name)}) imports {module}"
           for name, path in MODULES if _room(name) in RANK and name not in SHELL
           for module, line, top in _imports(name, path)
           if top and _room(module) in RANK and RANK[_room(module)] > RANK[_room(name)]]
    assert not bad, "dependencies point tools -> models -> training -> core:\n" + "\n".join(bad)


def test_each_room_registers_its_own_serializables():
    from mtlzoo.saving import SERIALIZABLE_MODULES

    inside_rooms = {m for m in SERIALIZABLE_MODULES if _room(m) in RANK and _room(m) != "mtlzoo" and m != _room(m)}
    assert PENDING_SERIALIZABLE <= inside_rooms, "fixed: drop it from PENDING_SERIALIZABLE"
    inside_rooms -= PENDING_SERIALIZABLE
    assert not inside_rooms, (f"mtlzoo.saving names modules inside other rooms {inside_rooms}; import them from "
                              "their room's __init__ and list only the room.")


@pytest.mark.parametrize("source, expected", [
    ("from mtlzoo.cli.run_folder import jsonable\n", ("mtlzoo.cli.run_folder", True)),
    ("def f():\n    from mtlzoo.tools import export\n", ("mtlzoo.tools", False)),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import mtlzoo.tools\n", None),
])
def test_the_walk_reads_module_level_function_level_and_type_checking_imports(tmp_path, source, expected):
    path = tmp_path / "probe.py"
    path.write_text(source)
    found = {(module, top) for module, _, top in _imports("mtlzoo.probe", path) if module.startswith("mtlzoo")}
    assert (expected in found) if expected else not found
