"""``famo``: Fast Adaptive Multitask Optimization (Liu, Feng, Stone & Liu 2023, NeurIPS)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtlzoo.training.balancers.balancer import Balancer
from mtlzoo.training.balancers.epoch_losses import presence, stacked_values

OPTIMIZERS = ("adam", "sgd")
#: Adam's constants for the logits (PyTorch's defaults, which the authors' code uses)
ADAM_BETAS, ADAM_EPSILON = (0.9, 0.999), 1e-8


def famo_weights(logits, values, min_losses=0.0, epsilon: float = 1e-8) -> tf.Tensor:
    """The weights of grad L_t in FAMO's update: c z_t / (L_t - L*_t) with z = softmax(logits),
    c = 1 / sum_s z_s / (L_s - L*_s) (sum 1), over the tasks present (weight 0 for the others).

    That is the gradient of sum_t (z_t / c) log(L_t - L*_t) with z and c held constant.

    Example:
        >>> famo_weights(tf.zeros(2), tf.constant([1.0, 3.0])).numpy().round(4).tolist()
        [0.75, 0.25]
    """
    values = tf.cast(values, tf.float32)
    present = presence(values)
    z = tf.nn.softmax(tf.cast(logits, tf.float32))
    gap = tf.maximum(values - min_losses, 0.0) + epsilon
    q = tf.where(present > 0, z / gap, 0.0)
    return tf.math.divide_no_nan(q, tf.reduce_sum(q))


def famo_logit_gradient(logits, before, after, min_losses=0.0, epsilon: float = 1e-8) -> tf.Tensor:
    """d/dxi of z^T delta with z = softmax(xi), delta_t = log(L_t(before) - L*_t) - log(L_t(after) - L*_t)
    (0 for absent tasks): (diag(z) - z z^T) delta."""
    before, after = tf.cast(before, tf.float32), tf.cast(after, tf.float32)
    present = presence(before)
    delta = (tf.math.log(tf.maximum(before - min_losses, 0.0) + epsilon)
             - tf.math.log(tf.maximum(after - min_losses, 0.0) + epsilon))
    delta = tf.where(present > 0, delta, 0.0)
    z = tf.nn.softmax(tf.cast(logits, tf.float32))
    return z * (delta - tf.reduce_sum(z * delta))


@keras.saving.register_keras_serializable(package="mtlzoo")
class FAMO(Balancer):
    """Decrease every task's log-loss at the same rate, with O(1) extra cost (Liu et al. 2023, Alg. 1).

    Each step, with task logits xi and z = softmax(xi): the network takes a step along
    sum_t c z_t grad L_t / L_t, c = (sum_t z_t / L_t)^-1 (:func:`famo_weights`, the gradient of
    the weighted log-losses); then the train step evaluates the same batch's losses at the updated
    weights (``needs_losses_after_update``), delta_t = log L_t(before) - log L_t(after), and
    the logits move against d = (diag(z) - z z^T) delta, the gradient of z^T delta, with weight
    decay gamma: ``optimizer="adam"`` (the authors' code: Adam with learning rate beta and L2
    weight decay gamma added to d) or ``"sgd"`` (Alg. 1 as printed: xi <- xi - beta (d + gamma xi)).
    The logits and Adam's moments are balancer state (saved, restored by ``BackupAndRestore``),
    updated from global means, so replicas agree. Logs ``weight_<task>``: the weights of grad L_t.

    Departures: the losses after the update come from an inference-mode forward pass
    (``training=False``: no dropout, batch-norm moving statistics) while the losses before are the
    training pass's; with dropout, delta_t carries log(L_train / L_inference), and only its
    differences between tasks move the logits (d ignores a shift common to all tasks). A task
    absent from the batch (loss 0) gets weight 0 and delta 0 instead of dominating c through
    1 / (0 + epsilon). The authors' optional clipping of the shared gradient (``max_norm``) is
    left to the Keras optimizer's ``clipnorm``. The weights sum to 1 (``uniform``'s to T): with
    plain SGD, FAMO's steps are about 1/T of uniform's at the same learning rate.

    Args:
        learning_rate: beta, the logits' step size (0.025, the authors' code).
        weight_decay: gamma, the logits' decay (0.01: the authors' ``famo.py``; LibMTL uses 0.001).
        optimizer: ``"adam"`` or ``"sgd"`` for the logits.
        min_losses: L*_t, lower bounds of the losses (default 0; one number or one per task).
        epsilon: added to L_t - L*_t before dividing or taking logs (1e-8 as in the code).
        **kwargs: ``Balancer`` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("famo").needs_losses_after_update
        True
    """

    registry_name = "famo"
    needs_losses_after_update = True

    def __init__(self, learning_rate: float = 0.025, weight_decay: float = 0.01, optimizer: str = "adam",
                 min_losses=None, epsilon: float = 1e-8, **kwargs: Any):
        super().__init__(**kwargs)
        for label, value, low in (("learning_rate", learning_rate, False), ("weight_decay", weight_decay, True),
                                  ("epsilon", epsilon, False)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) \
                    or value < 0 or (value == 0 and not low):
                raise ValueError(f"famo: {label} must be a finite number {'>=' if low else '>'} 0, got {value!r}.")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"famo: optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}.")
        self.learning_rate = float(learning_rate)
        self.weight_decay = float(weight_decay)
        self.optimizer = optimizer
        self.min_losses = None if min_losses is None else (
            float(min_losses) if np.ndim(min_losses) == 0 else [float(v) for v in min_losses])
        self.epsilon = float(epsilon)

    def create_state(self) -> None:
        size = len(self.tasks)
        if isinstance(self.min_losses, list) and len(self.min_losses) != size:
            raise ValueError(f"famo: {len(self.min_losses)} min_losses for {size} tasks {list(self.tasks)}.")
        self._floor = np.broadcast_to(np.float32(0.0) if self.min_losses is None
                                      else np.asarray(self.min_losses, np.float32), (size,)).copy()
        self.logits = self.state_variable("logits", (size,))
        self.adam_m = self.state_variable("adam_m", (size,))
        self.adam_v = self.state_variable("adam_v", (size,))
        self.adam_steps = self.state_variable("adam_steps")

    def log_names(self) -> tuple[str, ...]:
        return tuple(f"weight_{t}" for t in self.tasks)

    def gradients(self, step):
        w = famo_weights(self.logits, stacked_values(step, self.tasks), self._floor, self.epsilon)
        grads = step.weighted_sum_gradients({t: w[k] for k, t in enumerate(self.tasks)})
        return grads, {f"weight_{t}": w[k] for k, t in enumerate(self.tasks)}

    def after_update(self, step, values) -> None:
        xi = tf.convert_to_tensor(self.logits)
        d = famo_logit_gradient(xi, stacked_values(step, self.tasks),
                                tf.stack([tf.cast(values[t], tf.float32) for t in self.tasks]),
                                self._floor, self.epsilon)
        g = d + self.weight_decay * xi
        ok = tf.reduce_all(tf.math.is_finite(g))  # a non-finite loss leaves the logits as they are
        g = tf.where(ok, g, tf.zeros_like(g))
        if self.optimizer == "sgd":
            self.logits.assign(tf.where(ok, xi - self.learning_rate * g, xi))
            return
        (b1, b2), t = ADAM_BETAS, self.adam_steps + tf.cast(ok, tf.float32)
        m = tf.where(ok, b1 * self.adam_m + (1 - b1) * g, self.adam_m)
        v = tf.where(ok, b2 * self.adam_v + (1 - b2) * tf.square(g), self.adam_v)
        t_safe = tf.maximum(t, 1.0)
        update = (m / (1 - b1 ** t_safe)) / (tf.sqrt(v / (1 - b2 ** t_safe)) + ADAM_EPSILON)
        self.logits.assign(tf.where(ok, xi - self.learning_rate * update, xi))
        self.adam_m.assign(m)
        self.adam_v.assign(v)
        self.adam_steps.assign(t)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "learning_rate": self.learning_rate, "weight_decay": self.weight_decay,
                "optimizer": self.optimizer, "min_losses": self.min_losses, "epsilon": self.epsilon}
