"""Shared pieces of the min-norm solvers: input sanitizing and small simplex helpers."""

from __future__ import annotations

import tensorflow as tf


def prepare(gram) -> tuple[tf.Tensor, tf.Tensor]:
    """Cast to float32, symmetrize, drop non-finite tasks and scale to unit max diagonal.

    Returns ``(gram, valid)``: the cleaned T x T matrix (rows/cols of invalid
    tasks zeroed) and a boolean mask of the tasks whose Gram row and column are
    finite. Scaling by a positive constant leaves the minimizer unchanged and
    keeps float32 well conditioned for tiny or huge gradients.
    """
    gram = tf.convert_to_tensor(gram)
    gram = tf.cast(gram, tf.float32)
    if gram.shape.rank != 2 or (gram.shape[0] is not None and gram.shape[0] != gram.shape[1]):
        raise ValueError(f"min_norm expects a square T x T Gram matrix, got shape {gram.shape}.")
    finite = tf.math.is_finite(gram)
    # A task is invalid when its own squared norm is not finite, or when a product
    # with another finite task overflowed.
    valid = tf.math.is_finite(tf.linalg.diag_part(gram))
    bad_pair = tf.logical_and(tf.logical_not(finite), tf.logical_and(valid[:, None], valid[None, :]))
    valid = tf.logical_and(valid, tf.logical_not(tf.reduce_any(bad_pair, axis=1)))
    pair = tf.logical_and(valid[:, None], valid[None, :])
    gram = tf.where(pair, gram, tf.zeros_like(gram))
    # No finite task at all: solve the all-zero problem over every task (uniform).
    valid = tf.logical_or(valid, tf.logical_not(tf.reduce_any(valid)))
    gram = 0.5 * (gram + tf.transpose(gram))
    scale = tf.reduce_max(tf.abs(tf.linalg.diag_part(gram)))
    gram = tf.math.divide_no_nan(gram, scale)
    return gram, valid


def uniform(valid: tf.Tensor) -> tf.Tensor:
    """The uniform point over the valid tasks (over all tasks if none is valid)."""
    weights = tf.cast(valid, tf.float32)
    count = tf.reduce_sum(weights)
    all_uniform = tf.ones_like(weights) / tf.cast(tf.size(weights), tf.float32)
    return tf.where(count > 0, weights / tf.maximum(count, 1.0), all_uniform)


def objective(gram: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    """alpha^T G alpha."""
    return tf.tensordot(alpha, tf.linalg.matvec(gram, alpha), 1)


def line_search_pair(aa: tf.Tensor, ab: tf.Tensor, bb: tf.Tensor) -> tf.Tensor:
    """gamma in [0, 1] minimizing ||gamma a + (1 - gamma) b||^2 from the three inner products.

    Seed 002 eq. 4 (with theta = a, theta-bar = b); 0.5 when a == b (any gamma is optimal).
    """
    denom = aa + bb - 2.0 * ab
    gamma = tf.math.divide_no_nan(bb - ab, denom)
    gamma = tf.where(denom > 1e-12, gamma, 0.5 * tf.ones_like(gamma))
    return tf.clip_by_value(gamma, 0.0, 1.0)


def project_simplex(v: tf.Tensor, valid: tf.Tensor) -> tf.Tensor:
    """Euclidean projection of ``v`` onto the simplex over the valid coordinates (sort-based)."""
    big = tf.constant(1e30, tf.float32)
    v = tf.where(valid, v, -big)
    u = tf.sort(v, direction="DESCENDING")
    css = tf.cumsum(u) - 1.0
    ind = tf.range(1, tf.size(u) + 1, dtype=tf.float32)
    cond = tf.cast(u - css / ind > 0, tf.int32)
    rho = tf.maximum(tf.reduce_sum(cond), 1)
    theta = tf.gather(css, rho - 1) / tf.cast(rho, tf.float32)
    return tf.where(valid, tf.maximum(v - theta, 0.0), tf.zeros_like(v))


def _kkt_solution(gram: tf.Tensor, support: tf.Tensor) -> tf.Tensor:
    """Minimizer of alpha^T G alpha on the affine hull {sum alpha = 1, alpha_t = 0 off ``support``}."""
    # float64 for this small T x T solve: rank-deficient Gram matrices make the KKT system
    # singular, and float32's pseudo-inverse then misses the face's minimizer.
    size = tf.shape(gram)[0]
    both = tf.logical_and(support[:, None], support[None, :])
    block = tf.where(both, 2.0 * tf.cast(gram, tf.float64), tf.eye(size, dtype=tf.float64))
    ones = tf.cast(support, tf.float64)
    kkt = tf.concat([tf.concat([block, ones[:, None]], axis=1),
                     tf.concat([ones[None, :], tf.zeros((1, 1), tf.float64)], axis=1)], axis=0)
    rhs = tf.concat([tf.zeros((size,), tf.float64), tf.ones((1,), tf.float64)], axis=0)
    solution = tf.cast(tf.linalg.matvec(tf.linalg.pinv(kkt), rhs)[:size], tf.float32)
    return tf.where(support, solution, tf.zeros_like(solution))


def polish(gram: tf.Tensor, alpha: tf.Tensor, valid: tf.Tensor, threshold: float = 1e-6) -> tf.Tensor:
    """Finish an iterative solver exactly with primal active-set steps on alpha's support.

    On the support S = {alpha_t > threshold}, the minimizer c of the objective
    over the affine hull solves [2 G_SS 1; 1^T 0] [c_S; mu] = [0; 1]. If c is
    non-negative it is the optimum on that face and is returned; otherwise
    alpha moves toward c until the first coordinate reaches zero, that task
    leaves the support, and the step repeats (at most T times). Every step
    lowers the objective, so an iterative solver that found a superset of the
    optimal support ends at the exact optimum instead of creeping toward it.
    """
    size = tf.shape(gram)[0]
    start = tf.where(tf.logical_and(valid, alpha > threshold), alpha, tf.zeros_like(alpha))
    start = tf.math.divide_no_nan(start, tf.reduce_sum(start))
    start = tf.where(tf.reduce_sum(start) > 0.5, start, alpha)

    def body(i, current, done):
        support = tf.logical_and(valid, current > 0)
        target = _kkt_solution(gram, support)
        finite = tf.reduce_all(tf.math.is_finite(target))
        negative = tf.logical_and(support, target < 0)
        ratios = tf.where(negative, tf.math.divide_no_nan(current, current - target), tf.ones_like(current))
        step = tf.where(tf.reduce_any(negative), tf.reduce_min(ratios), 1.0)
        moved = current + step * (target - current)
        leaving = tf.logical_and(negative, ratios <= step)
        moved = tf.where(leaving, tf.zeros_like(moved), tf.maximum(moved, 0.0))
        moved = tf.math.divide_no_nan(moved, tf.reduce_sum(moved))
        ok = tf.logical_and(finite, tf.reduce_sum(moved) > 0.5)
        new = tf.where(ok, moved, current)
        return i + 1, new, tf.logical_or(tf.logical_not(ok), tf.logical_not(tf.reduce_any(negative)))

    _, polished, _ = tf.while_loop(
        lambda i, current, done: tf.logical_and(i < size, tf.logical_not(done)),
        body, (tf.constant(0), start, tf.constant(False)))
    return tf.where(objective(gram, polished) <= objective(gram, alpha), polished, alpha)
