"""MultiMNIST built like the authors' loader (seed 002 §4.1), and the shifted overlay of seed 001 §5.1.

Sener & Koltun's ``multi_mnist_loader.py`` does, for every image ``i`` of a split:
pick a partner ``j`` uniformly at random from the same split
(``np.random.permutation(n)[:1]``, so ``j == i`` is possible); draw a 36x36
canvas with image ``i`` at rows/cols 0-27 and image ``j`` at rows/cols 6-33,
taking the pixel-wise maximum where they overlap; resize it to 28x28 with
``scipy.misc.imresize(canvas, (28, 28), interp="nearest")``. Labels are
``left = y[i]``, ``right = y[j]``. ``imresize`` calls PIL's nearest resize,
which samples source pixel ``floor((k + 0.5) * 36 / 28)`` for output pixel
``k``, after ``bytescale``-ing the float canvas to 0-255 (a contrast stretch
that changes only the canvases whose maximum is below 255, about 1% of
training canvases: MNIST has images peaking at 254). Both are reproduced here
exactly, vectorized. Images come out as float32 in [0, 1], shape (28, 28, 1)
(the authors further normalize with MNIST's mean/std in their transform; a
model can do that with a ``Normalization`` layer). The shifted overlay of seed
001 lives in :mod:`mtlzoo.data.multimnist_shift`.

>>> import numpy as np
>>> nearest_indices(36, 28)[:6].tolist()
[0, 1, 3, 4, 5, 7]
"""

from __future__ import annotations

import numpy as np

from mtlzoo.data.options import check_batch_size, check_limit, check_split, stable_seed
from mtlzoo.data.sources import load_mnist_family

#: Offset of the partner digit on the canvas (rows/cols 6-33 for 28x28 digits).
OFFSET = 6
#: Side of the authors' canvas (rows/cols 34-35 stay empty: they used a 36x36 array).
CANVAS = 36
SPLITS = ("train", "test")


def nearest_indices(src: int, dst: int) -> np.ndarray:
    """Source index of each output pixel in PIL's nearest resize from ``src`` to ``dst`` pixels.

    Args:
        src: input size (36 for the MultiMNIST canvas).
        dst: output size (28).

    Example:
        >>> nearest_indices(36, 28)[-3:].tolist()
        [32, 34, 35]
    """
    return np.minimum(np.floor((np.arange(dst) + 0.5) * src / dst).astype(np.int64), src - 1)


def multimnist_canvas(left: np.ndarray, right: np.ndarray, offset: int = OFFSET, size: int = CANVAS) -> np.ndarray:
    """The authors' canvas: ``left`` at the top-left, ``right`` shifted by ``offset``, maximum on overlap.

    Args:
        left, right: uint8 images ``(N, H, H)`` (or one ``(H, H)`` image each).
        offset: rows/cols the partner moves down and right (6 for MNIST).
        size: the canvas side (36 for MNIST: rows/cols ``H + offset`` and up stay empty).

    Returns:
        uint8 canvases ``(N, size, size)``.

    Example:
        >>> c = multimnist_canvas(np.full((28, 28), 9, "uint8"), np.full((28, 28), 5, "uint8"))
        >>> c.shape, int(c[0, 0]), int(c[10, 10]), int(c[33, 33]), int(c[0, 33]), int(c[35, 35])
        ((36, 36), 9, 9, 5, 0, 0)
    """
    left, right = np.asarray(left, np.uint8), np.asarray(right, np.uint8)
    if left.shape != right.shape:
        raise ValueError(f"left and right images differ in shape: {left.shape} vs {right.shape}.")
    h = left.shape[-1]
    if size < h + offset:
        raise ValueError(f"canvas size {size} cannot hold a {h}px digit at offset {offset}.")
    canvas = np.zeros(left.shape[:-2] + (size, size), np.uint8)
    canvas[..., :h, :h] = left
    box = (..., slice(offset, offset + h), slice(offset, offset + h))
    np.maximum(canvas[box], right, out=canvas[box])
    return canvas


def byte_scale(images: np.ndarray, cmin: np.ndarray, cmax: np.ndarray, in_place: bool = False) -> np.ndarray:
    """``scipy.misc.bytescale`` per image: map ``[cmin, cmax]`` to ``[0, 255]``, round half up.

    Only images whose range is not already ``[0, 255]`` change; ``cmin``/``cmax``
    are each image's range before any resize (as in ``imresize``).

    Args:
        images: uint8 images ``(N, H, W)``.
        cmin, cmax: each image's minimum and maximum.
        in_place: overwrite ``images`` instead of copying.

    Example:
        >>> byte_scale(np.array([[[0, 127, 254]]], np.uint8), np.array([0]), np.array([254])).tolist()
        [[[0, 128, 255]]]
    """
    out = images if in_place else images.copy()
    todo = np.flatnonzero((cmin != 0) | (cmax != 255))
    if todo.size:
        lo = cmin[todo].astype(np.float64)
        span = cmax[todo].astype(np.float64) - lo
        scale = 255.0 / np.where(span == 0, 1.0, span)
        data = (images[todo].astype(np.float64) - lo[:, None, None]) * scale[:, None, None]
        out[todo] = (np.clip(data, 0, 255) + 0.5).astype(np.uint8)
    return out


