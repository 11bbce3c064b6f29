"""``mtlzoo tune``: hyperparameter searches with keras-tuner. ``static-weights``: seed 002's grid-search baseline."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mtlzoo.cli.recipe_run import check_name as _check_name
from mtlzoo.cli.shared_options import data_dir_option

#: Defaults: 5 interior points of the two-task simplex (1/6 ... 5/6, the centre included), 10 epochs each.
DEFAULT_RESOLUTION = 6
DEFAULT_EPOCHS = 10


@click.group()
def tune() -> None:
    """Hyperparameter searches with keras-tuner; `static-weights` grid-searches the task weights.

    Every search keeps keras-tuner's state in its run folder, so rerunning the
    same command resumes it: finished trials are read back, not retrained.
    `mtlzoo tune COMMAND --help` lists the options.

    \b
    Examples:
      mtlzoo tune static-weights --epochs 5
      mtlzoo tune static-weights --data multimnist --data-dir ~/data --resolution 6 --epochs 3
    """


@tune.command("static-weights")
@click.option("--model", "model_name", default="multimnist_lenet", show_default=True,
              help="Zoo model name (see `mtlzoo zoo`).")
@click.option("--data", "data_name", default="multidigits", show_default=True,
              help="Dataset name (multidigits needs no files; multimnist reads mnist.npz from --data-dir).")
@data_dir_option
@click.option("--resolution", type=click.IntRange(min=1), default=DEFAULT_RESOLUTION, show_default=True,
              help="Grid steps per edge of the weight simplex: weights are multiples of 1/RESOLUTION; for two "
                   "tasks RESOLUTION-1 interior points (an even value includes 1/2, 1/2).")
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULT_EPOCHS, show_default=True,
              help="Epochs per trial; a trial scores its best epoch.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Examples per batch. [default: the recipe's, else the dataset's (64 for multidigits)]")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the initial weights (the same for every trial), data pairing and shuffling.")
@click.option("--limit", type=click.IntRange(min=2), default=None,
              help="Use only the first LIMIT training examples (validation rows included). [default: all]")
@click.option("--validation-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.1,
              show_default=True, help="Share of the training examples held out (the last ones) to score trials; "
                                      "the test split is never used.")
@click.option("--width", type=click.IntRange(min=1), default=None,
              help="The zoo model's width option (e.g. 2 for a tiny LeNet). [default: the model's]")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Run folder (keras-tuner state, best.json, trials.csv). [default: runs/tune-static-<model>-<data>]")
def static_weights(model_name, data_name, data_dir, resolution, epochs, batch_size, seed, limit, validation_fraction,
                   width, run_dir):
    """Grid-search static task weights on the simplex (seed 002's "grid search" baseline).

    Each trial trains the model with the `static` balancer at one point c of
    the simplex {c >= 0, sum c = 1} (interior points only: a zero weight
    would leave a task untrained) and scores the mean validation accuracy
    over tasks, on the last --validation-fraction of the training split. The
    run folder gets best.json (the best weights and every trial) and
    trials.csv (one row per trial); rerun the same command to resume.

    \b
    Examples:
      mtlzoo tune static-weights --epochs 5
      mtlzoo tune static-weights --data multimnist --data-dir ~/data --resolution 6 --epochs 3 --limit 20000
      mtlzoo tune static-weights --width 2 --resolution 3 --epochs 1 --run-dir runs/tiny-tune
    """
    import mtlzoo

    _check_name("data", data_name, mtlzoo.data.names())
    _check_name("model", model_name, mtlzoo.models.names())
    from mtlzoo.tools.static_weights import search_static_weights

    run_dir = Path(run_dir or f"runs/tune-static-{model_name}-{data_name}")
    click.echo(f"Grid search of static task weights: {model_name} on {data_name}, resolution {resolution}, "
               f"{epochs} epoch(s) per trial, into {run_dir}.")
    try:
        result = search_static_weights(model_name, data_name, directory=run_dir, resolution=resolution, epochs=epochs,
                                       batch_size=batch_size, seed=seed, data_dir=data_dir,
                                       validation_fraction=validation_fraction, limit=limit, width=width, verbose=0)
    except mtlzoo.data.DataNotFoundError as e:
        raise click.ClickException(f"--data {data_name}: {e}") from None
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    _write(run_dir, result)
    reused = len(result.trials) - result.trained
    click.echo(f"{len(result.trials)} trial(s), {result.trained} trained now, {reused} read back from {run_dir}; "
               f"{result.options['num_train']} training / {result.options['num_validation']} validation examples.")
    click.echo(result.format_table())
    weights = ", ".join(f"{t} {w:.3f}" for t, w in result.best_weights.items())
    click.echo(f"Best weights: {weights} ({result.objective} {result.best_objective:.4f}).")
    click.echo(f"Wrote {run_dir / 'best.json'} and {run_dir / 'trials.csv'}.")


def _write(run_dir: Path, result) -> None:
    from mtlzoo.atomic_file import atomic_file

    with atomic_file(run_dir / "best.json", "w") as f:
        json.dump(result.to_dict(), f, indent=2)
    with atomic_file(run_dir / "trials.csv", "w") as f:
        f.write(result.to_csv())
