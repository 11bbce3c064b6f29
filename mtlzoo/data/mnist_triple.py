"""MNIST, Fashion-MNIST and KMNIST as three tasks with separate inputs (seed 000 §4.5).

One shared network sees images from all three datasets; each image trains only
its own dataset's head. Batches are ``(x, {task: y}, {task: w})`` with ``w = 1``
on the task's own rows and 0 elsewhere (see :mod:`mtlzoo.data.mixing`). With
``curriculum="temperature"`` each batch comes from one dataset, drawn inversely
to its current training accuracy (seed 004 A.2); add
``mtlzoo.data.CurriculumCallback(dataset)`` to ``fit`` to feed the accuracy back.

>>> ds = load_mnist_triple("train", data_dir="/data")  # doctest: +SKIP
"""

from __future__ import annotations

from mtlzoo.data.options import check_batch_size, check_split

TASKS = ("mnist", "fashion_mnist", "kmnist")
_SPLITS = ("train", "test")


def load_mnist_triple(split: str = "train", batch_size: int = 256, data_dir=None, seed: int = 0,
                      download: bool | None = None, mode: str | None = None, curriculum=None,
                      temperature: float = 1.0, steps_per_epoch: int | None = None,
                      tasks=TASKS, shuffle: bool | None = None):
    """The ``mnist_triple`` dataset.

    Args:
        split: ``"train"`` or ``"test"``.
        batch_size: rows per batch (split evenly over the tasks in ``"mixed"`` mode).
        data_dir: where ``mnist.npz``, ``fashion_mnist.npz``, ``kmnist.npz`` (or IDX files) live.
        seed: shuffling and curriculum draws.
        download: allow downloads (``None``: unless ``$MTLZOO_OFFLINE``).
        mode: ``"mixed"`` (train default), ``"alternate"``, ``"sequential"`` (default
            for other splits); see :mod:`mtlzoo.data.mixing`.
        curriculum: ``"temperature"`` or a :class:`~mtlzoo.data.TemperatureCurriculum`
            (training only): one-task batches drawn by the curriculum.
        temperature: the curriculum's temperature.
        steps_per_epoch: batches per epoch (default: every example about once).
        tasks: which of the three datasets to use (two or more).
        shuffle: reshuffle every epoch (default: only for ``"train"``).

    Example:
        >>> ds = load_mnist_triple("train", data_dir="/data", curriculum="temperature")  # doctest: +SKIP
        >>> model.fit(ds, callbacks=[CurriculumCallback(ds)])  # doctest: +SKIP
    """
    from mtlzoo.data.mixing import epoch_steps, mix_streams, sub_batch_sizes
    from mtlzoo.data.pipeline import array_stream
    from mtlzoo.data.sources import load_mnist_family
    from mtlzoo.data.temperature_curriculum import resolve_curriculum

    split = check_split("mnist_triple", split, _SPLITS)
    batch_size = check_batch_size(batch_size)
    tasks = tuple(tasks)
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown or len(tasks) < 2 or len(set(tasks)) != len(tasks):
        raise ValueError(f"mnist_triple: tasks must be two or more distinct names of {TASKS}, got {tasks}.")
    mode, curriculum = resolve_curriculum("mnist_triple", tasks, split, mode, curriculum, temperature, "mixed")
    shuffle = split == "train" if shuffle is None else bool(shuffle)
    arrays = {t: load_mnist_family(t, data_dir, download) for t in tasks}
    sizes = {t: len(arrays[t][f"y_{split}"]) for t in tasks}
    subs = sub_batch_sizes(batch_size, len(tasks)) if mode == "mixed" else [batch_size] * len(tasks)
    repeat = mode != "sequential"
    streams = {t: array_stream(arrays[t][f"x_{split}"], arrays[t][f"y_{split}"], subs[i], seed=seed + 7919 * i,
                               shuffle=shuffle, repeat=repeat) for i, t in enumerate(tasks)}
    steps = steps_per_epoch or epoch_steps(mode, sizes, batch_size)
    choices = curriculum.choices(seed) if curriculum is not None else None
    ds = mix_streams(streams, mode, steps=steps, choices=choices)
    if curriculum is not None:
        ds.mtlzoo_curriculum = curriculum
    return ds
