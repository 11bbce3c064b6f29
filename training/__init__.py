"""How a multi-task network is trained: min-norm solvers now; MultiTaskModel, balancers and
line search build on them (see DESIGN.md, Training)."""

from mtlzoo.training import solvers
from mtlzoo.training.min_norm import min_norm

__all__ = ["min_norm", "solvers"]
