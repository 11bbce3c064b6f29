"""Min-norm solvers against an independent brute-force QP reference, and on degenerate inputs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from mtlzoo.training import min_norm, solvers

ITERATIVE = ("frank_wolfe", "projected_gradient")


def reference_min_norm(gram: np.ndarray) -> float:
    """Exact min of a^T G a on the simplex by enumerating supports (float64 KKT solves)."""
    size = len(gram)
    best = np.inf
    for k in range(1, size + 1):
        for support in itertools.combinations(range(size), k):
            idx = list(support)
            kkt = np.zeros((k + 1, k + 1))
            kkt[:k, :k] = 2 * gram[np.ix_(idx, idx)]
            kkt[:k, k] = kkt[k, :k] = 1
            rhs = np.zeros(k + 1)
            rhs[k] = 1
            sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:k]
            if (sol >= -1e-12).all():
                alpha = np.zeros(size)
                alpha[idx] = np.clip(sol, 0, None) / np.clip(sol, 0, None).sum()
                best = min(best, alpha @ gram @ alpha)
    return best


def random_grams(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        tasks = int(rng.integers(2, 11))
        dim = int(rng.integers(1, 30))  # dim < tasks gives rank-deficient Gram matrices
        grads = rng.normal(size=(dim, tasks)) * rng.uniform(0.1, 10, size=tasks)
        yield grads.T @ grads


def assert_on_simplex(alpha):
    alpha = np.asarray(alpha, dtype=np.float64)
    assert np.all(np.isfinite(alpha)) and np.all(alpha >= 0), alpha
    assert abs(alpha.sum() - 1) < 1e-5, alpha.sum()


@pytest.fixture(scope="module")
def compiled():
    cache = {}

    def solve(gram, solver):
        key = (solver, len(gram))
        if key not in cache:
            cache[key] = tf.function(lambda g, s=solver: min_norm(g, solver=s))
        return cache[key](tf.constant(gram, tf.float32)).numpy()

    return solve


@pytest.fixture(scope="module")
def problems():
    return [(gram, reference_min_norm(gram)) for gram in random_grams(200)]


@pytest.mark.parametrize("solver", ITERATIVE)
def test_matches_brute_force_qp_on_200_random_grams(solver, compiled, problems):
    worst = 0.0
    for gram, best in problems:
        alpha = compiled(gram, solver)
        assert_on_simplex(alpha)
        value = alpha.astype(np.float64) @ gram @ alpha.astype(np.float64)
        # 1e-5 relative to the optimum, plus float32's resolution of a^T G a at the
        # scale of the largest squared gradient norm (the optimum can be ~0).
        slack = 1e-5 * best + 1e-6 * np.max(np.diag(gram))
        assert value - best <= slack, (solver, len(gram), value, best)
        worst = max(worst, (value - best) / max(best, 1e-2 * np.max(np.diag(gram))))
    assert worst < 1e-4


def scipy_qp_min(gram: np.ndarray) -> float:
    """min a^T G a on the simplex with SciPy's SLSQP from several starts (a second, independent reference)."""
    from scipy.optimize import minimize

    size = len(gram)
    starts = [np.full(size, 1.0 / size)] + [np.eye(size)[i] for i in np.argsort(np.diag(gram))[:2]]
    best = np.inf
    for start in starts:
        result = minimize(lambda a: a @ gram @ a, start, jac=lambda a: 2 * gram @ a, method="SLSQP",
                          bounds=[(0.0, 1.0)] * size,
                          constraints=[{"type": "eq", "fun": lambda a: a.sum() - 1.0, "jac": lambda a: np.ones(size)}],
                          options={"ftol": 1e-16, "maxiter": 2000})
        alpha = np.clip(result.x, 0, None)
        alpha /= alpha.sum()
        best = min(best, alpha @ gram @ alpha)
    return best


