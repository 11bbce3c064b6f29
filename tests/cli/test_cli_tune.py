"""``mtlzoo tune static-weights`` through click's CliRunner: help, a tiny resumable run, bad options."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from mtlzoo.cli.tune import tune

TINY = ["--width", "2", "--resolution", "3", "--epochs", "1", "--limit", "300", "--batch-size", "64"]


def _run(*args, env=None):
    return CliRunner().invoke(tune, ["static-weights", *args], env=env)


def test_help_explains_the_group_and_the_command_with_examples():
    group = CliRunner().invoke(tune, ["--help"])
    assert group.exit_code == 0 and "static-weights" in group.output and "Examples:" in group.output
    text = _run("--help").output
    assert "Examples:" in text and "mtlzoo tune static-weights --epochs 5" in text
    for option in ("--model", "--data", "--data-dir", "--resolution", "--epochs", "--batch-size", "--seed",
                   "--limit", "--validation-fraction", "--width", "--run-dir"):
        assert option in text
    flat = " ".join(text.split())
    assert "MTLZOO_DATA_DIR" in flat and "the test split is never used" in flat


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("tune") / "tiny"
    result = _run(*TINY, "--run-dir", str(run_dir))
    assert result.exit_code == 0, result.output
    return run_dir, result.output


def test_a_tiny_run_writes_best_json_and_trials_csv_and_prints_the_table(tiny_run):
    run_dir, output = tiny_run
    assert "2 trial(s), 2 trained now, 0 read back" in output
    assert "index  w_left  w_right  val_mean_accuracy  epoch" in output
    assert "270 training / 30 validation examples" in output
    best = json.loads((run_dir / "best.json").read_text())
    rows = list(csv.DictReader((run_dir / "trials.csv").open()))
    assert [float(r["w_left"]) for r in rows] == pytest.approx([1 / 3, 2 / 3])
    scores = [float(r["val_mean_accuracy"]) for r in rows]
    assert best["best_objective"] == pytest.approx(max(scores))
    assert sum(best["best_weights"].values()) == pytest.approx(1.0)
    assert best["options"]["resolution"] == 3 and best["options"]["data"] == "multidigits"
    assert f"Best weights: left {best['best_weights']['left']:.3f}" in output
    assert not list(run_dir.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_rerunning_the_same_command_resumes_without_training(tiny_run):
    run_dir, _ = tiny_run
    again = _run(*TINY, "--run-dir", str(run_dir))
    assert again.exit_code == 0, again.output
    assert "2 trial(s), 0 trained now, 2 read back" in again.output


def test_a_run_folder_made_with_other_options_is_refused(tiny_run):
    run_dir, _ = tiny_run
    result = _run(*TINY, "--seed", "1", "--run-dir", str(run_dir))
    assert result.exit_code == 1
    assert "seed 0 (saved) vs 1 (now)" in result.output and "--run-dir" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "nope"], "unknown model 'nope'; known:"),
    (["--data", "nope"], "unknown data 'nope'; known:"),
    (["--epochs", "0"], "Invalid value for '--epochs'"),
    (["--validation-fraction", "1.5"], "Invalid value for '--validation-fraction'"),
    (["--limit", "1"], "Invalid value for '--limit'"),
])
def test_bad_options_are_usage_errors(args, message, tmp_path):
    result = _run(*args, "--run-dir", str(tmp_path / "r"))
    assert result.exit_code == 2 and message in result.output, result.output


def test_errors_name_the_fix(tmp_path):
    too_coarse = _run("--width", "2", "--resolution", "1", "--run-dir", str(tmp_path / "a"))
    assert too_coarse.exit_code == 1 and "use a resolution >= 2" in too_coarse.output
    missing = _run("--data", "multimnist", "--data-dir", str(tmp_path), "--run-dir", str(tmp_path / "b"),
                   env={"MTLZOO_OFFLINE": "1"})
    assert missing.exit_code == 1 and "--data multimnist" in missing.output and "mnist" in missing.output
    tiny_validation = _run(*TINY[:-4], "--limit", "20", "--validation-fraction", "0.01", "--run-dir",
                           str(tmp_path / "c"))
    assert tiny_validation.exit_code == 1 and "raise the limit" in tiny_validation.output
