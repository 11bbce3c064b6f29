"""Per-task evaluation of a multi-task model and the Delta-m% summary against single-task baselines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: Metric names (after ``<task>_``) where lower is better; every other metric counts as higher-is-better.
LOWER_IS_BETTER = ("loss", "error", "mae", "mse", "rmse", "mean_absolute_error", "mean_squared_error")


def per_task(logs: Mapping[str, float], tasks: Iterable[str]) -> dict[str, dict[str, float]]:
    """``{task: {metric: value}}`` from Keras' flat ``<task>_<metric>`` logs (the longest matching task wins).

    A single-task model's metrics are logged without the prefix (``accuracy``); they go to its task.

    Args:
        logs: ``model.evaluate(..., return_dict=True)``.
        tasks: the model's tasks.

    Example:
        >>> per_task({"loss": 1.0, "a_loss": 0.4, "a_accuracy": 0.9, "ab_loss": 0.6}, ["a", "ab"])
        {'a': {'loss': 0.4, 'accuracy': 0.9}, 'ab': {'loss': 0.6}}
        >>> per_task({"loss": 0.4, "left_loss": 0.4, "accuracy": 0.9}, ["left"])
        {'left': {'loss': 0.4, 'accuracy': 0.9}}
    """
    tasks = list(tasks)
    out: dict[str, dict[str, float]] = {t: {} for t in tasks}
    for key, value in logs.items():
        owners = [t for t in tasks if key.startswith(f"{t}_")]
        if owners:
            task = max(owners, key=len)
            out[task][key[len(task) + 1:]] = float(value)
    if len(tasks) == 1:  # Keras does not prefix the metrics of a single output
        for key, value in logs.items():
            if key != "loss" and not key.startswith(f"{tasks[0]}_"):
                out[tasks[0]].setdefault(key, float(value))
    return out


def delta_m(metrics: Mapping[str, Mapping[str, float]], baselines: Mapping[str, Mapping[str, float]],
            names: Iterable[str] | None = None) -> float:
    """Delta-m%: the mean relative change of every metric against the single-task baselines, in percent.

    Delta_m = 100 / K * sum_k (-1)^{l_k} (M_k - B_k) / B_k over the K (task, metric)
    pairs present in both, with l_k = 1 where lower is better (losses, errors):
    positive means the multi-task model is better on average (Maninis et al. 2019).

    Args:
        metrics: ``{task: {metric: value}}`` of the multi-task model.
        baselines: the same for the single-task models.
        names: which metrics to use (default: every one present in both except ``loss``).

    Raises:
        ValueError: no (task, metric) pair in common, or a zero baseline.

    Example:
        >>> round(delta_m({"a": {"accuracy": 0.9}, "b": {"accuracy": 0.8}},
        ...               {"a": {"accuracy": 0.9}, "b": {"accuracy": 0.9}}), 3)
        -5.556
    """
    wanted = None if names is None else set(names)
    terms = []
    for task, values in metrics.items():
        for name, value in values.items():
            if (wanted is None and name == "loss") or (wanted is not None and name not in wanted):
                continue
            base = baselines.get(task, {}).get(name)
            if base is None:
                continue
            if base == 0:
                raise ValueError(f"delta_m: the baseline {task}_{name} is 0; Delta-m% divides by it.")
            sign = -1.0 if name in LOWER_IS_BETTER or name.endswith("_loss") else 1.0
            terms.append(sign * (float(value) - float(base)) / abs(float(base)))
    if not terms:
        raise ValueError(f"delta_m: no metric of {sorted(metrics)} has a baseline "
                         f"(baselines for {sorted(baselines)}); give {{task: {{metric: value}}}} for the same names.")
    return 100.0 * sum(terms) / len(terms)
