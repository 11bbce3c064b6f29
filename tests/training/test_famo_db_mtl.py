"""FAMO's logits update and DB-MTL's gradient balancing against hand computations (NumPy, per-task tapes)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mtlzoo import testing
from mtlzoo.training import MultiTaskModel, StepContext, VariableGroups, balancers


def tree_model(balancer, seed=0):
    testing.seed_everything(seed)
    model = testing.tiny_tree_network(model_class=MultiTaskModel)
    model.compile(optimizer="sgd", loss="mse", balancer=balancer)
    return model


def batch(model, seed=0, n=16):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    outputs, _ = model.forward(x)
    y = {t: rng.normal(size=tuple(outputs[t].shape)).astype("float32") for t in model.tasks}
    return x, y


def numpy_losses(model, x, y) -> np.ndarray:
    outputs, _ = model.forward(x)
    return np.array([float(v) for v in model.task_losses(y, outputs).values()], np.float64)


def softmax(v):
    e = np.exp(v - v.max())
    return e / e.sum()


# ------------------------------------------------------------------ FAMO
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_famo_logits_follow_a_two_step_hand_computation(optimizer):
    """Liu et al. 2023 Alg. 1: z = softmax(xi); delta = log L(before) - log L(after);
    xi <- xi - beta (d + gamma xi) (sgd) or Adam on d + gamma xi, d = (diag z - z z^T) delta."""
    beta, gamma, eps = 0.5, 0.1, 1e-8
    model = tree_model(balancers.get("famo", learning_rate=beta, weight_decay=gamma, optimizer=optimizer))
    xi, m, v = np.zeros(3), np.zeros(3), np.zeros(3)
    for k in range(1, 3):
        x, y = batch(model, seed=k)
        before = numpy_losses(model, x, y)  # no dropout/BN: training and inference passes agree
        z = softmax(xi)
        q = z / (before + eps)
        logs = model.train_on_batch(x, y, return_dict=True)
        np.testing.assert_allclose([logs[f"weight_{t}"] for t in model.tasks], q / q.sum(), rtol=1e-5)
        after = numpy_losses(model, x, y)
        delta = np.log(before + eps) - np.log(after + eps)
        g = z * delta - z * (z @ delta) + gamma * xi
        if optimizer == "sgd":
            xi = xi - beta * g
        else:
            m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
            xi = xi - beta * (m / (1 - 0.9 ** k)) / (np.sqrt(v / (1 - 0.999 ** k)) + 1e-8)
        np.testing.assert_allclose(model.balancer.logits.numpy(), xi, rtol=1e-4, atol=1e-6)
    assert np.abs(xi).max() > 1e-3  # the logits moved


def test_famo_network_step_is_the_gradient_of_the_weighted_log_losses():
    model = tree_model(balancers.get("famo"))
    model.balancer.logits.assign([0.3, -0.2, 0.1])
    x, y = batch(model)
    groups = VariableGroups.of(model)
    with tf.GradientTape(persistent=True) as tape:
        outputs, _ = model.forward(x, training=True)
        losses = model.task_losses(y, outputs)
    grads, _ = model.balancer.gradients(StepContext(model, tape, losses, losses, {}, model.trainable_variables,
                                                    groups))
    z = softmax(np.array([0.3, -0.2, 0.1]))
    values = numpy_losses(model, x, y)
    c = 1.0 / (z / values).sum()
    with tf.GradientTape() as ref:
        outputs, _ = model.forward(x, training=True)
        ls = model.task_losses(y, outputs)
        total = sum(c * z[k] * tf.math.log(ls[t]) for k, t in enumerate(model.tasks))
    for g, e in zip(grads, ref.gradient(total, model.trainable_variables)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------- DB-MTL
def per_task_block_gradients(model, x, y, space):
    """{task: {block: flat dL_t/dZ_i (latent) or dL_t/dtheta_i (parameters)}} and {task: [dL_t/d all vars]}."""
    groups = VariableGroups.of(model)
    blocks, out, full = [b for b, _, _ in groups.shared], {}, {}
    for task in model.tasks:
        with tf.GradientTape() as tape:
            outputs, latents = model.forward(x, training=True, latents="all")
            loss = model.task_losses(y, outputs)[task]
        sources = [latents[b] for b in blocks] + model.trainable_variables
        grads = [np.zeros(s.shape, "float32") if g is None else np.asarray(g)
                 for g, s in zip(tape.gradient(loss, sources), sources)]
        lat, params = grads[:len(blocks)], grads[len(blocks):]
        full[task] = params
        index = {id(v): i for i, v in enumerate(model.trainable_variables)}
        out[task] = {}
        for (block, _, variables), z in zip(groups.shared, lat):
            flat = z.ravel() if space == "latent" else np.concatenate([params[index[id(v)]].ravel() for v in variables])
            out[task][block] = flat.astype(np.float64)
    return out, full


@pytest.mark.parametrize("space", ["latent", "parameters"])
def test_db_mtl_balanced_gradient_norms_are_equal_per_block(space):
    beta = 0.9
    model = tree_model(balancers.get("db_mtl", space=space, beta=beta))
    groups = VariableGroups.of(model)
    ema = {}
    for k in range(1, 3):  # two steps: the moving average's second value mixes both
        x, y = batch(model, seed=k)
        ref, full = per_task_block_gradients(model, x, y, space)
        losses = numpy_losses(model, x, y)
        latent = [b for b, _, _ in groups.shared] if space == "latent" else []
        with tf.GradientTape(persistent=True) as tape:
            outputs, latents = model.forward(x, training=True, latents=latent)
            ls = model.task_losses(y, outputs)
        step = StepContext(model, tape, ls, ls, latents, model.trainable_variables, groups)
        weights, _ = model.balancer.weigh_blocks(model.balancer.problems(step))
        index = {t: i for i, t in enumerate(model.tasks)}
        for block, tasks, _ in groups.shared:
            norms = np.array([np.linalg.norm(ref[t][block]) for t in tasks])
            n = norms / (losses[[index[t] for t in tasks]] + 1e-8)  # ||grad log L_t||
            ema[block] = (1 - beta) * n + beta * ema.get(block, np.zeros(len(tasks)))
            w = weights[block].numpy()
            balanced = w * norms
            np.testing.assert_allclose(balanced, np.full(len(tasks), ema[block].max()), rtol=1e-4)
    # each task's own blocks (heads) get grad log L_t = grad L_t / L_t
    grads, _ = model.balancer.gradients(step_for_db(model, x, y, groups, space))
    index_of = {id(v): i for i, v in enumerate(model.trainable_variables)}
    for task in model.tasks:
        for var in groups.own[task]:
            i = index_of[id(var)]
            np.testing.assert_allclose(np.asarray(grads[i]), full[task][i] / (losses[model.tasks.index(task)] + 1e-8),
                                       rtol=1e-4, atol=1e-6)


def step_for_db(model, x, y, groups, space):
    latent = [b for b, _, _ in groups.shared] if space == "latent" else []
    with tf.GradientTape(persistent=True) as tape:
        outputs, latents = model.forward(x, training=True, latents=latent)
        ls = model.task_losses(y, outputs)
    return StepContext(model, tape, ls, ls, latents, model.trainable_variables, groups)


def test_db_mtl_shared_update_is_the_weighted_sum_of_task_gradients():
    model = tree_model(balancers.get("db_mtl", space="parameters"))
    groups = VariableGroups.of(model)
    x, y = batch(model)
    ref, full = per_task_block_gradients(model, x, y, "parameters")
    step = step_for_db(model, x, y, groups, "parameters")
    grads, logs = model.balancer.gradients(step)
    weights = step.record["block_weights"]
    index_of = {id(v): i for i, v in enumerate(model.trainable_variables)}
    for block, tasks, variables in groups.shared:
        w = weights[block].numpy()
        for var in variables:
            i = index_of[id(var)]
            expected = sum(wk * full[t][i] for wk, t in zip(w, tasks))
            np.testing.assert_allclose(np.asarray(grads[i]), expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose([float(logs[f"weight_{t}"]) for t in model.tasks], weights["root"].numpy())
