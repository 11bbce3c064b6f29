"""Train one :class:`~mtlzoo.training.Recipe` with one seed into a resumable run folder.

``mtlzoo train`` and ``mtlzoo reproduce`` both call :func:`run_recipe`; user errors are
raised as ``click`` exceptions that name the option and the fix.
"""

from __future__ import annotations

import contextlib
import platform
import sys
import time

import click

from mtlzoo.cli.run_folder import RunFolder


def run_recipe(recipe, *, seed: int = 0, run_dir=None, data_dir=None, verbose: int | None = None,
               overwrite: bool = False, callbacks=()) -> dict:
    """Train ``recipe`` with ``seed`` into ``run_dir`` (resuming it) and evaluate it on the test split.

    Resuming is exact: the data order and the dropout masks of epoch ``e`` depend on
    ``(seed, e)`` only (:class:`mtlzoo.data.EpochClock`) and the backup holds the weights,
    optimizer, balancer and line-search state, so on CPU a run killed at any point and
    rerun ends with the weights of the uninterrupted run. Before anything is written the
    run folder is checked (:meth:`RunFolder.check`) and the first batch of each split is
    checked against the model (:func:`mtlzoo.training.batch_check.check_batch`); a
    finished run is never overwritten: a larger ``epochs`` continues it (from ``backup/``,
    else from ``model.keras``), other options are refused unless ``overwrite``.

    Args:
        recipe: a :class:`mtlzoo.training.Recipe`.
        seed: seeds weights, data pairing and shuffling.
        run_dir: the run folder (default ``runs/<model>-<data>-<balancer>[-<task>]-seed<seed>``).
        data_dir: local copies of the data.
        verbose: Keras ``fit`` verbosity (default: a progress bar on a terminal, one line per epoch otherwise).
        overwrite: delete the folder's previous run and train from scratch.
        callbacks: more Keras callbacks for ``fit``, after the run folder's own (e.g. an epoch timer).

    Returns:
        The run's ``evaluation.json``: ``{"epochs", "split", "model", "data", "tasks": {task: {metric: value}},
        "metrics"}``.

    Example:
        >>> from mtlzoo.training import Recipe
        >>> ev = run_recipe(Recipe.load("multidigits").replace(epochs=1), run_dir="runs/x")  # doctest: +SKIP
        >>> sorted(ev["tasks"])  # doctest: +SKIP
        ['left', 'right']
    """
    import mtlzoo
    from mtlzoo.testing import seed_everything

    entry, info, options = resolve(recipe, seed, run_dir, data_dir)
    strategy = _strategy(recipe.strategy)  # before the data: MTLZOO_LOGICAL_CPUS splits the CPU first
    run = RunFolder(options["run_dir"])
    seed_everything(seed)  # before the data: tf.data ops take the global seed into their own
    try:
        splits = {split: mtlzoo.data.get(recipe.data, split=split, batch_size=options["batch_size"],
                                         data_dir=data_dir, seed=seed, **recipe.data_config)
                  for split in ("train", "test")}
    except (mtlzoo.data.DataNotFoundError, ValueError, TypeError) as e:
        raise click.ClickException(f"--data {recipe.data}: {e}") from None
    steps = int(splits["train"].cardinality())
    try:
        with strategy.scope():  # its variables (iterations) belong to the strategy too
            opt = recipe.optimizer_for(entry.recipe or {}, steps_per_epoch=steps if steps > 0 else None)
    except ValueError as e:
        raise click.ClickException(f"--optimizer: {e}") from None
    options.update(optimizer=type(opt).__name__.lower(), lr=_lr(opt))
    if not overwrite:
        try:
            run.check()
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        _check_same_options(run, options, opt)
        finished = run.finished_epochs()
        if finished is not None and finished >= recipe.epochs:
            click.echo(f"Run {run.path} is finished ({finished} epochs; results in {run.evaluation_path}). "
                       f"Nothing to do: pass --epochs > {finished} to train it further, or a new --run-dir.")
            return run.read_json(run.evaluation_path)

    seed_everything(seed)  # again: the same initial weights whether or not the data consumed random numbers
    jit = {} if recipe.jit_compile is None else {"jit_compile": recipe.jit_compile}
    with _precision(recipe.mixed_precision), strategy.scope():  # variables mirrored on every replica
        model = _build_model(entry, recipe)
        try:
            info.check_model(model)
        except ValueError as e:
            raise click.ClickException(f"--model {recipe.model} cannot train on --data {recipe.data}: {e}") from None
        model = _single_task(model, recipe.task)
        try:
            model.compile(optimizer=opt, balancer=options["balancer"], line_search=recipe.line_search or False,
                          loss=recipe.loss, metrics=recipe.metrics, **jit)
        except ValueError as e:
            raise click.ClickException(f"--balancer {options['balancer']!r} / --line-search {recipe.line_search}: "
                                       f"{e}") from None
    _check_first_batches(model, splits, recipe.data)  # before the run folder is created
    done, source = (0, None) if overwrite else run.resume_point()
    try:
        run.restore(model, source)  # still nothing written: a backup that does not load is refused
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    if overwrite:
        run.clear()
    run.remove_temporaries()  # left by a process killed while writing
    _write_config(run, options, opt, entry, info, recipe)
    _fit(run, model, splits["train"], options, verbose, done, source, callbacks)
    return _finish(run, model, splits["test"], options, done)


