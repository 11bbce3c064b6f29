"""``fit_distributed``: mtlzoo's own epoch loop around ``MultiTaskModel.train_step`` under any strategy.

Keras 3's ``fit`` cannot train under ``MultiWorkerMirroredStrategy``
(keras-team/keras#20585: its ``_maybe_symbolic_build`` reduces the first batch
as one nested value and its ``reduce_per_replica`` reduces scalar logs along
axis 0), so ``mtlzoo train --strategy multi_worker`` runs this loop instead: the
same ``train_step``, under ``strategy.run`` in a ``tf.function``, epoch by epoch,
with Keras callbacks driven the way ``fit`` drives them.

Every worker runs the model's own callbacks (the balancer's and line search's
epoch hooks, the batch guard), so their state stays identical everywhere; the
``callbacks`` argument (history file, checkpoints, the progress bar) runs on the
chief only, so one worker writes the run folder.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from mtlzoo.training.balancer_callback import BalancerCallback


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process is the chief: the ``chief`` task, or worker 0 of a cluster without one
    (always ``True`` outside a multi-worker cluster).

    Example:
        >>> is_chief(tf.distribute.get_strategy())
        True
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()


def fit_distributed(model, dataset: tf.data.Dataset, epochs: int = 1, strategy: tf.distribute.Strategy | None = None,
                    callbacks: Sequence[keras.callbacks.Callback] = (), initial_epoch: int = 0,
                    verbose: int = 1) -> keras.callbacks.History:
    """Train ``model`` on ``dataset`` for epochs ``initial_epoch .. epochs - 1`` under ``strategy``.

    The model must have been built and compiled inside ``strategy.scope()``.
    ``dataset`` yields global batches ``(x, y[, sample_weight])`` (the recipe's
    batch size); the strategy splits each over its replicas and, across workers,
    shards the dataset by its input options (``tf.data.Options().experimental_distribute``;
    ``AutoShardPolicy.DATA`` gives every worker its part of each batch). Logs are
    the global means, reduced over replicas after every step, as ``fit`` reports them.

    Args:
        model: a compiled :class:`~mtlzoo.training.MultiTaskModel`.
        dataset: a finite ``tf.data.Dataset`` of global batches, iterated once per epoch.
        epochs: the epoch to stop before (as ``fit``'s ``epochs``).
        strategy: the strategy (default: the one in scope, or TensorFlow's default).
        callbacks: Keras callbacks for the chief (e.g. the run folder's); ignored on other workers.
        initial_epoch: the epoch to start at (resuming).
        verbose: 1 shows a progress bar on the chief, 0 shows nothing.

    Returns:
        The ``History`` (on every worker).

    Example:
        >>> import numpy as np, mtlzoo
        >>> model = mtlzoo.models.get("multimnist_lenet", width=2)
        >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy_from_logits", balancer="mgda_ub")
        >>> data = tf.data.Dataset.from_tensor_slices((np.zeros((8, 28, 28, 1), "float32"),
        ...     {"left": np.zeros(8, "int32"), "right": np.ones(8, "int32")})).batch(4)
        >>> history = fit_distributed(model, data, epochs=2, verbose=0)
        >>> len(history.history["loss"]), int(model.optimizer.iterations)
        (2, 4)
    """
    strategy = strategy or tf.distribute.get_strategy()
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"fit_distributed: epochs must be a whole number >= 1, got {epochs!r}.")
    if not 0 <= initial_epoch <= epochs:
        raise ValueError(f"fit_distributed: initial_epoch must be in [0, epochs={epochs}], got {initial_epoch!r}.")
    steps = int(dataset.cardinality())
    if steps == int(tf.data.INFINITE_CARDINALITY):
        raise ValueError("fit_distributed: the dataset repeats forever; pass one epoch's batches (no .repeat()), "
                         "the loop iterates it once per epoch.")
    chief = is_chief(strategy)
    own = [BalancerCallback()]
    if getattr(model, "_mtl", None) is not None:
        own.insert(0, model._mtl.guard.callback())
    history = keras.callbacks.History()
    user = list(callbacks) if chief else []
    callback_list = keras.callbacks.CallbackList(
        own + user + [history], add_history=False, add_progbar=bool(verbose) and chief, model=model,
        verbose=verbose, epochs=epochs, steps=steps if steps > 0 else None)
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)
    step = tf.function(lambda batch: strategy.run(model.train_step, args=(batch,)))
    distributed = strategy.experimental_distribute_dataset(dataset)
    model.stop_training = False
    callback_list.on_train_begin()
    logs = {}
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        for index, batch in enumerate(distributed):
            callback_list.on_train_batch_begin(index)
            outputs = step(batch)
            logs = {k: float(strategy.reduce("MEAN", v, axis=None)) for k, v in outputs.items()}
            callback_list.on_train_batch_end(index, logs)
            if model.stop_training:
                break
        epoch_logs = dict(logs)
        callback_list.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    return history


__all__ = ["fit_distributed", "is_chief"]
