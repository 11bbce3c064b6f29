"""``BlockProblem``: one shared block's weighting problem in one train step (ARCHITECTURE.md, Training)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tensorflow as tf


@dataclass
class BlockProblem:
    """What a :class:`~mtlzoo.training.balancers.GramianBalancer` weighs for shared block i.

    Args:
        block: the block's name.
        position: its index among the tree's shared blocks (for per-block state).
        tasks: O(i), in the order of the Gram rows.
        task_index: each task's position in the balancer's task list.
        gram: the T_i x T_i Gram matrix of the tasks' gradients at the block (float32, all-reduced
            over replicas, without the loss scale): latent (dL_t/dZ_i) or parameter (dL_t/dtheta_i)
            space as the balancer's ``space`` says.
        values: the tasks' loss values (global weighted means, unscaled), shape (T_i,).
        step: the :class:`~mtlzoo.training.StepContext` (for methods that need more than G).
        space: ``"latent"`` or ``"parameters"``.

    Example:
        >>> p = BlockProblem("trunk", 0, ("a", "b"), (0, 1), tf.eye(2), tf.ones(2), None, "latent")
        >>> p.size
        2
    """

    block: str
    position: int
    tasks: tuple
    task_index: tuple
    gram: tf.Tensor
    values: tf.Tensor
    step: Any
    space: str

    @property
    def size(self) -> int:
        """T_i, the number of tasks sharing the block."""
        return len(self.tasks)

    def gradients(self) -> list:
        """Per task in O(i), the list of gradient tensors at the block (scaled by the loss scale):
        for methods that need the vectors themselves, not only their Gram matrix."""
        grads = self.step.task_gradients(self.space)
        return [grads[t]["blocks"][self.block] for t in self.tasks]

    def flat_gradients(self) -> tf.Tensor:
        """The T_i x n matrix of the tasks' flattened gradients at the block, float32, divided by the
        loss scale (this replica's; parameter gradients are summed over replicas first)."""
        rows = [tf.concat([tf.reshape(tf.cast(g, tf.float32), [-1]) for g in parts], 0)
                for parts in self.gradients()]
        matrix = tf.stack(rows) / self.step.loss_scale
        if self.space == "parameters":
            matrix = self.step.all_reduce_sum(matrix)
        return matrix
