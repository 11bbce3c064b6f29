"""Checks shared by the tests of the Gramian methods of issue 15 (imtl, aligned_mtl, config, graddrop,
gradvac, moco); not a test module. The tests run with ``--import-mode=importlib``, so a test file
cannot import its neighbours; each loads this file by path::

    spec = importlib.util.spec_from_file_location("gramian_method_checks",
                                                  Path(__file__).with_name("gramian_method_checks.py"))
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtlzoo
from mtlzoo import testing
from mtlzoo.training import MultiTaskModel, StepContext, VariableGroups


# ------------------------------------------------------------------ random problems
def jacobians(seed: int = 0, count: int = 120, min_tasks: int = 2):
    """``count`` random float64 Jacobians (T x n, T = min_tasks..10), in turn: full rank with spread
    norms, rank-deficient (low-rank products), with duplicated rows, with a zero row (a task absent
    from the batch), with collinear rows (a positive multiple of another), full rank again."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        t = int(rng.integers(min_tasks, 11))
        n = int(rng.integers(t + 1, 3 * t + 4))
        kind = k % 6
        if kind == 1:  # rank-deficient
            r = int(rng.integers(1, t))
            j = rng.normal(size=(t, r)) @ rng.normal(size=(r, n))
        else:
            j = rng.normal(size=(t, n))
        j *= np.exp(rng.uniform(-1.0, 1.0, size=(t, 1)))
        if kind == 2:  # a duplicated gradient
            j[-1] = j[0]
        elif kind == 3:  # a task without gradient
            j[int(rng.integers(0, t))] = 0.0
        elif kind == 4:  # collinear: a positive multiple of another task's gradient
            j[-1] = 2.5 * j[0]
        out.append(j)
    return out


def gram32(j: np.ndarray) -> tf.Tensor:
    """The float32 Gram matrix the balancers see (computed from float32 gradients)."""
    j32 = j.astype(np.float32)
    return tf.constant(j32 @ j32.T)


def full_rank(j: np.ndarray) -> bool:
    s = np.linalg.svd(j, compute_uv=False)
    return s[-1] > 1e-6 * s[0]


def unit_rows(j: np.ndarray) -> np.ndarray:
    """The rows divided by their norms, zero rows kept at zero."""
    n = np.linalg.norm(j, axis=1, keepdims=True)
    return np.divide(j, n, out=np.zeros_like(j), where=n > 0)


def pinv(a: np.ndarray, rtol: float = 1e-6) -> np.ndarray:
    """NumPy's pseudo-inverse with a relative cut-off on the singular values."""
    return np.linalg.pinv(a, rcond=rtol)


# ------------------------------------------------------------------ the tiny tree
def tree_model(balancer, seed: int = 0, optimizer="sgd"):
    testing.seed_everything(seed)
    model = testing.tiny_tree_network(model_class=MultiTaskModel)
    model.compile(optimizer=optimizer, loss="mse", balancer=balancer)
    return model