def resolve(recipe, seed, run_dir, data_dir):
    """Check the names and fill in the defaults: ``(zoo entry, dataset info, options)``."""
    import mtlzoo
    from mtlzoo.training import balancers

    check_name("data", recipe.data, mtlzoo.data.names())
    from mtlzoo.cli.model_entry import model_entry

    entry = model_entry(recipe)  # a zoo name, or a .keras file of the user's own model
    zoo_recipe = entry.recipe or {}
    balancer = recipe.balancer or zoo_recipe.get("balancer", "uniform")
    if isinstance(balancer, str):
        check_name("balancer", balancer, balancers.names())
    info = mtlzoo.data.info(recipe.data)
    if recipe.task is not None and recipe.task not in info.task_names:
        raise click.BadParameter(f"unknown task {recipe.task!r} of {recipe.data}; tasks: "
                                 f"{', '.join(info.task_names)}.", param_hint="--set task")
    label = balancer if isinstance(balancer, str) else str(balancer.get("class_name", "custom"))
    task = f"-{recipe.task}" if recipe.task else ""
    options = {"model": recipe.model, "data": recipe.data, "balancer": balancer, "epochs": recipe.epochs,
               "batch_size": int(recipe.batch_size or zoo_recipe.get("batch_size") or info.batch_size),
               "optimizer": None, "lr": None, "seed": seed,
               "run_dir": str(run_dir) if run_dir else f"runs/{entry.name}-{recipe.data}-{label}{task}-seed{seed}",
               "data_dir": None if data_dir is None else str(data_dir), "line_search": recipe.line_search}
    # only when used: old run folders still match
    for key in ("task", "model_config", "data_config", "schedule", "loss", "metrics", "mixed_precision"):
        if getattr(recipe, key):
            options[key] = getattr(recipe, key)
    return entry, info, options


def _strategy(name):
    """The recipe's ``tf.distribute`` strategy (:func:`mtlzoo.training.strategies.get`); errors name ``--strategy``."""
    from mtlzoo.training import strategies

    if name == "multi_worker":
        raise click.BadParameter("mtlzoo train cannot run multi_worker yet (Keras' fit cannot train under it, "
                                 "keras-team/keras#20585); train with mtlzoo.training.distributed_loop.fit_distributed "
                                 "in your own script, or use mirrored on one machine.", param_hint="--strategy")
    try:
        return strategies.get(name)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--strategy") from None


@contextlib.contextmanager
def _precision(mixed: bool):
    """Keras' ``mixed_float16`` policy while the model is built and compiled (then the previous policy again:
    the layers and the loss-scaling optimizer keep theirs)."""
    import keras

    if not mixed:
        yield
        return
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def check_name(kind: str, name: str, known) -> None:
    """Raise ``click.BadParameter`` naming ``--<kind>`` when ``name`` is not in ``known``."""
    if name not in known:
        raise click.BadParameter(f"unknown {kind} {name!r}; known: {', '.join(known)}.", param_hint=f"--{kind}")


