"""``mtlzoo reproduce line_search_timing``: seed 001 §5 Table 1 (MNIST column): time per step of fast
backtracking, classical backtracking, plain SGD and MGDA-UB, relative to SGD.

One unit of work per seed: fresh ``multimnist_lenet`` weights drawn with the
seed, one fixed MultiMNIST batch (256 pairs), then the timing method of
``benchmarks/bench_line_search.py`` (see
:mod:`~mtlzoo.tools.reproduce.line_search_timing_rounds`): the four contenders
run ``train_on_batch`` interleaved in 20 rounds of 5 steps after 5 warm-up
steps, and the median seconds per step are compared. It is measured twice:
from the initial weights, and after every contender trained ``epochs`` epochs
(default 1) from them on the same batches, since a search's number of trials,
hence its cost, changes along training. Seconds per epoch are estimated as
the median step time times the steps of one epoch (235 for the full 60k
pairs). Mean trials per step and mean eta of the two searches come from the
timed steps.

Writes ``report.md``, ``line_search_timing.csv`` (one row per contender and
weights: ratios to SGD and to MGDA-UB, mean +- sd over seeds, estimated seconds
per epoch, trials and eta, seed 001's published ratio) and the bar chart
``line_search_timing.png``.

Default: 1 epoch, 3 seeds. On the full MultiMNIST and 2 CPU cores a seed
takes about 2 minutes (4 training epochs, classical backtracking's the
slowest, and 2 x 420 timed steps), so the default run takes about 6 minutes.

Example:
    >>> from mtlzoo.tools import reproduce as r
    >>> r.get("line_search_timing")(r.ReproductionFolder("runs/line_search_timing"),
    ...                             r.ReproduceOptions(data_dir="../shared/data"))  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import keras

from mtlzoo.tools.reproduce import line_search_timing_report as report
from mtlzoo.tools.reproduce import line_search_timing_rounds as rounds

#: ``mtlzoo reproduce NAME``: this experiment's name and one-line description (read by the package).
NAME = "line_search_timing"
DESCRIPTION = "seed 001 Table 1: relative time per epoch of fast and classical line search, SGD and MGDA-UB"

#: Epochs of training before the second timing when ``options.epochs`` is not given.
DEFAULT_EPOCHS = 1
#: The dataset (``mtlzoo.data`` name); the tests switch it to the offline ``multidigits``.
DATASET = "multimnist"
#: Seed 001 §5.1's batch size.
BATCH_SIZE = 256


def load_train(options, seed: int):
    """The seeded training pipeline (batch 256), capped at ``options.limit`` examples, and its batches per epoch."""
    import mtlzoo

    train = mtlzoo.data.get(DATASET, split="train", batch_size=BATCH_SIZE, data_dir=options.data_dir, seed=seed,
                            limit=options.limit)  # the same examples every epoch
    steps = int(train.cardinality())
    if steps < 0:
        steps = sum(1 for _ in train)
    return train, steps


def measure(weights: dict, options, seed: int) -> dict:
    """Time every contender from its own ``weights[method]`` on the seed's first training batch."""
    from mtlzoo.seeding import seed_everything

    keras.backend.clear_session()
    seed_everything(seed)
    train, _ = load_train(options, seed)
    x, y = next(iter(train))
    models = {m: rounds.build_method(m, weights[m], options.width)[0] for m in rounds.METHODS}
    return rounds.time_rounds(models, x, y)


def train_method(method: str, weights, epochs: int, options, seed: int) -> list:
    """Train contender ``method`` from ``weights`` for ``epochs`` epochs; its trained weights (NumPy)."""
    from mtlzoo.seeding import seed_everything

    keras.backend.clear_session()
    seed_everything(seed)
    model, variables = rounds.build_method(method, weights, options.width)
    train, _ = load_train(options, seed)
    model.fit(train, epochs=epochs, verbose=0)
    return [v.numpy() for v in variables]


def timing_unit(seed: int, epochs: int, options) -> dict:
    """One seed: fresh weights, the timing from them, training ``epochs`` epochs, the timing again.

    Returns:
        ``{"seed", "epochs", "batch_size", "steps_per_epoch", "init": timing, "trained": timing}``
        (timings as :func:`~mtlzoo.tools.reproduce.line_search_timing_rounds.time_rounds` returns them).
    """
    import mtlzoo
    from mtlzoo.seeding import seed_everything

    keras.backend.clear_session()
    seed_everything(seed)
    initial = [v.numpy() for v in mtlzoo.models.get("multimnist_lenet",
                                                     **({"width": options.width} if options.width else {})).weights]
    train, steps = load_train(options, seed)
    batch = int(next(iter(train))[0].shape[0])
    result = {"seed": seed, "epochs": epochs, "batch_size": batch, "steps_per_epoch": steps,
              "init": measure({m: initial for m in rounds.METHODS}, options, seed)}
    trained = {m: train_method(m, initial, epochs, options, seed) for m in rounds.METHODS}
    result["trained"] = measure(trained, options, seed)
    return result


def reproduce(folder, options) -> Path:
    """Run (or resume) the per-seed timings and write the report, CSV and bar chart.

    Args:
        folder: the :class:`~mtlzoo.tools.reproduce.ReproductionFolder`.
        options: the :class:`~mtlzoo.tools.reproduce.ReproduceOptions` (epochs: training before the second
            timing, default 1).

    Returns:
        ``folder.report_path``.

    Raises:
        mtlzoo.data.DataNotFoundError: MultiMNIST's ``mnist.npz`` is not in the data directory.
    """
    epochs = options.epochs_or(DEFAULT_EPOCHS)
    units = []
    for i, seed in enumerate(options.seed_list):
        key = f"timing-seed{seed}"
        options.progress(i, options.seeds, f"line_search_timing: seed {seed} (timing, {epochs} epoch(s), timing)")
        result = folder.unit(key, lambda: timing_unit(seed, epochs, options))
        if result.get("epochs") != epochs:
            raise ValueError(f"{folder.unit_path(key)} was timed after {result.get('epochs')} epoch(s), not "
                             f"{epochs}; use a new folder or delete the units to rerun with another --epochs.")
        units.append(result)
    rows = report.table_rows(units)
    folder.write_csv("line_search_timing", rows)
    figure = report.plot_ratios(folder, rows).stem
    folder.write_text("report.md", report.report_text(options, epochs, units, rows, DATASET, figure))
    return folder.report_path
