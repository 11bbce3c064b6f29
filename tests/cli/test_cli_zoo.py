"""``mtlzoo zoo`` and the top-level help."""

from __future__ import annotations

import json

from click.testing import CliRunner

from mtlzoo.cli import main


def test_help_lists_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "zoo" in result.output


def test_zoo_json_matches_the_built_model():
    import mtlzoo

    result = CliRunner().invoke(main, ["zoo", "multimnist_lenet", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output.strip().splitlines()[-1])
    model = mtlzoo.models.get("multimnist_lenet")
    assert row["name"] == "multimnist_lenet"
    assert row["tasks"] == ["left", "right"]
    assert row["params"] == model.count_params() == 27450
    assert row["input_shape"] == [28, 28, 1]


def test_zoo_table_and_unknown_name():
    result = CliRunner().invoke(main, ["zoo", "lenet_bn_tree"])
    assert result.exit_code == 0
    assert "lenet_bn_tree" in result.output and "mnist, fashion_mnist, kmnist" in result.output
    bad = CliRunner().invoke(main, ["zoo", "no_such_model"])
    assert bad.exit_code != 0
    assert "no_such_model" in bad.output and "multimnist_lenet" in bad.output
