"""Static task weights: seed 002's "grid search" baseline over the weight simplex, through keras-tuner.

- :func:`simplex_grid`: the grid points of the probability simplex.
- :class:`StaticWeightHyperModel`: a keras-tuner ``HyperModel`` compiling a zoo model with the
  ``static`` balancer at one grid point.
- :func:`search_static_weights`: the resumable grid search, returning a :class:`StaticWeightResult`;
  ``mtlzoo tune static-weights`` on the command line.
- :class:`HoldoutSplit`: the validation rows held out of the training split (never the test split).
"""

from mtlzoo.tools.static_weights.holdout_split import HoldoutSplit
from mtlzoo.tools.static_weights.mean_metric_callback import MeanMetricCallback
from mtlzoo.tools.static_weights.simplex_grid import grid_size, simplex_grid
from mtlzoo.tools.static_weights.static_weight_hypermodel import StaticWeightHyperModel
from mtlzoo.tools.static_weights.static_weight_result import StaticWeightResult
from mtlzoo.tools.static_weights.static_weight_search import search_static_weights

__all__ = ["HoldoutSplit", "MeanMetricCallback", "StaticWeightHyperModel", "StaticWeightResult", "grid_size",
           "search_static_weights", "simplex_grid"]
