"""UPGrad, DualProj, CAGrad, Nash-MTL and FairGrad weights against independent float64 references.

Every method is checked on >= 100 random Gram matrices G = J J^T (T = 2..10, full rank, rank
deficient, duplicate and collinear rows, spread scales) against a reference written here (SciPy's
``nnls``, SLSQP on CAGrad's primal problem, a NumPy damped Newton iteration) and against its
defining property.
"""

from __future__ import annotations

import doctest
import functools
import importlib

import numpy as np
import pytest
import tensorflow as tf
from scipy.optimize import minimize, nnls

from mtlzoo.training import balancers
from mtlzoo.training.balancers.nash_mtl import nash_weights
from mtlzoo.training.solvers.alpha_fair import alpha_fair
from mtlzoo.training.solvers.conflict_averse import conflict_averse
from mtlzoo.training.solvers.dual_cone import dual_cone_weights
from mtlzoo.training.solvers.nonnegative_qp import nonnegative_qp

CASES = 108


def jacobians(count=CASES, seed=0):
    """Random task Jacobians J (T x n): T = 2..10, and by blocks of 9 cases in turn full rank, rank
    deficient (n = T // 2), with a duplicate and an opposite collinear row, or with row norms spread
    over 4 decades."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        t, kind = 2 + k % 9, (k // 9) % 4
        n = {0: t + 3, 1: max(1, t // 2), 2: t + 1, 3: t + 2}[kind]
        j = rng.normal(size=(t, n))
        if kind == 2:
            j[1] = j[0]
            if t > 2:
                j[2] = -0.5 * j[0]
        if kind == 3:
            j *= 10.0 ** rng.uniform(-2, 2, size=(t, 1))
        out.append(j)
    return out


def upgrad_solver(gram, reg_eps=1e-4):
    size = tf.shape(gram)[0]
    return tf.reduce_sum(dual_cone_weights(gram, tf.eye(size, dtype=tf.float64) / tf.cast(size, tf.float64),
                                           reg_eps), 0)


def dualproj_solver(gram, reg_eps=1e-4):
    size = tf.shape(gram)[0]
    return dual_cone_weights(gram, tf.ones((size,), tf.float64) / tf.cast(size, tf.float64), reg_eps)


SOLVERS = {"upgrad": (upgrad_solver, {}), "dualproj": (dualproj_solver, {}),
           "cagrad": (conflict_averse, {"c": 0.5, "dtype": tf.float64}),
           "cagrad_c0": (conflict_averse, {"c": 0.0, "dtype": tf.float64}),
           "nash_mtl": (nash_weights, {}), "fairgrad_0.5": (alpha_fair, {"alpha": 0.5, "dtype": tf.float64}),
           "fairgrad_2": (alpha_fair, {"alpha": 2.0, "dtype": tf.float64}),
           "fairgrad_5": (alpha_fair, {"alpha": 5.0, "dtype": tf.float64})}


@functools.lru_cache(maxsize=None)
def traced(name):
    """The solver ``name`` as one ``tf.function`` for every T (they take a dynamic T), traced once
    per test session; float64 in, float64 out."""
    fn, options = SOLVERS[name]
    return tf.function(lambda g: tf.cast(fn(g, **options), tf.float64),
                       input_signature=[tf.TensorSpec([None, None], tf.float64)])


def weights_of(name, gram) -> np.ndarray:
    return traced(name)(tf.constant(np.asarray(gram, np.float64))).numpy()


# ------------------------------------------------------------------ references
def nnls_projection(gram_hat, u):
    """argmin_{v >= u} v^T G v via SciPy's NNLS on the Cholesky factor: v = u + x, x >= 0."""
    r = np.linalg.cholesky(gram_hat).T
    x, _ = nnls(r, -r @ u, maxiter=50 * len(u))
    return u + x


def regularized(gram, reg):
    return gram / np.trace(gram) + reg * np.eye(len(gram))


def upgrad_reference(gram, reg=1e-4):
    t = len(gram)
    g = regularized(gram, reg)
    return sum(nnls_projection(g, np.eye(t)[k] / t) for k in range(t))


def dualproj_reference(gram, reg=1e-4):
    return nnls_projection(regularized(gram, reg), np.full(len(gram), 1.0 / len(gram)))


