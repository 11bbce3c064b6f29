"""``@min_norm_solver("name")``: a solver is registered where it is defined (ARCHITECTURE.md, Rules of the house)."""

from __future__ import annotations

from collections.abc import Callable


def min_norm_solver(name: str) -> Callable[[Callable], Callable]:
    """Mark a function as the min-norm solver ``name``; :mod:`mtlzoo.training.solvers` finds and registers it.

    The decorator only sets ``fn.registry_name``: the package imports each of its modules and registers
    every function of the module that carries one, so a new solver is one file.

    Args:
        name: the solver's string name, as in ``compile(balancer="mgda", solver=name)``.

    Raises:
        ValueError: ``name`` is not a non-empty identifier.

    Example:
        >>> @min_norm_solver("halves")
        ... def halves(gram, **unused):
        ...     return [0.5, 0.5]
        >>> halves.registry_name, halves([[1.0, 0.0], [0.0, 1.0]])
        ('halves', [0.5, 0.5])
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"min_norm_solver name {name!r}: pass a non-empty identifier such as 'frank_wolfe'.")

    def mark(fn: Callable) -> Callable:
        fn.registry_name = name
        return fn

    return mark
