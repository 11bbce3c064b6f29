"""``mtlzoo search partition``: help, error paths, and a tiny end-to-end search (offline multidigits)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from mtlzoo.cli import main

TINY = ["--data", "multidigits", "--limit", "240", "--trials", "3", "--distill-steps", "4", "--teacher-epochs", "1",
        "--final-epochs", "1", "--width", "2", "--hidden", "4"]


def test_help_explains_the_search_with_examples():
    result = CliRunner().invoke(main, ["search", "partition", "--help"])
    assert result.exit_code == 0
    assert "Table 2" in result.output and "Examples:" in result.output and "--temperature" in result.output
    assert "partition" in CliRunner().invoke(main, ["search", "--help"]).output


@pytest.mark.parametrize("args, message", [
    (["--data", "nope"], "unknown data 'nope'"),
    (["--strategy", "grid"], "'grid' is not one of 'es', 'random'"),
    (["--temperature", "-1"], "'-1' is not a number > 0, 'inf' or 'none'"),
])
def test_bad_options_are_rejected_with_the_known_ones(args, message):
    result = CliRunner().invoke(main, ["search", "partition", *args])
    assert result.exit_code == 2 and message in result.output


def test_datasets_the_partitioned_lenet_cannot_train_are_refused(tmp_path):
    result = CliRunner().invoke(main, ["search", "partition", "--data", "celeba", "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 1 and "needs 28x28x1 images" in result.output and "(64, 64, 3)" in result.output
    assert not (tmp_path / "r").exists()


def test_missing_data_names_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("MTLZOO_OFFLINE", "1")
    result = CliRunner().invoke(main, ["search", "partition", "--data", "planted_mnist", "--data-dir", str(tmp_path),
                                       "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 1 and "mnist.npz" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_tiny_search_writes_the_report_and_resumes(tmp_path):
    run = tmp_path / "run"
    args = ["search", "partition", *TINY, "--run-dir", str(run)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    for name in ("report.md", "trials.csv", "fig4.png", "partition.png", "final.json", "config.json"):
        assert (run / name).is_file(), name
    assert sorted(p.name for p in (run / "teachers").iterdir()) == ["left.keras", "right.keras"]
    with open(run / "trials.csv") as fh:
        trials = list(csv.DictReader(fh))
    assert len(trials) == 3 and {"score", "channel_use", "p_0_1"} <= set(trials[0])
    final = json.loads((run / "final.json").read_text())
    assert list(final) == ["independent", "share_half", "share_all", "es"]
    assert final["share_half"]["channel_use"] == pytest.approx(0.75)
    assert all(0 <= a <= 1 for row in final.values() for a in row["accuracy"].values())
    best = max(trials, key=lambda r: float(r["reward"]))
    assert final["es"]["channel_use"] == pytest.approx(float(best["channel_use"]))
    report = (run / "report.md").read_text()
    assert "| Partitioning | left | right | mean | channel use |" in report
    for label in ("| independent |", "| share half |", "| share all |", "| es (wd 0.01) |"):
        assert label in report
    row = next(line for line in report.splitlines() if line.startswith("| independent |"))
    assert row.endswith(f"| {100 * final['independent']['mean']:.1f} | 0.500 |")
    np.testing.assert_allclose(final["independent"]["P"], np.eye(2) / 2)

    again = CliRunner().invoke(main, args)  # finished: teachers loaded, nothing retrained, same table
    assert again.exit_code == 0 and "Teachers loaded" in again.output and "mean test accuracy" not in again.output
    assert (run / "report.md").read_text() == report
    changed = CliRunner().invoke(main, [*args, "--seed", "1"])
    assert changed.exit_code == 1 and "other options (--seed differ)" in changed.output
