"""Analytic min-norm point of two tasks (seed 002, eq. 4)."""

from __future__ import annotations

import tensorflow as tf

from mtlzoo.training.solvers._common import line_search_pair, prepare, uniform
from mtlzoo.training.solvers.min_norm_solver import min_norm_solver


@min_norm_solver("analytic")
def analytic(gram, **unused) -> tf.Tensor:
    """alpha = (gamma, 1 - gamma) with gamma = clip((G22 - G12) / (G11 + G22 - 2 G12), 0, 1).

    Args:
        gram: the 2 x 2 Gram matrix of the two task gradients.

    Returns:
        ``alpha`` (float32, shape (2,)) on the simplex. A task with a non-finite
        gradient gets weight 0; equal gradients give (0.5, 0.5).

    Example:
        >>> analytic([[1.0, 0.0], [0.0, 1.0]]).numpy()
        array([0.5, 0.5], dtype=float32)
    """
    gram, valid = prepare(gram)
    if gram.shape[0] != 2:
        raise ValueError(f"The analytic solver handles exactly 2 tasks, got {gram.shape[0]}; use 'frank_wolfe'.")
    gamma = line_search_pair(gram[0, 0], gram[0, 1], gram[1, 1])
    alpha = tf.stack([gamma, 1.0 - gamma])
    both = tf.reduce_all(valid)
    return tf.where(both, alpha, uniform(valid))
