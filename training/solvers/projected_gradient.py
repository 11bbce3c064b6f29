"""Accelerated projected-gradient min-norm solver on the simplex (seed 000, Fig. 3)."""

from __future__ import annotations

import tensorflow as tf

from mtlzoo.training.solvers._common import objective, polish, prepare, prepare_exact, project_simplex, uniform
from mtlzoo.training.solvers.min_norm_solver import min_norm_solver


@min_norm_solver("projected_gradient")
def projected_gradient(gram, max_iters: int = 1000, tol: float = 1e-9, **unused) -> tf.Tensor:
    """Minimize alpha^T G alpha over the simplex by projected gradient steps.

    Steps alpha <- P(alpha - 2 G alpha / L) with L = 2 lambda_max(G), using
    Nesterov momentum with adaptive restart (restart when the objective rises),
    projecting onto the simplex by sorting. Stops when the Frank-Wolfe duality
    gap (an upper bound on the distance to the optimal objective, relative to
    the largest squared gradient norm) is below ``tol``, or after ``max_iters``
    iterations; then :func:`~mtlzoo.training.solvers._common.polish` finishes
    exactly, in float64 on the input's own values, from the iterate's support
    (active-set steps that drop and add tasks until the KKT conditions hold).
    The gap rarely falls below the default ``tol`` in float32, so the loop
    usually runs to ``max_iters``; the finish does not need it to.

    Args:
        gram: T x T Gram matrix of task gradients.
        max_iters: iteration cap.
        tol: duality-gap tolerance.

    Returns:
        ``alpha`` (float32, shape (T,)) on the simplex; tasks with non-finite
        gradients get weight 0.

    Example:
        >>> projected_gradient([[1.0, 0.0], [0.0, 4.0]]).numpy().round(3)
        array([0.8, 0.2], dtype=float32)
    """
    exact = prepare_exact(gram)
    gram, valid = prepare(gram)
    lipschitz = 2.0 * tf.reduce_max(tf.linalg.eigvalsh(gram))
    step = tf.math.divide_no_nan(1.0, lipschitz)
    alpha0 = uniform(valid)

    def body(i, alpha, y, momentum, done):
        grad = 2.0 * tf.linalg.matvec(gram, y)
        new = project_simplex(y - step * grad, valid)
        restart = objective(gram, new) > objective(gram, alpha)
        next_momentum = tf.where(restart, 1.0, 0.5 * (1.0 + tf.sqrt(1.0 + 4.0 * momentum * momentum)))
        y_next = tf.where(restart, alpha, new + ((momentum - 1.0) / next_momentum) * (new - alpha))
        new = tf.where(restart, alpha, new)
        g_new = tf.linalg.matvec(gram, new)
        gap = tf.tensordot(new, g_new, 1) - tf.reduce_min(tf.where(valid, g_new, float("inf")))
        converged = gap <= tol
        return (i + 1, tf.where(done, alpha, new), tf.where(done, y, y_next),
                tf.where(done, momentum, next_momentum), tf.logical_or(done, converged))

    _, alpha, _, _, _ = tf.while_loop(
        lambda i, alpha, y, m, done: tf.logical_and(i < max_iters, tf.logical_not(done)),
        body,
        (tf.constant(0), alpha0, alpha0, tf.constant(1.0), tf.constant(False)),
        maximum_iterations=max_iters,
    )
    return polish(exact, alpha, valid)
