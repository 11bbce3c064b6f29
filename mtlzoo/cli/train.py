"""``mtlzoo train``: train a zoo model on a dataset into a resumable run folder."""

from __future__ import annotations

import platform
import sys
import time

import click

from mtlzoo.cli.run_folder import RunFolder

#: Default epochs: the default job (multimnist_lenet on the 1437 MultiDigits training images, SGD lr 0.01,
#: batch 64) reaches its test-accuracy plateau after about 60 epochs, in well under two minutes on 2 CPU cores.
DEFAULT_EPOCHS = 60


@click.command()
@click.option("--model", "model_name", default="multimnist_lenet", show_default=True,
              help="Zoo model name (see `mtlzoo zoo`).")
@click.option("--data", "data_name", default="multidigits", show_default=True,
              help="Dataset name (see mtlzoo.data.names()).")
@click.option("--balancer", default=None, help="Balancer name (uniform, mgda_ub, gradnorm, hybrid, ...). "
              "[default: the model's recipe, mgda_ub for multimnist_lenet]")
@click.option("--line-search", "line_search", type=click.Choice(["none", "fast", "classic"]), default=None,
              help="Armijo backtracking for the step size (seed 001): fast (latent space) or classic; "
                   "replaces the optimizer's steps. [default: the recipe's, else none]")
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULT_EPOCHS, show_default=True,
              help="Total epochs; rerun with a larger value to train a finished run further.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Examples per batch. [default: the recipe's, else the dataset's (64 for multidigits)]")
@click.option("--optimizer", default=None, help="Keras optimizer name (sgd, adam, adamw, rmsprop, ...). "
              "[default: the recipe's, SGD with momentum 0.9 for multimnist_lenet]")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Learning rate of the recipe's optimizer or of --optimizer. "
              "[default: the recipe's (0.01 for multimnist_lenet), else the optimizer's]")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds weights, data pairing and shuffling; the same seed gives the same history on CPU.")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Run folder. [default: runs/<model>-<data>-<balancer>-seed<seed>]")
@click.option("--data-dir", type=click.Path(file_okay=False), envvar="MTLZOO_DATA_DIR", default=None,
              help="Directory with local copies of the data (also $MTLZOO_DATA_DIR).")
def train(model_name, data_name, balancer, line_search, epochs, batch_size, optimizer, lr, seed, run_dir, data_dir):
    """Train a zoo model on a dataset and write a run folder.

    The run folder holds config.json, history.csv / history.json,
    BackupAndRestore state (backup/), the last epoch's checkpoint
    (checkpoints/last.keras), TensorBoard logs (tensorboard/), the final
    model.keras and evaluation.json (per-task test metrics). Rerunning the
    same command resumes an interrupted run from its last finished epoch.

    \b
    Examples:
      mtlzoo train
      mtlzoo train --balancer gradnorm --epochs 20 --run-dir runs/gradnorm
      mtlzoo train --data multimnist --data-dir ~/data --epochs 100
      mtlzoo train --line-search fast --run-dir runs/fast
    """
    import mtlzoo
    from mtlzoo.testing import seed_everything

    entry, info, opt, options = _resolve(model_name, data_name, balancer, epochs, batch_size, optimizer, lr,
                                         seed, run_dir, data_dir)
    options["line_search"] = _line_search(line_search, entry.recipe or {})
    run = RunFolder(options["run_dir"])
    _check_same_options(run, options, opt)
    finished = run.finished_epochs()
    if finished is not None and finished >= epochs:
        click.echo(f"Run {run.path} is finished ({finished} epochs; results in {run.evaluation_path}). "
                   f"Nothing to do: pass --epochs > {finished} to train it further, or a new --run-dir.")
        return

    seed_everything(seed)
    model = _build_model(entry, data_name)
    try:
        info.check_model(model)
    except ValueError as e:
        raise click.ClickException(f"--model {model_name} cannot train on --data {data_name}: {e}") from None
    try:
        splits = {split: mtlzoo.data.get(data_name, split=split, batch_size=options["batch_size"],
                                         data_dir=data_dir, seed=seed) for split in ("train", "test")}
    except (mtlzoo.data.DataNotFoundError, ValueError) as e:
        raise click.ClickException(f"--data {data_name}: {e}") from None
    try:
        model.compile(optimizer=opt, balancer=options["balancer"], line_search=options["line_search"] or False)
    except ValueError as e:
        raise click.ClickException(f"--line-search {options['line_search']}: {e}") from None
    _write_config(run, options, opt, entry, info)
    _fit(run, model, splits["train"], options)
    _finish(run, model, splits["test"], options)


