"""``aligned_mtl`` (Senushkin et al. 2023): the balance transformation against an SVD of the explicit
gradient vectors, the aligned gradients' equal singular values, the tree, saving, training."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from mtlzoo.training import balancers
from mtlzoo.training.balancers.aligned_mtl import aligned_mtl_weights, balance_transformation
from mtlzoo.training.balancers.gram_spectrum import RTOL

_spec = importlib.util.spec_from_file_location("gramian_method_checks",
                                               Path(__file__).with_name("gramian_method_checks.py"))
checks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(checks)


def reference(j: np.ndarray, scale: str = "min") -> np.ndarray:
    """B 1 from the SVD J = P S Q^T of the gradient vectors: B = sigma P_r S_r^-1 P_r^T (float64)."""
    p, s, _ = np.linalg.svd(j, full_matrices=False)
    keep = s ** 2 > RTOL * len(j) * s[0] ** 2
    if not keep.any():
        return np.ones(len(j))
    kept = np.sort(s[keep] ** 2)
    sigma2 = {"min": kept[0], "median": kept[(len(kept) - 1) // 2], "rmse": kept.mean()}[scale]
    b = np.sqrt(sigma2) * (p[:, keep] / s[keep]) @ p[:, keep].T
    return b.sum(axis=1)


def test_aligned_mtl_matches_an_svd_of_the_gradients_and_equalizes_the_singular_values():
    count = 0
    for k, j in enumerate(checks.jacobians(seed=2, count=120)):
        scale = ("min", "median", "rmse")[k % 3] if k % 4 == 0 else "min"
        expected = reference(j, scale)
        w = aligned_mtl_weights(checks.gram32(j), scale).numpy().astype(np.float64)
        size = np.linalg.norm(j.T @ expected)
        np.testing.assert_allclose(j.T @ w, j.T @ expected, atol=1e-3 * size, err_msg=f"{k}: {scale}")
        b = balance_transformation(checks.gram32(j), scale).numpy()
        singular = np.linalg.svd(b @ j, compute_uv=False)  # the aligned gradients (rows of B J)
        rank = np.linalg.matrix_rank(j, tol=1e-6 * singular.max() if singular.max() > 0 else None)
        top = singular[:rank]
        np.testing.assert_allclose(top, top.mean(), rtol=2e-3, err_msg=f"{k}: condition number 1")
        assert (singular[rank:] <= 1e-3 * top.mean()).all()
        if scale == "min":  # scaled by the smallest singular value of J
            s = np.linalg.svd(j, compute_uv=False)
            np.testing.assert_allclose(top.mean(), s[rank - 1], rtol=2e-3)
        count += 1
    assert count >= 100


def test_aligned_mtl_is_guarded_and_compiles_with_xla():
    j = np.random.default_rng(3).normal(size=(5, 9))
    gram = checks.gram32(j)
    eager = aligned_mtl_weights(gram).numpy()
    for jit in (False, True):
        np.testing.assert_allclose(tf.function(aligned_mtl_weights, jit_compile=jit)(gram).numpy(), eager,
                                   rtol=1e-4)
    assert (aligned_mtl_weights(tf.zeros((3, 3))).numpy() == 1).all()
    bad = gram.numpy().copy()
    bad[0, 0] = np.inf
    w = aligned_mtl_weights(tf.constant(bad)).numpy()
    assert np.isfinite(w).all() and w[0] == 0


@pytest.mark.parametrize("space", ["latent", "parameters"])
def test_aligned_mtl_on_the_tree_is_the_tape_gradient_of_its_weighted_losses(space):
    checks.assert_linear_method_on_tree(balancers.get("aligned_mtl", space=space), lambda j, block: reference(j))


def test_aligned_mtl_config_survives_keras_files(tmp_path):
    checks.assert_keras_round_trip(checks.tree_model(balancers.get("aligned_mtl", scale="median")), tmp_path)


def test_aligned_mtl_rejects_unknown_scales():
    with pytest.raises(ValueError, match="scale must be one of"):
        balancers.get("aligned_mtl", scale="max")


def test_aligned_mtl_fit_lowers_the_loss(tmp_path):
    checks.assert_fit_lowers_the_loss_and_resumes(lambda: balancers.get("aligned_mtl"), tmp_path)


@pytest.mark.slow
def test_aligned_mtl_under_mirrored_strategy_matches_one_device(tmp_path):
    checks.assert_mirrored_matches_one_device(tmp_path, ["aligned_mtl+latent", "aligned_mtl+parameters"])
