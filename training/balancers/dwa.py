"""``dwa``: Dynamic Weight Average (Liu, Johns & Davison 2019, "End-to-End Multi-Task Learning with Attention")."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtlzoo.training.balancers.balancer import Balancer
from mtlzoo.training.balancers.epoch_losses import EpochLosses, presence, stacked_values


def dwa_weights(last, previous, temperature: float = 2.0) -> np.ndarray:
    """lambda_t = T exp(r_t / temperature) / sum_s exp(r_s / temperature), r_t = L_t(e-1) / L_t(e-2).

    A task whose ratio is undefined (a loss of 0 or never seen in either epoch) gets r_t = 1.

    Args:
        last: the mean losses of the last epoch, L(e-1), shape (T,).
        previous: those of the epoch before, L(e-2).
        temperature: the softness T of the softmax (large: uniform weights).

    Example:
        >>> dwa_weights([1.0, 1.0], [2.0, 1.0]).round(4).tolist()
        [0.8756, 1.1244]
    """
    last, previous = np.asarray(last, np.float64), np.asarray(previous, np.float64)
    valid = (last > 0) & (previous > 0) & np.isfinite(last) & np.isfinite(previous)
    ratio = np.where(valid, last / np.where(valid, previous, 1.0), 1.0)
    logits = ratio / temperature
    e = np.exp(logits - logits.max())
    return len(ratio) * e / e.sum()


@keras.saving.register_keras_serializable(package="mtlzoo")
class DWA(Balancer):
    """Weight each task by how slowly its loss fell over the last two epochs (Liu et al. 2019, eq. 7).

    For epoch e (0-based), lambda(e) = :func:`dwa_weights` of the mean training losses of epochs
    e-1 and e-2; epochs 0 and 1 use lambda = 1. The network minimizes sum_t lambda_t L_t (weights
    sum to T, like ``uniform``). The losses are averaged over each epoch's batches in the train
    step and the weights recomputed in :meth:`on_epoch_end`, so the step itself only reads a
    variable. The history (running sums, L(e-1), L(e-2), the weights) is balancer state: saved
    with the model and restored by ``BackupAndRestore``. Logs ``weight_<task>``.

    Departures from the paper: a task absent from a batch (loss 0: no labels) is left out of that
    batch's average (the paper's tasks always have labels); a ratio that cannot be formed (a task
    never seen in an epoch) counts as 1. Like the paper, L_t(e) is the mean over the epoch's
    training batches.

    Args:
        temperature: the softmax temperature T (the paper uses 2).
        **kwargs: ``Balancer`` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("dwa").temperature
        2.0
    """

    registry_name = "dwa"

    def __init__(self, temperature: float = 2.0, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
                or not np.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"dwa: temperature must be a finite number > 0 (the paper uses 2), got {temperature!r}.")
        self.temperature = float(temperature)

    def create_state(self) -> None:
        size = len(self.tasks)
        self.task_weights = self.state_variable("task_weights", (size,), "ones")
        self.epoch_losses = EpochLosses(self)
        self.last_loss = self.state_variable("last_loss", (size,))        # L(e-1)
        self.previous_loss = self.state_variable("previous_loss", (size,))  # L(e-2)
        self.epochs_seen = self.state_variable("epochs_seen")

    def log_names(self) -> tuple[str, ...]:
        return tuple(f"weight_{t}" for t in self.tasks)

    def gradients(self, step):
        values = stacked_values(step, self.tasks)
        self.epoch_losses.add(values, presence(values))
        w = tf.convert_to_tensor(self.task_weights)
        grads = step.weighted_sum_gradients({t: w[k] for k, t in enumerate(self.tasks)})
        return grads, {f"weight_{t}": w[k] for k, t in enumerate(self.tasks)}

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        means, seen = self.epoch_losses.pop()
        last = np.asarray(self.last_loss.numpy(), np.float64)
        means = np.where(seen, means, last)  # a task never seen this epoch keeps its last mean
        self.previous_loss.assign(last.astype(np.float32))
        self.last_loss.assign(means.astype(np.float32))
        self.epochs_seen.assign_add(1.0)
        if self.epochs_seen.numpy() >= 2:
            weights = dwa_weights(self.last_loss.numpy(), self.previous_loss.numpy(), self.temperature)
            self.task_weights.assign(weights.astype(np.float32))
        return {}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "temperature": self.temperature}
