"""Input cleaning shared by the small Gramian solvers (nonnegative_qp, alpha_fair, conflict_averse)."""

from __future__ import annotations

import tensorflow as tf


def clean_gram(gram, dtype=tf.float64) -> tuple[tf.Tensor, tf.Tensor]:
    """``(gram, valid)``: a T x T Gram matrix cast to ``dtype``, symmetrized, with the rows and
    columns of its invalid tasks zeroed; ``valid`` marks the tasks whose squared norm is finite and
    whose products with every other such task are finite (an overflow in one product drops both
    ends of it).

    Args:
        gram: the T x T Gram matrix, any float dtype.
        dtype: the dtype of the returned matrix (float64 for the small solves).

    Example:
        >>> g, valid = clean_gram([[1.0, float("nan")], [float("nan"), 4.0]])
        >>> valid.numpy().tolist(), g.numpy().tolist()
        ([False, False], [[0.0, 0.0], [0.0, 0.0]])
    """
    gram = tf.convert_to_tensor(gram)
    if gram.shape.rank != 2 or (gram.shape[0] is not None and gram.shape[1] is not None
                                and gram.shape[0] != gram.shape[1]):
        raise ValueError(f"gram must be a square T x T matrix, got shape {gram.shape}.")
    gram = tf.cast(gram, dtype)
    finite = tf.math.is_finite(gram)
    valid = tf.math.is_finite(tf.linalg.diag_part(gram))
    bad_pair = tf.logical_not(finite) & valid[:, None] & valid[None, :]
    valid = valid & tf.logical_not(tf.reduce_any(bad_pair, axis=1))
    pair = valid[:, None] & valid[None, :]
    gram = tf.where(pair, gram, tf.zeros_like(gram))
    return 0.5 * (gram + tf.transpose(gram)), valid


def trace_normalized(gram: tf.Tensor) -> tf.Tensor:
    """``gram`` divided by its trace (the squared Frobenius norm of the Jacobian), or unchanged when
    the trace is 0: the weights of a scale-invariant method do not change, and float64 stays well
    conditioned for tiny or huge gradients."""
    trace = tf.linalg.trace(gram)
    return tf.where(trace > 0, gram / tf.where(trace > 0, trace, tf.ones_like(trace)), gram)


def stable_solve(matrix: tf.Tensor, rhs: tf.Tensor) -> tf.Tensor:
    """x with A x = b for one or a batch of small square systems (``rhs``: (..., T, K)), that
    never raises.

    ``tf.linalg.solve`` (and ``lu``, ``cholesky``) raise outside XLA on an exactly zero or a NaN
    pivot, which a train step must not do; this solves by Householder QR and a triangular solve,
    which return inf instead, after scaling the system symmetrically to a unit diagonal (Jacobi
    equilibration: the barrier and Newton systems of these solvers mix entries 1e20 apart). A
    system with a non-finite entry is replaced by the identity and its solution by NaN, for the
    caller's finiteness checks.
    """
    diag = tf.abs(tf.linalg.diag_part(matrix))
    usable = tf.math.is_finite(diag) & (diag > 0)
    scale = tf.where(usable, tf.math.rsqrt(tf.where(usable, diag, tf.ones_like(diag))), tf.ones_like(diag))
    scaled = scale[..., :, None] * matrix * scale[..., None, :]
    finite = tf.reduce_all(tf.math.is_finite(scaled), axis=[-2, -1]) & tf.reduce_all(
        tf.math.is_finite(rhs), axis=[-2, -1])
    eye = tf.eye(tf.shape(matrix)[-1], batch_shape=tf.shape(matrix)[:-2], dtype=matrix.dtype)
    scaled = tf.where(finite[..., None, None], scaled, eye)
    q, r = tf.linalg.qr(scaled)
    rhs = scale[..., :, None] * tf.where(finite[..., None, None], rhs, tf.zeros_like(rhs))
    solution = scale[..., :, None] * tf.linalg.triangular_solve(r, tf.matmul(q, rhs, adjoint_a=True), lower=False)
    nan = tf.fill(tf.shape(solution), tf.constant(float("nan"), matrix.dtype))
    return tf.where(finite[..., None, None], solution, nan)
