"""Every registered balancer and both line searches compile with XLA (``jit_compile=True``) and train.

XLA is what Keras uses by default on a GPU, so a balancer whose step does not
compile would fail there first. On CPU the tiny models below compile in 2-6 s
each, the min-norm balancers in 10-30 s (their exact finish, a float64
pseudo-inverse inside the active-set loop, is most of XLA's work). Every run
checks that the compiled step really is XLA's (the model kept ``jit_compile=True``),
that a few epochs of steps give finite losses and balancer logs, and that the
weights moved.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mtlzoo import testing
from mtlzoo.training import MultiTaskModel, balancers

EPOCHS, BATCH, SAMPLES = 2, 4, 8  # 2 steps per epoch: the epoch hooks (DWA, FAMO, hybrid) run too


def tree_data(model, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((SAMPLES, *model.inputs[0].shape[1:])).astype("float32")
    y = {t: rng.standard_normal((SAMPLES, *model.output[t].shape[1:])).astype("float32") for t in model.tasks}
    return x, y


def train_with_xla(model, **compile_args) -> dict:
    """Compile ``model`` with XLA, fit EPOCHS epochs; the history (after checking it is finite)."""
    x, y = tree_data(model)
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", jit_compile=True, **compile_args)
    history = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0).history
    assert model.jit_compile is True  # Keras did not fall back to plain graph mode
    bad = {k: v for k, v in history.items() if not np.all(np.isfinite(v))}
    assert not bad, bad
    moved = max(float(np.abs(v.numpy() - before[v.path]).max()) for v in model.trainable_variables
                if v.path in before)
    assert moved > 0, "the compiled steps did not update the weights"
    return history


#: compiled in the default suite (one of each kind); the others compile in the slow run (20-30 s each)
FAST = ("uniform", "mgda_ub", "upgrad", "graddrop", "famo", "nash_mtl")


@pytest.mark.parametrize("name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow)
                                  for n in balancers.names()])
def test_every_balancer_trains_under_xla(name):
    testing.seed_everything(0)
    model = testing.tiny_tree_network(model_class=MultiTaskModel)
    history = train_with_xla(model, balancer=name)
    assert len(history["loss"]) == EPOCHS


def shared_trunk():
    """One shared trunk under every task (what the fast line search needs)."""
    return MultiTaskModel.shared_trunk(keras.layers.Dense(4, activation="tanh", name="trunk"),
                                       {"a": keras.layers.Dense(2, name="head_a"),
                                        "b": keras.layers.Dense(3, name="head_b")}, (3,))


@pytest.mark.parametrize("method, batched", [("fast", False), ("fast", True), ("classic", False),
                                             ("classic", True)])
def test_line_searches_train_under_xla(method, batched):
    testing.seed_everything(0)
    # fast: a latent balancer on one shared trunk; classic: any balancer on the whole tree (uniform keeps the
    # compile short: the min-norm balancers' own XLA compile is timed above)
    model = shared_trunk() if method == "fast" else testing.tiny_tree_network(model_class=MultiTaskModel)
    balancer = "mgda_ub" if method == "fast" else "uniform"
    # eta_ub far too large at first: the compiled walk must backtrack
    history = train_with_xla(model, balancer=balancer,
                             line_search={"method": method, "eta_max": 100.0, "eps": 1e-6, "batched": batched})
    assert max(history["trials"]) > 1, history
    assert history["skipped"] == [0.0] * EPOCHS, history


def test_default_is_tensorflow_graph_on_cpu():
    """Keras' "auto" (kept by MultiTaskModel.compile) runs the step without XLA on a CPU-only machine, where
    XLA is the slower one (benchmarks/bench_xla.py), and a saved model does not pin the choice."""
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible: Keras' auto picks XLA there")
    model = testing.tiny_tree_network(model_class=MultiTaskModel)
    model.compile(loss="mse", balancer="mgda_ub")
    assert model.jit_compile is False
    assert "jit_compile" not in model.get_compile_config()  # a reloaded model resolves "auto" on its machine
    model.compile(loss="mse", balancer="mgda_ub", jit_compile=True)  # asked for: kept, and saved
    assert model.jit_compile is True and model.get_compile_config()["jit_compile"] is True
