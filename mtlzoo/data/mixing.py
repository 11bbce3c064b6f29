"""Tasks with separate inputs in one stream of batches, with per-task masks (sample weights).

Every task brings its own batched stream of ``(x, y, w)`` (``w`` is 1 where the
label exists). A mixed batch has the structure ``(x, {task: y}, {task: w})``
for *all* tasks: a row coming from task ``t``'s dataset keeps its label and
weight for ``t``; for every other task its label is a placeholder 0 with
weight 0, so that task's loss and metrics ignore the row. Modes:

- ``"mixed"``: each batch concatenates one sub-batch from every task (seed 000 §4.5);
- ``"alternate"``: each batch comes from one task, round robin (seed 004 §5);
- ``"sampled"``: each batch comes from one task drawn by a curriculum (seed 004 A.2);
- ``"sequential"``: every task's (finite) stream in turn: for evaluation.

>>> import tensorflow as tf
>>> a = tf.data.Dataset.from_tensors((tf.zeros([2, 1]), tf.constant([1, 2]), tf.ones([2])))
>>> b = tf.data.Dataset.from_tensors((tf.ones([1, 1]), tf.constant([5]), tf.ones([1])))
>>> x, y, w = next(iter(mix_streams({"a": a, "b": b}, "mixed")))
>>> y["b"].numpy().tolist(), w["b"].numpy().tolist()
([0, 0, 5], [0.0, 0.0, 1.0])
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import tensorflow as tf

MODES = ("mixed", "alternate", "sampled", "sequential")
AUTOTUNE = tf.data.AUTOTUNE


def _zeros_like_spec(spec: tf.TensorSpec, rows):
    return tf.zeros(tf.concat([[rows], tf.constant(spec.shape[1:].as_list(), tf.int32)], 0), spec.dtype)


def _check_specs(streams: Mapping[str, tf.data.Dataset]) -> dict[str, tf.TensorSpec]:
    specs = {}
    for task, ds in streams.items():
        spec = ds.element_spec
        if not isinstance(spec, tuple) or len(spec) != 3:
            raise ValueError(f"Task {task!r}: a stream must yield batched (x, y, w) triples, got {spec}.")
        specs[task] = spec
    return specs


def one_task_batch(task: str, tasks, specs):
    """A function turning task ``task``'s ``(x, y, w)`` batch into the full ``(x, {t: y}, {t: w})`` batch.

    Args:
        task: the task the rows belong to.
        tasks: all task names.
        specs: ``{task: (x_spec, y_spec, w_spec)}`` of the per-task streams.

    Example:
        >>> spec = (tf.TensorSpec([None, 1]), tf.TensorSpec([None], tf.int32), tf.TensorSpec([None]))
        >>> x, y, w = one_task_batch("a", ("a", "b"), {"a": spec, "b": spec})(
        ...     tf.zeros([2, 1]), tf.constant([3, 4]), tf.ones([2]))
        >>> y["b"].numpy().tolist(), w["b"].numpy().tolist()
        ([0, 0], [0.0, 0.0])
    """

    def expand(x, y, w):
        rows = tf.shape(x)[0]
        ys = {t: y if t == task else _zeros_like_spec(specs[t][1], rows) for t in tasks}
        ws = {t: tf.cast(w, tf.float32) if t == task else _zeros_like_spec(specs[t][2], rows) for t in tasks}
        return x, ys, ws

    return expand


def mix_streams(streams: Mapping[str, tf.data.Dataset], mode: str, steps: int | None = None,
                choices: tf.data.Dataset | None = None) -> tf.data.Dataset:
    """Combine per-task ``(x, y, w)`` batch streams into masked multi-task batches.

    Args:
        streams: ``{task: dataset}``; every dataset yields batched ``(x, y, w)``
            with the same input shape and dtype.
        mode: one of ``mixed``, ``alternate``, ``sampled``, ``sequential`` (module docstring).
        steps: batches per epoch (``take(steps)``); needed when the streams repeat.
        choices: for ``"sampled"``: a dataset of task indices (see
            :meth:`~mtlzoo.data.TemperatureCurriculum.choices`).

    Example:
        >>> a = tf.data.Dataset.from_tensors((tf.zeros([2, 1]), tf.constant([1, 2]), tf.ones([2]))).repeat()
        >>> b = tf.data.Dataset.from_tensors((tf.ones([2, 1]), tf.constant([5, 6]), tf.ones([2]))).repeat()
        >>> ds = mix_streams({"a": a, "b": b}, "alternate", steps=4)
        >>> [int(x[0, 0]) for x, _, _ in ds]
        [0, 1, 0, 1]
    """
    if mode not in MODES:
        raise ValueError(f"Unknown mixing mode {mode!r}; modes: {', '.join(MODES)}.")
    tasks = tuple(streams)
    specs = _check_specs(streams)
    singles = [streams[t].map(one_task_batch(t, tasks, specs), num_parallel_calls=AUTOTUNE) for t in tasks]
    if mode == "mixed":
        ds = tf.data.Dataset.zip(tuple(streams[t] for t in tasks)).map(
            lambda *parts: _concat(tasks, specs, parts), num_parallel_calls=AUTOTUNE)
    elif mode == "sequential":
        ds = singles[0]
        for other in singles[1:]:
            ds = ds.concatenate(other)
    else:
        if mode == "alternate":
            choices = tf.data.Dataset.range(len(tasks)).repeat()
        elif choices is None:
            raise ValueError("mode='sampled' needs a dataset of task indices (choices=curriculum.choices(seed)).")
        ds = tf.data.Dataset.choose_from_datasets(singles, choices, stop_on_empty_dataset=True)
    if steps is not None:
        ds = ds.take(int(steps))
    return ds.prefetch(AUTOTUNE)


def _concat(tasks, specs, parts):
    xs = [p[0] for p in parts]
    rows = [tf.shape(x)[0] for x in xs]
    ys, ws = {}, {}
    for i, t in enumerate(tasks):
        ys[t] = tf.concat([parts[j][1] if j == i else _zeros_like_spec(specs[t][1], rows[j])
                           for j in range(len(tasks))], 0)
        ws[t] = tf.concat([tf.cast(parts[j][2], tf.float32) if j == i else _zeros_like_spec(specs[t][2], rows[j])
                           for j in range(len(tasks))], 0)
    return tf.concat(xs, 0), ys, ws


def sub_batch_sizes(batch_size: int, num_tasks: int) -> list[int]:
    """Split ``batch_size`` rows as evenly as possible over ``num_tasks`` sub-batches.

    Args:
        batch_size: rows per mixed batch.
        num_tasks: number of tasks (each gets at least one row).

    Example:
        >>> sub_batch_sizes(256, 3)
        [86, 85, 85]
    """
    if batch_size < num_tasks:
        raise ValueError(f"A mixed batch needs at least one row per task: batch_size {batch_size} < "
                         f"{num_tasks} tasks.")
    base, extra = divmod(int(batch_size), int(num_tasks))
    return [base + (i < extra) for i in range(num_tasks)]


def epoch_steps(mode: str, sizes: Mapping[str, int], batch_size: int) -> int | None:
    """Batches per epoch: ``mixed`` covers the largest task once; one-task modes cover all examples once.

    Args:
        mode: the mixing mode (``sequential`` epochs end with the data: ``None``).
        sizes: ``{task: examples}``.
        batch_size: rows per batch.

    Example:
        >>> epoch_steps("mixed", {"a": 60, "b": 30}, 10), epoch_steps("alternate", {"a": 60, "b": 30}, 10)
        (12, 9)
    """
    if mode == "sequential":
        return None
    if mode == "mixed":
        subs = sub_batch_sizes(batch_size, len(sizes))
        return max(math.ceil(n / s) for n, s in zip(sizes.values(), subs))
    return math.ceil(sum(sizes.values()) / batch_size)
