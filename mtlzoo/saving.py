"""Register every mtlzoo serializable with Keras, and load saved models."""

from __future__ import annotations

import importlib

# Modules whose import registers Keras-serializable classes (keep in sync; a test checks it).
SERIALIZABLE_MODULES = (
    "mtlzoo.tree_network",
    "mtlzoo.heads",
    "mtlzoo.layers",
    "mtlzoo.training",
    "mtlzoo.models",
    "mtlzoo.tools.split_search.slimming",  # BatchNormSlimming, a gamma regularizer kept in saved models
    "mtlzoo.tools.partition_search.partitioned_network",  # PartitionedNetwork (seed 004's masked network)
)

_done = False


def register_all() -> None:
    """Import every module that registers mtlzoo classes with Keras serialization."""
    global _done
    if _done:
        return
    for module in SERIALIZABLE_MODULES:
        importlib.import_module(module)
    _done = True


def load_model(path, compile: bool = True, safe_mode: bool = True):
    """``keras.models.load_model`` with every mtlzoo class registered first.

    Args:
        path: a ``.keras`` file written by ``model.save``.
        compile: restore the compiled state (optimizer, losses) too.
        safe_mode: refuse to deserialize lambdas (Keras' default).

    Example:
        >>> model = mtlzoo.load_model("runs/multimnist/model.keras")   # doctest: +SKIP
    """
    register_all()
    import keras

    return keras.models.load_model(path, compile=compile, safe_mode=safe_mode)
