"""``moco`` (Fernando et al. 2023): the tracking recursion and the weights' projected steps against NumPy
over several steps on the explicit parameter gradients of the tree, parameter space only, saving, training."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from mtlzoo.training import balancers

_spec = importlib.util.spec_from_file_location("gramian_method_checks",
                                               Path(__file__).with_name("gramian_method_checks.py"))
checks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(checks)


def simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto the simplex by bisection on the threshold (float64)."""
    lo, hi = v.min() - 1.0, v.max()
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if np.maximum(v - mid, 0).sum() > 1 else (lo, mid)
    return np.maximum(v - 0.5 * (lo + hi), 0)


@pytest.mark.parametrize("options", [{}, {"rho": 0.3, "normalize": True, "gamma": 0.5, "beta_decay": 0.0}])
def test_moco_tracks_gradients_like_numpy_over_several_steps(options):
    settings = {"beta": 0.5, "beta_decay": 0.5, "gamma": 0.1, "gamma_decay": 0.5, "rho": 0.0, "normalize": False,
                **options}
    model = checks.tree_model(balancers.get("moco", **options))
    run_step = checks.step_function(model)
    groups = checks.VariableGroups.of(model)
    tracked = {b: np.zeros((len(ts), sum(int(np.prod(v.shape)) for v in vs))) for b, ts, vs in groups.shared}
    lam = {b: np.full(len(ts), 1 / len(ts)) for b, ts, _ in groups.shared}
    for k in range(1, 5):
        x, y, sw = checks.batch(model, seed=20 + k, absent="c" if k == 3 else None)
        jac = checks.block_jacobians(model, x, y, sw, "parameters")
        losses = checks.task_losses(model, x, y, sw)
        beta = settings["beta"] / k ** settings["beta_decay"]
        gamma = settings["gamma"] / k ** settings["gamma_decay"]
        grads, logs, weights = run_step(x, y, sw)
        assert weights == {}  # nonlinear in the tracked state: no linear weights for the line search
        for block, tasks, variables in groups.shared:
            h = jac[block]
            if settings["normalize"]:
                norms = np.linalg.norm(h, axis=1, keepdims=True)
                values = np.array([[float(losses[t])] for t in tasks])
                h = np.divide(h * values, norms, out=np.zeros_like(h), where=norms > 0)
            tracked[block] = tracked[block] - beta * (tracked[block] - h)
            yy = tracked[block] @ tracked[block].T
            lam[block] = simplex(lam[block] - gamma * (yy + settings["rho"] * np.eye(len(tasks))) @ lam[block])
            position = model.tree.shared_blocks.index(block)
            state = np.concatenate([model.balancer.tracked[block][n].numpy().reshape(len(tasks), -1)
                                    for n in range(len(variables))], axis=1)
            np.testing.assert_allclose(state, tracked[block], rtol=1e-5, atol=1e-6, err_msg=f"{k} {block}")
            np.testing.assert_allclose(model.balancer.lambdas[block].numpy(), lam[block], atol=1e-5,
                                       err_msg=f"{k} {block}")
            assert model.balancer.lambdas[block].path.endswith(f"lambda_{position}")
            applied = np.concatenate([grads[v.path].ravel() for v in variables])
            np.testing.assert_allclose(applied, tracked[block].T @ lam[block], rtol=1e-4, atol=1e-6,
                                       err_msg=f"{k} {block}")
        for k_task, t in enumerate(model.tasks):
            assert logs[f"weight_{t}"] == pytest.approx(lam["root"][k_task], abs=1e-6)
    assert model.balancer.steps.numpy() == 4


def test_moco_is_parameter_space_only():
    with pytest.raises(ValueError, match="space='latent' is not defined for this method; use space='parameters'"):
        balancers.get("moco", space="latent")
    assert "Parameter space only" in balancers.get("moco").__doc__


def test_moco_step_compiles_with_xla_and_stays_finite():
    model = checks.tree_model(balancers.get("moco"))
    x, y, sw = checks.batch(model, absent="b")
    plain = checks.tree_model(balancers.get("moco"))
    expected, _, _ = checks.run_step(plain, x, y, sw)
    grads, logs, _ = checks.run_step(model, x, y, sw, jit=True)
    for path, value in expected.items():
        np.testing.assert_allclose(grads[path], value, rtol=1e-5, atol=1e-6, err_msg=path)
    assert all(np.isfinite(v).all() for v in logs.values())


def test_moco_state_survives_keras_files(tmp_path):
    checks.assert_keras_round_trip(checks.tree_model(balancers.get("moco", rho=0.1)), tmp_path)


def test_moco_rejects_bad_step_sizes():
    with pytest.raises(ValueError, match="need 0 < beta <= 1"):
        balancers.get("moco", beta=2.0)


def test_moco_fit_lowers_the_loss_and_resumes_with_its_tracked_gradients(tmp_path):
    checks.assert_fit_lowers_the_loss_and_resumes(
        lambda: balancers.get("moco"), tmp_path,
        moved=lambda s: s["steps"] == 20 and max(np.abs(v).max() for k, v in s.items() if "tracked" in k) > 1e-4)


def test_moco_under_a_loss_scale_returns_scaled_gradients():  # mixed precision
    checks.assert_loss_scale_invariant(lambda: balancers.get("moco"))


@pytest.mark.slow
def test_moco_under_mirrored_strategy_matches_one_device(tmp_path):
    checks.assert_mirrored_matches_one_device(tmp_path, ["moco"],
                                              moved=lambda s: s["steps"] == 6 and np.abs(s["tracked_0_0"]).max() > 1e-4)
