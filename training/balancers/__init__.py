"""Balancers: how the per-task gradients of one step become one update (ARCHITECTURE.md, Training).

Every module of this package is imported, and every :class:`Balancer` subclass that sets its own
``registry_name`` is registered under it: a new method is one file, registered where it is defined.

>>> from mtlzoo.training import balancers
>>> {"mgda", "mgda_ub", "gradnorm", "uniform"} <= set(balancers.names())
True
>>> balancers.get({"class_name": "gradnorm", "config": {"alpha": 0.5}}).alpha
0.5
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Mapping
from typing import Any

from mtlzoo.registry import Registry
from mtlzoo.training.balancers.balancer import Balancer
from mtlzoo.training.balancers.block_problem import BlockProblem
from mtlzoo.training.balancers.gramian_balancer import GramianBalancer

REGISTRY = Registry("balancer", base=Balancer)
_CLASSES: dict[str, type] = {}


def _discover() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (issubclass(cls, Balancer) and cls.__module__ == module.__name__
                    and "registry_name" in vars(cls) and cls.registry_name):
                REGISTRY.register(cls.registry_name, cls)
                _CLASSES[cls.__name__] = cls


_discover()
globals().update(_CLASSES)


def names() -> tuple[str, ...]:
    """The registered balancer names."""
    return REGISTRY.names()


def get(identifier: Any, **kwargs: Any) -> Balancer:
    """A balancer from a name, a ``{"class_name", "config"}`` dict (registry name or Keras
    serialization) or an instance.

    Args:
        identifier: e.g. ``"mgda_ub"``, ``{"class_name": "gradnorm", "config": {"alpha": 1.0}}``.
        **kwargs: constructor arguments (with a name), e.g. ``get("mgda", space="latent")``.
    """
    if isinstance(identifier, Mapping) and identifier.get("class_name") not in REGISTRY \
            and identifier.get("name") not in REGISTRY:
        import keras

        obj = keras.saving.deserialize_keras_object(dict(identifier))
        if not isinstance(obj, Balancer):
            raise ValueError(f"{identifier!r} does not describe a balancer; known: {', '.join(names())}.")
        return obj
    return REGISTRY.get(identifier, **kwargs)


__all__ = ["Balancer", "BlockProblem", "GramianBalancer", "get", "names", *sorted(_CLASSES)]
