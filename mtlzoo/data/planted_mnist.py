"""MNIST with planted task structure: three tasks on the same images, two related and one unrelated.

The acceptance test of the greedy min-stress split search (seed 000 §5) needs a
dataset whose right answer is known. ``planted_mnist`` labels every MNIST image
three times:

- ``digit``: the MNIST class;
- ``shifted``: ``(digit + 3) % 10``, the same information relabelled (a task
  that should share every block with ``digit``);
- ``teacher``: the argmax of a fixed, randomly initialised and never trained
  CNN over the image: other features of the same pixels (normalized mutual
  information with ``digit`` about 0.15), so a search should split it off.

The teacher is ``conv 5x5/2 (8, ReLU) -> conv 3x3/2 (16, ReLU) -> dense 10``,
its weights drawn with He scaling from ``np.random.default_rng(teacher_seed)``
and its forward pass computed in NumPy float64 (deterministic across runs and
machines; about a second for the 70k images, on one BLAS thread). Each of
the 10 logit columns is standardised with the mean and standard deviation over the
full *train* split (the same statistics for both splits, so train and test
labels come from one function), and the label is the argmax; the classes come
out roughly balanced (9-12% each for the default seed). Nothing is cached on
disk; the train statistics are kept in memory for the process's next loads.

Images come from ``mnist.npz`` (or IDX files) found like every MNIST-family
loader (:func:`mtlzoo.data.sources.load_mnist_family`); they are float32 in
[0, 1] of shape (28, 28, 1), labels int32.

>>> w = teacher_weights(7)
>>> [w[k].shape for k in ("conv1", "conv2", "dense")]
[(5, 5, 1, 8), (3, 3, 8, 16), (400, 10)]
"""

from __future__ import annotations

import hashlib

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mtlzoo.data.options import check_batch_size, check_split

TASKS = ("digit", "shifted", "teacher")
SPLITS = ("train", "test")
#: ``shifted = (digit + SHIFT) % 10``.
SHIFT = 3
#: The default teacher seed.
TEACHER_SEED = 1234
#: Teacher layers: (kernel, stride, output channels) of the two convolutions, then a dense layer to 10.
_CONVS = (("conv1", 5, 2, 8), ("conv2", 3, 2, 16))
_CLASSES = 10
#: Images per forward-pass chunk (float64 patches of 500 images stay small and cache-friendly).
_CHUNK = 500
#: Train-split statistics and labels of recent ``(images digest, teacher_seed)`` pairs, in memory only.
_TRAIN_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
_CACHE_SIZE = 4


def teacher_weights(teacher_seed: int = TEACHER_SEED, image_side: int = 28) -> dict[str, np.ndarray]:
    """The teacher CNN's fixed random weights, drawn in a fixed order from ``default_rng(teacher_seed)``.

    Kernels are He-scaled normals (``std = sqrt(2 / fan_in)``), biases normals
    with ``std = 0.1``, the dense layer ``std = 1 / sqrt(fan_in)``.

    Args:
        teacher_seed: the only source of randomness; equal seeds give equal weights.
        image_side: input side (28 for MNIST); sets the dense layer's input size.

    Returns:
        ``{"conv1", "conv1_bias", "conv2", "conv2_bias", "dense", "dense_bias"}``,
        kernels as ``(k, k, in, out)`` float64 arrays.

    Example:
        >>> a, b = teacher_weights(3), teacher_weights(3)
        >>> all(np.array_equal(a[k], b[k]) for k in a), bool((a["conv1"] != teacher_weights(4)["conv1"]).any())
        (True, True)
    """
    rng = np.random.default_rng(int(teacher_seed))
    weights, channels, side = {}, 1, int(image_side)
    for name, k, stride, out in _CONVS:
        weights[name] = rng.standard_normal((k, k, channels, out)) * np.sqrt(2.0 / (k * k * channels))
        weights[f"{name}_bias"] = rng.standard_normal(out) * 0.1
        channels, side = out, (side - k) // stride + 1
    fan_in = side * side * channels
    weights["dense"] = rng.standard_normal((fan_in, _CLASSES)) / np.sqrt(fan_in)
    weights["dense_bias"] = rng.standard_normal(_CLASSES) * 0.1
    return weights


