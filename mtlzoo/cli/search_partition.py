"""``mtlzoo search partition``: seed 004's feature-partition search, trained against Table 2's baselines."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mtlzoo.cli.recipe_run import check_name as _check_name
from mtlzoo.cli.shared_options import data_dir_option

#: Partition-search run folder: the options that must match to resume.
_PARTITION_CONFIG = "config.json"


class _Temperature(click.ParamType):
    """A curriculum temperature: a number > 0, ``inf`` (uniform, one task per batch) or ``none`` (no curriculum)."""

    name = "temperature"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, float):
            return value
        if str(value).strip().lower() == "none":
            return None
        try:
            out = float(value)
        except ValueError:
            out = float("nan")
        if not out > 0:
            self.fail(f"{value!r} is not a number > 0, 'inf' or 'none'.", param, ctx)
        return out


@click.command("partition")
@click.option("--data", "data_name", default="mnist_attributes", show_default=True,
              help="Dataset whose tasks share one 28x28x1 input (mnist_attributes, planted_mnist, multidigits, ...).")
@data_dir_option
@click.option("--limit", type=click.IntRange(min=2), default=12000, show_default=True,
              help="Use the first N training images (1/6 of them score partitions) and at most N test images.")
@click.option("--strategy", type=click.Choice(["es", "random"]), default="es", show_default=True,
              help="es: evolutionary strategies; random: random sampling of P (seed 004 §4.1).")
@click.option("--trials", type=click.IntRange(min=1), default=60, show_default=True,
              help="Partitions scored by distillation.")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.01, show_default=True,
              help="λ of the reward score - λ ||diag(P)||² that ranks partitions (pushes channel use down).")
@click.option("--distill-steps", type=click.IntRange(min=1), default=200, show_default=True,
              help="Distillation steps per scored partition.")
@click.option("--teacher-epochs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Epochs of each single-task teacher.")
@click.option("--final-epochs", type=click.IntRange(min=1), default=10, show_default=True,
              help="Epochs of the full training of the chosen partition and of each baseline.")
@click.option("--temperature", type=_Temperature(), default="0.1", show_default=True,
              help="Curriculum temperature of the full trainings: tasks sampled ∝ softmax((1 - train accuracy) / T); "
                   "'inf' = uniform, 'none' = every task on every batch.")
@click.option("--width", type=click.IntRange(min=1), default=8, show_default=True, help="conv1 channels (masked).")
@click.option("--hidden", type=click.IntRange(min=1), default=50, show_default=True, help="Dense units (masked).")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Batch size of teachers and full trainings (seed 004 A.2: 64).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the data split and order, the weights and the sampled partitions.")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Run folder. [default: runs/partition-<data>-<strategy>-seed<seed>]")
def partition(data_name, data_dir, limit, strategy, trials, weight_decay, distill_steps, teacher_epochs,
              final_epochs, temperature, width, hidden, batch_size, seed, run_dir):
    """Search a feature partition P by distillation, then train it and seed 004's baselines.

    Trains one single-task teacher per task, scores --trials partitions by
    distilling the teachers into a partitioned student (seed 004 §4.2), picks
    the best by the reward score - λ||diag(P)||², then trains the chosen
    partition and the baselines of seed 004 Table 2 (independent, share half,
    share all) fully, with the accuracy curriculum, and evaluates them on the
    test split. The run folder gets report.md (the Table 2 layout), trials.csv
    (every trial), fig4.png (score vs average channel use with the ES
    trajectory), partition.png (the chosen P), final.json and the teachers.
    Rerunning the same command resumes an interrupted search.

    \b
    Examples:
      mtlzoo search partition --data-dir ~/data
      mtlzoo search partition --data-dir ~/data --strategy random --trials 40
      mtlzoo search partition --data planted_mnist --data-dir ~/data --weight-decay 0.05 --temperature inf
      mtlzoo search partition --data multidigits --limit 600 --trials 10 --final-epochs 3
    """
    import mtlzoo

    _check_name("data", data_name, mtlzoo.data.names())
    info = mtlzoo.data.info(data_name)
    tasks = _partition_tasks(info)
    run = Path(run_dir or f"runs/partition-{data_name}-{strategy}-seed{seed}")
    options = {"data": data_name, "limit": limit, "strategy": strategy, "trials": trials,
               "weight_decay": weight_decay, "distill_steps": distill_steps, "teacher_epochs": teacher_epochs,
               "final_epochs": final_epochs, "temperature": temperature, "width": width, "hidden": hidden,
               "batch_size": batch_size, "seed": seed}
    _check_partition_run(run, options)
    try:
        train, val, test = _partition_data(data_name, data_dir, limit, seed, tasks)
    except (mtlzoo.data.DataNotFoundError, ValueError, TypeError) as e:
        raise click.ClickException(f"--data {data_name}: {e}") from None
    from mtlzoo.cli.run_folder import RunFolder

    RunFolder(run).write_json(run / _PARTITION_CONFIG, options)  # temp file + os.replace
    click.echo(f"Partition search ({strategy}, {trials} trials) on {data_name} tasks {', '.join(tasks)} "
               f"({len(train[0])} train / {len(val[0])} validation / {len(test[0])} test images), into {run}.")
    try:
        search_run = _run_partition_search(run, options, tasks, train, val)
        chosen = search_run.best_partition()
        final = _train_final(run, options, tasks, chosen, train, test)
    except (ValueError, RuntimeError) as e:
        raise click.ClickException(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    except KeyboardInterrupt:
        click.echo(f"\nInterrupted; rerun the same command to resume from {run}.", err=True)
        raise SystemExit(130) from None
    report = _write_partition_report(run, options, tasks, search_run, chosen, final)
    click.echo(f"Report: {report}")


def _partition_tasks(info) -> dict[str, int]:
    """``{task: classes}`` of a dataset PartitionedNetwork can train on, or a one-line error."""
    bad = [t.name for t in info.tasks if t.kind != "classification" or not t.num_classes]
    if tuple(info.input_shape) != (28, 28, 1) or info.partial_labels or bad:
        partial = ", partial labels" if info.partial_labels else ""
        kinds = f", {len(bad)} non-classification task(s)" if bad else ""
        raise click.ClickException(
            f"--data {info.name}: the partitioned LeNet needs 28x28x1 images with every task labelled on every "
            f"image, all classification tasks; {info.name} has input {tuple(info.input_shape)}{partial}{kinds}. "
            "Use mnist_attributes, planted_mnist, multimnist or multidigits.")
    return {t.name: int(t.num_classes) for t in info.tasks}


def _check_partition_run(run: Path, options: dict) -> None:
    config = run / _PARTITION_CONFIG
    if not config.is_file():
        return
    from mtlzoo.option_conflicts import differing, saved_vs_now

    differ = dict(sorted(differing(json.loads(config.read_text()), options, either=True).items()))
    if differ:
        changed = ", ".join("--" + k.replace("_", "-") for k in differ)
        raise click.ClickException(f"{run} holds a partition search with other options ({changed} differ): "
                                   f"{saved_vs_now(differ, flags=True)}; rerun with the same options to resume it, "
                                   "or pass a new --run-dir.")


def _partition_data(data_name, data_dir, limit, seed, tasks):
    """``(train, validation, test)`` as ``(images, {task: labels})`` arrays; validation = the last 1/6 of train."""
    from mtlzoo.tools.partition_search.partition_pipeline import partition_data

    return partition_data(data_name, data_dir, limit, seed, tasks)


def _run_partition_search(run: Path, options, tasks, train, val):
    """Teachers (cached in run/teachers), then the resumable PartitionSearch scored by distillation."""
    from mtlzoo.tools.partition_search.partition_pipeline import run_partition_search

    keys = ("strategy", "trials", "weight_decay", "distill_steps", "teacher_epochs", "width", "hidden", "batch_size",
            "seed")
    return run_partition_search(run, tasks, train, val, log=click.echo, **{k: options[k] for k in keys})


def _train_final(run: Path, options, tasks, chosen, train, test) -> dict:
    """Train the baselines and the chosen P̃ fully (results kept in final.json as they finish)."""
    from mtlzoo.tools.partition_search.partition_pipeline import train_final_partitions

    return train_final_partitions(run / "final.json", {options["strategy"]: chosen}, train, test, tasks,
                                  log=click.echo, epochs=options["final_epochs"], width=options["width"],
                                  hidden=options["hidden"], temperature=options["temperature"],
                                  batch_size=options["batch_size"], seed=options["seed"])


def _write_partition_report(run: Path, options, tasks, searcher, chosen, final) -> Path:
    """report.md (Table 2 layout), trials.csv, fig4.png and partition.png."""
    from mtlzoo.tools.partition_search import plot_partition, plot_score_vs_channel_use, write_results_csv

    rows = searcher.results()
    write_results_csv(searcher.results(completed_only=False), run / "trials.csv")
    wd = options["weight_decay"]
    if options["strategy"] == "es":
        plot_score_vs_channel_use([], run / "fig4.png", es_results={f"ES (λ={wd:g})": rows},
                                  title=f"{options['data']}: distillation score vs channel use")
    else:
        plot_score_vs_channel_use(rows, run / "fig4.png", title=f"{options['data']}: distillation score vs channel use")
    plot_partition(chosen, list(tasks), run / "partition.png")
    from mtlzoo.tools.reproduce.partition_table import table2_lines, table_rows

    best = searcher.best()
    table = table_rows([{"partitioning": name, **row} for name, row in final.items()], list(tasks))
    lines = [f"# Partition search on {options['data']} ({options['strategy']}, seed {options['seed']})", "",
             "Test accuracy (%) after full training with the curriculum (temperature "
             f"{options['temperature']}), seed 004 Table 2 layout:", "", *table2_lines(table, list(tasks), wd)]
    matrix = "\n".join("    " + "  ".join(f"{v:.3f}" for v in r) for r in chosen.tolist())
    lines += ["", f"Search: {len(rows)} of {options['trials']} trials scored by distillation "
              f"({options['distill_steps']} steps); best reward {best['reward']:.4f} (score {best['score']:.4f}, "
              f"channel use {best['channel_use']:.3f}, trial {best['trial_id']}).", "",
              "Chosen P̃ (rows and columns: " + ", ".join(tasks) + "):", "", matrix, "",
              "- Score vs average channel use (seed 004 Fig. 4): ![fig4](fig4.png)",
              "- Chosen P̃: ![partition](partition.png)", "- Every trial: trials.csv; final trainings: final.json", "",
              "Settings: " + ", ".join(f"{k}={v}" for k, v in options.items()), ""]
    path = run / "report.md"
    path.write_text("\n".join(lines))
    return path
