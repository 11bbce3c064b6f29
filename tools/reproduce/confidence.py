"""Mean and 95% confidence half-width over seeds (Student's t), for the reproduction tables."""

from __future__ import annotations

import math
from collections.abc import Sequence


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """``(mean, half-width)`` of the ``level`` confidence interval of the mean, t-distribution with n-1 dof.

    One value has no interval: the half-width is ``nan``.

    Args:
        values: one number per seed.
        level: confidence level.

    Example:
        >>> m, h = mean_ci([0.9, 0.92, 0.94])
        >>> round(m, 3), round(h, 4)
        (0.92, 0.0497)
    """
    from scipy import stats

    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_ci: no values.")
    n = len(values)
    mean = sum(values) / n
    if n == 1:
        return mean, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)


def format_ci(values: Sequence[float], scale: float = 100.0, digits: int = 2) -> str:
    """``"96.50 ± 0.31"`` (``scale`` turns fractions into percent); one value prints alone.

    Example:
        >>> format_ci([0.9, 0.92, 0.94])
        '92.00 ± 4.97'
    """
    from mtlzoo.tools.reproduce.report_tables import pm

    mean, half = mean_ci(values)
    return pm(mean * scale, half * scale, digits)
