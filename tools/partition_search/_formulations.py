"""The two equivalent forms of seed 004's mask program, and the rounding fallback (private).

Both minimise ``Σ φ_i + Σ_{i<j} ξ_ij`` subject to two-sided slack on every count
(see :mod:`~mtlzoo.tools.partition_search.mask_program` for the reasons):

- :func:`channel_program`: the seed's variables, one binary ``M[k, i]`` per channel
  and task and ``t[k, ij] = M[k, i] AND M[k, j]`` (eqs. 8-9), rows ordered to break
  the channel-permutation symmetry;
- :func:`pattern_program`: the same program with the channel symmetry factored
  out. A channel's row of ``M`` is a subset ``S`` of the tasks (a *pattern*); since
  only counts matter, a mask is fixed up to channel order by ``x_S`` = number of
  channels with pattern ``S`` (``Σ_S x_S = c``). Then ``Σ_k M[k, i] = Σ_{S∋i} x_S`` and
  ``Σ_k t[k, ij] = Σ_{S⊇{i,j}} x_S``: the AND of eqs. 8-9 is exact by construction.
  Any (M, t) of the channel program maps to an ``x`` with the same objective and
  back, so the optima coincide; this form has ``2^n`` integer variables instead of
  ``c·n`` binaries plus ``c·n(n-1)/2`` ANDs, and solves in milliseconds.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint


class Program(NamedTuple):
    """Arguments of ``scipy.optimize.milp`` plus ``decode(x) -> mask``."""

    objective: np.ndarray
    integrality: np.ndarray
    bounds: Bounds
    constraints: LinearConstraint
    decode: Callable[[np.ndarray], np.ndarray]


class _Rows:
    """A sparse constraint matrix assembled row by row."""

    def __init__(self):
        self.rows, self.cols, self.vals, self.lo, self.hi = [], [], [], [], []

    def add(self, cols, vals, lower: float, upper: float) -> None:
        cols = np.asarray(cols, dtype=np.int64).ravel()
        self.rows.extend([len(self.lo)] * cols.size)
        self.cols.extend(cols.tolist())
        self.vals.extend(np.broadcast_to(np.asarray(vals, dtype=np.float64), cols.shape).tolist())
        self.lo.append(lower)
        self.hi.append(upper)

    def constraint(self, n_var: int) -> LinearConstraint:
        A = sparse.csr_array((self.vals, (self.rows, self.cols)), shape=(len(self.lo), n_var))
        return LinearConstraint(A, np.array(self.lo), np.array(self.hi))


def _pairs(n: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def candidate_caps(target: np.ndarray, c: int) -> np.ndarray:
    """Every value the largest count error ``max |count - τ|`` can take, ascending.

    Counts are integers in [0, c], so the largest error is one of ``|k - τ|``; values
    below the unavoidable rounding error ``max dist(τ, Z)`` are left out.
    """
    goals = np.clip(np.array(_goals(target)), 0.0, float(c))
    values = np.unique(np.round(np.abs(np.arange(c + 1)[:, None] - goals[None, :]), 9))
    floor = np.max(np.minimum(goals - np.floor(goals), np.ceil(goals) - goals))
    return values[values >= floor - 1e-9]


def _goals(target: np.ndarray) -> list[float]:
    """Target counts: the diagonal, then the pairs ``i < j`` (row-major)."""
    n = target.shape[0]
    return [float(target[i, i]) for i in range(n)] + [float(target[i, j]) for i, j in _pairs(n)]


def _slack_rows(rows: _Rows, counts, goals, slack_cols, c: int) -> None:
    """``|count - τ| <= s`` for each (count = Σ coef·x, τ, s), and the rounding cut on ``s``.

    ``counts`` holds ``(cols, coefs)`` pairs. A count is an integer, so
    ``s >= r + (1 - 2r)(count - ⌊τ⌋)`` (``r = τ - ⌊τ⌋``, the line through
    ``|⌊τ⌋ - τ|`` and ``|⌊τ⌋ + 1 - τ|``) holds for every integer count: a valid cut
    that closes the LP gap of rounding a fractional target.
    """
    for (cols, coefs), tau, s in zip(counts, goals, slack_cols):
        tau = min(max(tau, 0.0), float(c))
        f = np.floor(tau)
        r = tau - f
        cols_s = np.append(cols, s)
        rows.add(cols_s, np.append(coefs, -1.0), -np.inf, tau)
        rows.add(cols_s, np.append(coefs, 1.0), tau, np.inf)
        if r > 1e-12:
            rows.add(cols_s, np.append(-(1.0 - 2.0 * r) * np.asarray(coefs), 1.0), r - (1.0 - 2.0 * r) * f, np.inf)


def _finish(rows, integrality, upper, n_slack, c, tolerance, decode) -> Program:
    """The Program of the core variables (``integrality``, ``upper`` bounds) followed by the
    slacks, minimising the total slack; ``tolerance`` (channels) caps every slack."""
    n_core = len(integrality)
    n_var = n_core + n_slack
    cap = float(c) if tolerance is None else float(tolerance)
    objective = np.r_[np.zeros(n_core), np.ones(n_slack)]
    bounds = Bounds(np.zeros(n_var), np.r_[upper, np.full(n_slack, cap)])
    return Program(objective, np.r_[integrality, np.zeros(n_slack)], bounds, rows.constraint(n_var), decode)


def pattern_program(target: np.ndarray, c: int, tolerance: float | None = None) -> Program:
    """The mask program over pattern counts ``x_S`` (``2^n`` integers); ``target`` = ``c P̃`` in channels.

    ``tolerance`` (channels) caps every slack: the program is then infeasible when
    no mask has every count within ``tolerance`` of its target.
    """
    n = target.shape[0]
    n_pat = 2**n
    # Row s of `patterns` is the binary expansion of s, task 0 the most significant bit.
    patterns = (np.arange(n_pat)[:, None] >> np.arange(n - 1, -1, -1)[None, :]) & 1
    pairs = _pairs(n)
    n_slack = n + len(pairs)
    rows = _Rows()
    rows.add(np.arange(n_pat), 1.0, float(c), float(c))  # every channel has exactly one pattern
    indicators = [patterns[:, i] for i in range(n)] + [patterns[:, i] & patterns[:, j] for i, j in pairs]
    counts = [(np.flatnonzero(ind), np.ones(int(ind.sum()))) for ind in indicators]
    _slack_rows(rows, counts, _goals(target), n_pat + np.arange(n_slack), c)

    def decode(x: np.ndarray) -> np.ndarray:
        reps = np.rint(x[:n_pat]).astype(np.int64)
        return np.repeat(patterns[::-1], reps[::-1], axis=0).astype(np.int8)  # rows in decreasing order

    return _finish(rows, np.r_[np.ones(n_pat)], np.full(n_pat, float(c)), n_slack, c, tolerance, decode)


def channel_program(target: np.ndarray, c: int, tolerance: float | None = None) -> Program:
    """The mask program in the seed's variables: binary ``M`` (c, n) and ``t`` (c, pairs), eqs. 5-10."""
    n = target.shape[0]
    pairs = _pairs(n)
    n_mask, n_and, n_slack = c * n, c * len(pairs), n + len(pairs)
    m_idx = np.arange(n_mask).reshape(c, n)
    t_idx = n_mask + np.arange(n_and).reshape(c, len(pairs))
    rows = _Rows()
    counts = [(m_idx[:, i], np.ones(c)) for i in range(n)] + [(t_idx[:, p], np.ones(c)) for p in range(len(pairs))]
    _slack_rows(rows, counts, _goals(target), n_mask + n_and + np.arange(n_slack), c)
    for p, (i, j) in enumerate(pairs):  # eqs. 8-9 (8 tightened to t <= M_i, t <= M_j)
        for k in range(c):
            t, mi, mj = t_idx[k, p], m_idx[k, i], m_idx[k, j]
            rows.add([t, mi], [1.0, -1.0], -np.inf, 0.0)
            rows.add([t, mj], [1.0, -1.0], -np.inf, 0.0)
            rows.add([t, mi, mj], [1.0, -1.0, -1.0], -1.0, np.inf)
    weights = 2.0 ** np.arange(n - 1, -1, -1)
    for k in range(c - 1):  # channel symmetry: rows, read as binary numbers, do not increase
        rows.add(np.r_[m_idx[k], m_idx[k + 1]], np.r_[weights, -weights], 0.0, np.inf)

    def decode(x: np.ndarray) -> np.ndarray:
        return np.rint(x[:n_mask]).reshape(c, n).astype(np.int8)

    integrality = np.r_[np.ones(n_mask), np.zeros(n_and)]  # t = AND is integral once M is
    return _finish(rows, integrality, np.ones(n_mask + n_and), n_slack, c, tolerance, decode)


def greedy_mask(target: np.ndarray, c: int) -> np.ndarray:
    """A mask built task by task, the fallback when HiGHS returns none.

    Task ``i`` takes its rounded count of channels one at a time, preferring
    channels of earlier tasks it still lacks overlap with, avoiding those it has
    enough overlap with, and among equals channels few tasks use yet.
    """
    n = target.shape[0]
    M = np.zeros((c, n), dtype=np.int8)
    for i in range(n):
        overlap = np.zeros(i)
        for _ in range(int(np.clip(np.rint(target[i, i]), 0, c))):
            free = np.flatnonzero(M[:, i] == 0)
            need = np.sign(np.rint(target[i, :i]) - overlap - 0.5)  # +1 where overlap is short, -1 where met
            score = M[free, :i] @ need - 1e-3 * M[free].sum(axis=1)
            k = free[int(np.argmax(score))]
            M[k, i] = 1
            overlap += M[k, :i]
    return M
