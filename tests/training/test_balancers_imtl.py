"""``imtl`` (Liu et al. 2021): IMTL-G against the paper's closed form and a pseudo-inverse reference on the
explicit gradient vectors, its equal-projection property, IMTL-L's scales, the tree, saving, training."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from mtlzoo.training import balancers
from mtlzoo.training.balancers.imtl import imtl_g_weights

_spec = importlib.util.spec_from_file_location("gramian_method_checks",
                                               Path(__file__).with_name("gramian_method_checks.py"))
checks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(checks)


def paper_alpha(j: np.ndarray) -> np.ndarray:
    """alpha_{2:T} = g_1 U^T (D U^T)^{-1}, alpha_1 = 1 - sum (the paper's closed form, float64 vectors)."""
    u = checks.unit_rows(j)
    d, du = j[0] - j[1:], u[0] - u[1:]
    rest = j[0] @ du.T @ np.linalg.inv(d @ du.T)
    return np.concatenate([[1.0 - rest.sum()], rest])


def pinv_alpha(j: np.ndarray) -> np.ndarray:
    """The same from the unit vectors' pseudo-inverse: d is parallel to U^+ 1, c = (U^+)^T U^+ 1."""
    norms = np.linalg.norm(j, axis=1)
    up = checks.pinv(checks.unit_rows(j))
    c = up.T @ up @ (norms > 0)
    alpha = np.divide(c, norms, out=np.zeros_like(c), where=norms > 0)
    return alpha / abs(alpha.sum())


def test_imtl_g_matches_the_closed_form_and_has_equal_projections():
    compared = closed_form = 0
    for j in checks.jacobians(seed=1, count=150):
        w = imtl_g_weights(checks.gram32(j)).numpy().astype(np.float64)
        assert np.isfinite(w).all()
        norms = np.linalg.norm(j, axis=1)
        if np.linalg.norm(checks.pinv(checks.unit_rows(j)) @ np.ones(len(j))) < 1e-6:
            continue  # e.g. two opposite gradients: no direction has equal positive projections
        ref = pinv_alpha(j)
        scale = np.linalg.norm(j.T @ ref)
        np.testing.assert_allclose(j.T @ w, j.T @ ref, atol=1e-3 * scale)
        np.testing.assert_allclose(w, ref, atol=1e-3 * np.abs(ref).max())
        assert (w[norms == 0] == 0).all()  # a task without a gradient gets no weight
        compared += 1
        if checks.full_rank(j):
            paper = paper_alpha(j)
            sign = np.sign(checks.unit_rows(j)[0] @ (j.T @ paper))  # the paper's sign may give ascent
            np.testing.assert_allclose(w, sign * paper, atol=1e-3 * np.abs(paper).max())
            projections = checks.unit_rows(j) @ (j.T @ w)  # defining property: all equal, and positive
            np.testing.assert_allclose(projections, projections.mean(), rtol=1e-3)
            assert projections.mean() > 0
            closed_form += 1
    assert compared >= 100 and closed_form >= 45, (compared, closed_form)


def test_imtl_g_is_guarded_and_compiles_with_xla():
    g = np.random.default_rng(0).normal(size=(4, 7))
    gram = checks.gram32(g)
    eager = imtl_g_weights(gram).numpy()
    for jit in (False, True):
        np.testing.assert_allclose(tf.function(imtl_g_weights, jit_compile=jit)(gram).numpy(), eager, rtol=1e-5,
                                   atol=1e-6)
    np.testing.assert_allclose(imtl_g_weights(tf.zeros((3, 3))).numpy(), np.full(3, 1 / 3))  # no gradient at all
    bad = gram.numpy().copy()
    bad[1, 2] = bad[2, 1] = np.nan  # non-finite tasks are dropped, the rest still equalized
    w = imtl_g_weights(tf.constant(bad)).numpy()
    assert np.isfinite(w).all() and w[1] == 0 and w[2] == 0
    keep = [0, 3]
    np.testing.assert_allclose(w[keep], imtl_g_weights(tf.constant(gram.numpy()[np.ix_(keep, keep)])).numpy(),
                               rtol=1e-5)


@pytest.mark.parametrize("mode, space", [("hybrid", "latent"), ("hybrid", "parameters"), ("gradient", "parameters")])
def test_imtl_on_the_tree_is_the_tape_gradient_of_its_weighted_losses(space, mode):
    model = checks.tree_model(balancers.get("imtl", mode=mode, space=space))
    if mode == "hybrid":
        model.balancer.log_scales.assign([0.3, -0.5, 0.1])
    x, y, sw = checks.batch(model, absent="c")  # task c absent: zero gradients in root and trunk
    grads, logs, weights = checks.run_step(model, x, y, sw)
    checks.assert_tape_gradients_per_block(model, x, y, sw, grads, weights)
    scales = model.balancer.scales().numpy()
    jac = checks.block_jacobians(model, x, y, sw, space)
    index = {t: k for k, t in enumerate(model.tasks)}
    for block, j in jac.items():  # the weights: IMTL-G on e^s g from the explicit vectors
        tasks = [t for b, ts, _ in checks.VariableGroups.of(model).shared if b == block for t in ts]
        e = scales[[index[t] for t in tasks]]
        present = np.linalg.norm(j, axis=1) > 0
        expected = np.zeros(len(tasks))
        expected[present] = pinv_alpha(e[present, None] * j[present]) * e[present]
        np.testing.assert_allclose(weights[block], expected, rtol=1e-4, atol=1e-6, err_msg=block)
    assert weights["root"][index["c"]] == 0
    for k, t in enumerate(model.tasks):
        assert logs[f"weight_{t}"] == pytest.approx(weights["root"][k])
    if mode == "hybrid":  # IMTL-L: d/ds_t (e^{s_t} L_t - s_t) and heads scaled by e^{s_t}
        losses = checks.task_losses(model, x, y, sw)
        s_path = model.balancer.log_scales.path
        np.testing.assert_allclose(grads[s_path], [scales[k] * float(losses[t]) - 1 for k, t in enumerate(model.tasks)],
                                   rtol=1e-5, atol=1e-6)


def test_imtl_loss_mode_is_the_gradient_of_the_scaled_losses():
    model = checks.tree_model(balancers.get("imtl", mode="loss"))
    model.balancer.log_scales.assign([0.2, -0.4, 0.7])
    x, y, sw = checks.batch(model, seed=2)
    grads, _, _ = checks.run_step(model, x, y, sw)
    s = model.balancer.log_scales
    with tf.GradientTape() as tape:
        losses = checks.task_losses(model, x, y, sw)
        total = tf.add_n([tf.exp(s[k]) * losses[t] - s[k] for k, t in enumerate(model.tasks)])
    expected = tape.gradient(total, model.trainable_variables)
    for v, g in zip(model.trainable_variables, expected):
        np.testing.assert_allclose(grads[v.path], g.numpy(), rtol=1e-5, atol=1e-6, err_msg=v.path)


def test_imtl_scales_survive_keras_files(tmp_path):
    checks.assert_keras_round_trip(checks.tree_model(balancers.get("imtl", space="parameters")), tmp_path)


def test_imtl_fit_lowers_the_loss_and_backup_and_restore_resumes_with_the_scales(tmp_path):
    checks.assert_fit_lowers_the_loss_and_resumes(lambda: balancers.get("imtl"), tmp_path,
                                                  moved=lambda s: np.abs(s["log_scales"]).max() > 1e-3)


def test_imtl_rejects_unknown_modes():
    with pytest.raises(ValueError, match="mode must be one of"):
        balancers.get("imtl", mode="both")


def test_imtl_under_a_loss_scale_returns_scaled_gradients():  # mixed precision
    checks.assert_loss_scale_invariant(lambda: balancers.get("imtl"))


@pytest.mark.slow
def test_imtl_under_mirrored_strategy_matches_one_device(tmp_path):
    checks.assert_mirrored_matches_one_device(tmp_path, ["imtl+latent", "imtl+parameters"],
                                              moved=lambda s: np.abs(s["log_scales"]).max() > 1e-3)
