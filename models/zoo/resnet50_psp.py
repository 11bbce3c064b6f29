"""``resnet50_psp``: seed 002 §4.3's scene-understanding net, a dilated ResNet-50 and PSP decoders.

The encoder (ResNet-50, ImageNet stem, stages 3 and 4 dilated for output stride
8) is shared by all tasks; each task has its own pyramid pooling decoder
(Zhao et al. 2017) and a :class:`mtlzoo.heads.DenseHead` that upsamples to the
input size. Seed 002 follows Kendall et al. (2018) on Cityscapes resized to
128x256 (height x width), hence the default input shape; seed 001 §5.3 uses the
same three tasks.
"""

from __future__ import annotations

from collections.abc import Sequence

from mtlzoo.models import register
from mtlzoo.models.backbones.pyramid_pooling import pyramid_pooling_decoder
from mtlzoo.models.backbones.resnet import check_weights_file, load_encoder_weights, resnet50
from mtlzoo.models.zoo_entry import ZooEntry

# task -> (DenseHead task_type, output channels; None = num_classes)
DENSE_TASKS = {
    "semantic": ("classification", None),  # per-pixel class logits (19 Cityscapes training classes)
    "instance": ("regression", 2),  # per-pixel (dy, dx) offset to the instance's centre of mass
    "disparity": ("regression", 1),  # per-pixel disparity (inverse depth)
}


def build(tasks: Sequence[str] = ("semantic", "instance", "disparity"), num_classes: int = 19,
          input_shape: Sequence[int] = (128, 256, 3), width: int = 64, output_stride: int = 8,
          bins: Sequence[int] = (1, 2, 3, 6), dropout: float = 0.1, weights=None, name: str = "resnet50_psp"):
    """Dilated ResNet-50 encoder shared by per-task PSP decoders with dense heads.

    Tree: ``encoder -> head_<task>`` for every task. ``encoder`` maps the image
    to a ``(h/8, w/8, 32 * width)`` feature map (16x32x2048 at the defaults);
    ``head_<task>`` is a functional sub-model: pyramid pooling (bins 1, 2, 3, 6;
    ``8 * width`` channels), then a 1x1 conv to the task's channels and a
    bilinear resize to the input's height and width.

    Args:
        tasks: a subset of ``semantic`` (``num_classes`` logits per pixel),
            ``instance`` (2 channels: offsets to the instance centre, regression)
            and ``disparity`` (1 channel, regression).
        num_classes: semantic classes (19 for Cityscapes' training ids).
        input_shape: one image's shape ``(height, width, channels)``.
        width: base filters of the encoder (64 in ResNet-50; tests use 2-4).
        output_stride: the encoder's total stride (8, 16 or 32; 8 dilates stages 3 and 4).
        bins: the pyramid's bin counts.
        dropout: dropout rate after each decoder's fusing conv.
        weights: ``None`` (random init) or the path of a local ``.weights.h5``
            file saved from a matching encoder (``model.block_layer("encoder")
            .save_weights(path)``), loaded into the encoder after building.
            Nothing is ever downloaded.
        name: the model's name.

    Raises:
        ValueError: unknown task; a missing or mismatched weights file (the
            message names the path and the fix).

    Example:
        >>> import keras, mtlzoo
        >>> model = mtlzoo.models.get("resnet50_psp", width=2, input_shape=(64, 64, 3))
        >>> outputs = model(keras.ops.zeros((1, 64, 64, 3)))
        >>> {task: tuple(y.shape) for task, y in outputs.items()}
        {'semantic': (1, 64, 64, 19), 'instance': (1, 64, 64, 2), 'disparity': (1, 64, 64, 1)}
    """
    from mtlzoo.heads import DenseHead
    from mtlzoo.task_tree import TaskTree
    from mtlzoo.training import MultiTaskModel

    tasks = list(tasks)
    unknown = [t for t in tasks if t not in DENSE_TASKS]
    if unknown or not tasks:
        raise ValueError(f"resnet50_psp: unknown task(s) {unknown or tasks}; choose from {list(DENSE_TASKS)}.")
    if weights is not None:
        weights = check_weights_file(weights, owner=name)
    input_shape = tuple(int(d) for d in input_shape)
    encoder = resnet50(width=width, input_shape=input_shape, stem="imagenet", output_stride=output_stride,
                       pooling=None, name="encoder")
    feature_shape = tuple(encoder.output.shape[1:])
    heads = {}
    for task in tasks:
        task_type, channels = DENSE_TASKS[task]
        head = DenseHead(num_classes if channels is None else channels, task_type=task_type,
                         output_size=input_shape[:2], name="dense_head")
        heads[f"head_{task}"] = pyramid_pooling_decoder(feature_shape, bins, dropout=dropout, head=head,
                                                        name=f"head_{task}")
    tree = TaskTree(blocks=["encoder", *heads], paths={t: ["encoder", f"head_{t}"] for t in tasks})
    model = MultiTaskModel(tree, {"encoder": encoder, **heads}, input_shape=input_shape, input_name="image",
                        name=name)
    if weights is not None:
        load_encoder_weights(model.block_layer("encoder"), weights, owner=name)
    return model


ENTRY = register(ZooEntry(
    name="resnet50_psp",
    builder=build,
    description="Dilated ResNet-50 encoder with a PSP decoder per dense task (Cityscapes, 128x256).",
    seed="002 §4.3, 001 §5.3",
    defaults={"tasks": ("semantic", "instance", "disparity"), "num_classes": 19, "input_shape": (128, 256, 3),
              "width": 64, "output_stride": 8, "bins": (1, 2, 3, 6), "dropout": 0.1, "weights": None,
              "name": "resnet50_psp"},
    # Seeds 001/002 fix the tasks and the balancer, not the optimizer: the Adam settings are ours.
    # Kendall et al. (2018), followed by seed 002, train instance offsets and disparity with L1 losses.
    recipe={"optimizer": {"class_name": "Adam", "config": {"learning_rate": 1e-4}},
            "loss": {"semantic": "sparse_categorical_crossentropy_from_logits", "instance": "mae",
                     "disparity": "mae"},
            "metrics": {"semantic": [{"class_name": "MeanIoU",
                                      "config": {"num_classes": 19, "sparse_y_pred": False}}],
                        "instance": ["mae"], "disparity": ["mae"]},
            "balancer": "mgda_ub", "data": "cityscapes"},
))
