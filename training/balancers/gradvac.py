"""``gradvac``: Gradient Vaccine (Wang et al. 2021, "Gradient Vaccine: Investigating and Improving
Multi-task Optimization in Massively Multilingual Models", ICLR): PCGrad with adaptive cosine targets."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mtlzoo.training.balancers.gramian_balancer import GramianBalancer

#: targets are capped below 1: reaching cosine 1 would need an infinite multiple of g_j
MAX_TARGET = 0.999
#: a modified gradient whose norm falls below this fraction of the original one counts as cancelled
CANCELLED = 1e-2


def visiting_orders(size: int, seed) -> tf.Tensor:
    """Row i: the order in which task i visits the tasks (a random permutation from the stateless seed
    pair ``seed``; TensorFlow draws other numbers for the same seed in an XLA-compiled graph)."""
    return tf.argsort(tf.random.stateless_uniform((size, size), seed=seed, alg="philox"), axis=1)


def gradvac_coefficients(gram, targets, order) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """One GradVac step from the Gram matrix alone: ``(C, cosines, measured)``.

    Every modified gradient stays a combination g'_i = sum_s C_is g_s of the original ones (so the
    update sum_i g'_i has the weights beta = 1^T C), so ||g'_i||^2 = (C G C^T)_ii and g'_i . g_j = (C G)_ij.
    Task i visits the other tasks j in the order of row i of ``order`` (T x T, its own index skipped); when
    phi = cos(g'_i, g_j) is below the target t = phi^_ij (``targets``, T x T) it adds
    ||g'_i|| (t sqrt(1 - phi^2) - phi sqrt(1 - t^2)) / (||g_j|| sqrt(1 - t^2)) g_j, which makes
    cos(g'_i, g_j) = t (the paper's eq. 2 / Alg. 1). ``cosines`` holds each phi_ij as
    measured at its visit (before the correction), ``measured`` where it was defined (both
    gradients non-zero), for the caller's EMA update. A g'_i that cancels to below ``CANCELLED`` (1%)
    of ||g_i|| (nearly opposite gradients) is set to 0: G is float32, so its cosines with the others
    would be off by about 1e-7 / 0.01^2 (exactly opposite ones give 0 in exact arithmetic too).
    """
    gram = tf.cast(gram, tf.float32)
    gram = tf.where(tf.math.is_finite(gram), gram, tf.zeros_like(gram))
    # float64 for the T sequential steps: their coefficients grow, and float32 round-off piles up
    gram = tf.cast(tf.math.divide_no_nan(gram, tf.reduce_max(tf.abs(tf.linalg.diag_part(gram)))), tf.float64)
    t = gram.shape[0]
    order = tf.cast(order, tf.int32)
    targets = tf.minimum(tf.cast(targets, tf.float64), MAX_TARGET)
    norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(gram), 0.0))
    rows = tf.range(t)
    coeffs = tf.eye(t, dtype=tf.float64)
    cosines = tf.zeros((t, t), tf.float64)
    measured = tf.zeros((t, t), tf.bool)
    for k in range(t + 1):
        cg = tf.matmul(coeffs, gram)
        norm_i = tf.sqrt(tf.maximum(tf.reduce_sum(cg * coeffs, axis=1), 0.0))
        # a g'_i cancelled below CANCELLED of its norm has float32-noise cosines: it is set to 0
        alive = (norm_i > CANCELLED * norms) | (norms <= 0)  # a task without gradient keeps weight 1
        coeffs = tf.where(alive[:, None], coeffs, tf.zeros_like(coeffs))
        if k == t:
            break
        cg = tf.where(alive[:, None], cg, tf.zeros_like(cg))
        norm_i = tf.where(alive, norm_i, tf.zeros_like(norm_i))
        j = order[:, k]
        dots = tf.gather(cg, j, batch_dims=1)
        norm_j = tf.gather(norms, j)
        defined = (j != rows) & (norm_i > 0) & (norm_j > 1e-12)
        phi = tf.clip_by_value(tf.math.divide_no_nan(dots, norm_i * norm_j), -1.0, 1.0)
        target = tf.gather(targets, j, batch_dims=1)
        sin_phi = tf.sqrt(tf.maximum(1.0 - phi * phi, 0.0))
        sin_target = tf.sqrt(tf.maximum(1.0 - target * target, 0.0))
        step = norm_i * (target * sin_phi - phi * sin_target) / tf.maximum(norm_j * sin_target, 1e-30)
        step = tf.where(defined & (phi < target), step, tf.zeros_like(step))
        pair = tf.one_hot(j, t, dtype=tf.float64)
        coeffs = coeffs + step[:, None] * pair
        cosines = cosines + tf.where(defined, phi, tf.zeros_like(phi))[:, None] * pair
        measured = measured | (defined[:, None] & (pair > 0))
    return tf.cast(coeffs, tf.float32), tf.cast(cosines, tf.float32), measured


@keras.saving.register_keras_serializable(package="mtlzoo")
class GradVac(GramianBalancer):
    """GradVac per shared block: PCGrad's sequential surgery, but toward an adaptive cosine target.

    For each task pair (i, j) of a block the balancer keeps phi^_ij, an exponential moving average
    of their gradients' cosine (phi^ <- (1 - beta) phi^ + beta phi, updated at every visit, starting
    at 0, so the first step is PCGrad). When cos(g'_i, g_j) falls below phi^_ij, g'_i moves toward
    g_j until the cosine equals the target (:func:`gradvac_coefficients`); the block's update is
    sum_i g'_i = sum_s beta_s g_s. The targets (one T x T matrix per shared block) are state, saved
    with the model and identical on every replica (computed from the all-reduced G).

    Departures: the granularity is the tree block (the paper also applies it per layer); targets are
    capped at 0.999; a pair with a zero gradient (a task absent from the batch) is neither corrected
    nor measured, so its target keeps its value; a modified gradient that cancels to below 1% of its
    norm is dropped (see :func:`gradvac_coefficients`).

    Args:
        beta: the EMA rate (the paper's experiments: 1e-2; LibMTL and TorchJD default to 0.5).
        space: ``"parameters"`` (the paper) or ``"latent"`` (the same on dL_t/dZ_i).
        seed: seeds the random visiting orders (with the step counter).
        **kwargs: ``Balancer`` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("gradvac").beta
        0.01
    """

    registry_name = "gradvac"
    default_space = "parameters"
    logs_weights = True

    def __init__(self, beta: float = 1e-2, space: str | None = None, seed: int = 0, **kwargs: Any):
        super().__init__(space=space, **kwargs)
        if not 0.0 < beta <= 1.0:
            raise ValueError(f"gradvac: beta must be in (0, 1], got {beta!r}.")
        self.beta = float(beta)
        self.seed = int(seed)

    def create_state(self) -> None:
        t = len(self.tasks)
        self.steps = self.state_variable("steps")
        self.targets = self.state_variable("targets", (max(len(self.tree.shared_blocks), 1), t, t))

    def weigh_blocks(self, problems) -> tuple[dict, dict]:
        counter = tf.cast(self.steps, tf.int32)
        self.steps.assign_add(1.0)
        state = tf.convert_to_tensor(self.targets)
        new_state, weights = state, {}
        for p in problems:
            index = [[p.position, a, b] for a in p.task_index for b in p.task_index]
            current = tf.reshape(tf.gather_nd(state, index), (p.size, p.size))
            order = visiting_orders(p.size, tf.stack([self.seed + p.position, counter]))
            coeffs, phi, measured = gradvac_coefficients(p.gram, current, order)
            weights[p.block] = tf.reduce_sum(coeffs, axis=0)
            updated = tf.where(measured, (1.0 - self.beta) * current + self.beta * phi, current)
            new_state = tf.tensor_scatter_nd_update(new_state, index, tf.reshape(updated, [-1]))
        self.targets.assign(new_state)
        return weights, {}

    def fallback_weights(self, size: int) -> tf.Tensor:
        return tf.ones((size,))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta": self.beta, "seed": self.seed}
