"""``cross_stitch_lenet``: one LeNet column per task joined by cross-stitch units (seed 003)."""

from __future__ import annotations

from collections.abc import Sequence

from mtlzoo.models import register
from mtlzoo.models.zoo_entry import ZooEntry


def _columns(tasks: Sequence[str], width: int, input_shape: Sequence[int], alpha_self: float):
    """Functional sub-model: per-task LeNet columns with a cross-stitch unit after each stage.

    Output: the task columns' features stacked on axis 1, shape (batch, T, 5w).
    """
    import keras

    from mtlzoo.layers import CrossStitch

    image = keras.Input(shape=tuple(input_shape), name="image")
    cols = [image] * len(tasks)
    stages = [
        lambda t: [keras.layers.Conv2D(width, 5, name=f"{t}_conv1"), keras.layers.MaxPooling2D(2, name=f"{t}_pool1"),
                   keras.layers.ReLU(name=f"{t}_relu1")],
        lambda t: [keras.layers.Conv2D(2 * width, 5, name=f"{t}_conv2"),
                   keras.layers.MaxPooling2D(2, name=f"{t}_pool2"), keras.layers.ReLU(name=f"{t}_relu2"),
                   keras.layers.Flatten(name=f"{t}_flatten")],
        lambda t: [keras.layers.Dense(5 * width, activation="relu", name=f"{t}_fc")],
    ]
    for s, stage in enumerate(stages, start=1):
        new_cols = []
        for task, x in zip(tasks, cols):
            for layer in stage(task):
                x = layer(x)
            new_cols.append(x)
        cols = CrossStitch(alpha_self=alpha_self, name=f"cross_stitch{s}")(new_cols)
    stacked = keras.layers.Concatenate(axis=1, name="stack")(
        [keras.layers.Reshape((1, 5 * width), name=f"{t}_column")(x) for t, x in zip(tasks, cols)]
    )
    return keras.Model(image, stacked, name="columns")


def build(tasks: Sequence[str] = ("left", "right"), width: int = 10, num_classes: int = 10,
          input_shape: Sequence[int] = (28, 28, 1), alpha_self: float = 0.9, name: str = "cross_stitch_lenet"):
    """Cross-stitch network: the MultiMNIST LeNet as one column per task, mixed after each stage.

    The root block ``columns`` holds all columns and cross-stitch units (it is
    shared by every task); each task's head reads its own column.

    Args:
        tasks: task names (one column and head each, >= 2).
        width: first conv's filters per column, as in ``multimnist_lenet``.
        num_classes: classes per task.
        input_shape: one sample's shape.
        alpha_self: initial cross-stitch weight of a column on itself.
        name: the model's name.
    """
    import keras

    from mtlzoo.heads import ClassificationHead
    from mtlzoo.layers import ColumnSelect
    from mtlzoo.training import MultiTaskModel

    tasks = list(tasks)
    if len(tasks) < 2:
        raise ValueError(f"cross_stitch_lenet needs at least 2 tasks, got {tasks}.")
    heads = {
        t: keras.Sequential(
            [ColumnSelect(i, name="select"),
             ClassificationHead(num_classes, hidden_units=(5 * width,), name="classifier")],
            name=f"head_{t}")
        for i, t in enumerate(tasks)
    }
    return MultiTaskModel.shared_trunk(_columns(tasks, width, input_shape, alpha_self), heads,
                                    input_shape=input_shape, trunk_block="columns", input_name="image", name=name)


ENTRY = register(ZooEntry(
    name="cross_stitch_lenet",
    builder=build,
    description="One LeNet column per task with cross-stitch units after each stage.",
    seed="003 (Misra et al. 2016)",
    defaults={"tasks": ("left", "right"), "width": 10, "num_classes": 10, "input_shape": (28, 28, 1),
              "alpha_self": 0.9, "name": "cross_stitch_lenet"},
    recipe={"optimizer": {"class_name": "SGD", "config": {"learning_rate": 0.01, "momentum": 0.9}},
            "loss": "sparse_categorical_crossentropy_from_logits", "metrics": ["accuracy"],
            "balancer": "uniform", "data": "multimnist"},
))
