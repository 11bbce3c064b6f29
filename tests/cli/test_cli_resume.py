"""``mtlzoo train`` interrupted anywhere (Ctrl-C, SIGKILL inside an epoch, inside a checkpoint, backup or final save)
resumes to the weights of the uninterrupted run (max abs difference 0 on CPU); nothing finished is lost; a corrupt
folder or a batch the model cannot train on is refused with one line before anything is written.

Runs are tiny: 192 MultiDigits images in batches of 64 (3 steps an epoch), 2 epochs, the authors' dropout on,
so the seed generators' state matters too. The SIGKILL tests run ``mtlzoo train`` in a subprocess with a hook
(:data:`HOOK`) that kills it at a chosen point; one is in the default suite, the rest are marked slow.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from click.testing import CliRunner

import mtlzoo
from mtlzoo.atomic_file import TEMPORARY
from mtlzoo.cli import main
from mtlzoo.cli import recipe_run
from mtlzoo.cli.run_folder import RunFolder

EPOCHS = 2
TINY = ["--batch-size", "64", "--set", "data_config.limit=192", "--set", "model_config.dropout=0.5",
        "--set", "model_config.width=4"]

#: Runs ``mtlzoo train ARGS`` and SIGKILLs itself at WHERE (epoch, checkpoint, backup, final) in epoch EPOCH.
HOOK = textwrap.dedent('''
    import os, signal, sys
    import keras
    from mtlzoo.atomic_file import atomic_file
    from mtlzoo.cli import main, recipe_run
    from mtlzoo.cli.run_backup import RunBackup
    from mtlzoo.cli.run_folder import RunFolder

    where, epoch, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def half_written(path, save):  # the writer is killed after writing half of the temporary file
        with atomic_file(path, suffix="".join(path.suffixes[-2:]) if path.name.endswith(".weights.h5")
                         else path.suffix) as tmp:
            save(str(tmp))
            data = tmp.read_bytes()
            tmp.write_bytes(data[: len(data) // 2])
            die()

    class Kill(keras.callbacks.Callback):
        def on_epoch_begin(self, e, logs=None):
            self.e = e

        def on_train_batch_end(self, batch, logs=None):
            if self.e == epoch and batch == 1:
                die()

    if where == "epoch":
        callbacks = recipe_run._callbacks
        recipe_run._callbacks = lambda run: [*callbacks(run), Kill()]
    elif where == "checkpoint":
        save_checkpoint, calls = RunFolder.save_checkpoint, []
        def patched(self, model):
            calls.append(1)
            if len(calls) == epoch + 1:
                half_written(self.checkpoint_path, model.save)
            return save_checkpoint(self, model)
        RunFolder.save_checkpoint = patched
    elif where == "backup":  # the weights file is whole, the commit record not yet written
        save, calls = RunBackup.save, []
        def patched(self, model, epochs):
            calls.append(1)
            if len(calls) == epoch + 1:
                with atomic_file(self.path / f"epoch-{epochs}.weights.h5", suffix=".weights.h5") as tmp:
                    model.save_weights(str(tmp))
                die()
            return save(self, model, epochs)
        RunBackup.save = patched
    elif where == "final":
        RunFolder.save_model = lambda self, model: half_written(self.model_path, model.save)
    main(args)
''')


def _train(run_dir, *args):
    return CliRunner().invoke(main, ["train", "--run-dir", str(run_dir), *TINY, *args])


def _killed(run_dir, where: str, epoch: int, *args) -> None:
    """``mtlzoo train`` in a subprocess, SIGKILLed at ``where`` during epoch ``epoch`` (0-based)."""
    cmd = [sys.executable, "-c", HOOK, where, str(epoch), "train", "--run-dir", str(run_dir), *TINY,
           "--epochs", str(EPOCHS), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == -9, (done.returncode, done.stdout[-2000:], done.stderr[-3000:])


def _load(path):
    mtlzoo.models.names()  # registers the zoo's classes
    return keras.models.load_model(path)


def max_difference(a, b) -> float:
    """Largest |difference| over every variable of two models (balancer included) and of their optimizers.

    Dropout's seed-generator states are left out: ``.keras`` files do not hold them (a loaded model draws
    new ones), and ``EpochClock`` resets them every epoch anyway.
    """
    assert len(a.variables) == len(b.variables) > 0
    pairs = [(u, v) for u, v in zip(a.variables, b.variables) if "seed_generator" not in u.path]
    pairs += list(zip(a.optimizer.variables, b.optimizer.variables, strict=True))
    return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)))) for x, y in pairs)


def assert_whole(run_dir) -> None:
    """Every file of the run folder loads; no temporary file is left."""
    run = RunFolder(run_dir)
    run.check()
    assert [p.name for p in run.path.rglob(".*") if TEMPORARY.match(p.name)] == []
    for path in (run.config_path, run.history_json, run.evaluation_path):
        assert isinstance(json.loads(path.read_text()), dict)
    assert [r["epoch"] for r in run.history_rows()] == list(range(EPOCHS))
    assert run.backup.check() == EPOCHS
    for path in (run.model_path, run.checkpoint_path):
        _load(path)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: its folder and its final model."""
    run_dir = tmp_path_factory.mktemp("ref") / "run"
    result = _train(run_dir, "--epochs", str(EPOCHS))
    assert result.exit_code == 0, result.output
    return run_dir, _load(run_dir / "model.keras")