def _lr(opt):
    """The base learning rate as its shortest decimal (0.01, not 0.009999999776)."""
    import numpy as np

    config = optimizer_config(opt)["config"]["learning_rate"]
    if isinstance(config, dict):  # a schedule: its initial rate
        return float(str(np.float32(config["config"]["initial_learning_rate"])))
    return config


def optimizer(name, lr, zoo_recipe):
    """The optimizer ``name`` (else the zoo recipe's) with ``lr`` applied; an unknown name names ``--optimizer``."""
    from mtlzoo.training.recipe import Recipe

    if name is not None:
        check_name("optimizer", name.lower(), optimizer_names())
    return Recipe({"optimizer": name.lower() if name else None, "lr": lr}).optimizer_for(zoo_recipe)


def optimizer_names() -> list[str]:
    """The Keras optimizer names ``keras.optimizers.get`` resolves (sgd, adam, ...)."""
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


def optimizer_config(opt) -> dict:
    """``keras.optimizers.serialize(opt)`` with a float32 learning rate shown as its shortest decimal (0.01)."""
    import keras
    import numpy as np

    spec = keras.optimizers.serialize(opt)
    value = spec["config"].get("learning_rate")
    if isinstance(value, float):
        spec["config"]["learning_rate"] = float(str(np.float32(value)))
    return spec


def _build_model(entry, recipe):
    """The zoo model, built with ``model_config``."""
    config = dict(recipe.model_config)
    unknown = sorted(set(config) - set(entry.defaults))
    if unknown:
        raise click.BadParameter(f"{entry.name} has no build option(s) {unknown}; options: "
                                 f"{', '.join(sorted(entry.defaults))}.", param_hint="--set model_config")
    if "dataset" in entry.defaults and "dataset" not in config:
        try:
            return entry.build(dataset=recipe.data, **config)
        except ValueError:
            pass  # the entry does not know this dataset: its default build, checked against the data next
    try:
        model = entry.build(**config)
    except (TypeError, ValueError) as e:
        raise click.BadParameter(f"{entry.name}: {e}", param_hint="--set model_config") from None
    return model


def _single_task(model, task):
    """``model`` peeled to ``task`` (seed 002's single-task baseline), or ``model`` when ``task`` is ``None``."""
    import mtlzoo

    if task is None:
        return model
    if task not in model.tasks:
        raise click.BadParameter(f"{model.name} has no task {task!r}; tasks: {', '.join(model.tasks)}.",
                                 param_hint="--set task")
    return mtlzoo.peel(model, task)


def _check_same_options(run: RunFolder, options: dict, opt) -> None:
    """Stop if the run folder was made with other options (or another configuration of the same optimizer)."""
    saved = (run.read_config() or {}).get("options")
    if isinstance(saved, dict) and saved.get("mixed_precision") and "mixed_precision" not in options:
        options = {**options, "mixed_precision": False}  # saved only when on: its absence now is a change
    try:
        differ = {f"--{k.replace('_', '-')}": v for k, v in run.conflicts(options).items()}
        if not differ:  # same optimizer name and lr: its other settings must agree too
            config = optimizer_config(opt)["config"]
            differ = {f"--optimizer {options['optimizer']} with {k}": v for k, v in
                      run.conflicts(config, ignore=("name",), section=("optimizer", "config")).items()}
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    if differ:
        listed = "; ".join(f"{k} {saved!r} (saved) vs {now!r} (now)" for k, (saved, now) in differ.items())
        raise click.ClickException(
            f"Run folder {run.path} was made with different options: {listed}. Rerun with the saved options "
            f"(see {run.config_path}) to resume it, or pass a new --run-dir for a new run.")


def _write_config(run: RunFolder, options, opt, entry, info, recipe) -> None:
    import keras
    import numpy as np
    import tensorflow as tf

    import mtlzoo

    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    saved = run.read_config() or {}
    run.write_config({
        "command": "mtlzoo train",
        "options": options,
        "optimizer": optimizer_config(opt),
        "recipe": entry.recipe,
        "training_recipe": recipe.get_config(),
        "model": {"name": entry.name, "description": entry.description, "seed": entry.seed},
        "dataset": info.to_dict(),
        "versions": {"mtlzoo": mtlzoo.__version__, "tensorflow": tf.__version__, "keras": keras.__version__,
                     "numpy": np.__version__, "python": platform.python_version()},
        "created": saved.get("created", now),
        "updated": now,
    })


