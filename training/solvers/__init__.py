"""Min-norm solvers: alpha on the simplex minimizing ||sum_t alpha_t g_t||^2 from the Gram matrix.

Every module of this package is imported, and every function marked with
:func:`~mtlzoo.training.solvers.min_norm_solver.min_norm_solver` is registered under its name: a new
solver is one file, registered where it is defined.

>>> from mtlzoo.training import solvers
>>> solvers.names()
('analytic', 'frank_wolfe', 'projected_gradient')
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from mtlzoo.registry import Registry
from mtlzoo.training.solvers.min_norm_solver import min_norm_solver

REGISTRY = Registry("min-norm solver")
_SOLVERS: dict = {}


def _discover() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for _, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and "registry_name" in vars(fn):
                REGISTRY.register(fn.registry_name, fn)
                _SOLVERS[fn.__name__] = fn


_discover()
globals().update(_SOLVERS)


def get(identifier):
    """The solver function registered under ``identifier`` (or a callable, returned as is)."""
    if callable(identifier):
        return identifier
    return REGISTRY.factory(identifier)


def names():
    """The registered solver names."""
    return REGISTRY.names()


__all__ = ["get", "min_norm_solver", "names", *sorted(_SOLVERS)]
