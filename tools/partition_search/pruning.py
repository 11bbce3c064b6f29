"""Export one task's network from a :class:`PartitionedNetwork`, keeping only its channels (seed 004 §3)."""

from __future__ import annotations

import keras
import numpy as np

from mtlzoo.models.partitioned_network import INPUT_SHAPE, KERNEL, PartitionedNetwork

__all__ = ["prune", "pruned_parameter_count"]


def _channels(network: PartitionedNetwork, task: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(network, PartitionedNetwork):
        raise ValueError(f"prune expects a PartitionedNetwork; got {type(network).__name__}.")
    if task not in network.tasks:
        raise ValueError(f"Unknown task {task!r}; the network's tasks are {network.tasks}.")
    t = network.tasks.index(task)
    kept = [np.flatnonzero(m[t] > 0.5) for m in network.masks(backward=False)]
    for idx, layer in zip(kept, ("conv1", "dense")):
        if idx.size == 0:
            raise ValueError(f"Task {task!r} uses no channel of {layer} (its forward mask is all zero), so its "
                             "output does not depend on the input; give it at least one channel.")
    return kept[0], kept[1]


def pruned_parameter_count(network: PartitionedNetwork, task: str) -> int:
    """Parameters (weights + batch-norm statistics) of ``prune(network, task)``, from the masks.

    With ``c1`` conv1 channels and ``c2`` dense units in the task's forward masks,
    ``w`` = ``network.width``, ``k`` the task's classes: conv1 ``25 c1``, its BN ``4 c1``,
    conv2 ``25 c1 2w``, its BN ``4 2w``, dense ``(16 2w + 1) c2``, head ``(c2 + 1) k``.

    Example:
        >>> net = PartitionedNetwork(["a", "b"], width=2, hidden=4, classes=3)
        >>> pruned_parameter_count(net, "a")   # all channels: 50 + 8 + 200 + 16 + 260 + 15
        549
    """
    conv_idx, dense_idx = _channels(network, task)
    c1, c2, c = conv_idx.size, dense_idx.size, 2 * network.width
    area = KERNEL * KERNEL
    flat = c * ((((INPUT_SHAPE[0] - KERNEL + 1) // 2) - KERNEL + 1) // 2) ** 2
    classes = network.task_classes[task]
    return area * c1 + 4 * c1 + area * c1 * c + 4 * c + (flat + 1) * c2 + (c2 + 1) * classes


def _norm_like(source: keras.layers.BatchNormalization, name: str) -> keras.layers.BatchNormalization:
    return keras.layers.BatchNormalization(momentum=source.momentum, epsilon=source.epsilon, name=name)


def prune(network: PartitionedNetwork, task: str) -> keras.Model:
    """A plain Keras functional model for ``task`` holding only the channels of its forward masks.

    conv1 keeps the task's channels (and its batch norm their statistics), conv2 the
    matching input rows, the dense layer the task's units, the head the matching rows.
    Masked-out channels are exactly zero in the partitioned network, so the pruned model
    gives the same logits (up to float rounding) with :func:`pruned_parameter_count`
    parameters. The network must be built (called once or trained).

    Args:
        network: a built :class:`PartitionedNetwork`.
        task: the task to export.

    Returns:
        ``keras.Model`` mapping (batch, 28, 28, 1) images to the task's logits, named ``<task>``.

    Raises:
        ValueError: for an unknown task, an unbuilt network, or a task without channels in a layer.

    Example:
        >>> import numpy as np
        >>> net = PartitionedNetwork(["a", "b"], masks=[np.eye(2, dtype=int).repeat(2, 0), np.ones((4, 2))],
        ...                          width=4, hidden=4)
        >>> x = np.zeros((1, 28, 28, 1), "float32")
        >>> small = prune(net, "a") if net(x) else None
        >>> small.count_params() == pruned_parameter_count(net, "a")
        True
    """
    conv_idx, dense_idx = _channels(network, task)
    if not network.built:
        raise ValueError("prune: the network is not built; call it on a batch (or train it) first.")
    t = network.tasks.index(task)
    inputs = keras.Input(INPUT_SHAPE, name="image")
    conv1 = keras.layers.Conv2D(conv_idx.size, KERNEL, use_bias=False, name="conv1")
    conv2 = keras.layers.Conv2D(2 * network.width, KERNEL, use_bias=False, name="conv2")
    dense = keras.layers.Dense(dense_idx.size, name="dense")
    head = keras.layers.Dense(network.task_classes[task], name=f"head_{task}")
    bn1, bn2 = _norm_like(network.bn1.norms[t], "bn1"), _norm_like(network.bn2.norms[t], "bn2")
    h = keras.layers.MaxPooling2D(2)(keras.layers.ReLU()(bn1(conv1(inputs))))
    h = keras.layers.MaxPooling2D(2)(keras.layers.ReLU()(bn2(conv2(h))))
    h = keras.layers.ReLU()(dense(keras.layers.Flatten()(h)))
    model = keras.Model(inputs, head(h), name=str(task))
    conv1.set_weights([np.asarray(network.conv1.kernel)[..., conv_idx]])
    bn1.set_weights([np.asarray(w)[conv_idx] for w in network.bn1.norms[t].get_weights()])
    bn2.set_weights(network.bn2.norms[t].get_weights())
    conv2.set_weights([np.asarray(network.conv2.kernel)[:, :, conv_idx, :]])
    dense.set_weights([np.asarray(network.dense.kernel)[:, dense_idx], np.asarray(network.dense.bias)[dense_idx]])
    source = network.heads[t]
    head.set_weights([np.asarray(source.kernel)[dense_idx], np.asarray(source.bias)])
    return model
