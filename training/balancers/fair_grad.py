"""``fairgrad``: FairGrad, alpha-fair allocation of the update among the tasks (Ban & Ji 2024)."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mtlzoo.training.balancers.gramian_balancer import GramianBalancer
from mtlzoo.training.balancers.norm_clip import clip_weights
from mtlzoo.training.solvers.alpha_fair import alpha_fair


@keras.saving.register_keras_serializable(package="mtlzoo")
class FairGrad(GramianBalancer):
    """FairGrad (Ban & Ji 2024, "Fair Resource Allocation in Multi-Task Learning", ICML).

    The update d = sum_t w_t g_t maximizes the alpha-fair utility sum_t (g_t . d)^(1 - alpha) /
    (1 - alpha) (log for alpha = 1) over a ball; its optimality condition, in the authors' code
    (``G w = w^(-1/alpha)``, solved with SciPy's ``least_squares`` from w = 1/T), is
    G w = w^(-1/alpha) elementwise with w > 0 on the raw Gram matrix (no normalization): alpha = 1
    is proportional fairness (Nash-MTL's equation without its normalization), alpha -> infinity
    approaches max-min fairness, alpha -> 0 the plain sum. The weights multiply the raw losses.

    Departures: the equation is solved to float64 precision by damped Newton on its convex
    potential (at most ``max_iters`` steps, typically under 40; see
    :func:`~mtlzoo.training.solvers.alpha_fair.alpha_fair`) instead of ``least_squares`` (which
    stops early on ill-conditioned G), with a ridge of ``reg_eps`` times the largest squared
    gradient norm (positive combinations that cancel, g_1 = -g_2, have no solution otherwise). A
    task with a zero gradient (absent from the batch) or a non-finite Gram row gets weight 0. The
    authors' code multiplies the update by T ("to match the sum loss") and clips the shared gradient
    to norm 1; LibMTL does neither; here neither by default (``max_norm`` clips like theirs, in
    latent space the norm of the latent directions). The authors apply FairGrad to the shared
    parameters; ``space="latent"`` (default here) applies it to the latent gradients of each
    shared block. The weights are not scale-free: G -> s G gives w -> s^(-alpha/(alpha+1)) w.

    Args:
        alpha: the fairness exponent (> 0; the authors' default 1.0).
        max_norm: if > 0, scale all blocks' weights so the combined update has at most this norm.
        reg_eps: the relative ridge (see above).
        max_iters: Newton step cap.
        space: ``"latent"`` (default) or ``"parameters"``.
        **kwargs: :class:`~mtlzoo.training.balancers.Balancer` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> problem = balancers.BlockProblem("trunk", 0, ("a", "b"), (0, 1),
        ...                                  tf.constant([[1.0, 0.0], [0.0, 4.0]]), tf.ones(2), None, "latent")
        >>> balancers.get("fairgrad", alpha=2.0, reg_eps=0.0).weigh(problem).numpy().round(4)  # w = G_tt^(-2/3)
        array([1.    , 0.3969], dtype=float32)
    """

    registry_name = "fairgrad"
    logs_weights = True

    def __init__(self, alpha: float = 1.0, max_norm: float = 0.0, reg_eps: float = 1e-8, max_iters: int = 100,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if not alpha > 0:
            raise ValueError(f"fairgrad: alpha must be > 0, got {alpha!r}.")
        if not max_norm >= 0:
            raise ValueError(f"fairgrad: max_norm must be >= 0 (0: no clipping), got {max_norm!r}.")
        if not reg_eps >= 0:
            raise ValueError(f"fairgrad: reg_eps must be >= 0, got {reg_eps!r}.")
        if int(max_iters) != max_iters or max_iters < 1:
            raise ValueError(f"fairgrad: max_iters must be an integer >= 1, got {max_iters!r}.")
        self.alpha = float(alpha)
        self.max_norm = float(max_norm)
        self.reg_eps = float(reg_eps)
        self.max_iters = int(max_iters)

    def weigh(self, problem) -> tf.Tensor:
        return alpha_fair(problem.gram, self.alpha, self.reg_eps, self.max_iters)

    def weigh_blocks(self, problems) -> tuple[dict, dict]:
        weights = self.safe_weights(problems, {p.block: self.weigh(p) for p in problems})
        return clip_weights(problems, weights, self.max_norm), {}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha, "max_norm": self.max_norm,
                "reg_eps": self.reg_eps, "max_iters": self.max_iters}
