"""``config``: ConFIG (Liu et al. 2024, "ConFIG: Towards Conflict-free Training of Physics Informed
Neural Networks"): the conflict-free direction with equal cosines to every task gradient."""

from __future__ import annotations

import keras
import tensorflow as tf

from mtlzoo.training.balancers import gram_spectrum
from mtlzoo.training.balancers.gramian_balancer import GramianBalancer
from mtlzoo.training.solvers._common import uniform


def config_weights(gram) -> tf.Tensor:
    """ConFIG's weights w (float32, shape (T,)) with sum_t w_t g_t = (sum_i g_i . v) v.

    g_u = U^+ 1 with U the unit gradients as rows (paper eq. 2) is sum_t c_t u_t with
    c = K^+ 1 (K = U U^T, from G); v = g_u / ||g_u|| and ||g_u||^2 = beta^T G beta with
    beta = c / ||g||, so w = beta (1^T G beta) / (beta^T G beta). With full-rank G, v has the
    cosine 1 / ||g_u|| with every task gradient; a singular G (duplicates, collinear or zero
    gradients) takes the pseudo-inverse, as the paper's ``pinv``: a task without a gradient gets
    weight 0. Uniform weights where no task has a gradient.
    """
    gram64, valid = gram_spectrum.clean(gram)
    _, inv_norms = gram_spectrum.norms(gram64)
    beta = inv_norms * gram_spectrum.unit_least_squares(gram64)
    g_beta = tf.linalg.matvec(gram64, beta)
    length = tf.reduce_sum(g_beta)  # sum_i g_i . g_u
    square = tf.tensordot(beta, g_beta, 1)  # ||g_u||^2
    ok = square > 1e-30
    w = tf.cast(beta * length / tf.where(ok, square, tf.ones_like(square)), tf.float32)
    return tf.where(ok, w, uniform(valid))


@keras.saving.register_keras_serializable(package="mtlzoo")
class ConFIG(GramianBalancer):
    """ConFIG per shared block (Liu et al. 2024, eq. 2): the update v (sum_i g_i . v) with v the unit
    vector of U^+ 1, U the unit task gradients: every task gets the same positive cosine with the
    update (when the gradients are linearly independent), its length the sum of the gradients'
    projections onto v.

    Departures: per tree block, each block solves its own problem over the tasks sharing it; the
    paper's momentum variant (M-ConFIG, which updates one task's momentum per step) is not included;
    the eigenvalue cut-off of the pseudo-inverse (see :mod:`gram_spectrum`). The paper works on
    parameter gradients (``space="parameters"``, the default); ``space="latent"`` applies the same
    rule to dL_t/dZ_i.

    Args:
        space: ``"parameters"`` or ``"latent"``.
        **kwargs: ``Balancer`` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("config").space
        'parameters'
    """

    registry_name = "config"
    default_space = "parameters"
    logs_weights = True

    def weigh(self, problem) -> tf.Tensor:
        return config_weights(problem.gram)

    def fallback_weights(self, size: int) -> tf.Tensor:
        return tf.ones((size,))
