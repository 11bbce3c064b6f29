"""``mtlzoo reproduce hybrid_speed``: tiny trainings on multidigits, the summary maths, resume and errors."""

import csv
import os
from pathlib import Path

import pytest

from mtlzoo.tools import reproduce
from mtlzoo.tools.reproduce import hybrid_speed, hybrid_speed_summary, hybrid_speed_training

MNIST = Path(os.environ.get("MTLZOO_TEST_MNIST", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
                            / "mnist.npz"))


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def _unit(balancer, seed, seconds, loss, **history):
    return {"balancer": balancer, "seed": seed, "epochs": len(seconds), "seconds": seconds,
            "initial_test": {"loss": 4.6}, "history": {"loss": loss, **history}}


def test_summary_per_seed_ratios_time_to_target_and_switch():
    units = {"uniform": [_unit("uniform", 0, [3.0, 1.0, 1.0], [2.0, 1.5, 1.2]),
                         _unit("uniform", 1, [3.0, 2.0, 2.0], [2.0, 1.6, 1.4])],
             "hybrid": [_unit("hybrid", 0, [4.0, 2.0, 2.0], [1.9, 1.1, 1.0], hybrid_phase=[0.0, 1.0, 1.0]),
                        _unit("hybrid", 1, [4.0, 2.0, 2.0], [1.9, 1.7, 1.5], hybrid_phase=[0.0, 0.0, 0.0])]}
    rows = {r["balancer"]: r for r in hybrid_speed_summary.summary_rows(units)}
    assert rows["uniform"]["ratio_to_uniform"] == 1.0
    assert rows["hybrid"]["ratio_to_uniform"] == pytest.approx((2.0 / 1.0 + 2.0 / 2.0) / 2)
    # seed 0 reaches uniform's final 1.2 at epoch 2 (6 s); seed 1 never reaches 1.4
    assert rows["hybrid"]["time_to_uniform_loss"] == pytest.approx(6.0)
    assert rows["hybrid"]["reached"] == "1/2"
    assert rows["hybrid"]["hybrid_switch_epochs"] == "2,never"
    curves = hybrid_speed_summary.curve_rows(units)
    last = [r for r in curves if r["balancer"] == "hybrid"][-1]
    assert last["epoch"] == 3 and last["seconds"] == pytest.approx(8.0) and last["loss"] == pytest.approx(1.25)
    assert hybrid_speed_summary.same_start(units)
    with pytest.raises(ValueError, match="reference balancer 'uniform'"):
        hybrid_speed_summary.summary_rows({"hybrid": units["hybrid"]})


@pytest.mark.parametrize("kwargs, match", [({"limit": 0}, "limit=0"), ({"width": 0}, "width=0")])
def test_bad_options_are_named(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        hybrid_speed.reproduce(reproduce.ReproductionFolder(tmp_path), reproduce.ReproduceOptions(**kwargs))


def test_tiny_run_writes_report_csv_plots_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(hybrid_speed_training, "DATASET", "multidigits")
    monkeypatch.setattr(hybrid_speed_training, "BALANCERS", ("uniform", "hybrid"))
    folder = reproduce.ReproductionFolder(tmp_path)
    options = reproduce.ReproduceOptions(epochs=2, seeds=1, limit=256, width=2, command="mtlzoo reproduce hs")
    path = hybrid_speed.reproduce(folder, options)
    text = path.read_text()
    assert "mtlzoo reproduce hs" in text and "several tens of times" in text
    assert "![hybrid_speed_loss_vs_time](hybrid_speed_loss_vs_time.png)" in text
    assert "identical across balancers: yes" in text
    rows = _rows(tmp_path / "hybrid_speed.csv")
    assert [r["balancer"] for r in rows] == ["uniform", "hybrid"]
    assert float(rows[0]["ratio_to_uniform"]) == 1.0 and float(rows[1]["seconds_per_epoch"]) > 0
    assert rows[0]["pareto_stationary_last"] == "" and 0 <= float(rows[1]["pareto_stationary_last"]) <= 1
    curves = _rows(tmp_path / "hybrid_speed_curves.csv")
    assert [(r["balancer"], r["epoch"]) for r in curves] == [(b, str(e)) for b in ("uniform", "hybrid")
                                                             for e in range(3)]
    for name in ("hybrid_speed_loss_vs_time", "hybrid_speed_pareto_stationary"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    unit = folder.load_unit("hybrid-seed0")
    assert len(unit["seconds"]) == 2 and len(unit["history"]["val_loss"]) == 2
    assert "hybrid_phase" in unit["history"] and "pareto_stationary" in unit["history"]

    def boom(*args, **kwargs):
        raise AssertionError("the finished units must be reused")

    monkeypatch.setattr(hybrid_speed_training, "train_unit", boom)
    (tmp_path / "report.md").unlink()
    assert hybrid_speed.reproduce(folder, options).is_file()
    with pytest.raises(ValueError, match="2-epoch run, not 3"):
        hybrid_speed.reproduce(folder, reproduce.ReproduceOptions(epochs=3, seeds=1, limit=256, width=2))


def test_missing_mnist_raises_data_not_found(tmp_path, monkeypatch):
    from mtlzoo.data import DataNotFoundError

    for name, value in {"MTLZOO_OFFLINE": "1", "KERAS_HOME": str(tmp_path), "TFDS_DATA_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MTLZOO_DATA_DIR", raising=False)
    options = reproduce.ReproduceOptions(epochs=1, seeds=1, limit=64, width=2, data_dir=str(tmp_path))
    with pytest.raises(DataNotFoundError):
        hybrid_speed.reproduce(reproduce.ReproductionFolder(tmp_path / "run"), options)


@pytest.mark.slow
@pytest.mark.skipif(not MNIST.is_file(), reason=f"real MNIST not found at {MNIST}")
def test_all_balancers_on_real_multimnist(tmp_path):
    options = reproduce.ReproduceOptions(epochs=2, seeds=2, limit=512, width=2, data_dir=str(MNIST.parent))
    hybrid_speed.reproduce(reproduce.ReproductionFolder(tmp_path), options)
    rows = _rows(tmp_path / "hybrid_speed.csv")
    assert [r["balancer"] for r in rows] == list(hybrid_speed_training.BALANCERS)
    assert all(r["seeds"] == "2" for r in rows)
    assert all(float(r["test_loss"]) > 0 for r in rows)
    assert "identical across balancers: yes" in (tmp_path / "report.md").read_text()
