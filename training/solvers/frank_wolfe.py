"""Frank-Wolfe min-norm solver on the T x T Gram matrix (seed 002, Alg. 2)."""

from __future__ import annotations

import tensorflow as tf

from mtlzoo.training.solvers._common import polish, prepare, prepare_exact, uniform
from mtlzoo.training.solvers.min_norm_solver import min_norm_solver


@min_norm_solver("frank_wolfe")
def frank_wolfe(gram, max_iters: int = 1000, tol: float = 1e-6, away_steps: bool = True, **unused) -> tf.Tensor:
    """Minimize alpha^T G alpha over the simplex by Frank-Wolfe with exact line search.

    From alpha = 1/T, each iteration picks the vertex s = argmin_r (G alpha)_r and
    moves toward it by the exact line-search step (seed 002 Alg. 2, lines 6-9).
    With ``away_steps`` (the default), when moving weight away from the worst
    active vertex v = argmax_{alpha_r > 0} (G alpha)_r promises more, it does
    that instead (away-step Frank-Wolfe), which converges linearly instead of
    as O(1/k) when the min-norm point lies on a face of the simplex. Stops when
    the Frank-Wolfe duality gap, an upper bound on the objective's distance to
    its minimum, falls below ``tol`` (relative to the largest squared gradient
    norm), or after ``max_iters`` iterations (a fixed cap, so the loop compiles
    under XLA). Then :func:`~mtlzoo.training.solvers._common.polish` finishes
    exactly, in float64 on the input's own values, from the iterate's support
    (active-set steps that drop and add tasks until the KKT conditions hold).

    Args:
        gram: T x T Gram matrix of task gradients.
        max_iters: iteration cap.
        tol: duality-gap tolerance. The default, 1e-6, is what float32 can
            resolve (a smaller gap is often never reached, and the loop would run
            to ``max_iters``); the active-set finish then makes the point exact.
        away_steps: allow away steps (``False`` gives the paper's plain Frank-Wolfe).

    Returns:
        ``alpha`` (float32, shape (T,)) on the simplex; tasks with non-finite
        gradients get weight 0.

    Example:
        >>> frank_wolfe([[1.0, 0.0], [0.0, 4.0]]).numpy().round(3)
        array([0.8, 0.2], dtype=float32)
    """
    exact = prepare_exact(gram)
    gram, valid = prepare(gram)
    alpha0 = uniform(valid)
    inf = tf.constant(float("inf"), tf.float32)
    size = tf.shape(gram)[0]

    def body(i, alpha, done):
        g_alpha = tf.linalg.matvec(gram, alpha)
        f = tf.tensordot(alpha, g_alpha, 1)
        s = tf.argmin(tf.where(valid, g_alpha, inf), output_type=tf.int32)
        v = tf.argmax(tf.where(alpha > 0, g_alpha, -inf), output_type=tf.int32)
        gap_fw = f - g_alpha[s]
        gap_away = g_alpha[v] - f
        use_away = tf.logical_and(tf.constant(away_steps), gap_away > gap_fw)
        e_s = tf.one_hot(s, size, dtype=tf.float32)
        e_v = tf.one_hot(v, size, dtype=tf.float32)
        direction = tf.where(use_away, alpha - e_v, e_s - alpha)
        alpha_v = alpha[v]
        max_step = tf.where(use_away, tf.math.divide_no_nan(alpha_v, 1.0 - alpha_v), 1.0)
        max_step = tf.where(tf.logical_and(use_away, alpha_v >= 1.0), 0.0, max_step)
        slope = tf.tensordot(direction, g_alpha, 1)
        curvature = tf.tensordot(direction, tf.linalg.matvec(gram, direction), 1)
        step = tf.where(curvature > 1e-20, -slope / tf.maximum(curvature, 1e-20),
                        tf.where(slope < 0.0, max_step, 0.0))
        converged = tf.logical_or(gap_fw <= tol, tf.clip_by_value(step, 0.0, max_step) <= 0.0)
        step = tf.where(converged, 0.0, tf.clip_by_value(step, 0.0, max_step))
        new = tf.maximum(alpha + step * direction, 0.0)
        new = new / tf.reduce_sum(new)
        return i + 1, tf.where(done, alpha, new), tf.logical_or(done, converged)

    _, alpha, _ = tf.while_loop(
        lambda i, alpha, done: tf.logical_and(i < max_iters, tf.logical_not(done)),
        body,
        (tf.constant(0), alpha0, tf.constant(False)),
        maximum_iterations=max_iters,
    )
    return polish(exact, alpha, valid)
