"""``pcgrad``: projecting conflicting gradients (gradient surgery, Yu et al.; seed 001 [37])."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mtlzoo.training.balancers.gramian_balancer import GramianBalancer


def pcgrad_coefficients(gram: tf.Tensor, seed) -> tf.Tensor:
    """beta with sum_t PCGrad(g)_t = sum_s beta_s g_s, computed from the Gram matrix alone.

    Every projected gradient g'_t = g_t - sum ... stays a combination sum_s C_ts g_s
    of the original ones, so each inner product it needs is (C G)_ts. Each task
    visits all tasks in its own random order (``seed``: a stateless seed pair)
    and drops its component along g_s when g'_t . g_s < 0.
    """
    gram = tf.cast(gram, tf.float32)
    gram = tf.where(tf.math.is_finite(gram), gram, tf.zeros_like(gram))
    t = gram.shape[0]
    order = tf.argsort(tf.random.stateless_uniform((t, t), seed=seed), axis=1)
    diag = tf.linalg.diag_part(gram)
    coeffs = tf.eye(t)
    for k in range(t):
        s = order[:, k]
        dots = tf.gather(tf.matmul(coeffs, gram), s, batch_dims=1)
        norms = tf.gather(diag, s)
        step = tf.where(norms > 1e-20, tf.minimum(dots, 0.0) / tf.maximum(norms, 1e-20), 0.0)
        coeffs = coeffs - step[:, None] * tf.one_hot(s, t)
    return tf.reduce_sum(coeffs, axis=0)


@keras.saving.register_keras_serializable(package="mtlzoo")
class PCGrad(GramianBalancer):
    """PCGrad per shared block: project each task's gradient off the others it conflicts with, then sum.

    Args:
        space: ``"parameters"`` (the original: gradients of theta_i) or
            ``"latent"`` (the same surgery on dL_t/dZ_i, one backward pass
            through the shared blocks, as seed 001 suggests for d_z).
        seed: seeds the random task orders (with the step counter).
        **kwargs: ``Balancer`` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("pcgrad").space
        'parameters'
    """

    registry_name = "pcgrad"
    default_space = "parameters"

    def __init__(self, space: str = "parameters", seed: int = 0, **kwargs: Any):
        super().__init__(space=space, **kwargs)
        self.seed = int(seed)

    def create_state(self) -> None:
        self.steps = self.state_variable("steps")

    def weigh_blocks(self, problems) -> tuple[dict, dict]:
        counter = tf.cast(self.steps, tf.int32)
        self.steps.assign_add(1.0)
        return {p.block: pcgrad_coefficients(p.gram, tf.stack([self.seed + n, counter]))
                for n, p in enumerate(problems)}, {}

    def fallback_weights(self, size: int) -> tf.Tensor:
        return tf.ones((size,))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}
