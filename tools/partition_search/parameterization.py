"""The feature-partition parameterization P of seed 004 (§3.1, §4.1, appendix A.1 eqs. 1-4).

A layer with ``c`` channels shared by ``n`` tasks is partitioned by a binary mask
``M`` of shape (c, n): ``M[k, i] = 1`` when task ``i`` uses channel ``k``. The search
does not work on ``M`` (huge, discrete, every channel permutation equivalent) but
on ``P = MᵀM / c`` (n x n): ``P[i, i]`` is the share of channels task ``i`` uses and
``P[i, j]`` the share task ``i`` and ``j`` both use. ``P`` does not depend on ``c``,
so one ``P`` serves layers of every width.

- :func:`partition_matrix`: ``P = MᵀM / c`` of a mask;
- :func:`sample_partition`: a random raw ``P`` of the search space (§4.1);
- :func:`refine`: the raw ``P`` -> the constraint matrix ``P̃`` (eqs. 1-4);
- :func:`channel_use`: mean of ``diag(P)``, the average channel use per task (§3.1),
  which the evolutionary search penalises with an L2 term on ``diag(P)`` (§4.1);
- :func:`masks_from_partition`, :func:`masks_for_widths` (from
  :mod:`~mtlzoo.tools.partition_search.mask_program`): ``P̃`` -> masks by the
  mixed-integer program of eqs. 5-10.

Example:
    >>> import numpy as np
    >>> M = np.array([[1, 1], [1, 0], [0, 1], [0, 0]])
    >>> partition_matrix(M).tolist()
    [[0.5, 0.25], [0.25, 0.5]]
    >>> refine(partition_matrix(M)).tolist()   # 0.25 -> 0 + 0.25 * (0.5 - 0)
    [[0.5, 0.125], [0.125, 0.5]]
"""

from __future__ import annotations

import numpy as np

from mtlzoo.tools.partition_search._checks import check_partition
from mtlzoo.tools.partition_search.mask_program import masks_for_widths, masks_from_partition

__all__ = [
    "channel_use",
    "masks_for_widths",
    "masks_from_partition",
    "overlap_bounds",
    "partition_matrix",
    "refine",
    "sample_partition",
]


def partition_matrix(M) -> np.ndarray:
    """``P = MᵀM / c`` of a binary mask (seed 004 §3.1).

    Args:
        M: binary array-like of shape (c, n): ``c`` channels, ``n`` tasks.

    Returns:
        float64 array (n, n): diagonal = share of channels each task uses,
        off-diagonal = share of channels both tasks use.

    Raises:
        ValueError: when ``M`` is not a 2-D array of zeros and ones with at least one row and column.

    Example:
        >>> partition_matrix([[1, 0], [1, 1]]).tolist()
        [[1.0, 0.5], [0.5, 0.5]]
    """
    M = np.asarray(M)
    if M.ndim != 2 or M.shape[0] < 1 or M.shape[1] < 1:
        raise ValueError(f"M must be a (channels, tasks) matrix with at least one of each; got shape {M.shape}.")
    if not np.all((M == 0) | (M == 1)):
        raise ValueError("M must be binary (0 = channel off, 1 = on for that task); threshold it, e.g. M > 0.5.")
    M = M.astype(np.float64)
    return (M.T @ M) / M.shape[0]


