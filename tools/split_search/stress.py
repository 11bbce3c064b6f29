"""Fine-tuned peeled networks and the stress of a block (seed 000 §5.2.3, Alg. 2).

Cost design: Alg. 2 (stress) and Alg. 3 (task affinity) share ONE set of peeled
networks per greedy step. :func:`fine_tune_peeled` peels and fine-tunes each
task's network once; :func:`block_stress` of every block and
:func:`~mtlzoo.tools.split_search.task_affinity` of the chosen block then reuse
them, so a step fine-tunes T networks (the seed's "only T networks" claim).
Peeled networks keep the block names of the original (``peel`` copies ``{b: b}``),
so block i of a peeled network is found under the same name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import keras
import numpy as np
import tensorflow as tf

from mtlzoo.tools.split_search.similarity import block_importance, pairwise_channel_divergence

#: Optimizer used when neither ``optimizer=`` nor a compiled optimizer is available.
DEFAULT_OPTIMIZER = {"class_name": "SGD", "config": {"learning_rate": 1e-2, "momentum": 0.9}}


def splittable_blocks(tree) -> list[str]:
    """Non-root blocks with two or more children (candidates for ``split``), top-down.

    Example:
        >>> from mtlzoo.testing import tiny_tree
        >>> splittable_blocks(tiny_tree())
        ['trunk', 'branch']
    """
    return [b for b in tree.topological_order() if b != tree.root and len(tree.children(b)) >= 2]


def _task_loss(network, task: str):
    """The loss of ``task``: from the network's compile config, else from its recipe."""
    config = network.get_compile_config() if hasattr(network, "get_compile_config") else None
    loss = (config or {}).get("loss")
    if loss is None:
        loss = (getattr(network, "recipe", None) or {}).get("loss")
    if loss is None:
        raise ValueError(f"fine_tune_peeled: network {network.name!r} is not compiled and has no recipe, so "
                         f"the loss of task {task!r} is unknown; call network.compile(loss=...) first.")
    if isinstance(loss, Mapping) and not {"class_name", "config"} <= set(loss):
        if task not in loss:
            raise ValueError(f"fine_tune_peeled: the compiled losses {sorted(loss)} have none for task {task!r}.")
        return loss[task]
    return loss


def _fresh_optimizer(network, optimizer):
    if optimizer is None:
        compiled = getattr(network, "optimizer", None)
        optimizer = keras.optimizers.serialize(compiled) if compiled is not None else DEFAULT_OPTIMIZER
    elif isinstance(optimizer, keras.optimizers.Optimizer):
        optimizer = keras.optimizers.serialize(optimizer)  # never share one optimizer's state between networks
    if isinstance(optimizer, Mapping):
        return keras.optimizers.deserialize(dict(optimizer))
    return keras.optimizers.get(optimizer)


def _as_trainable(peeled):
    from mtlzoo.cloning import copy_weights
    from mtlzoo.training import MultiTaskModel

    if isinstance(peeled, MultiTaskModel):
        return peeled
    model = MultiTaskModel.from_config(peeled.get_config())
    for block in model.tree.blocks:
        copy_weights(peeled.block_layer(block), model.block_layer(block))
    return model


def restrict_to_task(dataset: tf.data.Dataset, task: str) -> tf.data.Dataset:
    """Keep only ``task``'s targets (and sample weights) in a ``(x, {task: y}[, {task: w}])`` dataset.

    Example:
        >>> left = restrict_to_task(mtlzoo.data.get("multidigits", batch_size=4), "left")
        >>> list(left.element_spec[1])
        ['left']
    """
    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(f"fine-tuning needs a tf.data.Dataset of (x, y[, w]) batches, got "
                         f"{type(dataset).__name__}.")

    def keep(*element):
        if len(element) not in (2, 3):
            raise ValueError(f"Dataset elements must be (x, y) or (x, y, w) tuples with labels for task "
                             f"{task!r}; got {len(element)} parts.")
        y = element[1]
        if isinstance(y, Mapping):
            if task not in y:
                raise ValueError(f"The dataset has no labels for task {task!r}; label keys: {sorted(y)}.")
            y = y[task]
        out = (element[0], {task: y})
        if len(element) == 3:
            w = element[2]
            out += ({task: w[task] if isinstance(w, Mapping) else w},)
        return out

    return dataset.map(keep, num_parallel_calls=tf.data.AUTOTUNE)


