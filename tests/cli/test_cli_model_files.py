"""``mtlzoo evaluate`` / ``mtlzoo export`` given a file that is not a model: one ``Error:`` line saying what it is."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from mtlzoo.cli import main


@pytest.mark.parametrize("command", ["evaluate", "export"])
@pytest.mark.parametrize("name, content, words", [
    ("random.keras", np.random.default_rng(1).bytes(3000), "is not a .keras archive (not a zip file"),
    ("model.h5", b"HDF5-ish", "is not a .keras file"),
])
def test_not_a_model_is_one_line_naming_the_file(tmp_path, command, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    args = [command, str(path)] + (["--out", str(tmp_path / "exports")] if command == "export" else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and words in errors[0] and name in errors[0], result.output
    assert "File not found" not in result.output and not (tmp_path / "exports").exists()
