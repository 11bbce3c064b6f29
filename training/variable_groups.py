"""Which trainable variables belong to which shared block and which task."""

from __future__ import annotations

from dataclasses import dataclass

from mtlzoo.task_tree import TaskTree


@dataclass(frozen=True)
class VariableGroups:
    """How a tree network's trainable variables split into blocks (seed 000 §4, eq. 4.5).

    Args:
        shared: ``((block, tasks O(i), variables), ...)`` for each shared block
            (two or more tasks) that has trainable variables, parents first.
        own: ``{task: variables}``, the variables of the task's non-shared blocks.
    """

    shared: tuple
    own: dict

    @classmethod
    def of(cls, model) -> VariableGroups:
        """The grouping for a :class:`~mtlzoo.TreeNetwork` ``model``."""
        tree: TaskTree = model.tree
        shared = []
        for block in tree.topological_order():
            tasks = tree.tasks_of(block)
            variables = model.block_variables([block])
            if len(tasks) >= 2 and variables:
                shared.append((block, tuple(tasks), tuple(variables)))
        shared_names = {b for b in tree.blocks if len(tree.tasks_of(b)) >= 2}
        own = {t: tuple(model.block_variables([b for b in tree.path(t) if b not in shared_names]))
               for t in tree.tasks}
        return cls(tuple(shared), own)

    def shared_of(self, task: str) -> tuple:
        """The shared groups on ``task``'s path."""
        return tuple(group for group in self.shared if task in group[1])
