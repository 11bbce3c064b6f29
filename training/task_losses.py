"""Per-task losses: resolve what ``compile(loss=...)`` was given, and reduce with per-task sample weights."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import tensorflow as tf

_FROM_LOGITS = "_from_logits"


def resolve_loss(identifier: Any, task: str) -> Callable:
    """A callable ``fn(y_true, y_pred)`` returning one loss value per sample (or per pixel).

    Args:
        identifier: a Keras loss name (``"mse"``), a name with the suffix
            ``"_from_logits"`` (``"sparse_categorical_crossentropy_from_logits"``),
            a ``keras.losses.Loss`` instance, its config dict, or a function.
        task: the task it is for (named in errors).

    Example:
        >>> fn = resolve_loss("sparse_categorical_crossentropy_from_logits", "left")
        >>> fn(tf.constant([1]), tf.constant([[0.0, 10.0]])).shape
        TensorShape([1])
    """
    if isinstance(identifier, str) and identifier.endswith(_FROM_LOGITS):
        base = _get(identifier[: -len(_FROM_LOGITS)], task)
        base = getattr(base, "fn", base)  # a Loss wrapping a function: the function
        if "from_logits" not in inspect.signature(base).parameters:
            raise ValueError(f"Loss for task {task!r}: {identifier!r} has no from_logits option; "
                             "drop the '_from_logits' suffix.")
        return functools.partial(base, from_logits=True)
    loss = _get(identifier, task)
    if isinstance(loss, keras.losses.Loss):
        return loss.call  # unreduced: one value per sample
    return loss


def _get(identifier: Any, task: str):
    if callable(identifier) and not isinstance(identifier, (str, Mapping)):
        return identifier
    try:
        loss = keras.losses.get(identifier)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"Unknown loss {identifier!r} for task {task!r}: use a keras.losses name, a Loss, or a function "
            f"(add '_from_logits' to a name for heads that output logits). ({err})"
        ) from None
    if loss is None:
        raise ValueError(f"No loss given for task {task!r}.")
    return loss


def per_task(value: Any, tasks: Sequence[str], what: str) -> dict[str, Any]:
    """Spread ``value`` over the tasks: a ``{task: v}`` dict (every task, no others) or one value for all."""
    if isinstance(value, Mapping) and not {"class_name", "config"} <= set(value):
        missing = [t for t in tasks if t not in value]
        extra = [k for k in value if k not in tasks]
        if missing or extra:
            raise ValueError(
                f"compile: {what} must name every task {list(tasks)}"
                + (f"; missing {missing}" if missing else "") + (f"; unknown {extra}" if extra else "") + "."
            )
        return {t: value[t] for t in tasks}
    return {t: value for t in tasks}


def weighted_sum(per_sample: tf.Tensor, sample_weight=None) -> tuple[tf.Tensor, tf.Tensor]:
    """``(sum(w * l), sum(w))`` over every axis, float32 (``w = 1`` without sample weights).

    ``sample_weight`` of shape ``(batch,)`` (or any prefix of the loss's shape)
    is broadcast over the remaining axes, so a per-sample mask also masks all
    pixels of a segmentation loss.
    """
    per_sample = tf.cast(per_sample, tf.float32)
    if sample_weight is None:
        return tf.reduce_sum(per_sample), tf.cast(tf.size(per_sample), tf.float32)
    w = tf.cast(sample_weight, tf.float32)
    while w.shape.rank is not None and per_sample.shape.rank is not None and w.shape.rank > per_sample.shape.rank:
        w = tf.squeeze(w, -1)
    while w.shape.rank is not None and per_sample.shape.rank is not None and w.shape.rank < per_sample.shape.rank:
        w = tf.expand_dims(w, -1)
    w = tf.broadcast_to(w, tf.shape(per_sample))
    return tf.reduce_sum(w * per_sample), tf.reduce_sum(w)


def split_targets(y: Any, sample_weight: Any, tasks: Sequence[str]) -> tuple[dict, dict]:
    """``({task: y_t}, {task: w_t or None})`` from a batch's targets and sample weights."""
    if isinstance(y, Mapping):
        missing = [t for t in tasks if t not in y]
        if missing:
            raise ValueError(f"The batch has no labels for task(s) {missing}; label keys: {sorted(y)}. "
                             f"Give every task a label (use a 0 sample weight where it is missing).")
        ys = {t: y[t] for t in tasks}
    elif len(tasks) == 1:
        ys = {tasks[0]: y}
    else:
        raise ValueError(f"Labels must be a dict {{task: labels}} for the tasks {list(tasks)}, got {type(y).__name__}.")
    if sample_weight is None:
        ws = {t: None for t in tasks}
    elif isinstance(sample_weight, Mapping):
        ws = {t: sample_weight.get(t) for t in tasks}
    else:
        ws = {t: sample_weight for t in tasks}
    return ys, ws
