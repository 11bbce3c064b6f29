"""``clip_weights``: scale all blocks' weights so the combined update has at most a given norm."""

from __future__ import annotations

import tensorflow as tf


def clip_weights(problems, weights: dict, max_norm: float) -> dict:
    """``weights`` scaled by min(1, max_norm / ||d||), ||d||^2 = sum_i w^i^T G^i w^i over the blocks.

    In parameter space ||d|| is the norm of the shared parameters' update, so this is the authors'
    ``clip_grad_norm_(shared_parameters, max_norm)`` (Nash-MTL, FairGrad); in latent space it is the
    norm of the latent directions. ``max_norm <= 0`` leaves the weights as they are; non-finite Gram
    entries count as 0.
    """
    if not max_norm > 0 or not problems:
        return weights
    total = tf.constant(0.0, tf.float32)
    for p in problems:
        gram = tf.where(tf.math.is_finite(p.gram), p.gram, tf.zeros_like(p.gram))
        w = tf.cast(weights[p.block], tf.float32)
        total += tf.maximum(tf.tensordot(w, tf.linalg.matvec(gram, w), 1), 0.0)
    norm = tf.sqrt(total)
    factor = tf.where(norm > max_norm, max_norm / tf.maximum(norm, 1e-30), 1.0)
    return {block: w * factor for block, w in weights.items()}
