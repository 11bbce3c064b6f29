"""One seed for every random number generator a run draws from."""

from __future__ import annotations


def seed_everything(seed: int = 0) -> None:
    """Seed Python's ``random``, NumPy and the Keras backend (TensorFlow) at once.

    Args:
        seed: the seed, a whole number.

    Raises:
        ValueError: ``seed`` is not a whole number.

    Example:
        >>> import numpy as np
        >>> seed_everything(3); first = np.random.rand()
        >>> seed_everything(3); first == np.random.rand()
        True
    """
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise ValueError(f"seed_everything: seed must be a whole number, got {seed!r}; pass e.g. seed=0.") from None
    import keras

    keras.utils.set_random_seed(seed)
