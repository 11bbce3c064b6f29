"""``multimnist_lenet``: seed 002's MultiMNIST LeNet (shared trunk, two FC heads)."""

from __future__ import annotations

from collections.abc import Sequence

from mtlzoo.models import register
from mtlzoo.models.backbones.lenet import lenet_features
from mtlzoo.models.zoo_entry import ZooEntry


def build(tasks: Sequence[str] = ("left", "right"), width: int = 10, num_classes: int = 10,
          input_shape: Sequence[int] = (28, 28, 1), name: str = "multimnist_lenet"):
    """LeNet trunk (conv 10@5x5, pool, ReLU, conv 20@5x5, pool, ReLU, FC 320->50, ReLU) shared by
    all tasks; per task FC 50->50, ReLU, FC 50->10 (seed 002 §4.1 and its supplement).

    Args:
        tasks: task names (one classification head each).
        width: first conv's filters; the trunk is (w, 2w, 5w), heads 5w -> 5w -> classes.
        num_classes: classes per task.
        input_shape: one sample's shape.
        name: the model's name.
    """
    from mtlzoo.heads import ClassificationHead
    from mtlzoo.training import MultiTaskModel

    heads = {t: ClassificationHead(num_classes, hidden_units=(5 * width,), name=f"head_{t}") for t in tasks}
    return MultiTaskModel.shared_trunk(lenet_features(width, name="trunk"), heads, input_shape=input_shape,
                                    input_name="image", name=name)


ENTRY = register(ZooEntry(
    name="multimnist_lenet",
    builder=build,
    description="LeNet with a shared trunk and a 2-layer FC head per digit (MultiMNIST).",
    seed="002 §4.1",
    defaults={"tasks": ("left", "right"), "width": 10, "num_classes": 10, "input_shape": (28, 28, 1),
              "name": "multimnist_lenet"},
    recipe={"optimizer": {"class_name": "SGD", "config": {"learning_rate": 0.01, "momentum": 0.9}},
            "loss": "sparse_categorical_crossentropy_from_logits", "metrics": ["accuracy"],
            "balancer": "mgda_ub", "data": "multimnist"},
))