def build_multimnist(images: np.ndarray, labels: np.ndarray, seed: int = 0, split: str = "train",
                     pairs_per_image: int = 1, offset: int = OFFSET, size: int = CANVAS,
                     scale: bool = True) -> dict[str, np.ndarray]:
    """Build MultiMNIST from one split's images, vectorized.

    Args:
        images: uint8 ``(N, H, W)`` source digits (square).
        labels: ``(N,)`` their labels.
        seed: partner-choice seed (with ``split``, so train and test differ).
        split: ``"train"`` or ``"test"`` (salts the seed).
        pairs_per_image: partners per image (the authors use 1); rows are
            ordered ``i * pairs_per_image + j`` as in their loader.
        offset: the partner's offset on the canvas.
        size: the canvas side before the nearest resize back to ``H``.
        scale: apply ``imresize``'s ``bytescale`` as the authors' loader does.

    Returns:
        ``{"images": uint8 (N*k, H, W), "left": labels, "right": labels,
        "source": first digit's index, "partner": partner's index}``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> out = build_multimnist(rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), np.arange(6), seed=1)
        >>> out["images"].shape, bool((out["right"] == np.arange(6)[out["partner"]]).all())
        ((6, 28, 28), True)
    """
    images, labels = np.asarray(images, np.uint8), np.asarray(labels).reshape(-1)
    n, h, w = images.shape
    if h != w or len(labels) != n:
        raise ValueError(f"build_multimnist needs square images (N, H, H) and N labels; got {images.shape}, "
                         f"{labels.shape}.")
    k = int(pairs_per_image)
    rng = stable_seed(seed, split_salt(split))
    partner = rng.integers(0, n, size=(n, k)).reshape(-1)
    source = np.repeat(np.arange(n), k)
    idx = nearest_indices(size, h)
    left_part = _placed(images, idx, 0, h)
    if k > 1:
        left_part = np.take(left_part, source, axis=0)
    out = np.maximum(left_part, np.take(_placed(images, idx, offset, h), partner, axis=0), out=left_part)
    if scale:
        peak = images.reshape(n, -1).max(axis=1)
        out = byte_scale(out, np.zeros(n * k, np.uint8), np.maximum(peak[source], peak[partner]), in_place=True)
    return {"images": out, "left": labels[source].astype(np.int32), "right": labels[partner].astype(np.int32),
            "source": source, "partner": partner}


def _placed(images: np.ndarray, idx: np.ndarray, at: int, size: int) -> np.ndarray:
    """Each image drawn at ``(at, at)`` on an empty canvas, then nearest-resampled at ``idx``."""
    keep = (idx >= at) & (idx < at + size)
    src = np.clip(idx - at, 0, size - 1)
    out = images[:, src][:, :, src]
    out[:, ~keep, :] = 0
    out[:, :, ~keep] = 0
    return out


def load_multimnist(split: str = "train", batch_size: int = 256, data_dir=None, seed: int = 0,
                    download: bool | None = None, shuffle: bool | None = None, drop_remainder: bool = False,
                    pairs_per_image: int = 1, bytescale: bool = True, limit: int | None = None):
    """The ``multimnist`` dataset: ``(image (28, 28, 1) float32, {"left": y, "right": y})`` batches.

    Args:
        split: ``"train"`` (60k) or ``"test"`` (10k).
        batch_size: examples per batch.
        data_dir: where ``mnist.npz`` (or the IDX files) lives; see :mod:`mtlzoo.data.sources`.
        seed: partner choice and shuffling.
        download: allow keras.datasets to download MNIST (``None``: unless ``$MTLZOO_OFFLINE``).
        shuffle: reshuffle every epoch (default: only for ``"train"``).
        drop_remainder: drop the last, smaller batch.
        pairs_per_image: partners per source image (1 as in the paper).
        bytescale: reproduce ``imresize``'s contrast stretch.
        limit: use only the first ``limit`` source images of the split (quick runs and tests).

    Example:
        >>> ds = load_multimnist("test", data_dir="/work/shared/data")  # doctest: +SKIP
    """
    split = check_split("multimnist", split, SPLITS)
    check_batch_size(batch_size)
    check_limit("multimnist", limit)
    arrays = load_mnist_family("mnist", data_dir, download)
    x, y = arrays[f"x_{split}"][:limit], arrays[f"y_{split}"][:limit]
    built = build_multimnist(x, y, seed, split, pairs_per_image,
                             scale=bytescale)
    return pairs_dataset(built, split, batch_size, seed, shuffle, drop_remainder)


def split_salt(split: str) -> int:
    """The integer that separates a split's random partner draws from the other splits'.

    Args:
        split: ``"train"``, ``"test"`` or another name.

    Example:
        >>> split_salt("train"), split_salt("test")
        (0, 1)
    """
    return SPLITS.index(split) if split in SPLITS else len(SPLITS)


def pairs_dataset(built: dict, split: str, batch_size: int, seed: int, shuffle: bool | None,
                  drop_remainder: bool = False):
    """The ``(image, {"left": y, "right": y})`` pipeline over a built pair set.

    Args:
        built: the dict of :func:`build_multimnist` (``images``, ``left``, ``right``).
        split: shuffles by default only for ``"train"``.
        batch_size: examples per batch.
        seed: shuffling seed.
        shuffle: reshuffle every epoch (``None``: only for ``"train"``).
        drop_remainder: drop the last, smaller batch.

    Example:
        >>> built = build_multimnist(np.zeros((4, 28, 28), "uint8"), np.arange(4))
        >>> x, y = next(iter(pairs_dataset(built, "test", 4, seed=0, shuffle=None)))
        >>> tuple(x.shape), y["left"].numpy().tolist()
        ((4, 28, 28, 1), [0, 1, 2, 3])
    """
    from mtlzoo.data.pipeline import array_dataset

    shuffle = split == "train" if shuffle is None else bool(shuffle)
    return array_dataset(built["images"], {"left": built["left"], "right": built["right"]}, batch_size,
                         seed=seed, shuffle=shuffle, drop_remainder=drop_remainder)