def _conv_relu(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """A 'valid' strided convolution plus ReLU, as one matrix product over im2col patches."""
    k = kernel.shape[0]
    patches = sliding_window_view(x, (k, k), axis=(1, 2))[:, ::stride, ::stride]  # (N, H', W', C, k, k)
    n, h, w = patches.shape[:3]
    rows = np.ascontiguousarray(patches.transpose(0, 1, 2, 4, 5, 3)).reshape(n * h * w, -1)
    out = rows @ kernel.reshape(-1, kernel.shape[-1]) + bias
    return np.maximum(out, 0.0).reshape(n, h, w, -1)


def teacher_logits(images: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
    """The untrained teacher's raw logits, computed in float64 chunks.

    Args:
        images: uint8 ``(N, 28, 28)`` (or ``(N, 28, 28, 1)``) images, pixels 0-255;
            the teacher sees them scaled to [0, 1], like the models do.
        weights: :func:`teacher_weights`'s output.

    Returns:
        float64 logits ``(N, 10)``.

    Example:
        >>> x = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
        >>> teacher_logits(x, teacher_weights()).shape
        (3, 10)
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"teacher_logits needs images (N, H, W), got shape {images.shape}.")
    from threadpoolctl import threadpool_limits  # ships with scikit-learn

    out = np.empty((len(images), _CLASSES))
    # One BLAS thread: these thin products gain nothing from threads, which slow down 4x on a busy machine.
    with threadpool_limits(limits=1, user_api="blas"):
        for start in range(0, len(images), _CHUNK):
            h = images[start:start + _CHUNK, :, :, None].astype(np.float64) / 255.0
            for name, _, stride, _ in _CONVS:
                h = _conv_relu(h, weights[name], weights[f"{name}_bias"], stride)
            out[start:start + _CHUNK] = h.reshape(len(h), -1) @ weights["dense"] + weights["dense_bias"]
    return out


def teacher_labels(train_images: np.ndarray, *others: np.ndarray, teacher_seed: int = TEACHER_SEED,
                   cache: bool = True) -> tuple[np.ndarray, ...]:
    """Teacher labels: argmax of logits standardised per class with the *train* images' statistics.

    Args:
        train_images: the full train split (it sets each logit column's mean and std).
        *others: further image arrays (e.g. the test split) labelled with the same statistics.
        teacher_seed: the teacher's weights.
        cache: reuse the train split's statistics and labels from an earlier call
            in this process (keyed by a digest of ``train_images`` and the seed;
            nothing is written to disk).

    Returns:
        int32 labels for ``train_images``, then one array per ``others``.

    Example:
        >>> x = np.random.default_rng(1).integers(0, 256, (40, 28, 28), dtype=np.uint8)
        >>> train, test = teacher_labels(x, x[:5])
        >>> train.shape, bool((test == train[:5]).all())
        ((40,), True)
    """
    train_images = np.ascontiguousarray(train_images)
    weights = teacher_weights(teacher_seed, train_images.shape[1])
    key = (hashlib.blake2b(train_images.data, digest_size=16).hexdigest(), train_images.shape, int(teacher_seed))
    stats = _TRAIN_CACHE.get(key) if cache else None
    if stats is None:
        logits = teacher_logits(train_images, weights)
        mean, std = logits.mean(axis=0), logits.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        stats = (mean, std, np.argmax((logits - mean) / std, axis=1).astype(np.int32))
        if cache:
            while len(_TRAIN_CACHE) >= _CACHE_SIZE:
                _TRAIN_CACHE.pop(next(iter(_TRAIN_CACHE)), None)
            _TRAIN_CACHE[key] = stats
    return (stats[2].copy(), *(_standardised_argmax(x, weights, stats) for x in others))


def _standardised_argmax(images: np.ndarray, weights: dict[str, np.ndarray], stats: tuple) -> np.ndarray:
    mean, std = stats[0], stats[1]
    return np.argmax((teacher_logits(images, weights) - mean) / std, axis=1).astype(np.int32)


def planted_arrays(split: str = "train", data_dir=None, download: bool | None = None,
                   teacher_seed: int = TEACHER_SEED, limit: int | None = None) -> dict[str, np.ndarray]:
    """One split of ``planted_mnist`` as arrays: uint8 ``images`` and int32 ``digit``, ``shifted``, ``teacher``.

    Args:
        split: ``"train"`` or ``"test"``.
        data_dir: where ``mnist.npz`` (or the IDX files) lives; see :func:`~mtlzoo.data.sources.data_roots`.
        download: allow a download when no local copy exists (``None``: unless ``$MTLZOO_OFFLINE``).
        teacher_seed: the teacher's weights.
        limit: keep only the first ``limit`` examples of the split (the teacher's
            statistics still come from the full train split).

    Example:
        >>> out = planted_arrays("test", data_dir="/work/shared/data", limit=100)  # doctest: +SKIP
        >>> out["images"].shape, sorted(out)  # doctest: +SKIP
        ((100, 28, 28), ['digit', 'images', 'shifted', 'teacher'])
    """
    from mtlzoo.data.sources import load_mnist_family

    split = check_split("planted_mnist", split, SPLITS)
    limit = _check_limit(limit)
    arrays = load_mnist_family("mnist", data_dir, download)
    images, digit = arrays[f"x_{split}"], arrays[f"y_{split}"].astype(np.int32)
    if limit is not None:
        images, digit = images[:limit], digit[:limit]
    if split == "train":  # the statistics need the full split anyway: label it, keep the first rows
        teacher = teacher_labels(arrays["x_train"], teacher_seed=teacher_seed)[0][: len(images)]
    else:
        teacher = teacher_labels(arrays["x_train"], images, teacher_seed=teacher_seed)[1]
    return {"images": images, "digit": digit, "shifted": ((digit + SHIFT) % _CLASSES).astype(np.int32),
            "teacher": teacher}


def load_planted_mnist(split: str = "train", batch_size: int = 256, data_dir=None, seed: int = 0,
                       download: bool | None = None, shuffle: bool | None = None, drop_remainder: bool = False,
                       teacher_seed: int = TEACHER_SEED, limit: int | None = None, tasks=TASKS):
    """The ``planted_mnist`` dataset: ``(image (28, 28, 1), {"digit", "shifted", "teacher"})`` batches.

    Args:
        split: ``"train"`` (60000) or ``"test"`` (10000).
        batch_size: examples per batch.
        data_dir: where ``mnist.npz`` lives (also ``$MTLZOO_DATA_DIR``).
        seed: shuffling seed (the labels do not depend on it).
        download: allow a download of MNIST (``None``: unless ``$MTLZOO_OFFLINE``).
        shuffle: reshuffle every epoch (default: only for ``"train"``).
        drop_remainder: drop the last, smaller batch.
        teacher_seed: the random teacher's weights (see :func:`teacher_weights`).
        limit: use only the first ``limit`` examples of the split.
        tasks: the subset of ``("digit", "shifted", "teacher")`` to yield.

    Example:
        >>> ds = load_planted_mnist("test", batch_size=8, data_dir="/work/shared/data", limit=64)  # doctest: +SKIP
        >>> x, y = next(iter(ds)); tuple(x.shape), sorted(y)  # doctest: +SKIP
        ((8, 28, 28, 1), ['digit', 'shifted', 'teacher'])
    """
    from mtlzoo.data.pipeline import array_dataset

    check_batch_size(batch_size)
    tasks = tuple(tasks)
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown or not tasks or len(set(tasks)) != len(tasks):
        raise ValueError(f"planted_mnist: tasks must be distinct names of {TASKS}, got {tasks}.")
    built = planted_arrays(split, data_dir, download, teacher_seed, limit)
    shuffle = split == "train" if shuffle is None else bool(shuffle)
    return array_dataset(built["images"], {t: built[t] for t in tasks}, batch_size, seed=seed, shuffle=shuffle,
                         drop_remainder=drop_remainder)


def _check_limit(limit) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise ValueError(f"limit must be a positive integer (the first n examples) or None, got {limit!r}.")
    return int(limit)
