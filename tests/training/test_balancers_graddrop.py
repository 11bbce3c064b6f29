"""``graddrop`` (Chen et al. 2020): sign purity and masks against NumPy on explicit gradients, the kept
sign and keep-probability, the seeded draws, the tree in both spaces, saving, training."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from mtlzoo.training import balancers
from mtlzoo.training.balancers.graddrop import sign_dropout, sign_masks, sign_purity

_spec = importlib.util.spec_from_file_location("gramian_method_checks",
                                               Path(__file__).with_name("gramian_method_checks.py"))
checks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(checks)


def reference(grads: np.ndarray, uniform: np.ndarray, signs: np.ndarray | None = None, leak=None) -> np.ndarray:
    """Alg. 1 in NumPy (float64): grads (T, [B,] ...), signs sign(A) (B, ...) for batch-separated
    gradients, uniform U (...)."""
    summed = grads if signs is None else (signs[None] * grads).sum(axis=1)
    total, absolute = summed.sum(0), np.abs(summed).sum(0)
    purity = 0.5 * (1 + np.divide(total, absolute, out=np.zeros_like(total), where=absolute > 0))
    masks = ((purity > uniform) & (summed > 0)) | ((purity < uniform) & (summed < 0))
    leak = np.zeros(len(grads)) if leak is None else np.asarray(leak)
    keep = leak.reshape((-1,) + (1,) * (masks.ndim - 1)) + (1 - leak).reshape((-1,) + (1,) * (masks.ndim - 1)) * masks
    if signs is not None:
        keep = keep[:, None]
    return (keep * grads).sum(0)


def problems(seed=10, count=110):
    """Per-sample latent gradients (T, B, F) with a zero task, duplicates, and sign-mixed activations."""
    rng = np.random.default_rng(seed)
    for k in range(count):
        t, b, f = int(rng.integers(2, 11)), int(rng.integers(1, 6)), int(rng.integers(1, 8))
        grads = rng.normal(size=(t, b, f))
        if k % 4 == 1:
            grads[0] = 0.0
        elif k % 4 == 2:
            grads[-1] = grads[0]
        activations = rng.normal(size=(b, f)) * (rng.random((b, f)) > 0.2)  # some exact zeros (ReLU-like)
        yield grads, np.sign(activations), rng.random(f), rng.uniform(0, 0.5, t) if k % 3 == 0 else np.zeros(t)


def test_graddrop_matches_numpy_on_latent_and_parameter_gradients():
    count = 0
    for grads, signs, uniform, leak in problems():
        g32, s32 = grads.astype("float32"), signs.astype("float32")
        summed = tf.reduce_sum(s32[None] * g32, axis=1)
        out = sign_dropout(list(tf.unstack(g32)), sign_masks(summed, tf.constant(uniform, tf.float32)),
                           tf.constant(leak, tf.float32))
        np.testing.assert_allclose(out.numpy(), reference(grads, uniform, signs, leak), rtol=1e-5, atol=1e-5)
        flat = grads[:, 0]  # parameter space: no batch axis, no sign(A)
        out = sign_dropout(list(tf.unstack(flat.astype("float32"))),
                           sign_masks(tf.constant(flat, tf.float32), tf.constant(uniform, tf.float32)),
                           tf.constant(leak, tf.float32))
        np.testing.assert_allclose(out.numpy(), reference(flat, uniform, None, leak), rtol=1e-5, atol=1e-5)
        count += 1
    assert count >= 100


def test_graddrop_keeps_one_sign_with_probability_p():
    """The defining property: every output coordinate has the kept sign, and the positive sign is kept
    with probability P (the sign purity) over many draws of U."""
    rng = np.random.default_rng(11)
    grads = rng.normal(size=(4, 12)).astype("float32")
    grads[:, 0] = np.abs(grads[:, 0])  # all positive: P = 1
    grads[:, 1] = -np.abs(grads[:, 1])  # all negative: P = 0
    grads[2, 2] = 0.0
    purity = sign_purity(tf.constant(grads)).numpy()
    total, absolute = grads.sum(0), np.abs(grads).sum(0)
    np.testing.assert_allclose(purity, 0.5 * (1 + total / absolute), rtol=1e-6)
    draws = tf.constant(rng.random((4000, 12)), tf.float32)
    masks = tf.function(lambda u: tf.map_fn(lambda v: sign_masks(tf.constant(grads), v), u))(draws).numpy()
    out = (masks * grads[None]).sum(1)  # leak 0: sum_i M_i g_i per draw
    positive_kept = (masks * (grads[None] > 0)).max(1) > 0
    negative_kept = (masks * (grads[None] < 0)).max(1) > 0
    assert not (positive_kept & negative_kept).any()  # one sign per coordinate and draw
    assert (out[positive_kept] > 0).all() and (out[negative_kept] < 0).all()
    assert (masks[:, :, 0] == 1).all() and (masks[:, :, 1] == 1).all()  # unanimous signs are never dropped
    sigma = np.sqrt(purity * (1 - purity) / len(draws))
    np.testing.assert_array_less(np.abs(positive_kept.mean(0) - purity), 4 * sigma + 1e-6)


def test_graddrop_draws_are_seeded_by_the_step_and_compile_with_xla():
    model = checks.tree_model(balancers.get("graddrop", space="parameters", seed=3))
    x, y, sw = checks.batch(model, seed=12)
    run_step = checks.step_function(model)
    first = run_step(x, y, sw)[0]
    model.balancer.steps.assign(0.0)
    again = run_step(x, y, sw)[0]
    model.balancer.steps.assign(5.0)
    later = run_step(x, y, sw)[0]
    trunk = [v.path for v in model.block_variables(["trunk"])]
    assert all(np.array_equal(first[p], again[p]) for p in trunk)  # reproducible
    assert any(not np.allclose(first[p], later[p]) for p in trunk)  # another step, other draws
    model.balancer.steps.assign(0.0)
    run_step(x, y, sw)
    assert model.balancer.steps.numpy() == 1
    grads = np.random.default_rng(13).normal(size=(3, 5, 4)).astype("float32")
    signs = np.sign(np.random.default_rng(14).normal(size=(5, 4))).astype("float32")
    u = tf.constant(np.random.default_rng(15).random(4), tf.float32)

    def run(g, a, u):
        return sign_dropout(tf.unstack(g), sign_masks(tf.reduce_sum(a[None] * g, 1), u), tf.zeros(3))

    eager = run(tf.constant(grads), tf.constant(signs), u).numpy()
    for jit in (False, True):
        np.testing.assert_allclose(tf.function(run, jit_compile=jit)(grads, signs, u).numpy(), eager, rtol=1e-6)
    nan = grads.copy()
    nan[1, 0, 0] = np.nan
    assert np.isfinite(run(tf.constant(nan), tf.constant(signs), u).numpy()[1:]).all()


@pytest.mark.parametrize("space", ["latent", "parameters"])
def test_graddrop_on_the_tree_matches_numpy(space):
    model = checks.tree_model(balancers.get("graddrop", space=space, leak={"a": 0.25}))
    x, y, sw = checks.batch(model, absent="c")
    leak = np.array([0.25, 0.0, 0.0])
    index = {t: k for k, t in enumerate(model.tasks)}
    groups = checks.VariableGroups.of(model)
    position = {b: k for k, b in enumerate(model.tree.shared_blocks)}
    expected = {}
    if space == "latent":
        ref = checks.reference_latent_gradients(model, x, y, sw)
        for block, tasks, variables in groups.shared:
            with tf.GradientTape() as tape:
                _, latents = model.forward(x, training=True, latents=[block])
            z = latents[block]
            u = tf.random.stateless_uniform(z.shape[1:], seed=[7919 * position[block], 0], alg="philox").numpy()
            grads = np.stack([ref[(block, t)] for t in tasks])
            upstream = reference(grads, u, np.sign(z.numpy()), leak[[index[t] for t in tasks]])
            for var, g in zip(variables, tape.gradient(z, list(variables), output_gradients=tf.constant(upstream,
                                                                                                         tf.float32))):
                expected[var.path] = g.numpy()
    else:
        ref = checks.reference_block_gradients(model, x, y, sw)
        for block, tasks, variables in groups.shared:
            for n, var in enumerate(variables):
                u = tf.random.stateless_uniform(var.shape, seed=[7919 * position[block] + n, 0], alg="philox").numpy()
                grads = np.stack([ref[(block, t)][n] for t in tasks])
                expected[var.path] = reference(grads, u, None, leak[[index[t] for t in tasks]])
    grads, logs, weights = checks.run_step(model, x, y, sw)
    assert weights == {} and logs == {}  # nonlinear: no weights
    for path, value in expected.items():
        np.testing.assert_allclose(grads[path], value, rtol=1e-5, atol=1e-6, err_msg=path)
    for t, own in groups.own.items():  # heads: their task's gradient
        assert all(np.isfinite(grads[v.path]).all() for v in own)


def test_graddrop_state_survives_keras_files(tmp_path):
    checks.assert_keras_round_trip(checks.tree_model(balancers.get("graddrop", leak={"b": 0.5})), tmp_path)


def test_graddrop_rejects_bad_leaks():
    with pytest.raises(ValueError, match="leak must be"):
        balancers.get("graddrop", leak=1.5)
    with pytest.raises(ValueError, match="unknown tasks"):
        checks.tree_model(balancers.get("graddrop", leak={"z": 0.5}))


def test_graddrop_fit_lowers_the_loss(tmp_path):
    checks.assert_fit_lowers_the_loss_and_resumes(lambda: balancers.get("graddrop"), tmp_path,
                                                  moved=lambda s: s["steps"] == 20)


def test_graddrop_under_a_loss_scale_returns_scaled_gradients():  # mixed precision
    checks.assert_loss_scale_invariant(lambda: balancers.get("graddrop"))


@pytest.mark.slow
def test_graddrop_under_mirrored_strategy_matches_one_device(tmp_path):
    checks.assert_mirrored_matches_one_device(tmp_path, ["graddrop+latent", "graddrop+parameters"],
                                              moved=lambda s: s["steps"] == 6)
