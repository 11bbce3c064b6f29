"""``graddrop``: Gradient Sign Dropout (Chen et al. 2020, "Just Pick a Sign: Optimizing Deep
Multitask Models with Gradient Sign Dropout", NeurIPS)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from mtlzoo.training.balancers.gramian_balancer import GramianBalancer


def sign_purity(summed: tf.Tensor) -> tf.Tensor:
    """P = 1/2 (1 + sum_i G_i / sum_i |G_i|) per coordinate of ``summed`` (T, ...); 1/2 where every
    G_i is 0 (Alg. 1 line 8)."""
    return 0.5 * (1.0 + tf.math.divide_no_nan(tf.reduce_sum(summed, 0), tf.reduce_sum(tf.abs(summed), 0)))


def sign_masks(summed: tf.Tensor, uniform: tf.Tensor) -> tf.Tensor:
    """M_i = I[P > U] I[G_i > 0] + I[P < U] I[G_i < 0] (float32, shape of ``summed``), with U of the
    shape of one G_i (Alg. 1 line 10, f the identity)."""
    purity = sign_purity(summed)
    positive = tf.logical_and((purity > uniform)[None], summed > 0)
    negative = tf.logical_and((purity < uniform)[None], summed < 0)
    return tf.cast(tf.logical_or(positive, negative), tf.float32)


def sign_dropout(grads: list, masks: tf.Tensor, leak: tf.Tensor) -> tf.Tensor:
    """sum_i (l_i + (1 - l_i) M_i) grads_i, each mask tiled over a leading batch axis if the
    gradients have one more axis than the masks (Alg. 1 line 11)."""
    out = None
    for i, g in enumerate(grads):
        m = leak[i] + (1.0 - leak[i]) * masks[i]
        if g.shape.rank == masks.shape.rank:  # batch-separated: masks lack the batch axis
            m = m[None]
        term = tf.cast(m, g.dtype) * g
        out = term if out is None else out + term
    return out


@keras.saving.register_keras_serializable(package="mtlzoo")
class GradDrop(GramianBalancer):
    """GradDrop per shared block: at every coordinate keep either only the positive or only the
    negative task gradients, the positive ones with probability P (their sign purity).

    ``space="latent"`` (the default; the paper's placement on the activations A = Z_i): the
    gradients dL_t/dZ_i are batch-separated, so G_t = sum over the batch of sign(A) o dL_t/dZ_i
    (Alg. 1 lines 6-7; summed over the global batch: replicas all-reduce the T x (features) sums),
    P and the masks M_t are per feature coordinate, and each sample's upstream gradient is
    sum_t (l_t + (1 - l_t) M_t) o dL_t/dZ_i. ``space="parameters"`` applies the same rule to the
    Jacobian of the block's parameters (G_t = dL_t/dtheta_i, all-reduced, no sign(A) and no batch
    sum, as TorchJD's ``GradDrop`` aggregator): P and the masks are per parameter.

    U ~ Uniform(0, 1) comes from ``tf.random.stateless_uniform`` seeded by (``seed`` + block and
    tensor, the step counter): reproducible, and the same on every replica. The update is not a
    linear combination of the task gradients, so no ``weight_<task>`` is logged and the line search
    gets the latent direction only (latent space).

    Departures: f (the paper's monotone transform of P) is the identity; per tree block, each
    shared block drops signs of its own latents (the paper uses one layer).

    Args:
        leak: l_t in [0, 1], how much of each task's gradient passes unmasked: one number, or
            ``{task: leak}`` (others 0). 0 is the paper's default.
        space: ``"latent"`` or ``"parameters"``.
        seed: seeds U (with the step counter).
        **kwargs: ``Balancer`` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("graddrop", leak=0.1).leak
        0.1
    """

    registry_name = "graddrop"

    def __init__(self, leak: float | Mapping[str, float] = 0.0, space: str | None = None, seed: int = 0,
                 **kwargs: Any):
        super().__init__(space=space, **kwargs)
        values = leak.values() if isinstance(leak, Mapping) else [leak]
        if not all(isinstance(v, (int, float)) and 0.0 <= v <= 1.0 for v in values):
            raise ValueError(f"graddrop: leak must be a number in [0, 1] or {{task: number in [0, 1]}}, got {leak!r}.")
        self.leak = {str(k): float(v) for k, v in leak.items()} if isinstance(leak, Mapping) else float(leak)
        self.seed = int(seed)

    def create_state(self) -> None:
        if isinstance(self.leak, dict) and set(self.leak) - set(self.tasks):
            raise ValueError(f"graddrop: leak names unknown tasks {sorted(set(self.leak) - set(self.tasks))}; "
                             f"the tasks are {list(self.tasks)}.")
        self.steps = self.state_variable("steps")

    def task_leaks(self, tasks) -> tf.Tensor:
        """l_t for ``tasks`` (float32)."""
        if isinstance(self.leak, dict):
            return tf.constant([self.leak.get(t, 0.0) for t in tasks], tf.float32)
        return tf.fill((len(tasks),), self.leak)

    def weigh_blocks(self, problems) -> tuple[dict, dict]:
        self.steps.assign_add(1.0)  # combine() reads this step's counter back as steps - 1
        return {p.block: tf.ones((p.size,)) for p in problems}, {}

    def combine(self, problem, weights) -> list:
        grads = problem.gradients()  # per task, per tensor (scaled by the loss scale)
        latents = tf.nest.flatten(problem.step.latents[problem.block]) if self.space == "latent" else None
        leak = self.task_leaks(problem.tasks)
        counter = tf.cast(self.steps, tf.int32) - 1
        out = []
        for j in range(len(grads[0])):
            parts = [g[j] for g in grads]
            if latents is not None:
                sign = tf.sign(tf.cast(latents[j], tf.float32))
                summed = tf.stack([tf.reduce_sum(sign * tf.cast(g, tf.float32), axis=0) for g in parts])
            else:
                summed = tf.stack([tf.cast(g, tf.float32) for g in parts])
            summed = problem.step.all_reduce_sum(summed)
            shape = summed.shape[1:] if summed.shape[1:].is_fully_defined() else tf.shape(summed)[1:]
            seed = tf.stack([self.seed + 7919 * problem.position + j, counter])
            uniform = tf.random.stateless_uniform(shape, seed=seed, alg="philox")
            out.append(sign_dropout(parts, sign_masks(summed, uniform), leak))
        return out

    def fallback_weights(self, size: int) -> tf.Tensor:
        return tf.ones((size,))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "leak": self.leak, "seed": self.seed}
