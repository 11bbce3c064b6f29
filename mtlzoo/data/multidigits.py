"""MultiDigits: the embedded default dataset, MultiMNIST built from scikit-learn's bundled 8x8 digits.

No network and no files: ``sklearn.datasets.load_digits`` ships with
scikit-learn (1797 digits, pixel values 0-16). Geometry, mirroring MultiMNIST
so that every MNIST model (LeNet on 28x28x1) runs on it unchanged:

1. each 8x8 digit is scaled to 0-255 and upsampled to 20x20 (bilinear, pixel
   centres aligned), then placed at rows/cols 4-23 of a blank 28x28 frame, the
   way MNIST centres its digits in a 20x20 box with a 4-px margin;
2. then exactly MultiMNIST's construction (:func:`~mtlzoo.data.multimnist.build_multimnist`):
   a partner drawn uniformly from the same split, a 36x36 canvas with the digit
   at rows/cols 0-27 and the partner at 6-33, pixel-wise maximum, nearest resize
   back to 28x28.

The train/test split is fixed (independent of ``seed``): a permutation drawn
with seed 1797, the first 1437 digits (80%) for training, the other 360 for
testing. ``seed`` picks the partners and the shuffling. Tasks: ``left`` and
``right``, 10 classes each; images float32 in [0, 1], shape (28, 28, 1).

>>> arrays = multidigits_arrays("test")
>>> arrays["images"].shape, arrays["images"].dtype.name
((360, 28, 28), 'uint8')
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from mtlzoo.data.multimnist import build_multimnist

#: Sizes of the fixed split.
TRAIN_SIZE, TEST_SIZE = 1437, 360
_SPLIT_SEED = 1797
_DIGIT, _FRAME = 20, 28


def bilinear_matrix(src: int, dst: int) -> np.ndarray:
    """``(dst, src)`` matrix of bilinear weights with aligned pixel centres (``A @ row`` resamples a row).

    Args:
        src: input length.
        dst: output length.

    Example:
        >>> bilinear_matrix(2, 4).round(2).tolist()
        [[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]]
    """
    pos = np.clip((np.arange(dst) + 0.5) * src / dst - 0.5, 0, src - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, src - 1)
    frac = pos - lo
    out = np.zeros((dst, src))
    np.add.at(out, (np.arange(dst), lo), 1 - frac)
    np.add.at(out, (np.arange(dst), hi), frac)
    return out


@lru_cache(maxsize=1)
def _digits_frames() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float64) * (255.0 / 16.0)
    a = bilinear_matrix(images.shape[-1], _DIGIT)
    big = np.einsum("ij,njk,lk->nil", a, images, a)
    frames = np.zeros((len(images), _FRAME, _FRAME), np.uint8)
    m = (_FRAME - _DIGIT) // 2
    frames[:, m:m + _DIGIT, m:m + _DIGIT] = np.clip(np.rint(big), 0, 255).astype(np.uint8)
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(images))
    return frames[order], digits.target[order].astype(np.int32)


def multidigits_arrays(split: str = "train", seed: int = 0) -> dict[str, np.ndarray]:
    """Build one split of MultiDigits as uint8 arrays (see the module docstring).

    Args:
        split: ``"train"`` (1437) or ``"test"`` (360).
        seed: the partner choice.

    Returns:
        The :func:`~mtlzoo.data.multimnist.build_multimnist` dict; ``source`` and
        ``partner`` index :func:`digits_split`'s arrays.

    Example:
        >>> out = multidigits_arrays("train", seed=3)
        >>> frames, labels = digits_split("train")
        >>> bool((out["right"] == labels[out["partner"]]).all())
        True
    """
    frames, labels = digits_split(split)
    return build_multimnist(frames, labels, seed=seed, split=split)


def digits_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The fixed split's 28x28 uint8 digit frames and labels, before pairing.

    Args:
        split: ``"train"`` or ``"test"``.

    Example:
        >>> digits_split("test")[0].shape
        (360, 28, 28)
    """
    if split not in ("train", "test"):
        raise ValueError(f"Dataset 'multidigits' has no split {split!r}; splits: train, test.")
    frames, labels = _digits_frames()
    part = slice(0, TRAIN_SIZE) if split == "train" else slice(TRAIN_SIZE, TRAIN_SIZE + TEST_SIZE)
    return frames[part], labels[part]


def load_multidigits(split: str = "train", batch_size: int = 64, data_dir=None, seed: int = 0,
                     download: bool | None = None, shuffle: bool | None = None, drop_remainder: bool = False,
                     limit: int | None = None):
    """The ``multidigits`` dataset: ``(image (28, 28, 1), {"left": y, "right": y})`` batches.

    Args:
        split: ``"train"`` or ``"test"``.
        batch_size: examples per batch.
        data_dir: unused (the data ships with scikit-learn); accepted for a uniform API.
        download: unused, likewise (nothing is ever downloaded).
        seed: partners and shuffling.
        shuffle: reshuffle every epoch (default: only for ``"train"``).
        drop_remainder: drop the last, smaller batch.
        limit: keep only the first ``limit`` examples of the split (quick runs and tests).

    Example:
        >>> ds = load_multidigits("test", batch_size=360)
        >>> x, y = next(iter(ds)); tuple(x.shape), sorted(y)
        ((360, 28, 28, 1), ['left', 'right'])
    """
    from mtlzoo.data.options import check_batch_size, check_limit
    from mtlzoo.data.pipeline import array_dataset

    del data_dir, download
    check_batch_size(batch_size)
    check_limit("multidigits", limit)
    built = {k: v[:limit] for k, v in multidigits_arrays(split, seed).items()}
    shuffle = split == "train" if shuffle is None else bool(shuffle)
    return array_dataset(built["images"], {"left": built["left"], "right": built["right"]}, batch_size,
                         seed=seed, shuffle=shuffle, drop_remainder=drop_remainder)
