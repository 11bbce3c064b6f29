"""The loss weightings of issue 16 in training: multidigits runs, and resuming after a kill (BackupAndRestore)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import mtlzoo
from mtlzoo import testing
from mtlzoo.data.multidigits import multidigits_arrays
from mtlzoo.training import MultiTaskModel, balancers

METHODS = ("dwa", "rlw", "gls", "famo", "db_mtl", "stch")
#: Balancer state whose resume is checked (the history DWA, FAMO and STCH carry between epochs).
STATEFUL = ("dwa", "famo", "stch")


def digits(n=256):
    arrays = multidigits_arrays("train", seed=0)
    x = (arrays["images"][:n].astype("float32") / 255.0)[..., None]
    return x, {t: arrays[t][:n].astype("int32") for t in ("left", "right")}


def lenet(balancer, seed=0):
    testing.seed_everything(seed)
    model = mtlzoo.models.get("multimnist_lenet", width=2)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                  loss="sparse_categorical_crossentropy_from_logits", balancer=balancer)
    return model


def check_run(model, history, epochs):
    assert len(history["loss"]) == epochs
    for t in model.tasks:
        assert np.isfinite(history[f"weight_{t}"]).all(), history[f"weight_{t}"]
    for v in model.balancer.weights:
        assert np.isfinite(v.numpy()).all(), v.path


def total_loss(model, x, y) -> float:
    outputs, _ = model.forward(x)  # eager, inference mode: no second traced function
    return float(sum(model.task_losses(y, outputs).values()))


@pytest.mark.parametrize("name", METHODS)
def test_one_epoch_on_multidigits_lowers_the_loss(name):
    model = lenet(name)
    x, y = digits()
    before = total_loss(model, x, y)
    history = model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0).history
    check_run(model, history, 1)
    assert total_loss(model, x, y) < before


@pytest.mark.slow
@pytest.mark.parametrize("name", METHODS)
def test_ten_epochs_on_multidigits(name):
    model = lenet(name)
    x, y = digits(512)
    history = model.fit(x, y, batch_size=64, epochs=10, verbose=0).history
    check_run(model, history, 10)
    assert history["loss"][-1] < 0.9 * history["loss"][0], history["loss"]  # rlw, gls: 1/T-scale steps


# ---------------------------------------------------------------- resume
def tree(name, seed=0):
    testing.seed_everything(seed)
    model = testing.tiny_tree_network(model_class=MultiTaskModel)
    # small mu and a fast FAMO make the weights move within 3 epochs
    balancer = {"stch": balancers.get("stch", mu=0.1), "famo": balancers.get("famo", learning_rate=0.2)}.get(name, name)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", balancer=balancer)
    return model


def tree_data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = {"a": rng.normal(size=(n, 2)), "b": rng.normal(size=(n, 3)), "c": 3.0 * rng.normal(size=(n, 4))}
    return x, {t: v.astype("float32") for t, v in y.items()}


def state(model):
    return {v.path.split("/", 1)[-1]: np.array(v.numpy()) for v in model.balancer.weights}


class Recorder(keras.callbacks.Callback):
    """Keeps the balancer state at the end of each epoch and at the start of the first epoch run."""

    def __init__(self, kill_in_epoch=None):
        super().__init__()
        self.kill_in_epoch = kill_in_epoch
        self.ends, self.first_begin, self.epochs = {}, None, []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)
        if self.first_begin is None:
            self.first_begin = state(self.model)

    def on_epoch_end(self, epoch, logs=None):
        self.ends[epoch] = state(self.model)

    def on_train_batch_end(self, batch, logs=None):
        if self.epochs[-1] == self.kill_in_epoch and batch == 1:
            raise RuntimeError("killed in epoch 3")


def assert_same_state(a, b, rtol=1e-6):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(b[key], a[key], rtol=rtol, atol=1e-7, err_msg=key)


@pytest.mark.parametrize("name", STATEFUL)
def test_killed_in_epoch_3_resumes_from_the_state_saved_after_epoch_2(name, tmp_path):
    x, y = tree_data()
    fit = {"batch_size": 16, "epochs": 3, "shuffle": False, "verbose": 0}
    reference = Recorder()
    tree(name).fit(x, y, callbacks=[reference], **fit)  # uninterrupted

    backup = str(tmp_path / "backup")
    killed = Recorder(kill_in_epoch=2)
    with pytest.raises(RuntimeError, match="killed in epoch 3"):
        tree(name).fit(x, y, callbacks=[keras.callbacks.BackupAndRestore(backup), killed], **fit)
    saved = killed.ends[1]  # after epoch 2, what the backup holds
    assert_same_state(reference.ends[1], saved)

    resumed = Recorder()
    tree(name).fit(x, y, callbacks=[keras.callbacks.BackupAndRestore(backup), resumed], **fit)
    assert resumed.epochs == [2]  # epochs 1-2 were not trained again
    assert_same_state(saved, resumed.first_begin)  # the restored state
    # and it continues exactly like the uninterrupted run
    assert_same_state(reference.ends[2], resumed.ends[2], rtol=1e-5)
    moved = {k: np.abs(reference.ends[2][k] - reference.first_begin[k]).max() for k in saved}
    assert max(moved.values()) > 1e-3, moved


# ------------------------------------------------------- MirroredStrategy
@pytest.mark.slow
def test_mirrored_strategy_matches_one_device(tmp_path):
    """Each method under MirroredStrategy over two logical CPUs ends like one device (weights, logs, state),
    also with partial-label sample weights; run by ``distributed_worker.py`` in a fresh process."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    worker = Path(__file__).with_name("distributed_worker.py")
    out = tmp_path / "report.json"
    names = [*METHODS, *(f"{m}+weighted" for m in METHODS)]
    done = subprocess.run([sys.executable, str(worker), "mirrored", str(out), "--balancers", *names,
                           "--train-on-batch", "famo"], capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    for name in names:
        result = report[name]
        assert result["replicas"] == 2 and result["replica_spread"] <= 1e-6, (name, result["replica_spread"])
        for key, diff in result.items():
            if key.endswith(("_weights", "_state", "_logs")):
                assert diff <= 1e-5, f"{name}: {key} differs from one device by {diff:.3g}"
    state = {name: report[name]["state"] for name in METHODS}
    assert state["rlw"]["steps"] == 6.0 and state["dwa"]["epochs_seen"] == 3.0
    assert np.abs(state["famo"]["logits"]).max() > 1e-3 and state["stch"]["has_reference"] == 1.0
