"""The gradients the min-norm balancers apply, against independent per-task tapes and a SciPy QP."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from scipy.optimize import minimize

from mtlzoo import testing
from mtlzoo.training import MultiTaskModel, StepContext, VariableGroups, balancers


def scipy_min_norm(gram: np.ndarray) -> np.ndarray:
    """alpha = argmin a^T G a on the simplex with SciPy's SLSQP (an independent reference)."""
    t = len(gram)
    result = minimize(lambda a: a @ gram @ a, np.full(t, 1.0 / t), jac=lambda a: 2 * gram @ a,
                      bounds=[(0.0, 1.0)] * t, constraints=[{"type": "eq", "fun": lambda a: a.sum() - 1.0}],
                      method="SLSQP", options={"ftol": 1e-15, "maxiter": 1000})
    return result.x


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
    return x, y


def step_for(model, x, y):
    groups = VariableGroups.of(model)
    with tf.GradientTape(persistent=True) as tape:
        outputs, latents = model.forward(x, training=True, latents=[b for b, _, _ in groups.shared])
        losses = model.task_losses(y, outputs)
    return StepContext(model, tape, losses, losses, latents, model.trainable_variables, groups)


def balancer_output(model, x, y, latent=True):
    """``(alphas, grads, logs)`` of the model's min-norm balancer, traced (the solvers loop)."""

    @tf.function
    def run(x, y):
        step = step_for(model, x, y)
        task_grads = step.latent_gradients() if latent else step.parameter_gradients()
        grams = step.latent_grams(task_grads) if latent else step.parameter_grams(task_grads)
        alphas, _ = model.balancer.solve_blocks(step, grams)
        grads, logs = model.balancer.gradients(step)
        return alphas, grads, logs

    alphas, grads, logs = run(tf.constant(x), {t: tf.constant(v) for t, v in y.items()})
    return {b: a.numpy() for b, a in alphas.items()}, as_dict(model, grads), logs


def index_of(variables, var):
    return next(i for i, v in enumerate(variables) if v is var)


def reference_task_gradients(model, x, y):
    """Per task, with its own tape: dL_t/dZ_i for every block and dL_t/d(all variables), as NumPy."""
    out = {}
    blocks = list(model.tree.blocks)
    for task in model.tasks:
        with tf.GradientTape() as tape:
            outputs, latents = model.forward(x, training=True, latents="all")
            loss = model.task_losses(y, outputs)[task]
        zs = [latents[b] for b in blocks]
        sources = zs + model.trainable_variables
        grads = [np.zeros(s.shape, "float32") if g is None else g
                 for g, s in zip(tape.gradient(loss, sources), sources)]
        out[task] = {"latent": {b: np.asarray(g) for b, g in zip(blocks, grads[:len(blocks)])},
                     "params": [np.asarray(g) for g in grads[len(blocks):]]}
    return out


def as_dict(model, grads):
    return {v.path: np.asarray(g) for v, g in zip(model.trainable_variables, grads)}


def test_tree_variable_groups_follow_the_tree():
    model = tree_model("uniform")
    groups = VariableGroups.of(model)
    assert [(b, tasks) for b, tasks, _ in groups.shared] == [
        ("root", ("a", "b", "c")), ("trunk", ("a", "b", "c")), ("branch", ("a", "b"))]
    assert {t: [v.path.split("/")[0] for v in vs] for t, vs in groups.own.items()} == {
        "a": ["head_a", "head_a"], "b": ["head_b", "head_b"], "c": ["head_c", "head_c"]}


def test_mgda_ub_per_block_alphas_and_gradients_match_a_hand_computation():
    """seed 000 eqs. 4.5/4.7: block i solves its own problem over O(i) and gets sum_t a_t^i dL_t/dZ_i."""
    model = tree_model(balancers.get("mgda_ub", normalization="none"))
    x, y = batch(model)
    ref = reference_task_gradients(model, x, y)
    alphas, grads, _ = balancer_output(model, x, y)
    variables = model.trainable_variables
    for block, tasks, block_vars in VariableGroups.of(model).shared:
        alpha = alphas[block]
        assert alpha.shape == (len(tasks),) and abs(alpha.sum() - 1) < 1e-6 and (alpha >= 0).all()
        rows = np.stack([ref[t]["latent"][block].ravel() for t in tasks]).astype(np.float64)
        gram = rows @ rows.T
        expected_alpha = scipy_min_norm(gram)
        assert alpha @ gram @ alpha <= expected_alpha @ gram @ expected_alpha * (1 + 1e-5) + 1e-12
        for var in block_vars:  # (dZ_i/d theta_i)^T sum_t a_t dL_t/dZ_i == sum_t a_t dL_t/d theta_i
            k = index_of(variables, var)
            expected = sum(a * ref[t]["params"][k] for a, t in zip(alpha, tasks))
            np.testing.assert_allclose(grads[var.path], expected, rtol=1e-5, atol=1e-6)
    for task, own in VariableGroups.of(model).own.items():  # heads: their own task's gradient
        for var in own:
            np.testing.assert_allclose(grads[var.path], ref[task]["params"][index_of(variables, var)], atol=1e-6)


