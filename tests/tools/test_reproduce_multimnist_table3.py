"""``multimnist_table3``: tiny reproductions (multidigits, width 2, 1 epoch) of seed 002 Table 3's layout."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from mtlzoo.tools import reproduce as experiments
from mtlzoo.tools.reproduce import multimnist_table3 as table3

MNIST = Path(os.environ.get("MTLZOO_TEST_MNIST", Path(__file__).resolve().parents[2].parent / "shared" / "data"
                            / "mnist.npz"))
METHODS = ["single_task", "mgda_ub"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = experiments.ReproductionFolder(tmp_path_factory.mktemp("t3"))
    options = experiments.ReproduceOptions(epochs=1, seeds=2, width=2, command="mtlzoo reproduce multimnist_table3")
    report = table3.reproduce(folder, options, methods=METHODS, data="multidigits")
    return folder, options, report


def test_report_table_csv_and_plot(tiny):
    folder, _, report = tiny
    text = report.read_text()
    assert "mtlzoo reproduce multimnist_table3" in text and "![accuracy profile](fig3.png)" in text
    for label in ("Single task", "MGDA-UB (Ours)"):
        assert f"| {label} |" in text
    assert "| 97.23 | 95.90 |" in text  # seed 002's single-task numbers beside ours
    rows = list(csv.DictReader((folder.path / "table3.csv").open()))
    assert [r["method"] for r in rows] == METHODS
    assert all(0 <= float(r["left_mean"]) <= 1 and float(r["right_ci95"]) >= 0 for r in rows)
    assert rows[0]["delta_m"] == "" and rows[1]["delta_m"] != ""  # Delta-m% against the single-task row
    runs = list(csv.DictReader((folder.path / "runs.csv").open()))
    assert len(runs) == len(METHODS) * 2
    assert (folder.path / "fig3.png").read_bytes()[:4] == b"\x89PNG"
    # a single-task unit trained one peeled network per task
    unit = folder.load_unit("single_task-right-seed1")
    assert list(unit["tasks"]) == ["right"] and unit["seed"] == 1


def test_a_rerun_reuses_the_finished_units(tiny, monkeypatch):
    folder, options, report = tiny
    import mtlzoo.cli.recipe_run as recipe_run

    def no_training(*args, **kwargs):
        raise AssertionError("a finished unit was trained again")

    monkeypatch.setattr(recipe_run, "run_recipe", no_training)
    before = (folder.path / "table3.csv").read_text()
    table3.reproduce(folder, options, methods=METHODS, data="multidigits")
    assert (folder.path / "table3.csv").read_text() == before
    (folder.unit_path("mgda_ub-seed1")).unlink()  # a deleted unit is trained again
    with pytest.raises(AssertionError, match="trained again"):
        table3.reproduce(folder, options, methods=METHODS, data="multidigits")


def test_bad_methods_are_named():
    with pytest.raises(ValueError, match="unknown method.*'nope'.*known: single_task"):
        table3.reproduce(experiments.ReproductionFolder("unused"), experiments.ReproduceOptions(), methods=["nope"])


def test_cli_missing_data_is_one_line(tmp_path, monkeypatch):
    from mtlzoo.cli.reproduce import reproduce

    monkeypatch.setenv("MTLZOO_OFFLINE", "1")
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(reproduce, ["multimnist_table3", "--data-dir", str(empty), "--epochs", "1",
                                            "--seeds", "1", "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert "needs data that is not here" in result.output and "mnist.npz" in result.output
    assert "Traceback" not in result.output
    changed = CliRunner().invoke(reproduce, ["multimnist_table3", "--data-dir", str(empty), "--epochs", "2",
                                             "--seeds", "1", "--run-dir", str(tmp_path / "r")])
    assert changed.exit_code == 1 and "--epochs 1 (saved) vs 2 (now)" in changed.output


@pytest.mark.slow
@pytest.mark.skipif(not MNIST.is_file(), reason="needs the shared mnist.npz")
def test_cli_every_method_on_real_mnist(tmp_path):
    from mtlzoo.cli.reproduce import reproduce

    result = CliRunner().invoke(reproduce, ["multimnist_table3", "--data-dir", str(MNIST.parent), "--epochs", "1",
                                            "--seeds", "1", "--limit", "400", "--width", "2",
                                            "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r" / "report.md").read_text()
    for label in table3.LABELS.values():
        assert f"| {label} |" in text
    assert "Grid search: " in text


def test_methods_from_the_options_run_in_the_order_given_and_tabulate_in_the_seeds(tmp_path):
    from mtlzoo.training import Recipe

    options = experiments.ReproduceOptions(epochs=1, seeds=1, width=2, methods=("mgda_ub", "uniform"))
    base = table3._base_recipe(Recipe, options, "multidigits")
    assert base.model_config == {"dropout": 0.5, "width": 2}  # the parity recipe's dropout survives --width
    assert base.schedule == {"every": 10, "factor": 0.85} and base.epochs == 1
    assert [u[0] for u in table3._units(["mgda_ub", "single_task"], [0])] == [
        "mgda_ub-seed0", "single_task-left-seed0", "single_task-right-seed0"]
    folder = experiments.ReproductionFolder(tmp_path / "t3")
    report = table3.reproduce(folder, options, data="multidigits")
    rows = list(csv.DictReader((folder.path / "table3.csv").open()))
    assert [r["method"] for r in rows] == ["uniform", "mgda_ub"]  # trained mgda_ub first
    assert "lr x 0.85 every 10 epochs, dropout 0.5 (the MGDA-UB authors' placement)" in report.read_text()
    with pytest.raises(ValueError, match="non-empty tuple"):
        experiments.ReproduceOptions(methods=())


def test_cli_methods_option_is_checked_before_anything_runs(tmp_path):
    from mtlzoo.cli import main

    result = CliRunner().invoke(main, ["reproduce", "multimnist_table3", "--methods", "mgda_ub,nope",
                                       "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and "unknown method(s) ['nope']; known: single_task, uniform" in result.output
    other = CliRunner().invoke(main, ["reproduce", "partition", "--methods", "mgda_ub", "--run-dir",
                                      str(tmp_path / "p")])
    assert other.exit_code == 2 and "compare methods; drop --methods for partition" in other.output
    assert not (tmp_path / "r").exists() and not (tmp_path / "p").exists()
