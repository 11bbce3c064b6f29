"""split(F, i, pi): one copy of block i per group of its children (seed 000 §3.2)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mtlzoo.task_tree import TaskTree
from mtlzoo.tree_ops import split_tree


def split(network, block: str, partition: Iterable[Iterable[str]], names: Sequence[str] | None = None,
          name: str | None = None):
    """Replace ``block`` by one copy per group of its children, each starting from its weights.

    Args:
        network: a :class:`mtlzoo.TreeNetwork` (or subclass), or a :class:`TaskTree`
            (then ``(new_tree, {copy: group})`` is returned).
        block: the block i to split; not the root.
        partition: groups of i's children covering C(i) exactly, e.g.
            ``[["head_a", "head_b"], ["head_c"]]``; anything else is a ``ValueError``.
        names: names of the copies (default ``"{block}_1"``, ``"{block}_2"``, ...).
        name: name of the new model (default: the original's).

    Returns:
        A new network of the same class whose outputs equal the original's
        right after the split; it has ``(len(partition) - 1) * params(block)``
        more parameters. The original is untouched.

    Example:
        >>> import numpy as np
        >>> from mtlzoo.testing import tiny_tree_network
        >>> model = tiny_tree_network()                   # trunk's children: branch (tasks a, b), head_c
        >>> wider = mtlzoo.split(model, "trunk", [["branch"], ["head_c"]])
        >>> wider.tree.paths["c"]
        ('root', 'trunk_2', 'head_c')
        >>> x = np.ones((2, 3), "float32")
        >>> bool(np.allclose(wider(x)["c"], model(x)["c"]))
        True
    """
    if isinstance(network, TaskTree):
        return split_tree(network, block, partition, names)
    from mtlzoo.cloning import rebuild

    tree, copies = split_tree(network.tree, block, partition, names)
    source_of = {b: block if b in copies else b for b in tree.blocks}
    return rebuild(network, tree, source_of, name=name or network.name)
