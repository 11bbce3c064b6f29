"""The split search's run-folder report: matrices (CSV + heat maps), stress, metrics, trees, ``report.md``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mtlzoo.tools.split_search.report import (plot_affinity, plot_stress, plot_tree, write_markdown_report,
                                              write_matrix_csv, write_rows_csv)


def metric_rows(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per network (step 0 = after the first training): block split, parameters, per-task metrics.

    Args:
        state: the search state (``search.json``).

    Example:
        >>> metric_rows({"initial": {"metrics": {"a_accuracy": 0.5}}, "steps": []})
        [{'step': 0, 'split': '', 'a_accuracy': 0.5}]
    """
    rows = []
    initial = state.get("initial") or {}
    if initial:
        rows.append({"step": 0, "split": "", **_rounded(initial.get("metrics", {}))})
    for record in state.get("steps", []):
        split = f"{record['block']} -> " + " | ".join("+".join(g) for g in record["partition"])
        rows.append({"step": record["step"], "split": split, "parameters": record.get("parameters"),
                     **_rounded(record.get("metrics", {}))})
    return rows


def stress_rows(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``{"step", "block", "stress"}`` for every block measured at every step.

    Example:
        >>> stress_rows({"steps": [{"step": 1, "stress": {"conv2": 0.25}}]})
        [{'step': 1, 'block': 'conv2', 'stress': 0.25}]
    """
    return [{"step": r["step"], "block": b, "stress": s} for r in state.get("steps", [])
            for b, s in r.get("stress", {}).items()]


def write_search_report(run_dir: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    """(Re)write every report file of a split search from its state; returns the path of ``report.md``.

    Args:
        run_dir: the search's run folder.
        state: ``{"config", "initial", "steps"}`` as :class:`GreedySplitSearch` keeps it.
    """
    from mtlzoo.task_tree import TaskTree

    run = Path(run_dir)
    config = state.get("config", {})
    initial = state.get("initial") or {}
    sections: list[tuple[str, Any]] = [("Search", [{k: v for k, v in config.items() if k not in ("tree",
                                                                                              "compile_args")}])]
    if initial:
        plot_tree(TaskTree.from_dict(initial["tree"]), run / "tree_step0.png", title="after the first training")
        sections.append(("First training", f"{initial.get('epochs')} epochs, last epoch's Pareto-stationary "
                                           f"fraction {initial.get('pareto_stationary')}, "
                                           f"{initial.get('seconds', 0.0):.1f} s.\n\n![tree](tree_step0.png)"))
    for record in state.get("steps", []):
        k = record["step"]
        tree = TaskTree.from_dict(record["tree"])
        before = TaskTree.from_dict(record["tree_before"])
        copies = sorted(set(tree.blocks) - set(before.blocks))
        plot_tree(tree, run / f"tree_step{k}.png", title=f"step {k}: split {record['block']}", highlight=copies)
        lines = [f"Split `{record['block']}` into " + ", ".join("{" + ", ".join(g) + "}"
                                                              for g in record["partition"])
                 + f"; {record.get('fine_tuned_networks', 0)} networks fine-tuned, search "
                 f"{record.get('search_seconds', 0.0):.1f} s, retraining {record.get('retrain_seconds', 0.0):.1f} s."]
        for key, labels_key in (("task_affinity", "tasks"), ("child_affinity", "children")):
            if key in record:
                labels, matrix = record[key][labels_key], record[key]["matrix"]
                write_matrix_csv(matrix, labels, run / f"{key}_step{k}.csv")
                title = ("task affinity A (Alg. 3, divergence)" if key == "task_affinity"
                         else "child affinity exp(-A/max A) (Alg. 4)")
                plot_affinity(matrix, labels, run / f"{key}_step{k}.png", title=f"step {k}, {record['block']}: "
                              f"{title}")
                lines.append(f"![{key}]({key}_step{k}.png) ([CSV]({key}_step{k}.csv))")
        lines.append(f"![tree](tree_step{k}.png)")
        sections.append((f"Step {k}", "\n\n".join(lines)))
    stress = stress_rows(state)
    write_rows_csv(stress, run / "stress.csv", fieldnames=["step", "block", "stress"])
    if stress:
        plot_stress(stress, run / "stress.png")
        sections.append(("Stress per block", stress))
        sections.append(("Stress chart", "![stress](stress.png)"))
    metrics = metric_rows(state)
    write_rows_csv(metrics, run / "metrics.csv", fieldnames=list(dict.fromkeys(k for r in metrics for k in r))
                   or ["step"])
    sections.append(("Per-task metrics (evaluation data) after each step", metrics))
    return write_markdown_report(run / "report.md", sections, title=f"Split search ({config.get('strategy')})")


def _rounded(metrics: Mapping[str, float]) -> dict[str, float]:
    return {k: round(float(v), 5) for k, v in metrics.items()}
