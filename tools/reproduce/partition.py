"""``mtlzoo reproduce partition``: seed 004 Table 2 -- the ES feature partition against the fixed partitionings.

Runs what ``mtlzoo search partition`` runs (through the same functions,
:mod:`mtlzoo.tools.partition_search.partition_pipeline`) once per seed on ``mnist_attributes`` (tasks
digit, parity, high, mod3), as resumable units:

1. ``search-seed<s>``: single-task teachers, then the evolutionary-strategies search over ``P``
   scored by distillation (``SETTINGS["trials"]`` partitions, reward score - λ||diag P||²), in its own
   resumable run folder ``runs/search-seed<s>/``;
2. ``final-<partitioning>-seed<s>``: full training (accuracy curriculum, temperature 0.1) of
   independent, share half, share all and the ES partition; test accuracy per task and channel use.

The table gives mean ± 95% CI over seeds (t-distribution) in seed 004 Table 2's layout.

Defaults are the command's: ``limit`` 12,000 training images (1/6 of them score partitions; the
test split capped at the same number), width 8, 60 trials, 2 teacher epochs, and ``epochs`` = 10
final epochs. Expected wall time on 2 CPU cores: about 10 min per seed (teachers ~1 min, search
~2 min, 4 final trainings ~1.5 min each).

Example:
    >>> from mtlzoo.tools import reproduce as r                                          # doctest: +SKIP
    >>> r.get("partition")(r.ReproductionFolder("runs/partition"), r.ReproduceOptions(seeds=3))  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from mtlzoo.tools.reproduce.reproduce_options import ReproduceOptions
from mtlzoo.tools.reproduce.reproduction_folder import ReproductionFolder

#: ``mtlzoo reproduce NAME``: this experiment's name and one-line description (read by the package).
NAME = "partition"
DESCRIPTION = "seed 004 Table 2: feature partitioning found by ES against the fixed partitionings"

DATA = "mnist_attributes"
DEFAULT_EPOCHS = 10
DEFAULT_LIMIT = 12000
#: The other settings of ``mtlzoo search partition`` (its defaults).
SETTINGS = {"strategy": "es", "trials": 60, "weight_decay": 0.01, "distill_steps": 200, "teacher_epochs": 2,
            "hidden": 50, "batch_size": 64, "temperature": 0.1, "width": 8}
PARTITIONINGS = ("independent", "share_half", "share_all", "es")


def reproduce(folder: ReproductionFolder, options: ReproduceOptions) -> Path:
    """Run (or resume) the partition reproduction and write its report; returns ``folder.report_path``.

    Args:
        folder: the run folder (finished units are reused).
        options: epochs (final trainings, default 10), seeds, data_dir (``mnist.npz``), limit
            (default 12,000), width (conv1 channels, default 8).

    Raises:
        mtlzoo.data.DataNotFoundError: when ``mnist.npz`` is not in ``options.data_dir``.
        ValueError: for a ``limit`` below 12 images.
    """
    import mtlzoo
    from mtlzoo.tools.partition_search.partition_pipeline import (partition_data, run_partition_search,
                                                                  train_final_partition)

    limit = DEFAULT_LIMIT if options.limit is None else options.limit
    if limit < 12:
        raise ValueError(f"limit={limit}: the partition search needs at least 12 training images (1/6 of them "
                         "score partitions); pass a larger --limit.")
    tasks = {t.name: int(t.num_classes) for t in mtlzoo.data.info(DATA).tasks}
    settings = {**SETTINGS, "data": DATA, "width": options.width or SETTINGS["width"], "limit": limit,
                "epochs": options.epochs_or(DEFAULT_EPOCHS)}
    total = len(options.seed_list) * (1 + len(PARTITIONINGS))
    index, results = 0, []
    for seed in options.seed_list:
        data = None

        def arrays():
            nonlocal data
            if data is None:
                data = partition_data(DATA, options.data_dir, limit, seed, tasks)
            return data

        key = f"search-seed{seed}"
        options.progress(index, total, f"teachers + {settings['strategy']} search, seed {seed}")
        index += 1
        if not folder.done(key):
            train, val, _ = arrays()
            searcher = run_partition_search(folder.run_dir(key), tasks, train, val, seed=seed, **{
                k: settings[k] for k in ("strategy", "trials", "weight_decay", "distill_steps", "teacher_epochs",
                                         "width", "hidden", "batch_size")})
            best = searcher.best()
            folder.save_unit(key, {"P": searcher.best_partition().tolist(), "best": best,
                                   "trials": [{k: r.get(k) for k in ("trial_id", "score", "reward", "channel_use")}
                                              for r in searcher.results()]})
        search = folder.load_unit(key)
        for name in PARTITIONINGS:
            key = f"final-{name}-seed{seed}"
            options.progress(index, total, f"final training of {name}, seed {seed}")
            index += 1
            if not folder.done(key):
                train, _, test = arrays()
                P = search["P"] if name == "es" else name
                folder.save_unit(key, train_final_partition(
                    P, train, test, tasks, epochs=settings["epochs"], width=settings["width"],
                    hidden=settings["hidden"], temperature=settings["temperature"],
                    batch_size=settings["batch_size"], seed=seed))
            results.append({"partitioning": name, "seed": seed, **folder.load_unit(key)})
    from mtlzoo.tools.reproduce.partition_table import write_report

    return write_report(folder, options, list(tasks), results, settings)
