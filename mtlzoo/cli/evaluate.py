"""``mtlzoo evaluate``: per-task test metrics of a trained model, and Delta-m% against single-task baselines."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mtlzoo.cli.shared_options import data_dir_option


@click.command("evaluate")
@click.argument("source", type=click.Path(exists=True))
@click.option("--data", "data_name", default=None,
              help="Dataset. [default: the run folder's, else the model recipe's]")
@data_dir_option
@click.option("--split", default="test", show_default=True, help="Which split to evaluate.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="[default: the dataset's]")
@click.option("--baseline", "baselines", multiple=True, metavar="TASK=SOURCE",
              help="A single-task baseline for Delta-m%: TASK=VALUE (its accuracy), TASK=RUN_DIR or "
                   "TASK=evaluation.json (its metrics are read). Repeatable.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Also write the results as JSON here.")
def evaluate(source, data_name, data_dir, split, batch_size, baselines, out):
    """Evaluate a trained model (a run folder or a .keras file) task by task.

    Prints each task's metrics on the split, and with --baseline the
    Delta-m%: the mean relative change against single-task models (positive:
    the multi-task model is better).

    \b
    Examples:
      mtlzoo evaluate runs/multimnist_lenet-multidigits-mgda_ub-seed0
      mtlzoo evaluate model.keras --data multimnist --data-dir ~/data
      mtlzoo evaluate runs/mt --baseline left=runs/left --baseline right=0.91
    """
    import mtlzoo
    from mtlzoo.cli.run_folder import RunFolder
    from mtlzoo.tools.evaluation import delta_m, per_task
    from mtlzoo.tools.model_source import load_trained

    parsed = _parse_baselines(baselines)
    try:
        model = load_trained(source)
    except (FileNotFoundError, ValueError) as e:  # missing, not a .keras archive, or a corrupt one
        raise click.BadParameter(str(e), param_hint="SOURCE") from None
    options = {}
    if Path(source).is_dir():
        options = (RunFolder(source).read_config() or {}).get("options", {})
    data_name = data_name or options.get("data") or (getattr(model, "recipe", None) or {}).get("data")
    if data_name is None:
        raise click.UsageError("the model says nothing about its data: pass --data NAME.")
    if data_name not in mtlzoo.data.names():
        raise click.BadParameter(f"unknown data {data_name!r}; known: {', '.join(mtlzoo.data.names())}.",
                                 param_hint="--data")
    info = mtlzoo.data.info(data_name)
    try:
        info.check_model(model)
        dataset = mtlzoo.data.get(data_name, split=split, data_dir=data_dir or options.get("data_dir"),
                                  batch_size=batch_size or options.get("batch_size") or info.batch_size)
    except (mtlzoo.data.DataNotFoundError, ValueError) as e:
        raise click.ClickException(f"--data {data_name}: {e}") from None
    model.compile()  # the recipe's losses and metrics (a .keras file keeps the trained weights only)
    logs = {k: float(v) for k, v in model.evaluate(dataset, return_dict=True, verbose=0).items()}
    tasks = per_task(logs, model.tasks)
    click.echo(f"{model.name} on {data_name} ({split}):")
    for task, metrics in tasks.items():
        click.echo(f"  {task}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    result = {"model": model.name, "data": data_name, "split": split, "tasks": tasks, "metrics": logs}
    if parsed:
        unknown = sorted(set(parsed) - set(model.tasks))
        if unknown:
            raise click.BadParameter(f"unknown task(s) {unknown}; the model's tasks: {list(model.tasks)}.",
                                     param_hint="--baseline")
        base = {task: _baseline_metrics(task, value) for task, value in parsed.items()}
        try:
            result["delta_m"] = delta_m(tasks, base)
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        result["baselines"] = base
        click.echo(f"Delta-m% against the single-task baselines: {result['delta_m']:+.2f}")
    if out:
        RunFolder(Path(out).parent).write_json(Path(out), result)


def _parse_baselines(items) -> dict[str, str]:
    parsed = {}
    for item in items:
        task, sep, value = item.partition("=")
        if not sep or not task or not value:
            raise click.BadParameter(f"{item!r} is not TASK=SOURCE (e.g. left=0.91 or left=runs/left).",
                                     param_hint="--baseline")
        parsed[task] = value
    return parsed


def _baseline_metrics(task: str, value: str) -> dict[str, float]:
    """A baseline's metrics: a number (its accuracy), or the ``tasks[task]`` of a run's evaluation.json."""
    try:
        return {"accuracy": float(value)}
    except ValueError:
        pass
    path = Path(value)
    path = path / "evaluation.json" if path.is_dir() else path
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise click.BadParameter(f"{task}={value}: not a number, nor a run folder or evaluation.json ({e}).",
                                 param_hint="--baseline") from None
    metrics = saved.get("tasks", {}).get(task)
    if not metrics:
        raise click.BadParameter(f"{task}={value}: {path} has no metrics for task {task!r}.",
                                 param_hint="--baseline")
    return {k: float(v) for k, v in metrics.items()}
