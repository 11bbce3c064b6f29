"""The zoo: backbones and one named, registered model per seed experiment.

>>> import mtlzoo
>>> "multimnist_lenet" in mtlzoo.models.names()
True
>>> model = mtlzoo.models.get("multimnist_lenet", width=2)   # tiny widths for tests
>>> sorted(model.tasks)
['left', 'right']

``weights=`` loads trained weights: a name the zoo ships (``weights_names(name)``; each has a
model card, ``card(name, weights)``) or the path of a ``.weights.h5`` file.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from mtlzoo.models.partitioned_network import PartitionedNetwork
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


def get(identifier: Any, weights: Any = None, **overrides: Any):
    """Build a zoo model, untrained or with trained weights.

    Args:
        identifier: a zoo name (see :func:`names`); a dict ``{"class_name": name,
            "config": {...}}``; or an existing model, returned as is.
        weights: ``None`` (random initial weights); the name of weights the zoo ships
            for this model (:func:`weights_names`, e.g. ``"multimnist"``), built with the
            options on its model card (:func:`card`); or the path of a ``.weights.h5``
            file (``model.save_weights``), whose card is the ``.json`` beside it if any.
            A builder with a ``weights`` option of its own (``resnet50_psp``: a local
            encoder file) receives it instead.
        **overrides: builder options such as ``tasks=[...]`` or ``width=8``; with
            ``weights`` they must keep the shapes the weights were trained with.

    Raises:
        ValueError: an unknown name or weights, or weights that do not fit the options.

    Example:
        >>> net = get("lenet_bn_tree", tasks=["a", "b"], width=2)   # doctest: +SKIP
        >>> trained = get("multimnist_lenet", weights="multimnist")  # doctest: +SKIP
    """
    import keras

    if isinstance(identifier, keras.Model):
        if overrides or weights is not None:
            raise ValueError("Cannot apply overrides or weights= to an existing model; pass its zoo name instead "
                             "(or call model.load_weights).")
        return identifier
    if weights is None:
        return REGISTRY.get(identifier, **overrides)
    name = identifier.get("class_name", identifier.get("name")) if isinstance(identifier, dict) else identifier
    if isinstance(name, str) and name in names() and "weights" in entry(name).defaults:
        # the builder's own weights= option (resnet50_psp: a local encoder file) wins over the zoo's
        return REGISTRY.get(identifier, weights=weights, **overrides)
    from mtlzoo.models import zoo_weights

    if isinstance(identifier, dict):
        overrides = {**identifier.get("config", {}), **overrides}
        identifier = identifier.get("class_name", identifier.get("name"))
    return zoo_weights.build_with_weights(entry(identifier), weights, overrides)


def weights_names(name: str) -> tuple[str, ...]:
    """The trained weights the zoo ships for model ``name`` (``get(name, weights=...)`` takes them).

    Example:
        >>> weights_names("resnet50_psp")
        ()
    """
    from mtlzoo.models import zoo_weights

    entry(name)  # an unknown model name lists the known ones
    return zoo_weights.names(name)


def card(name: str, weights: str) -> dict:
    """The model card of shipped ``weights`` of model ``name``: data, recipe, commit, date, test metrics.

    Example:
        >>> card("multimnist_lenet", "multimnist")["data"]   # doctest: +SKIP
        'multimnist'
    """
    from mtlzoo.models import zoo_weights

    entry(name)
    return zoo_weights.card(name, weights)


def _register_builtin() -> None:
    """Import every module of ``models/zoo/``: each registers its entry at its bottom (register once)."""
    from mtlzoo.models import zoo

    for info in sorted(pkgutil.iter_modules(zoo.__path__), key=lambda m: m.name):
        importlib.import_module(f"{zoo.__name__}.{info.name}")


_register_builtin()

__all__ = ["PartitionedNetwork", "ZooEntry", "card", "entry", "get", "names", "register", "weights_names"]