def test_interrupted_inside_an_epoch_resumes_to_the_same_weights(reference, tmp_path, monkeypatch):
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1 and batch == 1:
                raise KeyboardInterrupt

    callbacks = recipe_run._callbacks
    monkeypatch.setattr(recipe_run, "_callbacks", lambda run: [*callbacks(run), Interrupt()])
    assert _train(tmp_path / "run", "--epochs", str(EPOCHS)).exit_code == 130
    monkeypatch.setattr(recipe_run, "_callbacks", callbacks)
    resumed = _train(tmp_path / "run", "--epochs", str(EPOCHS))
    assert resumed.exit_code == 0, resumed.output
    assert "Resuming" in resumed.output and f"after epoch 1/{EPOCHS}" in resumed.output
    assert max_difference(_load(tmp_path / "run" / "model.keras"), reference[1]) == 0.0
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history == json.loads((reference[0] / "history.json").read_text())  # epoch 2 replayed exactly
    assert_whole(tmp_path / "run")


def test_sigkill_inside_a_checkpoint_save_resumes_to_the_same_weights(reference, tmp_path):
    run_dir = tmp_path / "run"
    _killed(run_dir, "checkpoint", 1)
    stray = [p for p in (run_dir / "checkpoints").iterdir() if TEMPORARY.match(p.name)]
    assert len(stray) == 1  # the half-written temporary file of the killed save...
    _load(run_dir / "checkpoints" / "last.keras")  # ...while last.keras still holds epoch 1's whole model
    assert RunFolder(run_dir).epochs_done() == 1
    resumed = _train(run_dir, "--epochs", str(EPOCHS))
    assert resumed.exit_code == 0, resumed.output
    assert max_difference(_load(run_dir / "model.keras"), reference[1]) == 0.0
    assert_whole(run_dir)


@pytest.mark.slow
@pytest.mark.parametrize("where, epoch", [("epoch", 1), ("epoch", 0), ("backup", 1), ("checkpoint", 0),
                                          ("final", 0)])
