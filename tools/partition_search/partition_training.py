"""Full training of one feature partition (seed 004 §5.2 Table 2, A.2 "Multi-task training")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from mtlzoo.tools.partition_search.baselines import BASELINES, baseline_partition
from mtlzoo.tools.partition_search.parameterization import channel_use as mean_channel_use
from mtlzoo.models.partitioned_network import PartitionedNetwork
from mtlzoo.tools.partition_search.task_curriculum import AccuracyCurriculum

__all__ = ["train_partition"]


def _partition(partition, n: int) -> np.ndarray:
    if isinstance(partition, str):
        return baseline_partition(partition, n)
    P = np.asarray(partition, dtype=np.float64)
    if P.shape != (n, n):
        raise ValueError(f"partition must be a baseline name ({', '.join(BASELINES)}) or an (n, n) = ({n}, {n}) "
                         f"P̃ matrix, one row per task; got shape {P.shape}.")
    return P


def _select(dataset, tasks: Sequence[str], what: str):
    """Keep ``(x, {task: y})`` for ``tasks`` only (datasets may carry more tasks)."""
    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(f"{what} must be a batched tf.data.Dataset of (x, {{task: y}}); got {type(dataset).__name__}.")
    spec = dataset.element_spec
    labels = spec[1] if isinstance(spec, tuple) and len(spec) >= 2 else None
    missing = sorted(set(tasks) - set(labels)) if isinstance(labels, Mapping) else list(tasks)
    if missing:
        raise ValueError(f"{what} has no labels for task(s) {missing}; its element spec is {spec}. Pass a dataset "
                         f"with a {{task: y}} label dict for every task in {list(tasks)}.")
    return dataset.map(lambda x, y, *rest: (x, {t: y[t] for t in tasks}, *rest))


def train_partition(partition, train_data, eval_data, tasks, epochs: int = 10, width: int = 8, hidden: int = 50,
                    learning_rate: float = 0.05, temperature: float | None = None, seed: int = 0,
                    momentum: float = 0.9, lr_drop: float | None = 0.75, callbacks=None, verbose: int = 0):
    """Train a :class:`PartitionedNetwork` with partition ``P̃`` to the end and measure its accuracy.

    The recipe of seed 004 A.2, scaled down: SGD with one momentum slot per task, per-task
    batch norm, the learning rate divided by 10 after ``lr_drop`` of the epochs, and (with a
    ``temperature``) the :class:`AccuracyCurriculum`: each batch trains one task, drawn with
    probability ``∝ softmax((1 - train accuracy) / temperature)``.

    Args:
        partition: a ``P̃`` matrix (n, n) (e.g. ``PartitionSearch.best_partition()``) or a
            baseline name: ``"independent"``, ``"share_half"``, ``"share_all"``.
        train_data: batched ``tf.data.Dataset`` of ``(image (28, 28, 1), {task: label})``;
            extra tasks in the labels are ignored.
        eval_data: the same for evaluation (every task on every batch).
        tasks: task names (10 classes each) or ``{task: classes}``.
        epochs: passes over ``train_data``.
        width, hidden: the network's conv1 channels and dense units (masked layers).
        learning_rate, momentum: SGD's.
        temperature: None trains every task on every batch; a number > 0 uses the curriculum
            (``math.inf``: one uniformly drawn task per batch).
        seed: seeds the weights and the curriculum's draws.
        lr_drop: fraction of ``epochs`` after which the learning rate drops 10x (None: constant).
        callbacks: further Keras callbacks for ``fit``.
        verbose: ``fit``'s verbosity.

    Returns:
        ``(model, {task: eval accuracy}, channel use)``: the trained network, its accuracy per
        task on ``eval_data``, and the mean of ``diag(P̃)`` (average channel use per task).

    Raises:
        ValueError: naming a bad partition, task list, dataset or setting.

    Example:
        >>> import mtlzoo  # doctest: +SKIP
        >>> train = mtlzoo.data.get("planted_mnist", split="train", limit=2000)  # doctest: +SKIP
        >>> test = mtlzoo.data.get("planted_mnist", split="test", limit=1000)  # doctest: +SKIP
        >>> model, acc, use = train_partition("share_half", train, test, ["digit", "teacher"],
        ...                                   epochs=3, temperature=0.1)  # doctest: +SKIP
        >>> sorted(acc), round(use, 3)  # doctest: +SKIP
        (['digit', 'teacher'], 0.75)
    """
    classes = dict(tasks) if isinstance(tasks, Mapping) else tasks
    names = list(classes)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer; got {epochs!r}.")
    if not (isinstance(learning_rate, (int, float)) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a number > 0; got {learning_rate!r}.")
    if lr_drop is not None and not 0 < float(lr_drop) <= 1:
        raise ValueError(f"lr_drop must be None or a fraction of the epochs in (0, 1]; got {lr_drop!r}.")
    P = _partition(partition, len(names))
    train_ds = _select(train_data, names, "train_data")
    eval_ds = _select(eval_data, names, "eval_data")
    keras.utils.set_random_seed(int(seed))
    model = PartitionedNetwork(classes, partition=P, width=width, hidden=hidden, learning_rate=learning_rate,
                               momentum=momentum)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.build()
    callbacks = list(callbacks or [])
    if temperature is not None:
        curriculum = AccuracyCurriculum(names, temperature=temperature)
        train_ds = curriculum.apply(train_ds, seed=seed)
        callbacks.insert(0, curriculum.callback())
    if lr_drop is not None:
        drop_at = max(1, int(round(float(lr_drop) * epochs)))  # the first epoch at the low rate
        base = float(learning_rate)
        callbacks.insert(0, keras.callbacks.LearningRateScheduler(
            lambda epoch, lr: base if epoch < drop_at else base * 0.1))
    model.fit(train_ds, epochs=int(epochs), callbacks=callbacks, verbose=verbose)
    results = model.evaluate(eval_ds, return_dict=True, verbose=0)
    accuracy = {t: float(results[f"{t}_accuracy"]) for t in names}
    return model, accuracy, mean_channel_use(P)
