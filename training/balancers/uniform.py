"""``uniform``: the plain sum of the task losses."""

from __future__ import annotations

import keras

from mtlzoo.training.balancers.balancer import Balancer


@keras.saving.register_keras_serializable(package="mtlzoo")
class Uniform(Balancer):
    """Minimize sum_t L_t: one backward pass, the baseline every other rule is timed against.

    Example:
        >>> import numpy as np
        >>> from mtlzoo.testing import tiny_tree_network
        >>> from mtlzoo.training import MultiTaskModel
        >>> model = tiny_tree_network(model_class=MultiTaskModel)           # tasks a, b, c
        >>> x = np.ones((4, 3), "float32")
        >>> y = {"a": np.zeros((4, 2), "float32"), "b": np.zeros((4, 3), "float32"), "c": np.zeros((4, 4), "float32")}
        >>> model.compile(optimizer="sgd", loss="mse", balancer="uniform")
        >>> sorted(model.fit(x, y, epochs=1, verbose=0).history)
        ['a_loss', 'b_loss', 'c_loss', 'loss']
    """

    registry_name = "uniform"

    def gradients(self, step):
        return step.weighted_sum_gradients({t: 1.0 for t in step.tasks}), {}
