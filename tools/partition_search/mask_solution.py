"""The result of the mask program: a mask, its target, how far apart they are, and how it was found."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: ``MaskSolution.status`` values.
STATUSES = ("optimal", "feasible", "heuristic")


@dataclass(frozen=True)
class MaskSolution:
    """A binary mask derived from a constraint matrix ``P̃`` and how well it matches.

    Attributes:
        mask: int8 array (channels, n), ``mask[k, i] = 1`` when task ``i`` uses channel ``k``.
        target: the ``P̃`` (n, n) the mask was asked to realise.
        status: ``"optimal"`` (HiGHS proved the least total slack), ``"feasible"``
            (HiGHS stopped at its time limit with a mask not proven best) or
            ``"heuristic"`` (HiGHS returned no mask; the greedy rounding heuristic built
            one). An unrealisable ``P̃`` is not an error: it shows as slack.
        realisable: True when every count of the mask is within ``tolerance`` channels of
            ``c P̃``; False when HiGHS proved that no mask achieves that; None when not
            asked (``tolerance=None``) or not decided within the time limit.
        formulation: ``"patterns"`` or ``"channels"`` (see ``masks_from_partition``).
        message: HiGHS's message(s) and the fallback's reason, if any.
        seconds: wall time of the solve.
        tolerance: the per-count tolerance in channels that was tried first, or None.

    Example:
        >>> import numpy as np
        >>> s = MaskSolution(np.array([[1, 1], [1, 0]]), np.array([[1.0, .5], [.5, .5]]), "optimal")
        >>> s.channels, s.slack.tolist(), s.max_error
        (2, [[0.0, 0.0], [0.0, 0.0]], 0.0)
    """

    mask: np.ndarray
    target: np.ndarray
    status: str
    realisable: bool | None = None
    formulation: str = "patterns"
    message: str = ""
    seconds: float = 0.0
    tolerance: float | None = None
    _partition: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}; got {self.status!r}.")
        mask = np.asarray(self.mask, dtype=np.int8)
        target = np.asarray(self.target, dtype=np.float64)
        if mask.ndim != 2 or target.shape != (mask.shape[1], mask.shape[1]):
            raise ValueError(
                f"mask must be (channels, n) and target (n, n); got mask {mask.shape}, target {target.shape}."
            )
        object.__setattr__(self, "mask", mask)
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "_partition", (mask.T.astype(np.float64) @ mask) / mask.shape[0])

    @property
    def channels(self) -> int:
        """Number of channels ``c`` (rows of the mask)."""
        return int(self.mask.shape[0])

    @property
    def partition(self) -> np.ndarray:
        """``M'ᵀM' / c`` of the returned mask."""
        return self._partition.copy()

    @property
    def slack(self) -> np.ndarray:
        """``|M'ᵀM' - c P̃|`` in channels (n, n): diagonal = ``φ``, off-diagonal = ``ξ`` of eqs. 6-7."""
        counts = self.mask.T.astype(np.float64) @ self.mask
        return np.abs(counts - self.channels * self.target)

    @property
    def total_slack(self) -> float:
        """The objective of eq. 5 in channels: ``Σ φ_i + Σ_{i<j} ξ_ij``."""
        s = self.slack
        return float(np.trace(s) + np.triu(s, k=1).sum())

    @property
    def max_error(self) -> float:
        """``max |M'ᵀM' / c - P̃|`` (a share; ``<= 1 / channels`` = every count within one channel)."""
        return float(np.max(np.abs(self._partition - self.target)))
