"""``alpha_fair``: the positive solution w of G w = w^(-1/alpha) by damped Newton (Nash-MTL, FairGrad)."""

from __future__ import annotations

import tensorflow as tf

from mtlzoo.training.solvers.gram_input import clean_gram, stable_solve

#: how many step fractions 1, 1/2, 1/4, ... the backtracking line search tries (all at once)
BACKTRACKS = 30


def alpha_fair(gram, alpha: float = 1.0, reg_eps: float = 1e-8, max_iters: int = 100,
               absent: float = 1e-12, dtype=tf.float32) -> tf.Tensor:
    """w > 0 with (G + eps I) w = w^(-1/alpha) elementwise (float32 out, float64 inside).

    The equation is the stationarity condition of the strictly convex
    f(w) = 1/2 w^T (G + eps I) w - sum_i h(w_i), h' (w) = w^(-1/alpha) (h = log for alpha = 1), so it
    has one solution; damped Newton on f (step fraction to the boundary, then Armijo backtracking)
    finds it to float64 precision in a few tens of steps. The problem is solved on G divided by its
    largest diagonal entry and the weights scaled back by s^(-alpha / (alpha + 1)), which is exact:
    if G = s G' and G' w' = w'^(-1/alpha), then w = s^(-alpha/(alpha+1)) w' solves G w = w^(-1/alpha).

    Guards: a task whose Gram row is not finite, or whose squared gradient norm is at most ``absent``
    times the largest (a task absent from the batch), gets weight 0 and is left out of the system (it
    has no positive solution: (G w)_i = 0). The ridge ``reg_eps`` (times the largest squared norm)
    makes a positive combination of the gradients that cancels (g_1 = -g_2) solvable; without it such
    weights grow without bound. All tasks absent gives all zeros.

    Args:
        gram: the T x T Gram matrix.
        alpha: the fairness exponent (> 0); 1 is proportional fairness, Nash-MTL's G w = 1/w.
        reg_eps: the ridge, relative to the largest squared gradient norm.
        max_iters: Newton step cap.
        absent: the relative squared norm below which a task counts as absent.
        dtype: of the result.

    Example:
        >>> alpha_fair(tf.constant([[1.0, 0.0], [0.0, 4.0]]), reg_eps=0.0).numpy()  # w_i = 1 / ||g_i||
        array([1. , 0.5], dtype=float32)
    """
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha!r}.")
    gram, valid = clean_gram(gram)
    size = tf.shape(gram)[0]
    diag = tf.linalg.diag_part(gram)
    scale = tf.reduce_max(tf.where(valid, diag, tf.zeros_like(diag)))
    present = valid & (diag > absent * scale) & (scale > 0)
    safe_scale = tf.where(scale > 0, scale, tf.ones_like(scale))
    pair = present[:, None] & present[None, :]
    eye = tf.eye(size, dtype=tf.float64)
    matrix = tf.where(pair, gram / safe_scale + reg_eps * eye, tf.zeros_like(gram))
    power = 1.0 / float(alpha)
    ones = tf.ones_like(diag)

    def change(w, delta, steps):  # f(w + s delta) - f(w) for each s, without cancellation
        gw, gd = tf.linalg.matvec(matrix, w), tf.linalg.matvec(matrix, delta)
        quadratic = steps * tf.tensordot(delta, gw, 1) + 0.5 * steps ** 2 * tf.tensordot(delta, gd, 1)
        safe = tf.where(present, w, ones)
        ratio = tf.where(present, steps[:, None] * delta / safe, tf.zeros_like(steps[:, None] * delta))
        log_ratio = tf.math.log1p(tf.maximum(ratio, -0.99))  # 1 + ratio >= 0.01 at every trial
        if alpha == 1:
            gain = log_ratio
        else:
            gain = tf.pow(safe, 1.0 - power) * tf.math.expm1((1.0 - power) * log_ratio) / (1.0 - power)
        return quadratic - tf.reduce_sum(tf.where(present, gain, tf.zeros_like(gain)), axis=-1)

    # start on the best multiple of w_i = 1 / ||g_i|| (exact for orthogonal gradients)
    direction = tf.where(present, tf.math.rsqrt(tf.where(present, tf.linalg.diag_part(matrix), ones)),
                         tf.zeros_like(diag))
    quad = tf.tensordot(direction, tf.linalg.matvec(matrix, direction), 1)
    spread = tf.reduce_sum(tf.where(present, tf.pow(tf.where(present, direction, ones), 1.0 - power),
                                    tf.zeros_like(diag)))
    factor = tf.pow(tf.math.divide_no_nan(spread, quad), alpha / (alpha + 1.0))
    w0 = factor * direction
    fractions = tf.pow(tf.constant(0.5, tf.float64), tf.range(BACKTRACKS, dtype=tf.float64))

    def body(i, w, done):
        safe = tf.where(present, w, ones)
        gradient = tf.where(present, tf.linalg.matvec(matrix, w) - tf.pow(safe, -power), tf.zeros_like(w))
        curvature = power * tf.pow(safe, -power - 1.0)
        hessian = tf.where(pair, matrix + tf.linalg.diag(curvature), eye)
        delta = -stable_solve(hessian, gradient[:, None])[:, 0]
        decrement = -tf.tensordot(gradient, delta, 1)
        shrinking = present & (delta < 0)
        boundary = tf.reduce_min(tf.where(shrinking, -safe / tf.where(shrinking, delta, -ones), 2.0 * ones))
        steps = tf.minimum(tf.constant(1.0, tf.float64), 0.99 * boundary) * fractions
        accept = change(w, delta, steps) <= -0.25 * steps * decrement
        found = tf.reduce_any(accept)
        step = tf.where(found, tf.gather(steps, tf.argmax(tf.cast(accept, tf.int32))), tf.zeros_like(decrement))
        ok = found & tf.math.is_finite(decrement) & tf.reduce_all(tf.math.is_finite(delta))
        new = tf.where(ok, w + step * delta, w)
        # converged: the residual is at rounding level, |G w - w^(-p)| <= 1e-13 (|G| |w| + w^(-p)), or
        # the Newton decrement (f - f* to second order) is below 1e-20 of f's scale w^T G w + sum w^(1-p)
        size_of = tf.linalg.matvec(tf.abs(matrix), tf.abs(w)) + tf.pow(safe, -power)
        scale = tf.abs(tf.tensordot(w, tf.linalg.matvec(matrix, w), 1)) + tf.reduce_sum(
            tf.where(present, tf.pow(safe, 1.0 - power), tf.zeros_like(w)))
        converged = tf.reduce_all(tf.abs(gradient) <= 1e-13 * size_of) | (decrement <= 1e-20 * scale)
        finished = tf.logical_not(ok) | converged
        return i + 1, tf.where(done, w, new), done | finished

    _, w, _ = tf.while_loop(lambda i, w, done: tf.logical_not(done), body,
                            (tf.constant(0), w0, tf.logical_not(tf.reduce_any(present))),
                            maximum_iterations=max_iters)
    w = tf.where(present, w * tf.pow(safe_scale, -alpha / (alpha + 1.0)), tf.zeros_like(w))
    return tf.cast(w, dtype)
