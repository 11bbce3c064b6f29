"""``lenet_bn_tree``: seed 000 §4.5's truncated LeNet with batch norm, fully shared, split-ready."""

from __future__ import annotations

from collections.abc import Sequence

from mtlzoo.models import register
from mtlzoo.models.backbones.lenet import conv_bn_block
from mtlzoo.models.zoo_entry import ZooEntry


def build(tasks: Sequence[str] = ("mnist", "fashion_mnist", "kmnist"), width: int = 10, num_classes: int = 10,
          input_shape: Sequence[int] = (28, 28, 1), name: str = "lenet_bn_tree"):
    """input -> conv1 (conv w@5x5, BN, ReLU, pool) -> conv2 (conv 2w@5x5, BN, ReLU, pool) -> FC per task.

    Two conv layers and one fully connected layer to each task's output, with
    batch norm between layers (seed 000 §4.5). The root is a parameter-free
    ``input`` block so the greedy split search (seed 000 §5) can split both conv
    blocks; it starts fully shared.

    Args:
        tasks: task names (default MNIST, Fashion-MNIST, KMNIST).
        width: filters of conv1; conv2 has ``2 * width``.
        num_classes: classes per task.
        input_shape: one sample's shape.
        name: the model's name.
    """
    import keras

    from mtlzoo.heads import ClassificationHead
    from mtlzoo.task_tree import TaskTree
    from mtlzoo.training import MultiTaskModel

    tasks = list(tasks)
    heads = {f"head_{t}": ClassificationHead(num_classes, name=f"head_{t}") for t in tasks}
    tree = TaskTree(blocks=["input", "conv1", "conv2", *heads],
                    paths={t: ["input", "conv1", "conv2", f"head_{t}"] for t in tasks})
    blocks = {
        "input": keras.layers.Identity(name="input"),
        "conv1": conv_bn_block(width, name="conv1"),
        "conv2": conv_bn_block(2 * width, name="conv2", flatten=True),
        **heads,
    }
    return MultiTaskModel(tree, blocks, input_shape=input_shape, input_name="image", name=name)


ENTRY = register(ZooEntry(
    name="lenet_bn_tree",
    builder=build,
    description="Truncated LeNet with batch norm, fully shared; start of the split search.",
    seed="000 §4.5, §5.4",
    defaults={"tasks": ("mnist", "fashion_mnist", "kmnist"), "width": 10, "num_classes": 10,
              "input_shape": (28, 28, 1), "name": "lenet_bn_tree"},
    recipe={"optimizer": {"class_name": "SGD", "config": {"learning_rate": 1e-3, "momentum": 0.9,
                                                          "nesterov": True}},
            "loss": "sparse_categorical_crossentropy_from_logits", "metrics": ["accuracy"],
            "balancer": "hybrid", "data": "mnist_triple"},
))
