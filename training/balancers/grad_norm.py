"""``gradnorm``: GradNorm (Chen et al., seed 003 Alg. 1) on the last shared weights or on the latents Z
(seed 000 eq. 4.11), as a weighting of the Gramian core."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mtlzoo.training.balancers.gramian_balancer import GramianBalancer
from mtlzoo.training.step_context import gradient


@keras.saving.register_keras_serializable(package="mtlzoo")
class GradNorm(GramianBalancer):
    """Learn task weights c^t so every task's gradient norm tracks its relative inverse training rate.

    Each step, for every shared block i: G_t = ||grad (c^t L_t)|| over the
    block's last weight tensor (``space="parameters"``, seed 003's W) or over its output
    Z_i (``space="latent"``, seed 000 eq. 4.11), G_bar its mean over O(i),
    r_t = L~_t / mean L~ with L~_t = L_t / L_t(0). The weights take one gradient
    step on L_grad = sum_t |G_t - G_bar r_t^alpha|_1 with the targets held
    constant, are clipped at ``min_weight`` and renormalized to sum to T. The
    network's step uses the weights from before the update (Alg. 1). L_grad is
    divided by the block's mean unweighted gradient norm, so ``learning_rate``
    is in units of weight whatever the losses' scale (the paper lets Adam's
    normalized steps do this).

    Args:
        alpha: the restoring force (seed 003 eq. 1).
        learning_rate: step size of the weights' update.
        space: ``"latent"`` or ``"parameters"`` (the norms over each shared block's last weight
            tensor, then one backward pass of sum_t c^t L_t; the old spelling ``"weights"`` still
            works, with a deprecation warning).
        min_weight: lower clip of every weight before renormalization.
        **kwargs: ``Balancer`` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("gradnorm", alpha=0.5).space
        'latent'
    """

    registry_name = "gradnorm"

    def __init__(self, alpha: float = 1.5, learning_rate: float = 0.025, space: str = "latent",
                 min_weight: float = 1e-3, **kwargs: Any):
        super().__init__(space=space, **kwargs)
        if not learning_rate > 0 or not alpha >= 0 or not min_weight > 0:
            raise ValueError("gradnorm: learning_rate and min_weight must be > 0 and alpha >= 0, got "
                             f"{learning_rate!r}, {min_weight!r}, {alpha!r}.")
        self.alpha = float(alpha)
        self.learning_rate = float(learning_rate)
        self.min_weight = float(min_weight)

    def create_state(self) -> None:
        t = len(self.tasks)
        self.task_weights = self.state_variable("task_weights", (t,), "ones")
        self.initial_losses = self.state_variable("initial_losses", (t,))
        self.started = self.state_variable("started")

    def log_names(self) -> tuple[str, ...]:
        return tuple(f"weight_{t}" for t in self.tasks)

    # ------------------------------------------------------------------ core
    def update(self, step, norms: dict, enabled=True) -> tf.Tensor:
        """One GradNorm update from ``{block: ||dL_t/d.|| over O(i)}``; returns the weights to use now."""
        index = {t: k for k, t in enumerate(self.tasks)}
        values = tf.stack([step.values[t] for t in self.tasks])
        initial = tf.where(self.started > 0, tf.convert_to_tensor(self.initial_losses), values)
        ratio = values / tf.maximum(initial, 1e-12)
        c = tf.convert_to_tensor(self.task_weights)
        with tf.GradientTape() as tape:
            tape.watch(c)
            terms = []
            for block, tasks, _ in step.groups.shared:
                idx = [index[t] for t in tasks]
                g = tf.gather(c, idx) * norms[block]
                r = tf.gather(ratio, idx)
                r = r / tf.maximum(tf.reduce_mean(r), 1e-12)
                target = tf.stop_gradient(tf.reduce_mean(g) * tf.pow(r, self.alpha))
                scale = tf.maximum(tf.reduce_mean(norms[block]), 1e-12)  # scale-free step size
                terms.append(tf.reduce_sum(tf.abs(g - target)) / tf.stop_gradient(scale))
            l_grad = tf.add_n(terms) if terms else tf.constant(0.0)
        grad = tf.convert_to_tensor(tape.gradient(l_grad, c, unconnected_gradients=tf.UnconnectedGradients.ZERO))
        new = tf.maximum(c - self.learning_rate * grad, self.min_weight)
        new = new * (len(self.tasks) / tf.reduce_sum(new))
        keep = tf.logical_not(tf.logical_and(tf.cast(enabled, tf.bool), tf.reduce_all(tf.math.is_finite(new))))
        self.task_weights.assign(tf.where(keep, c, new))
        self.initial_losses.assign(initial)
        self.started.assign(1.0)
        return c

    def latent_weights(self, step, grams: dict, enabled=True) -> tuple[dict, dict, tf.Tensor]:
        """``(block_weights, own_weights, c)`` from the blocks' Gram matrices, updating the weights."""
        norms = {b: tf.sqrt(tf.maximum(tf.linalg.diag_part(g), 0.0)) for b, g in grams.items()}
        c = self.update(step, norms, enabled)
        return self._spread(step, c) + (c,)

    def weigh_blocks(self, problems, enabled=True) -> tuple[dict, dict]:
        """One GradNorm update from every block's task-gradient norms; each block gets the tasks'
        current weights c (before the update, Alg. 1)."""
        if not problems:
            c = tf.convert_to_tensor(self.task_weights)
        else:
            _, _, c = self.latent_weights(problems[0].step, {p.block: p.gram for p in problems}, enabled)
        return self._spread_blocks(problems, c), {f"weight_{t}": c[k] for k, t in enumerate(self.tasks)}

    def own_weights(self, step, block_weights: dict, logs: dict) -> dict:
        return {t: logs[f"weight_{t}"] for t in self.tasks}

    def _spread(self, step, c) -> tuple[dict, dict]:
        index = {t: k for k, t in enumerate(self.tasks)}
        blocks = {b: tf.gather(c, [index[t] for t in tasks]) for b, tasks, _ in step.groups.shared}
        return blocks, {t: c[k] for k, t in enumerate(self.tasks)}

    @staticmethod
    def _spread_blocks(problems, c) -> dict:
        return {p.block: tf.gather(c, list(p.task_index)) for p in problems}

    def fallback_weights(self, size: int) -> tf.Tensor:
        return tf.ones((size,))

    def gradients(self, step):
        if self.latent:
            return super().gradients(step)
        # seed 003: the norms over each block's last weight tensor, then one backward pass of sum c L
        c = self.update(step, self._weight_norms(step))
        grads = step.weighted_sum_gradients({t: c[k] for k, t in enumerate(self.tasks)})
        return grads, {f"weight_{t}": c[k] for k, t in enumerate(self.tasks)}

    @staticmethod
    def last_weights(variables) -> list:
        """The block's last weight tensor (rank >= 2: a kernel), or all its variables if none."""
        kernels = [v for v in variables if len(v.shape) >= 2]
        return [kernels[-1]] if kernels else list(variables)

    def _weight_norms(self, step) -> dict:
        norms = {}
        for block, tasks, variables in step.groups.shared:
            w = self.last_weights(variables)
            per_task = [gradient(step.tape, step.losses[t], w) for t in tasks]
            gram = step.gram(per_task, space="parameters")
            norms[block] = tf.sqrt(tf.maximum(tf.linalg.diag_part(gram), 0.0))
        return norms

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha, "learning_rate": self.learning_rate,
                "min_weight": self.min_weight}
