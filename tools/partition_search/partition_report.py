"""Pictures and tables of a partition search (seed 004 Fig. 4, the chosen ``P``, the results table).

- :func:`plot_score_vs_channel_use`: every sample as a point (score against the
  mean of ``diag(P)``), each ES run's per-iteration centres as a line on top;
- :func:`plot_partition`: a heat map of ``P`` (or ``P̃``) with every value written in its cell;
- :func:`write_results_csv`: one row per trial, ``P`` flattened to ``p_i_j`` columns.

Every writer renders into a temporary file next to the target and ``os.replace``-s
it into place (a crash leaves the old file or none), creates missing parent
folders, and returns the path it wrote. Pictures use matplotlib's Agg canvas
directly (no pyplot, no display).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> rows = [{"trial_id": "0", "P": [[0.5, 0.1], [0.1, 0.25]], "channel_use": 0.375, "score": 0.9}]
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_results_csv(rows, folder / "r.csv").read_text().splitlines()[0]
    'trial_id,channel_use,score,p_0_0,p_0_1,p_1_1'
    >>> plot_score_vs_channel_use(rows, folder / "fig4.png").name
    'fig4.png'
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from mtlzoo.atomic_file import atomic_file as _atomic
from mtlzoo.tools.partition_search.search_space import partition_to_values

__all__ = ["plot_partition", "plot_score_vs_channel_use", "write_results_csv"]

_COLUMNS = ("trial_id", "strategy", "status", "iteration", "role", "direction", "channel_use", "score", "reward")


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> Path:
    with _atomic(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    return Path(path)


def _points(results, what: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(results, (str, bytes, Mapping)) or not isinstance(results, Sequence):
        raise ValueError(f"{what} must be a list of result rows (PartitionSearch.results()); got {type(results)}.")
    rows = [r for r in results if r.get(key) is not None]
    for r in rows:
        if "channel_use" not in r:
            raise ValueError(f"{what}: a row lacks 'channel_use' (keys: {sorted(r)}); pass PartitionSearch.results().")
    return (np.array([float(r["channel_use"]) for r in rows]), np.array([float(r[key]) for r in rows]))


def plot_score_vs_channel_use(results, path, es_results=None, key: str = "score", title: str = "") -> Path:
    """Score against average channel use for every sample, with ES trajectories (seed 004 Fig. 4).

    Args:
        results: result rows (``PartitionSearch.results()``), drawn as grey points
            (typically the random samples).
        path: the PNG to write.
        es_results: the rows of one ES search, or ``{label: rows}`` for several (e.g. one per
            ``weight_decay``); each is drawn as its samples (small points) and the line through
            its per-iteration ``center`` trials (arrow at the end).
        key: the y value: ``"score"`` (raw) or ``"reward"`` (penalised).
        title: the figure title.

    Example:
        >>> import tempfile
        >>> es = [{"role": "center", "iteration": k, "channel_use": 0.5 - 0.1 * k, "score": 0.1 * k} for k in range(3)]
        >>> plot_score_vs_channel_use([], Path(tempfile.mkdtemp()) / "f.png", es_results={"λ=0.1": es}).suffix
        '.png'
    """
    if key not in ("score", "reward"):
        raise ValueError(f"key must be 'score' or 'reward'; got {key!r}.")
    x, y = _points(results, "results", key)
    runs = {} if es_results is None else dict(es_results) if isinstance(es_results, Mapping) else {"ES": es_results}
    fig = _figure(6.0, 4.5)
    ax = fig.add_subplot()
    if x.size:
        ax.scatter(x, y, s=10, color="#999999", alpha=0.6, label=f"samples ({x.size})", zorder=1)
    colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    for k, (label, rows) in enumerate(runs.items()):
        color = colors[k % len(colors)]
        sx, sy = _points(rows, f"es_results[{label!r}]", key)
        ax.scatter(sx, sy, s=6, color=color, alpha=0.25, zorder=2)
        centres = sorted((r for r in rows if r.get("role") == "center" and r.get(key) is not None),
                         key=lambda r: r.get("iteration") or 0)
        if centres:
            cx, cy = _points(centres, f"es_results[{label!r}] centres", key)
            ax.plot(cx, cy, "-o", color=color, markersize=3, linewidth=1.5, label=f"{label} centres", zorder=3)
            ax.scatter(cx[-1:], cy[-1:], marker="*", s=120, color=color, edgecolor="black", zorder=4)
    ax.set_xlabel("average channel use (mean of diag(P))")
    ax.set_ylabel(key)
    ax.set_xlim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    if x.size or runs:
        ax.legend(fontsize=8, loc="best")
    if title:
        ax.set_title(title)
    return _save(fig, path)


def plot_partition(P, tasks: Sequence[str], path, title: str = "") -> Path:
    """A heat map of a partition matrix on a fixed [0, 1] colour scale, every value written in its cell.

    Args:
        P: (n, n) array-like (raw ``P``, refined ``P̃`` or ``MᵀM / c``).
        tasks: ``n`` task names (rows and columns).
        path: the PNG to write.
        title: the figure title (default: the average channel use).

    Example:
        >>> import tempfile
        >>> plot_partition([[0.5, 0.2], [0.2, 0.75]], ["left", "right"], Path(tempfile.mkdtemp()) / "P.png").name
        'P.png'
    """
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] != P.shape[1]:
        raise ValueError(f"plot_partition: P must be a square (n, n) matrix; got shape {P.shape}.")
    tasks = [str(t) for t in tasks]
    n = P.shape[0]
    if len(tasks) != n:
        raise ValueError(f"plot_partition: got {len(tasks)} task names for a {n}x{n} P; give one name per row.")
    side = max(3.5, 0.6 * n + 2.0)
    fig = _figure(side + 1.0, side)
    ax = fig.add_subplot()
    image = ax.imshow(P, cmap="viridis", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), tasks, rotation=45, ha="right")
    ax.set_yticks(range(n), tasks)
    size = max(5.0, min(10.0, 120.0 / n))
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{P[i, j]:.2f}", ha="center", va="center", fontsize=size,
                    color="white" if P[i, j] <= 0.5 else "black")
    ax.set_title(title or f"P (average channel use {float(np.mean(np.diag(P))):.3f})")
    return _save(fig, path)


def write_results_csv(results, path) -> Path:
    """The results table as CSV (atomic): the known columns present in the rows, then ``p_i_j`` for ``i <= j``.

    Args:
        results: result rows (``PartitionSearch.results()``); ``P`` is flattened to ``p_i_j`` columns,
            other unknown keys are appended in first-seen order.
        path: the CSV to write.

    Example:
        >>> import tempfile
        >>> p = write_results_csv([{"trial_id": "0", "score": 1.0}], Path(tempfile.mkdtemp()) / "r.csv")
        >>> p.read_text().split()
        ['trial_id,score', '0,1.0']
    """
    if isinstance(results, (str, bytes, Mapping)) or not isinstance(results, Sequence):
        raise ValueError(f"results must be a list of dict rows (PartitionSearch.results()); got {type(results)}.")
    flat = []
    for row in results:
        row = dict(row)
        P = row.pop("P", None)
        if P is not None:
            row.update(partition_to_values(P))
        flat.append(row)
    keys = list(dict.fromkeys(k for row in flat for k in row))
    columns = [c for c in _COLUMNS if c in keys]
    columns += [k for k in keys if k not in columns and not k.startswith("p_")]
    columns += [k for k in keys if k.startswith("p_")]
    with _atomic(path, "w") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(flat)
    return Path(path)
