"""The fixed partitionings seed 004 Table 2 compares a searched ``P̃`` with, as ``P̃`` matrices.

- ``independent``: the channels split evenly, no sharing: ``P̃[i, i] = 1/n``, ``P̃[i, j] = 0``;
- ``share_half``: half of the channels shared by every task, the other half split evenly:
  ``P̃[i, i] = 1/2 + 1/(2n)``, ``P̃[i, j] = 1/2``;
- ``share_all``: every task uses every channel: all ones.

Every matrix is realisable by a binary mask (:func:`masks_from_partition` meets every count
to within one channel), exactly so when the layer width is a multiple of ``2n``.

Example:
    >>> baseline_partition("share_half", 2).tolist()
    [[0.75, 0.5], [0.5, 0.75]]
"""

from __future__ import annotations

import numpy as np

#: The baselines of seed 004 Table 2, in the table's row order.
BASELINES = ("independent", "share_half", "share_all")


def baseline_partition(name: str, n_tasks: int) -> np.ndarray:
    """The ``P̃`` matrix of one of seed 004 Table 2's baselines.

    Args:
        name: ``"independent"``, ``"share_half"`` or ``"share_all"`` (a hyphen or a space
            instead of the underscore is accepted, as in the table's "share half").
        n_tasks: number of tasks ``n`` (>= 1).

    Returns:
        float64 array (n, n), symmetric, values in [0, 1]: diagonal = each task's share of
        the channels, off-diagonal = the share two tasks have in common.

    Raises:
        ValueError: for an unknown name (the known ones are listed) or a bad ``n_tasks``.

    Example:
        >>> baseline_partition("independent", 3).round(3).tolist()
        [[0.333, 0.0, 0.0], [0.0, 0.333, 0.0], [0.0, 0.0, 0.333]]
        >>> float(baseline_partition("share_all", 2).min())
        1.0
    """
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if key not in BASELINES:
        raise ValueError(f"Unknown baseline partition {name!r}; choose one of {', '.join(BASELINES)}.")
    if isinstance(n_tasks, bool) or not isinstance(n_tasks, (int, np.integer)) or n_tasks < 1:
        raise ValueError(f"n_tasks must be a positive integer (the number of tasks); got {n_tasks!r}.")
    n = int(n_tasks)
    eye = np.eye(n)
    if key == "independent":
        return eye / n
    if key == "share_half":
        return np.full((n, n), 0.5) + eye / (2 * n)
    return np.ones((n, n))
