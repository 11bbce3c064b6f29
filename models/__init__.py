"""The zoo: backbones and one named, registered model per seed experiment.

>>> import mtlzoo
>>> "multimnist_lenet" in mtlzoo.models.names()
True
>>> model = mtlzoo.models.get("multimnist_lenet", width=2)   # tiny widths for tests
>>> sorted(model.tasks)
['left', 'right']
"""

from __future__ import annotations

from typing import Any

from mtlzoo.models.zoo_entry import ZooEntry
from mtlzoo.registry import Registry

REGISTRY = Registry("zoo model")


def register(entry: ZooEntry) -> ZooEntry:
    """Add a :class:`ZooEntry` to the zoo (names are unique)."""
    return REGISTRY.register(entry.name, entry)


def names() -> tuple[str, ...]:
    """The names of the zoo's models, sorted."""
    return REGISTRY.names()


def entry(name: str) -> ZooEntry:
    """The :class:`ZooEntry` registered under ``name``."""
    return REGISTRY.factory(name)


def get(identifier: Any, **overrides: Any):
    """Build a zoo model.

    Args:
        identifier: a zoo name (see :func:`names`); a dict ``{"class_name": name,
            "config": {...}}``; or an existing model, returned as is.
        **overrides: builder options such as ``tasks=[...]`` or ``width=8``.

    Example:
        >>> net = get("lenet_bn_tree", tasks=["a", "b"], width=2)   # doctest: +SKIP
    """
    import keras

    if isinstance(identifier, keras.Model):
        if overrides:
            raise ValueError("Cannot apply overrides to an existing model; pass its zoo name instead.")
        return identifier
    return REGISTRY.get(identifier, **overrides)


def _register_builtin() -> None:
    from mtlzoo.models.zoo import (  # noqa: F401  (importing registers each entry)
        cross_stitch_lenet,
        lenet_bn_tree,
        multimnist_lenet,
        resnet18_multihead,
        resnet50_psp,
    )


_register_builtin()

__all__ = ["ZooEntry", "entry", "get", "names", "register"]
