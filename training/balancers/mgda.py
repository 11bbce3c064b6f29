"""``mgda``: MGDA, the min-norm point of the per-task gradients of each shared block (seed 002 §3.2-3.3,
seed 000 eqs. 4.5 / 4.7), in parameter space or (``space="latent"``, MGDA-UB) in latent space."""

from __future__ import annotations

import keras

from mtlzoo.training.balancers.min_norm_balancer import MinNormBalancer


@keras.saving.register_keras_serializable(package="mtlzoo")
class MGDA(MinNormBalancer):
    """MGDA: per shared block i, the min-norm point of {g_t^i : t in O(i)}.

    With ``space="parameters"`` (the default) g_t^i = dL_t/dtheta_i: exact MGDA, one full backward
    pass per task (T times the cost of the latent form's shared part). With ``space="latent"``
    g_t^i = dL_t/dZ_i: MGDA-UB (registered as ``mgda_ub``), one backward pass through the shared
    blocks. Under a strategy the Gram matrix is all-reduced and every replica applies
    sum_t alpha_t g_t of its own batch.

    Args: see :class:`MinNormBalancer` (``space``, ``normalization``, ``solver``, ``tolerance``).

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("mgda", space="latent").latent
        True
    """

    registry_name = "mgda"
    default_space = "parameters"
