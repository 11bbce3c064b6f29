"""Single-task teacher networks for distillation scoring (seed 004 §4.2), and data as NumPy arrays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from mtlzoo.models.partitioned_network import PartitionedNetwork


def as_arrays(data, what: str = "data", limit: int | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(images, {task: labels})`` as float32 (N, 28, 28, 1) and int32 arrays.

    Args:
        data: a ``(images, {task: labels})`` pair of arrays, or a ``tf.data.Dataset`` of such batches.
        what: the argument's name, for error messages.
        limit: keep at most this many examples (a dataset is read only that far).

    Example:
        >>> x, y = as_arrays((np.zeros((3, 28, 28, 1)), {"t": [0, 1, 1]}))
        >>> x.dtype.name, y["t"].tolist()
        ('float32', [0, 1, 1])
    """
    if isinstance(data, tf.data.Dataset):
        xs, ys, n = [], {}, 0
        for batch in data:
            x, y = batch[0], batch[1]
            xs.append(np.asarray(x))
            for t, v in y.items():
                ys.setdefault(t, []).append(np.asarray(v))
            n += len(xs[-1])
            if limit is not None and n >= limit:
                break
        if not xs:
            raise ValueError(f"{what}: the dataset yielded no batch.")
        data = (np.concatenate(xs), {t: np.concatenate(v) for t, v in ys.items()})
    if not (isinstance(data, (tuple, list)) and len(data) >= 2 and isinstance(data[1], Mapping)):
        raise ValueError(f"{what} must be an (images, {{task: labels}}) pair or a tf.data.Dataset of such batches; "
                         f"got {type(data).__name__}.")
    x = np.asarray(data[0], dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    y = {str(t): np.asarray(v).astype(np.int32).reshape(-1) for t, v in data[1].items()}
    bad = [t for t, v in y.items() if len(v) != len(x)]
    if bad:
        raise ValueError(f"{what}: labels of task(s) {bad} do not have one row per image ({len(x)}).")
    if limit is not None:
        x, y = x[:limit], {t: v[:limit] for t, v in y.items()}
    return x, y


def train_teachers(train_data, tasks, width: int = 8, hidden: int = 50, epochs: int = 2, batch_size: int = 64,
                   learning_rate: float = 0.05, momentum: float = 0.9, seed: int = 0,
                   verbose: int = 0) -> dict[str, PartitionedNetwork]:
    """One single-task :class:`PartitionedNetwork` (every channel) per task, trained normally.

    Every teacher starts from the same seeded initialisation of its shared layers (conv1,
    conv2, dense), the stand-in for the seed's common pretrained model (see the module doc).

    Args:
        train_data: ``(images, {task: labels})`` arrays or a ``tf.data.Dataset`` of such batches.
        tasks: ``{task: classes}``, or task names (classes = largest label + 1).
        width, hidden: the networks' conv1 channels and dense units.
        epochs, batch_size: training length and batch size.
        learning_rate, momentum: SGD settings (seed 004 A.2 uses 0.05 with momentum).
        seed: initialisation and shuffling seed.
        verbose: passed to ``fit``.

    Returns:
        ``{task: teacher}`` in the order of ``tasks``.

    Example:
        >>> x = np.random.default_rng(0).random((16, 28, 28, 1), dtype=np.float32)
        >>> nets = train_teachers((x, {"odd": np.arange(16) % 2}), ["odd"], width=2, hidden=4, epochs=1)
        >>> nets["odd"].tasks, nets["odd"].task_classes
        (['odd'], {'odd': 2})
    """
    x, y = as_arrays(train_data, "train_data")
    classes = _task_classes(tasks, y)
    teachers = {}
    for task, k in classes.items():
        keras.utils.set_random_seed(seed)  # the same initial shared weights for every teacher
        net = PartitionedNetwork({task: k}, width=width, hidden=hidden, learning_rate=learning_rate,
                                 momentum=momentum, name=f"teacher_{task}")
        net.build((None, 28, 28, 1))
        net.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        net.fit(x, {task: y[task]}, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=verbose)
        teachers[task] = net
    return teachers


def _task_classes(tasks, labels: Mapping[str, np.ndarray]) -> dict[str, int]:
    if isinstance(tasks, Mapping):
        out = {str(t): int(k) for t, k in tasks.items()}
    elif isinstance(tasks, Sequence) and not isinstance(tasks, str):
        missing = [t for t in tasks if t not in labels]
        if missing:
            raise ValueError(f"train_teachers: no labels for task(s) {missing}; the data has {sorted(labels)}.")
        out = {str(t): int(labels[t].max()) + 1 for t in tasks}
    else:
        raise ValueError(f"tasks must be a {{task: classes}} dict or a list of task names; got {tasks!r}.")
    missing = [t for t in out if t not in labels]
    if not out or missing:
        raise ValueError(f"train_teachers: tasks {list(out)} need labels in the data (missing: {missing}); "
                         f"the data has {sorted(labels)}.")
    return out
