"""``conflict_averse``: CAGrad's weights from the Gram matrix, by a barrier (interior-point) method in TF."""

from __future__ import annotations

import tensorflow as tf

from mtlzoo.training.solvers.gram_input import clean_gram, stable_solve, trace_normalized

#: step fractions 1, 1/2, 1/4, ... tried at once by the backtracking line search
BACKTRACKS = 30


def _two_tasks(gram: tf.Tensor, valid: tf.Tensor, radius: tf.Tensor) -> tf.Tensor:
    """The minimizing w = (gamma, 1 - gamma) of F for T = 2, in closed form.

    With g_w = g_2 + gamma (g_1 - g_2): ||g_w||^2 = A gamma^2 + 2 B gamma + C and
    g_w . g0 = const + L gamma (A = G_11 - 2 G_12 + G_22, B = G_12 - G_22, C = G_22,
    L = (G_11 - G_22) / 2). F'(gamma) = 0 reads z / sqrt((z^2 + D) / A) = k with z = A gamma + B,
    D = A C - B^2, k = -L / sqrt(phi): z = k sqrt(D / (A - k^2)) when A > k^2; otherwise F is monotone
    and the minimum is at the end where L points. F is convex, so gamma is clipped to [0, 1].
    """
    g11, g12, g22 = gram[0, 0], gram[0, 1], gram[1, 1]
    a, b, cc, slope = g11 - 2.0 * g12 + g22, g12 - g22, g22, 0.5 * (g11 - g22)
    k = -slope / tf.where(radius > 0, radius, tf.ones_like(radius))
    room = a - k * k
    inside = room > 0
    z = k * tf.sqrt(tf.maximum(a * cc - b * b, 0.0) / tf.where(inside, room, tf.ones_like(room)))
    interior = (z - b) / tf.where(a > 0, a, tf.ones_like(a))
    end = tf.where(slope > 0, tf.zeros_like(a), tf.where(slope < 0, tf.ones_like(a), 0.5 * tf.ones_like(a)))
    gamma = tf.clip_by_value(tf.where(inside & (a > 0), interior, end), 0.0, 1.0)
    gamma = tf.where(valid[0] & valid[1], gamma, tf.where(valid[0], tf.ones_like(a), tf.zeros_like(a)))
    return tf.stack([gamma, 1.0 - gamma])


