"""Metadata of a registered dataset, and the checks that match it against a model or a batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtlzoo.data.task_info import TaskInfo


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset yields: input shape, tasks (with the heads that fit), splits.

    Batches are ``(x, {task: y})``, or ``(x, {task: y}, {task: w})`` when
    ``partial_labels`` is true (a sample whose label is missing for a task has
    weight 0 for it; dense tasks carry per-pixel weights).

    Args:
        name: the registry name.
        description: one line.
        input_shape: one sample's input shape (no batch axis).
        tasks: one :class:`TaskInfo` per task, in output order.
        splits: ``{split: number of examples}`` (``None`` where it depends on the source).
        partial_labels: whether batches carry per-task sample weights.
        batch_size: the default batch size (the seed's, where it gives one).
        source: the seed section (and paper) the construction follows.
        files: how to get the data offline (shown in "not found" errors).

    Example:
        >>> info = DatasetInfo("toy", "two tasks", (4,), (TaskInfo("a", "classification", 3),
        ...                                               TaskInfo("b", "binary")))
        >>> info.task_names
        ('a', 'b')
        >>> info.check(input_shape=(None, 4), outputs={"a": 3, "b": 1})
    """

    name: str
    description: str
    input_shape: tuple
    tasks: tuple[TaskInfo, ...]
    splits: Mapping[str, int | None] = field(default_factory=dict)
    partial_labels: bool = False
    batch_size: int = 256
    source: str = ""
    files: str = ""

    @property
    def task_names(self) -> tuple[str, ...]:
        """The task names, in order."""
        return tuple(t.name for t in self.tasks)

    def task(self, name: str) -> TaskInfo:
        """The :class:`TaskInfo` of task ``name``; unknown names raise ``ValueError``."""
        for t in self.tasks:
            if t.name == name:
                return t
        raise ValueError(f"Dataset {self.name!r} has no task {name!r}; tasks: {', '.join(self.task_names)}.")

    def to_dict(self) -> dict:
        """A JSON-serializable description."""
        return {"name": self.name, "description": self.description, "input_shape": list(self.input_shape),
                "tasks": [t.to_dict() for t in self.tasks], "splits": dict(self.splits),
                "partial_labels": self.partial_labels, "batch_size": self.batch_size, "source": self.source,
                "files": self.files}

    @classmethod
    def from_dict(cls, config: Mapping) -> DatasetInfo:
        """Rebuild from :meth:`to_dict`'s output.

        Example:
            >>> from mtlzoo.data import info
            >>> DatasetInfo.from_dict(info("multimnist").to_dict()).task_names
            ('left', 'right')
        """
        return cls(config["name"], config.get("description", ""), tuple(config["input_shape"]),
                   tuple(TaskInfo.from_dict(t) for t in config["tasks"]), dict(config.get("splits", {})),
                   bool(config.get("partial_labels", False)), int(config.get("batch_size", 256)),
                   config.get("source", ""), config.get("files", ""))

    # -- checks -------------------------------------------------------------------------------
    def check(self, input_shape: Sequence | None = None, outputs: Mapping[str, int] | None = None) -> None:
        """Raise ``ValueError`` if a model with these inputs and heads cannot train on this dataset.

        Args:
            input_shape: the model's input shape, with or without the batch axis
                (``None`` dimensions accept any size).
            outputs: ``{task: units}``, the size of each head's last axis.

        Example:
            >>> from mtlzoo.data import info
            >>> info("multimnist").check((28, 28, 1), {"left": 10, "right": 10})
        """
        problems = []
        if input_shape is not None:
            shape = tuple(input_shape)
            if len(shape) == len(self.input_shape) + 1:
                shape = shape[1:]
            if not _shapes_fit(shape, self.input_shape):
                problems.append(f"the model takes inputs of shape {shape} but {self.name!r} yields "
                                f"{tuple(self.input_shape)}")
        if outputs is not None:
            missing = [t for t in self.task_names if t not in outputs]
            extra = [t for t in outputs if t not in self.task_names]
            if missing:
                problems.append(f"the model has no output for task(s) {missing}")
            if extra:
                problems.append(f"the model has output(s) {extra} for which {self.name!r} has no labels "
                                f"(its tasks: {', '.join(self.task_names)})")
            for t in self.tasks:
                if t.name in outputs and outputs[t.name] is not None:
                    problems.extend(_unit_problems(t, int(outputs[t.name])))
        if problems:
            raise ValueError(f"Dataset {self.name!r} does not fit the model: " + "; ".join(problems) + ".")

    def check_model(self, model: Any) -> None:
        """:meth:`check` for a Keras model whose outputs are a dict ``{task: tensor}``.

        Example:
            >>> import keras
            >>> x = keras.Input((28, 28, 1))
            >>> flat = keras.layers.Flatten()(x)
            >>> net = keras.Model(x, {t: keras.layers.Dense(10, name=t)(flat) for t in ("left", "right")})
            >>> from mtlzoo.data import info
            >>> info("multimnist").check_model(net)
        """
        inputs = getattr(model, "inputs", None) or []
        if len(inputs) != 1:
            raise ValueError(f"Dataset {self.name!r} feeds one input tensor; the model has {len(inputs)} inputs.")
        output = getattr(model, "output", None)
        if not isinstance(output, Mapping):
            raise ValueError(f"Dataset {self.name!r} needs a model whose outputs are a dict {{task: tensor}}.")
        units = {name: (None if t.shape[-1] is None else int(t.shape[-1])) for name, t in output.items()}
        self.check(tuple(inputs[0].shape), units)

    def check_batch(self, batch: Sequence) -> None:
        """Raise ``ValueError`` if a concrete batch does not match this description.

        Checks the structure, the input's shape, every task's label shape and
        dtype, and that weighted labels lie in ``[0, num_classes)`` (``{0, 1}``
        for binary tasks).

        Example:
            >>> import numpy as np
            >>> info = DatasetInfo("toy", "", (2,), (TaskInfo("a", "classification", 3),))
            >>> info.check_batch((np.zeros((4, 2), "float32"), {"a": np.array([0, 1, 2, 1], "int32")}))
        """
        if len(batch) not in (2, 3):
            raise ValueError(f"{self.name}: a batch is (x, {{task: y}}) or (x, {{task: y}}, {{task: w}}); "
                             f"got {len(batch)} parts.")
        x, ys = np.asarray(batch[0]), {k: np.asarray(v) for k, v in batch[1].items()}
        ws = {k: np.asarray(v) for k, v in batch[2].items()} if len(batch) == 3 else {}
        if bool(ws) != self.partial_labels:
            raise ValueError(f"{self.name}: partial_labels={self.partial_labels} but the batch "
                             f"{'has' if ws else 'lacks'} sample weights.")
        if not _shapes_fit(x.shape[1:], self.input_shape):
            raise ValueError(f"{self.name}: input batch of shape {x.shape}, expected (batch, *{self.input_shape}).")
        if set(ys) != set(self.task_names) or (ws and set(ws) != set(ys)):
            raise ValueError(f"{self.name}: label keys {sorted(ys)} (weights {sorted(ws)}), "
                             f"expected {sorted(self.task_names)}.")
        for t in self.tasks:
            _check_labels(self.name, t, ys[t.name], ws.get(t.name), len(x))


