"""Task and child affinity matrices of a block (seed 000 §5.3.1, Alg. 3 and 4).

Alg. 3 fills ``A_{t1,t2} = C(Z_i^{peeled t1} || Z_i^{peeled t2})`` (eq. 5.8) for the
tasks of block i, reusing the peeled networks that :func:`fine_tune_peeled` trained
for the stress of the same greedy step (one set of T networks per step). Since
the JS divergence is symmetric and the channel weights are the mean of both
networks' importances, A is symmetric with a zero diagonal, as in seed 000
Table 1(a). Alg. 4 reduces it to the children of block i and turns the
divergences into similarities ``exp(-A~ / max A~)`` for spectral clustering.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mtlzoo.tools.split_search.similarity import block_importance, pairwise_channel_divergence


def task_affinity(peeled: Mapping, block: str, dataset, tasks: Sequence[str],
                  max_batches: int | None = None) -> np.ndarray:
    """Alg. 3: the T x T matrix ``A_{t1,t2} = C(Z_i^{peeled t1} || Z_i^{peeled t2})``, zero diagonal.

    Every peeled network's activations are computed once per batch, in one
    pass over the dataset, and each unordered pair is evaluated once.

    Args:
        peeled: ``{task: peeled_network}`` (see :func:`fine_tune_peeled`).
        block: block i; every listed task's peeled network must contain it.
        dataset: a ``tf.data.Dataset`` of batches or a NumPy array of inputs.
        tasks: the row/column order (usually O(i)).
        max_batches: stop after this many batches.

    Returns:
        A symmetric float64 array ``[T, T]``.

    Example:
        >>> A = task_affinity(peeled, "conv2", ds, ["mnist", "fashion_mnist", "kmnist"])  # doctest: +SKIP
        >>> A.shape                                                                       # doctest: +SKIP
        (3, 3)
    """
    tasks = list(tasks)
    missing = [t for t in tasks if t not in peeled]
    if missing or len(set(tasks)) != len(tasks):
        raise ValueError(f"task_affinity: tasks must be distinct tasks with a peeled network "
                         f"({sorted(peeled)}); got {tasks} (missing: {missing}).")
    networks = [peeled[t] for t in tasks]
    absent = [t for t, net in zip(tasks, networks) if block not in net.tree.blocks]
    if absent:
        raise ValueError(f"task_affinity: block {block!r} is not on the path of task(s) {absent}; "
                         "pass the tasks O(i) of the block.")
    size = len(tasks)
    affinity = np.zeros((size, size), dtype=np.float64)
    pairs = [(a, b) for a in range(size) for b in range(a + 1, size)]
    if not pairs:
        return affinity
    js = pairwise_channel_divergence(networks, block, dataset, pairs, max_batches)
    importance = [block_importance(net, block) for net in networks]
    for (a, b), row in zip(pairs, js):
        affinity[a, b] = affinity[b, a] = float(np.dot(0.5 * (importance[a] + importance[b]), row))
    return affinity


def child_affinity(tree, block: str, task_affinity: np.ndarray, tasks: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Alg. 4: the affinity between the children of ``block`` from the task affinity matrix.

    For children c1 != c2: ``A^_{c1,c2} = mean_{t1 in O(c1)} max_{t2 in O(c2)} A_{t1,t2}``,
    ``A~_{c1,c2} = (A^_{c1,c2} + A^_{c2,c1}) / 2``, then ``exp(-A~ / max A~)`` (all ones
    when ``max A~ == 0``); the diagonal is 1.

    Args:
        tree: the :class:`mtlzoo.TaskTree`.
        block: block i.
        task_affinity: ``[T, T]`` from :func:`task_affinity`, rows in ``tasks`` order.
        tasks: the tasks of the rows/columns; must cover O(i).

    Returns:
        ``(children, matrix)``: C(i) in the tree's order and the symmetric ``[|C|, |C|]`` affinity.

    Example:
        >>> from mtlzoo.testing import tiny_tree
        >>> A = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 4.0], [2.0, 4.0, 0.0]])
        >>> children, M = child_affinity(tiny_tree(), "trunk", A, ["a", "b", "c"])
        >>> children, M.round(3).tolist()
        (['branch', 'head_c'], [[1.0, 0.368], [0.368, 1.0]])
    """
    tasks = list(tasks)
    a = np.asarray(task_affinity, dtype=np.float64)
    if a.shape != (len(tasks), len(tasks)):
        raise ValueError(f"child_affinity: task_affinity has shape {a.shape}, expected "
                         f"{(len(tasks), len(tasks))} for the tasks {tasks}.")
    index = {t: k for k, t in enumerate(tasks)}
    missing = [t for t in tree.tasks_of(block) if t not in index]
    if missing:
        raise ValueError(f"child_affinity: the tasks {tasks} miss O({block!r}) task(s) {missing}.")
    children = list(tree.children(block))
    rows = [[index[t] for t in tree.tasks_of(c)] for c in children]
    n = len(children)
    hat = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j:
                hat[i, j] = a[np.ix_(rows[i], rows[j])].max(axis=1).mean()
    tilde = 0.5 * (hat + hat.T)
    top = tilde.max() if n > 1 else 0.0
    result = np.ones((n, n)) if top <= 0 else np.exp(-tilde / top)
    np.fill_diagonal(result, 1.0)
    return children, result
