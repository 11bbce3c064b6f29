"""``mtlzoo reproduce partition``: seed 004 Table 2 layout from the partition-search pipeline."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from mtlzoo.testing import seed_everything
from mtlzoo.tools import reproduce as r
from mtlzoo.tools.reproduce import partition
from mtlzoo.tools.reproduce.partition_table import mean_ci, table_rows


def _raise(*args, **kwargs):
    raise AssertionError("a finished unit was run again")


def test_mean_ci_uses_the_t_distribution():
    from scipy import stats

    mean, half = mean_ci([0.8, 0.9, 1.0])
    assert mean == pytest.approx(0.9)
    assert half == pytest.approx(stats.t.ppf(0.975, 2) * 0.1 / np.sqrt(3))
    assert np.isnan(mean_ci([0.5])[1])


def test_table_rows_are_percent_with_ci_per_partitioning():
    results = [{"partitioning": p, "seed": s, "accuracy": {"a": 0.5 + 0.1 * s, "b": 0.9}, "mean": 0.7 + 0.05 * s,
                "channel_use": 0.5} for p in ("independent", "es") for s in (0, 1)]
    rows = table_rows(results, ["a", "b"])
    assert [row["partitioning"] for row in rows] == ["independent", "es"]
    assert rows[0]["a"] == pytest.approx(55.0) and rows[0]["b_ci95"] == pytest.approx(0.0)
    assert rows[1]["mean_ci95"] > 0 and rows[1]["channel_use"] == pytest.approx(0.5)


@pytest.mark.slow  # teachers, a keras-tuner search and four trainings per seed: ~25-50 s on 2 cores
@pytest.mark.parametrize("seeds", [1, 2])
def test_tiny_run_on_multidigits_writes_table2_and_resumes(tmp_path, monkeypatch, seeds):
    seed_everything(0)
    monkeypatch.setattr(partition, "DATA", "multidigits")  # offline; mnist_attributes needs mnist.npz
    monkeypatch.setitem(partition.SETTINGS, "trials", 2)
    monkeypatch.setitem(partition.SETTINGS, "distill_steps", 3)
    monkeypatch.setitem(partition.SETTINGS, "teacher_epochs", 1)
    monkeypatch.setitem(partition.SETTINGS, "hidden", 8)
    folder = r.ReproductionFolder(tmp_path)
    options = r.ReproduceOptions(epochs=1, seeds=seeds, limit=60, width=2, command="mtlzoo reproduce partition")
    report = r.get("partition")(folder, options)
    text = report.read_text()
    assert "mtlzoo reproduce partition" in text and "79.8 ± 0.2" in text  # seed 004 Table 2, share all total
    assert "| es (wd 0.01) |" in text and "![accuracy vs channel use](channel_use.png)" in text
    with open(tmp_path / "table2.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["partitioning"] for row in rows] == list(partition.PARTITIONINGS)
    assert {"left", "left_ci95", "right", "mean", "mean_ci95", "channel_use", "channel_use_ci95"} <= set(rows[0])
    assert float(rows[0]["channel_use"]) == pytest.approx(0.5) and float(rows[2]["channel_use"]) == 1.0
    assert all(row["seeds"] == str(seeds) for row in rows)
    with open(tmp_path / "table2_per_seed.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 4 * seeds
    assert (folder.run_dir(f"search-seed{seeds - 1}") / "teachers" / "left.keras").is_file()
    for png in ("accuracy.png", "channel_use.png"):
        assert (tmp_path / png).stat().st_size > 5_000
    import mtlzoo.tools.partition_search.partition_pipeline as pipeline

    monkeypatch.setattr(pipeline, "run_partition_search", _raise)
    monkeypatch.setattr(pipeline, "train_final_partition", _raise)
    report.unlink()
    assert r.get("partition")(folder, options).is_file()


def test_finished_units_are_reused_without_data(tmp_path, monkeypatch):
    """Saved units (numbers made up: this checks the resume and the report, not results) need no data or training."""
    import mtlzoo.tools.partition_search.partition_pipeline as pipeline

    folder = r.ReproductionFolder(tmp_path)
    for seed in (0, 1, 2):
        folder.save_unit(f"search-seed{seed}", {"P": np.eye(4).tolist(), "best": {"reward": 0.8}, "trials": []})
        for k, name in enumerate(partition.PARTITIONINGS):
            accuracy = {t: 0.9 + 0.01 * k + 0.002 * seed for t in ("digit", "parity", "high", "mod3")}
            folder.save_unit(f"final-{name}-seed{seed}", {"P": np.eye(4).tolist(), "accuracy": accuracy,
                                                          "mean": float(np.mean(list(accuracy.values()))),
                                                          "channel_use": 0.25 + 0.25 * k, "seconds": 1.0})
    for name in ("partition_data", "run_partition_search", "train_final_partition"):
        monkeypatch.setattr(pipeline, name, _raise)
    report = r.get("partition")(folder, r.ReproduceOptions(seeds=3, data_dir=str(tmp_path / "nowhere")))
    text = report.read_text()
    assert "| es (wd 0.01) | 93.2 ± 0.5 |" in text  # mean of 93.0, 93.2, 93.4 with t(0.975, 2) * 0.2 / sqrt(3)
    assert "Ranking by mean accuracy here: es (wd 0.01) > share all > share half > independent" in text
    with open(tmp_path / "table2.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["partitioning"] for row in rows] == list(partition.PARTITIONINGS)
    assert float(rows[3]["channel_use"]) == pytest.approx(1.0)


def test_bad_limit_is_named(tmp_path):
    with pytest.raises(ValueError, match="limit=4"):
        r.get("partition")(r.ReproductionFolder(tmp_path), r.ReproduceOptions(limit=4))


def test_missing_mnist_raises_data_not_found(tmp_path):
    import mtlzoo

    with pytest.raises(mtlzoo.data.DataNotFoundError):
        r.get("partition")(r.ReproductionFolder(tmp_path / "run"),
                           r.ReproduceOptions(seeds=1, limit=60, data_dir=str(tmp_path), width=2))
