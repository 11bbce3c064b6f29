"""One named model of the zoo: how to build it and what it is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ZooEntry:
    """A registered zoo model.

    Args:
        name: the identifier, e.g. ``"multimnist_lenet"``.
        builder: ``builder(**overrides)`` returns the network.
        description: one line on what it is and which seed experiment it reproduces.
        seed: the source document and section it follows.
        defaults: the builder's default arguments, shown by ``mtlzoo zoo``.
        recipe: the recommended training recipe (optimizer, losses, balancer),
            used by ``compile()`` with no arguments.

    Example:
        >>> entry = ZooEntry("tiny", lambda **kw: None, "a toy", "none")
        >>> entry.name
        'tiny'
    """

    name: str
    builder: Callable[..., Any]
    description: str
    seed: str
    defaults: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)

    def build(self, **overrides: Any):
        """Build the network with ``overrides`` applied to the defaults."""
        unknown = sorted(set(overrides) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"Zoo model {self.name!r} has no option(s) {unknown}; options: {sorted(self.defaults)}."
            )
        model = self.builder(**{**self.defaults, **overrides})
        if self.recipe and getattr(model, "recipe", True) is None:
            model.recipe = self.recipe  # MultiTaskModel: compile() with no arguments uses it
        return model

    __call__ = build
