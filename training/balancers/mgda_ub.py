"""``mgda_ub``: MGDA on the latent gradients dL_t/dZ_i of the shared blocks (seed 002 §3.3, seed 000 eq. 4.7)."""

from __future__ import annotations

import keras

from mtlzoo.training.balancers.min_norm_balancer import MinNormBalancer


@keras.saving.register_keras_serializable(package="mtlzoo")
class MGDAUB(MinNormBalancer):
    """MGDA-UB: the min-norm point of the latent gradients, one backward pass through the shared blocks.

    For every shared block i it solves min ||sum_{t in O(i)} alpha_t^i dL_t/dZ_i||^2
    on the simplex and sends sum_t alpha_t^i dL_t/dZ_i into block i as its
    upstream gradient; each task's own blocks get their task's gradient (seed
    002 Alg. 2 line 2). The Gram matrix is a sum over samples, so under a
    ``tf.distribute`` strategy the replicas all-reduce the T x T matrix only.

    Args: see :class:`MinNormBalancer` (``normalization``, ``solver``, ``tolerance``).

    Example:
        >>> model.compile(optimizer="sgd", loss=..., balancer="mgda_ub")   # doctest: +SKIP
    """

    registry_name = "mgda_ub"

    latent = True

    def gradients(self, step):
        latent_grads = step.latent_gradients()
        alphas, stationary = self.solve_blocks(step, step.latent_grams(latent_grads))
        grads = step.assemble_latent(latent_grads, alphas, {})
        return step.finish(grads), {"pareto_stationary": stationary}
