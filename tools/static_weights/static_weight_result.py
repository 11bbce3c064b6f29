"""``StaticWeightResult``: the outcome of a static-weight grid search (best weights and the trial table)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StaticWeightResult:
    """What :func:`~mtlzoo.tools.static_weights.static_weight_search.search_static_weights` found.

    Args:
        tasks: the task names, in the model's order.
        objective: the objective's name (``"val_mean_accuracy"``) and ``direction`` (``"max"``/``"min"``).
        trials: one dict per finished trial, in grid order: ``trial_id``,
            ``index`` (grid index), ``weights`` ``{task: c^t}``, ``objective``
            (its best epoch's value), ``epoch`` (that epoch, 0-based) and
            ``metrics`` (``{log key: value}`` at that epoch, e.g. ``val_left_accuracy``).
        best_weights: ``{task: c^t}`` of the best trial.
        best_objective: its objective value.
        best_trial_id: keras-tuner's id of the best trial.
        directory: the tuner's project folder.
        trained: trials trained by this call (the rest were read back from ``directory``).
        options: the search's options (model, data, resolution, ...).
        direction: ``"max"`` or ``"min"``.

    Example:
        >>> r = StaticWeightResult(("a", "b"), "val_mean_accuracy", [
        ...     {"trial_id": "0", "index": 0, "weights": {"a": 0.25, "b": 0.75}, "objective": 0.5, "epoch": 0,
        ...      "metrics": {}}], {"a": 0.25, "b": 0.75}, 0.5, "0", "runs/x", 1)
        >>> print(r.format_table())
        index  w_a    w_b    val_mean_accuracy  epoch
        0      0.250  0.750  0.5000 *           1
    """

    tasks: tuple[str, ...]
    objective: str
    trials: list[dict[str, Any]]
    best_weights: dict[str, float]
    best_objective: float
    best_trial_id: str
    directory: str
    trained: int
    options: dict[str, Any] = field(default_factory=dict)
    direction: str = "max"

    def rows(self) -> list[dict[str, Any]]:
        """The trial table as flat rows: index, trial id, ``w_<task>``, the objective, epoch, per-task metrics.

        ``epoch`` is 1-based here (the epoch count at the best value), as Keras prints it.
        """
        keys = sorted({k for trial in self.trials for k in trial["metrics"]})
        rows = []
        for trial in self.trials:
            row = {"index": trial["index"], "trial_id": trial["trial_id"]}
            row.update({f"w_{t}": trial["weights"][t] for t in self.tasks})
            row[self.objective] = trial["objective"]
            row["epoch"] = trial["epoch"] + 1
            row.update({k: trial["metrics"].get(k) for k in keys})
            rows.append(row)
        return rows

    def to_csv(self) -> str:
        """The trial table (:meth:`rows`) as CSV text with a header."""
        rows = self.rows()
        out = io.StringIO()
        if rows:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        return out.getvalue()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: the best trial, the objective, the options and the trial table."""
        return {"best_weights": self.best_weights, "best_objective": self.best_objective,
                "best_trial_id": self.best_trial_id, "objective": self.objective, "direction": self.direction,
                "tasks": list(self.tasks), "directory": self.directory, "trained": self.trained,
                "options": self.options, "trials": self.trials}

    def format_table(self) -> str:
        """A fixed-width text table: grid index, weights, objective (best marked ``*``), best epoch."""
        head = ["index", *(f"w_{t}" for t in self.tasks), self.objective, "epoch"]
        body = []
        for trial in self.trials:
            mark = " *" if trial["trial_id"] == self.best_trial_id else ""
            body.append([str(trial["index"]), *(f"{trial['weights'][t]:.3f}" for t in self.tasks),
                         f"{trial['objective']:.4f}{mark}", str(trial["epoch"] + 1)])
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *body])
