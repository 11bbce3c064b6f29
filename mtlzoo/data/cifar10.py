"""CIFAR-10 as 10 one-vs-rest binary tasks (seed 001 §5.2).

Each task ``c`` (``airplane`` ... ``truck``) asks "is this image of class c?":
a float32 label of shape ``(1,)``, 1.0 for the images of class ``c`` and 0.0
for the rest, which fits a one-logit sigmoid head (``mtlzoo.heads`` ``binary``).
Images are float32 in [0, 1], shape (32, 32, 3).

Sources: ``cifar-10-batches-py/`` (the Python pickles keras.datasets caches in
``~/.keras/datasets``) in a data root, else tensorflow-datasets' ``cifar10``
(prepared locally or downloaded when allowed).

>>> one_vs_rest([0, 2, 2], ("airplane", "automobile", "bird"))["bird"].ravel().tolist()
[0.0, 1.0, 1.0]
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from mtlzoo.data.catalog import CIFAR10_CLASSES
from mtlzoo.data.cifar_unpickler import CifarUnpickler
from mtlzoo.data.options import check_batch_size, check_split
from mtlzoo.data.sources import data_roots

_SPLITS = ("train", "test")
_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def one_vs_rest(labels, tasks=CIFAR10_CLASSES) -> dict[str, np.ndarray]:
    """``{class name: (N, 1) float32 0/1}`` from integer labels, for the given class names.

    Args:
        labels: CIFAR-10 class indices.
        tasks: the class names to make tasks of.

    Example:
        >>> one_vs_rest([1, 0], ("automobile",))["automobile"].tolist()
        [[1.0], [0.0]]
    """
    labels = np.asarray(labels).reshape(-1)
    return {c: (labels == CIFAR10_CLASSES.index(c)).astype(np.float32)[:, None] for c in tasks}


def read_cifar_pickles(folder: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read the Python-pickle CIFAR-10 batches of ``split`` from ``folder`` (``cifar-10-batches-py``).

    The files are the official distribution (pickled dicts). They are read with
    :class:`~mtlzoo.data.cifar_unpickler.CifarUnpickler`, which admits only the arrays,
    lists, numbers, strings and bytes the format holds, so a crafted file raises
    instead of running code; the contents are checked too (uint8 ``data`` of
    ``N x 3072`` pixels, ``N`` integer ``labels`` in 0-9).

    Args:
        folder: the ``cifar-10-batches-py`` folder.
        split: ``"train"`` (``data_batch_1..5``) or ``"test"`` (``test_batch``).

    Raises:
        ValueError: a file that is not a CIFAR-10 batch (crafted, corrupt or truncated), naming it.

    Example:
        >>> x, y = read_cifar_pickles("~/.keras/datasets/cifar-10-batches-py", "test")  # doctest: +SKIP
    """
    xs, ys = [], []
    for name in _BATCHES[split]:
        path = Path(folder).expanduser() / name
        data, labels = _read_batch(path)
        xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(labels)
    return np.concatenate(xs), np.concatenate(ys)


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(uint8 (N, 3072), int32 (N,))`` of one batch file, or a one-line ValueError naming it."""
    fix = "delete it and extract cifar-10-python.tar.gz again (or pass another --data-dir)."
    try:
        with open(path, "rb") as fh:
            batch = CifarUnpickler(fh).load()
    except CifarUnpickler.Refused as error:
        raise ValueError(f"{path} is not a CIFAR-10 batch: {error}; {fix}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            OverflowError, MemoryError, RecursionError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is a corrupt CIFAR-10 batch ({type(error).__name__}: {str(error)[:120]}); "
                         f"{fix}") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path} is not a CIFAR-10 batch (it holds a {type(batch).__name__}, not a dict); {fix}")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        what = f"{data.dtype} {list(data.shape)}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{path}: 'data' must be uint8 pixels of shape [N, 3072], got {what}; {fix}")
    if not isinstance(labels, list) or len(labels) != data.shape[0] \
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 9 for v in labels):
        raise ValueError(f"{path}: 'labels' must be a list of {data.shape[0]} class indices 0-9; {fix}")
    return np.ascontiguousarray(data), np.asarray(labels, np.int32)


def cifar10_arrays(split: str, data_dir=None, download: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images ``(N, 32, 32, 3)`` and int labels of ``split`` from the first source found.

    Args:
        split: ``"train"`` or ``"test"``.
        data_dir: searched first (see :func:`~mtlzoo.data.sources.data_roots`).
        download: allow tensorflow-datasets to download.

    Example:
        >>> x, y = cifar10_arrays("test", download=False)  # doctest: +SKIP
    """
    looked = []
    for root in data_roots(data_dir):
        folder = root / "cifar-10-batches-py"
        looked.append(str(folder / "{data_batch_1..5, test_batch}"))
        if all((folder / f).is_file() for f in _BATCHES[split]):
            return read_cifar_pickles(folder, split)
    from mtlzoo.data.tfds_source import as_arrays, tfds_dataset

    how = ("extract https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz into <data_dir> (it holds "
           "cifar-10-batches-py/), or let tensorflow-datasets download 'cifar10' (download=True).")
    arrays = as_arrays(tfds_dataset("cifar10", split, data_dir, download, how, looked), ("image", "label"))
    return np.asarray(arrays["image"], np.uint8), np.asarray(arrays["label"], np.int32)


def load_cifar10(split: str = "train", batch_size: int = 256, data_dir=None, seed: int = 0,
                 download: bool | None = None, tasks=CIFAR10_CLASSES, shuffle: bool | None = None,
                 drop_remainder: bool = False):
    """The ``cifar10`` dataset: ``(image (32, 32, 3), {class: (1,) 0/1})`` batches.

    Args:
        split: ``"train"`` (50k) or ``"test"`` (10k).
        batch_size: examples per batch (256 in seed 001).
        data_dir: a root holding ``cifar-10-batches-py/`` or a prepared tfds ``cifar10``.
        seed: shuffling.
        download: allow tensorflow-datasets to download (``None``: unless ``$MTLZOO_OFFLINE``).
        tasks: which one-vs-rest tasks (class names) to yield.
        shuffle: reshuffle every epoch (default: only for ``"train"``).
        drop_remainder: drop the last, smaller batch.

    Example:
        >>> ds = load_cifar10("test", tasks=("cat", "dog"))  # doctest: +SKIP
    """
    from mtlzoo.data.pipeline import array_dataset

    split = check_split("cifar10", split, _SPLITS)
    check_batch_size(batch_size)
    unknown = sorted(set(tasks) - set(CIFAR10_CLASSES))
    if unknown or not tasks:
        raise ValueError(f"cifar10: unknown task(s) {unknown}; tasks are the classes {', '.join(CIFAR10_CLASSES)}.")
    x, y = cifar10_arrays(split, data_dir, download)
    shuffle = split == "train" if shuffle is None else bool(shuffle)
    return array_dataset(x, one_vs_rest(y, tuple(tasks)), batch_size, seed=seed, shuffle=shuffle,
                         drop_remainder=drop_remainder)
