"""``nonnegative_qp``: min 1/2 x^T Q x + q^T x over x >= 0, exactly, as TensorFlow ops (for UPGrad, DualProj)."""

from __future__ import annotations

import tensorflow as tf

from mtlzoo.training.solvers.gram_input import stable_solve


def _solve_on(matrix: tf.Tensor, rhs: tf.Tensor, support: tf.Tensor) -> tf.Tensor:
    """Per batch row b: the solution s of Q_PP s_P = rhs_P (s = 0 off the support P = support[b])."""
    size = tf.shape(matrix)[-1]
    both = support[:, :, None] & support[:, None, :]
    eye = tf.eye(size, batch_shape=[tf.shape(support)[0]], dtype=matrix.dtype)
    # a relative 1e-13 ridge keeps a face of a singular Q solvable (an exactly repeated gradient)
    ridge = 1e-13 * tf.reduce_max(tf.abs(tf.linalg.diag_part(matrix))) * tf.eye(size, dtype=matrix.dtype)
    system = tf.where(both, (matrix + ridge)[None], eye)
    solution = stable_solve(system, tf.where(support, rhs, tf.zeros_like(rhs))[..., None])[..., 0]
    return tf.where(support, solution, tf.zeros_like(solution))


def nonnegative_qp(matrix, linear, max_iters: int | None = None, tol: float = 1e-12) -> tf.Tensor:
    """argmin_{x >= 0} 1/2 x^T Q x + q^T x for a PSD Q and one or a batch of linear terms q.

    The Lawson-Hanson active-set method (Lawson & Hanson 1974, "Solving Least Squares Problems",
    ch. 23; here on the normal equations, as Bro & de Jong 1997), vectorized over the batch: the
    support P grows by the coordinate with the most negative gradient; when the minimizer on P
    leaves the orthant, x moves toward it until a coordinate hits 0, which leaves P. Each pass
    solves one |P| x |P| system per problem. It ends, exactly, when no coordinate off P has a
    negative gradient (the KKT conditions hold), or after ``max_iters`` passes; x is feasible at
    every pass, so a capped run returns a feasible point with a lower objective than x = 0.

    Runs in the dtype of ``matrix`` (use float64 for Gram matrices), inside ``tf.function`` and
    with ``jit_compile=True``.

    Args:
        matrix: Q, a T x T symmetric PSD matrix; a singular Q gets a relative 1e-13 ridge
            in the solves.
        linear: q, shape (T,) or (B, T).
        max_iters: cap on the passes (default 4 T + 8; Lawson-Hanson typically needs about 1-2 T).
        tol: a coordinate enters the support when its negative gradient exceeds ``tol`` times
            (1 + the largest |Q_ii| + the largest |q_i|).

    Returns:
        x, shape of ``linear``, x >= 0.

    Example:
        >>> q = tf.constant([[-1.0, 1.0]], tf.float64)          # min 1/2 ||x||^2 - x_1 + x_2
        >>> nonnegative_qp(tf.eye(2, dtype=tf.float64), q).numpy().round(9).tolist()
        [[1.0, 0.0]]
    """
    matrix = tf.convert_to_tensor(matrix)
    linear = tf.cast(tf.convert_to_tensor(linear), matrix.dtype)
    single = linear.shape.rank == 1
    linear = linear[None] if single else linear
    if matrix.shape.rank != 2 or linear.shape.rank != 2:
        raise ValueError(f"nonnegative_qp expects a T x T matrix and (B, T) linear terms, got "
                         f"{matrix.shape} and {linear.shape}.")
    size = tf.shape(matrix)[-1]
    max_iters = 4 * size + 8 if max_iters is None else int(max_iters)
    scale = 1.0 + tf.reduce_max(tf.abs(tf.linalg.diag_part(matrix))) + tf.reduce_max(tf.abs(linear))
    threshold = tol * scale
    batch = tf.shape(linear)[0]

    def body(i, x, support, done):
        target = _solve_on(matrix, -linear, support)
        finite = tf.reduce_all(tf.math.is_finite(target), axis=-1)
        inside = tf.reduce_all(tf.logical_not(support) | (target > 0), axis=-1)
        # the minimizer on P is feasible: take it and let the best violating coordinate enter
        descent = -(tf.matmul(target, matrix) + linear)  # -gradient (Q symmetric)
        enter = tf.logical_not(support) & (descent > threshold)
        can_enter = tf.reduce_any(enter, axis=-1)
        best = tf.argmax(tf.where(enter, descent, tf.fill(tf.shape(descent), tf.constant(-1.0, matrix.dtype))),
                         axis=-1, output_type=tf.int32)
        grown = support | (tf.one_hot(best, size, on_value=True, off_value=False) & can_enter[:, None])
        # otherwise: move toward it until the first coordinate of P reaches 0; those leave P
        blocking = support & (target <= 0)
        ratios = tf.where(blocking, x / tf.where(blocking, x - target, tf.ones_like(x)), tf.ones_like(x))
        step = tf.clip_by_value(tf.reduce_min(ratios, axis=-1), 0.0, 1.0)
        moved = x + step[:, None] * (target - x)
        kept = support & tf.logical_not(blocking & (moved <= threshold * 1e-3))
        moved = tf.where(kept, tf.maximum(moved, 0.0), tf.zeros_like(moved))

        active = tf.logical_not(done) & finite
        x = tf.where((active & inside)[:, None], target, tf.where((active & ~inside)[:, None], moved, x))
        support = tf.where((active & inside)[:, None], grown, tf.where((active & ~inside)[:, None], kept, support))
        done = done | tf.logical_not(finite) | (inside & tf.logical_not(can_enter))
        return i + 1, x, support, done

    zeros = tf.zeros_like(linear)
    _, x, _, _ = tf.while_loop(
        lambda i, x, support, done: tf.logical_not(tf.reduce_all(done)), body,
        (tf.constant(0), zeros, tf.zeros(tf.shape(linear), tf.bool), tf.zeros((batch,), tf.bool)),
        maximum_iterations=max_iters)
    return x[0] if single else x
