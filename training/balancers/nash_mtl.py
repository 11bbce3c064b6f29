"""``nash_mtl``: Nash-MTL, the Nash bargaining solution G alpha = 1 / alpha (Navon et al. 2022)."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mtlzoo.training.balancers.gramian_balancer import GramianBalancer
from mtlzoo.training.balancers.norm_clip import clip_weights
from mtlzoo.training.solvers.alpha_fair import alpha_fair
from mtlzoo.training.solvers.gram_input import clean_gram


def nash_weights(gram, reg_eps: float = 1e-8, max_iters: int = 100) -> tf.Tensor:
    """alpha > 0 with (G / ||G||_F) alpha = 1 / alpha, as the authors normalize G (float32).

    Tasks with a non-finite Gram row, or a zero gradient, get 0 (see
    :func:`~mtlzoo.training.solvers.alpha_fair.alpha_fair`).
    """
    gram, _ = clean_gram(gram)
    norm = tf.norm(gram)
    gram = gram / tf.where(norm > 0, norm, tf.ones_like(norm))
    return alpha_fair(gram, alpha=1.0, reg_eps=reg_eps, max_iters=max_iters)


@keras.saving.register_keras_serializable(package="mtlzoo")
class NashMTL(GramianBalancer):
    """Nash-MTL (Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik & Fetaya 2022, "Multi-Task
    Learning as a Bargaining Game", ICML).

    Per shared block i, the update d = sum_t alpha_t g_t is the Nash bargaining solution: the
    alpha > 0 with G alpha = 1 / alpha elementwise (the paper's Section 3), i.e. every task's
    directional improvement g_t . d = 1 / alpha_t; G is divided by its Frobenius norm first, as in
    the authors' code, so the update scales with the gradients. The weights multiply the raw losses.

    Departures: the authors approximate the solution by at most 20 steps of a sequence of convex
    problems (CCP, cvxpy/ECOS, warm-started at the previous step's alpha); here the same equation
    is solved to float64 precision by damped Newton on its convex potential (at most ``max_iters``
    steps, typically under 30; see :func:`~mtlzoo.training.solvers.alpha_fair.alpha_fair`), with a
    ridge of ``reg_eps`` times the largest squared gradient norm (positive combinations that cancel,
    g_1 = -g_2, have no solution otherwise). A task with a zero gradient (absent from the batch) or
    a non-finite Gram row gets weight 0. The authors clip the shared gradient to norm 1
    (``max_norm=1.0``); here clipping is off by default (``max_norm=0``) because in latent space the
    clipped norm is that of the latent directions, not the parameters'. ``update_weights_every``
    reuses the stored alpha in between (the Gram matrices are still computed: the core always
    does). The authors apply Nash-MTL to the shared parameters; ``space="latent"`` (default here)
    applies it to the latent gradients of each shared block.

    Args:
        update_weights_every: solve every this many steps, reuse the weights in between (>= 1).
        max_norm: if > 0, scale all blocks' weights so the combined update has at most this norm.
        reg_eps: the relative ridge (see above).
        max_iters: Newton step cap.
        space: ``"latent"`` (default) or ``"parameters"``.
        **kwargs: :class:`~mtlzoo.training.balancers.Balancer` arguments.

    Example:
        >>> nash_weights(tf.constant([[1.0, 0.0], [0.0, 4.0]]), reg_eps=0.0).numpy().round(4)
        array([2.0305, 1.0153], dtype=float32)
    """

    registry_name = "nash_mtl"
    logs_weights = True

    def __init__(self, update_weights_every: int = 1, max_norm: float = 0.0, reg_eps: float = 1e-8,
                 max_iters: int = 100, **kwargs: Any):
        super().__init__(**kwargs)
        if int(update_weights_every) != update_weights_every or update_weights_every < 1:
            raise ValueError(f"nash_mtl: update_weights_every must be an integer >= 1, got {update_weights_every!r}.")
        if not max_norm >= 0:
            raise ValueError(f"nash_mtl: max_norm must be >= 0 (0: no clipping), got {max_norm!r}.")
        if not reg_eps >= 0:
            raise ValueError(f"nash_mtl: reg_eps must be >= 0, got {reg_eps!r}.")
        if int(max_iters) != max_iters or max_iters < 1:
            raise ValueError(f"nash_mtl: max_iters must be an integer >= 1, got {max_iters!r}.")
        self.update_weights_every = int(update_weights_every)
        self.max_norm = float(max_norm)
        self.reg_eps = float(reg_eps)
        self.max_iters = int(max_iters)

    def create_state(self) -> None:
        self.steps = self.state_variable("steps")
        # the last solved weights, per shared block (row) and task (column)
        self.stored = self.state_variable("stored_weights", (max(len(self.tree.shared_blocks), 1), len(self.tasks)))

    def weigh(self, problem) -> tf.Tensor:
        """One block's alpha, solved now (no reuse, no clipping: those span the step's blocks)."""
        return nash_weights(problem.gram, self.reg_eps, self.max_iters)

    def weigh_blocks(self, problems) -> tuple[dict, dict]:
        stored = tf.convert_to_tensor(self.stored)
        update = tf.equal(tf.math.floormod(self.steps, float(self.update_weights_every)), 0.0)
        weights, indices, values = {}, [], []
        for p in problems:
            def solve(p=p):
                return self.weigh(p)

            def reuse(p=p):
                return tf.gather(stored[p.position], list(p.task_index))

            w = solve() if self.update_weights_every == 1 else tf.cond(update, solve, reuse)
            w = tf.where(tf.reduce_all(tf.math.is_finite(w)), w, self.fallback_weights(p.size))
            weights[p.block] = w
            indices += [[p.position, k] for k in p.task_index]
            values.append(w)
        if problems:
            self.stored.assign(tf.tensor_scatter_nd_update(stored, indices, tf.concat(values, 0)))
        self.steps.assign_add(1.0)
        return clip_weights(problems, weights, self.max_norm), {}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "update_weights_every": self.update_weights_every,
                "max_norm": self.max_norm, "reg_eps": self.reg_eps, "max_iters": self.max_iters}
