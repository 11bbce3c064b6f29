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
