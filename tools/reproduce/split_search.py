"""``mtlzoo reproduce split_search``: seed 000 Table 1 -- the greedy min-stress split search against random splits.

What :file:`benchmarks/bench_split_search.py` does, as resumable units. For every seed:

1. ``search-seed<s>``: :class:`~mtlzoo.tools.split_search.GreedySplitSearch` (``strategy="stress"``, one
   step) on ``planted_mnist`` with ``lenet_bn_tree`` fully shared. The planted structure is recovered
   when the first split puts ``digit`` with ``shifted`` and splits ``teacher`` off.
2. ``random1-seed<s>``, ``random2-seed<s>``: the same search with ``strategy="random"`` (seeds
   ``100 + s`` and ``200 + s``), seed 000 Table 1's "random 1/2".
3. ``final-<method>-seed<s>``: the searched tree and both random trees each trained ``epochs`` more
   epochs (Adam 1e-3, hybrid balancer), then per-task test loss and accuracy.

Each search keeps its own resumable run folder (``runs/<key>/``: ``search.json``, the networks, its
report with the affinity heat maps), so even a search interrupted mid-way resumes at its next step.

Schedule with ``epochs = E`` (default 3, as the benchmark): first training ``E`` epochs (it stops early
once an epoch is Pareto-stationary), fine-tuning 1 epoch, retraining ``max(1, E - 1)`` epochs, final
training ``E`` epochs. ``limit`` caps the training images (default: all 60,000) and the test images
at ``limit // 6``. Expected wall time on 2 CPU cores: about 1.5 min per seed at ``limit=12000`` (the
benchmark's size), about 7 min per seed on the full set (3 searches and 3 trainings per seed).

Example:
    >>> from mtlzoo.tools import reproduce as r                                          # doctest: +SKIP
    >>> r.get("split_search")(r.ReproductionFolder("runs/split"), r.ReproduceOptions(limit=12000))  # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from mtlzoo.tools.reproduce.reproduce_options import ReproduceOptions
from mtlzoo.tools.reproduce.reproduction_folder import ReproductionFolder

#: ``mtlzoo reproduce NAME``: this experiment's name and one-line description (read by the package).
NAME = "split_search"
DESCRIPTION = "seed 000 Table 1: the greedy split search's steps on planted MNIST"

DATA = "planted_mnist"
MODEL = "lenet_bn_tree"
DEFAULT_EPOCHS = 3
LEARNING_RATE = 1e-3
BATCH_SIZE = 128
STEPS = 1
METHODS = ("searched", "random1", "random2")
LABELS = {"searched": "searched (Alg. 5)", "random1": "random 1", "random2": "random 2"}
PLANTED = [["digit", "shifted"], ["teacher"]]


def reproduce(folder: ReproductionFolder, options: ReproduceOptions) -> Path:
    """Run (or resume) the split-search reproduction and write its report; returns ``folder.report_path``.

    Args:
        folder: the run folder (finished units are reused).
        options: epochs (final training, default 3), seeds, data_dir (with ``mnist.npz``), limit, width.

    Raises:
        mtlzoo.data.DataNotFoundError: when ``mnist.npz`` is not in ``options.data_dir``.
        ValueError: for a ``limit`` below 12 images.
    """
    import mtlzoo

    if options.limit is not None and options.limit < 12:
        raise ValueError(f"limit={options.limit}: the split search needs at least 12 training images "
                         "(and limit // 6 >= 2 test images); pass a larger --limit.")
    tasks = [t.name for t in mtlzoo.data.info(DATA).tasks]
    epochs = options.epochs_or(DEFAULT_EPOCHS)
    total = len(options.seed_list) * 2 * len(METHODS)
    index = 0
    searches, finals = {}, []
    for seed in options.seed_list:
        for method in METHODS:
            key = f"{method if method != 'searched' else 'search'}-seed{seed}"
            options.progress(index, total, f"{LABELS[method]} search, seed {seed}")
            index += 1
            searches[key] = folder.unit(key, lambda: _search_record(
                *_search(folder, key, method, seed, tasks, epochs, options), method))
        for method in METHODS:
            key = f"final-{method}-seed{seed}"
            options.progress(index, total, f"final training of {LABELS[method]}, seed {seed}")
            index += 1
            search_key = f"{method if method != 'searched' else 'search'}-seed{seed}"  # resumed: loads its model
            finals.append({"method": method, "seed": seed, **folder.unit(key, lambda: final_training(
                _search(folder, search_key, method, seed, tasks, epochs, options)[0].model, seed, epochs, options))})
    from mtlzoo.tools.reproduce.split_search_report import write_report

    return write_report(folder, options, tasks, searches, finals, epochs)


def _data(split: str, seed: int, options: ReproduceOptions):
    import mtlzoo

    limit = options.limit if split == "train" or options.limit is None else max(2, options.limit // 6)
    extra = {} if limit is None else {"limit": limit}
    return mtlzoo.data.get(DATA, split=split, batch_size=BATCH_SIZE, data_dir=options.data_dir, seed=seed, **extra)


def _search(folder, key, method, seed, tasks, epochs, options):
    """Run or resume one search in ``folder.run_dir(key)``; returns ``(SearchResult, seconds)``."""
    import mtlzoo
    from mtlzoo.seeding import seed_everything
    from mtlzoo.tools.split_search import GreedySplitSearch

    strategy, search_seed = ("stress", seed) if method == "searched" else ("random", 100 * int(method[-1]) + seed)
    train, test = _data("train", seed, options), _data("test", seed, options)
    seed_everything(search_seed)
    width = {} if options.width is None else {"width": options.width}
    model = mtlzoo.models.get(MODEL, tasks=tasks, **width)
    searcher = GreedySplitSearch(
        model, train, test, steps=STEPS, strategy=strategy, initial_epochs=epochs, fine_tune_epochs=1,
        retrain_epochs=max(1, epochs - 1), compile_args={"optimizer": {"class_name": "Adam", "config": {
            "learning_rate": LEARNING_RATE}}, "balancer": "hybrid"}, max_batches=20, seed=search_seed,
        run_dir=folder.run_dir(key), verbose=False)
    started = time.perf_counter()
    result = searcher.run()
    return result, time.perf_counter() - started


def _search_record(result, seconds: float, method: str) -> dict:
    """What the report needs from one search: the first split, recovery, affinity, stress, timings."""
    first = result.steps[0]
    groups = sorted(sorted(g) for g in result.first_partition())
    record = {"method": method, "block": first["block"], "first_partition": groups,
              "recovered": groups == sorted(PLANTED), "seconds": seconds,
              "search_seconds": first["search_seconds"], "fine_tuned_networks": first["fine_tuned_networks"],
              "tree": first["tree"]}
    if "task_affinity" in first:
        record.update(task_affinity=first["task_affinity"], stress=first["stress"])
    return record


def final_training(model, seed: int, epochs: int, options: ReproduceOptions) -> dict:
    """Train a searched or random tree ``epochs`` more epochs; per-task test loss and accuracy.

    Args:
        model: the network after the search (a :class:`mtlzoo.training.MultiTaskModel`).
        seed: seeds the weights' training order and the data.
        epochs: passes over the training data.
        options: data_dir and limit.

    Example:
        >>> final_training(result.model, 0, 3, ReproduceOptions(limit=600))["digit_accuracy"]  # doctest: +SKIP
        0.91
    """
    import keras

    from mtlzoo.seeding import seed_everything

    seed_everything(seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE), balancer="hybrid")
    started = time.perf_counter()
    model.fit(_data("train", seed, options), epochs=epochs, verbose=0, shuffle=False)
    logs = model.evaluate(_data("test", seed, options), verbose=0, return_dict=True)
    metrics = {k: float(v) for k, v in logs.items() if k.endswith(("_loss", "_accuracy")) and k != "loss"}
    return {**metrics, "parameters": int(model.count_params()), "groups": _groups(model.tree),
            "seconds": time.perf_counter() - started}


def _groups(tree) -> str:
    """The tasks of each branch below the first shared block, e.g. ``digit+shifted | teacher``."""
    branches = [c for c in tree.children(tree.children(tree.root)[0])] if tree.children(tree.root) else []
    return " | ".join("+".join(sorted(tree.tasks_of(c))) for c in branches)


def mean_rows(finals: list[dict], tasks: list[str]) -> list[dict]:
    """Table 1 layout: one row per method, per-task loss and accuracy averaged over seeds.

    Example:
        >>> mean_rows([{"method": "searched", "a_loss": 1.0, "a_accuracy": .5}], ["a"])
        [{'method': 'searched (Alg. 5)', 'seeds': 1, 'a_loss': 1.0, 'a_accuracy': 0.5}]
    """
    rows = []
    for method in dict.fromkeys(r["method"] for r in finals):
        mine = [r for r in finals if r["method"] == method]
        row = {"method": LABELS.get(method, method), "seeds": len(mine)}
        for t in tasks:
            for m in ("loss", "accuracy"):
                row[f"{t}_{m}"] = float(np.mean([r[f"{t}_{m}"] for r in mine]))
        rows.append(row)
    return rows
