"""The partition search space as keras-tuner hyperparameters (seed 004 §4.1).

A raw partition ``P`` (n x n, symmetric, values in [0, 1]) has ``n (n + 1) / 2``
free entries, its upper triangle. Each becomes one keras-tuner ``Float``
hyperparameter ``p_i_j`` (``i <= j``, range [0, 1]), so a keras-tuner ``Trial``
holds one ``P`` and keras-tuner logs, ranks and reloads trials as usual.

- :func:`parameter_names`: ``["p_0_0", "p_0_1", ...]`` in upper-triangle order;
- :func:`partition_space`: the ``keras_tuner.HyperParameters`` of ``n`` tasks;
- :func:`partition_to_values` / :func:`hp_to_partition`: ``P`` <-> ``{name: value}``;
- :func:`partition_to_vector` / :func:`vector_to_partition`: ``P`` <-> the flat
  upper-triangle vector the evolutionary search moves in.

Example:
    >>> import numpy as np
    >>> P = np.array([[0.5, 0.25], [0.25, 1.0]])
    >>> partition_to_values(P)
    {'p_0_0': 0.5, 'p_0_1': 0.25, 'p_1_1': 1.0}
    >>> hp_to_partition(partition_to_values(P)).tolist()
    [[0.5, 0.25], [0.25, 1.0]]
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from mtlzoo.tools.partition_search._checks import check_partition

__all__ = [
    "hp_to_partition",
    "parameter_names",
    "partition_space",
    "partition_to_values",
    "partition_to_vector",
    "vector_to_partition",
]

_NAME = re.compile(r"^p_(\d+)_(\d+)$")


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n_tasks must be a positive integer; got {n!r}.")
    return int(n)


def parameter_names(n: int) -> list[str]:
    """The hyperparameter names of an ``n``-task partition: ``p_i_j`` for ``i <= j``, row by row.

    Args:
        n: number of tasks (>= 1).

    Example:
        >>> parameter_names(2)
        ['p_0_0', 'p_0_1', 'p_1_1']
    """
    n = _check_n(n)
    return [f"p_{i}_{j}" for i, j in zip(*np.triu_indices(n))]


def partition_space(n: int):
    """A ``keras_tuner.HyperParameters`` with one ``Float(p_i_j, 0, 1)`` per upper-triangle entry of ``P``.

    Args:
        n: number of tasks (>= 1).

    Returns:
        ``keras_tuner.HyperParameters`` holding ``n (n + 1) / 2`` floats in [0, 1].

    Example:
        >>> [hp.name for hp in partition_space(2).space]
        ['p_0_0', 'p_0_1', 'p_1_1']
    """
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    for name in parameter_names(n):
        hp.Float(name, 0.0, 1.0, default=0.5)
    return hp


def partition_to_values(P) -> dict[str, float]:
    """``{p_i_j: P[i, j]}`` for ``i <= j``: the hyperparameter values of a raw partition.

    Args:
        P: square, symmetric, values in [0, 1].

    Raises:
        ValueError: when ``P`` is not square, symmetric or in [0, 1] (see :func:`refine`).

    Example:
        >>> partition_to_values([[1.0]])
        {'p_0_0': 1.0}
    """
    P = check_partition(P)
    return {f"p_{i}_{j}": float(P[i, j]) for i, j in zip(*np.triu_indices(P.shape[0]))}


def hp_to_partition(hp, n: int | None = None) -> np.ndarray:
    """The symmetric ``P`` stored in hyperparameters (a ``HyperParameters``, or a ``{name: value}`` dict).

    Args:
        hp: ``keras_tuner.HyperParameters`` (its ``.values`` are read) or a mapping
            holding every ``p_i_j`` (``i <= j < n``); other keys are ignored.
        n: number of tasks; inferred from the largest ``p_i_j`` index when None.

    Returns:
        float64 array (n, n), symmetric.

    Raises:
        ValueError: when a ``p_i_j`` of the ``n``-task space is missing, or a value is outside [0, 1].

    Example:
        >>> hp_to_partition({"p_0_0": 0.5, "p_0_1": 0.0, "p_1_1": 0.75}).tolist()
        [[0.5, 0.0], [0.0, 0.75]]
    """
    values = hp.values if hasattr(hp, "values") and not isinstance(hp, Mapping) else hp
    if not isinstance(values, Mapping):
        raise ValueError(f"hp must be keras_tuner.HyperParameters or a dict of p_i_j values; got {type(hp).__name__}.")
    if n is None:
        indices = [int(g) for key in values if (m := _NAME.match(str(key))) for g in m.groups()]
        if not indices:
            raise ValueError(f"hp holds no p_i_j values (keys: {sorted(values)[:8]}); pass partition_to_values(P).")
        n = max(indices) + 1
    n = _check_n(n)
    missing = [name for name in parameter_names(n) if name not in values]
    if missing:
        raise ValueError(f"hp misses {missing[:5]} of the {n}-task partition space; "
                         f"give every p_i_j with i <= j < {n} (see parameter_names({n})).")
    P = np.empty((n, n))
    for i, j in zip(*np.triu_indices(n)):
        P[i, j] = P[j, i] = float(values[f"p_{i}_{j}"])
    return check_partition(P, name="hp_to_partition(hp)")


def partition_to_vector(P) -> np.ndarray:
    """The upper triangle of ``P`` (row by row, diagonal included) as a flat float64 vector.

    Example:
        >>> partition_to_vector([[0.5, 0.25], [0.25, 1.0]]).tolist()
        [0.5, 0.25, 1.0]
    """
    P = check_partition(P)
    return P[np.triu_indices(P.shape[0])].copy()


def vector_to_partition(v, n: int) -> np.ndarray:
    """The symmetric ``P`` of an upper-triangle vector (the inverse of :func:`partition_to_vector`).

    Args:
        v: ``n (n + 1) / 2`` values in [0, 1].
        n: number of tasks.

    Example:
        >>> vector_to_partition([0.5, 0.25, 1.0], 2).tolist()
        [[0.5, 0.25], [0.25, 1.0]]
    """
    n = _check_n(n)
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    if v.size != n * (n + 1) // 2:
        raise ValueError(f"v has {v.size} values; a {n}-task partition needs n (n + 1) / 2 = {n * (n + 1) // 2}.")
    P = np.zeros((n, n))
    P[np.triu_indices(n)] = v
    P = P + np.triu(P, k=1).T
    return check_partition(P, name="vector_to_partition(v)")
