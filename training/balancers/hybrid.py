"""``hybrid``: latent GradNorm while every task still improves, then MGDA-UB (seed 000 §4.4, Alg. 1)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtlzoo.training.balancers.balancer import Balancer
from mtlzoo.training.balancers.grad_norm import GradNorm
from mtlzoo.training.balancers.mgda_ub import MGDAUB


@keras.saving.register_keras_serializable(package="mtlzoo")
class Hybrid(Balancer):
    """GradNorm on the latents (eq. 4.11) while every task's epoch loss drops by more than epsilon,
    then MGDA-UB (eq. 4.7) for the rest of training.

    The phase (0: GradNorm, 1: MGDA-UB) is a variable: switching needs no
    retrace, it is logged as ``hybrid_phase`` and saved in checkpoints, with the
    running epoch losses, so a resumed run continues in the same phase. The
    switch is checked after every epoch (``MultiTaskModel.fit`` adds the
    callback). Both phases share the latent gradients and their Gram matrix,
    so ``pareto_stationary`` is logged in both.

    Args:
        epsilon: the smallest epoch-over-epoch drop of every task's mean
            training loss that keeps the GradNorm phase going (a negative value
            never switches).
        alpha, learning_rate: :class:`GradNorm` settings.
        normalization, solver, tolerance: :class:`MGDAUB` settings.
        **kwargs: ``Balancer`` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("hybrid", epsilon=0.01).epsilon
        0.01
    """

    registry_name = "hybrid"

    latent = True

    def __init__(self, epsilon: float = 1e-3, alpha: float = 1.5, learning_rate: float = 0.025,
                 normalization: str = "loss+", solver: str = "auto", tolerance: float = 0.05, **kwargs: Any):
        super().__init__(**kwargs)
        if not np.isfinite(epsilon):
            raise ValueError(f"hybrid: epsilon must be a finite number, got {epsilon!r}.")
        self.epsilon = float(epsilon)
        self.gradnorm = GradNorm(alpha=alpha, learning_rate=learning_rate, space="latent", name="gradnorm")
        self.mgda_ub = MGDAUB(normalization=normalization, solver=solver, tolerance=tolerance, name="mgda_ub")

    def create_state(self) -> None:
        self.gradnorm.setup(self.tree)
        self.mgda_ub.setup(self.tree)
        t = len(self.tasks)
        self.phase = self.state_variable("phase")
        self.epoch_loss_sum = self.state_variable("epoch_loss_sum", (t,))
        self.epoch_steps = self.state_variable("epoch_steps")
        self.previous_epoch_loss = self.state_variable("previous_epoch_loss", (t,))
        self.has_previous = self.state_variable("has_previous")

    def log_names(self) -> tuple[str, ...]:
        return ("hybrid_phase", "pareto_stationary")

    def gradients(self, step):
        latent_grads = step.latent_gradients()
        grams = step.latent_grams(latent_grads)
        mgda = self.phase > 0.5
        alphas, stationary = self.mgda_ub.solve_blocks(step, grams)
        c_blocks, c_own, _ = self.gradnorm.latent_weights(step, grams, enabled=tf.logical_not(mgda))
        blocks = {b: tf.where(mgda, alphas[b], c_blocks[b]) for b in alphas}
        own = {t: tf.where(mgda, 1.0, c_own[t]) for t in self.tasks}
        self.epoch_loss_sum.assign_add(tf.stack([step.values[t] for t in self.tasks]))
        self.epoch_steps.assign_add(1.0)
        grads = step.finish(step.assemble_latent(latent_grads, blocks, own))
        return grads, {"hybrid_phase": tf.cast(mgda, tf.float32), "pareto_stationary": stationary}

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        steps = float(self.epoch_steps.numpy())
        if steps > 0:
            mean = self.epoch_loss_sum.numpy() / steps
            if self.has_previous.numpy() > 0 and self.phase.numpy() < 0.5:
                drops = self.previous_epoch_loss.numpy() - mean
                if not (drops > self.epsilon).all():
                    self.phase.assign(1.0)
            self.previous_epoch_loss.assign(mean)
            self.has_previous.assign(1.0)
        self.epoch_loss_sum.assign(tf.zeros_like(self.epoch_loss_sum))
        self.epoch_steps.assign(0.0)
        return {"hybrid_phase": float(self.phase.numpy())}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "epsilon": self.epsilon, "alpha": self.gradnorm.alpha,
                "learning_rate": self.gradnorm.learning_rate, "normalization": self.mgda_ub.normalization,
                "solver": self.mgda_ub.solver, "tolerance": self.mgda_ub.tolerance}
