"""Seed 002 Fig. 2's radar chart and the per-attribute error table, from ``{method: {attribute: error}}``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def _check(errors: Mapping[str, Mapping[str, float]]) -> list[str]:
    if not isinstance(errors, Mapping) or not errors:
        raise ValueError("errors must be a non-empty {method: {attribute: error}} mapping; got "
                         f"{type(errors).__name__} {errors!r:.80}.")
    attributes = list(next(iter(errors.values())))
    for method, row in errors.items():
        if not isinstance(row, Mapping) or set(row) != set(attributes):
            raise ValueError(f"errors[{method!r}] must give an error for the same attributes as the first method "
                             f"({len(attributes)}: {', '.join(attributes[:4])}...); got "
                             f"{sorted(row) if isinstance(row, Mapping) else row!r:.200}.")
    if len(attributes) < 3:
        raise ValueError(f"a radar chart needs at least 3 attributes (spokes); got {attributes}.")
    return attributes


def error_rows(errors: Mapping[str, Mapping[str, float]]) -> list[dict]:
    """One row per attribute (error in %, one column per method), then a ``mean`` row (seed 002 Table 1).

    Args:
        errors: ``{method: {attribute: error as a fraction}}``; every method has the same attributes.

    Example:
        >>> error_rows({"uniform": {"a": .1, "b": .2, "c": .3}})[-1]
        {'attribute': 'mean', 'uniform': 20.0}
    """
    attributes = _check(errors)
    rows = [{"attribute": a, **{m: 100.0 * float(e[a]) for m, e in errors.items()}} for a in attributes]
    rows.append({"attribute": "mean", **{m: float(np.mean([r[m] for r in rows])) for m in errors}})
    return rows


def radar_figure(errors: Mapping[str, Mapping[str, float]], title: str = "Percentage error per attribute"):
    """A matplotlib polar chart: one spoke per attribute (labelled), one closed polygon per method.

    Args:
        errors: ``{method: {attribute: error as a fraction}}`` (plotted in %); every method has the
            same attributes, at least 3.
        title: the figure title.

    Returns:
        the matplotlib ``Figure`` (save it with :meth:`ReproductionFolder.save_figure`).

    Raises:
        ValueError: naming a method whose attributes differ, or fewer than 3 attributes.

    Example:
        >>> fig = radar_figure({"uniform": {"a": .1, "b": .2, "c": .3}, "mgda_ub": {"a": .1, "b": .1, "c": .2}})
        >>> len(fig.axes[0].get_xticklabels())
        3
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attributes = _check(errors)
    angles = np.linspace(0.0, 2 * np.pi, len(attributes), endpoint=False)
    side = 9.0 if len(attributes) > 12 else 5.5
    fig = plt.figure(figsize=(side, side))
    ax = fig.add_subplot(projection="polar")
    ax.set_theta_offset(np.pi / 2)
    ax.set_theta_direction(-1)
    closed = np.append(angles, angles[0])
    for k, (method, row) in enumerate(errors.items()):
        values = [100.0 * float(row[a]) for a in attributes]
        ax.plot(closed, values + values[:1], color=f"C{k}", lw=1.4, label=method)
        ax.fill(closed, values + values[:1], color=f"C{k}", alpha=0.08)
    ax.set_xticks(angles, [a.replace("_", " ") for a in attributes], fontsize=7 if len(attributes) > 12 else 9)
    ax.set_ylim(0, None)
    ax.set_title(title, pad=24)
    ax.legend(loc="upper right", bbox_to_anchor=(1.25, 1.1), fontsize=8)
    return fig
