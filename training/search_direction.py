"""``SearchDirection``: what a gradient-based balancer hands the line search (ARCHITECTURE.md, Training)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import tensorflow as tf


@dataclass
class SearchDirection:
    """The update direction of one train step, as the Gramian core built it.

    A gradient-based balancer (:class:`~mtlzoo.training.balancers.GramianBalancer`)
    fills one per step; :class:`~mtlzoo.training.ArmijoLineSearch` reads it
    instead of recomputing inner products. Tensors carry the optimizer's loss
    scale (as the gradients do); the Gram matrices do not.

    Args:
        space: ``"latent"`` or ``"parameters"``.
        task_gradients: per task, ``{"blocks": {block: [tensors]}, "own": [tensors]}``: dL_t/dZ_i
            (latent) or dL_t/dtheta_i (parameters) for every shared block i on the task's path.
        grams: ``{block: T_i x T_i Gram matrix}`` over O(i), all-reduced, unscaled.
        block_weights: ``{block: w^i}`` where the update of block i is sum_t w_t^i g_t^i (a linear
            combination); a block whose method combines nonlinearly (GradDrop, MoCo) is absent.
        latent: ``{block: [upstream tensors]}`` sent into each shared block (latent space only).
        block_tasks: ``{block: O(i)}`` in the order of the Gram rows.
        loss_scale: the optimizer's loss scale the tensors carry.

    Example:
        >>> d = SearchDirection("latent", {}, {"trunk": tf.eye(2)}, {"trunk": tf.constant([0.5, 0.5])},
        ...                     block_tasks={"trunk": ("a", "b")})
        >>> d.inner_products("trunk").numpy()
        array([0.5, 0.5], dtype=float32)
    """

    space: str
    task_gradients: Mapping
    grams: Mapping
    block_weights: Mapping = field(default_factory=dict)
    latent: Mapping = field(default_factory=dict)
    block_tasks: Mapping = field(default_factory=dict)
    loss_scale: tf.Tensor | float = 1.0

    def inner_products(self, block: str) -> tf.Tensor:
        """``<g_t, d_i>`` for t in O(i): each task's gradient at block ``block`` against the direction
        sent into it (unscaled, over the global batch). From G w when the combination is linear,
        otherwise from the tensors (per replica; only the linear form is all-reduced)."""
        if block in self.block_weights:
            return tf.linalg.matvec(tf.cast(self.grams[block], tf.float32),
                                    tf.cast(self.block_weights[block], tf.float32))
        if block not in self.latent:
            raise ValueError(f"No direction recorded for block {block!r}.")
        direction = self.latent[block]
        out = []
        for task in self.block_tasks[block]:
            parts = self.task_gradients[task]["blocks"][block]
            out.append(tf.add_n([tf.reduce_sum(tf.cast(g, tf.float32) * tf.cast(d, tf.float32))
                                 for g, d in zip(parts, direction)]))
        return tf.stack(out) / tf.square(tf.cast(self.loss_scale, tf.float32))