def test_sigkill_anywhere_then_rerun_in_a_new_process_gives_the_same_weights(reference, tmp_path, where, epoch):
    run_dir = tmp_path / "run"
    _killed(run_dir, where, epoch)
    if where == "backup":  # the weights of epoch 2 are whole but not committed: the backup still says 1
        assert RunFolder(run_dir).epochs_done() == 1
        assert (run_dir / "backup" / "epoch-2.weights.h5").exists()
    if where == "final":
        assert not (run_dir / "model.keras").exists() and RunFolder(run_dir).epochs_done() == EPOCHS
    rerun = subprocess.run([sys.executable, "-m", "mtlzoo", "train", "--run-dir", str(run_dir), *TINY,
                            "--epochs", str(EPOCHS)], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert max_difference(_load(run_dir / "model.keras"), reference[1]) == 0.0
    assert_whole(run_dir)


def test_a_finished_run_without_backup_trains_further_from_its_model(reference, tmp_path):
    run_dir = tmp_path / "run"
    assert _train(run_dir, "--epochs", "1").exit_code == 0
    shutil.rmtree(run_dir / "backup")
    before = (run_dir / "history.csv").read_text()
    result = _train(run_dir, "--epochs", str(EPOCHS))
    assert result.exit_code == 0, result.output
    assert "from model.keras after epoch 1/2" in result.output
    assert (run_dir / "history.csv").read_text().startswith(before)  # the first epoch kept
    assert max_difference(_load(run_dir / "model.keras"), reference[1]) == 0.0  # as if never stopped
    assert_whole(run_dir)


@pytest.mark.slow
def test_overwrite_starts_a_new_run_and_nothing_else_does(reference, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(reference[0], run_dir)
    model = (run_dir / "model.keras").read_bytes()
    other = _train(run_dir, "--epochs", "1", "--lr", "0.5")
    assert other.exit_code == 1 and "--lr 0.01 (saved) vs 0.5 (now)" in other.output
    assert (run_dir / "model.keras").read_bytes() == model
    fresh = _train(run_dir, "--epochs", "1", "--lr", "0.5", "--overwrite")
    assert fresh.exit_code == 0, fresh.output
    assert "Training" in fresh.output and json.loads((run_dir / "evaluation.json").read_text())["epochs"] == 1
    assert json.loads((run_dir / "config.json").read_text())["options"]["lr"] == 0.5
    assert [r["epoch"] for r in RunFolder(run_dir).history_rows()] == [0]


def _files(run_dir) -> dict:
    return {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case, named", [
    ("metadata_garbage", "training_metadata.json"), ("config_random_bytes", "config.json"),
    ("config_list", "config.json"), ("history_garbage", "history.csv"), ("weights_truncated", "epoch-2.weights.h5")])
def test_a_corrupt_run_folder_is_refused_before_anything_is_written(reference, tmp_path, case, named):
    run_dir = tmp_path / "run"
    shutil.copytree(reference[0], run_dir)
    shutil.rmtree(run_dir / "tensorboard")  # not compared (an append-only event stream)
    run = RunFolder(run_dir)
    if case == "metadata_garbage":
        run.backup.metadata_path.write_text("{not json")
    elif case == "config_random_bytes":
        run.config_path.write_bytes(bytes(range(256)))
    elif case == "config_list":
        run.config_path.write_text("[1,2]")
    elif case == "history_garbage":
        run.history_csv.write_text("garbage\n\x01\x02,3\n")
    else:
        weights = run.backup.weights_path()
        weights.write_bytes(weights.read_bytes()[:1000])
    before = _files(run_dir)
    result = _train(run_dir, "--epochs", str(EPOCHS + 1))  # would train further
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and named in lines[0], result.output
    assert "Traceback" not in result.output
    assert _files(run_dir) == before  # history.csv, model.keras, evaluation.json untouched


def _mapped(monkeypatch, fn):
    """Make ``mtlzoo.data.get`` (as ``mtlzoo train`` calls it) yield ``fn(index, x, y)`` batches."""
    get = mtlzoo.data.get

    def fake(*args, **kwargs):
        ds = get(*args, **kwargs)
        return ds.enumerate().map(lambda i, batch: fn(i, *batch))

    monkeypatch.setattr(mtlzoo.data, "get", fake)


@pytest.mark.parametrize("case, message", [
    ("small_images", r"inputs of shape \(14, 14, 1\) per example, but the model 'multimnist_lenet' takes "
                     r"\(28, 28, 1\)"),
    ("label_range", r"task 'left': labels\['left'\] span \[\d+, 1\d\], outside \[0, 10\)"),
])
def test_batches_the_model_cannot_take_are_refused_before_the_run_folder_exists(tmp_path, monkeypatch, case,
                                                                                message):
    import tensorflow as tf

    if case == "small_images":
        _mapped(monkeypatch, lambda i, x, y: (x[:, ::2, ::2], y))
    else:
        _mapped(monkeypatch, lambda i, x, y: (x, {**y, "left": y["left"] + 5}))
    result = _train(tmp_path / "run", "--epochs", "1")
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert tf.errors.OpError.__name__ not in result.output
    import re

    assert re.search(message, result.output), result.output
    assert not (tmp_path / "run").exists()


def test_a_nan_pixel_in_a_later_batch_stops_training_naming_it(tmp_path, monkeypatch):
    import tensorflow as tf

    def poison(i, x, y):
        bad = tf.tensor_scatter_nd_update(x, [[3, 5, 5, 0]], [float("nan")])
        return tf.cond(i == 2, lambda: bad, lambda: x), y

    _mapped(monkeypatch, poison)
    result = _train(tmp_path / "run", "--epochs", "1")
    assert result.exit_code == 1, result.output
    assert "Error: Training stopped at epoch 1, batch 2: inputs holds NaN/Inf values; the batch was not " \
           "applied." in result.output
    assert not (tmp_path / "run" / "backup").exists()  # the epoch did not finish: nothing was backed up
