"""``gls``: the geometric loss strategy (Chennupati et al. 2019, "MultiNet++: Multi-Stream Feature Aggregation and
Geometric Loss Strategy for Multi-Task Learning", CVPR workshops)."""

from __future__ import annotations

import keras
import tensorflow as tf

from mtlzoo.training.balancers.balancer import Balancer
from mtlzoo.training.balancers.epoch_losses import presence, stacked_values


def gls_weights(values) -> tf.Tensor:
    """w_t = dG/dL_t = G / (n L_t) with G = (prod_t L_t)^(1/n) over the n tasks present (L_t > 0).

    So sum_t w_t grad L_t = grad G. Absent tasks (L_t = 0) get weight 0 and are left out of
    the product; with no task present every weight is 0. Computed in log space (no overflow
    of the product).

    Example:
        >>> gls_weights(tf.constant([1.0, 4.0])).numpy().tolist()
        [1.0, 0.25]
    """
    values = tf.cast(values, tf.float32)
    present = presence(values)
    count = tf.reduce_sum(present)
    logs = tf.where(present > 0, tf.math.log(tf.where(present > 0, values, 1.0)), 0.0)
    geometric = tf.exp(tf.math.divide_no_nan(tf.reduce_sum(logs), count))
    safe = tf.where(present > 0, values, 1.0)
    return tf.where(present > 0, geometric / (tf.maximum(count, 1.0) * safe), 0.0)


@keras.saving.register_keras_serializable(package="mtlzoo")
class GLS(Balancer):
    """Minimize the geometric mean of the task losses, (prod_t L_t)^(1/T) (Chennupati et al. 2019, eq. 3).

    The train step takes one backward pass of sum_t w_t L_t with w_t = G / (T L_t) held constant
    (:func:`gls_weights`), whose gradient is exactly that of G: the weights come from the global
    mean losses (equal on every replica), so replicas agree. A task with a small loss gets a
    large weight: GLS is invariant to each loss's scale. Logs ``weight_<task>``.

    Departures from the paper: the product runs over the tasks present in the batch (a task
    without labels has L_t = 0, which would make G and every gradient 0), so an unlabelled task
    neither zeroes nor NaNs the update. G has the scale of one loss, not of the sum: with plain
    SGD, its steps are about 1/T of ``uniform``'s at the same learning rate.

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("gls").name
        'gls'
    """

    registry_name = "gls"

    def log_names(self) -> tuple[str, ...]:
        return tuple(f"weight_{t}" for t in self.tasks)

    def gradients(self, step):
        w = gls_weights(stacked_values(step, self.tasks))
        grads = step.weighted_sum_gradients({t: w[k] for k, t in enumerate(self.tasks)})
        return grads, {f"weight_{t}": w[k] for k, t in enumerate(self.tasks)}
