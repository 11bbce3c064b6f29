"""``mtlzoo train``: train a recipe (or a zoo model on a dataset) into a resumable run folder."""

from __future__ import annotations

import inspect

import click

from mtlzoo.cli.shared_options import data_dir_option

#: Default epochs of the default job (the ``multidigits`` recipe): multimnist_lenet on the 1437 MultiDigits
#: training images (SGD lr 0.01, batch 64) reaches its test-accuracy plateau after about 60 epochs, in well
#: under two minutes on 2 CPU cores.
DEFAULT_EPOCHS = 60


@click.command()
@click.argument("recipe", required=False, metavar="[RECIPE]")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe key (VALUE is YAML; dots reach into mappings), e.g. --set epochs=10 "
                   "--set model_config.width=4. Repeatable.")
@click.option("--model", "model_name", default=None,
              help="Zoo model name (see `mtlzoo zoo`). [default: the recipe's, multimnist_lenet]")
@click.option("--data", "data_name", default=None,
              help="Dataset name (see mtlzoo.data.names()). [default: the recipe's, multidigits]")
@click.option("--balancer", default=None, help="Balancer name (uniform, mgda_ub, gradnorm, hybrid, ...). "
              "[default: the recipe's, else the zoo model's (mgda_ub for multimnist_lenet)]")
@click.option("--line-search", "line_search", type=click.Choice(["none", "fast", "classic"]), default=None,
              help="Armijo backtracking for the step size (seed 001): fast (latent space) or classic; "
                   "replaces the optimizer's steps. [default: the recipe's, else none]")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help=f"Total epochs; rerun with a larger value to train a finished run further. "
                   f"[default: the recipe's, {DEFAULT_EPOCHS} for the default job]")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Examples per batch. [default: the recipe's, else the zoo model's, else the dataset's]")
@click.option("--optimizer", default=None, help="Keras optimizer name (sgd, adam, adamw, rmsprop, ...). "
              "[default: the recipe's, else the zoo model's (SGD with momentum 0.9 for multimnist_lenet)]")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Learning rate. [default: the recipe's, else the optimizer's (0.01 for multimnist_lenet)]")
@click.option("--strategy", type=click.Choice(["auto", "one_device", "mirrored", "multi_worker"]), default=None,
              help="tf.distribute strategy: auto (mirrored over the GPUs when there are several), one_device, "
                   "mirrored (every GPU; without GPUs MTLZOO_LOGICAL_CPUS=N logical CPUs, set before the command), "
                   "multi_worker (TF_CONFIG). The global batch is --batch-size. [default: the recipe's, else auto]")
@click.option("--mixed-precision/--no-mixed-precision", "mixed_precision", default=None,
              help="Keras mixed_float16: float16 compute, float32 variables, losses and solvers. "
                   "[default: the recipe's, else off]")
@click.option("--jit-compile/--no-jit-compile", "jit_compile", default=None,
              help="Compile the train step with XLA. [default: the recipe's, else Keras' auto: XLA with a GPU, "
                   "not on CPU, where it is slower]")
@click.option("--seed", type=click.IntRange(0, 2 ** 32 - 1), default=0, show_default=True,
              help="Seeds weights, data pairing and shuffling; the same seed gives the same history on CPU.")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Run folder. [default: runs/<model>-<data>-<balancer>-seed<seed>]")
@click.option("--overwrite", is_flag=True, default=False,
              help="Delete the run folder's previous run (model, history, evaluation, backup) and train a new one "
                   "from scratch. Without it a finished run is never overwritten.")
@data_dir_option
def train(recipe, assignments, model_name, data_name, balancer, line_search, epochs, batch_size, optimizer, lr,
          strategy, mixed_precision, jit_compile, seed, run_dir, overwrite, data_dir):
    """Train a recipe, or a zoo model on a dataset, and write a run folder.

    RECIPE is a shipped recipe name (listed at the end) or a
    YAML file; without one the default job runs: multimnist_lenet with
    MGDA-UB on MultiDigits, data that ships with scikit-learn (no download).
    Options given on the command line override the recipe.

    The run folder holds config.json, history.csv / history.json, the
    training state after the last finished epoch (backup/), the last epoch's
    checkpoint (checkpoints/last.keras), TensorBoard logs (tensorboard/), the
    final model.keras and evaluation.json (per-task test metrics); every file
    is written atomically. Rerunning the same command resumes an interrupted
    run from its last finished epoch, exactly: on CPU it ends with the weights
    of an uninterrupted run. A larger --epochs trains a finished run further
    (from backup/, else from model.keras); a corrupt run folder is refused
    before anything is written, and so are batches the model cannot train on.

    \b
    Examples:
      mtlzoo train
      mtlzoo train multimnist --data-dir ~/data --set epochs=10
      mtlzoo train multimnist --set task=left --data-dir ~/data
      mtlzoo train my_recipe.yaml --set model_config.width=4
      mtlzoo train --balancer gradnorm --epochs 20 --run-dir runs/gradnorm
      mtlzoo train --line-search fast --run-dir runs/fast
      MTLZOO_LOGICAL_CPUS=2 mtlzoo train --strategy mirrored
    """
    from mtlzoo.cli.recipe_run import check_name, optimizer_names, run_recipe

    resolved = _recipe(recipe, assignments, model_name, data_name, balancer, line_search, epochs, batch_size,
                       optimizer, lr).replace(strategy=strategy, mixed_precision=mixed_precision,
                                              jit_compile=jit_compile)
    _configure_devices(resolved.strategy)  # before anything below initialises TensorFlow's devices
    if optimizer is not None:
        check_name("optimizer", optimizer.lower(), optimizer_names())
    run_recipe(resolved, seed=seed, run_dir=run_dir, data_dir=data_dir, overwrite=overwrite)


def _configure_devices(strategy) -> None:
    """Split the CPU for ``--strategy mirrored`` with ``MTLZOO_LOGICAL_CPUS`` (a bad count names the variable)."""
    from mtlzoo.training import strategies

    try:
        strategies.configure_devices(strategy)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--strategy") from None


def _shipped_recipes() -> str:
    """The help's list of shipped recipes (read from the package folder; nothing heavy is imported)."""
    from mtlzoo import shipped_recipes

    return ", ".join(shipped_recipes.names())


def _recipe(source, assignments, model_name, data_name, balancer, line_search, epochs, batch_size, optimizer, lr):
    """The recipe (``source``, else the default ``multidigits``) with ``--set`` and then the flags applied."""
    from mtlzoo.training import Recipe

    try:
        recipe = Recipe.load(source or "multidigits").override(assignments)
    except ValueError as e:
        hint = "--set" if source is None or "--set" in str(e) else "RECIPE"
        raise click.BadParameter(str(e), param_hint=hint) from None
    changes = {"model": model_name, "data": data_name, "balancer": balancer, "epochs": epochs,
               "batch_size": batch_size, "lr": lr, "optimizer": optimizer.lower() if optimizer else None}
    if model_name is not None and model_name != recipe.model:
        changes["model_config"] = {}  # build arguments of another model do not carry over
    recipe = recipe.replace(**changes)
    if line_search is not None:
        recipe = recipe.replace(line_search="none" if line_search == "none" else line_search)
    return recipe


train.help = f"{inspect.cleandoc(train.help)}\n\nShipped recipes (`mtlzoo train NAME`): {_shipped_recipes()}."