def _shapes_fit(shape: Sequence, expected: Sequence) -> bool:
    if len(shape) != len(expected):
        return False
    return all(a is None or b is None or int(a) == int(b) for a, b in zip(shape, expected))


def _unit_problems(task: TaskInfo, units: int) -> list[str]:
    if task.kind in ("classification", "segmentation") and units < task.num_classes:
        return [f"task {task.name!r} has labels in [0, {task.num_classes}) but its head has only {units} "
                f"output(s); use a {task.head} head with {task.num_classes} units"]
    if task.kind == "binary" and units not in (1, 2):
        return [f"task {task.name!r} is binary: its head needs 1 sigmoid logit (or 2 softmax logits), "
                f"got {units}"]
    if task.kind == "regression" and units != task.units:
        return [f"task {task.name!r} regresses {task.units} value(s) per "
                f"{'pixel' if len(task.label_shape) >= 3 else 'sample'}, its head has {units}"]
    return []


def _check_labels(name: str, task: TaskInfo, y: np.ndarray, w: np.ndarray | None, n: int) -> None:
    where = f"{name}: task {task.name!r}"
    if y.shape[0] != n or not _shapes_fit(y.shape[1:], task.label_shape):
        raise ValueError(f"{where}: labels of shape {y.shape}, expected ({n}, *{tuple(task.label_shape)}).")
    if y.dtype != np.dtype(task.label_dtype):
        raise ValueError(f"{where}: labels of dtype {y.dtype}, expected {task.label_dtype}.")
    if w is not None and w.shape != y.shape[: w.ndim]:
        raise ValueError(f"{where}: weights of shape {w.shape} do not match labels of shape {y.shape}.")
    live = y if w is None else y[np.broadcast_to(w.reshape(w.shape + (1,) * (y.ndim - w.ndim)), y.shape) > 0]
    if live.size == 0:
        return
    if task.kind in ("classification", "segmentation"):
        low, high = live.min(), live.max()
        if low < 0 or high >= task.num_classes:
            raise ValueError(f"{where}: labels span [{low}, {high}], outside [0, {task.num_classes}).")
    elif task.kind == "binary" and not np.isin(live, (0, 1)).all():
        raise ValueError(f"{where}: binary labels must be 0 or 1.")
    elif task.kind == "regression" and not np.isfinite(live).all():
        raise ValueError(f"{where}: non-finite regression targets.")
