"""``mtlzoo reproduce split_search``: seed 000 Table 1 layout from the greedy split search on planted MNIST."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from mtlzoo.testing import seed_everything
from mtlzoo.tools import reproduce as r
from mtlzoo.tools.reproduce import split_search

MNIST = Path(os.environ.get("MTLZOO_TEST_MNIST", Path(__file__).resolve().parents[2] / "../shared/data/mnist.npz"))
TASKS = ["digit", "shifted", "teacher"]


def _raise(*args, **kwargs):
    raise AssertionError("a finished unit was run again")


def _save_units(folder, seeds):
    """Finished units as a run writes them (numbers made up: this checks the report and the resume, not results)."""
    for seed in seeds:
        for method, groups in (("search", [["digit", "shifted"], ["teacher"]]), ("random1", [["digit"], [
                "shifted", "teacher"]]), ("random2", [["digit", "teacher"], ["shifted"]])):
            record = {"method": method, "block": "conv2", "first_partition": groups,
                      "recovered": method == "search", "seconds": 30.0, "search_seconds": 9.0,
                      "fine_tuned_networks": 3 if method == "search" else 0, "tree": {}}
            if method == "search":
                record.update(task_affinity={"tasks": TASKS, "matrix": [[0, .002, .003], [.002, 0, .003],
                                                                         [.003, .003, 0]]}, stress={"conv2": .1})
            folder.save_unit(f"{method}-seed{seed}", record)
        for k, method in enumerate(split_search.METHODS):
            folder.save_unit(f"final-{method}-seed{seed}", {
                **{f"{t}_loss": 0.1 + 0.01 * k for t in TASKS}, **{f"{t}_accuracy": 0.97 - 0.01 * k for t in TASKS},
                "parameters": 1000, "groups": "digit+shifted | teacher", "seconds": 5.0})


def test_finished_units_are_reused_and_the_report_has_table1(tmp_path, monkeypatch):
    folder = r.ReproductionFolder(tmp_path)
    _save_units(folder, [0, 1])
    monkeypatch.setattr(split_search, "_search", _raise)
    monkeypatch.setattr(split_search, "final_training", _raise)
    report = r.get("split_search")(folder, r.ReproduceOptions(seeds=2, limit=600, command="mtlzoo reproduce x"))
    text = report.read_text()
    assert "mtlzoo reproduce x" in text and "**2 of 2**" in text
    assert "0.9119" in text and "0.0236" in text  # seed 000 Table 1 (c) and (a)
    assert "![per-task accuracy](accuracy.png)" in text and "![affinity seed 1](affinity_seed1.png)" in text
    with open(tmp_path / "table1.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["method"] for row in rows] == ["searched (Alg. 5)", "random 1", "random 2"]
    assert list(rows[0]) == ["method", "seeds"] + [f"{t}_{m}" for t in TASKS for m in ("loss", "accuracy")]
    assert float(rows[1]["digit_accuracy"]) == pytest.approx(0.96)
    with open(tmp_path / "table1_per_seed.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 6
    for png in ("accuracy.png", "affinity_seed0.png", "affinity_seed1.png"):
        assert (tmp_path / png).stat().st_size > 5_000


def test_mean_rows_average_over_seeds():
    rows = split_search.mean_rows([{"method": "random1", "a_loss": 1.0, "a_accuracy": 0.5},
                                   {"method": "random1", "a_loss": 3.0, "a_accuracy": 0.7}], ["a"])
    assert rows == [{"method": "random 1", "seeds": 2, "a_loss": 2.0, "a_accuracy": pytest.approx(0.6)}]


def test_bad_limit_is_named(tmp_path):
    with pytest.raises(ValueError, match="limit=5"):
        r.get("split_search")(r.ReproductionFolder(tmp_path), r.ReproduceOptions(limit=5))


def test_missing_mnist_raises_data_not_found(tmp_path):
    import mtlzoo

    with pytest.raises(mtlzoo.data.DataNotFoundError):
        r.get("split_search")(r.ReproductionFolder(tmp_path / "run"),
                              r.ReproduceOptions(seeds=1, limit=60, data_dir=str(tmp_path), width=2))


@pytest.mark.slow
@pytest.mark.skipif(not MNIST.is_file(), reason=f"needs real MNIST at {MNIST} (set MTLZOO_TEST_MNIST)")
def test_tiny_real_run_then_resume(tmp_path, monkeypatch):
    seed_everything(0)
    folder = r.ReproductionFolder(tmp_path)
    options = r.ReproduceOptions(epochs=1, seeds=1, limit=240, width=2, data_dir=str(MNIST.parent))
    report = r.get("split_search")(folder, options)
    search = folder.load_unit("search-seed0")
    assert search["block"] == "conv2" and len(search["task_affinity"]["matrix"]) == 3
    assert (folder.run_dir("search-seed0") / "search.json").is_file()
    assert 0.0 <= folder.load_unit("final-random2-seed0")["teacher_accuracy"] <= 1.0
    assert "Table 1 layout" in report.read_text()
    monkeypatch.setattr(split_search, "_search", _raise)
    monkeypatch.setattr(split_search, "final_training", _raise)
    report.unlink()
    assert r.get("split_search")(folder, options).is_file()
