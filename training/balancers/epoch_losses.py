"""``EpochLosses``: each task's mean training loss over an epoch, kept as balancer state (DWA, STCH)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def presence(values) -> tf.Tensor:
    """1.0 for every task with a positive loss in this batch, else 0.0 (float32, shape (T,)).

    A task without labels in a batch (all its sample weights 0) has loss exactly 0
    (``MultiTaskModel`` divides its weighted sum by a zero total weight with
    ``divide_no_nan``); loss weightings give it weight 0 and leave it out of their
    statistics instead of dividing by its zero loss. A loss that is exactly 0 with
    labels has a zero gradient too, so leaving it out changes nothing.

    Example:
        >>> presence(tf.constant([0.5, 0.0])).numpy().tolist()
        [1.0, 0.0]
    """
    values = tf.cast(values, tf.float32)
    return tf.cast(tf.logical_and(values > 0, tf.math.is_finite(values)), tf.float32)


def stacked_values(step, tasks) -> tf.Tensor:
    """The tasks' global mean losses of the step (unscaled, equal on every replica) as one (T,) tensor."""
    return tf.stack([tf.cast(step.values[t], tf.float32) for t in tasks])


class EpochLosses:
    """Per-task sums and counts of the batch losses of the current epoch, as variables of ``balancer``.

    The variables (``<prefix>_loss_sum``, ``<prefix>_loss_count``) belong to the balancer,
    so they are saved with the model and restored by ``BackupAndRestore``; :meth:`add` runs
    in the train step (inside ``tf.function``), :meth:`pop` eagerly at the epoch's end. Only
    batches where a task is present (:func:`presence`) count towards its mean.

    Args:
        balancer: the :class:`~mtlzoo.training.balancers.Balancer`, inside its ``create_state``.
        prefix: the variables' name prefix.

    Example:
        >>> from mtlzoo import testing
        >>> from mtlzoo.training import MultiTaskModel
        >>> model = testing.tiny_tree_network(model_class=MultiTaskModel)
        >>> model.compile(optimizer="sgd", loss="mse", balancer="dwa")
        >>> model.balancer.epoch_losses.pop()[1].tolist()   # nothing seen yet
        [False, False, False]
    """

    def __init__(self, balancer, prefix: str = "epoch"):
        size = len(balancer.tasks)
        self.sums = balancer.state_variable(f"{prefix}_loss_sum", (size,))
        self.counts = balancer.state_variable(f"{prefix}_loss_count", (size,))

    def add(self, values, present) -> None:
        """Accumulate one batch: ``values`` (T,) and its :func:`presence` mask."""
        present = tf.cast(present, tf.float32)
        self.sums.assign_add(tf.where(present > 0, tf.cast(values, tf.float32), 0.0))
        self.counts.assign_add(present)

    def pop(self) -> tuple[np.ndarray, np.ndarray]:
        """``(means, seen)`` of the epoch (float64 means, 0 where a task was never seen), then reset."""
        sums = np.asarray(self.sums.numpy(), np.float64)
        counts = np.asarray(self.counts.numpy(), np.float64)
        seen = counts > 0
        means = np.where(seen, sums / np.maximum(counts, 1.0), 0.0)
        self.sums.assign(tf.zeros_like(self.sums))
        self.counts.assign(tf.zeros_like(self.counts))
        return means, seen
