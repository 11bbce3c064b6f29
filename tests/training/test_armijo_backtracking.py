"""Sequential and batched backtracking against a plain-Python Armijo search on scripted loss curves."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlzoo.training import armijo_backtracking

BETA, SHRINK, EPS = 0.1, 0.5, 1e-3


def reference(curve, current, decrease, start, shrink, eps, beta, count):
    """Seed 001's backtracking written out: try start*shrink^k >= eps in order, take the first that
    satisfies Armijo on every task; else eps if its losses are finite; else no step."""
    eta, trials = np.float32(start), 0
    for _ in range(count):
        if eta < eps:
            break
        trials += 1
        losses = np.float32(curve(float(eta)))  # float32 throughout, as the search computes
        bound = np.float32(current) - eta * np.float32(beta) * np.float32(decrease)
        if np.all(np.isfinite(losses)) and np.all(losses <= bound):
            return float(eta), trials, True
        eta = np.float32(eta * np.float32(shrink))
    if np.all(np.isfinite(np.float32(curve(eps)))):
        return eps, trials, True
    return 0.0, trials, False


def run(kind, curve, current, decrease, start, count, shrink=SHRINK, eps=EPS):
    current, decrease = tf.constant(current, tf.float32), tf.constant(decrease, tf.float32)

    def losses(eta):
        return tf.numpy_function(lambda e: np.asarray(curve(float(e)), np.float32), [eta], tf.float32,
                                 stateful=False)

    @tf.function
    def go():
        if kind == "sequential":
            trial = lambda eta: tf.ensure_shape(losses(eta), current.shape)  # noqa: E731
            return armijo_backtracking.sequential(trial, current, decrease, tf.constant(start, tf.float32),
                                                  shrink, eps, BETA, count)
        sums = lambda eta: (tf.ensure_shape(losses(eta), current.shape), tf.ones_like(current))  # noqa: E731
        return armijo_backtracking.batched(sums, current, decrease, tf.constant(start, tf.float32),
                                           shrink, eps, BETA, count)

    eta, trials, take = go()
    return float(eta), int(trials), bool(take)


def quadratic(minima):
    """Task t's loss along the search: (minima[t] - eta)^2 (a quadratic with its minimum at minima[t])."""
    return lambda eta: [(m - eta) ** 2 for m in minima]


CASES = {
    "first accepted": (quadratic([1.0, 1.2]), [1.0, 1.44], [4.0, 4.8], 1.0, 10),
    "backtracks": (quadratic([0.3, 0.25]), [0.09, 0.0625], [1.2, 1.0], 8.0, 12),
    "none accepted, eps finite": (lambda eta: [1.0 + eta, 2.0], [1.0, 2.0], [1.0, 1.0], 1.0, 12),
    "none finite": (lambda eta: [math.inf, 1.0], [1.0, 1.0], [1.0, 1.0], 1.0, 12),
    "nan at large steps": (lambda eta: [math.nan if eta > 0.2 else (0.5 - eta) ** 2, 0.0], [0.25, 0.0],
                           [1.0, 0.0], 1.0, 12),
    "start below eps": (quadratic([1.0]), [1.0], [2.0], 1e-4, 12),
    "count cuts the walk": (quadratic([0.01]), [1e-4], [0.02], 1.0, 3),
}


@pytest.mark.parametrize("kind", ["sequential", "batched"])
@pytest.mark.parametrize("case", list(CASES))
def test_walks_match_the_reference(kind, case):
    curve, current, decrease, start, count = CASES[case]
    want = reference(curve, current, decrease, start, SHRINK, EPS, BETA, count)
    got = run(kind, curve, current, decrease, start, count)
    assert got[1:] == want[1:], (case, got, want)
    assert got[0] == pytest.approx(want[0], rel=1e-6), (case, got, want)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(minima=st.lists(st.floats(-2.0, 4.0), min_size=1, max_size=3), start=st.floats(1e-3, 50.0),
       shrink=st.sampled_from([0.3, 0.5, 0.9]), count=st.integers(1, 40))
def test_batched_equals_sequential_on_random_quadratics(minima, start, shrink, count):
    """Bit-identical step sizes: both walk the same float32 candidates."""
    curve = quadratic(minima)
    current = [m ** 2 for m in minima]
    decrease = [2.0 * m for m in minima]  # -dL/d eta at 0: the Armijo slope
    args = (curve, current, decrease, start, count, shrink)
    assert run("batched", *args) == run("sequential", *args)
    want = reference(curve, current, decrease, start, shrink, EPS, BETA, count)
    assert run("batched", *args)[1:] == want[1:]


def test_step_sizes_shrink_geometrically():
    np.testing.assert_allclose(armijo_backtracking.step_sizes(tf.constant(3.0), 0.5, 4).numpy(),
                               [3.0, 1.5, 0.75, 0.375])
