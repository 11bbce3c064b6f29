"""``dual_cone_weights``: weights of the projection of J^T u onto the dual cone of the rows of J, from G = J J^T."""

from __future__ import annotations

import tensorflow as tf

from mtlzoo.training.solvers.gram_input import clean_gram, trace_normalized
from mtlzoo.training.solvers.nonnegative_qp import nonnegative_qp


def dual_cone_weights(gram, preferences, reg_eps: float = 1e-4, max_iters: int | None = None) -> tf.Tensor:
    """v with J^T v the projection of J^T u onto {d : J d >= 0}, for each row u of ``preferences``.

    By Proposition 1 of Quinton & Rey (2024, "Jacobian Descent for Multi-Objective Optimization"),
    v = argmin_{v >= u} v^T G v; with v = u + x this is the non-negative QP
    min_{x >= 0} 1/2 x^T G x + (G u)^T x, solved exactly by :func:`nonnegative_qp` in float64. As in
    TorchJD, G is first divided by its trace and ``reg_eps`` I is added (the QP then has one
    solution even for duplicate gradients; its result satisfies G v >= -reg_eps v, relative to
    trace G). TorchJD maps a G with trace below 1e-4 to 0; here only an exactly zero trace is (a
    scale-free rule: latent gradients of a mean loss are small).

    Tasks whose Gram row is not finite are left out: their rows and columns are zeroed and their
    preference entries and weights set to 0.

    Args:
        gram: the T x T Gram matrix.
        preferences: u, shape (T,) or (B, T).
        reg_eps: the ridge added to G / trace(G).
        max_iters: :func:`nonnegative_qp`'s pass cap (default 4 T + 8).

    Returns:
        v, float32, the shape of ``preferences``.

    Example:
        >>> g = tf.constant([[1.0, -2.0], [-2.0, 9.0]])
        >>> tf.linalg.matvec(g, [0.5, 0.5]).numpy()   # the mean gradient conflicts with g_1
        array([-0.5,  3.5], dtype=float32)
        >>> v = dual_cone_weights(g, [0.5, 0.5], reg_eps=0.0)
        >>> tf.linalg.matvec(g, v).numpy().round(6) + 0.0   # its projection does not
        array([0. , 2.5], dtype=float32)
    """
    gram, valid = clean_gram(gram)
    gram = trace_normalized(gram) + reg_eps * tf.eye(tf.shape(gram)[0], dtype=tf.float64)
    prefs = tf.cast(tf.convert_to_tensor(preferences), tf.float64)
    prefs = tf.where(valid, prefs, tf.zeros_like(prefs))
    single = prefs.shape.rank == 1
    batch = prefs[None] if single else prefs
    extra = nonnegative_qp(gram, tf.matmul(batch, gram), max_iters=max_iters)
    weights = tf.where(valid, batch + extra, tf.zeros_like(batch))
    return tf.cast(weights[0] if single else weights, tf.float32)
