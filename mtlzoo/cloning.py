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


def rebuild(network, tree, source_of: dict[str, str], name: str):
    """A copy of ``network`` with ``tree``; block b is a clone of original block ``source_of[b]``.

    A block whose name is new gets a clone renamed after it; every clone starts
    from its source's weights (batch-norm statistics included). Used by
    :func:`mtlzoo.peel` and :func:`mtlzoo.split`.

    Args:
        network: the original :class:`mtlzoo.TreeNetwork`.
        tree: the new spec.
        source_of: ``{new_block: original_block}`` for every block of ``tree``.
        name: the new model's name.
    """
    originals = network.blocks
    clones = {b: clone_layer(originals[source_of[b]], name=None if b in originals else b) for b in tree.blocks}
    rebuilt = network.with_tree(tree, clones, name=name)
    for b in tree.blocks:
        copy_weights(originals[source_of[b]], rebuilt.block_layer(b))
    return rebuilt
