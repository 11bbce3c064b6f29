"""Check a concrete batch against a multi-task model before training: shapes, dtypes, label ranges, finiteness.

:func:`check_batch` runs in Python on one batch (``mtlzoo train`` checks the first
batch before it creates the run folder); :class:`~mtlzoo.training.BatchGuard` checks
every batch inside the train step. Each error is one line naming the batch, the task and
the tensor (``inputs``, ``labels['left']``, ``sample_weight['left']``).

>>> import numpy as np, mtlzoo
>>> model = mtlzoo.models.get("multimnist_lenet", width=2)
>>> batch = (np.zeros((2, 28, 28, 1), "float32"), {"left": np.array([0, 12]), "right": np.array([1, 2])})
>>> check_batch(model, batch)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: Batch 0, task 'left': labels['left'] span [0, 12], outside [0, 10) (the model's 'left' output ...
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np


def output_units(model) -> dict[str, int | None]:
    """``{task: last-axis size of its output}`` (``None`` where unknown) of a model with dict outputs."""
    output = getattr(model, "output", None) if getattr(model, "built", True) else None
    if not isinstance(output, Mapping):
        return {}
    return {t: (None if o.shape[-1] is None else int(o.shape[-1])) for t, o in output.items()}


def output_ranks(model) -> dict[str, int]:
    """``{task: rank of its output, batch axis included}``."""
    output = getattr(model, "output", None)
    return {t: len(o.shape) for t, o in output.items()} if isinstance(output, Mapping) else {}


def is_class_index(labels_rank: int, labels_dtype, output_rank: int | None) -> bool:
    """Whether integer labels of this rank are class indices into the output's last axis (sparse labels)."""
    return output_rank is not None and labels_rank == output_rank - 1 and np.dtype(labels_dtype).kind in "iu"


def check_batch(model, batch, index: int = 0) -> None:
    """Raise ``ValueError`` (one line) if ``batch`` cannot train ``model``.

    Checks the input's shape (per example) and dtype against the model's input; that
    every task has labels; that no input, float label or sample weight holds NaN or
    Inf; that sample weights are not negative; and that integer class labels lie in
    ``[0, units)`` of the task's output (where their sample weight is positive).

    Args:
        model: a Keras model with one input and dict outputs ``{task: tensor}``.
        batch: ``(x, {task: y})`` or ``(x, {task: y}, {task: w})``, tensors or arrays.
        index: the batch's number, for the message.
    """
    from mtlzoo.training.task_losses import split_targets

    x, y, w = keras.utils.unpack_x_y_sample_weight(tuple(batch) if isinstance(batch, list) else batch)
    where = f"Batch {index}"
    inputs = getattr(model, "inputs", None) or []
    xs = [np.asarray(v) for v in (x.values() if isinstance(x, Mapping) else x if isinstance(x, (list, tuple))
                                  else [x])]
    if inputs and len(xs) != len(inputs):
        raise ValueError(f"{where}: {len(xs)} input tensor(s), but the model {model.name!r} takes {len(inputs)}.")
    for arr, spec in zip(xs, inputs or [None] * len(xs)):
        _check_input(where, model, arr, spec)
    tasks = tuple(getattr(model, "tasks", None) or output_units(model))
    try:
        ys, ws = split_targets(y, w, tasks)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    units, ranks = output_units(model), output_ranks(model)
    for task in tasks:
        label, weight = np.asarray(ys[task]), None if ws[task] is None else np.asarray(ws[task])
        at = f"{where}, task {task!r}"
        name = f"labels[{task!r}]"
        if weight is not None:
            wname = f"sample_weight[{task!r}]"
            if weight.dtype.kind not in "fiub":
                raise ValueError(f"{at}: {wname} has dtype {weight.dtype}; sample weights are numbers.")
            if not np.isfinite(weight).all():
                raise ValueError(f"{at}: {wname} holds {_nonfinite(weight)}; fix the weights (0 masks a sample).")
            if (weight < 0).any():
                raise ValueError(f"{at}: {wname} holds negative values (min {weight.min():g}); sample weights must "
                                 f"be >= 0 (0 masks a sample).")
        if label.dtype.kind == "f" and not np.isfinite(label).all():
            raise ValueError(f"{at}: {name} holds {_nonfinite(label)}; fix the labels (or give those samples "
                             f"weight 0 and a finite placeholder).")
        if label.dtype.kind not in "fiub":
            raise ValueError(f"{at}: {name} has dtype {label.dtype}; labels are numbers.")
        if is_class_index(label.ndim, label.dtype, ranks.get(task)) and units.get(task):
            live = label if weight is None else label[_live(weight, label.shape)]
            if live.size and (live.min() < 0 or live.max() >= units[task]):
                raise ValueError(f"{at}: {name} span [{live.min()}, {live.max()}], outside [0, {units[task]}) (the "
                                 f"model's {task!r} output has {units[task]} units); fix the labels or build the "
                                 f"head with {max(int(live.max()) + 1, units[task])} units.")


def _check_input(where: str, model, arr: np.ndarray, spec) -> None:
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"{where}: inputs have dtype {arr.dtype}; the model takes numbers.")
    if spec is not None:
        expected = tuple(spec.shape[1:])
        shape = arr.shape[1:]
        if len(shape) != len(expected) or any(e is not None and int(e) != int(s) for e, s in zip(expected, shape)):
            raise ValueError(f"{where}: inputs of shape {tuple(shape)} per example, but the model {model.name!r} "
                             f"takes {expected}; resize the data or build the model for this input shape.")
        if np.dtype(spec.dtype).kind in "iu" and arr.dtype.kind == "f":
            raise ValueError(f"{where}: float inputs, but the model {model.name!r} takes {spec.dtype}.")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{where}: inputs hold {_nonfinite(arr)}; clean the data (every pixel must be finite).")


def _nonfinite(arr: np.ndarray) -> str:
    bad = ~np.isfinite(arr)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    return f"{int(bad.sum())} NaN/Inf value(s) (the first at index {first})"


def _live(weight: np.ndarray, shape) -> np.ndarray:
    """Where the sample weight is positive, broadcast to the labels' shape."""
    mask = weight > 0
    mask = mask.reshape(mask.shape + (1,) * (len(shape) - mask.ndim))
    return np.broadcast_to(mask, shape)
