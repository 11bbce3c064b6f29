"""Feature-partition search (seed 004): the P parameterization, its refinement and the mask MILP.

A layer's channels are split among tasks by a binary mask ``M`` (channels x tasks).
The search works on ``P = MᵀM / c`` instead: ``diag(P)`` = share of channels per
task, off-diagonal = share two tasks have in common; one ``P`` serves every layer
width.

- :func:`partition_matrix`: ``P`` of a mask; :func:`channel_use`: mean of ``diag(P)``;
- :func:`sample_partition`: a random raw ``P`` (§4.1);
- :func:`refine` (A.1 eqs. 1-4) and :func:`overlap_bounds` (``P_min``, ``P_max``);
- :func:`masks_from_partition`: ``P̃`` -> mask by the mixed-integer program of A.1
  eqs. 5-10 (SciPy's ``milp``, HiGHS), :class:`MaskSolution` for its slack and status;
  :func:`masks_for_widths`: one ``P̃``, one mask per layer width.

Example:
    >>> import numpy as np
    >>> from mtlzoo.tools import partition_search as ps
    >>> P_t = ps.refine(ps.sample_partition(3, rng=0))
    >>> [m.shape for m in ps.masks_for_widths(P_t, [16, 32])]
    [(16, 3), (32, 3)]
"""

from mtlzoo.tools.partition_search.mask_solution import MaskSolution
from mtlzoo.tools.partition_search.parameterization import (
    channel_use,
    masks_for_widths,
    masks_from_partition,
    overlap_bounds,
    partition_matrix,
    refine,
    sample_partition,
)

__all__ = [
    "MaskSolution",
    "channel_use",
    "masks_for_widths",
    "masks_from_partition",
    "overlap_bounds",
    "partition_matrix",
    "refine",
    "sample_partition",
]

from mtlzoo.models.partitioned_network import PartitionedNetwork  # noqa: E402
from mtlzoo.tools.partition_search.pruning import pruned_parameter_count, prune  # noqa: E402

__all__ += ["PartitionedNetwork", "prune", "pruned_parameter_count"]

# Search strategies (seed 004 §4.1): random sampling and evolutionary strategies as keras-tuner Oracles.
# Loaded on first use: keras_tuner takes seconds to import, and mtlzoo.saving imports this package.
_LAZY = {
    "EvolutionaryPartitionOracle": "es_partition_oracle",
    "PartitionSearch": "partition_search",
    "RandomPartitionOracle": "random_partition_oracle",
    "hp_to_partition": "search_space",
    "partition_space": "search_space",
    "partition_to_values": "search_space",
    "plot_partition": "partition_report",
    "plot_score_vs_channel_use": "partition_report",
    "write_results_csv": "partition_report",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"mtlzoo.tools.partition_search.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ += sorted(_LAZY)

from mtlzoo.tools.partition_search.distillation import DistillationScorer  # noqa: E402
from mtlzoo.tools.partition_search.teachers import train_teachers  # noqa: E402

__all__ += ["DistillationScorer", "train_teachers"]

# Full training of a chosen partition (seed 004 §5.2 Table 2, A.2): the baselines and the accuracy curriculum.
from mtlzoo.tools.partition_search.baselines import BASELINES, baseline_partition  # noqa: E402
from mtlzoo.tools.partition_search.partition_training import train_partition  # noqa: E402
from mtlzoo.tools.partition_search.task_curriculum import AccuracyCurriculum  # noqa: E402

__all__ += ["AccuracyCurriculum", "BASELINES", "baseline_partition", "train_partition"]
