"""``upgrad``: UPGrad, the mean of the task gradients projected onto their dual cone (Quinton & Rey 2024)."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mtlzoo.training.balancers.gramian_balancer import GramianBalancer
from mtlzoo.training.solvers.dual_cone import dual_cone_weights


@keras.saving.register_keras_serializable(package="mtlzoo")
class UPGrad(GramianBalancer):
    """Unconflicting projection of gradients (Quinton & Rey 2024, "Jacobian Descent for
    Multi-Objective Optimization", arXiv:2406.16232; TorchJD's ``UPGrad``).

    Per shared block i, each task gradient g_t is projected onto the dual cone
    {d : g_s . d >= 0 for all s in O(i)} and the projections are averaged:
    d = (1/T) sum_t pi(g_t). By the paper's Proposition 1, pi(g_t) = sum_s v_s g_s with
    v = argmin_{v >= e_t} v^T G v, so the block's weights are w = (1/T) sum_t v^(t): an update that
    conflicts with no task (G w >= 0 up to the ridge) and equals the mean when nothing conflicts.

    Departures from TorchJD: the T quadratic programs are solved exactly by a Lawson-Hanson
    active-set method in TensorFlow (float64, at most 4 T + 8 passes, see
    :func:`~mtlzoo.training.solvers.nonnegative_qp.nonnegative_qp`) instead of ``quadprog``; as
    there, G is divided by its trace and ``reg_eps`` I added, but a small trace is not rounded to 0
    (TorchJD zeroes G when trace < 1e-4, which for the small latent gradients of a mean loss would
    make UPGrad the mean). No preference vector (TorchJD's ``pref_vector``): the mean. A task whose
    Gram row is not finite gets weight 0; a zero gradient (a task absent from the batch) keeps
    its 1/T.

    Args:
        reg_eps: the ridge added to G / trace(G) (TorchJD's default 1e-4); 0 solves the
            unregularized problem (the weights of duplicate gradients are then not unique).
        space: ``"latent"`` (default) or ``"parameters"`` (the paper's Jacobian descent).
        **kwargs: :class:`~mtlzoo.training.balancers.Balancer` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> problem = balancers.BlockProblem("trunk", 0, ("a", "b"), (0, 1),
        ...                                  tf.constant([[1.0, -2.0], [-2.0, 9.0]]), tf.ones(2), None, "latent")
        >>> w = balancers.get("upgrad", reg_eps=0.0).weigh(problem)
        >>> bool(tf.reduce_all(tf.linalg.matvec(problem.gram, w) >= -1e-6))   # conflicts with no task
        True
    """

    registry_name = "upgrad"
    logs_weights = True

    def __init__(self, reg_eps: float = 1e-4, **kwargs: Any):
        super().__init__(**kwargs)
        if not reg_eps >= 0:
            raise ValueError(f"upgrad: reg_eps must be >= 0, got {reg_eps!r}.")
        self.reg_eps = float(reg_eps)

    def weigh(self, problem) -> tf.Tensor:
        size = problem.size
        projections = dual_cone_weights(problem.gram, tf.eye(size, dtype=tf.float64) / size, self.reg_eps)
        return tf.reduce_sum(projections, axis=0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "reg_eps": self.reg_eps}
