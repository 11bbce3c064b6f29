"""Task heads: the leaves of a task tree that turn a block output into a task output.

``mtlzoo.heads.get(name, **kwargs)`` builds one from its string identifier:

>>> from mtlzoo import heads
>>> heads.get("classification", num_classes=10, hidden_units=(50,)).num_classes
10
"""

from mtlzoo.heads.classification_head import ClassificationHead
from mtlzoo.heads.dense_head import DenseHead
from mtlzoo.heads.head import Head
from mtlzoo.heads.multi_label_head import MultiLabelHead
from mtlzoo.registry import Registry

import keras as _keras

REGISTRY = Registry("head", base=_keras.layers.Layer)
REGISTRY.register("classification", ClassificationHead)
REGISTRY.register("multi_label", MultiLabelHead)
REGISTRY.register("binary", MultiLabelHead)
REGISTRY.register("dense", DenseHead)
REGISTRY.register("mlp", Head)


def get(identifier, **kwargs):
    """A head from a name (``classification``, ``multi_label``/``binary``, ``dense``,
    ``mlp``), a ``{"class_name", "config"}`` dict, or a layer instance."""
    return REGISTRY.get(identifier, **kwargs)


def names():
    """The registered head names."""
    return REGISTRY.names()


__all__ = ["ClassificationHead", "DenseHead", "Head", "MultiLabelHead", "get", "names"]
