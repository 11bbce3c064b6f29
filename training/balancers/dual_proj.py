"""``dualproj``: the mean gradient projected onto the dual cone of the task gradients (GEM; TorchJD's DualProj)."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mtlzoo.training.balancers.gramian_balancer import GramianBalancer
from mtlzoo.training.solvers.dual_cone import dual_cone_weights


@keras.saving.register_keras_serializable(package="mtlzoo")
class DualProj(GramianBalancer):
    """Projection of the mean gradient onto the dual cone (Lopez-Paz & Ranzato 2017, "Gradient
    Episodic Memory for Continual Learning", eq. 11 and its dual; as TorchJD's ``DualProj``).

    Per shared block i, d = argmin_{z} ||z - g0||^2 s.t. g_t . z >= 0 for all t in O(i), with
    g0 = (1/T) sum_t g_t. GEM solves it in its dual, a QP over the non-negative orthant in T
    variables; in terms of the Gram matrix, d = sum_t w_t g_t with w = argmin_{w >= 1/T} w^T G w
    (Quinton & Rey 2024, Prop. 1). d conflicts with no task (G w >= 0 up to the ridge) and is the
    mean when the mean conflicts with none.

    Departures from TorchJD: the QP is solved exactly by a Lawson-Hanson active-set method in
    TensorFlow (float64, at most 4 T + 8 passes) instead of ``quadprog``; G is divided by its trace
    and ``reg_eps`` I added as there, but a small trace is not rounded to 0. GEM projects the
    current task's gradient against the memories' gradients; here, as in TorchJD, the mean of all
    tasks is projected against all of them. A task whose Gram row is not finite gets weight 0.

    Args:
        reg_eps: the ridge added to G / trace(G) (TorchJD's default 1e-4).
        space: ``"latent"`` (default) or ``"parameters"``.
        **kwargs: :class:`~mtlzoo.training.balancers.Balancer` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> problem = balancers.BlockProblem("trunk", 0, ("a", "b"), (0, 1),
        ...                                  tf.constant([[1.0, -2.0], [-2.0, 9.0]]), tf.ones(2), None, "latent")
        >>> balancers.get("dualproj", reg_eps=0.0).weigh(problem).numpy()
        array([1. , 0.5], dtype=float32)
    """

    registry_name = "dualproj"
    logs_weights = True

    def __init__(self, reg_eps: float = 1e-4, **kwargs: Any):
        super().__init__(**kwargs)
        if not reg_eps >= 0:
            raise ValueError(f"dualproj: reg_eps must be >= 0, got {reg_eps!r}.")
        self.reg_eps = float(reg_eps)

    def weigh(self, problem) -> tf.Tensor:
        return dual_cone_weights(problem.gram, tf.fill((problem.size,), 1.0 / problem.size), self.reg_eps)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "reg_eps": self.reg_eps}
