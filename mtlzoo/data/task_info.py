"""What one task of a dataset looks like: its label kind, classes, shape and the head that fits it."""

from __future__ import annotations

from dataclasses import dataclass

#: Label kinds and the head (``mtlzoo.heads`` name) that fits each.
KIND_HEADS = {"classification": "classification", "binary": "binary",
              "segmentation": "dense", "regression": "dense"}


@dataclass(frozen=True)
class TaskInfo:
    """Metadata of one task: enough to check a model's head against the dataset.

    Args:
        name: the task name, the key of the label dict.
        kind: ``"classification"`` (an integer class per sample), ``"binary"``
            (a 0/1 float of shape ``(1,)`` per sample), ``"segmentation"`` (an
            integer class per pixel) or ``"regression"`` (floats, per sample or per pixel).
        num_classes: classes for classification and segmentation (labels lie in
            ``[0, num_classes)``); ``None`` otherwise.
        label_shape: shape of one sample's label, ``()`` for a class index,
            ``(1,)`` for a binary label, ``(H, W)`` for segmentation, ``(H, W, C)``
            for per-pixel regression (``None`` for a size set by an option).
        label_dtype: ``"int32"`` or ``"float32"``.
        description: one line on what the label means.

    Example:
        >>> task = TaskInfo("left", "classification", num_classes=10)
        >>> task.head, task.units
        ('classification', 10)
    """

    name: str
    kind: str
    num_classes: int | None = None
    label_shape: tuple = ()
    label_dtype: str = "int32"
    description: str = ""

    def __post_init__(self):
        if self.kind not in KIND_HEADS:
            raise ValueError(f"Task {self.name!r}: kind must be one of {sorted(KIND_HEADS)}, got {self.kind!r}.")
        if self.kind in ("classification", "segmentation") and (self.num_classes or 0) < 2:
            raise ValueError(f"Task {self.name!r}: a {self.kind} task needs num_classes >= 2.")

    @property
    def head(self) -> str:
        """The ``mtlzoo.heads`` name that fits: classification, binary or dense."""
        return KIND_HEADS[self.kind]

    @property
    def units(self) -> int:
        """Outputs (or channels, for dense tasks) a head must produce for this task."""
        if self.kind in ("classification", "segmentation"):
            return int(self.num_classes)
        if self.kind == "binary":
            return 1
        return int(self.label_shape[-1]) if self.label_shape and self.label_shape[-1] else 1

    @classmethod
    def from_dict(cls, config: dict) -> TaskInfo:
        """Rebuild from :meth:`to_dict`'s output (derived keys are ignored).

        Example:
            >>> task = TaskInfo("b", "binary", label_shape=(1,), label_dtype="float32")
            >>> TaskInfo.from_dict(task.to_dict()) == task
            True
        """
        return cls(config["name"], config["kind"], config.get("num_classes"), tuple(config.get("label_shape", ())),
                   config.get("label_dtype", "int32"), config.get("description", ""))

    def to_dict(self) -> dict:
        """A JSON-serializable description (what ``mtlzoo`` writes into a run folder)."""
        return {"name": self.name, "kind": self.kind, "num_classes": self.num_classes,
                "label_shape": list(self.label_shape), "label_dtype": self.label_dtype,
                "head": self.head, "units": self.units, "description": self.description}
