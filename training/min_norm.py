"""``min_norm``: the min-norm point of the convex hull of task gradients, from their Gram matrix."""

from __future__ import annotations

import tensorflow as tf

from mtlzoo.training import solvers


def min_norm(gram, solver: str = "auto", **options) -> tf.Tensor:
    """alpha = argmin_{alpha in simplex} ||sum_t alpha_t g_t||^2 = alpha^T G alpha (seed 002, eq. 3).

    Runs as TensorFlow ops (eagerly or inside ``tf.function``/XLA) in float32,
    whatever the input dtype. Always returns a valid point of the simplex: a
    task whose Gram row holds NaN or inf gets weight 0 (all uniform if every
    task does), zero or equal gradients give the uniform point.

    Args:
        gram: the T x T Gram matrix G_rs = <g_r, g_s> (T static).
        solver: ``"analytic"`` (T = 2, seed 002 eq. 4), ``"frank_wolfe"``
            (seed 002 Alg. 2), ``"projected_gradient"`` (seed 000 Fig. 3), or
            ``"auto"`` (analytic for two tasks, Frank-Wolfe otherwise); or a
            callable ``solver(gram, **options)``.
        **options: solver options, e.g. ``max_iters`` and ``tol``.

    Returns:
        ``alpha``, float32 tensor of shape (T,), non-negative, summing to 1.

    Example:
        >>> import mtlzoo
        >>> g = tf.constant([[1.0, -1.0], [-1.0, 1.0]])      # opposite gradients
        >>> mtlzoo.training.min_norm(g).numpy()
        array([0.5, 0.5], dtype=float32)
    """
    gram = tf.convert_to_tensor(gram)
    if gram.shape.rank != 2 or gram.shape[0] is None or gram.shape[0] != gram.shape[1]:
        raise ValueError(f"min_norm expects a square T x T Gram matrix with static T, got shape {gram.shape}.")
    if gram.shape[0] == 1:
        return tf.ones((1,), tf.float32)
    if solver == "auto":
        solver = "analytic" if gram.shape[0] == 2 else "frank_wolfe"
    return solvers.get(solver)(gram, **options)
