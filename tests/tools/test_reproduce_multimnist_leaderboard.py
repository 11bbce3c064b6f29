"""``multimnist_leaderboard``: a tiny leaderboard end to end (multidigits, width 2, 2 epochs, 1 seed), and its
table from hand-made units against a hand computation (scipy's t interval)."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from mtlzoo.tools import reproduce as experiments
from mtlzoo.tools.reproduce import multimnist_leaderboard as leaderboard
from mtlzoo.tools.reproduce import multimnist_leaderboard_report as report_module

MNIST = Path(os.environ.get("MTLZOO_TEST_MNIST", Path(__file__).resolve().parents[2].parent / "shared" / "data"
                            / "mnist.npz"))
METHODS = ["single_task", "uniform"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = experiments.ReproductionFolder(tmp_path_factory.mktemp("lb"))
    options = experiments.ReproduceOptions(epochs=2, seeds=1, width=2, limit=120,
                                           command="mtlzoo reproduce multimnist_leaderboard", methods=tuple(METHODS))
    report = leaderboard.reproduce(folder, options, data="multidigits")
    return folder, options, report


def test_report_csv_and_plot(tiny):
    folder, _, report = tiny
    text = report.read_text()
    assert "mtlzoo reproduce multimnist_leaderboard" in text and "![accuracy against cost](leaderboard.png)" in text
    assert ("| rank | method | left [%] | right [%] | mean [%] | Δm% | vs uniform [pts] | s/epoch | × uniform |"
            in text)
    for method in METHODS:
        assert f"| {method} |" in text
    assert "one seed gives no confidence intervals" in text
    rows = list(csv.DictReader((folder.path / "leaderboard.csv").open()))
    assert sorted(r["method"] for r in rows) == sorted(METHODS)
    assert [int(r["rank"]) for r in rows] == [1, 2]
    deltas = [float(r["delta_m"]) for r in rows]
    assert deltas == sorted(deltas, reverse=True)  # ranked by Delta-m%
    by = {r["method"]: r for r in rows}
    assert float(by["single_task"]["delta_m"]) == pytest.approx(0.0, abs=1e-9)
    assert float(by["uniform"]["time_vs_uniform"]) == pytest.approx(1.0)
    for r in rows:
        assert 0 <= float(r["left_mean"]) <= 1 and math.isnan(float(r["right_ci95"]))  # one seed: no interval
        assert float(r["seconds_per_epoch"]) > 0
    assert len(list(csv.DictReader((folder.path / "runs.csv").open()))) == len(METHODS)
    assert (folder.path / "leaderboard.png").read_bytes()[:4] == b"\x89PNG"
    unit = folder.load_unit("uniform-seed0")
    assert unit["epochs"] == 2 and len(unit["epoch_seconds"]) == 2 and set(unit["tasks"]) == {"left", "right"}
    assert list(folder.load_unit("single_task-right-seed0")["tasks"]) == ["right"]


def fake_units(accuracies, seconds):
    """Units as ``run_unit`` saves them: ``accuracies[method][seed] = (left, right)``."""
    results = {}
    for method, per_seed in accuracies.items():
        for seed, (left, right) in enumerate(per_seed):
            if method == "single_task":
                results[f"single_task-left-seed{seed}"] = {"tasks": {"left": {"accuracy": left}},
                                                           "epoch_seconds": [9.0, seconds[method] / 2]}
                results[f"single_task-right-seed{seed}"] = {"tasks": {"right": {"accuracy": right}},
                                                            "epoch_seconds": [9.0, seconds[method] / 2]}
            else:
                results[f"{method}-seed{seed}"] = {"tasks": {"left": {"accuracy": left}, "right": {"accuracy": right}},
                                                   "epoch_seconds": [9.0, seconds[method], seconds[method]]}
    return results


def test_table_against_a_hand_computation():
    from scipy import stats

    acc = {"single_task": [(0.90, 0.80), (0.92, 0.82), (0.91, 0.84)],
           "uniform": [(0.88, 0.80), (0.90, 0.81), (0.89, 0.80)],
           "famo": [(0.91, 0.83), (0.93, 0.84), (0.90, 0.82)]}
    seconds = {"single_task": 8.0, "uniform": 4.0, "famo": 5.0}
    rows, runs = report_module.table(list(acc), [0, 1, 2], fake_units(acc, seconds))
    by = {r["method"]: r for r in rows}
    single = {t: sum(a[i] for a in acc["single_task"]) / 3 for i, t in enumerate(("left", "right"))}
    for method in ("uniform", "famo"):
        deltas = [50 * ((l - single["left"]) / single["left"] + (r - single["right"]) / single["right"])
                  for l, r in acc[method]]
        half = stats.t.ppf(0.975, 2) * stats.tstd(deltas) / 3 ** 0.5
        assert by[method]["delta_m"] == pytest.approx(sum(deltas) / 3)
        assert by[method]["delta_m_ci95"] == pytest.approx(half)
    diffs = [50 * ((a + b) - (c + d)) for (a, b), (c, d) in zip(acc["famo"], acc["uniform"])]  # points, by seed
    assert by["famo"]["vs_uniform"] == pytest.approx(sum(diffs) / 3)
    assert by["famo"]["vs_uniform_ci95"] == pytest.approx(stats.t.ppf(0.975, 2) * stats.tstd(diffs) / 3 ** 0.5)
    assert [r["method"] for r in rows] == ["famo", "single_task", "uniform"] and [r["rank"] for r in rows] == [1, 2, 3]
    assert by["single_task"]["seconds_per_epoch"] == pytest.approx(8.0)  # both networks, tracing epoch left out
    assert by["famo"]["time_vs_uniform"] == pytest.approx(1.25)
    assert len(runs) == 9
    assert "better than uniform beyond the interval: famo" in report_module.reading(rows)


def test_a_rerun_reuses_the_finished_units(tiny, monkeypatch):
    folder, options, _ = tiny
    import mtlzoo.cli.recipe_run as recipe_run

    def no_training(*args, **kwargs):
        raise AssertionError("a finished unit was trained again")

    monkeypatch.setattr(recipe_run, "run_recipe", no_training)
    before = (folder.path / "leaderboard.csv").read_text()
    leaderboard.reproduce(folder, options, data="multidigits")
    assert (folder.path / "leaderboard.csv").read_text() == before
    folder.unit_path("uniform-seed0").unlink()  # a deleted unit is trained again
    with pytest.raises(AssertionError, match="trained again"):
        leaderboard.reproduce(folder, options, data="multidigits")


def test_methods_are_read_from_the_registry_when_it_runs(monkeypatch):
    from mtlzoo.training import balancers

    names = leaderboard.method_names()
    assert names[0] == "single_task" and "static" not in names
    assert {"uniform", "mgda_ub", "dwa", "rlw", "gls", "famo", "db_mtl", "stch"} <= set(names)
    monkeypatch.setattr(balancers, "names", lambda: ("uniform", "added_later", "static"))
    assert leaderboard.method_names() == ["single_task", "uniform", "added_later"]
    with pytest.raises(ValueError, match=r"unknown method\(s\) \['nope'\]; known: single_task, uniform, added_later"):
        leaderboard.check_methods(["uniform", "nope"])


def test_reading_names_the_methods_that_separate_from_uniform():
    def row(method, diff, half):
        return {"method": method, "vs_uniform": diff, "vs_uniform_ci95": half}

    rows = [row("uniform", 0.0, 0.0), row("a", 1.0, 0.5), row("b", -2.0, 1.0), row("c", 0.3, 0.5)]
    text = report_module.reading(rows)
    assert "better than uniform beyond the interval: a;" in text and "worse: b;" in text
    assert "indistinguishable from uniform: c." in text
    assert "one seed" in report_module.reading([row("uniform", 0.0, math.nan), row("a", 1.0, math.nan)])


def test_epoch_seconds_skip_the_tracing_epoch():
    assert report_module.epoch_seconds({"epoch_seconds": [9.0, 1.0, 3.0, 2.0]}) == 2.0
    assert report_module.epoch_seconds({"epoch_seconds": [9.0]}) == 9.0
    assert math.isnan(report_module.epoch_seconds({"epoch_seconds": []}))


def test_cli_refuses_unknown_methods_in_one_line(tmp_path):
    from mtlzoo.cli.reproduce import reproduce

    result = CliRunner().invoke(reproduce, ["multimnist_leaderboard", "--methods", "uniform,nope", "--run-dir",
                                            str(tmp_path / "r")])
    assert result.exit_code == 2 and "unknown method(s) ['nope']" in result.output and "db_mtl" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
@pytest.mark.skipif(not MNIST.is_file(), reason="needs the shared mnist.npz")
def test_cli_on_real_mnist(tmp_path):
    from mtlzoo.cli.reproduce import reproduce

    result = CliRunner().invoke(reproduce, ["multimnist_leaderboard", "--data-dir", str(MNIST.parent), "--epochs", "1",
                                            "--seeds", "1", "--limit", "300", "--width", "2", "--methods",
                                            "single_task,uniform,dwa,stch", "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r" / "report.md").read_text()
    for method in ("single_task", "uniform", "dwa", "stch"):
        assert f"| {method} |" in text
    assert "one seed gives no confidence intervals" in text
