"""The split search's report files: heat maps, tree pictures, stress charts, CSV tables and ``report.md``.

Every writer renders into a temporary file in the target's folder and then
``os.replace``-s it into place, so a reader never sees a half-written file (a
crash leaves the old file, or none). Pictures use matplotlib's Agg canvas
directly (no pyplot, no display, no global figure state). Each function
creates missing parent folders and returns the path it wrote.

Example:
    >>> import tempfile, mtlzoo
    >>> folder = Path(tempfile.mkdtemp())
    >>> plot_tree(mtlzoo.testing.tiny_tree(), folder / "tree.png", highlight="trunk").name
    'tree.png'
    >>> write_rows_csv([{"step": 1, "block": "trunk", "stress": 0.25}], folder / "stress.csv").read_text().split()
    ['step,block,stress', '1,trunk,0.25']
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from mtlzoo.atomic_file import atomic_file as _atomic

_SHARED, _SINGLE, _HIGHLIGHT, _EDGE = "#cfe2f3", "#f3f3f3", "#f6b26b", "#666666"


def _save(fig, path) -> Path:
    with _atomic(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    return Path(path)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _square(matrix, labels: Sequence[str], what: str) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{what}: expected a square matrix, got shape {m.shape}.")
    if len(labels) != m.shape[0]:
        raise ValueError(f"{what}: got {len(labels)} labels for a {m.shape[0]}x{m.shape[0]} matrix; "
                         "give one label per row.")
    return m


def plot_affinity(matrix, labels: Sequence[str], path, title: str = "") -> Path:
    """A heat map of a square (affinity, stress or similarity) matrix with every value written in its cell.

    Args:
        matrix: ``(n, n)`` array-like; NaN cells show as ``nan``.
        labels: ``n`` row/column names (tasks or child blocks).
        path: the PNG to write.
        title: the figure title.

    Example:
        >>> import tempfile
        >>> p = plot_affinity([[1, .2], [.2, 1]], ["a", "b"], Path(tempfile.mkdtemp()) / "a.png", "tasks")
        >>> p.suffix
        '.png'
    """
    m = _square(matrix, labels, "plot_affinity")
    n = len(labels)
    side = max(3.5, 0.6 * n + 2.0)
    fig = _figure(side + 1.0, side)
    ax = fig.add_subplot()
    finite = m[np.isfinite(m)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    image = ax.imshow(np.ma.masked_invalid(m), cmap="viridis", vmin=low, vmax=high if high > low else low + 1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    size = max(5.0, min(10.0, 120.0 / n))
    middle = (low + high) / 2
    for i in range(n):
        for j in range(n):
            v = m[i, j]
            ax.text(j, i, "nan" if math.isnan(v) else f"{v:.3g}", ha="center", va="center", fontsize=size,
                    color="white" if np.isfinite(v) and v <= middle else "black")
    if title:
        ax.set_title(title)
    return _save(fig, path)


def tree_layout(tree) -> dict[str, tuple[float, float]]:
    """``{block: (depth, row)}``: the root at depth 0, leaves on consecutive rows, parents centred on children.

    Args:
        tree: a :class:`mtlzoo.TaskTree`.

    Example:
        >>> import mtlzoo
        >>> tree_layout(mtlzoo.testing.tiny_tree())["branch"]
        (2, 0.5)
    """
    rows: dict[str, float] = {}

    def place(block: str) -> float:
        kids = tree.children(block)
        if not kids:
            rows[block] = float(sum(1 for b in rows if not tree.children(b)))
        else:
            rows[block] = float(np.mean([place(k) for k in kids]))
        return rows[block]

    place(tree.root)
    return {b: (tree.depth_of(b), rows[b]) for b in tree.topological_order()}


def plot_tree(tree, path, title: str | None = None, highlight: str | Iterable[str] | None = None) -> Path:
    """Draw a :class:`mtlzoo.TaskTree`: boxes by depth (root on the left), edges to children, task names at heads.

    Shared blocks (|O(i)| >= 2) are blue, single-task blocks grey, the
    ``highlight`` block(s) orange (e.g. the block just split, or its copies).

    Args:
        tree: the tree spec (``model.tree`` of a network).
        path: the PNG to write.
        title: the figure title (default: none).
        highlight: a block name or several; each must be a block of ``tree``.

    Example:
        >>> import tempfile, mtlzoo
        >>> tree = mtlzoo.testing.tiny_tree()
        >>> plot_tree(tree, Path(tempfile.mkdtemp()) / "t.png", "before", highlight="trunk").name
        't.png'
    """
    marked = set([highlight] if isinstance(highlight, str) else highlight or [])
    unknown = sorted(marked - set(tree.blocks))
    if unknown:
        raise ValueError(f"plot_tree: highlight block(s) {unknown} are not in the tree; its blocks: "
                         f"{list(tree.blocks)}.")
    where = tree_layout(tree)
    ends: dict[str, list[str]] = {}
    for task, p in tree.paths.items():
        ends.setdefault(p[-1], []).append(task)
    depth = max(d for d, _ in where.values())
    leaves = 1 + max(r for _, r in where.values())
    fig = _figure(2.4 * (depth + 2), max(2.0, 0.55 * leaves + 0.8))
    ax = fig.add_subplot()
    ax.axis("off")
    for block in tree.blocks:
        x, y = where[block]
        for child in tree.children(block):
            cx, cy = where[child]
            ax.plot([x, x + 0.5, x + 0.5, cx], [y, y, cy, cy], color=_EDGE, lw=1.2, zorder=1)
    for block, tasks in ends.items():
        x, y = where[block]
        ax.plot([x, depth + 1], [y, y], color=_EDGE, lw=0.8, ls=":", zorder=1)
        ax.text(depth + 1.05, y, ", ".join(tasks), ha="left", va="center", style="italic", fontsize=9, zorder=3)
    for block in tree.blocks:
        x, y = where[block]
        colour = _HIGHLIGHT if block in marked else _SHARED if len(tree.tasks_of(block)) >= 2 else _SINGLE
        frame = {"boxstyle": "round,pad=0.35", "fc": colour, "ec": "#333333", "lw": 1.5 if block in marked else 0.8}
        ax.text(x, y, block, ha="center", va="center", fontsize=9, zorder=3, bbox=frame)
    ax.set_xlim(-0.6, depth + 1.9)
    ax.set_ylim(leaves - 0.4, -0.6)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def plot_stress(rows: Sequence[Mapping], path, title: str = "Stress per block") -> Path:
    """A grouped bar chart of stress per block at each search step, the most stressed block's bar edged.

    Args:
        rows: dicts with ``step`` (int), ``block`` (str) and ``stress`` (float),
            e.g. ``{"step": 1, "block": "conv2", "stress": 0.12}``.
        path: the PNG to write.
        title: the figure title.

    Example:
        >>> import tempfile
        >>> rows = [{"step": 1, "block": "trunk", "stress": .3}, {"step": 1, "block": "branch", "stress": .1}]
        >>> plot_stress(rows, Path(tempfile.mkdtemp()) / "s.png").name
        's.png'
    """
    missing = [i for i, r in enumerate(rows) if not {"step", "block", "stress"} <= set(r)]
    if not rows or missing:
        raise ValueError(f"plot_stress needs rows with keys step, block, stress; rows {missing or 'none'} lack "
                         "them (e.g. {'step': 1, 'block': 'conv2', 'stress': 0.12}).")
    steps = sorted({int(r["step"]) for r in rows})
    blocks = list(dict.fromkeys(str(r["block"]) for r in rows))
    colours = {b: f"C{i % 10}" for i, b in enumerate(blocks)}
    fig = _figure(max(4.0, 1.2 * len(steps) + 2.5), 3.5)
    ax = fig.add_subplot()
    for s in steps:
        here = sorted((r for r in rows if int(r["step"]) == s), key=lambda r: str(r["block"]))
        width = 0.8 / len(here)
        top = max(float(r["stress"]) for r in here)
        for k, r in enumerate(here):
            block = str(r["block"])
            ax.bar(s - 0.4 + width * (k + 0.5), float(r["stress"]), width, color=colours[block],
                   edgecolor="black" if float(r["stress"]) == top else "none", linewidth=1.5)
    ax.set_xticks(steps, [str(s) for s in steps])
    ax.set_xlabel("step")
    ax.set_ylabel("stress")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=colours[b], label=b) for b in blocks] + [
        Patch(fc="none", ec="black", lw=1.5, label="most stressed")], fontsize=8, loc="upper left",
        bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title)
    return _save(fig, path)


def write_matrix_csv(matrix, labels: Sequence[str], path) -> Path:
    """A labelled square matrix as CSV: a header row ``"", labels...``, then ``label, values...`` per row.

    Floats are written with ``repr`` so they read back exactly.

    Args:
        matrix: ``(n, n)`` array-like.
        labels: ``n`` row/column names.
        path: the CSV to write.

    Example:
        >>> import tempfile
        >>> p = write_matrix_csv([[1.0, 0.5], [0.5, 1.0]], ["a", "b"], Path(tempfile.mkdtemp()) / "m.csv")
        >>> p.read_text().split()
        [',a,b', 'a,1.0,0.5', 'b,0.5,1.0']
    """
    m = _square(matrix, labels, "write_matrix_csv")
    with _atomic(path, "w") as fh:
        out = csv.writer(fh)
        out.writerow(["", *labels])
        for label, row in zip(labels, m):
            out.writerow([label, *(repr(float(v)) for v in row)])
    return Path(path)


def write_rows_csv(rows: Sequence[Mapping], path, fieldnames: Sequence[str] | None = None) -> Path:
    """A list of dicts as CSV with a header (the keys in first-seen order; missing values left empty).

    Args:
        rows: the records.
        path: the CSV to write.
        fieldnames: the columns (default: every key of ``rows``); needed to
            write a header when ``rows`` is empty.

    Example:
        >>> import tempfile
        >>> p = write_rows_csv([{"a": 1}, {"a": 2, "b": "x"}], Path(tempfile.mkdtemp()) / "r.csv")
        >>> p.read_text().splitlines()
        ['a,b', '1,', '2,x']
    """
    names = list(fieldnames) if fieldnames is not None else list(dict.fromkeys(k for r in rows for k in r))
    with _atomic(path, "w") as fh:
        if names:
            out = csv.DictWriter(fh, fieldnames=names, restval="", extrasaction="raise")
            out.writeheader()
            out.writerows(rows)
    return Path(path)


def markdown_table(rows: Sequence[Mapping]) -> str:
    """GitHub markdown for a list of dicts (columns: every key, first-seen order; floats to 4 digits).

    Example:
        >>> print(markdown_table([{"block": "trunk", "stress": 0.123456}]))
        | block | stress |
        | --- | --- |
        | trunk | 0.1235 |
    """
    names = list(dict.fromkeys(k for r in rows for k in r))

    def cell(v) -> str:
        text = f"{v:.4g}" if isinstance(v, float) else "" if v is None else str(v)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(n) for n in names) + " |", "| " + " | ".join("---" for _ in names) + " |"]
    lines += ["| " + " | ".join(cell(r.get(n)) for n in names) + " |" for r in rows]
    return "\n".join(lines)


def write_markdown_report(path, sections, title: str = "Split search report") -> Path:
    """Write ``report.md``: a title, then one ``##`` section per ``(heading, content)``.

    Args:
        path: the markdown file to write.
        sections: ``(heading, content)`` pairs (or a mapping): ``content`` is
            text (markdown, written as given, e.g. ``"![tree](tree.png)"``) or a
            list of dicts (a table; an empty list writes ``(none)``).
        title: the ``#`` title.

    Example:
        >>> import tempfile
        >>> p = write_markdown_report(Path(tempfile.mkdtemp()) / "report.md",
        ...                           [("Tree", "![tree](tree.png)"), ("Stress", [{"block": "trunk", "stress": .5}])])
        >>> print(p.read_text())
        # Split search report
        <BLANKLINE>
        ## Tree
        <BLANKLINE>
        ![tree](tree.png)
        <BLANKLINE>
        ## Stress
        <BLANKLINE>
        | block | stress |
        | --- | --- |
        | trunk | 0.5 |
        <BLANKLINE>
    """
    items = list(sections.items()) if isinstance(sections, Mapping) else list(sections)
    parts = [f"# {title}"]
    for i, item in enumerate(items):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ValueError(f"write_markdown_report: section {i} is {item!r}; give (heading, text or rows).")
        heading, content = item
        if isinstance(content, str):
            body = content.strip()
        elif isinstance(content, Sequence) and all(isinstance(r, Mapping) for r in content):
            body = markdown_table(content) if content else "(none)"
        else:
            raise ValueError(f"write_markdown_report: section {heading!r} holds {type(content).__name__}; "
                             "give text or a list of dicts (table rows).")
        parts.append(f"## {heading}\n\n{body}")
    with _atomic(path, "w") as fh:
        fh.write("\n\n".join(parts) + "\n")
    return Path(path)