def cagrad_reference(jac, c):
    """CAGrad's primal problem in R^n with SciPy SLSQP: max_d min_t g_t . d s.t. ||d - g0|| <= c ||g0||
    (as max s s.t. J d >= s, a smooth problem), from d = g0."""
    g0 = jac.mean(0)
    radius = c * np.linalg.norm(g0)
    scale = np.abs(jac @ g0).max()
    worst = np.hstack([jac, -np.ones((len(jac), 1))]) / scale
    ball = {"type": "ineq", "fun": lambda z: (radius ** 2 - np.sum((z[:-1] - g0) ** 2)) / radius ** 2,
            "jac": lambda z: np.append(-2 * (z[:-1] - g0), 0.0) / radius ** 2}
    res = minimize(lambda z: -z[-1] / scale, np.append(g0, (jac @ g0).min()), method="SLSQP",
                   jac=lambda z: np.append(np.zeros(len(g0)), -1.0 / scale),
                   constraints=[{"type": "ineq", "fun": lambda z: worst @ z, "jac": lambda z: worst}, ball],
                   options={"ftol": 1e-15, "maxiter": 3000})
    d = res.x[:-1]  # SLSQP ends up to its tolerance outside the ball: pull it back in
    return g0 + (d - g0) * min(1.0, radius / np.linalg.norm(d - g0))


def fair_reference(gram_hat, alpha, iters=300):
    """w > 0 with G w = w^(-1/alpha): damped Newton in NumPy on the convex potential
    1/2 w^T G w - sum_t h(w_t), h' = w^(-1/alpha), halving the step until it stays positive and
    decreases the potential enough (Armijo), from w_t = G_tt^(-alpha/(alpha+1))."""
    p = 1.0 / alpha

    def potential(w):
        h = np.log(w) if alpha == 1 else w ** (1 - p) / (1 - p)
        return 0.5 * w @ gram_hat @ w - h.sum()

    w = np.diag(gram_hat) ** (-alpha / (alpha + 1.0))  # exact for orthogonal gradients
    for _ in range(iters):
        gradient = gram_hat @ w - w ** -p
        if (np.abs(gradient) <= 1e-12 * (np.abs(gram_hat) @ w + w ** -p)).all():  # residual at rounding level
            break
        step = -np.linalg.solve(gram_hat + p * np.diag(w ** (-p - 1)), gradient)
        decrement, now = -gradient @ step, potential(w)
        size = 1.0
        while size > 1e-10 and ((w + size * step <= 0).any()
                                or potential(w + size * step) > now - 0.25 * size * decrement):
            size /= 2
        if size <= 1e-10:
            break
        w = w + size * step
    return w


# ------------------------------------------------------------------ the QP helper
def test_nonnegative_qp_is_exact_on_random_problems():
    rng = np.random.default_rng(1)
    solve = tf.function(nonnegative_qp, input_signature=[tf.TensorSpec([None, None], tf.float64)] * 2)
    for k in range(60):
        t = 2 + k % 9
        j = rng.normal(size=(t, max(1, t - k % 3)))
        q_mat = j @ j.T + 1e-3 * np.eye(t)
        linear = rng.normal(size=(3, t))
        x = solve(tf.constant(q_mat), tf.constant(linear)).numpy()
        r = np.linalg.cholesky(q_mat).T
        for b in range(3):  # 1/2 x^T Q x + q^T x = 1/2 ||R x + R^-T q||^2 + const
            expected, _ = nnls(r, -np.linalg.solve(r.T, linear[b]), maxiter=1000)
            np.testing.assert_allclose(x[b], expected, atol=1e-9, err_msg=f"case {k}")
        assert (x >= 0).all()


# ------------------------------------------------------------------ UPGrad, DualProj
@pytest.mark.parametrize("name", ["upgrad", "dualproj"])
def test_dual_cone_methods_match_nnls_and_conflict_with_no_task(name):
    reference = upgrad_reference if name == "upgrad" else dualproj_reference
    for k, jac in enumerate(jacobians()):
        gram = jac @ jac.T
        w = weights_of(name, gram)
        expected = reference(gram)
        np.testing.assert_allclose(w, expected, rtol=2e-4, atol=2e-5 * np.abs(expected).max(), err_msg=f"case {k}")
        # the defining property: the update g_w has g_t . g_w >= 0 for every task (up to the ridge)
        inner = (jac @ (jac.T @ w)) / np.trace(gram)
        assert (inner >= -1e-4 * np.abs(w) - 1e-6).all(), (k, inner)
        mean, g_hat = np.full(len(gram), 1.0 / len(gram)), regularized(gram, 1e-4)
        if (g_hat @ mean >= 0).all() if name == "dualproj" else (g_hat >= 0).all():
            np.testing.assert_allclose(w, mean, rtol=1e-5, err_msg=f"case {k}")  # no conflict: the mean


