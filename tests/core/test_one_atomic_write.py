"""One atomic-write helper: only ``mtlzoo/atomic_file.py`` calls ``os.replace`` or ``mkstemp``.

Every other module writes a file that must never be seen half-written through
:func:`mtlzoo.atomic_file.atomic_file`. Calls are found with ``ast``, so docstrings and comments that
explain the technique do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "mtlzoo" / "atomic_file.py"
FORBIDDEN = {("os", "replace"), ("tempfile", "mkstemp"), ("os", "rename")}
#: ``os.rename`` of a whole folder (export's staged version folder): no file helper does that
FOLDER_RENAMES = {"tools/export.py"}


def _calls(path: Path):
    """``(line, "module.name")`` of each call of a forbidden function, however it was imported."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    aliases = {}  # local name -> (module, name), from ``from os import replace as r``
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in {"os", "tempfile"}:
            aliases.update({a.asname or a.name: (node.module, a.name) for a in node.names})
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            target = (func.value.id, func.attr)
        elif isinstance(func, ast.Name):
            target = aliases.get(func.id)
        else:
            continue
        if target in FORBIDDEN:
            yield node.lineno, ".".join(target)


def _package_files():
    for room in ("mtlzoo", "models", "training", "tools"):
        yield from sorted((ROOT / room).rglob("*.py"))


def test_only_the_helper_replaces_files():
    bad = [f"{path.relative_to(ROOT)}:{line} calls {call}"
           for path in _package_files() if path != HELPER
           for line, call in _calls(path)
           if not (call == "os.rename" and str(path.relative_to(ROOT)) in FOLDER_RENAMES)]
    assert not bad, "write through mtlzoo.atomic_file.atomic_file instead:\n" + "\n".join(bad)


def test_the_helper_is_where_the_replace_happens():
    assert [call for _, call in _calls(HELPER)] == ["os.replace"]


@pytest.mark.parametrize("source, found", [
    ("import os\nos.replace('a', 'b')\n", ["os.replace"]),
    ("from tempfile import mkstemp as m\nm()\n", ["tempfile.mkstemp"]),
    ("'''os.replace(a, b) in a docstring'''\ntext = 'a'.replace('a', 'b')\n", []),
])
def test_the_scan_finds_calls_not_words(tmp_path, source, found):
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert [call for _, call in _calls(path)] == found
