"""``AccuracyCurriculum``: one task per batch, drawn inversely to its training accuracy (seed 004 A.2).

For datasets whose tasks share one input (``planted_mnist``, ``mnist_attributes``): every
batch carries labels of every task, and the curriculum keeps only one task's sample
weights, drawn with ``p_t = softmax((1 - acc_t) / temperature)``. The network
(:class:`PartitionedNetwork`) then steps only that task's weights, momentum slots and batch
norm statistics; the other tasks' stay exactly still.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

#: Training-log metric names tried, in order, for ``<task>_<metric>``.
METRICS = ("accuracy", "sparse_categorical_accuracy", "acc")


class AccuracyCurriculum:
    """Sample one task per batch with probability ``∝ softmax((1 - train_accuracy) / temperature)``.

    Seed 004 A.2 trains each mini-batch on one task, chosen "inversely proportional to
    their current training accuracy" with a temperature: tasks that lag behind are
    sampled more often; ``temperature=inf`` samples uniformly, a small temperature almost
    always picks the weakest task. Accuracies start equal (sampling starts uniform).

    How it plugs into Keras: :meth:`apply` maps a batched ``(x, {task: y})`` dataset to
    ``(x, {task: y}, {task: w})`` where ``w`` is ones for the drawn task and zeros for
    the others; the draw reads the probabilities from a ``tf.Variable``, so updates take
    effect for batches produced afterwards. :meth:`callback` returns a Keras callback
    that, at the end of each epoch, reads ``<task>_accuracy`` from the training logs
    (the accuracy over the batches that trained that task) and updates the
    probabilities; a task not drawn during the epoch keeps its previous accuracy
    (its logged value, 0/0, would be meaningless).

    Args:
        tasks: the task names (the keys of the dataset's label dict).
        temperature: > 0; ``math.inf`` for uniform sampling.
        metrics: metric names tried for ``<task>_<metric>`` in the logs.

    Example:
        >>> cur = AccuracyCurriculum(["digit", "parity"], temperature=0.5)
        >>> cur.probabilities().tolist()
        [0.5, 0.5]
        >>> cur.update({"digit": 0.6, "parity": 0.9})
        >>> cur.probabilities().round(3).tolist()   # softmax([0.8, 0.2])
        [0.646, 0.354]
        >>> # model.fit(cur.apply(train_ds, seed=0), callbacks=[cur.callback()], ...)
    """

    def __init__(self, tasks: Sequence[str], temperature: float = 1.0, metrics: Sequence[str] = METRICS):
        if isinstance(tasks, str) or not isinstance(tasks, (Sequence, Mapping)):
            raise ValueError(f"tasks must be a list of task names; got {tasks!r}.")
        self.tasks = tuple(str(t) for t in tasks)
        if not self.tasks or len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"tasks must name at least one task, each once; got {list(self.tasks)}.")
        try:
            temperature = float(temperature)
        except (TypeError, ValueError):
            raise ValueError(f"temperature must be a number > 0 (math.inf for uniform); got {temperature!r}.") from None
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0 (math.inf for uniform sampling); got {temperature!r}.")
        self.temperature = temperature
        self.metrics = tuple(metrics)
        n = len(self.tasks)
        self.accuracy = tf.Variable(np.zeros(n), dtype=tf.float64, trainable=False, name="curriculum_accuracy")
        #: batches drawn per task so far (counted by the input pipeline)
        self.drawn = tf.Variable(np.zeros(n), dtype=tf.int64, trainable=False, name="curriculum_drawn")

    # -- probabilities -------------------------------------------------------------------------------------
    def probabilities(self, accuracies=None) -> np.ndarray:
        """Each task's sampling probability, for the current accuracies or the given ones.

        Args:
            accuracies: None, a sequence (tasks' order) or a ``{task: accuracy}`` dict.

        Example:
            >>> AccuracyCurriculum(["a", "b"], temperature=math.inf).probabilities([0.1, 0.9]).tolist()
            [0.5, 0.5]
        """
        if accuracies is None:
            acc = self.accuracy.numpy()
        elif isinstance(accuracies, Mapping):
            acc = np.array([float(accuracies[t]) for t in self.tasks])
        else:
            acc = np.asarray(accuracies, dtype=np.float64)
        if acc.shape != (len(self.tasks),):
            raise ValueError(f"accuracies must give one value per task {list(self.tasks)}; got shape {acc.shape}.")
        if math.isinf(self.temperature):
            return np.full(len(self.tasks), 1.0 / len(self.tasks))
        logits = (1.0 - acc) / self.temperature
        weights = np.exp(logits - logits.max())
        return weights / weights.sum()

    def _probabilities_tensor(self):
        if math.isinf(self.temperature):
            return tf.fill([len(self.tasks)], tf.constant(1.0 / len(self.tasks), tf.float64))
        return tf.nn.softmax((1.0 - self.accuracy.read_value()) / self.temperature)

    def update(self, accuracies: Mapping[str, float]) -> None:
        """Set some tasks' training accuracy (values are clipped to [0, 1]; NaN is ignored).

        Example:
            >>> cur = AccuracyCurriculum(["a", "b"]); cur.update({"b": 0.5}); cur.accuracies()
            {'a': 0.0, 'b': 0.5}
        """
        unknown = sorted(set(accuracies) - set(self.tasks))
        if unknown:
            raise ValueError(f"Unknown task(s) {unknown}; the curriculum's tasks are {list(self.tasks)}.")
        values = self.accuracy.numpy().copy()
        for task, acc in accuracies.items():
            if np.isfinite(float(acc)):
                values[self.tasks.index(task)] = min(max(float(acc), 0.0), 1.0)
        self.accuracy.assign(values)

    def accuracies(self) -> dict[str, float]:
        """``{task: accuracy}`` as currently used for sampling."""
        return {t: float(a) for t, a in zip(self.tasks, self.accuracy.numpy())}

    # -- pipeline ------------------------------------------------------------------------------------------
    def apply(self, dataset, seed: int = 0):
        """``(x, {task: y}[, w])`` batches -> ``(x, {task: y}, {task: w})`` with one task's weights kept.

        The drawn task's weights are ones (or the given weights), every other task's zeros.
        Deterministic for a ``seed`` and a history of :meth:`update` calls; each epoch
        draws fresh numbers.

        Args:
            dataset: a batched ``tf.data.Dataset`` whose labels are a dict holding every task.
            seed: the draws' seed.

        Example:
            >>> ds = tf.data.Dataset.from_tensor_slices((np.zeros((4, 1)), {"a": [0, 1, 2, 3], "b": [0] * 4}))
            >>> x, y, w = next(iter(AccuracyCurriculum(["a", "b"]).apply(ds.batch(4))))
            >>> sorted(w), float(w["a"][0] + w["b"][0])
            (['a', 'b'], 1.0)
        """
        if not isinstance(dataset, tf.data.Dataset):
            raise ValueError(f"AccuracyCurriculum.apply needs a batched tf.data.Dataset; got {type(dataset).__name__}.")
        spec = dataset.element_spec
        labels = spec[1] if isinstance(spec, tuple) and len(spec) in (2, 3) else None
        if not isinstance(labels, Mapping) or set(self.tasks) - set(labels):
            raise ValueError(f"AccuracyCurriculum.apply needs (x, {{task: y}}) batches with labels for every task "
                             f"{list(self.tasks)}; got element spec {spec}.")
        n, tasks = len(self.tasks), self.tasks

        def pick(random, batch):
            x, y = batch[0], batch[1]
            given = batch[2] if len(batch) == 3 else None
            u = tf.cast(random % 4294967296, tf.float64) / 4294967296.0
            cdf = tf.cumsum(self._probabilities_tensor())
            k = tf.minimum(tf.searchsorted(cdf, tf.reshape(u, [1]), side="right")[0], n - 1)
            count = self.drawn.assign_add(tf.one_hot(k, n, dtype=tf.int64))
            with tf.control_dependencies([count]):
                size = tf.shape(tf.nest.flatten(y[tasks[0]])[0])[0]
                weights = {}
                for t, task in enumerate(tasks):
                    w = tf.fill([size], tf.cast(tf.equal(k, t), tf.float32))
                    if given is not None:
                        g = given.get(task) if isinstance(given, Mapping) else given
                        w = w if g is None else w * tf.cast(g, tf.float32)
                    weights[task] = w
            return x, {t: y[t] for t in tasks}, weights

        random = tf.data.Dataset.random(seed=int(seed), rerandomize_each_iteration=True)
        return tf.data.Dataset.zip(random, dataset).map(pick)

    def callback(self) -> keras.callbacks.Callback:
        """A Keras callback that updates the accuracies from the training logs at each epoch's end."""
        return _CurriculumUpdate(self)

    def accuracies_from(self, logs) -> dict[str, float]:
        """``{task: accuracy}`` for the tasks whose training accuracy appears in ``logs``."""
        from mtlzoo.data.curriculum_callback import task_accuracies

        return task_accuracies(logs, self.tasks, self.metrics)


class _CurriculumUpdate(keras.callbacks.Callback):
    """Feeds each drawn task's epoch training accuracy back into an :class:`AccuracyCurriculum`."""

    def __init__(self, curriculum: AccuracyCurriculum):
        super().__init__()
        self.curriculum = curriculum
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self.curriculum.drawn.numpy().copy()

    def on_epoch_end(self, epoch, logs=None):
        start = self._start if self._start is not None else np.zeros(len(self.curriculum.tasks), np.int64)
        drawn = self.curriculum.drawn.numpy() - start
        found = self.curriculum.accuracies_from(logs)
        self.curriculum.update({t: a for t, a in found.items() if drawn[self.curriculum.tasks.index(t)] > 0})
