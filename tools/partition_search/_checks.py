"""Input checks shared by the partition parameterization and the mask program (private)."""

from __future__ import annotations

import numpy as np

#: Tolerance for symmetry and for the [0, 1] range of a partition matrix.
ATOL = 1e-9


def check_partition(P, name: str = "P") -> np.ndarray:
    """``P`` as a float64 array after checking it is a square, symmetric matrix with values in [0, 1].

    Args:
        P: array-like, shape (n, n).
        name: how the error messages call the argument.

    Returns:
        ``P`` as a float64 array, clipped onto [0, 1] (values may exceed the range by ``ATOL``).

    Raises:
        ValueError: naming the problem (shape, non-finite values, asymmetry, range) and the fix.
    """
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] != P.shape[1] or P.shape[0] < 1:
        raise ValueError(
            f"{name} must be a square (n, n) matrix with n >= 1 (one row and column per task); got shape {P.shape}."
        )
    if not np.all(np.isfinite(P)):
        raise ValueError(f"{name} contains NaN or infinite values; every entry must be a share in [0, 1].")
    asym = float(np.max(np.abs(P - P.T)))
    if asym > ATOL:
        i, j = np.unravel_index(int(np.argmax(np.abs(P - P.T))), P.shape)
        raise ValueError(
            f"{name} must be symmetric: {name}[{i},{j}]={P[i, j]!r} but {name}[{j},{i}]={P[j, i]!r}. "
            f"Symmetrise it, e.g. (P + P.T) / 2, or sample it with sample_partition()."
        )
    lo, hi = float(P.min()), float(P.max())
    if lo < -ATOL or hi > 1 + ATOL:
        bad = np.argwhere((P < -ATOL) | (P > 1 + ATOL))[0]
        raise ValueError(
            f"{name} entries must lie in [0, 1] (shares of channels); {name}[{bad[0]},{bad[1]}]="
            f"{P[bad[0], bad[1]]!r}. Clip it, e.g. np.clip(P, 0, 1)."
        )
    return np.clip((P + P.T) / 2, 0.0, 1.0)


def check_channels(channels, name: str = "channels") -> int:
    """``channels`` as a positive int, or a ValueError naming the bad value."""
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or int(channels) < 1:
        raise ValueError(f"{name} must be a positive integer (the layer's channel count); got {channels!r}.")
    return int(channels)