@pytest.mark.parametrize("solver", ITERATIVE + ("auto",))
def test_within_1e5_of_a_scipy_qp_solution_on_200_random_grams(solver, compiled):
    """Issue acceptance: objective within 1e-5 (relative) of SciPy's QP optimum, T = 2..10."""
    for gram in random_grams(200, seed=7):
        alpha = compiled(gram, solver).astype(np.float64)
        assert_on_simplex(alpha)
        value, reference = alpha @ gram @ alpha, scipy_qp_min(gram)
        assert value <= reference * (1 + 1e-5) + 1e-6 * np.max(np.diag(gram)), (solver, len(gram), value, reference)


def test_analytic_equals_frank_wolfe_for_two_tasks(compiled):
    for gram in random_grams(200, seed=1):
        sub = gram[:2, :2]
        np.testing.assert_allclose(compiled(sub, "analytic"), compiled(sub, "frank_wolfe"), atol=1e-4)


def test_analytic_formula_seed_002_eq4():
    g1, g2 = np.array([1.0, 2.0]), np.array([-3.0, 0.5])
    gram = np.array([[g1 @ g1, g1 @ g2], [g2 @ g1, g2 @ g2]])
    gamma = np.clip((g2 - g1) @ g2 / np.sum((g1 - g2) ** 2), 0, 1)
    np.testing.assert_allclose(min_norm(gram, solver="analytic").numpy(), [gamma, 1 - gamma], atol=1e-6)


@pytest.mark.parametrize("solver", ("analytic", *ITERATIVE))
@pytest.mark.parametrize(
    "gram, expected",
    [
        (np.zeros((2, 2)), [0.5, 0.5]),                                   # zero gradients
        (np.ones((2, 2)) * 3.0, [0.5, 0.5]),                              # equal gradients
        (np.array([[1.0, -2.0], [-2.0, 4.0]]), [2 / 3, 1 / 3]),           # collinear, opposite
        (np.array([[np.nan, 0.0], [0.0, 1.0]]), [0.0, 1.0]),              # NaN gradient
        (np.array([[1.0, np.inf], [np.inf, 1.0]]), [0.5, 0.5]),           # all non-finite
        (np.array([[1e-30, 0.0], [0.0, 4e-30]]), [0.8, 0.2]),             # tiny scale
        (np.array([[1e30, 0.0], [0.0, 4e30]]), [0.8, 0.2]),               # huge scale
    ],
)
def test_degenerate_two_task_inputs_give_simplex_points(solver, gram, expected, compiled):
    alpha = compiled(gram, solver)
    assert_on_simplex(alpha)
    np.testing.assert_allclose(alpha, expected, atol=1e-4)


@pytest.mark.parametrize("solver", ITERATIVE)
def test_degenerate_many_task_inputs(solver, compiled):
    grads = np.array([[1.0, 0.0], [2.0, 0.0], [-1.0, 0.0], [np.nan, 1.0]])  # collinear + NaN
    gram = grads @ grads.T
    alpha = compiled(gram, solver)
    assert_on_simplex(alpha)
    assert alpha[3] == 0.0
    combo = alpha[:3] @ grads[:3]
    assert np.linalg.norm(combo) < 1e-4  # the origin is in the hull of the finite ones
    assert_on_simplex(compiled(np.zeros((5, 5)), solver))
    assert_on_simplex(compiled(np.full((4, 4), np.nan), solver))


def test_float16_input_solves_in_float32_and_under_xla():
    gram = tf.constant([[1.0, 0.2, 0.0], [0.2, 2.0, 0.1], [0.0, 0.1, 3.0]], tf.float16)
    alpha = tf.function(lambda g: min_norm(g), jit_compile=True)(gram)
    assert alpha.dtype == tf.float32
    assert_on_simplex(alpha.numpy())


def test_single_task_and_bad_inputs():
    np.testing.assert_array_equal(min_norm([[2.0]]).numpy(), [1.0])
    with pytest.raises(ValueError, match="square"):
        min_norm(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="exactly 2 tasks"):
        min_norm(np.eye(3), solver="analytic")
    with pytest.raises(ValueError, match="frank_wolfe"):
        min_norm(np.eye(3), solver="no_such_solver")
    assert solvers.names() == ("analytic", "frank_wolfe", "projected_gradient")