def test_upgrad_averages_the_projections_onto_the_dual_cone():
    """Without the ridge, J^T w is the mean of argmin_{J d >= 0} ||d - g_t||^2 (primal, in R^n)."""
    rng = np.random.default_rng(2)
    for k in range(12):
        t = 2 + k % 4
        jac = rng.normal(size=(t, t + 2))
        jac[1] -= 1.5 * jac[0]  # make some conflict
        w = dual_cone_weights(tf.constant(jac @ jac.T), np.eye(t) / t, reg_eps=0.0).numpy().sum(0)
        projections = []
        for g in jac:
            res = minimize(lambda d: np.sum((d - g) ** 2), g, jac=lambda d: 2 * (d - g), method="SLSQP",
                           constraints=[{"type": "ineq", "fun": lambda d: jac @ d, "jac": lambda d: jac}],
                           options={"ftol": 1e-14, "maxiter": 500})
            projections.append(res.x)
        np.testing.assert_allclose(jac.T @ w, np.mean(projections, 0), atol=1e-5)


# ------------------------------------------------------------------ CAGrad
def test_cagrad_matches_slsqp_and_maximizes_the_worst_improvement_in_the_ball():
    conventions = 0
    for k, jac in enumerate(jacobians()):
        v = weights_of("cagrad", jac @ jac.T)
        d, expected = jac.T @ v, cagrad_reference(jac, 0.5)
        g0 = jac.mean(0)
        radius = 0.5 * np.linalg.norm(g0)
        if (jac @ expected).min() >= -1e-9 * np.abs(jac @ g0).max() and np.allclose(v, 1.0 / len(v), rtol=1e-12):
            # the optimum of the dual is at g_w = 0 (0 in the hull, worst improvement 0): the
            # authors' d = g0 + c ||g0|| g_w / (||g_w|| + 1e-8) is then the mean, not a primal optimum
            conventions += 1
            continue
        assert np.linalg.norm(d - g0) <= radius * (1 + 1e-6), k  # d is in the ball
        # the worst task's improvement is at least the reference's (d maximizes it over the ball)
        assert (jac @ d).min() >= (jac @ expected).min() - 1e-7 * np.abs(jac @ g0).max(), k
        np.testing.assert_allclose(d, expected, atol=1e-4 * np.linalg.norm(expected), err_msg=f"case {k}")
    assert conventions <= CASES // 10, conventions


