"""``mtlzoo reproduce celeba_radar``: seed 002 Fig. 2 -- per-attribute test error on CelebA as a radar chart.

``resnet18_multihead`` (ResNet-18, CIFAR stem, 64x64x3 input, one linear binary head per attribute)
trained on the 40 CelebA attributes with each of the balancers Fig. 2 compares: uniform scaling,
Kendall et al. (``uncertainty``), GradNorm and MGDA-UB ("ours"). Seed 002's fifth curve, single task
(40 separate ResNet-18s), is left out: it costs 40 times one multi-task training.

One unit per (method, seed): ``model.compile(optimizer=SGD(0.01, momentum 0.9), balancer=method)``
(the zoo recipe without its line search), ``fit`` for ``epochs`` epochs on the train split
(batch 256, seed 002 §4.2), then the binary error per attribute on the test split. The report has the
radar chart (mean over seeds, one polygon per method, 40 labelled spokes), the per-attribute table
and the mean error next to seed 002 Table 1.

Needs CelebA (tensorflow-datasets ``celeb_a`` prepared in ``data_dir``): without it,
``mtlzoo.data.get("celeba")`` raises :class:`mtlzoo.data.DataNotFoundError`, which propagates.

Default ``epochs``: 3. Seed 002's text gives no epoch count for CelebA, so the default is a short
schedule. Not timed here (no CelebA on this machine): a FLOP estimate (CIFAR-stem ResNet-18 at 64x64,
about 13 GFLOP per training image) puts one epoch of 162,770 images at several hours on 2 CPU
cores, so the default run (4 methods x 3 seeds x 3 epochs) is meant for a GPU; use ``limit`` and
``width`` for a CPU-sized run.

Example:
    >>> from mtlzoo.tools import reproduce as r                                            # doctest: +SKIP
    >>> r.get("celeba_radar")(r.ReproductionFolder("runs/celeba"), r.ReproduceOptions(data_dir="~/tfds"))  # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path

from mtlzoo.tools.reproduce.reproduce_options import ReproduceOptions
from mtlzoo.tools.reproduce.reproduction_folder import ReproductionFolder

#: ``mtlzoo reproduce NAME``: this experiment's name and one-line description (read by the package).
NAME = "celeba_radar"
DESCRIPTION = "seed 002 Fig. 2: per-attribute error radar chart on CelebA (needs CelebA)"

DATA = "celeba"
MODEL = "resnet18_multihead"
DEFAULT_EPOCHS = 3
BATCH_SIZE = 256
METHODS = ("uniform", "uncertainty", "gradnorm", "mgda_ub")
LABELS = {"uniform": "Uniform scaling", "uncertainty": "Kendall et al. 2018", "gradnorm": "GradNorm",
          "mgda_ub": "MGDA-UB (ours)"}
#: Seed 002 §4.2 Table 1: mean error (%) over the 40 attributes.
SEED_TABLE1 = {"Single task": 8.77, "Uniform scaling": 9.62, "Kendall et al. 2018": 9.53, "GradNorm": 8.44,
               "MGDA-UB (ours)": 8.25}


def reproduce(folder: ReproductionFolder, options: ReproduceOptions) -> Path:
    """Train every method on CelebA for every seed (resumable) and write the radar chart and tables.

    Args:
        folder: the run folder (finished units are reused).
        options: epochs (default 3), seeds, data_dir (prepared tfds ``celeb_a``), limit (training
            images; the test split gets ``limit // 6``), width (ResNet stem width, default 64).

    Raises:
        mtlzoo.data.DataNotFoundError: when CelebA is not available.
        ValueError: for a ``limit`` below 6.
    """
    import mtlzoo

    if options.limit is not None and options.limit < 6:
        raise ValueError(f"limit={options.limit}: pass at least 6 training images (the test split gets limit // 6).")
    attributes = [t.name for t in mtlzoo.data.info(DATA).tasks]
    epochs = options.epochs_or(DEFAULT_EPOCHS)
    total = len(METHODS) * len(options.seed_list)
    index, results = 0, {}
    for seed in options.seed_list:
        for method in METHODS:
            key = f"{method}-seed{seed}"
            options.progress(index, total, f"{LABELS[method]}, seed {seed}")
            index += 1
            unit = folder.unit(key, lambda: train_and_measure(method, seed, epochs, options))
            results.setdefault(method, []).append(unit["error"])
    errors = {LABELS[m]: {a: sum(r[a] for r in runs) / len(runs) for a in attributes} for m, runs in results.items()}
    from mtlzoo.tools.reproduce.celeba_radar_report import write_report

    return write_report(folder, options, errors, epochs)


def _data(split: str, seed: int, options: ReproduceOptions):
    import mtlzoo

    ds = mtlzoo.data.get(DATA, split=split, batch_size=BATCH_SIZE, data_dir=options.data_dir, seed=seed)
    if options.limit is None:
        return ds
    limit = options.limit if split == "train" else max(1, options.limit // 6)
    return ds.unbatch().take(limit).batch(BATCH_SIZE)


def train_and_measure(method: str, seed: int, epochs: int, options: ReproduceOptions) -> dict:
    """Train ``resnet18_multihead`` on CelebA with balancer ``method``; the test error of every attribute.

    Args:
        method: a balancer name (``"uniform"``, ``"mgda_ub"``, ...).
        seed: seeds the weights and the data order.
        epochs: passes over the (limited) training split.
        options: data_dir, limit and width.

    Returns:
        ``{"error": {attribute: fraction misclassified}, "mean_error", "seconds"}``.

    Example:
        >>> train_and_measure("uniform", 0, 1, ReproduceOptions(limit=512, width=2))["mean_error"]  # doctest: +SKIP
        0.21
    """
    import keras

    import mtlzoo
    from mtlzoo.seeding import seed_everything

    train, test = _data("train", seed, options), _data("test", seed, options)  # DataNotFoundError first
    seed_everything(seed)
    width = {} if options.width is None else {"width": options.width}
    model = mtlzoo.models.get(MODEL, dataset=DATA, **width)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9), balancer=method,
                  line_search=False)
    started = time.perf_counter()
    model.fit(train, epochs=epochs, verbose=0)
    logs = model.evaluate(test, verbose=0, return_dict=True)
    error = {}
    for task in model.tasks:
        key = f"{task}_binary_accuracy"
        if key not in logs:
            raise KeyError(f"evaluate gave no {key!r}; its logs: {sorted(logs)[:6]}...")
        error[task] = 1.0 - float(logs[key])
    return {"error": error, "mean_error": sum(error.values()) / len(error), "seconds": time.perf_counter() - started}
