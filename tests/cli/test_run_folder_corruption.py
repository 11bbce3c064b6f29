"""A corrupt or inconsistent run folder is refused by ``RunFolder.check`` with one line naming the file and the fix,
reading only; temporary files of killed writers are removed. No training: the files are made by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest

from mtlzoo.atomic_file import atomic_file, remove_stale_temporaries
from mtlzoo.cli.run_folder import RunFolder


class _Model:
    """Stands in for a Keras model: real HDF5 weights, a zip with a ``config.json`` for ``.keras``."""

    def save_weights(self, path):
        with h5py.File(path, "w") as f:
            f["w"] = np.arange(64.0)

    def save(self, path):
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("config.json", "{}")
            z.writestr("model.weights.h5", b"\0" * 4096)


def finished(tmp_path, epochs=3) -> RunFolder:
    """A finished run: config, history, backup, checkpoint, model and evaluation."""
    run = RunFolder(tmp_path / "run")
    run.write_config({"options": {"epochs": epochs, "seed": 0}})
    for epoch in range(epochs):
        run.append_history(epoch, {"loss": 1.0 / (epoch + 1), "left_accuracy": 0.5})
    run.save_checkpoint(_Model())
    run.backup.save(_Model(), epochs)
    run.write_history()
    run.save_model(_Model())
    run.write_json(run.evaluation_path, {"epochs": epochs, "tasks": {}})
    return run


def snapshot(run: RunFolder) -> dict:
    return {p.relative_to(run.path).as_posix(): p.read_bytes() for p in sorted(run.path.rglob("*")) if p.is_file()}


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


RANDOM = bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8))

CASES = {  # name: (what to do to the folder, the file the error must name, the fix it must give)
    "config_random_bytes": (lambda r: r.config_path.write_bytes(RANDOM), "config.json", "--run-dir"),
    "config_list": (lambda r: r.config_path.write_text("[1,2]"), "config.json", "--run-dir"),
    "config_without_options": (lambda r: r.config_path.write_text('{"options": 5}'), "config.json", "--run-dir"),
    "history_garbage": (lambda r: r.history_csv.write_text("hello world\nthis,is\nnot,a,history\n"), "history.csv",
                        "--run-dir"),
    "history_random_bytes": (lambda r: r.history_csv.write_bytes(RANDOM), "history.csv", "--run-dir"),
    "history_text_cell": (lambda r: r.history_csv.write_text("epoch,loss\n0,0.5\n1,lots\n"), "history.csv",
                          "--run-dir"),
    "history_cut_row": (lambda r: r.history_csv.write_text(r.history_csv.read_text().rsplit(",", 1)[0]),
                        "history.csv", "--run-dir"),  # a kill inside CSVLogger's append: a row short of cells
    "config_is_a_folder": (lambda r: (r.config_path.unlink(), r.config_path.mkdir()), "config.json", "--run-dir"),
    "metadata_is_a_folder": (lambda r: (r.backup.metadata_path.unlink(), r.backup.metadata_path.mkdir()),
                             "training_metadata.json", "delete"),
    "history_json_list": (lambda r: r.history_json.write_text("[]"), "history.json", "--run-dir"),
    "metadata_garbage": (lambda r: r.backup.metadata_path.write_text("{garbage"), "training_metadata.json",
                         "delete"),
    "metadata_list": (lambda r: r.backup.metadata_path.write_text("[1]"), "training_metadata.json", "delete"),
    "metadata_epoch_text": (lambda r: r.backup.metadata_path.write_text('{"epoch": "3", "weights": '
                                                                       '"epoch-3.weights.h5"}'),
                            "training_metadata.json", "delete"),
    "metadata_names_other_file": (lambda r: r.backup.metadata_path.write_text('{"epoch": 3, "weights": '
                                                                             '"../config.json"}'),
                                  "training_metadata.json", "delete"),
    "weights_truncated": (lambda r: truncate(r.backup.weights_path()), "epoch-3.weights.h5", "delete"),
    "weights_missing": (lambda r: r.backup.weights_path().unlink(), "epoch-3.weights.h5", "delete"),
    "model_truncated": (lambda r: truncate(r.model_path), "model.keras", "--run-dir"),
    "checkpoint_truncated": (lambda r: truncate(r.checkpoint_path), "last.keras", "--run-dir"),
    "evaluation_without_model": (lambda r: r.model_path.unlink(), "model.keras", "--overwrite"),
    "evaluation_epochs_text": (lambda r: r.evaluation_path.write_text('{"epochs": "x"}'), "evaluation.json",
                               "--run-dir"),
    "history_beyond_state": (lambda r: (r.model_path.unlink(), r.evaluation_path.unlink(),
                                        __import__("shutil").rmtree(r.backup_dir)), "history.csv", "--overwrite"),
}


def test_a_whole_folder_passes(tmp_path):
    run = finished(tmp_path)
    run.check()
    assert run.resume_point() == (3, "backup")


@pytest.mark.parametrize("case", sorted(CASES))
def test_corruption_is_refused_with_one_line_naming_the_file_before_anything_changes(tmp_path, case):
    run = finished(tmp_path)
    corrupt, name, fix = CASES[case]
    corrupt(run)
    before = snapshot(run)
    with pytest.raises(ValueError) as info:
        run.check()
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    assert name in message and fix in message, message
    assert snapshot(run) == before  # check reads only


def test_legacy_keras_backup_is_read_and_a_truncated_one_refused(tmp_path):
    run = RunFolder(tmp_path / "legacy")  # what keras.callbacks.BackupAndRestore wrote
    run.backup_dir.mkdir(parents=True)
    _Model().save_weights(run.backup_dir / "latest.weights.h5")
    run.backup.metadata_path.write_text(json.dumps({"epoch": 2, "batch": 0}))
    run.check()
    assert run.resume_point() == (2, "backup")
    truncate(run.backup_dir / "latest.weights.h5")
    with pytest.raises(ValueError, match=r"latest\.weights\.h5 is not a readable weights file"):
        run.check()


def test_one_history_row_past_the_backup_is_the_kill_window_and_is_trimmed(tmp_path):
    run = finished(tmp_path)
    run.model_path.unlink()
    run.evaluation_path.unlink()
    run.append_history(3, {"loss": 0.1, "left_accuracy": 0.9})  # epoch 3 ran, the kill came before its backup
    run.check()
    run.trim_history(run.resume_point()[0])
    assert [r["epoch"] for r in run.history_rows()] == [0, 1, 2]


def test_a_finished_run_without_backup_resumes_from_its_model(tmp_path):
    run = finished(tmp_path)
    import shutil

    shutil.rmtree(run.backup_dir)
    run.check()
    assert run.resume_point() == (3, "model")


def test_append_history_replaces_a_repeated_epoch(tmp_path):
    run = RunFolder(tmp_path)
    run.append_history(0, {"loss": 2.0})
    run.append_history(1, {"loss": 1.0})
    run.append_history(1, {"loss": 0.5})
    assert run.history_csv.read_text().splitlines() == ["epoch,loss", "0,2.0", "1,0.5"]


def test_clear_removes_every_file_of_the_run(tmp_path):
    run = finished(tmp_path)
    (run.tensorboard_dir / "train").mkdir(parents=True)
    run.clear()
    assert list(run.path.iterdir()) == []


def test_temporaries_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / "checkpoints" / f".last.keras.{dead_pid}.0123abcd.tmp.keras"
    live = tmp_path / f".model.keras.{os.getppid()}.89abcdef.tmp.keras"  # the parent process is alive
    other = tmp_path / ".hidden.txt"  # not a temporary of atomic_file
    for path in (stale, live, other):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and other.exists()


def test_atomic_file_suffix_for_writers_that_need_an_extension(tmp_path):
    target = tmp_path / "m.keras"
    with atomic_file(target, suffix=".keras") as tmp:
        assert tmp.name.endswith(".tmp.keras") and tmp.parent == tmp_path
        tmp.write_bytes(b"zip")
    assert target.read_bytes() == b"zip" and [p.name for p in tmp_path.iterdir()] == ["m.keras"]


def test_docstring_examples_run():
    import doctest

    from mtlzoo import atomic_file as atomic
    from mtlzoo.cli import run_backup, run_folder_callback

    for module in (atomic, run_backup, run_folder_callback):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__
