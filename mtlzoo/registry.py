"""A small name -> factory registry shared by every kind of plug-in (heads, zoo, ...).

Each kind of plug-in keeps one :class:`Registry`; its ``get`` accepts a registered
name, a config dict (``{"class_name": name, "config": {...}}``) or an instance,
and an unknown name raises an error that lists the known ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class Registry:
    """Maps string identifiers to factories for one kind of plug-in.

    Args:
        kind: what the registry holds, used in error messages (e.g. ``"head"``).
        base: optional class; instances of it pass through ``get`` unchanged.

    Example:
        >>> heads = Registry("head")
        >>> @heads.register("twice")
        ... def make_twice(x=1):
        ...     return 2 * x
        >>> heads.get("twice", x=3)
        6
        >>> heads.names()
        ('twice',)
    """

    def __init__(self, kind: str, base: type | None = None):
        self.kind = kind
        self.base = base
        self._factories: dict[str, Callable[..., Any]] = {}

    def register(self, name: str, factory: Callable[..., Any] | None = None):
        """Register ``factory`` under ``name``; usable as a decorator."""

        def add(fn):
            if name in self._factories and self._factories[name] is not fn:
                raise ValueError(f"A {self.kind} named {name!r} is already registered.")
            self._factories[name] = fn
            return fn

        return add(factory) if factory is not None else add

    def names(self) -> tuple[str, ...]:
        """The registered names, sorted."""
        return tuple(sorted(self._factories))

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def factory(self, name: str) -> Callable[..., Any]:
        """The factory registered under ``name``."""
        try:
            return self._factories[name]
        except KeyError:
            raise ValueError(
                f"Unknown {self.kind} {name!r}. Known {self.kind}s: {', '.join(self.names()) or '(none)'}."
            ) from None

    def get(self, identifier: Any, **kwargs: Any) -> Any:
        """Resolve a name, a config dict or an instance to an object.

        Args:
            identifier: a registered name; a dict ``{"class_name": name, "config": {...}}``
                (``"name"`` is accepted for ``"class_name"``); or an instance.
            **kwargs: extra arguments for the factory (names and dicts only).
        """
        if isinstance(identifier, str):
            return self.factory(identifier)(**kwargs)
        if isinstance(identifier, Mapping):
            name = identifier.get("class_name", identifier.get("name"))
            if not isinstance(name, str):
                raise ValueError(
                    f"A {self.kind} config dict needs a 'class_name' naming one of: {', '.join(self.names())}."
                )
            config = dict(identifier.get("config", {}))
            config.update(kwargs)
            factory = self.factory(name)
            from_config = getattr(factory, "from_config", None)
            return from_config(config) if from_config is not None else factory(**config)
        if self.base is None or isinstance(identifier, self.base):
            if kwargs:
                raise ValueError(f"Cannot apply arguments {sorted(kwargs)} to an existing {self.kind} instance.")
            return identifier
        raise ValueError(
            f"Cannot interpret {identifier!r} as a {self.kind}: give a name "
            f"({', '.join(self.names())}), a config dict or a {self.base.__name__} instance."
        )
