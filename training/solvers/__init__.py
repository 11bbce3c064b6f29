"""Min-norm solvers: alpha on the simplex minimizing ||sum_t alpha_t g_t||^2 from the Gram matrix.

>>> from mtlzoo.training import solvers
>>> solvers.names()
('analytic', 'frank_wolfe', 'projected_gradient')
"""

from mtlzoo.registry import Registry
from mtlzoo.training.solvers.analytic import analytic
from mtlzoo.training.solvers.frank_wolfe import frank_wolfe
from mtlzoo.training.solvers.projected_gradient import projected_gradient

REGISTRY = Registry("min-norm solver")
REGISTRY.register("analytic", analytic)
REGISTRY.register("frank_wolfe", frank_wolfe)
REGISTRY.register("projected_gradient", projected_gradient)


def get(identifier):
    """The solver function registered under ``identifier`` (or a callable, returned as is)."""
    if callable(identifier):
        return identifier
    return REGISTRY.factory(identifier)


def names():
    """The registered solver names."""
    return REGISTRY.names()


__all__ = ["analytic", "frank_wolfe", "get", "names", "projected_gradient"]