def fine_tune_peeled(network, dataset, epochs: int, tasks: Iterable[str] | None = None, optimizer=None,
                     seed: int = 0, steps_per_epoch: int | None = None) -> dict:
    """Peel each task's network and fine-tune it alone for a few epochs (Alg. 2/3, first loop).

    Each peeled network is a :class:`~mtlzoo.training.MultiTaskModel` compiled
    with the task's loss (the network's compiled loss, else its recipe's), the
    ``uniform`` balancer, no metrics and no line search, and trained with
    ``verbose=0`` on the dataset restricted to the task's targets and sample
    weights. The original network is untouched. Before each task the Keras
    random seed is set to ``seed``, so every task's run is reproducible.

    Args:
        network: a trained tree network.
        dataset: a ``tf.data.Dataset`` of ``(x, {task: y})`` or ``(x, {task: y}, {task: w})`` batches.
        epochs: fine-tuning epochs (0 only peels).
        tasks: which tasks (default: all tasks of the network).
        optimizer: a name, config or instance (copied per task); default: a fresh
            copy of the network's compiled optimizer config, else SGD 1e-2,
            momentum 0.9.
        seed: Keras random seed set before each task.
        steps_per_epoch: passed to ``fit`` (needed for datasets that repeat forever).

    Returns:
        ``{task: peeled_network}``.

    Example:
        >>> peeled = fine_tune_peeled(model, train_ds, epochs=1)   # doctest: +SKIP
        >>> sorted(peeled)                                          # doctest: +SKIP
        ['fashion_mnist', 'kmnist', 'mnist']
    """
    from mtlzoo.peel import peel

    tasks = list(network.tasks if tasks is None else ([tasks] if isinstance(tasks, str) else tasks))
    unknown = [t for t in tasks if t not in network.tasks]
    if unknown or not tasks:
        raise ValueError(f"fine_tune_peeled: tasks must be a non-empty subset of {list(network.tasks)}, "
                         f"got {tasks} (unknown: {unknown}).")
    if int(epochs) != epochs or epochs < 0:
        raise ValueError(f"fine_tune_peeled: epochs must be an integer >= 0, got {epochs!r}.")
    peeled = {}
    for task in tasks:
        keras.utils.set_random_seed(int(seed))
        model = _as_trainable(peel(network, task))
        if epochs:
            model.compile(optimizer=_fresh_optimizer(network, optimizer), loss=_task_loss(network, task),
                          metrics=[], balancer="uniform", loss_weights=1.0, line_search=False)
            model.fit(restrict_to_task(dataset, task), epochs=int(epochs), steps_per_epoch=steps_per_epoch,
                      verbose=0)
        peeled[task] = model
    return peeled


def block_stress(network, block: str, peeled: Mapping, dataset, max_batches: int | None = None) -> float:
    """Alg. 2: the stress ``S_i = sum_{t in O(i)} C(z_i^{peeled t} || z_i^F)`` of ``block``.

    One pass over the dataset computes the activations of F and of every
    peeled network in O(i) per batch (see
    :func:`~mtlzoo.tools.split_search.similarity.pairwise_channel_divergence`).

    Args:
        network: the tree network F.
        block: block i (needs a ``BatchNormalization``).
        peeled: ``{task: peeled_network}`` from :func:`fine_tune_peeled`, covering O(i).
        dataset: a ``tf.data.Dataset`` of batches or a NumPy array of inputs.
        max_batches: stop after this many batches.

    Returns:
        The stress (>= 0; 0 when every peeled network equals F at block i).

    Example:
        >>> block_stress(model, "conv2", peeled, ds, max_batches=8)   # doctest: +SKIP
        0.0042
    """
    tasks = network.tree.tasks_of(block)
    missing = [t for t in tasks if t not in peeled]
    if missing:
        raise ValueError(f"block_stress: no peeled network for task(s) {missing} of block {block!r} "
                         f"(O(i) = {list(tasks)}); fine-tune them with fine_tune_peeled(...).")
    networks = [network, *(peeled[t] for t in tasks)]
    js = pairwise_channel_divergence(networks, block, dataset, [(k, 0) for k in range(1, len(networks))],
                                     max_batches)
    base = block_importance(network, block)
    return float(sum(np.dot(0.5 * (block_importance(net, block) + base), row)
                     for net, row in zip(networks[1:], js)))
