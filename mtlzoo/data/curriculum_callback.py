"""Keras callback that feeds each task's training accuracy back into a task-sampling curriculum."""

from __future__ import annotations

from collections.abc import Sequence

import keras

_DEFAULT_METRICS = ("accuracy", "sparse_categorical_accuracy", "binary_accuracy", "acc")


def task_accuracies(logs, tasks, metrics) -> dict[str, float]:
    """``{task: value}`` of the first of ``metrics`` logged as ``<task>_<metric>`` for each task in ``logs``.

    Example:
        >>> task_accuracies({"a_accuracy": 0.5, "b_loss": 1.0}, ["a", "b"], ["accuracy"])
        {'a': 0.5}
    """
    found = {}
    for task in tasks:
        for metric in metrics:
            value = (logs or {}).get(f"{task}_{metric}")
            if value is not None:
                found[task] = float(value)
                break
    return found


class CurriculumCallback(keras.callbacks.Callback):
    """Read ``{task}_{metric}`` from the training logs and update a :class:`TemperatureCurriculum`.

    Keras logs a dict-output model's per-task metric as ``"<task>_<metric>"``
    (e.g. ``"mnist_accuracy"`` for ``metrics={"mnist": ["accuracy"]}``); its value
    is the running training accuracy of the current epoch. Tasks with no such
    key in the logs keep their last accuracy.

    Args:
        curriculum: a :class:`~mtlzoo.data.TemperatureCurriculum`, or a dataset
            from :func:`mtlzoo.data.get` built with a curriculum (it carries it as
            ``dataset.mtlzoo_curriculum``).
        metrics: metric names tried in order for each task.
        every: update every this many training batches (and at each epoch end).

    Example:
        >>> from mtlzoo.data import TemperatureCurriculum
        >>> cur = TemperatureCurriculum(["a", "b"])
        >>> cb = CurriculumCallback(cur)
        >>> cb.on_train_batch_end(0, {"a_accuracy": 0.2, "b_accuracy": 0.8, "loss": 1.0})
        >>> cur.accuracies()
        {'a': 0.2, 'b': 0.8}
    """

    def __init__(self, curriculum, metrics: Sequence[str] = _DEFAULT_METRICS, every: int = 1):
        super().__init__()
        curriculum = getattr(curriculum, "mtlzoo_curriculum", curriculum)
        if not hasattr(curriculum, "update") or not hasattr(curriculum, "tasks"):
            raise ValueError("CurriculumCallback needs a TemperatureCurriculum or a dataset built with "
                             "curriculum='temperature'.")
        if int(every) < 1:
            raise ValueError(f"every must be >= 1, got {every}.")
        self.curriculum = curriculum
        self.metrics = tuple(metrics)
        self.every = int(every)

    def accuracies_from(self, logs) -> dict[str, float]:
        """``{task: accuracy}`` for the tasks whose accuracy appears in ``logs``."""
        return task_accuracies(logs, self.curriculum.tasks, self.metrics)

    def on_train_batch_end(self, batch, logs=None):
        if (int(batch) + 1) % self.every == 0:
            self._update(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._update(logs)

    def _update(self, logs):
        found = self.accuracies_from(logs)
        if found:
            self.curriculum.update(found)
