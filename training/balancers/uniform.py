"""``uniform``: the plain sum of the task losses."""

from __future__ import annotations

import keras

from mtlzoo.training.balancers.balancer import Balancer


@keras.saving.register_keras_serializable(package="mtlzoo")
class Uniform(Balancer):
    """Minimize sum_t L_t: one backward pass, the baseline every other rule is timed against.

    Example:
        >>> model.compile(optimizer="sgd", loss="mse", balancer="uniform")   # doctest: +SKIP
    """

    registry_name = "uniform"

    def gradients(self, step):
        return step.weighted_sum_gradients({t: 1.0 for t in step.tasks}), {}