def test_cagrad_closed_form_for_two_tasks_matches_the_barrier_method():
    """A static T = 2 takes the closed form; it agrees with the barrier method (dynamic T) and SLSQP."""
    two = tf.function(lambda g: conflict_averse(g, c=0.5, dtype=tf.float64),
                      input_signature=[tf.TensorSpec([2, 2], tf.float64)])
    rng = np.random.default_rng(9)
    for k in range(60):
        jac = rng.normal(size=(2, 1 + k % 4)) * 10.0 ** rng.uniform(-2, 2, size=(2, 1))
        if k % 6 == 0:
            jac[1] = jac[0] * (-2.0, -1.0, 0.5, 1.0, 3.0, 0.0)[(k // 6) % 6]
        gram = jac @ jac.T
        closed, barrier = two(tf.constant(gram)).numpy(), weights_of("cagrad", gram)
        np.testing.assert_allclose(jac.T @ closed, jac.T @ barrier, rtol=1e-6, atol=1e-9 * np.abs(jac).max(),
                                   err_msg=f"case {k}")
        if not np.allclose(closed, 0.5, rtol=1e-12):  # away from the g_w = 0 convention
            np.testing.assert_allclose(jac.T @ closed, cagrad_reference(jac, 0.5), rtol=1e-4,
                                       atol=1e-6 * np.abs(jac).max(), err_msg=f"case {k}")


def test_cagrad_with_c_zero_is_the_mean_and_rescale_divides():
    for jac in jacobians(27, seed=5):
        np.testing.assert_allclose(weights_of("cagrad_c0", jac @ jac.T), np.full(len(jac), 1 / len(jac)), atol=1e-7)
    jac = jacobians(3, seed=4)[2]
    gram = tf.constant(jac @ jac.T, tf.float32)
    problem = balancers.BlockProblem("b", 0, ("a", "b", "c", "d"), (0, 1, 2, 3), gram, tf.ones(4), None, "latent")
    np.testing.assert_allclose(balancers.get("cagrad", c=0.0).weigh(problem), [0.25] * 4, atol=1e-7)
    rescaled = tf.function(lambda: [balancers.get("cagrad", rescale=r).weigh(problem) for r in (0, 1, 2)])()
    raw = weights_of("cagrad", jac @ jac.T)
    for weights, divisor in zip(rescaled, (1.0, 1.25, 1.5)):
        np.testing.assert_allclose(weights, raw / divisor, rtol=1e-5)


# ------------------------------------------------------------------ Nash-MTL, FairGrad
def test_nash_mtl_solves_the_bargaining_equation():
    for k, jac in enumerate(jacobians()):
        gram = jac @ jac.T
        alpha = weights_of("nash_mtl", gram)
        normalized = gram / np.linalg.norm(gram)
        g_hat = normalized + 1e-8 * normalized.diagonal().max() * np.eye(len(gram))
        expected = fair_reference(g_hat, 1.0)
        np.testing.assert_allclose(alpha, expected, rtol=1e-4, err_msg=f"case {k}")
        if np.linalg.matrix_rank(jac) == len(jac):  # G alpha = 1 / alpha (with the ridge)
            np.testing.assert_allclose(g_hat @ alpha, 1.0 / alpha, rtol=1e-3, err_msg=f"case {k}")


def test_fairgrad_solves_its_alpha_fair_equation():
    for k, jac in enumerate(jacobians(seed=6)):
        alpha = (0.5, 2.0, 5.0)[k % 3]
        gram = jac @ jac.T
        w = weights_of(f"fairgrad_{alpha:g}", gram)
        g_hat = gram + 1e-8 * gram.diagonal().max() * np.eye(len(gram))
        np.testing.assert_allclose(w, fair_reference(g_hat, alpha), rtol=2e-4, err_msg=f"case {k}")
        if np.linalg.matrix_rank(jac) == len(jac):  # G w = w^(-1/alpha) (with the ridge)
            np.testing.assert_allclose(g_hat @ w, w ** (-1 / alpha), rtol=2e-3, err_msg=f"case {k}")
    # not scale-free: G -> s G gives w -> s^(-alpha / (alpha + 1)) w
    gram = jacobians(1, seed=7)[0] @ jacobians(1, seed=7)[0].T
    np.testing.assert_allclose(weights_of("fairgrad_2", 1e-6 * gram), weights_of("fairgrad_2", gram) * 1e4, rtol=1e-5)


# ------------------------------------------------------------------ guards, XLA
def degenerate_grams():
    g = np.array([[4.0, 2.0, 0.0], [2.0, 3.0, 0.0], [0.0, 0.0, 0.0]])  # task 3 absent (zero row)
    nan = g.copy()
    nan[1, :] = nan[:, 1] = np.nan  # task 2's gradient is not finite
    opposite = np.array([[1.0, -1.0], [-1.0, 1.0]])  # g_1 = -g_2
    same = np.ones((3, 3))  # one gradient three times
    return {"zero_row": g, "nan_row": nan, "all_zero": np.zeros((3, 3)), "opposite": opposite, "same": same,
            "tiny": 1e-30 * g[:2, :2], "huge": 1e30 * g[:2, :2]}


NAMES = ("upgrad", "dualproj", "cagrad", "nash_mtl", "fairgrad_2")


def test_degenerate_gradients_give_finite_weights():
    for case, gram in degenerate_grams().items():
        for name in NAMES:
            w = weights_of(name, gram.astype(np.float32))
            assert np.isfinite(w).all() and (w >= 0).all(), (name, case, w)
            if case == "nan_row":
                assert w[1] == 0.0, (name, w)
            if case == "zero_row" and name in ("nash_mtl", "fairgrad_2"):
                assert w[2] == 0.0 and (w[:2] > 0).all(), (name, w)  # an absent task has no positive solution
            if case == "same":  # one gradient three times: its copies are weighed alike
                np.testing.assert_allclose(w, w[0], rtol=1e-4, err_msg=name)


XLA_SOLVERS = {"upgrad": lambda g: upgrad_solver(tf.cast(g, tf.float64)),
               "dualproj": lambda g: dualproj_solver(tf.cast(g, tf.float64)),
               "cagrad": conflict_averse, "nash_mtl": nash_weights, "fairgrad_2": lambda g: alpha_fair(g, 2.0)}


@pytest.mark.parametrize("names", [
    ("dualproj", "cagrad", "fairgrad_2"),  # one method per solver: active set, barrier, Newton
    pytest.param(("upgrad", "nash_mtl"), marks=pytest.mark.slow)])
def test_weights_are_the_same_under_xla(names):
    """One XLA compilation (T = 5, float32 in) against the traced graphs."""
    xla = tf.function(lambda g: [XLA_SOLVERS[name](g) for name in names], jit_compile=True)
    for jac in jacobians(50, seed=8)[3::9]:  # T = 5: full rank, rank deficient, duplicates, spread
        gram = jac @ jac.T
        for name, got in zip(names, xla(tf.constant(gram, tf.float32))):
            np.testing.assert_allclose(got, weights_of(name, gram.astype(np.float32)), rtol=1e-5, atol=1e-7,
                                       err_msg=name)


@pytest.mark.parametrize("module", ["training.solvers.nonnegative_qp", "training.solvers.dual_cone",
                                    "training.solvers.conflict_averse", "training.solvers.alpha_fair",
                                    "training.solvers.gram_input", "training.balancers.upgrad",
                                    "training.balancers.dual_proj", "training.balancers.cagrad",
                                    "training.balancers.nash_mtl", "training.balancers.fair_grad"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(f"mtlzoo.{module}"), extraglobs={"tf": tf})
    assert result.failed == 0 and result.attempted > 0, result