def _check_first_batches(model, splits, data: str) -> None:
    """The first batch of every split against the model (shapes, dtypes, label ranges, NaN/Inf)."""
    from mtlzoo.training.batch_check import check_batch

    for split, ds in splits.items():
        try:
            batch = next(iter(ds))
        except StopIteration:
            raise click.ClickException(f"--data {data}: the {split} split is empty.") from None
        try:
            check_batch(model, batch)
        except ValueError as e:
            raise click.ClickException(f"--data {data} ({split} split) cannot train this model: {e}") from None


def _fit(run: RunFolder, model, train_ds, options, verbose, done: int, source: str | None, callbacks=()) -> None:
    """``model.fit`` from epoch ``done`` (restored from ``source``) with the run folder's callbacks."""
    epochs = options["epochs"]
    run.trim_history(done)
    task = f" (task {options['task']} alone)" if options.get("task") else ""
    balancer = options["balancer"] if isinstance(options["balancer"], str) else options["balancer"].get("class_name")
    step = (f"{options['line_search']} line search" if isinstance(options["line_search"], str) else "line search") \
        if options["line_search"] else f"{type(model.optimizer).__name__} lr {options['lr']}"
    what = (f"{options['model']}{task} on {options['data']} with {balancer} ({step}, "
            f"batch {options['batch_size']}, seed {options['seed']})")
    if done >= epochs:
        click.echo(f"{what}: {done} epochs already trained in {run.path}; saving and evaluating the final model.")
        return
    if source == "model":
        click.echo(f"Continuing {what} in {run.path} from {run.model_path.name} after epoch {done}/{epochs} "
                   f"({run.backup_dir.name}/ is missing; the model file holds the same state).")
    elif done:
        click.echo(f"Resuming {what} in {run.path} after epoch {done}/{epochs}.")
    else:
        click.echo(f"Training {what} for {epochs} epochs into {run.path}.")
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    try:
        model.fit(train_ds, epochs=epochs, initial_epoch=done, callbacks=_callbacks(run) + list(callbacks),
                  verbose=verbose, shuffle=False)  # the dataset shuffles itself, by (seed, epoch)
    except KeyboardInterrupt:
        click.echo(f"\nInterrupted after epoch {run.epochs_done()}/{epochs}; rerun the same command to resume.",
                   err=True)
        raise SystemExit(130) from None
    finally:
        from mtlzoo.data.epoch_clock import epoch_variable

        epoch_variable().assign(-1)  # fit's on_train_end does not run when it stops on an error


def _callbacks(run: RunFolder) -> list:
    import keras

    from mtlzoo.cli.run_folder_callback import RunFolderCallback
    from mtlzoo.data.epoch_clock import EpochClock

    # RunFolderCallback writes the history row, the checkpoint and then the backup, each atomically;
    # EpochClock makes epoch e's data order and dropout masks a function of (seed, e): resuming is exact.
    return [RunFolderCallback(run), keras.callbacks.TensorBoard(str(run.tensorboard_dir)), EpochClock()]


def _finish(run: RunFolder, model, test_ds, options, done: int = 0) -> dict:
    """history.json, model.keras and evaluation.json; prints the per-task test metrics."""
    from mtlzoo.tools.evaluation import per_task

    epochs = max(done, run.epochs_done())
    run.write_history()
    run.save_model(model)
    results = {k: float(v) for k, v in model.evaluate(test_ds, return_dict=True, verbose=0).items()}
    tasks = per_task(results, model.tasks)
    evaluation = {"epochs": epochs, "split": "test", "model": options["model"], "data": options["data"],
                  "tasks": tasks, "metrics": results}
    run.write_json(run.evaluation_path, evaluation)
    click.echo(f"Test metrics after {epochs} epochs ({run.evaluation_path}):")
    for task, metrics in tasks.items():
        click.echo(f"  {task}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    click.echo(f"Model: {run.model_path}")
    return evaluation
