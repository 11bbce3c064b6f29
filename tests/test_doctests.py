"""Every ``>>>`` example in the package runs: one test per module, collected with ``doctest``.

Examples run in a fresh temporary folder, with ``mtlzoo`` imported and seed 0. Modules whose
examples train or download for long are in :data:`SLOW` and run with ``pytest -m slow``; an
example that cannot run anywhere (it needs a run folder, data or the network) says
``# doctest: +SKIP`` in its own docstring.

Run as a script to time every module's examples: ``python tests/test_doctests.py [PREFIX ...]``.
"""

from __future__ import annotations

import doctest
import importlib
import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: folder -> the package it is imported as (pyproject's package-dir)
ROOMS = {"mtlzoo": "mtlzoo", "models": "mtlzoo.models", "training": "mtlzoo.training", "tools": "mtlzoo.tools"}
#: modules not imported here: importing ``mtlzoo.__main__`` runs the command line
NOT_IMPORTED = {"mtlzoo.__main__"}
#: modules whose examples take more than a few seconds (they build and fit models): ``pytest -m slow``
SLOW: set[str] = set()
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def module_names() -> list[str]:
    """Every module of the package that holds a ``>>>`` example."""
    names = []
    for folder, package in ROOMS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = [package, *path.relative_to(ROOT / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join(parts)
            if name not in NOT_IMPORTED and ">>>" in path.read_text(encoding="utf-8"):
                names.append(name)
    return names


def run_module_doctests(name: str, report: bool = True) -> tuple[int, int]:
    """Run one module's examples; ``(failed, attempted)``."""
    import keras

    import mtlzoo
    from mtlzoo.seeding import seed_everything

    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS, verbose=False)
    out = []
    for test in sorted(finder.find(module, name, extraglobs={"mtlzoo": mtlzoo}), key=lambda t: t.name):
        keras.backend.clear_session(free_memory=False)
        seed_everything(0)
        runner.run(test, out=out.append if report else (lambda _: None))
    if report and runner.failures:
        pytest.fail(f"{runner.failures} of {runner.tries} examples in {name} failed:\n" + "".join(out),
                    pytrace=False)
    return runner.failures, runner.tries


MODULES = module_names()


def test_the_collection_finds_every_room():
    assert {name.split(".")[1] if name.count(".") else name for name in MODULES} >= {
        "models", "training", "tools", "cli", "data"}
    assert len(MODULES) > 150


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in MODULES])
def test_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_module_doctests(name)


if __name__ == "__main__":  # time every module's examples
    os.chdir(__import__("tempfile").mkdtemp())
    for name in [n for n in MODULES if not sys.argv[1:] or any(n.startswith(p) for p in sys.argv[1:])]:
        start = time.perf_counter()
        try:
            status = "%d/%d failed" % run_module_doctests(name, report=False)
        except Exception as error:  # noqa: BLE001
            status = f"ERROR {type(error).__name__}: {str(error)[:200]}"
        print(f"{time.perf_counter() - start:7.2f}s {name} {status}", flush=True)