def batch(model, seed: int = 0, n: int = 6, absent: str | None = None):
    """``(x, y, sample_weight)``; task ``absent`` has zero sample weights (zero loss and gradients)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    outputs, _ = model.forward(x)
    y = {t: rng.normal(size=tuple(outputs[t].shape)).astype("float32") for t in model.tasks}
    weights = {t: np.full((n,), 0.0 if t == absent else 1.0, "float32") for t in model.tasks}
    return x, y, weights


def step_for(model, x, y, sample_weight=None):
    groups = VariableGroups.of(model)
    latent = [b for b, _, _ in groups.shared] if model.balancer.latent else []
    with tf.GradientTape(persistent=True) as tape:
        outputs, latents = model.forward(x, training=True, latents=latent)
        losses = model.task_losses(y, outputs, sample_weight)
    return StepContext(model, tape, losses, losses, latents, model.trainable_variables, groups)


def step_function(model, jit: bool = False):
    """One balancer step as a ``tf.function`` (traced once, callable again):
    ``(x, y, sample_weight) -> (grads {path: array}, logs, block weights)``."""

    @tf.function(jit_compile=jit)
    def run(x, y, w):
        step = step_for(model, x, y, w)
        grads, logs = model.balancer.gradients(step)
        return grads, logs, dict(step.direction.block_weights) if step.direction is not None else {}

    def call(x, y, sample_weight=None):
        grads, logs, weights = run(tf.constant(x), {t: tf.constant(v) for t, v in y.items()},
                                   None if sample_weight is None else
                                   {t: tf.constant(v) for t, v in sample_weight.items()})
        grads = {v.path: np.asarray(g) for v, g in zip(model.trainable_variables, grads)}
        return grads, {k: np.asarray(v) for k, v in logs.items()}, {b: np.asarray(w) for b, w in weights.items()}

    return call


def run_step(model, x, y, sample_weight=None, jit: bool = False):
    """One balancer step traced in ``tf.function``: ``(grads {path: array}, logs, block weights)``."""
    return step_function(model, jit)(x, y, sample_weight)


def task_losses(model, x, y, sample_weight=None):
    outputs, _ = model.forward(x, training=True)
    return model.task_losses(y, outputs, sample_weight)


def assert_tape_gradients_per_block(model, x, y, sample_weight, grads, weights, atol=1e-5):
    """For every shared block i: the applied gradient of its variables equals the tape gradient of
    sum_t w_t^i L_t (issue 15's acceptance), with an independent tape per block."""
    groups = VariableGroups.of(model)
    assert set(weights) == {b for b, _, _ in groups.shared}
    for block, tasks, variables in groups.shared:
        w = weights[block]
        assert w.shape == (len(tasks),) and np.isfinite(w).all(), (block, w)
        with tf.GradientTape() as tape:
            losses = task_losses(model, x, y, sample_weight)
            total = tf.add_n([float(w[k]) * losses[t] for k, t in enumerate(tasks)])
        expected = tape.gradient(total, list(variables))
        for var, g in zip(variables, expected):
            np.testing.assert_allclose(grads[var.path], g.numpy(), rtol=1e-5, atol=atol, err_msg=f"{block}: {var.path}")


def reference_block_gradients(model, x, y, sample_weight=None) -> dict:
    """``{(block, task): [dL_t/dtheta_i per variable]}`` (float64) from one tape per task."""
    groups = VariableGroups.of(model)
    out = {}
    for task in model.tasks:
        with tf.GradientTape() as tape:
            loss = task_losses(model, x, y, sample_weight)[task]
        mine = [(block, variables) for block, tasks, variables in groups.shared if task in tasks]
        grads = tape.gradient(loss, [v for _, variables in mine for v in variables])
        k = 0
        for block, variables in mine:
            out[(block, task)] = [np.asarray(g, np.float64) for g in grads[k:k + len(variables)]]
            k += len(variables)
    return out


def reference_latent_gradients(model, x, y, sample_weight=None) -> dict:
    """``{(block, task): dL_t/dZ_i}`` (float64, samples x features) from one tape per task."""
    groups = VariableGroups.of(model)
    out = {}
    for task in model.tasks:
        with tf.GradientTape() as tape:
            outputs, latents = model.forward(x, training=True, latents="all")
            loss = model.task_losses(y, outputs, sample_weight)[task]
        mine = [block for block, tasks, _ in groups.shared if task in tasks]
        grads = tape.gradient(loss, [latents[b] for b in mine])
        out.update({(b, task): np.asarray(g, np.float64) for b, g in zip(mine, grads)})
    return out


def block_jacobians(model, x, y, sample_weight=None, space="parameters") -> dict:
    """``{block: T_i x n matrix}`` of the tasks' flattened gradients (float64), in Gram-row order."""
    if space == "parameters":
        ref = reference_block_gradients(model, x, y, sample_weight)
        flat = {k: np.concatenate([g.ravel() for g in v]) for k, v in ref.items()}
    else:
        flat = {k: v.ravel() for k, v in reference_latent_gradients(model, x, y, sample_weight).items()}
    return {block: np.stack([flat[(block, t)] for t in tasks]) for block, tasks, _ in VariableGroups.of(model).shared}


def assert_linear_method_on_tree(balancer, reference, absent: str | None = "c", rtol: float = 1e-4, prepare=None):
    """On the tiny tree (task ``absent`` without gradient): the applied gradient of every shared block
    is the tape gradient of sum_t w_t^i L_t, the weights equal ``reference(J_i, block)`` computed from
    the block's explicit gradient vectors (float64) and are logged as ``weight_<task>``. ``prepare(model)``
    may set the balancer's state first."""
    model = tree_model(balancer)
    if prepare is not None:
        prepare(model)
    x, y, sw = batch(model, absent=absent)
    jac = block_jacobians(model, x, y, sw, model.balancer.space)
    grads, logs, weights = run_step(model, x, y, sw)
    assert_tape_gradients_per_block(model, x, y, sw, grads, weights)
    for block, j in jac.items():
        expected = reference(j, block)
        np.testing.assert_allclose(weights[block], expected, rtol=rtol, atol=rtol * np.abs(expected).max(),
                                   err_msg=block)
    if model.balancer.logs_weights:
        for k, t in enumerate(model.tasks):
            assert logs[f"weight_{t}"] == pytest.approx(weights["root"][k], rel=1e-6)
    return model, weights


def assert_loss_scale_invariant(make_balancer, scale: float = 8.0):
    """A step whose losses carry a loss scale (mixed precision) returns the same gradients times the
    scale (stateful methods start from the same state in both runs)."""
    out = []
    for s in (1.0, scale):
        model = tree_model(make_balancer())
        x, y, _ = batch(model, seed=30)
        groups = VariableGroups.of(model)
        with tf.GradientTape(persistent=True) as tape:
            outputs, latents = model.forward(x, training=True, latents=[b for b, _, _ in groups.shared])
            losses = model.task_losses(y, outputs)
            scaled = {t: v * s for t, v in losses.items()}
        step = StepContext(model, tape, scaled, losses, latents, model.trainable_variables, groups, s)
        grads, _ = model.balancer.gradients(step)
        out.append([np.asarray(g) / s for g in grads])
    for a, b in zip(*out):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------ saving and training
def balancer_state(model) -> dict:
    return {v.path.split("/", 1)[-1]: np.asarray(v.numpy()) for v in model.balancer.weights}


def assert_keras_round_trip(model, tmp_path):
    """``.keras`` save/load keeps the balancer's config and state, if any (set to random values
    first, so nothing passes by being at its initial value)."""
    rng = np.random.default_rng(0)
    for v in model.balancer.weights:
        v.assign(rng.uniform(0.1, 0.9, size=v.shape).astype("float32"))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = mtlzoo.load_model(path)
    assert type(loaded.balancer) is type(model.balancer)
    assert loaded.balancer.get_config() == model.balancer.get_config()
    before, after = balancer_state(model), balancer_state(loaded)
    assert before.keys() == after.keys()
    for key, value in before.items():
        np.testing.assert_allclose(after[key], value, err_msg=key)
    again = type(model.balancer).from_config(model.balancer.get_config())
    assert again.get_config() == model.balancer.get_config()
    return loaded


def lenet(balancer):
    testing.seed_everything(0)
    model = mtlzoo.models.get("multimnist_lenet", width=2)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), balancer=balancer)
    return model


