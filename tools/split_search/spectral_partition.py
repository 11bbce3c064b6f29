"""Partition a block's children by spectral clustering of their affinity (seed 000 §5.3, Alg. 5).

The child affinity of Alg. 4 is a similarity in (0, 1] with ones on the diagonal,
so it is used directly as a precomputed graph affinity (normalized cuts,
scikit-learn's ``SpectralClustering(affinity="precomputed")``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _check(children: list, affinity: np.ndarray, n_groups: int, block: str | None) -> None:
    where = f"block {block!r}" if block is not None else "the block"
    if len(children) < 2:
        raise ValueError(f"spectral_partition: {where} has {len(children)} child(ren) {children}; a split needs "
                         "at least 2 (pick a block from splittable_blocks(tree)).")
    if len(set(children)) != len(children):
        raise ValueError(f"spectral_partition: children of {where} repeat: {children}.")
    if int(n_groups) != n_groups or not 2 <= n_groups <= len(children):
        raise ValueError(f"spectral_partition: n_groups must be an integer in [2, {len(children)}] for {where}, "
                         f"got {n_groups!r}.")
    if affinity.shape != (len(children), len(children)):
        raise ValueError(f"spectral_partition: affinity has shape {affinity.shape}, expected "
                         f"{(len(children), len(children))} for the children {children} of {where}.")
    if not np.all(np.isfinite(affinity)) or np.any(affinity < 0) or not np.allclose(affinity, affinity.T):
        raise ValueError(f"spectral_partition: the affinity of {where} must be finite, non-negative and "
                         "symmetric (use child_affinity(...)).")


def _ensure_groups(labels: np.ndarray, affinity: np.ndarray, n_groups: int) -> np.ndarray:
    """Split off children until there are ``n_groups`` non-empty groups (clustering may merge groups).

    Repeatedly moves, from the largest group, the child with the lowest mean
    affinity to the rest of its group into a new group (ties: the later child).
    """
    labels = labels.copy()
    while len(set(labels.tolist())) < n_groups:
        values, counts = np.unique(labels, return_counts=True)
        group = values[np.argmax(counts)]
        members = np.flatnonzero(labels == group)
        cohesion = [(affinity[m, members].sum() - affinity[m, m]) / (len(members) - 1) for m in members]
        lowest = min(cohesion)
        pick = max(m for m, c in zip(members, cohesion) if c == lowest)
        labels[pick] = labels.max() + 1
    return labels


def spectral_partition(children: Sequence[str], affinity, n_groups: int = 2, seed: int = 0,
                       block: str | None = None) -> list[list[str]]:
    """Groups of ``children`` from spectral clustering of their precomputed affinity.

    With exactly 2 children (and 2 groups) the answer is two singletons and
    scikit-learn is not called; with ``n_groups == len(children)`` every child is
    its own group. Otherwise ``SpectralClustering(affinity="precomputed",
    assign_labels="cluster_qr")`` (deterministic) labels the children; if it
    yields fewer than ``n_groups`` non-empty groups, the least cohesive child of
    the largest group is split off until there are ``n_groups``.

    Args:
        children: the children C(i), e.g. from :func:`child_affinity`.
        affinity: their symmetric similarity matrix ``[|C|, |C|]`` (Alg. 4).
        n_groups: the number of groups (copies of the block after the split).
        seed: the clustering's ``random_state``.
        block: the block's name, for error messages.

    Returns:
        A list of groups, each a list of children in ``children`` order; the groups
        are ordered by their first child's position in ``children``.

    Raises:
        ValueError: fewer than 2 children, a bad ``n_groups`` or a malformed affinity.

    Example:
        >>> A = np.array([[1, .9, .1, .1], [.9, 1, .1, .1], [.1, .1, 1, .9], [.1, .1, .9, 1]])
        >>> spectral_partition(["a", "b", "c", "d"], A)
        [['a', 'b'], ['c', 'd']]
    """
    children = list(children)
    affinity = np.asarray(affinity, dtype=np.float64)
    _check(children, affinity, n_groups, block)
    n_groups = int(n_groups)
    if n_groups == len(children):
        return [[c] for c in children]
    from sklearn.cluster import SpectralClustering

    clustering = SpectralClustering(n_clusters=n_groups, affinity="precomputed", assign_labels="cluster_qr",
                                    random_state=seed)
    labels = _ensure_groups(np.asarray(clustering.fit_predict(affinity)), affinity, n_groups)
    order: list[int] = []
    for label in labels.tolist():
        if label not in order:
            order.append(label)
    return [[c for c, lab in zip(children, labels.tolist()) if lab == group] for group in order]
