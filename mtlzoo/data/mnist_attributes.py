"""MNIST with four attribute tasks on the same images: ``digit``, ``parity``, ``high`` and ``mod3``.

The partition-search benchmark (seed 004 §5.1, issue 7) needs several related
tasks that read the same pixels but need different amounts of capacity.
``mnist_attributes`` labels every MNIST image four times, all functions of the
MNIST class ``d``:

- ``digit``: ``d`` (10 classes);
- ``parity``: ``d % 2`` (2 classes, 1 = odd);
- ``high``: ``d >= 5`` (2 classes);
- ``mod3``: ``d % 3`` (3 classes).

Images come from ``mnist.npz`` (or IDX files) found like every MNIST-family
loader (:func:`mtlzoo.data.sources.load_mnist_family`); they are float32 in
[0, 1] of shape (28, 28, 1), labels int32.

>>> attribute_labels(np.array([0, 3, 5, 8]))["mod3"].tolist()
[0, 0, 2, 2]
"""

from __future__ import annotations

import numpy as np

from mtlzoo.data.options import check_batch_size, check_split

TASKS = ("digit", "parity", "high", "mod3")
#: Classes per task.
CLASSES = {"digit": 10, "parity": 2, "high": 2, "mod3": 3}
SPLITS = ("train", "test")


def attribute_labels(digit: np.ndarray) -> dict[str, np.ndarray]:
    """The four tasks' int32 labels of MNIST classes ``digit``.

    Args:
        digit: integer array of MNIST classes 0-9.

    Returns:
        ``{"digit", "parity", "high", "mod3"}`` int32 arrays of ``digit``'s shape.

    Example:
        >>> {k: v.tolist() for k, v in attribute_labels(np.array([4, 7])).items()}
        {'digit': [4, 7], 'parity': [0, 1], 'high': [0, 1], 'mod3': [1, 1]}
    """
    digit = np.asarray(digit)
    if digit.size and (not np.issubdtype(digit.dtype, np.integer) or digit.min() < 0 or digit.max() > 9):
        raise ValueError(f"attribute_labels needs integer MNIST classes in 0..9; got dtype {digit.dtype} "
                         f"with range [{digit.min()}, {digit.max()}].")
    digit = digit.astype(np.int32)
    return {"digit": digit, "parity": digit % 2, "high": (digit >= 5).astype(np.int32), "mod3": digit % 3}


def check_tasks(tasks) -> tuple[str, ...]:
    """``tasks`` as a tuple of distinct names of :data:`TASKS`, or a ValueError naming the bad input."""
    tasks = (tasks,) if isinstance(tasks, str) else tuple(tasks)
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown or not tasks or len(set(tasks)) != len(tasks):
        raise ValueError(f"mnist_attributes: tasks must be distinct names of {TASKS}; got {tasks}"
                         + (f" (unknown: {unknown})" if unknown else "") + ".")
    return tasks


def attribute_arrays(split: str = "train", data_dir=None, download: bool | None = None,
                     limit: int | None = None) -> dict[str, np.ndarray]:
    """One split of ``mnist_attributes`` as arrays: uint8 ``images`` and int32 labels of the four tasks.

    Args:
        split: ``"train"`` or ``"test"``.
        data_dir: where ``mnist.npz`` (or the IDX files) lives; see :func:`~mtlzoo.data.sources.data_roots`.
        download: allow a download when no local copy exists (``None``: unless ``$MTLZOO_OFFLINE``).
        limit: keep only the first ``limit`` examples of the split.

    Example:
        >>> out = attribute_arrays("test", data_dir="/work/shared/data", limit=100)  # doctest: +SKIP
        >>> out["images"].shape, sorted(out)  # doctest: +SKIP
        ((100, 28, 28), ['digit', 'high', 'images', 'mod3', 'parity'])
    """
    from mtlzoo.data.planted_mnist import _check_limit
    from mtlzoo.data.sources import load_mnist_family

    split = check_split("mnist_attributes", split, SPLITS)
    limit = _check_limit(limit)
    arrays = load_mnist_family("mnist", data_dir, download)
    images, digit = arrays[f"x_{split}"], arrays[f"y_{split}"]
    if limit is not None:
        images, digit = images[:limit], digit[:limit]
    return {"images": images, **attribute_labels(digit)}


def load_mnist_attributes(split: str = "train", batch_size: int = 256, data_dir=None, seed: int = 0,
                          download: bool | None = None, shuffle: bool | None = None, drop_remainder: bool = False,
                          limit: int | None = None, tasks=TASKS):
    """The ``mnist_attributes`` dataset: ``(image (28, 28, 1), {task: label})`` batches.

    Args:
        split: ``"train"`` (60000) or ``"test"`` (10000).
        batch_size: examples per batch.
        data_dir: where ``mnist.npz`` lives (also ``$MTLZOO_DATA_DIR``).
        seed: shuffling seed.
        download: allow a download of MNIST (``None``: unless ``$MTLZOO_OFFLINE``).
        shuffle: reshuffle every epoch (default: only for ``"train"``).
        drop_remainder: drop the last, smaller batch.
        limit: use only the first ``limit`` examples of the split.
        tasks: the subset of ``("digit", "parity", "high", "mod3")`` to yield, in this order.

    Example:
        >>> ds = load_mnist_attributes("test", batch_size=8, data_dir="/work/shared/data", limit=64,
        ...                            tasks=["parity", "high"])  # doctest: +SKIP
        >>> x, y = next(iter(ds)); tuple(x.shape), list(y)  # doctest: +SKIP
        ((8, 28, 28, 1), ['parity', 'high'])
    """
    from mtlzoo.data.pipeline import array_dataset

    check_batch_size(batch_size)
    tasks = check_tasks(tasks)
    built = attribute_arrays(split, data_dir, download, limit)
    shuffle = split == "train" if shuffle is None else bool(shuffle)
    return array_dataset(built["images"], {t: built[t] for t in tasks}, batch_size, seed=seed, shuffle=shuffle,
                         drop_remainder=drop_remainder)
