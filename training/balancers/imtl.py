"""``imtl``: Impartial Multi-Task Learning (Liu et al. 2021, "Towards Impartial Multi-task Learning",
ICLR): IMTL-G's closed-form shared weights and IMTL-L's learned loss scales."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mtlzoo.training.balancers import gram_spectrum
from mtlzoo.training.balancers.gramian_balancer import GramianBalancer
from mtlzoo.training.solvers._common import uniform

MODES = ("hybrid", "gradient", "loss")


def imtl_g_weights(gram) -> tf.Tensor:
    """IMTL-G's alpha (float32, shape (T,)) from the Gram matrix of the tasks' gradients.

    The paper's closed form alpha_{2:T} = g_1 U^T (D U^T)^{-1}, alpha_1 = 1 - sum alpha_{2:T}
    (D = [g_1 - g_t], U = [u_1 - u_t], u_t = g_t / ||g_t||) solves "d = sum_t alpha_t g_t has the
    same projection onto every u_t, and sum_t alpha_t = 1". In terms of G that is
    alpha = D^-1 c / (1^T D^-1 c) with c = K^+ 1, K the Gram matrix of the unit gradients and D
    the norms: d is parallel to U^+ 1, whose projections onto every u_t are 1. The pseudo-inverse
    also covers a singular G (duplicate, collinear or zero gradients), where the paper's inverse
    does not exist: a task without a gradient gets weight 0, duplicates share theirs equally.

    Departure: when 1^T D^-1 c <= 0 (it happens for about 2% of random gradient sets with unequal
    norms) the paper's normalization turns d into an ascent direction for every task; the weights
    are divided by |1^T D^-1 c| instead, keeping the equal projections positive. Where that sum is
    0 or nothing is finite the weights are uniform.
    """
    gram64, valid = gram_spectrum.clean(gram)
    _, inv_norms = gram_spectrum.norms(gram64)
    alpha = inv_norms * gram_spectrum.unit_least_squares(gram64)
    total = tf.reduce_sum(alpha)
    ok = tf.abs(total) > 1e-9 * tf.reduce_sum(tf.abs(alpha))
    alpha = tf.cast(alpha / tf.where(ok, tf.abs(total), tf.ones_like(total)), tf.float32)
    return tf.where(ok, alpha, uniform(valid))


@keras.saving.register_keras_serializable(package="mtlzoo")
class IMTL(GramianBalancer):
    """IMTL (Liu et al. 2021): the shared update has equal projections onto every task's unit
    gradient (IMTL-G), and each task's loss is scaled by a learned e^{s_t} (IMTL-L).

    IMTL-L trains the losses e^{s_t} L_t - s_t, with s_t trainable variables of the balancer (the
    model's optimizer updates them with the network; they are saved with it): each task's own
    blocks get e^{s_t} dL_t/dtheta_t and s_t gets e^{s_t} L_t - 1. IMTL-G weighs the scaled
    gradients e^{s_t} g_t of every shared block i by the closed form of :func:`imtl_g_weights`, so
    the block's update is sum_t alpha_t e^{s_t} g_t (the logged ``weight_<task>`` is
    alpha_t e^{s_t} of the task's root-most shared block). The paper's IMTL is both (``mode=
    "hybrid"``) on the gradients of the shared features z (``space="latent"``, the default here).

    Departures: the pseudo-inverse and the sign of the normalization (see :func:`imtl_g_weights`);
    the scales' base is e (the paper allows any b > 1); per tree block, each block solves its own
    IMTL-G problem over the tasks that share it, with one set of scales s for the whole tree.

    Args:
        mode: ``"hybrid"`` (IMTL-G and IMTL-L), ``"gradient"`` (IMTL-G on the raw gradients, no
            scales) or ``"loss"`` (IMTL-L alone: the weighted sum of e^{s_t} L_t - s_t, one
            backward pass).
        space: ``"latent"`` or ``"parameters"`` (IMTL-G on dL_t/dtheta_i).
        **kwargs: ``Balancer`` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("imtl", mode="gradient").mode
        'gradient'
    """

    registry_name = "imtl"
    logs_weights = True

    def __init__(self, mode: str = "hybrid", space: str | None = None, **kwargs: Any):
        super().__init__(space=space, **kwargs)
        if mode not in MODES:
            raise ValueError(f"imtl: mode must be one of {MODES}, got {mode!r}.")
        self.mode = mode

    def create_state(self) -> None:
        if self.mode != "gradient":
            self.log_scales = self.state_variable("log_scales", (len(self.tasks),), "zeros", trainable=True)

    def scales(self) -> tf.Tensor:
        """e^{s_t} per task (ones in ``mode="gradient"``)."""
        if self.mode == "gradient":
            return tf.ones((len(self.tasks),))
        return tf.exp(tf.convert_to_tensor(self.log_scales))

    def weigh_blocks(self, problems) -> tuple[dict, dict]:
        scales = self.scales()
        weights = {}
        for p in problems:
            e = tf.gather(scales, list(p.task_index))
            if self.mode == "loss":
                weights[p.block] = e
            else:  # IMTL-G on the scaled gradients e_t g_t, as weights on the raw ones
                weights[p.block] = imtl_g_weights(p.gram * e[:, None] * e[None, :]) * e
        return weights, {}

    def own_weights(self, step, block_weights: dict, logs: dict) -> dict:
        scales = self.scales()
        return {t: scales[k] for k, t in enumerate(self.tasks)} if self.mode != "gradient" else {}

    def gradients(self, step):
        if self.mode == "loss":  # a loss weighting: one backward pass reaches s through the tape
            s = self.log_scales
            scale = step.loss_scale / float(step.replicas())
            grads = step.weighted_sum_gradients(lambda: {t: tf.exp(s[k]) for k, t in enumerate(self.tasks)},
                                                extra=lambda: -scale * tf.reduce_sum(s))
            weights = tf.exp(tf.convert_to_tensor(s))
            return grads, {f"weight_{t}": weights[k] for k, t in enumerate(self.tasks)}
        grads, logs = super().gradients(step)
        if self.mode == "hybrid":  # d/ds_t (e^{s_t} L_t - s_t), per replica share and loss scale
            scales = self.scales()
            share = step.loss_scale / float(step.replicas())
            grad_s = tf.stack([scales[k] * tf.cast(step.losses[t], tf.float32) - share
                               for k, t in enumerate(self.tasks)])
            grads[step.index_of(self.log_scales)] = grad_s
        return grads, logs

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}
