"""Copy a block layer (architecture and weights) for peel and split."""

from __future__ import annotations

import copy

import keras


def clone_layer(layer: keras.layers.Layer, name: str | None = None) -> keras.layers.Layer:
    """A new, unbuilt layer with ``layer``'s config (renamed to ``name`` if given).

    Weights are copied by :func:`copy_weights` once the clone is built.

    Args:
        layer: the layer or functional sub-model to copy.
        name: the copy's name (default: the original's).

    Example:
        >>> dense = keras.layers.Dense(3, name="a")
        >>> clone_layer(dense, name="a_1").name
        'a_1'
    """
    config = copy.deepcopy(keras.saving.serialize_keras_object(layer))
    if name is not None:
        config["config"]["name"] = name
    return keras.saving.deserialize_keras_object(config)


def copy_weights(source: keras.layers.Layer, target: keras.layers.Layer) -> None:
    """Copy every variable (trainable and not, e.g. batch-norm statistics) from ``source``."""
    src, dst = source.get_weights(), target.get_weights()
    if len(src) != len(dst) or any(a.shape != b.shape for a, b in zip(src, dst)):
        raise ValueError(
            f"Cannot copy weights from {source.name!r} to {target.name!r}: their variables differ "
            f"({[a.shape for a in src]} vs {[b.shape for b in dst]})."
        )
    target.set_weights(src)
