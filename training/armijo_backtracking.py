"""The two ways :class:`~mtlzoo.training.ArmijoLineSearch` walks its candidate step sizes.

Both try the same candidates ``start * shrink**k`` (k = 0..count-1, those >= eps) and
return the same ``(eta, trials, take)``: the largest accepted candidate, how many
candidates the sequential search evaluated to find it, and whether a step is taken.
When no candidate passes, the step at ``eps`` is taken if its losses are finite,
otherwise nothing moves (``eta = 0``, ``take = False``).

- :func:`sequential` stops at the first accepted candidate (a ``tf.while_loop`` whose trip
  count depends on the data): cheapest on one device, impossible across replicas, where
  each trial needs an all-reduce.
- :func:`batched` evaluates every candidate and ``eps`` in one fixed-length ``tf.map_fn``
  on this replica's samples, then sums the trial losses over replicas with one
  all-reduce, so it runs under any ``tf.distribute`` strategy.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from mtlzoo.training import armijo_rules
from mtlzoo.training.step_context import StepContext


def step_sizes(start, shrink: float, count: int) -> tf.Tensor:
    """``[start, start*shrink, ...]`` (``count`` values, float32), by repeated multiplication as the
    sequential search shrinks eta, so both walk bit-identical candidates.

    Args:
        start: the first candidate (a float32 scalar).
        shrink: the factor between candidates, in (0, 1).
        count: how many candidates.

    Example:
        >>> step_sizes(tf.constant(1.0), 0.5, 3).numpy()
        array([1.  , 0.5 , 0.25], dtype=float32)
    """
    eta = tf.cast(start, tf.float32)
    out = []
    for _ in range(count):
        out.append(eta)
        eta = eta * shrink
    return tf.stack(out)


def sequential(trial: Callable, current, decrease, start, shrink: float, eps: float, beta: float,
               count: int) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Backtrack one candidate at a time, stopping at the first accepted one (one device only).

    Args:
        trial: ``trial(eta) -> (T,)`` global trial losses at step ``eta``.
        current: ``(T,)`` losses at the current point.
        decrease: ``(T,)`` the rule's decrease term (:func:`~mtlzoo.training.armijo_rules.decrease`).
        start, shrink, count: the candidates, as for :func:`step_sizes`.
        eps: the smallest candidate tried, and the fallback step.
        beta: the Armijo constant.

    Returns:
        ``(eta, trials, take)``: float32, int32 and bool scalars.

    Example:
        >>> losses = lambda eta: tf.stack([(1.0 - eta) ** 2])  # L(eta) along d = 2 at x = 0
        >>> eta, trials, take = sequential(losses, tf.constant([1.0]), tf.constant([4.0]),
        ...                                tf.constant(4.0), 0.5, 1e-3, 0.1, 8)
        >>> float(eta), int(trials), bool(take)
        (1.0, 3, True)
    """
    def body(k, eta, done):
        ok = armijo_rules.accepted(trial(eta), current, eta, beta, decrease)
        return k + 1, tf.where(ok, eta, eta * shrink), ok

    trials, eta, found = tf.while_loop(
        lambda k, eta, done: tf.logical_and(tf.logical_not(done), eta >= eps), body,
        (tf.constant(0), tf.cast(start, tf.float32), tf.constant(False)), maximum_iterations=count)
    at_eps = tf.cond(found, lambda: tf.constant(True),
                     lambda: tf.reduce_all(tf.math.is_finite(trial(tf.constant(eps)))))
    take = tf.logical_or(found, at_eps)
    return tf.where(found, eta, tf.where(at_eps, tf.constant(eps), 0.0)), trials, take


def batched(trial_sums: Callable, current, decrease, start, shrink: float, eps: float, beta: float,
            count: int) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Evaluate every candidate and ``eps`` at once, reduce over replicas once, take the largest
    accepted candidate; the result equals :func:`sequential`'s for the same candidates.

    Each trial returns this replica's weighted loss sums and total weights; the
    trial losses are, as in the train step, each replica's sum divided by the
    all-reduced total weight, summed over replicas (one all-reduce for the weights,
    one for the ``(count + 1) x T`` losses). All ``count + 1`` trials always run
    (the sequential search usually needs one or two); ``trials`` reports where the
    accepted candidate sits, i.e. what the sequential search would have counted.

    Args:
        trial_sums: ``trial_sums(eta) -> ((T,) weighted loss sums, (T,) total weights)`` on this replica.
        current, decrease, start, shrink, eps, beta, count: as for :func:`sequential`.

    Returns:
        ``(eta, trials, take)``: float32, int32 and bool scalars, identical on every replica.

    Example:
        >>> sums = lambda eta: (tf.stack([(1.0 - eta) ** 2]), tf.ones(1))
        >>> eta, trials, take = batched(sums, tf.constant([1.0]), tf.constant([4.0]),
        ...                             tf.constant(4.0), 0.5, 1e-3, 0.1, 8)
        >>> float(eta), int(trials), bool(take)
        (1.0, 3, True)
    """
    etas = step_sizes(start, shrink, count)
    points = tf.concat([etas, [tf.constant(eps, tf.float32)]], axis=0)
    tasks = current.shape[0]
    spec = tf.TensorSpec([tasks], tf.float32)
    totals, weights = tf.map_fn(lambda eta: tuple(tf.cast(v, tf.float32) for v in trial_sums(eta)), points,
                                fn_output_signature=(spec, spec))
    weight = StepContext.all_reduce_sum(weights[0])  # the same for every trial: the batch's weights
    losses = StepContext.all_reduce_sum(tf.math.divide_no_nan(totals, weight))
    valid = etas >= eps
    ok = tf.logical_and(armijo_rules.accepted(losses[:count], current, etas[:, None], beta, decrease), valid)
    found = tf.reduce_any(ok)
    first = tf.argmax(tf.cast(ok, tf.int32), output_type=tf.int32)  # the largest accepted candidate
    at_eps = tf.reduce_all(tf.math.is_finite(losses[count]))
    take = tf.logical_or(found, at_eps)
    eta = tf.where(found, tf.gather(etas, first), tf.where(at_eps, tf.constant(eps), 0.0))
    trials = tf.where(found, first + 1, tf.reduce_sum(tf.cast(valid, tf.int32)))
    return eta, trials, take


__all__ = ["batched", "sequential", "step_sizes"]