def assert_fit_lowers_the_loss_and_resumes(make_balancer, tmp_path, moved=None, steps: int = 20):
    """``steps`` SGD steps of ``multimnist_lenet`` (width 2) on 32 fixed random images under
    ``BackupAndRestore``: the loss goes down; the run is then killed, and a fresh model resumes from
    the backup with the balancer's state (``moved(state)`` checks the state is not still its
    initial value)."""
    rng = np.random.default_rng(0)
    x = rng.random((32, 28, 28, 1), dtype="float32")
    y = {t: rng.integers(0, 10, 32) for t in ("left", "right")}
    epochs, losses = steps // 4, []

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            losses.append(logs["loss"])
            if epoch == epochs - 1:
                raise RuntimeError("killed")

    backup = str(tmp_path / "backup")
    model = lenet(make_balancer())
    try:
        model.fit(x, y, batch_size=8, epochs=epochs + 1, verbose=0, shuffle=False,
                  callbacks=[keras.callbacks.BackupAndRestore(backup), Interrupt()])
    except RuntimeError as err:
        assert "killed" in str(err)
    assert len(losses) == epochs and np.isfinite(losses).all() and losses[-1] < losses[0] - 0.05, losses
    saved = balancer_state(model)
    assert moved is None or moved(saved), saved
    resumed = lenet(make_balancer())
    seen = []
    resumed.fit(x, y, batch_size=8, epochs=epochs, verbose=0,
                callbacks=[keras.callbacks.BackupAndRestore(backup),
                           keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(e))])
    assert seen == []  # every epoch was done before the kill
    restored = balancer_state(resumed)
    assert saved.keys() == restored.keys()
    for key, value in saved.items():
        np.testing.assert_allclose(restored[key], value, err_msg=key)
    return losses


def assert_mirrored_matches_one_device(tmp_path, names, atol: float = 1e-5, moved=None) -> dict:
    """``distributed_worker.py mirrored`` for ``names`` (e.g. ``"imtl+parameters"``): under
    MirroredStrategy over two logical CPUs the weights, logs and balancer state after the first step
    and after 3 epochs equal one device's, and the replicas' copies agree; ``moved(state)`` checks the
    compared state changed during training."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    worker = Path(__file__).with_name("distributed_worker.py")
    out = tmp_path / "mirrored.json"
    done = subprocess.run([sys.executable, str(worker), "mirrored", str(out), "--balancers", *names,
                           "--train-on-batch"], capture_output=True, text=True, timeout=1200,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    for name in names:
        result = report[name]
        assert result["replicas"] == 2
        for stage in ("first", "fit"):
            for what in ("weights", "state", "logs"):
                assert result[f"{stage}_{what}"] <= atol, f"{name}: {what} after {stage}: {result[f'{stage}_{what}']}"
        assert result["replica_spread"] <= 1e-6, (name, result["replica_spread"])
        if moved is not None:
            assert moved({k: np.asarray(v) for k, v in result["state"].items()}), (name, result["state"])
    return report