def test_mgda_ub_shared_gradient_equals_tape_gradient_of_alpha_weighted_loss():
    """On a shared trunk: the applied gradient is d(sum_t alpha_t L_t)/d theta_sh (issue acceptance)."""
    import mtlzoo

    testing.seed_everything(1)
    model = mtlzoo.models.get("multimnist_lenet", width=2)
    model.compile(optimizer="sgd", balancer="mgda_ub")  # recipe: loss+ normalization
    rng = np.random.default_rng(1)
    x = rng.random((8, 28, 28, 1), dtype="float32")
    y = {t: rng.integers(0, 10, 8) for t in model.tasks}
    alphas, grads, _ = balancer_output(model, x, y)
    alpha = alphas["trunk"]
    trunk = model.block_variables(["trunk"])
    with tf.GradientTape() as tape:
        outputs, _ = model.forward(x, training=True)
        losses = model.task_losses(y, outputs)
        total = alpha[0] * losses["left"] + alpha[1] * losses["right"]
    expected = tape.gradient(total, trunk)
    for var, g in zip(trunk, expected):
        np.testing.assert_allclose(grads[var.path], g.numpy(), rtol=1e-5, atol=1e-6)


def test_exact_mgda_equals_numpy_from_per_task_gradients():
    model = tree_model(balancers.get("mgda", normalization="none"))
    x, y = batch(model, seed=3)
    ref = reference_task_gradients(model, x, y)
    _, grads, _ = balancer_output(model, x, y, latent=False)
    variables = model.trainable_variables
    for block, tasks, block_vars in VariableGroups.of(model).shared:
        idx = [index_of(variables, v) for v in block_vars]
        rows = np.stack([np.concatenate([ref[t]["params"][k].ravel() for k in idx]) for t in tasks])
        gram = rows.astype(np.float64) @ rows.T.astype(np.float64)
        alpha = scipy_min_norm(gram)
        for j, k in enumerate(idx):
            expected = sum(a * ref[t]["params"][k] for a, t in zip(alpha, tasks))
            np.testing.assert_allclose(grads[block_vars[j].path], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["mgda", "mgda_ub", "pcgrad", "hybrid", "gradnorm"])
def test_gradients_finite_and_complete_for_every_variable(name):
    model = tree_model(name)
    x, y = batch(model)
    grads, logs = model.balancer.gradients(step_for(model, x, y))
    assert len(grads) == len(model.trainable_variables)
    assert all(np.isfinite(np.asarray(g)).all() for g in grads)
    assert set(logs) <= set(model.balancer.log_names())


def test_pcgrad_removes_conflicts_like_the_vector_algorithm():
    from mtlzoo.training.balancers.pcgrad import pcgrad_coefficients

    rng = np.random.default_rng(0)
    for _ in range(20):
        g = rng.normal(size=(4, 6))
        seed = tf.constant([3, 7])
        beta = pcgrad_coefficients(tf.constant(g @ g.T, tf.float32), seed).numpy()
        order = tf.argsort(tf.random.stateless_uniform((4, 4), seed=seed), axis=1).numpy()
        expected = np.zeros(6)
        for t in range(4):  # the original algorithm on the vectors, same visiting order
            gt = g[t].copy()
            for s in order[t]:
                dot = gt @ g[s]
                if dot < 0:
                    gt -= dot / (g[s] @ g[s]) * g[s]
            expected += gt
        np.testing.assert_allclose(beta @ g, expected, rtol=1e-4, atol=1e-4)


def test_gradnorm_moves_gradient_norms_toward_the_targets():
    """Two regression tasks with loss scales ~100x apart: GradNorm shrinks the big task's weight until the
    weighted latent gradient norms are close (seed 003 Alg. 1; alpha=0 makes the targets equal norms)."""
    import keras

    testing.seed_everything(0)
    trunk = keras.layers.Dense(8, activation="tanh", name="trunk")
    model = MultiTaskModel.shared_trunk(trunk, {"big": keras.layers.Dense(1, name="head_big"),
                                               "small": keras.layers.Dense(1, name="head_small")}, (4,))
    model.compile(optimizer=keras.optimizers.SGD(1e-4), loss="mse",
                  balancer=balancers.get("gradnorm", alpha=0.0, learning_rate=0.05))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = {"big": 10.0 * x[:, :1] + 10.0, "small": 0.1 * x[:, 1:2]}

    def norm_ratio():
        step = step_for(model, x, y)
        gram = step.latent_grams(step.latent_gradients())["trunk"].numpy()
        c = model.balancer.task_weights.numpy()
        norms = c * np.sqrt(np.diag(gram))
        return abs(np.log(norms[0] / norms[1]))

    before = norm_ratio()
    model.fit(x, y, batch_size=64, epochs=30, verbose=0)
    after = norm_ratio()
    c = model.balancer.task_weights.numpy()
    assert np.isclose(c.sum(), 2.0, atol=1e-4)
    assert c[0] < c[1]
    assert before > 1.5 and after < 0.25 * before, (before, after, c)
