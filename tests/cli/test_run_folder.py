"""``RunFolder``: atomic writes, option conflicts, resume state and history bookkeeping (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mtlzoo.cli.run_folder import RunFolder

CSV_LOGGER_ROWS = (  # what keras.callbacks.CSVLogger(append=True) leaves after a kill during epoch 2's backup
    "epoch,left_accuracy,loss,val_left_accuracy,val_loss\n"
    "0,0.5,2.0,NA,NA\n"
    "1,0.625,1.5,NA,NA\n"
    "2,0.75,1.25,NA,NA\n"
)


class _Weights:
    """Stands in for a model: ``save_weights`` writes a small real HDF5 file."""

    def save_weights(self, path):
        import h5py

        assert str(path).endswith(".weights.h5")
        with h5py.File(path, "w") as f:
            f["w"] = np.arange(6.0)


def _backup(run: RunFolder, epoch: int, weights: bool = True) -> None:
    run.backup.save(_Weights(), epoch)
    if not weights:
        run.backup.weights_path().unlink()


def test_layout(tmp_path):
    run = RunFolder(tmp_path / "run")
    names = {p.relative_to(run.path).as_posix() for p in (run.config_path, run.history_csv, run.history_json,
                                                           run.backup_dir, run.checkpoint_path, run.tensorboard_dir,
                                                           run.model_path, run.evaluation_path)}
    assert names == {"config.json", "history.csv", "history.json", "backup", "checkpoints/last.keras",
                     "tensorboard", "model.keras", "evaluation.json"}
    assert not run.path.exists()  # nothing is created before the first write


def test_config_round_trip_and_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    run = RunFolder(tmp_path / "run")
    assert run.read_config() is None
    run.write_config({"options": {"lr": 0.1, "shape": (28, 28)}, "path": Path("/x")})
    assert run.read_config() == {"options": {"lr": 0.1, "shape": [28, 28]}, "path": "/x"}

    def half_write(self, text, *args, **kwargs):
        with open(self, "w") as f:
            f.write(text[: len(text) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", half_write)
    with pytest.raises(OSError, match="disk full"):
        run.write_config({"options": {"lr": 0.2}})
    monkeypatch.undo()
    assert run.read_config()["options"]["lr"] == 0.1
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json"]  # the temporary file is gone


def test_unreadable_config_names_the_file(tmp_path):
    run = RunFolder(tmp_path)
    run.config_path.write_text('{"options": ')
    with pytest.raises(ValueError, match=r"config\.json is not valid JSON.*--run-dir"):
        run.read_config()


def test_conflicts_ignore_mutable_options_and_float_round_off(tmp_path):
    run = RunFolder(tmp_path)
    assert run.conflicts({"lr": 1.0}) == {}  # a new run conflicts with nothing
    run.write_config({"options": {"model": "m", "lr": 0.009999999776482582, "epochs": 3, "run_dir": "a",
                                  "data_dir": None, "balancer": "mgda_ub", "seed": 0}})
    same = {"model": "m", "lr": 0.01, "epochs": 10, "run_dir": "b", "data_dir": "/data", "balancer": "mgda_ub",
            "seed": 0}
    assert run.conflicts(same) == {}
    assert run.conflicts({**same, "lr": 0.02, "seed": 1, "balancer": "uniform"}) == {
        "lr": (0.009999999776482582, 0.02), "seed": (0, 1), "balancer": ("mgda_ub", "uniform")}
    assert run.conflicts({**same, "epochs": 1}, ignore=()) == {"epochs": (3, 1), "run_dir": ("a", "b"),
                                                                "data_dir": (None, "/data")}


def test_epochs_done_reads_the_backup_state(tmp_path):
    run = RunFolder(tmp_path / "a")
    assert run.epochs_done() == 0
    _backup(run, 4)
    assert run.epochs_done() == 4
    assert run.resume_point() == (4, "backup")
    _backup(run, 5)  # the next epoch replaces the previous backup
    assert sorted(p.name for p in run.backup_dir.iterdir()) == ["epoch-5.weights.h5", "training_metadata.json"]
    no_weights = RunFolder(tmp_path / "b")
    _backup(no_weights, 4, weights=False)
    assert no_weights.epochs_done() == 0  # metadata without weights cannot be resumed
    with pytest.raises(ValueError, match=r"epoch-4\.weights\.h5 is missing \(named by .*training_metadata\.json\); "
                                         r"delete .*backup to continue from model\.keras"):
        no_weights.check()


def test_finished_epochs_needs_evaluation_and_model(tmp_path):
    run = RunFolder(tmp_path)
    run.write_json(run.evaluation_path, {"epochs": 5})
    assert run.finished_epochs() is None
    run.model_path.write_bytes(b"model")
    assert run.finished_epochs() == 5


def test_trim_history_before_resuming_and_write_history(tmp_path):
    run = RunFolder(tmp_path)
    run.history_csv.write_text(CSV_LOGGER_ROWS)
    run.trim_history(2)  # the backup says two epochs finished: the row of epoch 2 is dropped
    assert [r["epoch"] for r in run.history_rows()] == [0, 1]
    with open(run.history_csv, "a") as f:  # the resumed epoch, then a repeat of it (double-checkpoint fallback)
        f.write("2,0.8,1.0,NA,NA\n2,0.875,0.75,NA,NA\n")
    history = run.write_history()
    assert history == {"epoch": [0, 1, 2], "left_accuracy": [0.5, 0.625, 0.875], "loss": [2.0, 1.5, 0.75]}
    assert json.loads(run.history_json.read_text()) == history
    assert run.history_csv.read_text().splitlines() == ["epoch,left_accuracy,loss", "0,0.5,2.0", "1,0.625,1.5",
                                                         "2,0.875,0.75"]
    run.trim_history(0)
    assert not run.history_csv.exists() and run.history_rows() == []


def test_save_model_replaces_atomically(tmp_path):
    run = RunFolder(tmp_path)

    class Model:
        def __init__(self, fail):
            self.fail = fail

        def save(self, path):
            assert path.endswith(".keras")
            Path(path).write_text("partial" if self.fail else "complete")
            if self.fail:
                raise RuntimeError("killed")

    run.save_model(Model(fail=False))
    with pytest.raises(RuntimeError):
        run.save_model(Model(fail=True))
    assert run.model_path.read_text() == "complete"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_docstring_example_runs():
    import doctest

    from mtlzoo.cli import run_folder

    result = doctest.testmod(run_folder)
    assert result.attempted > 0 and result.failed == 0
