"""``db_mtl``: Dual-Balancing Multi-Task Learning (Lin, Jiang, Ye, Zhang et al. 2023, "Dual-Balancing for
Multi-Task Learning", arXiv:2308.12029), as a weighting of the Gramian core."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtlzoo.training.balancers.epoch_losses import presence
from mtlzoo.training.balancers.gramian_balancer import GramianBalancer


@keras.saving.register_keras_serializable(package="mtlzoo")
class DBMTL(GramianBalancer):
    """Balance loss scales with log L_t and gradient magnitudes with the largest (EMA) gradient norm.

    Loss-scale balancing: every task trains on log(L_t + epsilon), whose gradient is
    grad L_t / (L_t + epsilon). Gradient-magnitude balancing, per shared block i: with
    n_t = ||grad_i log(L_t + epsilon)|| = sqrt(G^i_tt) / (L_t + epsilon) from the core's Gram
    matrix, an exponential moving average n^_t <- (1 - beta_k) n_t + beta_k n^_t with
    beta_k = beta / k^beta_sigma (step k), and the block's update
    sum_t (max_s n^_s / n_t) grad_i log(L_t + epsilon) = sum_t w_t grad_i L_t,
    w_t = max_s n^_s / sqrt(G^i_tt): every task's gradient at the block has the same norm,
    max_s n^_s. Each task's own blocks get grad log(L_t + epsilon) (weight 1 / (L_t + epsilon)).
    The moving averages (one per shared block and task) and the step count are balancer state.
    Logs ``weight_<task>`` (each task's w_t in its root-most shared block).

    Departures from the paper (and LibMTL's ``DB_MTL``, which works on the flattened parameter
    gradients only): the moving average is kept of the gradient *norms*, not of the gradient
    vectors, and the update uses this step's gradient directions rescaled to the largest averaged
    norm (the paper sums the averaged vectors), so the method needs no per-task copy of the
    gradients and works per tree block and in latent space (``space="latent"``, the default here:
    dL_t/dZ_i, one backward pass through the shared blocks) as well as on the parameters. A task
    absent from the batch (loss 0, zero gradient) gets weight 0, keeps its moving average and is
    left out of the maximum.

    Args:
        beta: the moving average's rate (0.9, LibMTL's default).
        beta_sigma: its decay exponent, beta_k = beta / k^beta_sigma (0: a constant rate, LibMTL's default).
        epsilon: added to L_t inside the log (1e-8 as in LibMTL).
        space: ``"latent"`` (default) or ``"parameters"``.
        **kwargs: ``Balancer`` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("db_mtl", space="parameters").space
        'parameters'
    """

    registry_name = "db_mtl"
    logs_weights = True

    def __init__(self, beta: float = 0.9, beta_sigma: float = 0.0, epsilon: float = 1e-8, space: str | None = None,
                 **kwargs: Any):
        super().__init__(space=space, **kwargs)
        for label, value, ok in (("beta", beta, lambda v: 0 <= v < 1), ("beta_sigma", beta_sigma, lambda v: v >= 0),
                                 ("epsilon", epsilon, lambda v: v > 0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) \
                    or not ok(value):
                raise ValueError(f"db_mtl: {label} out of range, got {value!r} (beta in [0, 1), beta_sigma >= 0, "
                                 "epsilon > 0).")
        self.beta = float(beta)
        self.beta_sigma = float(beta_sigma)
        self.epsilon = float(epsilon)

    def create_state(self) -> None:
        self.ema_norms = self.state_variable("ema_norms", (len(self.tree.shared_blocks), len(self.tasks)))
        self.steps = self.state_variable("steps")

    def weigh_blocks(self, problems) -> tuple[dict, dict]:
        k = self.steps + 1.0
        self.steps.assign(k)
        beta_k = self.beta / tf.pow(k, self.beta_sigma)
        ema = tf.convert_to_tensor(self.ema_norms)
        weights, indices, updates = {}, [], []
        for p in problems:
            norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(p.gram), 0.0))
            present = tf.logical_and(presence(p.values) > 0, tf.logical_and(norms > 0, tf.math.is_finite(norms)))
            safe_norms = tf.where(present, norms, 1.0)
            log_norms = safe_norms / (tf.where(present, p.values, 1.0) + self.epsilon)
            old = tf.gather(ema[p.position], list(p.task_index))
            new = tf.where(present, (1.0 - beta_k) * log_norms + beta_k * old, old)
            target = tf.reduce_max(tf.where(present, new, 0.0))
            weights[p.block] = tf.where(present, target / safe_norms, 0.0)
            indices += [[p.position, j] for j in p.task_index]
            updates.append(new)
        if problems:
            self.ema_norms.assign(tf.tensor_scatter_nd_update(ema, tf.constant(indices, tf.int32),
                                                              tf.concat(updates, 0)))
        return weights, {}

    def own_weights(self, step, block_weights: dict, logs: dict) -> dict:
        out = {}
        for t in self.tasks:
            value = tf.cast(step.values[t], tf.float32)
            out[t] = tf.where(presence(value) > 0, 1.0 / (value + self.epsilon), 0.0)
        return out

    def fallback_weights(self, size: int) -> tf.Tensor:
        return tf.ones((size,))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta": self.beta, "beta_sigma": self.beta_sigma, "epsilon": self.epsilon}