def _line_search(choice, recipe):
    """The line-search setting: the flag, else the recipe's, else ``None`` (the optimizer steps)."""
    if choice == "none":
        return None
    if choice is not None:
        return choice
    return recipe.get("line_search")


def _resolve(model_name, data_name, balancer, epochs, batch_size, optimizer, lr, seed, run_dir, data_dir):
    """Check the names and fill in the defaults: ``(zoo entry, dataset info, optimizer, options)``."""
    import mtlzoo
    from mtlzoo.training import balancers

    _check_name("data", data_name, mtlzoo.data.names())
    _check_name("model", model_name, mtlzoo.models.names())
    entry = mtlzoo.models.entry(model_name)
    recipe = entry.recipe or {}
    balancer = balancer or recipe.get("balancer", "uniform")
    _check_name("balancer", balancer, balancers.names())
    info = mtlzoo.data.info(data_name)
    opt = _optimizer(optimizer, lr, recipe)
    options = {"model": model_name, "data": data_name, "balancer": balancer, "epochs": epochs,
               "batch_size": int(batch_size or recipe.get("batch_size") or info.batch_size),
               "optimizer": type(opt).__name__.lower(), "lr": _optimizer_config(opt)["config"]["learning_rate"],
               "seed": seed, "run_dir": run_dir or f"runs/{model_name}-{data_name}-{balancer}-seed{seed}",
               "data_dir": data_dir}
    return entry, info, opt, options


def _fit(run: RunFolder, model, train_ds, options) -> None:
    """``model.fit`` with the run folder's callbacks, resuming from ``backup/`` when it holds a state."""
    epochs, done = options["epochs"], run.epochs_done()
    run.trim_history(done)
    what = (f"{options['model']} on {options['data']} with {options['balancer']} ({type(model.optimizer).__name__} "
            f"lr {options['lr']}, batch {options['batch_size']}, seed {options['seed']})")
    if done >= epochs:
        click.echo(f"{what}: {done} epochs already trained in {run.path}; saving and evaluating the final model.")
    elif done:
        click.echo(f"Resuming {what} in {run.path} after epoch {done}/{epochs}.")
    else:
        click.echo(f"Training {what} for {epochs} epochs into {run.path}.")
    try:
        model.fit(train_ds, epochs=epochs, callbacks=_callbacks(run), verbose=1 if sys.stdout.isatty() else 2,
                  shuffle=False)  # the dataset shuffles itself
    except KeyboardInterrupt:
        click.echo(f"\nInterrupted after epoch {run.epochs_done()}/{epochs}; rerun the same command to resume.",
                   err=True)
        raise SystemExit(130) from None


def _check_name(kind: str, name: str, known) -> None:
    if name not in known:
        raise click.BadParameter(f"unknown {kind} {name!r}; known: {', '.join(known)}.", param_hint=f"--{kind}")


def _optimizer(name, lr, recipe):
    """The optimizer of --optimizer (or the recipe's), with --lr applied."""
    import keras

    if name is None:
        spec = keras.optimizers.serialize(keras.optimizers.get(recipe.get("optimizer", "adam")))
    else:
        known = _optimizer_names()
        if name.lower() not in known:
            raise click.BadParameter(f"unknown optimizer {name!r}; known: {', '.join(known)}.",
                                     param_hint="--optimizer")
        spec = keras.optimizers.serialize(keras.optimizers.get(name.lower()))
    if lr is not None:
        spec["config"]["learning_rate"] = float(lr)
    return keras.optimizers.deserialize(spec)


def _optimizer_config(opt) -> dict:
    """``keras.optimizers.serialize(opt)`` with a float32 learning rate shown as its shortest decimal (0.01)."""
    import keras

    spec = keras.optimizers.serialize(opt)
    value = spec["config"].get("learning_rate")
    if isinstance(value, float):
        import numpy as np

        spec["config"]["learning_rate"] = float(str(np.float32(value)))
    return spec


