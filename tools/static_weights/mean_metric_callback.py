"""``MeanMetricCallback``: adds the mean over tasks of a per-task metric to the epoch logs."""

from __future__ import annotations

from collections.abc import Sequence

import keras


class MeanMetricCallback(keras.callbacks.Callback):
    """Write ``mean_<metric>`` and ``val_mean_<metric>`` into the logs at the end of every epoch.

    ``MultiTaskModel`` logs one value per task, ``<task>_<metric>`` (and
    ``val_<task>_<metric>`` with validation data); a tuner needs one number.
    Place this callback before the ones that read the objective (keras-tuner's
    checkpoint and reporting callbacks, ``History``): Keras hands the same logs
    dict to every callback in order, so the added keys reach them all.

    Args:
        tasks: the task names.
        metric: the per-task metric's name in the logs (``"accuracy"``).

    Raises:
        ValueError: at the end of an epoch whose logs lack a task's metric (the
            message lists the logged keys); validation keys are only required
            when any ``val_`` key is logged.

    Example:
        >>> cb = MeanMetricCallback(["left", "right"])
        >>> logs = {"left_accuracy": 0.5, "right_accuracy": 0.75, "val_left_accuracy": 0.25,
        ...         "val_right_accuracy": 0.5}
        >>> cb.on_epoch_end(0, logs)
        >>> logs["mean_accuracy"], logs["val_mean_accuracy"]
        (0.625, 0.375)
    """

    def __init__(self, tasks: Sequence[str], metric: str = "accuracy"):
        super().__init__()
        if not tasks:
            raise ValueError("MeanMetricCallback needs at least one task.")
        self.tasks = tuple(tasks)
        self.metric = metric

    @property
    def name(self) -> str:
        """The training log's key, ``mean_<metric>`` (the validation key adds ``val_``)."""
        return f"mean_{self.metric}"

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        prefixes = [""] + (["val_"] if any(k.startswith("val_") for k in logs) else [])
        for prefix in prefixes:
            keys = [f"{prefix}{task}_{self.metric}" for task in self.tasks]
            missing = [k for k in keys if k not in logs]
            if missing:
                raise ValueError(f"MeanMetricCallback: the logs have no {missing}; logged: {sorted(logs)}. "
                                 f"Compile the model with metrics=[{self.metric!r}] or pick a logged metric.")
            logs[f"{prefix}{self.name}"] = float(sum(float(logs[k]) for k in keys) / len(keys))
