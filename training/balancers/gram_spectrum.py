"""Small eigen-problems of a block's Gram matrix, shared by the spectral weightings (``imtl``,
``aligned_mtl``, ``config``): TensorFlow ops, usable in ``tf.function`` and with ``jit_compile=True``.

The T x T problems are solved in float64 (the Gram matrices are float32); eigenvalues at or below
``RTOL * T * lambda_max`` count as zero, since a float32 Gram matrix of rank r carries eigenvalues of
about 1e-7 lambda_max where it should have zeros (the authors' Aligned-MTL code cuts at
``T * eps32 * lambda_max``, which that noise can reach on large blocks).

>>> import tensorflow as tf
>>> g = tf.constant([[1.0, 1.0], [1.0, 1.0]])  # two equal gradients: rank 1
>>> lam, _, keep = spectrum(clean(g)[0])
>>> keep.numpy().tolist()
[False, True]
"""

from __future__ import annotations

import tensorflow as tf

from mtlzoo.training.solvers._common import prepare

#: relative eigenvalue cut-off (times T times the largest eigenvalue)
RTOL = 1e-6
#: a task whose squared gradient norm is below this (after scaling the largest to 1) has none
TINY = 1e-24


def clean(gram) -> tuple[tf.Tensor, tf.Tensor]:
    """``(gram64, valid)``: the Gram matrix symmetrized, scaled to a largest diagonal of 1, with
    the rows and columns of tasks whose entries are not finite set to zero (they then count as
    tasks without a gradient), in float64; ``valid`` marks the tasks kept."""
    gram, valid = prepare(gram)
    return tf.cast(gram, tf.float64), valid


def norms(gram64: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``(||g_t||, 1 / ||g_t||)`` from the diagonal, with 0 for tasks without a gradient."""
    diag = tf.linalg.diag_part(gram64)
    present = diag > TINY
    norm = tf.sqrt(tf.where(present, diag, tf.zeros_like(diag)))
    return norm, tf.where(present, 1.0 / tf.where(present, norm, tf.ones_like(norm)), tf.zeros_like(norm))


def spectrum(gram64: tf.Tensor, rtol: float = RTOL) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """``(eigenvalues ascending, eigenvectors as columns, keep)`` of a symmetric PSD matrix;
    ``keep`` marks the eigenvalues above the cut-off (none for the zero matrix)."""
    lam, vecs = tf.linalg.eigh(gram64)
    size = tf.cast(tf.shape(gram64)[0], gram64.dtype)
    top = tf.reduce_max(lam)
    keep = tf.logical_and(lam > rtol * size * top, top > 0)
    return lam, vecs, keep


def pseudo_inverse(gram64: tf.Tensor, rtol: float = RTOL) -> tf.Tensor:
    """The Moore-Penrose inverse of a symmetric PSD matrix from its kept eigenpairs."""
    lam, vecs, keep = spectrum(gram64, rtol)
    inv = tf.where(keep, 1.0 / tf.where(keep, lam, tf.ones_like(lam)), tf.zeros_like(lam))
    return tf.matmul(vecs * inv[None, :], vecs, transpose_b=True)


def cosines(gram64: tf.Tensor) -> tf.Tensor:
    """K = D^-1 G D^-1 with D the gradient norms: the Gram matrix of the unit gradients (zero rows
    and columns for tasks without a gradient)."""
    _, inv = norms(gram64)
    return gram64 * inv[:, None] * inv[None, :]


def unit_least_squares(gram64: tf.Tensor, rtol: float = RTOL) -> tf.Tensor:
    """c = K^+ 1: the coefficients on the unit gradients u_t of g_u = U^+ 1 = sum_t c_t u_t, the
    minimum-norm vector whose projections onto every u_t are (as near as possible) 1."""
    k = cosines(gram64)
    present = tf.cast(tf.linalg.diag_part(k) > 0.5, gram64.dtype)
    return tf.linalg.matvec(pseudo_inverse(k, rtol), present)
