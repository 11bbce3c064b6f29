"""``edm``: "follow the bisector": the min-norm point of the unit-normalized latent gradients (seed 001 [35])."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mtlzoo.training.balancers.mgda_ub import MGDAUB


@keras.saving.register_keras_serializable(package="mtlzoo")
class EDM(MGDAUB):
    """Equiangular direction: d = sum_t alpha_t g_t / ||g_t|| with alpha the min-norm point of the unit
    gradients g_t / ||g_t||, so d makes the same angle with every task's gradient (when all are active).

    Works on the latent gradients of each shared block, like :class:`MGDAUB`;
    unlike MGDA-UB with ``normalization="l2"`` (which weights the raw losses
    by alpha), the direction itself is built from the normalized gradients.
    A good search direction for :class:`~mtlzoo.training.ArmijoLineSearch`.

    Args: ``solver``, ``tolerance`` as for :class:`MGDAUB` (``normalization`` is fixed to ``"l2"``).

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("edm").normalization
        'l2'
    """

    registry_name = "edm"

    def __init__(self, **kwargs: Any):
        kwargs["normalization"] = "l2"
        super().__init__(**kwargs)

    def gradients(self, step):
        latent_grads = step.latent_gradients()
        grams = step.latent_grams(latent_grads)
        alphas, stationary = self.solve_blocks(step, grams)
        weights = {}
        for block, _, _ in step.groups.shared:
            norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(grams[block]), 0.0))
            weights[block] = tf.math.divide_no_nan(alphas[block], norms)
        grads = step.assemble_latent(latent_grads, weights, {})
        return step.finish(grads), {"pareto_stationary": stationary}

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("normalization", None)
        return config
