"""Small pure-Python helpers shared by the loaders: argument checks, split names, seeding.

>>> check_split("celeba", "val", ("train", "validation", "test"))
'validation'
"""

from __future__ import annotations

import numpy as np

_SPLIT_ALIASES = {"val": "validation", "valid": "validation", "eval": "validation"}


def split_name(split: str) -> str:
    """Normalize a split name: ``val``/``valid``/``eval`` become ``validation``.

    Args:
        split: the name given by the user.

    Example:
        >>> split_name("val"), split_name("test")
        ('validation', 'test')
    """
    return _SPLIT_ALIASES.get(split, split)


def check_split(dataset: str, split: str, known: tuple[str, ...]) -> str:
    """The normalized split, or a ``ValueError`` listing the dataset's splits.

    Args:
        dataset: the dataset's name (for the message).
        split: the requested split.
        known: the dataset's splits.

    Example:
        >>> check_split("mnist", "test", ("train", "test"))
        'test'
    """
    name = split_name(split)
    if name not in known:
        raise ValueError(f"Dataset {dataset!r} has no split {split!r}; splits: {', '.join(known)}.")
    return name


def check_batch_size(batch_size) -> int:
    """``batch_size`` as a positive int, or a ``ValueError``.

    Args:
        batch_size: the value to check.

    Example:
        >>> check_batch_size(32)
        32
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    return int(batch_size)


def stable_seed(seed: int, *salt: int) -> np.random.Generator:
    """A NumPy generator for ``seed`` and integer ``salt`` (e.g. the split), stable across runs.

    Args:
        seed: the user's seed.
        *salt: integers that separate independent streams (e.g. 0 for train, 1 for test).

    Example:
        >>> int(stable_seed(0, 1).integers(100)) == int(stable_seed(0, 1).integers(100))
        True
    """
    return np.random.default_rng([int(seed), *[int(s) for s in salt]])


def image_size(value, name: str = "image_size") -> tuple[int, int]:
    """``(height, width)`` from an int or a pair, checked positive.

    Args:
        value: an int (square) or a ``(height, width)`` pair.
        name: the option's name (for the message).

    Example:
        >>> image_size(64), image_size((128, 256))
        ((64, 64), (128, 256))
    """
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or any(int(v) < 1 for v in pair):
        raise ValueError(f"{name} must be a positive int or a (height, width) pair, got {value!r}.")
    return int(pair[0]), int(pair[1])


def check_limit(dataset: str, limit) -> int | None:
    """``limit`` (the first examples of a split to keep) checked: ``None`` or an integer >= 2.

    Example:
        >>> check_limit("multimnist", 300), check_limit("multimnist", None)
        (300, None)
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 2):
        raise ValueError(f"{dataset}: limit={limit!r}; give an integer >= 2 (examples per split) or None.")
    return limit
