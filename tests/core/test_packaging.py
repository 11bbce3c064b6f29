"""Packaging: the four rooms are one package, installable as a wheel; CI runs the README's command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
ROOMS = {"mtlzoo": "mtlzoo", "mtlzoo.models": "models", "mtlzoo.training": "training", "mtlzoo.tools": "tools"}


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_package_dir_maps_the_four_rooms():
    assert _pyproject()["tool"]["setuptools"]["package-dir"] == ROOMS


def test_every_source_package_is_listed():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = set()
    for dotted, folder in ROOMS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([dotted, *rel.parts]) if rel.parts else dotted)
    assert found == listed, f"pyproject packages out of sync: missing {found - listed}, stale {listed - found}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = 'pip install -e ".[test]" && pytest'
    assert command in readme
    assert re.search(r"^" + re.escape(command) + r"$", ci, re.M)


def test_cli_help_does_not_import_tensorflow():
    code = "import sys, mtlzoo.cli; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.slow
def test_wheel_installs_all_rooms_in_a_fresh_venv(tmp_path):
    wheel_dir = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                    "-w", str(wheel_dir)], check=True, capture_output=True)
    (wheel,) = wheel_dir.glob("mtlzoo-*.whl")
    venv = tmp_path / "venv"
    # System site-packages provide TensorFlow & co. without a multi-GB download; the
    # wheel's own files are what is imported (checked below).
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--force-reinstall", str(wheel)],
                   check=True, capture_output=True)
    code = (
        "import mtlzoo, mtlzoo.models, mtlzoo.training, mtlzoo.tools, mtlzoo.heads, mtlzoo.data\n"
        "import sys\n"
        "for m in (mtlzoo, mtlzoo.models, mtlzoo.training, mtlzoo.tools): print(m.__file__)\n"
        "print(len(mtlzoo.models.names()))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path, env=env)
    *files, count = out.stdout.split()
    for path in files:
        assert str(venv) in path, f"{path} was not imported from the installed wheel"
    assert int(count) >= 3
    cli = subprocess.run([str(venv / "bin" / "mtlzoo"), "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert cli.returncode == 0 and "zoo" in cli.stdout