def conflict_averse(gram, c: float = 0.5, max_iters: int = 400, dtype=tf.float32) -> tf.Tensor:
    """The CAGrad combination weights: d = sum_t v_t g_t = g0 + sqrt(phi) g_w / ||g_w||.

    With g0 = (1/T) sum_t g_t, sqrt(phi) = c ||g0|| and g_w = sum_t w_t g_t, w minimizes
    F(w) = g_w . g0 + sqrt(phi) ||g_w|| over the simplex (Liu et al. 2021, Alg. 1), in terms of G
    alone: F(w) = w^T G u + c sqrt(u^T G u) sqrt(w^T G w), u = 1/T. Returns v = u + sqrt(phi) /
    ||g_w|| w (without the paper's rescaling, which the balancer applies).

    F is convex but not smooth where g_w = 0. It is minimized by a primal barrier method in float64
    on G / trace(G) (the weights v do not depend on the scale) for its second-order-cone form
    min a^T w + sqrt(phi) s over w in the simplex and s >= ||g_w|| (a = G u), with barrier
    t (a^T w + sqrt(phi) s) - sum_t log w_t - log(s^2 - w^T G w). The cone variable s is minimized
    out in closed form, which leaves the smooth psi_t(w) = t a^T w + rho - log(1 + rho) -
    sum_t log w_t, rho = sqrt(1 + t^2 phi w^T G w) (keeping s avoids nothing and makes the Newton
    systems ill-conditioned as s - ||g_w|| -> 0). Newton steps on psi_t on the affine hull of the
    simplex (Armijo backtracking inside the domain); t is multiplied by 10 whenever half the squared
    Newton decrement is below 1e-10, until the duality gap (T + 2) / t is below 1e-11 (relative to
    trace G); at most ``max_iters`` Newton steps (random problems up to T = 40 take at most about
    200). A capped run returns a feasible, near-optimal point. The authors solve the same problem with SciPy's
    SLSQP on the smoothed sqrt(w^T G w + 1e-8).

    For two tasks (a static T = 2) the simplex is a segment and w has a closed form instead
    (:func:`_two_tasks`).

    Guards: tasks with non-finite Gram rows get v = 0 and are left out; when ||g_w|| <= 1e-6
    sqrt(trace G) (the direction g_w / ||g_w|| is undefined) the extra term is dropped, v = u, as in
    the authors' code (their 1e-8 in the denominator); all-zero gradients give v = u.

    Args:
        gram: the T x T Gram matrix.
        c: the radius factor (>= 0); c = 0 gives the mean gradient.
        max_iters: Newton step cap.
        dtype: of the result.

    Example:
        >>> conflict_averse(tf.eye(2), c=0.0).numpy()
        array([0.5, 0.5], dtype=float32)
    """
    if not c >= 0:
        raise ValueError(f"c must be >= 0, got {c!r}.")
    gram, valid = clean_gram(gram)
    gram = trace_normalized(gram)
    size = tf.shape(gram)[0]
    mask = tf.cast(valid, tf.float64)
    count = tf.reduce_sum(mask)
    eye = tf.eye(size, dtype=tf.float64)
    ones = tf.ones((size,), tf.float64)
    mean = mask / tf.cast(size, tf.float64)
    linear = tf.linalg.matvec(gram, mean)
    radius = c * tf.sqrt(tf.maximum(tf.tensordot(mean, linear, 1), 0.0))

    def change(w, delta, steps, t):  # psi_t(w + s delta) - psi_t(w) for each s, without cancellation
        gw, gd = tf.linalg.matvec(gram, w), tf.linalg.matvec(gram, delta)
        quad = tf.maximum(tf.tensordot(w, gw, 1), 0.0)
        more = tf.maximum(2.0 * steps * tf.tensordot(delta, gw, 1) + steps ** 2 * tf.tensordot(delta, gd, 1), -quad)
        beta2 = (t * radius) ** 2
        rho = tf.sqrt(1.0 + beta2 * quad)
        rise = beta2 * more / (tf.sqrt(1.0 + beta2 * (quad + more)) + rho)  # rho(w + s delta) - rho(w)
        moves = steps[:, None] * delta
        ratio = tf.where(valid, moves / tf.where(valid, w, ones), tf.zeros_like(moves))
        logs = tf.reduce_sum(tf.math.log1p(tf.maximum(ratio, -0.99)), axis=-1)  # 1 + ratio >= 0.01 at each trial
        return steps * t * tf.tensordot(linear, delta, 1) + rise - tf.math.log1p(rise / (1.0 + rho)) - logs

    pair = valid[:, None] & valid[None, :]
    fractions = tf.pow(tf.constant(0.5, tf.float64), tf.range(BACKTRACKS, dtype=tf.float64))
    final_t = (count + 2.0) * 1e11

    def body(i, w, t, done):
        safe = tf.where(valid, w, ones)
        gw = tf.linalg.matvec(gram, w)
        beta2 = (t * radius) ** 2
        rho = tf.sqrt(1.0 + beta2 * tf.maximum(tf.tensordot(w, gw, 1), 0.0))
        first = beta2 / (1.0 + rho)
        gradient = tf.where(valid, t * linear + first * gw - 1.0 / safe, tf.zeros_like(w))
        curvature = first * gram - (beta2 * first / (rho * (1.0 + rho))) * gw[:, None] * gw[None, :]
        hessian = tf.where(pair, curvature + tf.linalg.diag(1.0 / safe ** 2), eye)
        # Newton on the affine hull: [H a; a^T 0] [delta; nu] = [-gradient; 0] over the valid tasks,
        # a = 1 scaled so that the equilibrated border has unit norm (else its pivot is lost)
        border = mask / tf.norm(mask * tf.math.rsqrt(tf.abs(tf.linalg.diag_part(hessian))))
        kkt = tf.concat([tf.concat([hessian, border[:, None]], 1),
                         tf.concat([border[None, :], tf.zeros((1, 1), tf.float64)], 1)], 0)
        rhs = tf.concat([-gradient, tf.zeros((1,), tf.float64)], 0)
        delta = tf.where(valid, stable_solve(kkt, rhs[:, None])[:size, 0], tf.zeros_like(w))
        delta = delta - mask * tf.reduce_sum(delta) / count  # keep sum(delta) = 0 against rounding
        decrement = -tf.tensordot(gradient, delta, 1)
        shrinking = valid & (delta < 0)
        boundary = tf.reduce_min(tf.where(shrinking, -safe / tf.where(shrinking, delta, -ones), 2.0 * ones))
        steps = tf.minimum(tf.constant(1.0, tf.float64), 0.99 * boundary) * fractions
        accept = change(w, delta, steps, t) <= -0.25 * steps * decrement
        found = tf.reduce_any(accept) & tf.math.is_finite(decrement) & tf.reduce_all(tf.math.is_finite(delta))
        step = tf.where(found, tf.gather(steps, tf.argmax(tf.cast(accept, tf.int32))), tf.zeros_like(t))
        centered = tf.logical_not(found) | (decrement <= 2e-10)
        finished = centered & (t >= final_t)
        new_t = tf.where(centered & tf.logical_not(finished), 10.0 * t, t)
        new = tf.where(found, w + step * delta, w)
        new = new / tf.reduce_sum(new)
        return i + 1, tf.where(done, w, new), tf.where(done, t, new_t), done | finished

    if gram.shape[0] == 2:  # static T = 2: the closed form
        w = _two_tasks(gram, valid, radius)
    else:
        start = mask / tf.maximum(count, 1.0)
        _, w, _, _ = tf.while_loop(
            lambda i, w, t, done: tf.logical_not(done), body,
            (tf.constant(0), start, tf.constant(1.0, tf.float64), (count < 1) | (radius <= 0)),
            maximum_iterations=max_iters)
    norm = tf.sqrt(tf.maximum(tf.tensordot(w, tf.linalg.matvec(gram, w), 1), 0.0))
    scale = tf.where(norm > 1e-6, radius / tf.maximum(norm, 1e-300), tf.zeros_like(norm))
    return tf.cast(mean + scale * w, dtype)
