"""peel(F, t): the single-task network of one task, weights copied (seed 000 §3.2)."""

from __future__ import annotations

from mtlzoo.task_tree import TaskTree
from mtlzoo.tree_ops import peel_tree


def peel(network, task: str, name: str | None = None):
    """The single-task network for ``task``: copies of the blocks on its path, with their weights.

    Args:
        network: a :class:`mtlzoo.TreeNetwork` (or subclass), or a :class:`TaskTree`
            (then the peeled spec is returned).
        task: the task to keep.
        name: name of the new model (default ``"{network.name}_{task}"``).

    Returns:
        A network of the same class whose only output is ``task``; its output
        equals ``network``'s output for that task. The original is untouched.

    Example:
        >>> import numpy as np
        >>> from mtlzoo.testing import tiny_tree_network
        >>> model = tiny_tree_network()                   # tasks a, b, c
        >>> single = mtlzoo.peel(model, "a")
        >>> single.tasks, single.tree.paths["a"]
        (('a',), ('root', 'trunk', 'branch', 'head_a'))
        >>> x = np.ones((2, 3), "float32")
        >>> bool(np.allclose(single(x)["a"], model(x)["a"]))
        True
    """
    if isinstance(network, TaskTree):
        return peel_tree(network, task)
    from mtlzoo.cloning import rebuild

    tree = peel_tree(network.tree, task)
    return rebuild(network, tree, {b: b for b in tree.blocks}, name=name or f"{network.name}_{task}")
