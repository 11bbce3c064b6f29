"""Matplotlib pieces of every experiment's plots: the headless ``pyplot``, labelled axes, grouped bars.

>>> plt = pyplot()
>>> fig, ax = plt.subplots()
>>> grouped_bars(ax, ["a", "b"], [("uniform", [0.5, 0.6], None), ("mgda_ub", [0.7, 0.4], [0.1, 0.1])])
>>> len(ax.patches), [t.get_text() for t in ax.get_xticklabels()]
(4, ['a', 'b'])
>>> plt.close(fig)
"""

from __future__ import annotations

from collections.abc import Sequence


def pyplot():
    """``matplotlib.pyplot`` on the ``Agg`` backend (no display needed); save figures with
    :meth:`~mtlzoo.tools.reproduce.ReproductionFolder.save_figure`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def label_axes(ax, xlabel: str, ylabel: str, title: str | None = None, grid: bool = True, **legend) -> None:
    """Axis labels, an optional title, a light grid and the legend (``legend``: its keyword arguments).

    Args:
        ax: the matplotlib axes.
        xlabel: the x axis label.
        ylabel: the y axis label.
        title: the axes title, if any.
        grid: draw a grid at alpha 0.3.
        **legend: keyword arguments of ``ax.legend`` (e.g. ``fontsize=8``).

    Example:
        >>> fig, ax = pyplot().subplots()
        >>> _ = ax.plot([0, 1], label="loss")
        >>> label_axes(ax, "epoch", "loss", "Training", fontsize=8)
        >>> ax.get_title(), ax.get_legend() is not None
        ('Training', True)
    """
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    if grid:
        ax.grid(alpha=0.3)
    ax.legend(**legend)


def grouped_bars(ax, groups: Sequence[str], series: Sequence[tuple], value_labels: str | None = None) -> None:
    """One group of bars per ``groups`` entry, one bar per series in it, colours ``C0, C1, ...``; the legend
    outside, on the right.

    Args:
        ax: the matplotlib axes.
        groups: the x tick labels (e.g. the tasks).
        series: ``(label, values, errors or None)`` per series, one value per group.
        value_labels: a ``%`` format to print each bar's value above it (e.g. ``"%.3f"``), or ``None``.
    """
    import numpy as np

    x, width = np.arange(len(groups)), 0.8 / max(1, len(series))
    for k, (label, values, errors) in enumerate(series):
        extra = {} if errors is None else {"yerr": errors, "capsize": 2}
        bars = ax.bar(x - 0.4 + width * (k + 0.5), values, width, label=label, color=f"C{k}", **extra)
        if value_labels:
            ax.bar_label(bars, fmt=value_labels, fontsize=7, rotation=90, padding=2)
    ax.set_xticks(x, groups)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
