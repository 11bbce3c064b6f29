"""``mtlzoo evaluate``: per-task metrics of a run folder or .keras file, Delta-m%, and its error paths."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mtlzoo.cli import main
from mtlzoo.tools.evaluation import delta_m


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("eval") / "run"
    result = CliRunner().invoke(main, ["train", "--epochs", "1", "--run-dir", str(run)])
    assert result.exit_code == 0, result.output
    return run


def test_evaluate_a_run_folder_matches_its_evaluation_json_and_computes_delta_m(run_dir, tmp_path):
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(main, ["evaluate", str(run_dir), "--baseline", "left=0.5",
                                       "--baseline", f"right={run_dir}", "--out", str(out)])
    assert result.exit_code == 0, result.output
    saved = json.loads((run_dir / "evaluation.json").read_text())
    got = json.loads(out.read_text())
    for task in ("left", "right"):
        assert got["tasks"][task]["accuracy"] == pytest.approx(saved["tasks"][task]["accuracy"], abs=1e-6)
    left = got["tasks"]["left"]["accuracy"]
    expected = 100 * ((left - 0.5) / 0.5 + 0.0) / 2  # right against itself: no change
    assert got["delta_m"] == pytest.approx(expected, rel=1e-6)
    assert "Delta-m%" in result.output and "left: " in result.output


def test_evaluate_a_keras_file_needs_its_recipe_data(run_dir):
    result = CliRunner().invoke(main, ["evaluate", str(run_dir / "model.keras"), "--data", "multidigits"])
    assert result.exit_code == 0, result.output
    assert "multimnist_lenet on multidigits (test)" in result.output


@pytest.mark.parametrize("args, code, message", [
    (["--baseline", "left"], 2, "is not TASK=SOURCE"),
    (["--baseline", "up=0.5"], 2, "unknown task(s) ['up']"),
    (["--baseline", "left=nowhere"], 2, "not a number, nor a run folder"),
    (["--data", "nope"], 2, "unknown data 'nope'"),
    (["--data", "multimnist", "--data-dir", "EMPTY"], 1, "mnist.npz"),
])
def test_errors_name_the_input(run_dir, tmp_path, monkeypatch, args, code, message):
    monkeypatch.setenv("MTLZOO_OFFLINE", "1")
    args = [str(tmp_path) if a == "EMPTY" else a for a in args]
    result = CliRunner().invoke(main, ["evaluate", str(run_dir), *args])
    assert result.exit_code == code, result.output
    assert message in result.output


def test_delta_m_signs_and_errors():
    better_loss = delta_m({"a": {"mae": 0.5}}, {"a": {"mae": 1.0}})
    assert better_loss == pytest.approx(50.0)  # lower is better: halving the error is +50%
    with pytest.raises(ValueError, match="no metric"):
        delta_m({"a": {"accuracy": 0.5}}, {"b": {"accuracy": 0.5}})
    with pytest.raises(ValueError, match="is 0"):
        delta_m({"a": {"accuracy": 0.5}}, {"a": {"accuracy": 0.0}})
