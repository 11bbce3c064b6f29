"""``config`` (Liu et al. 2024): ConFIG against the paper's equation on the explicit gradient vectors (NumPy
pseudo-inverse), its equal-cosine property, the tree, saving, training."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from mtlzoo.training import balancers
from mtlzoo.training.balancers.config import config_weights

_spec = importlib.util.spec_from_file_location("gramian_method_checks",
                                               Path(__file__).with_name("gramian_method_checks.py"))
checks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(checks)


def config_direction(j: np.ndarray) -> np.ndarray:
    """Eq. 2: g_u = U^+ 1 (U: unit gradients as rows), v = g_u / ||g_u||, update (sum_i g_i . v) v."""
    g_u = checks.pinv(checks.unit_rows(j)) @ np.ones(len(j))
    v = g_u / np.linalg.norm(g_u)
    return (j @ v).sum() * v


def reference_weights(j: np.ndarray) -> np.ndarray:
    """The same update's coefficients on the raw gradients: (c / ||g||) (sum_i g_i . g_u) / ||g_u||^2 with
    c = (U^+)^T U^+ 1, from the vectors."""
    norms = np.linalg.norm(j, axis=1)
    up = checks.pinv(checks.unit_rows(j))
    c = up.T @ up @ np.ones(len(j))
    beta = np.divide(c, norms, out=np.zeros_like(c), where=norms > 0)
    g_u = j.T @ beta
    return beta * (j @ g_u).sum() / (g_u @ g_u)


def test_config_matches_the_papers_direction_and_has_equal_cosines():
    compared = full = 0
    for k, j in enumerate(checks.jacobians(seed=4, count=130)):
        w = config_weights(checks.gram32(j)).numpy().astype(np.float64)
        assert np.isfinite(w).all()
        if np.linalg.norm(checks.pinv(checks.unit_rows(j)) @ np.ones(len(j))) < 1e-6:
            continue  # e.g. two opposite gradients: U^+ 1 = 0 and the paper's v is undefined
        expected = config_direction(j)
        np.testing.assert_allclose(j.T @ w, expected, atol=1e-3 * np.linalg.norm(expected), err_msg=str(k))
        ref = reference_weights(j)
        np.testing.assert_allclose(w, ref, atol=1e-3 * np.abs(ref).max(), err_msg=str(k))
        compared += 1
        if checks.full_rank(j):  # defining property: the same positive cosine with every task gradient
            d = j.T @ w
            cosines = checks.unit_rows(j) @ d / np.linalg.norm(d)
            np.testing.assert_allclose(cosines, cosines.mean(), rtol=1e-3, err_msg=str(k))
            assert cosines.mean() > 0
            full += 1
    assert compared >= 100 and full >= 40, (compared, full)


def test_config_is_guarded_and_compiles_with_xla():
    j = np.random.default_rng(5).normal(size=(4, 6))
    j[2] = j[0]  # a duplicate: singular G
    gram = checks.gram32(j)
    eager = config_weights(gram).numpy()
    assert eager[0] == pytest.approx(eager[2], rel=1e-4)  # duplicates share their weight
    for jit in (False, True):
        np.testing.assert_allclose(tf.function(config_weights, jit_compile=jit)(gram).numpy(), eager, rtol=1e-4)
    assert (config_weights(tf.zeros((3, 3))).numpy() == pytest.approx(1 / 3))
    bad = gram.numpy().copy()
    bad[3, 3] = np.nan
    w = config_weights(tf.constant(bad)).numpy()
    assert np.isfinite(w).all() and w[3] == 0


@pytest.mark.parametrize("space", ["parameters", "latent"])
def test_config_on_the_tree_is_the_tape_gradient_of_its_weighted_losses(space):
    _, weights = checks.assert_linear_method_on_tree(balancers.get("config", space=space),
                                                     lambda j, block: reference_weights(j))
    assert weights["root"][2] == 0  # task c is absent from the batch


def test_config_config_survives_keras_files(tmp_path):
    checks.assert_keras_round_trip(checks.tree_model(balancers.get("config", space="latent")), tmp_path)


def test_config_fit_lowers_the_loss(tmp_path):
    checks.assert_fit_lowers_the_loss_and_resumes(lambda: balancers.get("config"), tmp_path)


@pytest.mark.slow
def test_config_under_mirrored_strategy_matches_one_device(tmp_path):
    checks.assert_mirrored_matches_one_device(tmp_path, ["config+parameters", "config+latent"])
