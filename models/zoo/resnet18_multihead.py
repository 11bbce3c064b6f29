"""``resnet18_multihead``: a shared ResNet-18 encoder and one linear binary head per task.

Seed 001 §5.2 (CIFAR-10 as 10 one-vs-rest tasks, ResNet-18 encoder, one fully
connected layer per task) and seed 002 §4.2 (CelebA, 40 attributes, ResNet-18
without its final layer, a linear layer per attribute, 64x64 images).
"""

from __future__ import annotations

from collections.abc import Sequence

from mtlzoo.data.catalog import CELEBA_ATTRIBUTES, CIFAR10_CLASSES
from mtlzoo.models import register
from mtlzoo.models.backbones.resnet import resnet18
from mtlzoo.models.zoo_entry import ZooEntry

DATASETS = {
    "cifar10": {"tasks": CIFAR10_CLASSES, "input_shape": (32, 32, 3)},
    "celeba": {"tasks": CELEBA_ATTRIBUTES, "input_shape": (64, 64, 3)},
}


def build(dataset: str = "cifar10", tasks: Sequence[str] | None = None, input_shape: Sequence[int] | None = None,
          width: int = 64, name: str = "resnet18_multihead"):
    """ResNet-18 (CIFAR stem, global average pooling) shared by all tasks; one ``MultiLabelHead(1)`` per task.

    The tree is ``encoder -> head_<task>`` for every task: the root block
    ``encoder`` outputs ``8 * width`` pooled features (512 at full width), each
    head one binary logit (train with sigmoid cross-entropy from logits).

    Args:
        dataset: ``"cifar10"`` (10 one-vs-rest tasks named after the classes,
            32x32x3 input) or ``"celeba"`` (the 40 attributes, 64x64x3 input).
        tasks: task names overriding the dataset's.
        input_shape: one image's shape overriding the dataset's.
        width: filters of the encoder's stem and first stage (64 in ResNet-18).
        name: the model's name.

    Example:
        >>> import mtlzoo
        >>> model = mtlzoo.models.get("resnet18_multihead", width=2)
        >>> model.tasks[:3], tuple(model.outputs[0].shape)
        (('airplane', 'automobile', 'bird'), (None, 1))
    """
    from mtlzoo.heads import MultiLabelHead
    from mtlzoo.training import MultiTaskModel

    if dataset not in DATASETS:
        raise ValueError(f"resnet18_multihead: unknown dataset {dataset!r}; known: {sorted(DATASETS)}.")
    tasks = list(DATASETS[dataset]["tasks"] if tasks is None else tasks)
    if not tasks:
        raise ValueError("resnet18_multihead: tasks must name at least one task.")
    input_shape = tuple(DATASETS[dataset]["input_shape"] if input_shape is None else input_shape)
    heads = {t: MultiLabelHead(1, name=f"head_{t}") for t in tasks}
    encoder = resnet18(width=width, input_shape=input_shape, stem="cifar", pooling="avg", name="encoder")
    return MultiTaskModel.shared_trunk(encoder, heads, input_shape=input_shape, trunk_block="encoder",
                                    input_name="image", name=name)


ENTRY = register(ZooEntry(
    name="resnet18_multihead",
    builder=build,
    description="ResNet-18 encoder shared by one linear binary head per task (CIFAR-10 one-vs-rest, CelebA).",
    seed="001 §5.2, 002 §4.2",
    defaults={"dataset": "cifar10", "tasks": None, "input_shape": None, "width": 64,
              "name": "resnet18_multihead"},
    # Seed 001 §5: fast backtracking (Alg. 4.2) along the MGDA-UB direction, batch 256, eta_ub = 1,
    # beta = 0.1, eps = 1e-10, eta_ub halved every 10 epochs; the optimizer is the fallback without it.
    recipe={"optimizer": {"class_name": "SGD", "config": {"learning_rate": 0.01, "momentum": 0.9}},
            "loss": "binary_crossentropy_from_logits",
            "metrics": [{"class_name": "BinaryAccuracy", "config": {"threshold": 0.0}}],  # threshold 0 on logits
            "balancer": "mgda_ub", "batch_size": 256, "data": "cifar10_one_vs_rest",
            "line_search": {"method": "fast", "eta_max": 1.0, "beta": 0.1, "eps": 1e-10,
                            "decay": 0.5, "decay_every": 10}},
))