def _optimizer_names() -> list[str]:
    import keras

    names = []
    for attr in dir(keras.optimizers):
        cls = getattr(keras.optimizers, attr)
        if isinstance(cls, type) and issubclass(cls, keras.optimizers.Optimizer) \
                and cls is not keras.optimizers.Optimizer:
            try:
                keras.optimizers.get(attr.lower())
            except (ValueError, KeyError, TypeError):
                continue  # wrappers (LossScaleOptimizer) and names `get` does not resolve
            names.append(attr.lower())
    return sorted(names)


def _build_model(entry, data_name):
    """The zoo model; entries with a ``dataset`` option (resnet18_multihead) are built for ``data_name``."""
    if "dataset" in entry.defaults:
        try:
            return entry.build(dataset=data_name)
        except ValueError:
            pass  # the entry does not know this dataset: its default build, checked against the data next
    return entry.build()


def _check_same_options(run: RunFolder, options: dict, opt) -> None:
    """Stop if the run folder was made with other options (or another configuration of the same optimizer)."""
    try:
        differ = {f"--{k.replace('_', '-')}": v for k, v in run.conflicts(options).items()}
        if not differ:  # same optimizer name and lr: its other settings (momentum, ...) must agree too
            config = _optimizer_config(opt)["config"]
            differ = {f"--optimizer {options['optimizer']} with {k}": v for k, v in
                      run.conflicts(config, ignore=("name",), section=("optimizer", "config")).items()}
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    if differ:
        listed = "; ".join(f"{k} {saved!r} (saved) vs {now!r} (now)" for k, (saved, now) in differ.items())
        raise click.ClickException(
            f"Run folder {run.path} was made with different options: {listed}. Rerun with the saved options "
            f"(see {run.config_path}) to resume it, or pass a new --run-dir for a new run.")


def _write_config(run: RunFolder, options, opt, entry, info) -> None:
    import keras
    import numpy as np
    import tensorflow as tf

    import mtlzoo

    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    saved = run.read_config() or {}
    run.write_config({
        "command": "mtlzoo train",
        "options": options,
        "optimizer": _optimizer_config(opt),
        "recipe": entry.recipe,
        "model": {"name": entry.name, "description": entry.description, "seed": entry.seed},
        "dataset": info.to_dict(),
        "versions": {"mtlzoo": mtlzoo.__version__, "tensorflow": tf.__version__, "keras": keras.__version__,
                     "numpy": np.__version__, "python": platform.python_version()},
        "created": saved.get("created", now),
        "updated": now,
    })


def _callbacks(run: RunFolder) -> list:
    import keras

    # CSVLogger before BackupAndRestore: a kill between the two leaves one extra history row, which
    # RunFolder.trim_history drops on resume (the other order would lose the row of a backed-up epoch).
    return [
        keras.callbacks.CSVLogger(str(run.history_csv), append=True),
        keras.callbacks.BackupAndRestore(str(run.backup_dir), double_checkpoint=True, delete_checkpoint=False),
        keras.callbacks.ModelCheckpoint(str(run.checkpoint_path), save_freq="epoch"),
        keras.callbacks.TensorBoard(str(run.tensorboard_dir)),
    ]


def _per_task(results: dict, tasks) -> dict:
    """``{task: {metric: value}}`` from Keras' flat ``<task>_<metric>`` logs."""
    from mtlzoo.tools.evaluation import per_task

    return per_task(results, tasks)


def _finish(run: RunFolder, model, test_ds, options) -> None:
    """history.json, model.keras and evaluation.json; prints the per-task test metrics."""
    run.write_history()
    run.save_model(model)
    results = {k: float(v) for k, v in model.evaluate(test_ds, return_dict=True, verbose=0).items()}
    tasks = _per_task(results, model.tasks)
    run.write_json(run.evaluation_path, {"epochs": run.epochs_done(), "split": "test", "model": options["model"],
                                         "data": options["data"], "tasks": tasks, "metrics": results})
    click.echo(f"Test metrics after {run.epochs_done()} epochs ({run.evaluation_path}):")
    for task, metrics in tasks.items():
        click.echo(f"  {task}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    click.echo(f"Model: {run.model_path}")
