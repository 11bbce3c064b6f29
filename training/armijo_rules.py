"""The Armijo sufficient-decrease rules of seed 001 (4.1-4.5), as right-hand sides.

Every rule accepts a trial step eta for task t when
``L_t(trial) <= L_t - eta * beta * decrease_t``; the rules differ in the
decrease they ask for, built from ``own_sq = ||dL_t/d theta_t||^2`` (the task's
own parameters) and ``inner = (dL_t/dx)^T d`` (x = z for the latent rules,
theta_sh for the classical one).
"""

from __future__ import annotations

import tensorflow as tf

#: rule -> (uses ||u_t||^2, uses (dL_t/dx)^T d). 4.5 restates 4.2 with the terms in the other order.
RULES = {
    "4.1": (True, True),   # classical: theta_sh - eta d_sh (Alg. 4.1)
    "4.2": (True, True),   # latent: z - eta d_z (Alg. 4.2)
    "4.3": (True, False),
    "4.4": (False, True),
    "4.5": (True, True),
}
CLASSIC_RULES = ("4.1",)
FAST_RULES = ("4.2", "4.3", "4.4", "4.5")


def decrease(rule: str, own_sq: tf.Tensor, inner: tf.Tensor) -> tf.Tensor:
    """The per-task decrease term of ``rule`` (shape (T,)).

    Example:
        >>> decrease("4.3", tf.constant([2.0]), tf.constant([5.0])).numpy()
        array([2.], dtype=float32)
    """
    if rule not in RULES:
        raise ValueError(f"Unknown Armijo rule {rule!r}; rules: {', '.join(RULES)}.")
    use_own, use_inner = RULES[rule]
    out = tf.zeros_like(own_sq)
    if use_own:
        out = out + own_sq
    if use_inner:
        out = out + inner
    return out


def accepted(trial: tf.Tensor, current: tf.Tensor, eta, beta: float, decrease_term: tf.Tensor) -> tf.Tensor:
    """True when every task's trial loss is finite and ``<= L_t - eta * beta * decrease_t``.

    ``trial`` holds the tasks on its last axis; with leading axes (several candidates,
    ``eta`` of shape ``(K, 1)``) the answer has them too (shape ``(K,)``).
    """
    bound = current - tf.cast(eta, tf.float32) * beta * decrease_term
    return tf.logical_and(tf.reduce_all(tf.math.is_finite(trial), axis=-1), tf.reduce_all(trial <= bound, axis=-1))
