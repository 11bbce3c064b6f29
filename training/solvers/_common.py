"""Shared pieces of the min-norm solvers: input sanitizing and small simplex helpers."""

from __future__ import annotations

import tensorflow as tf


def _validity(gram: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``(valid, pair)`` of a float32 Gram matrix: the tasks to keep, and the entries to keep."""
    finite = tf.math.is_finite(gram)
    # A task is invalid when its own squared norm is not finite, or when a product
    # with another finite task overflowed.
    valid = tf.math.is_finite(tf.linalg.diag_part(gram))
    bad_pair = tf.logical_and(tf.logical_not(finite), tf.logical_and(valid[:, None], valid[None, :]))
    valid = tf.logical_and(valid, tf.logical_not(tf.reduce_any(bad_pair, axis=1)))
    pair = tf.logical_and(valid[:, None], valid[None, :])
    # No finite task at all: solve the all-zero problem over every task (uniform).
    return tf.logical_or(valid, tf.logical_not(tf.reduce_any(valid))), pair


def _clean(gram, dtype) -> tuple[tf.Tensor, tf.Tensor]:
    gram = tf.convert_to_tensor(gram)
    if gram.shape.rank != 2 or (gram.shape[0] is not None and gram.shape[0] != gram.shape[1]):
        raise ValueError(f"min_norm expects a square T x T Gram matrix, got shape {gram.shape}.")
    valid, pair = _validity(tf.cast(gram, tf.float32))
    gram = tf.cast(gram, dtype)
    gram = tf.where(pair, gram, tf.zeros_like(gram))
    gram = 0.5 * (gram + tf.transpose(gram))
    scale = tf.reduce_max(tf.abs(tf.linalg.diag_part(gram)))
    return tf.math.divide_no_nan(gram, scale), valid


def prepare(gram) -> tuple[tf.Tensor, tf.Tensor]:
    """Cast to float32, symmetrize, drop non-finite tasks and scale to unit max diagonal.

    Returns ``(gram, valid)``: the cleaned T x T matrix (rows/cols of invalid
    tasks zeroed) and a boolean mask of the tasks whose Gram row and column are
    finite. Scaling by a positive constant leaves the minimizer unchanged and
    keeps float32 well conditioned for tiny or huge gradients.
    """
    return _clean(gram, tf.float32)


def prepare_exact(gram) -> tf.Tensor:
    """The matrix of :func:`prepare` (same tasks dropped), in float64 from the input's own values.

    The exact finish (:func:`polish`) works on this one: the float32 division by the
    scale in :func:`prepare` rounds every entry, which moves the minimizer of a
    rank-deficient or near-collinear problem by far more than float32's resolution.
    A float32 input is represented exactly; a float64 input keeps its precision.
    """
    return _clean(gram, tf.float64)[0]


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
    """Minimizer of alpha^T G alpha on the affine hull {sum alpha = 1, alpha_t = 0 off ``support``}.

    Solves [2 G_SS 1; 1^T 0] [c_S; mu] = [0; 1] by pseudo-inverse (float64 G): the
    system is singular for duplicate gradients, and the pseudo-inverse then picks
    the face's minimizer of least norm (duplicates share their weight equally).
    """
    size = tf.shape(gram)[0]
    both = tf.logical_and(support[:, None], support[None, :])
    block = tf.where(both, 2.0 * gram, tf.eye(size, dtype=gram.dtype))
    ones = tf.cast(support, gram.dtype)
    kkt = tf.concat([tf.concat([block, ones[:, None]], axis=1),
                     tf.concat([ones[None, :], tf.zeros((1, 1), gram.dtype)], axis=1)], axis=0)
    rhs = tf.concat([tf.zeros((size,), gram.dtype), tf.ones((1,), gram.dtype)], axis=0)
    solution = tf.linalg.matvec(tf.linalg.pinv(kkt), rhs)[:size]
    return tf.where(support, solution, tf.zeros_like(solution))


def polish(gram: tf.Tensor, alpha: tf.Tensor, valid: tf.Tensor, threshold: float = 1e-6) -> tf.Tensor:
    """Finish an iterative solver exactly: a primal active-set method in float64 from alpha's support.

    Starts from alpha restricted to its support S = {alpha_t > threshold * max alpha}
    (renormalized). Each pass solves for the minimizer c of the objective on the
    affine hull of S, [2 G_SS 1; 1^T 0] [c_S; mu] = [0; 1]. If c leaves the simplex,
    the point moves toward c until the first coordinate reaches 0 and that task
    leaves S. Otherwise the point becomes c and the KKT conditions are checked: a
    valid task t off S with (G c)_t < c^T G c (moving weight onto it lowers the
    objective) enters S; when there is none, c is the exact minimizer over the
    simplex. At most 3 T + 2 passes (a fixed cap for XLA); from a Frank-Wolfe or
    projected-gradient iterate it typically takes 1-3.

    Everything runs in float64 on ``gram`` (pass :func:`prepare_exact`'s matrix, not
    the float32 one the iterations used), and the exact point is returned unless it
    is worse in float64 than ``alpha`` renormalized to sum 1 (a failed solve), as
    float32. The earlier finish kept ``alpha`` too often: near the optimum the two
    objectives differ by ~1e-8 relative, which a float32 comparison cannot resolve,
    and a float32 alpha sums to 1 +- ~T * 6e-8, which moves its objective by twice
    that; so the iterate, up to ~1e-3 (relative) away in the direction
    sum_t alpha_t g_t, won the comparison. It also only removed tasks from the support.

    Args:
        gram: the cleaned, scaled T x T Gram matrix (cast to float64).
        alpha: the iterative solver's point on the simplex.
        valid: the tasks that may get weight.
        threshold: coordinates at or below ``threshold`` times the largest one are
            left out of the starting support (a task left out can still enter).
    """
    gram = tf.cast(gram, tf.float64)
    alpha64 = tf.cast(alpha, tf.float64)
    # on the simplex exactly: a float32 sum is off by up to ~T * 6e-8, which shifts alpha's objective by
    # twice that relative, more than the gap between a close iterate and the optimum
    alpha64 = alpha64 / tf.reduce_sum(alpha64)
    size = tf.shape(gram)[0]
    start = tf.logical_and(valid, alpha64 > threshold * tf.reduce_max(alpha64))
    x0 = tf.where(start, alpha64, tf.zeros_like(alpha64))
    x0 = x0 / tf.reduce_sum(x0)  # the largest coordinate is in the support: the sum is positive
    tol = tf.constant(1e-12, tf.float64)  # G has unit max diagonal

    def body(i, x, support, done):
        target = _kkt_solution(gram, support)
        finite = tf.reduce_all(tf.math.is_finite(target))
        negative = tf.logical_and(support, target < 0.0)
        infeasible = tf.reduce_any(negative)
        # c outside the simplex: step toward it until the first coordinate of S reaches 0
        ratios = tf.where(negative, x / tf.where(negative, x - target, tf.ones_like(x)), tf.ones_like(x))
        step = tf.clip_by_value(tf.reduce_min(ratios), 0.0, 1.0)
        leaving = tf.logical_and(negative, ratios <= step)
        moved = tf.where(leaving, tf.zeros_like(x), tf.maximum(x + step * (target - x), 0.0))
        moved = moved / tf.reduce_sum(moved)
        # c inside: take it, and let the task that most violates the KKT conditions enter S
        inside = tf.maximum(target, 0.0)
        inside = inside / tf.reduce_sum(inside)
        g_inside = tf.linalg.matvec(gram, inside)
        value = tf.tensordot(inside, g_inside, 1)
        enter = tf.logical_and(tf.logical_and(valid, tf.logical_not(support)), g_inside < value - tol)
        best = tf.argmin(tf.where(enter, g_inside, tf.fill(tf.shape(g_inside), tf.constant(float("inf"), tf.float64))),
                         output_type=tf.int32)
        grown = tf.logical_or(support, tf.logical_and(tf.one_hot(best, size, on_value=True, off_value=False),
                                                      tf.reduce_any(enter)))
        new_x = tf.where(infeasible, moved, inside)
        new_support = tf.where(infeasible, tf.logical_and(support, tf.logical_not(leaving)), grown)
        # a pass never raises the objective when G is PSD; a float32 Gram matrix of rank-deficient
        # gradients can be indefinite by ~1e-8, where the face minimizers are saddles: stop there
        ok = tf.logical_and(finite, tf.reduce_all(tf.math.is_finite(new_x)))
        ok = tf.logical_and(ok, objective(gram, new_x) <= objective(gram, x) + 1e-15)
        optimal = tf.logical_and(tf.logical_not(infeasible), tf.logical_not(tf.reduce_any(enter)))
        return (i + 1, tf.where(ok, new_x, x), tf.where(ok, new_support, support),
                tf.logical_or(tf.logical_not(ok), optimal))

    _, polished, _, _ = tf.while_loop(
        lambda i, x, support, done: tf.logical_and(i < 3 * size + 2, tf.logical_not(done)),
        body, (tf.constant(0), x0, start, tf.constant(False)))
    better = objective(gram, polished) <= objective(gram, alpha64)
    return tf.where(better, tf.cast(polished, tf.float32), tf.cast(alpha, tf.float32))
