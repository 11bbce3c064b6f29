"""``hybrid``: latent GradNorm while every task still improves, then MGDA-UB (seed 000 §4.4, Alg. 1)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtlzoo.training.balancers.grad_norm import GradNorm
from mtlzoo.training.balancers.gramian_balancer import GramianBalancer
from mtlzoo.training.balancers.mgda import MGDA


@keras.saving.register_keras_serializable(package="mtlzoo")
class Hybrid(GramianBalancer):
    """GradNorm (eq. 4.11) while every task's epoch loss drops by more than epsilon, then MGDA
    (eq. 4.7) for the rest of training: two weightings of the same Gram matrices.

    The phase (0: GradNorm, 1: MGDA) is a variable: switching needs no
    retrace, it is logged as ``hybrid_phase`` and saved in checkpoints, with the
    running epoch losses, so a resumed run continues in the same phase. The
    switch is checked after every epoch (``MultiTaskModel.fit`` adds the
    callback); the epoch it happened in is logged as ``hybrid_switch_epoch``
    (0 while it has not). Both weightings see the same per-task gradients and
    Gram matrices, so ``pareto_stationary`` is logged in both phases.

    Departure from seed 000: with ``relative=True`` the test compares each task's
    drop with ``epsilon`` times that task's first-epoch loss instead of with
    ``epsilon`` itself, so one epsilon suits losses of any scale (the absolute
    1e-3 of Alg. 1 switches only after 14-18 epochs on MultiMNIST).

    Args:
        epsilon: the smallest epoch-over-epoch drop of every task's mean
            training loss that keeps the GradNorm phase going (a negative value
            never switches).
        relative: measure the drop as a fraction of the first epoch's loss.
        alpha, learning_rate: :class:`GradNorm` settings.
        normalization, solver, tolerance: :class:`MGDA` settings.
        space: ``"latent"`` (seed 000: latent GradNorm then MGDA-UB) or ``"parameters"``.
        **kwargs: ``Balancer`` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("hybrid", epsilon=0.01).epsilon
        0.01
    """

    registry_name = "hybrid"

    def __init__(self, epsilon: float = 1e-3, alpha: float = 1.5, learning_rate: float = 0.025,
                 normalization: str = "loss+", solver: str = "auto", tolerance: float = 0.05,
                 relative: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        if not np.isfinite(epsilon):
            raise ValueError(f"hybrid: epsilon must be a finite number, got {epsilon!r}.")
        self.epsilon = float(epsilon)
        self.relative = bool(relative)
        self.gradnorm = GradNorm(alpha=alpha, learning_rate=learning_rate, space=self.space, name="gradnorm")
        self.mgda_ub = MGDA(normalization=normalization, solver=solver, tolerance=tolerance, space=self.space,
                            name="mgda_ub")

    def create_state(self) -> None:
        self.gradnorm.setup(self.tree, self.groups)
        self.mgda_ub.setup(self.tree, self.groups)
        t = len(self.tasks)
        self.phase = self.state_variable("phase")
        self.epoch_loss_sum = self.state_variable("epoch_loss_sum", (t,))
        self.epoch_steps = self.state_variable("epoch_steps")
        self.previous_epoch_loss = self.state_variable("previous_epoch_loss", (t,))
        self.has_previous = self.state_variable("has_previous")
        self.first_epoch_loss = self.state_variable("first_epoch_loss", (t,))
        self.switch_epoch = self.state_variable("switch_epoch")

    def log_names(self) -> tuple[str, ...]:
        return ("hybrid_phase", "pareto_stationary")

    def weigh_blocks(self, problems) -> tuple[dict, dict]:
        mgda = self.phase > 0.5
        alphas, logs = self.mgda_ub.weigh_blocks(problems)
        c_blocks, c_logs = self.gradnorm.weigh_blocks(problems, enabled=tf.logical_not(mgda))
        blocks = {b: tf.where(mgda, alphas[b], c_blocks[b]) for b in alphas}
        self.epoch_loss_sum.assign_add(tf.stack([problems[0].step.values[t] for t in self.tasks])
                                       if problems else tf.zeros_like(self.epoch_loss_sum))
        self.epoch_steps.assign_add(1.0)
        own = {t: tf.where(mgda, 1.0, c_logs[f"weight_{t}"]) for t in self.tasks}
        return blocks, {"hybrid_phase": tf.cast(mgda, tf.float32), "pareto_stationary": logs["pareto_stationary"],
                        "_own": own}

    def own_weights(self, step, block_weights: dict, logs: dict) -> dict:
        return logs.pop("_own")

    def fallback_weights(self, size: int) -> tf.Tensor:
        return tf.ones((size,))

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        steps = float(self.epoch_steps.numpy())
        if steps > 0:
            mean = self.epoch_loss_sum.numpy() / steps
            if self.has_previous.numpy() > 0 and self.phase.numpy() < 0.5:
                drops = self.previous_epoch_loss.numpy() - mean
                threshold = self.epsilon * (self.first_epoch_loss.numpy() if self.relative else 1.0)
                if not (drops > threshold).all():
                    self.phase.assign(1.0)
                    self.switch_epoch.assign(float(epoch + 1))
            if self.has_previous.numpy() == 0:
                self.first_epoch_loss.assign(mean)
            self.previous_epoch_loss.assign(mean)
            self.has_previous.assign(1.0)
        self.epoch_loss_sum.assign(tf.zeros_like(self.epoch_loss_sum))
        self.epoch_steps.assign(0.0)
        return {"hybrid_phase": float(self.phase.numpy()), "hybrid_switch_epoch": float(self.switch_epoch.numpy())}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "epsilon": self.epsilon, "relative": self.relative,
                "alpha": self.gradnorm.alpha, "learning_rate": self.gradnorm.learning_rate,
                "normalization": self.mgda_ub.normalization, "solver": self.mgda_ub.solver,
                "tolerance": self.mgda_ub.tolerance}
