"""Deriving binary masks from ``P̃`` by the mixed-integer program of seed 004 A.1 (eqs. 5-10).

For ``c`` channels and ``n`` tasks the program (SciPy's ``milp``, HiGHS) minimises
the total slack ``Σ φ_i + Σ_{i<j} ξ_ij`` (eq. 5), in channels, subject to::

    |Σ_k M[k, i]  - c P̃[i, i]| <= φ_i        (eq. 6, two-sided)
    |Σ_k t[k, ij] - c P̃[i, j]| <= ξ_ij       (eq. 7, two-sided)
    t[k, ij] = M[k, i] AND M[k, j]            (eqs. 8-9),  M binary  (eq. 10)

Deviations from the text, and why:

- **Two-sided slack, in channels.** Eqs. 6-7 as printed only bound the sums from
  above (``Σ M <= P̃ + φ``), so ``M = 0`` with zero slack is optimal for every
  ``P̃``: a degenerate reading. The seed's intent (eq. 11, ``MᵀM = c P̃`` without
  slack) is equality, so each sum is bounded on both sides and the targets are
  counts ``c P̃`` (the printed ``P̃[i, i]`` would compare a count with a share).
- **Pairs once.** ``P̃`` is symmetric and ``t[k, ii] = M[k, i]``, so only pairs
  ``i < j`` get ``t`` and ``ξ``; eq. 5's double sum counts each pair twice and
  repeats eq. 6 on its diagonal, i.e. weighs ``φ`` and ``ξ`` alike: same optimum.
- **Channel symmetry factored out** (``formulation="patterns"``, the default for
  ``n <= 12``): channels are interchangeable, so the program is solved over the
  number of channels of each task subset (``2^n`` integers), where the AND of
  eqs. 8-9 is exact by construction. It has the same optimum as the channel form
  (``formulation="channels"``: the seed's ``M`` and ``t`` variables, eq. 8
  tightened to ``t <= M_i, t <= M_j``, rows ordered), which HiGHS often cannot
  finish in seconds for c = 64, n = 6; the pattern form takes milliseconds.
- **Rounding tolerance first.** ``c P̃`` is fractional, so one channel of error
  per count is unavoidable. The least total slack can trade one count off by two
  against two counts off by one; so masks with every count within ``tolerance``
  channels (default 1) are preferred: the program is first solved with every slack
  capped at ``tolerance``, and only if that is infeasible (HiGHS proves no such
  mask exists; ``MaskSolution.realisable`` is then False) without the cap. Pass
  ``tolerance=None`` for the plain eq. 5 minimum.
- **Optional least-max fallback.** When no mask is within tolerance, eq. 5's
  least total slack tends to pile the error onto one count (over 1000 refined
  random masks, median 5 and up to 13 channels on one count, where the best
  achievable largest error was at most 2.7). ``fallback="max"`` first minimises the
  largest slack, then the total slack under that cap; the default ``"total"`` keeps eq. 5.

Nothing raises for an unrealisable ``P̃``: the slack absorbs it. If HiGHS stops
without any mask (time limit before a first incumbent), a greedy rounding
heuristic builds one and the status says ``"heuristic"`` (plus a
``RuntimeWarning`` when only the mask is returned).

Example:
    >>> import numpy as np
    >>> M = masks_from_partition(np.array([[0.5, 0.25], [0.25, 0.5]]), 8)
    >>> (M.T @ M).tolist()
    [[4, 2], [2, 4]]
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence

import numpy as np
from scipy.optimize import milp

from mtlzoo.tools.partition_search._checks import check_channels, check_partition
from mtlzoo.tools.partition_search._formulations import candidate_caps, channel_program, greedy_mask, pattern_program
from mtlzoo.tools.partition_search.mask_solution import MaskSolution

__all__ = ["masks_for_widths", "masks_from_partition"]

#: Default HiGHS time limit per call, seconds (the pattern form needs milliseconds).
DEFAULT_TIME_LIMIT = 5.0
#: ``formulation="auto"`` uses patterns up to this many tasks (2^12 integer variables).
MAX_PATTERN_TASKS = 12
_PROGRAMS = {"patterns": pattern_program, "channels": channel_program}


def masks_from_partition(
    P_tilde,
    channels: int,
    *,
    time_limit: float = DEFAULT_TIME_LIMIT,
    tolerance: float | None = 1.0,
    formulation: str = "auto",
    fallback: str = "total",
    return_solution: bool = False,
):
    """A binary mask ``M`` (channels x n) with ``MᵀM ≈ c P̃``, by the MILP of eqs. 5-10 (HiGHS).

    Args:
        P_tilde: the constraint matrix ``P̃`` (n, n), symmetric, values in [0, 1], usually
            ``refine(P)``. Any such matrix is accepted: what no mask realises goes into the slack.
        channels: the layer's channel count ``c``.
        time_limit: seconds HiGHS may spend in total; at the limit the best mask found so far
            is returned (status ``"feasible"``), or the rounding heuristic's if there is none.
        tolerance: channels each count may miss its target by before the plain least-slack
            program is used (see the module doc); None skips that first stage.
        formulation: ``"patterns"``, ``"channels"`` (the seed's variables, slow) or ``"auto"``
            (patterns for n <= 12 tasks, else channels).
        fallback: when no mask is within ``tolerance``: ``"total"`` = the least total slack
            (eq. 5), ``"max"`` = the least largest slack, then the least total under it.
        return_solution: return the :class:`MaskSolution` (mask, slack, status, time)
            instead of the mask alone.

    Returns:
        int8 array (channels, n), or a :class:`MaskSolution` when ``return_solution``.

    Raises:
        ValueError: for a malformed ``P_tilde`` (not square, symmetric, in [0, 1]) or a bad
            ``channels``, ``time_limit``, ``tolerance``, ``formulation`` or ``fallback``; never for an
            unrealisable ``P̃``.

    Example:
        >>> import numpy as np
        >>> s = masks_from_partition(np.diag([1.0, 1.0]), 4, return_solution=True)
        >>> s.status, s.realisable, s.total_slack   # two full masks cannot be disjoint: 4 channels off
        ('optimal', False, 4.0)
    """
    target = check_partition(P_tilde, "P_tilde")
    c = check_channels(channels)
    if isinstance(time_limit, bool) or not isinstance(time_limit, (int, float)) or not time_limit > 0:
        raise ValueError(f"time_limit must be a positive number of seconds; got {time_limit!r}.")
    bad_tolerance = isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0
    if tolerance is not None and bad_tolerance:
        raise ValueError(f"tolerance must be None or a number of channels >= 0; got {tolerance!r}.")
    n = target.shape[0]
    if formulation == "auto":
        formulation = "patterns" if n <= MAX_PATTERN_TASKS else "channels"
    if formulation not in _PROGRAMS:
        raise ValueError(f"formulation must be 'auto', 'patterns' or 'channels'; got {formulation!r}.")
    if fallback not in ("total", "max"):
        raise ValueError(f"fallback must be 'total' (eq. 5) or 'max' (least largest slack); got {fallback!r}.")
    build = _PROGRAMS[formulation]
    start = time.perf_counter()
    deadline = start + float(time_limit)

    realisable = None
    mask, status, message = None, None, ""
    if tolerance is not None:
        mask, status, message = _solve(build(target * c, c, float(tolerance)), deadline)
        if mask is not None:
            realisable = True
        elif status == "infeasible":
            realisable = False
    if mask is None:
        first, cap = message, None
        if fallback == "max":
            cap, note = _least_max_cap(build, target * c, c, deadline)
            first = f"{first}; {note}" if first else note
        mask, status, message = _solve(build(target * c, c, cap), deadline)
        message = f"{first}; least total slack: {message}" if first else message
    if mask is None:
        mask = greedy_mask(target * c, c)
        status = "heuristic"
        message = f"HiGHS returned no mask ({message}); greedy rounding heuristic used."
        if not return_solution:
            warnings.warn(f"masks_from_partition: {message}", RuntimeWarning, stacklevel=2)
    solution = MaskSolution(
        mask, target, status, realisable, formulation, message, time.perf_counter() - start, tolerance
    )
    return solution if return_solution else solution.mask


def masks_for_widths(P_tilde, widths: Sequence[int], **kwargs):
    """One mask per layer width from a single ``P̃`` (seed 004 §3.1: ``P`` is width-free).

    Args:
        P_tilde: the constraint matrix ``P̃`` (n, n).
        widths: channel counts of the layers, e.g. ``[16, 32, 64]``; repeated widths are solved once.
        **kwargs: passed to :func:`masks_from_partition` (``time_limit`` per width,
            ``tolerance``, ``formulation``, ``return_solution``).

    Returns:
        a list aligned with ``widths``: int8 masks (width, n), or :class:`MaskSolution` objects.

    Example:
        >>> import numpy as np
        >>> [m.shape for m in masks_for_widths(np.array([[0.5, 0.25], [0.25, 0.5]]), [8, 16])]
        [(8, 2), (16, 2)]
    """
    if isinstance(widths, (str, bytes, int, np.integer)) or len(widths) == 0:
        raise ValueError(f"widths must be a non-empty sequence of channel counts, e.g. [16, 32]; got {widths!r}.")
    solved = {}
    for w in widths:
        c = check_channels(w, "each width")
        if c not in solved:
            solved[c] = masks_from_partition(P_tilde, c, **kwargs)
    return [solved[int(w)] for w in widths]


def _milp(program, deadline: float):
    remaining = max(deadline - time.perf_counter(), 0.05)
    return milp(
        program.objective,
        integrality=program.integrality,
        bounds=program.bounds,
        constraints=program.constraints,
        options={"time_limit": remaining, "disp": False},
    )


def _least_max_cap(build, target: np.ndarray, c: int, deadline: float):
    """``(cap or None, note)``: the least largest count error any mask has, in channels.

    Bisection over the values the largest error can take (:func:`candidate_caps`),
    each probe a capped program. (A direct min-max program with ``z >= every slack``
    trips HiGHS's optimality check, "Solve error", on about 7% of refined random masks.)
    Probes that do not finish in time count as infeasible, so the cap stays feasible.
    """
    caps = candidate_caps(target, c)
    lo, hi, found = 0, len(caps) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        mask, _, _ = _solve(build(target, c, float(caps[mid]) + 1e-7), deadline)
        if mask is not None:
            found, hi = mid, mid - 1
        else:
            lo = mid + 1
    if found is None:
        return None, "least max slack: no probe finished"
    return float(caps[found]) + 1e-7, f"least max slack: {caps[found]:.6g} channels"


def _solve(program, deadline: float):
    """``(mask or None, status, message)``; status is optimal / feasible / infeasible / no_solution."""
    res = _milp(program, deadline)
    if res.x is not None:
        return program.decode(res.x), ("optimal" if res.status == 0 else "feasible"), str(res.message)
    return None, ("infeasible" if res.status == 2 else "no_solution"), str(res.message)
