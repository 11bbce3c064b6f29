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

_ENTRIES: dict[str, ZooEntry] = {}


def register(entry: ZooEntry) -> ZooEntry:
    """Add a :class:`ZooEntry` to the zoo (names are unique)."""
    if entry.name in _ENTRIES and _ENTRIES[entry.name] is not entry:
        raise ValueError(f"A zoo model named {entry.name!r} is already registered.")
    _ENTRIES[entry.name] = entry
    return entry


def names() -> tuple[str, ...]:
    """The names of the zoo's models, sorted."""
    return tuple(sorted(_ENTRIES))


def entry(name: str) -> ZooEntry:
    """The :class:`ZooEntry` registered under ``name``."""
    if not isinstance(name, str) or name not in _ENTRIES:
        raise ValueError(f"Unknown zoo model {name!r}. Known models: {', '.join(names())}.")
    return _ENTRIES[name]


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
    if isinstance(identifier, dict):
        name = identifier.get("class_name", identifier.get("name"))
        return entry(name).build(**{**identifier.get("config", {}), **overrides})
    return entry(identifier).build(**overrides)


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
