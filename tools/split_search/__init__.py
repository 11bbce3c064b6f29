"""Greedy min-stress split search for tree networks (seed 000 §5).

The building blocks, one step of Alg. 5 at a time:

- :func:`add_slimming` / :class:`BatchNormSlimming`: L1 on batch-norm gamma (eq. 5.6);
- :func:`channel_importance` (5.7), :func:`sigmoid_js_divergence` (5.1-5.4),
  :func:`compatibility` (5.8), :func:`network_compatibility` (streamed over a dataset);
- :func:`fine_tune_peeled` (one set of T peeled networks per greedy step),
  :func:`block_stress` (Alg. 2), :func:`splittable_blocks`;
- :func:`task_affinity` (Alg. 3), :func:`child_affinity` (Alg. 4);
- :func:`spectral_partition`: the children's groups for :func:`mtlzoo.split`.

Example:
    >>> from mtlzoo.tools import split_search as ss                         # doctest: +SKIP
    >>> peeled = ss.fine_tune_peeled(model, train_ds, epochs=1)            # doctest: +SKIP
    >>> stress = {b: ss.block_stress(model, b, peeled, ds) for b in ss.splittable_blocks(model.tree)}  # doctest: +SKIP
    >>> block = max(stress, key=stress.get)                                # doctest: +SKIP
    >>> tasks = model.tree.tasks_of(block)                                 # doctest: +SKIP
    >>> A = ss.task_affinity(peeled, block, ds, tasks)                     # doctest: +SKIP
    >>> children, M = ss.child_affinity(model.tree, block, A, tasks)       # doctest: +SKIP
    >>> wider = mtlzoo.split(model, block, ss.spectral_partition(children, M, block=block))  # doctest: +SKIP
"""

from mtlzoo.tools.split_search.affinity import child_affinity, task_affinity
from mtlzoo.tools.split_search.greedy_split_search import GreedySplitSearch, SearchResult
from mtlzoo.tools.split_search.similarity import (
    block_importance,
    channel_importance,
    compatibility,
    network_compatibility,
    pairwise_channel_divergence,
    pre_affine_activations,
    sigmoid_js_divergence,
)
from mtlzoo.tools.split_search.spectral_partition import spectral_partition
from mtlzoo.tools.split_search.stress import block_stress, fine_tune_peeled, restrict_to_task, splittable_blocks
from mtlzoo.training.batch_norm_slimming import BatchNormSlimming, add_slimming, remove_slimming

__all__ = [
    "BatchNormSlimming",
    "GreedySplitSearch",
    "SearchResult",
    "add_slimming",
    "block_importance",
    "block_stress",
    "channel_importance",
    "child_affinity",
    "compatibility",
    "fine_tune_peeled",
    "network_compatibility",
    "pairwise_channel_divergence",
    "pre_affine_activations",
    "remove_slimming",
    "restrict_to_task",
    "sigmoid_js_divergence",
    "spectral_partition",
    "splittable_blocks",
    "task_affinity",
]
