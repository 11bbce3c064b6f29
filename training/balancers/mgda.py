"""``mgda``: exact MGDA on the per-task gradients of the shared parameters (seed 002 §3.2, seed 000 eq. 4.5)."""

from __future__ import annotations

import keras

from mtlzoo.training.balancers.min_norm_balancer import MinNormBalancer


@keras.saving.register_keras_serializable(package="mtlzoo")
class MGDA(MinNormBalancer):
    """Exact MGDA: per shared block i, the min-norm point of {dL_t/d theta_i : t in O(i)}.

    Needs one full backward pass per task (T times the cost of ``mgda_ub``'s
    shared part); under a strategy the per-task gradients' Gram matrix is
    all-reduced and every replica applies sum_t alpha_t g_t of its own batch.

    Args: see :class:`MinNormBalancer`.

    Example:
        >>> model.compile(optimizer="sgd", loss=..., balancer="mgda")   # doctest: +SKIP
    """

    registry_name = "mgda"

    def gradients(self, step):
        param_grads = step.parameter_gradients()
        alphas, stationary = self.solve_blocks(step, step.parameter_grams(param_grads))
        grads = step.assemble_parameters(param_grads, alphas, {})
        return step.finish(grads), {"pareto_stationary": stationary}
