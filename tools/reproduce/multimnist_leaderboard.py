"""``multimnist_leaderboard``: every registered balancer and the single-task baselines on MultiMNIST, one table.

Which method should I use? Every balancer of :func:`mtlzoo.training.balancers.names` (read when the
experiment runs, so methods added later join the table; ``static`` is left out: without weights it
is ``uniform``) and the single-task baselines (each task alone on its peeled network), all trained
the same way: the ``multimnist`` recipe (``multimnist_lenet`` with dropout 0.5, SGD lr 0.01 momentum
0.9, batch 256, learning rate x 0.85 every 10 epochs) on MultiMNIST built from ``mnist.npz``, with
the same epochs and seeds, each balancer with its default settings. The report gives per-task test
accuracy (mean ± 95% CI over seeds), Δm% against single task, the training seconds per epoch
measured in the same run (the median over each run's epochs after the first, which also traces the
step; single task: both networks), and a rank by Δm%; ``leaderboard.csv``, ``runs.csv`` and
``leaderboard.png`` (mean accuracy against seconds per epoch).

Every (method, seed) training is a unit with its own resumable run folder, so an interrupted
leaderboard resumes. Cost on 2 CPU cores (idle): a MultiMNIST epoch of ``multimnist_lenet`` takes
about 5 s with ``uniform`` and most balancers (``famo``'s extra forward pass: about 1.4x), plus about
15 s per run to build, trace, evaluate and save; with the 20 balancers registered when this was written
and the two single-task networks, the default ``--epochs 10 --seeds 3`` is 66 runs of 10 epochs, about
1 h 10 min (README "Leaderboard" has the measured total). ``--limit 2000 --epochs 1 --seeds 1`` checks
the whole pipeline (22 units) in about 10 min; on a machine busy with other jobs it took 23 min.
"""

from __future__ import annotations

from pathlib import Path

from mtlzoo.tools.reproduce.reproduce_options import ReproduceOptions
from mtlzoo.tools.reproduce.reproduction_folder import ReproductionFolder

#: ``mtlzoo reproduce NAME``: this experiment's name and one-line description (read by the package).
NAME = "multimnist_leaderboard"
DESCRIPTION = ("every registered balancer and single task on MultiMNIST: accuracy (mean +- 95% CI), Delta-m%, "
               "seconds per epoch, rank")

DEFAULT_EPOCHS = 10
TASKS = ("left", "right")
SINGLE_TASK = "single_task"
#: registered balancers left out of the leaderboard, and why
EXCLUDED = {"static": "with no weights it is uniform"}


def method_names() -> list[str]:
    """``single_task`` and every registered balancer except :data:`EXCLUDED`, read now (not at import).

    >>> {"single_task", "uniform", "mgda_ub"} <= set(method_names())
    True
    """
    from mtlzoo.training import balancers

    return [SINGLE_TASK, *(n for n in balancers.names() if n not in EXCLUDED)]


def check_methods(methods) -> list[str]:
    """``methods`` as a list, or a one-line ``ValueError`` naming the unknown ones and the known."""
    known = method_names()
    methods = list(methods)
    unknown = [m for m in methods if m not in known]
    if unknown or not methods:
        raise ValueError("multimnist_leaderboard: " + (f"unknown method(s) {unknown}" if unknown else "no method")
                         + f"; known: {', '.join(known)}.")
    return methods


def reproduce(folder: ReproductionFolder, options: ReproduceOptions, methods=None, data: str = "multimnist") -> Path:
    """Train every method with every seed; write ``report.md``, ``leaderboard.csv``, ``runs.csv``, ``leaderboard.png``.

    Args:
        folder: the reproduction folder.
        options: epochs (default 10), seeds, data directory, ``limit`` (source images per split),
            ``width``, ``methods`` (used when ``methods`` is not given).
        methods: names from :func:`method_names` (default: ``options.methods``, else all); units run
            seed by seed in this order; the table lists single task first, then by rank.
        data: the dataset (``multimnist``; ``multidigits`` runs without files, for checks).

    Returns:
        The report's path.

    Example:
        >>> reproduce(ReproductionFolder("runs/lb"), ReproduceOptions(epochs=10, seeds=3,
        ...           data_dir="data"))  # doctest: +SKIP
    """
    from mtlzoo.tools.reproduce.multimnist_leaderboard_report import write_outputs
    from mtlzoo.training import Recipe

    methods = methods if methods is not None else options.methods
    methods = check_methods(method_names() if methods is None else methods)
    base = base_recipe(Recipe, options, data)
    units = plan(methods, options.seed_list)
    results = {}
    for index, (key, method, seed, task) in enumerate(units):
        options.progress(index, len(units), f"{method}" + (f", task {task}" if task else "") + f", seed {seed}")
        results[key] = folder.unit(key, lambda: run_unit(folder, key, method, seed, task, base, options))
    return write_outputs(folder, options, base, methods, results, data)


def base_recipe(recipe_cls, options: ReproduceOptions, data: str, default_epochs: int = DEFAULT_EPOCHS):
    """The ``multimnist`` recipe with the options' epochs (else ``default_epochs``), data, limit and width (merged
    into the model options: the recipe's dropout stays); ``multimnist_table3`` builds on it too."""
    recipe = recipe_cls.load("multimnist").replace(epochs=options.epochs_or(default_epochs), data=data,
                                                   seeds=options.seed_list)
    if options.limit:
        recipe = recipe.replace(data_config={"limit": options.limit})
    if options.width:
        recipe = recipe.replace(model_config={**recipe.model_config, "width": options.width})
    return recipe


def plan(methods, seeds) -> list[tuple]:
    """``(key, method, seed, task)`` per unit, seed by seed; single task is one unit per task.

    >>> [u[0] for u in plan(["single_task", "uniform"], [0])]
    ['single_task-left-seed0', 'single_task-right-seed0', 'uniform-seed0']
    """
    units = []
    for seed in seeds:
        for method in methods:
            if method == SINGLE_TASK:
                units += [(f"{SINGLE_TASK}-{t}-seed{seed}", method, seed, t) for t in TASKS]
            else:
                units.append((f"{method}-seed{seed}", method, seed, None))
    return units


def run_unit(folder, key, method, seed, task, base, options) -> dict:
    """Train one unit (resuming its run folder) and return its test metrics and epoch times."""
    import time

    from mtlzoo.cli.recipe_run import run_recipe
    from mtlzoo.tools.reproduce.hybrid_speed_training import _TrainingClock

    recipe = base.replace(task=task, balancer="uniform") if method == SINGLE_TASK else base.replace(balancer=method)
    clock = _TrainingClock()
    start = time.perf_counter()
    evaluation = run_recipe(recipe, seed=seed, run_dir=folder.run_dir(key), data_dir=options.data_dir, verbose=0,
                            callbacks=[clock])
    return {"method": method, "seed": seed, "task": task, "tasks": evaluation["tasks"],
            "epochs": evaluation["epochs"], "epoch_seconds": clock.seconds,
            "seconds": time.perf_counter() - start}
