"""``mgda_ub``: MGDA on the latent gradients dL_t/dZ_i of the shared blocks (seed 002 §3.3, seed 000 eq. 4.7)."""

from __future__ import annotations

import keras

from mtlzoo.training.balancers.mgda import MGDA


@keras.saving.register_keras_serializable(package="mtlzoo")
class MGDAUB(MGDA):
    """MGDA-UB: exactly ``mgda`` with ``space="latent"`` (its default here).

    For every shared block i it solves min ||sum_{t in O(i)} alpha_t^i dL_t/dZ_i||^2
    on the simplex and sends sum_t alpha_t^i dL_t/dZ_i into block i as its
    upstream gradient; each task's own blocks get their task's gradient (seed
    002 Alg. 2 line 2). The Gram matrix is a sum over samples, so under a
    ``tf.distribute`` strategy the replicas all-reduce the T x T matrix only.

    Args: see :class:`MinNormBalancer` (``normalization``, ``solver``, ``tolerance``, ``space``).

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("mgda_ub").space
        'latent'
    """

    registry_name = "mgda_ub"
    default_space = "latent"
