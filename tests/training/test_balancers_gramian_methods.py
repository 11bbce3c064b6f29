"""UPGrad, DualProj, CAGrad, Nash-MTL and FairGrad in the train step: per tree block, in both spaces.

On the tiny 3-task tree with a branch (root -> trunk -> {branch -> {a, b}, c}): each shared block
gets the method's weights from its own Gram matrix (checked against the solver on a Gram matrix
built from independent per-task tapes), the gradient applied to its parameters is the tape gradient
of sum_t w_t L_t over its tasks, a task with a zero gradient leaves every weight finite, the model
saves and loads with the balancer's config and state, and a short fit lowers the loss.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtlzoo
from mtlzoo import testing
from mtlzoo.training import MultiTaskModel, StepContext, VariableGroups, balancers

METHODS = ("upgrad", "dualproj", "cagrad", "nash_mtl", "fairgrad")
SPACES = ("latent", "parameters")


def tree_model(balancer, seed=0):
    testing.seed_everything(seed)
    model = testing.tiny_tree_network(model_class=MultiTaskModel)
    model.compile(optimizer="sgd", loss="mse", balancer=balancer)
    return model


def batch(model, seed=0, n=6):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    outputs, _ = model.forward(x)
    y = {t: rng.normal(size=tuple(outputs[t].shape)).astype("float32") for t in model.tasks}
    return x, y, outputs


def step_for(model, x, y):
    groups = VariableGroups.of(model)
    with tf.GradientTape(persistent=True) as tape:
        outputs, latents = model.forward(x, training=True, latents=[b for b, _, _ in groups.shared])
        losses = model.task_losses(y, outputs)
    return StepContext(model, tape, losses, losses, latents, model.trainable_variables, groups)


def reference_grams(model, x, y, space):
    """``{block: G}`` in float64 from one tape per task (independent of the step's plumbing)."""
    rows = {}
    for task in model.tasks:
        with tf.GradientTape(persistent=True) as tape:
            outputs, latents = model.forward(x, training=True, latents="all")
            loss = model.task_losses(y, outputs)[task]
        for block, tasks, variables in VariableGroups.of(model).shared:
            if task in tasks:
                sources = tf.nest.flatten(latents[block]) if space == "latent" else list(variables)
                grads = tape.gradient(loss, sources)
                rows.setdefault(block, []).append(np.concatenate([np.ravel(g) for g in grads]).astype(np.float64))
    return {b: np.stack(r) @ np.stack(r).T for b, r in rows.items()}


def tape_gradient(model, x, y, tasks, weights, variables):
    """d(sum_t w_t L_t)/d variables, by one tape."""
    with tf.GradientTape() as tape:
        outputs, _ = model.forward(x, training=True)
        losses = model.task_losses(y, outputs)
        total = tf.add_n([float(w) * losses[t] for w, t in zip(weights, tasks)])
    grads = tape.gradient(total, variables)
    return [np.zeros(v.shape) if g is None else np.asarray(g) for g, v in zip(grads, variables)]


def run_step(model, traced=False):
    """The balancer's part of a train step; eager (faster than tracing for these small problems)
    unless ``traced``."""

    def run(x, y):
        step = step_for(model, x, y)
        grads, logs = model.balancer.gradients(step)
        return grads, logs, dict(step.direction.block_weights)

    return tf.function(run) if traced else run


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("name", METHODS)
def test_each_block_gets_its_weights_and_the_tape_gradient_of_the_weighted_losses(name, space):
    model = tree_model(balancers.get(name, space=space))
    shared = VariableGroups.of(model).shared
    fresh = balancers.get(name, space=space)  # a second instance (own state) weighs the reference grams
    fresh.setup(model.tree, VariableGroups.of(model))

    # the step, and the method on Gram matrices from independent tapes; eager but for CAGrad, whose
    # barrier method takes ~100 Newton steps (one trace is faster than running them eagerly)
    def run(x, y, grams):
        step = step_for(model, x, y)
        grads, logs = model.balancer.gradients(step)
        problems = [balancers.BlockProblem(block, k, tasks, tuple(range(len(tasks))), grams[block],
                                           tf.ones(len(tasks)), None, space)
                    for k, (block, tasks, _) in enumerate(shared)]
        return grads, logs, dict(step.direction.block_weights), fresh.weigh_blocks(problems)[0]

    run = tf.function(run) if name == "cagrad" else run
    x, y, outputs = batch(model)
    grams = {b: tf.constant(g, tf.float32) for b, g in reference_grams(model, x, y, space).items()}
    grads, logs, block_weights, expected = run(tf.constant(x), {t: tf.constant(v) for t, v in y.items()}, grams)
    grads = {v.path: np.asarray(g) for v, g in zip(model.trainable_variables, grads)}
    for block, tasks, variables in shared:
        w = block_weights[block].numpy()
        np.testing.assert_allclose(w, expected[block], rtol=2e-3, atol=1e-6, err_msg=f"{name} {space} {block}")
        for var, g in zip(variables, tape_gradient(model, x, y, tasks, w, variables)):
            np.testing.assert_allclose(grads[var.path], g, rtol=1e-5, atol=1e-6, err_msg=f"{name} {space} {var.path}")
    assert set(logs) == set(model.balancer.log_names()) == {"weight_a", "weight_b", "weight_c"}
    root = block_weights["root"].numpy()
    np.testing.assert_allclose([float(logs[f"weight_{t}"]) for t in "abc"], root, rtol=1e-6)
    # a task whose gradient is zero (its labels are its outputs: L_c = 0) leaves every weight finite
    y_zero = {**y, "c": outputs["c"].numpy()}
    grads, logs, block_weights, _ = run(tf.constant(x), {t: tf.constant(v) for t, v in y_zero.items()}, grams)
    assert all(np.isfinite(np.asarray(g)).all() for g in grads), name
    assert all(np.isfinite(w.numpy()).all() for w in block_weights.values()), block_weights
    if name in ("nash_mtl", "fairgrad"):  # no positive solution for an absent task: weight 0
        assert float(logs["weight_c"]) == 0.0 and float(logs["weight_a"]) > 0.0, logs


@pytest.mark.parametrize("name, config", [
    ("upgrad", {"reg_eps": 1e-3, "space": "parameters"}), ("dualproj", {"reg_eps": 0.0}),
    ("cagrad", {"c": 0.3, "rescale": 2}), ("nash_mtl", {"update_weights_every": 3, "max_norm": 2.0}),
    ("fairgrad", {"alpha": 2.5, "max_norm": 1.0, "space": "parameters"})])
def test_saved_model_keeps_the_balancer_config_and_state(name, config, tmp_path):
    model = tree_model(balancers.get(name, **config))
    for var in model.balancer.weights:  # non-trivial state (Nash-MTL: its step and stored weights)
        var.assign(np.arange(1, np.prod(var.shape) + 1, dtype="float32").reshape(var.shape))
    model.save(tmp_path / "model.keras")
    loaded = mtlzoo.load_model(tmp_path / "model.keras")
    assert type(loaded.balancer) is type(model.balancer)
    assert loaded.balancer.get_config() == model.balancer.get_config()
    assert {k: v for k, v in loaded.balancer.get_config().items() if k in config} == config
    for a, b in zip(loaded.balancer.weights, model.balancer.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_nash_mtl_reuses_its_weights_between_updates_and_clips():
    model = tree_model(balancers.get("nash_mtl", update_weights_every=2))
    run = run_step(model)
    weights = []
    for seed in range(3):
        x, y, _ = batch(model, seed=seed)
        _, _, block_weights = run(tf.constant(x), {t: tf.constant(v) for t, v in y.items()})
        weights.append({b: w.numpy() for b, w in block_weights.items()})
    for block in weights[0]:
        np.testing.assert_array_equal(weights[1][block], weights[0][block])  # step 1 reuses step 0's
        assert not np.allclose(weights[2][block], weights[0][block])  # step 2 solves again
    assert float(model.balancer.steps.numpy()) == 3.0
    clipped = tree_model(balancers.get("nash_mtl", max_norm=1e-3))
    x, y, _ = batch(clipped)
    _, _, block_weights = run_step(clipped)(tf.constant(x), {t: tf.constant(v) for t, v in y.items()})
    grams = reference_grams(clipped, x, y, "latent")
    total = sum(block_weights[b].numpy() @ grams[b] @ block_weights[b].numpy() for b in grams)
    np.testing.assert_allclose(np.sqrt(total), 1e-3, rtol=1e-3)


def test_errors_name_the_argument():
    for name, config, match in [("upgrad", {"reg_eps": -1.0}, "reg_eps"), ("cagrad", {"c": -0.1}, "c must"),
                                ("cagrad", {"rescale": 3}, "rescale"), ("nash_mtl", {"update_weights_every": 0},
                                                                        "update_weights_every"),
                                ("fairgrad", {"alpha": 0.0}, "alpha"), ("dualproj", {"space": "weightz"}, "space")]:
        with pytest.raises(ValueError, match=match):
            balancers.get(name, **config)


# ---------------------------------------------------------------- slow: training, MirroredStrategy
@pytest.mark.slow
@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("name", METHODS)
def test_short_fit_lowers_the_loss(name, space):
    testing.seed_everything(0)
    model = mtlzoo.models.get("multimnist_lenet", width=2)
    model.compile(optimizer=keras.optimizers.SGD(0.05), balancer=balancers.get(name, space=space), jit_compile=True)
    rng = np.random.default_rng(0)
    x = rng.random((32, 28, 28, 1), dtype="float32")
    y = {t: rng.integers(0, 10, 32) for t in model.tasks}
    history = model.fit(x, y, batch_size=16, epochs=10, shuffle=False, verbose=0).history  # 20 steps
    assert np.isfinite(history["loss"]).all()
    assert history["loss"][-1] < history["loss"][0] - 0.05, history["loss"]
    assert all(np.isfinite(history[f"weight_{t}"]).all() for t in model.tasks)


@pytest.mark.slow
def test_mirrored_strategy_weights_equal_one_device(tmp_path):
    """The existing harness (tests/training/distributed_worker.py): two logical CPUs vs one device."""
    worker = Path(__file__).with_name("distributed_worker.py")
    out = tmp_path / "report.json"
    done = subprocess.run([sys.executable, str(worker), "mirrored", str(out), "--balancers", *METHODS,
                           "--train-on-batch"], capture_output=True, text=True, timeout=1200,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    for name in METHODS:
        result = report[name]
        assert result["replicas"] == 2
        for key in ("first_weights", "first_state", "first_logs", "fit_weights", "fit_state", "fit_logs"):
            assert result[key] <= 1e-5, (name, key, result[key])
        assert result["replica_spread"] <= 1e-6, (name, result["replica_spread"])
        assert {f"weight_{t}" for t in ("left", "right")} <= set(result["logs"]["fit"]), name
