"""Tables of ``hybrid_speed``: mean curves over seeds and the per-balancer summary row.

Units are the dicts of :func:`~mtlzoo.tools.reproduce.hybrid_speed_training.train_unit`.

>>> unit = {"balancer": "uniform", "seed": 0, "seconds": [2.0, 1.0, 1.0],
...         "initial_test": {"loss": 4.6}, "history": {"loss": [3.0, 2.0, 1.5], "val_loss": [2.5, 1.8, 1.4]}}
>>> curve_rows({"uniform": [unit]})[-1]["seconds"]
4.0
>>> steady_seconds(unit["seconds"]), time_to_reach(unit, 2.0)
(1.0, 3.0)
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

#: The per-epoch logs averaged over seeds in the curve table (``None`` where a balancer does not log one).
CURVE_LOGS = ("loss", "left_loss", "right_loss", "val_loss", "val_left_loss", "val_right_loss",
              "val_left_accuracy", "val_right_accuracy", "pareto_stationary", "hybrid_phase")


def mean(values: Sequence[float]) -> float | None:
    """The mean of the values that are not ``None`` (``None`` if there are none)."""
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def cumulative(seconds: Sequence[float]) -> list[float]:
    """Running sums: the wall time at the end of each epoch."""
    out, total = [], 0.0
    for s in seconds:
        total += s
        out.append(total)
    return out


def steady_seconds(seconds: Sequence[float]) -> float:
    """Seconds per epoch without the first (tracing) epoch: the median of epochs 2.. (all of them if one)."""
    return statistics.median(seconds[1:] if len(seconds) > 1 else seconds)


def time_to_reach(unit: Mapping, target: float) -> float | None:
    """Training seconds until the epoch-mean training loss first is <= ``target`` (``None``: never)."""
    for seconds, loss in zip(cumulative(unit["seconds"]), unit["history"]["loss"]):
        if loss <= target:
            return seconds
    return None


def switch_epoch(unit: Mapping) -> int | None:
    """The 1-based epoch after which ``hybrid`` switched to MGDA-UB (``hybrid_phase`` logs the phase after
    each epoch's end), ``None`` if it never did or the balancer is not ``hybrid``."""
    for epoch, phase in enumerate(unit["history"].get("hybrid_phase", []), start=1):
        if phase >= 0.5:
            return epoch
    return None


def curve_rows(units: Mapping[str, Sequence[Mapping]]) -> list[dict]:
    """One row per balancer and epoch (epoch 0: before training, test logs only), means over seeds.

    Args:
        units: ``{balancer: [unit per seed]}``.
    """
    rows = []
    for balancer, runs in units.items():
        epochs = min(len(u["seconds"]) for u in runs)
        rows.append({"balancer": balancer, "epoch": 0, "seconds": 0.0,
                     **{k: mean([u["initial_test"].get(k[4:]) for u in runs]) if k.startswith("val_") else None
                        for k in CURVE_LOGS}})
        for e in range(epochs):
            row = {"balancer": balancer, "epoch": e + 1,
                   "seconds": mean([cumulative(u["seconds"])[e] for u in runs])}
            for k in CURVE_LOGS:
                row[k] = mean([u["history"][k][e] if k in u["history"] else None for u in runs])
            rows.append(row)
    return rows


def summary_rows(units: Mapping[str, Sequence[Mapping]], reference: str = "uniform") -> list[dict]:
    """One row per balancer: speed, final losses and accuracies, time to the reference's final training loss.

    Per seed, the target is the ``reference`` run's final epoch-mean training
    loss; ``time_to_target`` averages the seeds where it was reached
    (``reached`` counts them). Ratios are taken per seed, then averaged.

    Args:
        units: ``{balancer: [unit per seed]}`` (every balancer with the same seeds).
        reference: the baseline balancer (its seconds per epoch are 1).
    """
    if reference not in units:
        raise ValueError(f"summary_rows: the reference balancer {reference!r} is missing; have {list(units)}.")
    base = {u["seed"]: u for u in units[reference]}
    rows = []
    for balancer, runs in units.items():
        per_epoch = [steady_seconds(u["seconds"]) for u in runs]
        ratios = [steady_seconds(u["seconds"]) / steady_seconds(base[u["seed"]]["seconds"])
                  for u in runs]
        reach = [time_to_reach(u, base[u["seed"]]["history"]["loss"][-1]) for u in runs]
        reached = [t for t in reach if t is not None]
        final = {k: mean([u["history"][k][-1] if k in u["history"] else None for u in runs])
                 for k in ("loss", "val_loss", "val_left_loss", "val_right_loss", "val_left_accuracy",
                           "val_right_accuracy", "pareto_stationary")}
        switches = [switch_epoch(u) for u in runs] if balancer == "hybrid" else []
        rows.append({"balancer": balancer, "seeds": len(runs),
                     "seconds_per_epoch": mean(per_epoch), "ratio_to_uniform": mean(ratios),
                     "seconds_spread": mean([max(u["seconds"][1:] or u["seconds"]) / min(u["seconds"][1:] or u["seconds"])
                                             for u in runs]),
                     "first_epoch_seconds": mean([u["seconds"][0] for u in runs]),
                     "total_seconds": mean([sum(u["seconds"]) for u in runs]),
                     "train_loss": final["loss"], "test_loss": final["val_loss"],
                     "test_left_loss": final["val_left_loss"], "test_right_loss": final["val_right_loss"],
                     "test_left_accuracy": final["val_left_accuracy"],
                     "test_right_accuracy": final["val_right_accuracy"],
                     "time_to_uniform_loss": mean(reached), "reached": f"{len(reached)}/{len(runs)}",
                     "pareto_stationary_last": final["pareto_stationary"],
                     "hybrid_switch_epochs": ",".join(str(s) if s else "never" for s in switches)})
    return rows


def same_start(units: Mapping[str, Sequence[Mapping]], tolerance: float = 1e-5) -> bool:
    """Whether, per seed, every balancer's test loss before training agrees (same initial weights)."""
    by_seed: dict[int, list[float]] = {}
    for runs in units.values():
        for u in runs:
            by_seed.setdefault(u["seed"], []).append(u["initial_test"]["loss"])
    return all(max(v) - min(v) <= tolerance * max(1.0, abs(v[0])) for v in by_seed.values())
