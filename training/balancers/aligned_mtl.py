"""``aligned_mtl``: Aligned-MTL (Senushkin et al. 2023, "Independent Component Alignment for
Multi-Task Learning", CVPR): align the principal components of the task gradients."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mtlzoo.training.balancers import gram_spectrum
from mtlzoo.training.balancers.gramian_balancer import GramianBalancer

SCALES = ("min", "median", "rmse")


def balance_transformation(gram, scale: str = "min") -> tf.Tensor:
    """B = sigma V_r L_r^{-1/2} V_r^T (float64, T x T) from the Gram matrix G = V L V^T.

    Over the r eigenpairs kept (rank-deficient G: the others are dropped, as in the authors' code),
    so the aligned gradients B J (J: the task gradients as rows) have the Gram matrix
    B G B = sigma^2 V_r V_r^T: r equal singular values sigma, condition number 1. ``scale`` picks
    sigma^2: the smallest kept eigenvalue (``"min"``, the paper's default), their median (the lower
    middle one) or their mean (``"rmse"``). The identity for a zero G.
    """
    if scale not in SCALES:
        raise ValueError(f"aligned_mtl: scale must be one of {SCALES}, got {scale!r}.")
    gram64, _ = gram_spectrum.clean(gram)
    lam, vecs, keep = gram_spectrum.spectrum(gram64)
    rank = tf.reduce_sum(tf.cast(keep, tf.int32))
    kept = tf.sort(tf.where(keep, lam, tf.fill(tf.shape(lam), tf.constant(float("inf"), lam.dtype))))
    if scale == "min":
        sigma2 = kept[0]
    elif scale == "median":
        sigma2 = tf.gather(kept, tf.maximum(rank - 1, 0) // 2)
    else:
        sigma2 = tf.math.divide_no_nan(tf.reduce_sum(tf.where(keep, lam, tf.zeros_like(lam))),
                                       tf.cast(rank, lam.dtype))
    inv_sqrt = tf.where(keep, tf.math.rsqrt(tf.where(keep, lam, tf.ones_like(lam))), tf.zeros_like(lam))
    b = tf.sqrt(tf.where(rank > 0, sigma2, tf.zeros_like(sigma2))) * tf.matmul(
        vecs * inv_sqrt[None, :], vecs, transpose_b=True)
    return tf.where(rank > 0, b, tf.eye(tf.shape(lam)[0], dtype=lam.dtype))


def aligned_mtl_weights(gram, scale: str = "min") -> tf.Tensor:
    """Aligned-MTL's weights alpha = B 1 (float32, shape (T,)), B from :func:`balance_transformation`:
    the update is the sum of the aligned gradients, J^T B 1 (the authors' code; TorchJD averages
    instead, 1/T of this)."""
    return tf.cast(tf.reduce_sum(balance_transformation(gram, scale), axis=1), tf.float32)


@keras.saving.register_keras_serializable(package="mtlzoo")
class AlignedMTL(GramianBalancer):
    """Aligned-MTL per shared block: the weights that make the task gradients' matrix orthogonal
    with equal singular values before summing them (Senushkin et al. 2023, Alg. 1).

    Gradients that conflict or differ in magnitude make the gradient matrix ill-conditioned; the
    paper aligns them to a matrix of condition number 1, scaled by the smallest singular value, by
    the eigendecomposition of the T x T Gram matrix (:func:`balance_transformation`). In latent space
    this is the paper's Aligned-MTL-UB (the gradients of the shared representation).

    Departures: the eigenvalue cut-off for the rank (see :mod:`gram_spectrum`); per tree block,
    each block aligns the gradients of the tasks that share it; the tasks' own heads get their
    unscaled gradients (the authors' default ``scale_decoder_grad=False``).

    Args:
        scale: ``"min"`` (default), ``"median"`` or ``"rmse"``: the common singular value.
        space: ``"latent"`` or ``"parameters"``.
        **kwargs: ``Balancer`` arguments.

    Example:
        >>> from mtlzoo.training import balancers
        >>> balancers.get("aligned_mtl").scale
        'min'
    """

    registry_name = "aligned_mtl"
    logs_weights = True

    def __init__(self, scale: str = "min", space: str | None = None, **kwargs: Any):
        super().__init__(space=space, **kwargs)
        if scale not in SCALES:
            raise ValueError(f"aligned_mtl: scale must be one of {SCALES}, got {scale!r}.")
        self.scale = scale

    def weigh(self, problem) -> tf.Tensor:
        return aligned_mtl_weights(problem.gram, self.scale)

    def fallback_weights(self, size: int) -> tf.Tensor:
        return tf.ones((size,))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale}
