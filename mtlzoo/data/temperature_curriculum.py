"""Seed 004 A.2's task-sampling curriculum: batches drawn from tasks inversely to their training accuracy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


class TemperatureCurriculum:
    """Task probabilities ``p_t ∝ max(acc_t, floor) ** (-1 / temperature)``, fed back during training.

    With ``temperature=1`` a task is sampled inversely proportionally to its
    current training accuracy (seed 004 A.2: "tasks that lag behind get sampled
    more often"); a larger temperature flattens the distribution towards uniform
    (``inf`` is uniform), a smaller one focuses on the weakest task. Before any
    accuracy is reported every task has accuracy 1, so sampling starts uniform.
    The accuracies live in a ``tf.Variable`` that the input pipeline reads, so
    :class:`~mtlzoo.data.CurriculumCallback` (or :meth:`update`) changes the
    sampling of batches not yet produced (a prefetched batch or two lag behind).

    Args:
        tasks: the task names, in the pipeline's order.
        temperature: > 0; see above.
        floor: accuracies below it count as ``floor`` (keeps the weights finite).

    Example:
        >>> cur = TemperatureCurriculum(["a", "b"], temperature=1.0)
        >>> cur.probabilities().round(2).tolist()
        [0.5, 0.5]
        >>> cur.update({"a": 0.9, "b": 0.3})
        >>> cur.probabilities().round(2).tolist()
        [0.25, 0.75]
    """

    def __init__(self, tasks: Sequence[str], temperature: float = 1.0, floor: float = 0.01):
        import tensorflow as tf

        self.tasks = tuple(tasks)
        if len(self.tasks) < 2 or len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"A curriculum needs two or more distinct tasks, got {list(tasks)}.")
        if not float(temperature) > 0:
            raise ValueError(f"temperature must be > 0 (inf for uniform sampling), got {temperature}.")
        if not 0 < float(floor) <= 1:
            raise ValueError(f"floor must be in (0, 1], got {floor}.")
        self.temperature = float(temperature)
        self.floor = float(floor)
        self.accuracy = tf.Variable(np.ones(len(self.tasks)), dtype=tf.float64, trainable=False,
                                    name="curriculum_accuracy")

    def get_config(self) -> dict:
        """The constructor arguments (JSON-serializable)."""
        return {"tasks": list(self.tasks), "temperature": self.temperature, "floor": self.floor}

    def update(self, accuracies: Mapping[str, float]) -> None:
        """Set the current training accuracy of some tasks (others keep theirs).

        Example:
            >>> cur = TemperatureCurriculum(["a", "b", "c"])
            >>> cur.update({"c": 0.5}); cur.accuracies()
            {'a': 1.0, 'b': 1.0, 'c': 0.5}
        """
        unknown = sorted(set(accuracies) - set(self.tasks))
        if unknown:
            raise ValueError(f"Unknown task(s) {unknown}; the curriculum's tasks: {', '.join(self.tasks)}.")
        values = self.accuracy.numpy().copy()
        for task, acc in accuracies.items():
            acc = float(acc)
            if np.isfinite(acc):
                values[self.tasks.index(task)] = min(max(acc, 0.0), 1.0)
        self.accuracy.assign(values)

    def accuracies(self) -> dict[str, float]:
        """``{task: accuracy}`` as currently used."""
        return {t: float(a) for t, a in zip(self.tasks, self.accuracy.numpy())}

    def probabilities(self, accuracies: Sequence[float] | None = None) -> np.ndarray:
        """The sampling probability of each task (for the current or the given accuracies)."""
        acc = np.maximum(np.asarray(self.accuracy.numpy() if accuracies is None else accuracies, float),
                         self.floor)
        logits = -np.log(acc) / self.temperature
        weights = np.exp(logits - logits.max())
        return weights / weights.sum()

    def _probabilities_tensor(self):
        import tensorflow as tf

        acc = tf.maximum(self.accuracy.read_value(), self.floor)
        return tf.nn.softmax(-tf.math.log(acc) / self.temperature)

    def choices(self, seed: int = 0):
        """An endless ``tf.data.Dataset`` of task indices drawn with the current probabilities.

        Deterministic for ``seed`` and a given history of :meth:`update` calls;
        each new iteration (epoch) draws fresh numbers.

        Example:
            >>> cur = TemperatureCurriculum(["a", "b"]); cur.update({"a": 0.01, "b": 1.0})
            >>> sum(int(i) == 0 for i in cur.choices(seed=1).take(100)) > 90  # p(a) = 0.99
            True
        """
        import tensorflow as tf

        last = len(self.tasks) - 1

        def pick(r):
            u = tf.cast(r % 4294967296, tf.float64) / 4294967296.0
            cdf = tf.cumsum(self._probabilities_tensor())
            return tf.minimum(tf.searchsorted(cdf, tf.reshape(u, [1]), side="right")[0], last)

        from mtlzoo.data.epoch_clock import pass_seeds

        def draws(pass_seed):  # stateless: the draws of epoch e are a function of (seed, e)
            return tf.data.Dataset.counter().map(lambda i: tf.random.stateless_uniform(
                [], seed=tf.random.experimental.stateless_fold_in(pass_seed, i), minval=0, maxval=2**62,
                dtype=tf.int64))

        random = pass_seeds(seed).flat_map(draws)
        return random.map(pick).map(lambda i: tf.cast(i, tf.int64))


def resolve_curriculum(dataset: str, tasks: Sequence[str], split: str, mode: str | None, curriculum,
                       temperature: float, train_mode: str) -> tuple[str, TemperatureCurriculum | None]:
    """Check a multi-input dataset's ``curriculum`` / ``mode`` options and fill in the defaults.

    Args:
        dataset: the dataset's name, for error messages.
        tasks: the dataset's tasks (a curriculum must sample exactly these).
        split: the split; a curriculum only samples training batches.
        mode: the requested mixing mode, or ``None`` for the default.
        curriculum: ``None``, ``"temperature"`` or a :class:`TemperatureCurriculum`.
        temperature: temperature of a curriculum made from ``"temperature"``.
        train_mode: the default mode for the training split without a curriculum.

    Returns:
        ``(mode, curriculum)``: ``"sampled"`` with a curriculum, else ``mode`` or
        ``train_mode`` (train) / ``"sequential"`` (other splits).

    Example:
        >>> resolve_curriculum("toy", ("a", "b"), "test", None, None, 1.0, "mixed")
        ('sequential', None)
    """
    tasks = tuple(tasks)
    if curriculum is not None and split != "train":
        raise ValueError(f"{dataset}: a curriculum samples training batches; use it with split='train'.")
    if curriculum == "temperature":
        curriculum = TemperatureCurriculum(tasks, temperature=temperature)
    elif curriculum is not None and not isinstance(curriculum, TemperatureCurriculum):
        raise ValueError(f"Unknown curriculum {curriculum!r}; use 'temperature' or a TemperatureCurriculum.")
    if curriculum is not None and tuple(curriculum.tasks) != tasks:
        raise ValueError(f"The curriculum's tasks {curriculum.tasks} differ from the dataset's {tasks}.")
    mode = mode or ("sampled" if curriculum is not None else train_mode if split == "train" else "sequential")
    if (mode == "sampled") != (curriculum is not None):
        raise ValueError(f"{dataset}: mode='sampled' goes with a curriculum and a curriculum with it.")
    return mode, curriculum
