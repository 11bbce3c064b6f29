"""``uncertainty``: Kendall et al.'s homoscedastic-uncertainty weighting (seed 003)."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mtlzoo.training.balancers.balancer import Balancer


@keras.saving.register_keras_serializable(package="mtlzoo")
class Uncertainty(Balancer):
    """Minimize sum_t L_t / sigma_t^2 + log sigma_t, learning s_t = log sigma_t^2 with the network.

    With s_t = log sigma_t^2 the objective is sum_t exp(-s_t) L_t + s_t / 2; the
    s_t are trainable variables of the balancer, updated by the model's
    optimizer and saved with the model.

    Args:
        initial_log_variance: the starting s_t (0: every weight starts at 1).
        **kwargs: ``Balancer`` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("uncertainty").initial_log_variance
        0.0
    """

    registry_name = "uncertainty"

    def __init__(self, initial_log_variance: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.initial_log_variance = float(initial_log_variance)

    def create_state(self) -> None:
        self.log_variances = self.state_variable(
            "log_variances", (len(self.tasks),),
            keras.initializers.Constant(self.initial_log_variance), trainable=True)

    def log_names(self) -> tuple[str, ...]:
        return tuple(f"weight_{t}" for t in self.tasks)

    def gradients(self, step):
        s = self.log_variances
        # the regularizer is scaled like the losses (1/replicas, loss scale) so replica sums add up
        scale = step.loss_scale / float(step.replicas())
        grads = step.weighted_sum_gradients(
            lambda: {t: tf.exp(-s[k]) for k, t in enumerate(self.tasks)},
            extra=lambda: 0.5 * scale * tf.reduce_sum(s))
        weights = tf.exp(-tf.convert_to_tensor(s))
        return grads, {f"weight_{t}": weights[k] for k, t in enumerate(self.tasks)}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "initial_log_variance": self.initial_log_variance}
