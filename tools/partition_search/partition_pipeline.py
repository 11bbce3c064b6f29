"""What ``mtlzoo search partition`` runs, as functions: data, teachers + search, one final training.

The CLI (:mod:`mtlzoo.cli.search_partition`) and ``mtlzoo reproduce partition`` both call these, so
the reproduction runs exactly the command's pipeline:

- :func:`partition_data`: ``(train, validation, test)`` arrays; validation = the last 1/6 of train;
- :func:`run_partition_search`: single-task teachers (cached in ``<run_dir>/teachers``), then the
  resumable :class:`PartitionSearch` scored by distillation (seed 004 §4.2);
- :func:`train_final_partition`: one full training of a ``P̃`` with the accuracy curriculum (A.2);
- :func:`train_final_partitions`: the chosen ``P̃`` and the fixed baselines, each kept in ``final.json``
  as it finishes (what ``mtlzoo search partition`` trains after the search).

Example:
    >>> tasks = {"left": 10, "right": 10}                                                     # doctest: +SKIP
    >>> train, val, test = partition_data("multidigits", None, 600, 0, tasks)                 # doctest: +SKIP
    >>> search = run_partition_search("runs/p", tasks, train, val, trials=4)                   # doctest: +SKIP
    >>> train_final_partition(search.best_partition(), train, test, tasks, epochs=1)["mean"]  # doctest: +SKIP
    0.41
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

#: Share of the (limited) training images held out to score partitions (the final table uses the test split).
VALIDATION_SHARE = 1 / 6


def partition_data(data_name: str, data_dir, limit: int | None, seed: int, tasks):
    """``(train, validation, test)`` as ``(images, {task: labels})`` arrays; validation = the last 1/6 of train.

    Args:
        data_name: a dataset of ``mtlzoo.data`` with 28x28x1 images (e.g. ``"mnist_attributes"``).
        data_dir: local copies of the data (or ``None``).
        limit: first N training images and at most N test images (``None``: all).
        seed: the loader's seed.
        tasks: the task names to keep (or ``{task: classes}``).

    Raises:
        mtlzoo.data.DataNotFoundError: when the data files are missing.
        ValueError: when ``limit`` leaves fewer than 2 training images.
    """
    import mtlzoo
    from mtlzoo.tools.partition_search.teachers import as_arrays

    accepts = inspect.signature(mtlzoo.data.REGISTRY.factory(data_name).resolve()).parameters
    options = {"limit": limit} if "limit" in accepts and limit is not None else {}
    read = {}
    for split in ("train", "test"):
        ds = mtlzoo.data.get(data_name, split=split, batch_size=1024, data_dir=data_dir, seed=seed, shuffle=False,
                             **options)
        x, y = as_arrays(ds, f"{data_name} {split}", limit)
        read[split] = (x, {t: y[t] for t in tasks})
    x, y = read["train"]
    if len(x) < 2:
        raise ValueError(f"--limit {limit} leaves {len(x)} training image(s); at least 2 are needed.")
    cut = len(x) - max(1, int(round(len(x) * VALIDATION_SHARE)))
    return (x[:cut], {t: v[:cut] for t, v in y.items()}), (x[cut:], {t: v[cut:] for t, v in y.items()}), read["test"]


def batches(arrays, batch_size: int, seed: int, shuffle: bool):
    """A ``tf.data`` pipeline over ``(images, {task: labels})`` arrays (images used as they are)."""
    from mtlzoo.data.pipeline import array_dataset

    return array_dataset(arrays[0], arrays[1], batch_size, seed=seed, shuffle=shuffle, image_fn=lambda x: x)


def run_partition_search(run_dir, tasks, train, val, strategy: str = "es", trials: int = 60,
                         weight_decay: float = 0.01, distill_steps: int = 200, teacher_epochs: int = 2,
                         width: int = 8, hidden: int = 50, batch_size: int = 64, seed: int = 0,
                         log: Callable[[str], None] | None = None):
    """Teachers (cached in ``run_dir/teachers``), then the resumable distillation-scored :class:`PartitionSearch`.

    Args:
        run_dir: the search folder (teachers, the keras-tuner project ``search``).
        tasks: ``{task: classes}`` (or task names).
        train, val: ``(images, {task: labels})`` arrays: teachers train on ``train``, partitions are scored on ``val``.
        strategy: ``"es"`` or ``"random"``; trials: partitions scored; weight_decay: λ of the reward.
        distill_steps, teacher_epochs, width, hidden, batch_size, seed: as ``mtlzoo search partition``.
        log: called with one progress line at a time (default: silent).

    Returns:
        the finished :class:`~mtlzoo.tools.partition_search.PartitionSearch`.

    Raises:
        RuntimeError: when no partition could be scored.
    """
    import keras

    from mtlzoo.seeding import seed_everything
    from mtlzoo.tools.partition_search.distillation import DistillationScorer
    from mtlzoo.tools.partition_search.partition_search import PartitionSearch
    from mtlzoo.tools.partition_search.teachers import train_teachers

    log = log or (lambda line: None)
    run = Path(run_dir)
    folder = run / "teachers"
    paths = {t: folder / f"{t}.keras" for t in tasks}
    if all(p.is_file() for p in paths.values()):
        teachers = {t: keras.models.load_model(p) for t, p in paths.items()}
        log(f"Teachers loaded from {folder}.")
    else:
        seed_everything(seed)
        log(f"Training {len(tasks)} teachers ({teacher_epochs} epochs each)...")
        teachers = train_teachers(train, tasks, width=width, hidden=hidden, epochs=teacher_epochs,
                                  batch_size=batch_size, seed=seed)
        folder.mkdir(parents=True, exist_ok=True)
        for t, teacher in teachers.items():
            teacher.save(paths[t])
    scorer = DistillationScorer(teachers, train, val, steps=distill_steps, seed=seed)
    log("Teacher validation accuracy: " + ", ".join(f"{t} {a:.3f}" for t, a in scorer.teacher_accuracy.items()))
    extra = {"directions": 4} if strategy == "es" else {}
    searcher = PartitionSearch(scorer, len(tasks), strategy=strategy, max_trials=trials, directory=str(run),
                               project_name="search", seed=seed, weight_decay=weight_decay, **extra)
    searcher.search()
    if not searcher.results():
        failed = [r for r in searcher.results(completed_only=False) if r.get("message")]
        why = f": {failed[-1]['message']}" if failed else ""
        raise RuntimeError(f"no partition was scored{why}")
    return searcher


def train_final_partition(P, train, test, tasks: Mapping[str, int], epochs: int = 10, width: int = 8,
                          hidden: int = 50, temperature: float | None = 0.1, batch_size: int = 64,
                          seed: int = 0) -> dict:
    """Train one ``P̃`` (or a baseline name) fully on ``train`` and measure it on ``test``.

    Each call builds a fresh shuffled pipeline, so every training sees the same batches, also after a resume.

    Returns:
        ``{"P", "accuracy": {task: test accuracy}, "mean", "channel_use", "seconds"}``.
    """
    from mtlzoo.tools.partition_search.baselines import baseline_partition
    from mtlzoo.tools.partition_search.partition_training import train_partition

    P = baseline_partition(P, len(tasks)) if isinstance(P, str) else np.asarray(P, dtype=np.float64)
    start = time.perf_counter()
    train_ds = batches(train, batch_size, seed, shuffle=True)
    test_ds = batches(test, 1024, seed, shuffle=False)
    _, accuracy, use = train_partition(P, train_ds, test_ds, tasks, epochs=epochs, width=width, hidden=hidden,
                                       temperature=temperature, seed=seed)
    return {"P": P.tolist(), "accuracy": accuracy, "mean": float(np.mean(list(accuracy.values()))),
            "channel_use": float(use), "seconds": time.perf_counter() - start}


def train_final_partitions(path, chosen: Mapping, train, test, tasks: Mapping[str, int],
                           log: Callable[[str], None] | None = None, **settings) -> dict:
    """Train seed 004's fixed baselines and the ``chosen`` partitions fully; resumable through ``path``.

    A row whose ``P̃`` is already in ``path`` (a JSON file) is not trained again; each finished row is
    written to ``path`` at once (atomically), so an interrupted call loses at most the row in training.

    Args:
        path: the JSON file of finished rows (``final.json``).
        chosen: ``{name: P̃}`` of the searched partitions (e.g. ``{"es": P}``), trained after the baselines.
        train, test: ``(images, {task: labels})`` arrays.
        tasks: ``{task: classes}``.
        log: called with one line per finished row (default: silent).
        **settings: :func:`train_final_partition` options (``epochs``, ``width``, ``hidden``,
            ``temperature``, ``batch_size``, ``seed``).

    Returns:
        ``{name: train_final_partition(...) result}``: the baselines, then ``chosen``.
    """
    import json

    from mtlzoo.atomic_file import atomic_file
    from mtlzoo.tools.partition_search.baselines import BASELINES, baseline_partition

    path = Path(path)
    done = json.loads(path.read_text()) if path.is_file() else {}
    rows = {name: baseline_partition(name, len(tasks)) for name in BASELINES}
    rows.update({name: np.asarray(P) for name, P in chosen.items()})
    for name, P in rows.items():
        if name in done and np.allclose(done[name]["P"], P):
            continue
        done[name] = train_final_partition(P, train, test, tasks, **settings)
        with atomic_file(path, "w") as fh:
            json.dump(done, fh, indent=2)
        if log is not None:
            row = done[name]
            log(f"{name:>11}: mean test accuracy {row['mean']:.4f}, channel use {row['channel_use']:.3f}")
    return {name: done[name] for name in rows}
