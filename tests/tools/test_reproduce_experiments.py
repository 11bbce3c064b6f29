"""``mtlzoo reproduce``'s experiments are found where they are defined (each module's ``NAME``), and the CLI
offers and lists every one of them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mtlzoo.tools import reproduce as experiments

FOLDER = Path(experiments.__file__).parent


def _defines_reproduce(path: Path) -> bool:
    return any(isinstance(node, ast.FunctionDef) and node.name == "reproduce"
               for node in ast.parse(path.read_text(encoding="utf-8")).body)


def test_every_module_with_a_reproduce_function_is_an_experiment():
    modules = {p.stem for p in FOLDER.glob("*.py") if _defines_reproduce(p)}
    assert modules == {module.rsplit(".", 1)[1] for module, _ in experiments.EXPERIMENTS.values()}
    for name in experiments.names():
        module = __import__(experiments.EXPERIMENTS[name][0], fromlist=["NAME"])
        assert module.NAME == name and module.DESCRIPTION == experiments.description(name)
        assert callable(experiments.get(name))
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        experiments.get("nope")


def test_the_cli_offers_and_lists_every_experiment():
    from mtlzoo.cli import main
    from mtlzoo.cli.reproduce import reproduce

    assert tuple(reproduce.params[0].type.choices) == tuple(experiments.names())
    text = CliRunner().invoke(main, ["reproduce", "--help"]).output
    listed = text.split("Experiments:", 1)[1].split("\n\n", 1)[0]
    for name in experiments.names():
        assert f"\n    {name} " in listed, name
        assert experiments.description(name).split()[-1] in listed


def test_listing_the_experiments_imports_no_experiment_and_no_tensorflow():
    code = ("import sys, mtlzoo.cli.reproduce as r; assert r.NAMES; "
            "print(sorted(m for m in sys.modules if m == 'tensorflow' or m.startswith('mtlzoo.tools.reproduce.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['mtlzoo.tools.reproduce.reproduce_options', 'mtlzoo.tools.reproduce.reproduction_folder']"


def test_a_declaration_is_read_without_importing_the_module(tmp_path):
    path = tmp_path / "x.py"
    path.write_text('import no_such_module\nNAME = "x"\nDESCRIPTION = ("two " "parts")\n')
    assert experiments._declared(path) == {"NAME": "x", "DESCRIPTION": "two parts"}
