"""``gradvac`` (Wang et al. 2021): the Gram-only coefficients against the vector algorithm (NumPy float64,
same visiting orders), the targets reached, the EMA, the tree, saving, training."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from mtlzoo.training import balancers
from mtlzoo.training.balancers.gradvac import CANCELLED, MAX_TARGET, gradvac_coefficients, visiting_orders

_spec = importlib.util.spec_from_file_location("gramian_method_checks",
                                               Path(__file__).with_name("gramian_method_checks.py"))
checks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(checks)


def orders(t: int, seed) -> np.ndarray:
    """The visiting orders the balancer draws for ``seed`` (row i: task i's order)."""
    return visiting_orders(t, tf.constant(seed)).numpy()


def vaccine(j: np.ndarray, targets: np.ndarray, order: np.ndarray, beta: float = 0.01):
    """Alg. 1 on the vectors: ``(modified gradients, new targets, reached)``; ``reached`` lists the
    cosine after each correction next to its target."""
    targets = np.asarray(targets, np.float64)
    new, modified, reached = targets.copy(), [], []
    for i in range(len(j)):
        g = j[i].copy()
        for s in order[i]:
            if np.linalg.norm(g) <= CANCELLED * np.linalg.norm(j[i]):
                g = 0.0 * g  # cancelled by an opposite gradient: exactly 0
            if s == i or np.linalg.norm(g) == 0 or np.linalg.norm(j[s]) == 0:
                continue
            phi = np.clip(g @ j[s] / (np.linalg.norm(g) * np.linalg.norm(j[s])), -1.0, 1.0)
            target = min(targets[i, s], MAX_TARGET)
            if phi < target:
                g = g + np.linalg.norm(g) * (target * np.sqrt(1 - phi ** 2) - phi * np.sqrt(1 - target ** 2)) / (
                    np.linalg.norm(j[s]) * np.sqrt(1 - target ** 2)) * j[s]
                if np.linalg.norm(g) > CANCELLED * np.linalg.norm(j[i]):
                    reached.append((g @ j[s] / (np.linalg.norm(g) * np.linalg.norm(j[s])), target))
            new[i, s] = (1 - beta) * targets[i, s] + beta * phi
        modified.append(0.0 * g if np.linalg.norm(g) <= CANCELLED * np.linalg.norm(j[i]) else g)
    return np.stack(modified), new, reached


def test_gradvac_matches_the_vector_algorithm_and_reaches_the_targets():
    rng = np.random.default_rng(6)
    corrections = 0
    for k, j in enumerate(checks.jacobians(seed=6, count=110)):
        t = len(j)
        targets = rng.uniform(-0.6, 0.9, size=(t, t)) if k % 3 else np.zeros((t, t))  # 0: PCGrad's step
        order = orders(t, [k, 3])
        assert (np.sort(order, axis=1) == np.arange(t)).all()  # permutations
        coeffs, phi, measured = gradvac_coefficients(checks.gram32(j), tf.constant(targets, tf.float32), order)
        modified, new, reached = vaccine(j, targets, order)
        scale = np.linalg.norm(modified, axis=1).max()
        np.testing.assert_allclose(coeffs.numpy() @ j, modified, atol=2e-4 * scale, err_msg=str(k))
        ema = np.where(measured.numpy(), 0.99 * targets + 0.01 * phi.numpy(), targets)
        np.testing.assert_allclose(ema, new, atol=1e-5, err_msg=str(k))
        for cosine, target in reached:  # defining property: each correction reaches its target
            assert cosine == pytest.approx(target, abs=1e-9)
        corrections += len(reached)
    assert corrections > 200, corrections


def test_gradvac_reaches_the_target_in_float32_for_two_tasks():
    rng = np.random.default_rng(7)
    hit = 0
    for _ in range(100):
        j = rng.normal(size=(2, 5))
        target = rng.uniform(-0.5, 0.9)
        coeffs, _, _ = gradvac_coefficients(checks.gram32(j), tf.fill((2, 2), target), [[0, 1], [1, 0]])
        g = coeffs.numpy() @ j
        for i in range(2):
            before = j[i] @ j[1 - i] / np.prod(np.linalg.norm(j, axis=1))
            after = g[i] @ j[1 - i] / (np.linalg.norm(g[i]) * np.linalg.norm(j[1 - i]))
            if before < target:
                assert after == pytest.approx(target, abs=1e-4)
                hit += 1
            else:
                np.testing.assert_allclose(g[i], j[i], rtol=1e-6)
    assert hit > 50


def test_gradvac_is_guarded_and_compiles_with_xla():
    j = np.random.default_rng(8).normal(size=(4, 6))
    j[1] = 0.0  # an absent task: neither corrected nor measured
    gram = checks.gram32(j)
    targets = tf.fill((4, 4), 0.3)
    order = orders(4, [0, 1])
    eager = [x.numpy() for x in gradvac_coefficients(gram, targets, order)]
    assert not eager[2][1].any() and not eager[2][:, 1].any()
    for jit in (False, True):
        out = tf.function(gradvac_coefficients, jit_compile=jit)(gram, targets, tf.constant(order))
        for a, b in zip(out, eager):
            np.testing.assert_allclose(a.numpy(), b, rtol=1e-5, atol=1e-6)
    bad = gram.numpy().copy()
    bad[0, 2] = bad[2, 0] = np.nan
    coeffs, phi, _ = gradvac_coefficients(tf.constant(bad), targets, order)
    assert np.isfinite(coeffs.numpy()).all() and np.isfinite(phi.numpy()).all()


@pytest.mark.parametrize("space", ["parameters", "latent"])
def test_gradvac_on_the_tree_is_the_tape_gradient_of_its_weighted_losses(space):
    rng = np.random.default_rng(9)
    start = rng.uniform(-0.3, 0.6, size=(3, 3, 3)).astype("float32")
    position = {"root": 0, "trunk": 1, "branch": 2}
    index = {"root": [0, 1, 2], "trunk": [0, 1, 2], "branch": [0, 1]}  # O(i) in the balancer's task order
    expected_targets = start.copy()

    def reference(j, block):
        sub = start[position[block]][np.ix_(index[block], index[block])]
        modified, new, _ = vaccine(j, sub, orders(len(j), [position[block], 0]))
        expected_targets[position[block]][np.ix_(index[block], index[block])] = new
        return _weights(j, modified)

    model, _ = checks.assert_linear_method_on_tree(balancers.get("gradvac", space=space), reference,
                                                   prepare=lambda m: m.balancer.targets.assign(start), rtol=2e-4)
    np.testing.assert_allclose(model.balancer.targets.numpy(), expected_targets, atol=1e-5)
    assert model.balancer.steps.numpy() == 1


def _weights(j: np.ndarray, modified: np.ndarray) -> np.ndarray:
    """The coefficients beta with beta @ j = sum of the modified rows (each modified row is g_i plus
    multiples of the other rows, so beta is found row by row from the vectors' least squares)."""
    beta = np.zeros(len(j))
    for i, g in enumerate(modified):
        others = [s for s in range(len(j)) if s != i and np.linalg.norm(j[s]) > 0]
        c = np.linalg.lstsq(j[others].T, g - j[i], rcond=None)[0] if others else []
        beta[i] += 1.0
        beta[others] += c
    return beta


def test_gradvac_targets_survive_keras_files(tmp_path):
    checks.assert_keras_round_trip(checks.tree_model(balancers.get("gradvac", beta=0.5)), tmp_path)


def test_gradvac_fit_lowers_the_loss_and_resumes_with_its_targets(tmp_path):
    checks.assert_fit_lowers_the_loss_and_resumes(lambda: balancers.get("gradvac", beta=0.5), tmp_path,
                                                  moved=lambda s: np.abs(s["targets"]).max() > 1e-3)


def test_gradvac_rejects_a_bad_beta():
    with pytest.raises(ValueError, match="beta must be in"):
        balancers.get("gradvac", beta=0.0)


@pytest.mark.slow
def test_gradvac_under_mirrored_strategy_matches_one_device(tmp_path):
    checks.assert_mirrored_matches_one_device(tmp_path, ["gradvac+parameters", "gradvac+latent"],
                                              moved=lambda s: np.abs(s["targets"]).max() > 1e-4)