def sample_partition(n: int, rng=None, *, channel_use: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """A random raw ``P`` of the search space (seed 004 §4.1, random sampling).

    The distribution: ``P[i, i] ~ U(channel_use)`` independently (the share of
    channels of task ``i``; the default (0, 1) is the paper's "values taken
    uniformly from 0 to 1", a narrower range is its "bias or restrict samples to a
    specific range of parameter usage"); for ``i < j``, ``P[i, j] = P[j, i] ~ U(0, 1)``
    independently. The off-diagonals are *relative* overlaps: :func:`refine` maps
    0 to the least and 1 to the most overlap the two diagonals allow.

    Args:
        n: number of tasks (>= 1).
        rng: a ``numpy.random.Generator``, an int seed, or None (fresh entropy).
        channel_use: ``(low, high)`` with ``0 <= low <= high <= 1``, the range of the diagonal.

    Returns:
        float64 array (n, n), symmetric, values in [0, 1] (unrefined: pass it to :func:`refine`).

    Example:
        >>> P = sample_partition(3, 0, channel_use=(0.25, 0.5))
        >>> bool(np.allclose(P, P.T)) and bool(np.all((np.diag(P) >= 0.25) & (np.diag(P) <= 0.5)))
        True
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n (number of tasks) must be a positive integer; got {n!r}.")
    low, high = (float(v) for v in channel_use)
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"channel_use must be (low, high) with 0 <= low <= high <= 1; got {channel_use!r}.")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    upper = np.triu(rng.uniform(0.0, 1.0, size=(n, n)), k=1)
    P = upper + upper.T
    P[np.diag_indices(n)] = rng.uniform(low, high, size=n)
    return P


def overlap_bounds(P) -> tuple[np.ndarray, np.ndarray]:
    """``(P_min, P_max)`` of eqs. 1-3: the least and most overlap two tasks' shares allow.

    ``D = diag(P) 1ᵀ``; ``P_min = max(0, D + Dᵀ - J)`` (two shares that add up to
    more than 1 must overlap by the excess); ``P_max = min(D, Dᵀ)`` (no overlap
    exceeds the smaller share).

    Args:
        P: square symmetric matrix with values in [0, 1] (only its diagonal is used).

    Returns:
        two float64 (n, n) arrays.

    Example:
        >>> lo, hi = overlap_bounds(np.diag([0.75, 0.5]))
        >>> float(lo[0, 1]), float(hi[0, 1])
        (0.25, 0.5)
    """
    P = check_partition(P)
    D = np.outer(np.diag(P), np.ones(P.shape[0]))  # eq. 1
    J = np.ones_like(P)
    return np.maximum(0.0, D + D.T - J), np.minimum(D, D.T)  # eqs. 2, 3


def refine(P) -> np.ndarray:
    """The constraint matrix ``P̃`` of a raw ``P`` (seed 004 A.1, eqs. 1-4).

    ``P̃ = P ⊙ I + (P ⊙ (P_max - P_min) + P_min) ⊙ (J - I)``: the diagonal is kept,
    and each off-diagonal ``P[i, j]`` in [0, 1] is read as a position between the
    least (``P_min``) and the most (``P_max``) overlap the two diagonals allow.
    Note that ``refine`` is not a projection: ``refine(MᵀM / c)`` moves an actual
    overlap ``o`` to ``P_min + o (P_max - P_min)``.

    Args:
        P: square (n, n), symmetric, values in [0, 1].

    Returns:
        float64 array (n, n), symmetric, with ``P_min <= P̃[i, j] <= P_max`` off the diagonal.

    Raises:
        ValueError: naming the problem when ``P`` is not square, symmetric or in [0, 1].

    Example:
        >>> P = np.array([[0.75, 0.5], [0.5, 0.5]])
        >>> refine(P).tolist()          # 0.25 + 0.5 * (0.5 - 0.25)
        [[0.75, 0.375], [0.375, 0.5]]
    """
    P = check_partition(P)
    n = P.shape[0]
    p_min, p_max = overlap_bounds(P)
    I, J = np.eye(n), np.ones((n, n))
    return P * I + (P * (p_max - p_min) + p_min) * (J - I)  # eq. 4


def channel_use(P) -> float:
    """Average channel use per task: the mean of ``diag(P)`` (seed 004 §3.1).

    This is the resource measure the paper compares partitionings by; the
    evolutionary search (§4.1) pulls it down with an L2 penalty on ``diag(P)``.
    ``refine`` keeps the diagonal, so ``channel_use(P) == channel_use(refine(P))``.

    Args:
        P: square symmetric matrix with values in [0, 1] (raw ``P``, ``P̃`` or ``MᵀM / c``).

    Returns:
        float in [0, 1].

    Example:
        >>> channel_use([[0.5, 0.2], [0.2, 0.25]])
        0.375
    """
    return float(np.mean(np.diag(check_partition(P))))
