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

    Works on the latent gradients of each shared block, like :class:`MGDAUB` (``space="parameters"``
    on the parameter gradients);
    unlike MGDA-UB with ``normalization="l2"`` (which weights the raw losses
    by alpha), the direction itself is built from the normalized gradients.
    A good search direction for :class:`~mtlzoo.training.ArmijoLineSearch`.

    Args: ``space``, ``solver``, ``tolerance`` as for :class:`MGDAUB` (``normalization`` is fixed to ``"l2"``).

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("edm").normalization
        'l2'
    """

    registry_name = "edm"

    def __init__(self, **kwargs: Any):
        kwargs["normalization"] = "l2"
        super().__init__(**kwargs)

    def weigh_blocks(self, problems) -> tuple[dict, dict]:
        alphas, logs = super().weigh_blocks(problems)
        weights = {}
        for p in problems:
            norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(p.gram), 0.0))
            weights[p.block] = tf.math.divide_no_nan(alphas[p.block], norms)
        return weights, logs

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("normalization", None)
        return config
