"""Points of the probability simplex on a regular grid: the static task weights of seed 002's "grid search".

Seed 002 §4 (baseline iii) tries "various values from {c^t in [0, 1] | sum_t c^t = 1}".
At resolution ``r`` the grid holds every weight vector whose entries are
multiples of ``1/r``. By default only *interior* points are kept (every
``c^t >= 1/r``): a zero weight means a task is not trained at all, which is the
single-task baseline (another row of seed 002's Table 3), not a weighting of
the multi-task problem. ``include_boundary=True`` adds the faces and vertices.

Counts: ``C(r - 1, T - 1)`` interior points, ``C(r + T - 1, T - 1)`` with the
boundary. For two tasks the resolution ``r`` gives ``r - 1`` interior points,
and an even ``r`` includes the centre ``(1/2, 1/2)``.

>>> [tuple(round(c, 2) for c in p) for p in simplex_grid(2, 4)]
[(0.25, 0.75), (0.5, 0.5), (0.75, 0.25)]
>>> len(simplex_grid(3, 6)), len(simplex_grid(3, 6, include_boundary=True))
(10, 28)
"""

from __future__ import annotations

from math import comb


def simplex_grid(num_tasks: int, resolution: int, include_boundary: bool = False) -> list[tuple[float, ...]]:
    """The grid points of the ``num_tasks``-dimensional probability simplex at step ``1/resolution``.

    Args:
        num_tasks: T, the number of tasks (>= 1).
        resolution: r, the number of steps along each edge (>= 1): every weight is ``k / r``.
        include_boundary: keep points with a zero weight (faces and vertices of the simplex).

    Returns:
        A list of T-tuples of floats that each sum to 1, in lexicographic order of
        the integer steps ``(k_1, ..., k_T)`` (for two tasks: the first task's weight
        ascending). Empty when ``resolution < num_tasks`` and the boundary is excluded.

    Raises:
        ValueError: for a non-positive or non-integer ``num_tasks`` / ``resolution``.

    Example:
        >>> simplex_grid(2, 10)[0]
        (0.1, 0.9)
        >>> simplex_grid(3, 3)
        [(0.3333333333333333, 0.3333333333333333, 0.3333333333333333)]
    """
    for name, value in (("num_tasks", num_tasks), ("resolution", resolution)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"simplex_grid: {name} must be a positive integer, got {value!r}.")
    low = 0 if include_boundary else 1
    return [tuple(k / resolution for k in steps) for steps in _compositions(resolution, num_tasks, low)]


def grid_size(num_tasks: int, resolution: int, include_boundary: bool = False) -> int:
    """How many points :func:`simplex_grid` returns, without building them.

    Args:
        num_tasks: T.
        resolution: r.
        include_boundary: count the faces and vertices too.

    Example:
        >>> grid_size(2, 10), grid_size(3, 3), grid_size(2, 1)
        (9, 1, 0)
    """
    if include_boundary:
        return comb(resolution + num_tasks - 1, num_tasks - 1)
    return comb(resolution - 1, num_tasks - 1) if resolution >= num_tasks else 0


def smallest_resolution(num_tasks: int, include_boundary: bool = False) -> int:
    """The smallest resolution whose grid is not empty (T for interior points, 1 with the boundary).

    Example:
        >>> smallest_resolution(3)
        3
    """
    return 1 if include_boundary else num_tasks


def _compositions(total: int, parts: int, low: int):
    """Integer tuples of length ``parts``, each entry >= ``low``, summing to ``total`` (lexicographic)."""
    if parts == 1:
        if total >= low:
            yield (total,)
        return
    for first in range(low, total - low * (parts - 1) + 1):
        for rest in _compositions(total - first, parts - 1, low):
            yield (first, *rest)
