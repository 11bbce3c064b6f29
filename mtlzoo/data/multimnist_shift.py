"""Seed 001 §5.1's MultiMNIST overlay: one digit shifted 4 px left, its partner 4 px right, pixel-wise max.

Partners are drawn as in :func:`~mtlzoo.data.multimnist.build_multimnist`
(uniformly from the same split, seeded per split). Tasks: ``left`` (the digit
moved left) and ``right``; images float32 in [0, 1], shape (28, 28, 1).

>>> out = build_multimnist_shift(np.zeros((3, 28, 28), "uint8"), np.arange(3))
>>> sorted(out)
['images', 'left', 'partner', 'right', 'source']
"""

from __future__ import annotations

import numpy as np

from mtlzoo.data.multimnist import SPLITS, pairs_dataset, split_salt
from mtlzoo.data.options import check_batch_size, check_split, stable_seed
from mtlzoo.data.sources import load_mnist_family

#: Pixels each digit moves (seed 001 §5.1).
SHIFT = 4


def shifted_overlay(left: np.ndarray, right: np.ndarray, shift: int = SHIFT) -> np.ndarray:
    """Seed 001 §5.1: ``left`` moved ``shift`` px left, ``right`` moved ``shift`` px right, pixel-wise max.

    The frame stays 28x28; columns pushed past the edge are dropped (MNIST's
    digits sit in a centred 20x20 box, so a 4-px shift loses at most stray pixels).

    Args:
        left: uint8 images moved left.
        right: uint8 images moved right (same shape).
        shift: pixels each image moves.

    Example:
        >>> a = np.zeros((1, 28, 28), "uint8"); a[0, :, 10] = 200
        >>> b = np.zeros((1, 28, 28), "uint8"); b[0, :, 17] = 100
        >>> out = shifted_overlay(a, b)
        >>> int(out[0, 5, 6]), int(out[0, 5, 21]), int(out[0, 5, 10])
        (200, 100, 0)
    """
    left, right = np.asarray(left, np.uint8), np.asarray(right, np.uint8)
    if not 0 < int(shift) < left.shape[-1]:
        raise ValueError(f"shift must be between 1 and {left.shape[-1] - 1} pixels, got {shift}.")
    out = np.zeros_like(left)
    out[..., :-shift] = left[..., shift:]
    np.maximum(out[..., shift:], right[..., :-shift], out=out[..., shift:])
    return out


def build_multimnist_shift(images: np.ndarray, labels: np.ndarray, seed: int = 0, split: str = "train",
                           shift: int = SHIFT) -> dict[str, np.ndarray]:
    """Seed 001's overlay MultiMNIST: partners chosen as in :func:`build_multimnist`, then shifted and overlaid.

    Args:
        images: uint8 ``(N, 28, 28)`` source digits.
        labels: their labels.
        seed: partner-choice seed.
        split: salts the seed like :func:`build_multimnist`.
        shift: pixels each digit moves.

    Returns:
        The same dict as :func:`build_multimnist` (``left`` = the digit moved left).

    Example:
        >>> out = build_multimnist_shift(np.zeros((3, 28, 28), "uint8"), np.arange(3))
        >>> out["images"].shape
        (3, 28, 28)
    """
    images, labels = np.asarray(images, np.uint8), np.asarray(labels).reshape(-1)
    n = len(images)
    partner = stable_seed(seed, split_salt(split)).integers(0, n, size=n)
    source = np.arange(n)
    return {"images": shifted_overlay(images, images[partner], shift), "left": labels.astype(np.int32),
            "right": labels[partner].astype(np.int32), "source": source, "partner": partner}


def load_multimnist_shift(split: str = "train", batch_size: int = 256, data_dir=None, seed: int = 0,
                          download: bool | None = None, shuffle: bool | None = None, drop_remainder: bool = False,
                          shift: int = SHIFT):
    """The ``multimnist_shift`` dataset (seed 001 §5.1): ``(image (28, 28, 1), {"left", "right"})`` batches.

    Args:
        split, batch_size, data_dir, seed, download, shuffle, drop_remainder: as :func:`load_multimnist`.
        shift: pixels each digit moves (4 in seed 001).

    Example:
        >>> ds = load_multimnist_shift("test", data_dir="/work/shared/data")  # doctest: +SKIP
    """
    split = check_split("multimnist_shift", split, SPLITS)
    check_batch_size(batch_size)
    arrays = load_mnist_family("mnist", data_dir, download)
    built = build_multimnist_shift(arrays[f"x_{split}"], arrays[f"y_{split}"], seed, split, shift)
    return pairs_dataset(built, split, batch_size, seed, shuffle, drop_remainder)
