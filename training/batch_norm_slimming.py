"""Network slimming: an L1 penalty on batch-norm scales gamma (seed 000 eq. 5.6).

A training regularizer, so it lives in the training room; the split search
(:mod:`mtlzoo.tools.split_search`) turns it on and reads the scales it shapes.

Training with ``L = sum_t L_t + lambda * sum_{gamma in Gamma} ||gamma||_1`` pushes the
scales of unimportant channels towards zero, so |gamma_k| / sum_j |gamma_j| becomes
a usable channel importance (eq. 5.7, :func:`~mtlzoo.tools.split_search.channel_importance`).

The penalty is a Keras weight regularizer on gamma, so it enters ``model.losses``,
which :meth:`mtlzoo.training.MultiTaskModel.train_step` adds to the balanced
task gradients. It is also stored in the batch-norm layer's config
(``gamma_regularizer``), so :func:`mtlzoo.peel`, :func:`mtlzoo.split` and a saved
``.keras`` file keep it.
"""

from __future__ import annotations

from collections.abc import Iterable

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mtlzoo")
class BatchNormSlimming(keras.regularizers.Regularizer):
    """``l1 * sum(|gamma|)``: the network-slimming penalty of seed 000 eq. 5.6 for one gamma vector.

    Args:
        l1: the strength lambda (>= 0).

    Example:
        >>> reg = BatchNormSlimming(l1=0.5)
        >>> float(reg(keras.ops.convert_to_tensor([1.0, -2.0])))
        1.5
        >>> BatchNormSlimming.from_config(reg.get_config()).l1
        0.5
    """

    def __init__(self, l1: float = 1e-4):
        try:
            l1 = float(l1)
        except (TypeError, ValueError):
            raise ValueError(f"BatchNormSlimming: l1 must be a number >= 0, got {l1!r}.") from None
        if not l1 >= 0.0:  # also rejects NaN
            raise ValueError(f"BatchNormSlimming: l1 must be >= 0, got {l1!r}; use e.g. l1=1e-4.")
        self.l1 = l1

    def __call__(self, x):
        return self.l1 * ops.sum(ops.abs(x))

    def get_config(self) -> dict:
        return {"l1": self.l1}


def _batch_norms(layer) -> list:
    """Every ``BatchNormalization`` inside ``layer`` (itself included), in layer order."""
    return [sub for sub in layer._flatten_layers(include_self=True, recursive=True)
            if isinstance(sub, keras.layers.BatchNormalization)]


def _select_blocks(model, blocks: Iterable[str] | None, who: str) -> tuple[list[str], bool]:
    if not hasattr(model, "tree") or not hasattr(model, "block_layer"):
        raise ValueError(f"{who}: expected a built mtlzoo TreeNetwork (e.g. mtlzoo.models.get(...)), "
                         f"got {type(model).__name__}.")
    if blocks is None:
        return list(model.tree.blocks), False
    if isinstance(blocks, str):
        blocks = [blocks]
    blocks = list(blocks)
    unknown = [b for b in blocks if b not in model.tree.blocks]
    if unknown:
        raise ValueError(f"{who}: unknown block(s) {unknown}; blocks of {model.name!r}: {list(model.tree.blocks)}.")
    return blocks, True


def _set_gamma_regularizer(bn, regularizer) -> None:
    bn.gamma_regularizer = regularizer  # kept in the layer config: peel/split/save carry it
    if bn.built and getattr(bn, "gamma", None) is not None:
        bn.gamma.regularizer = regularizer  # what Layer.losses reads


def _invalidate_step_functions(model) -> None:
    # the compiled train/test functions captured model.losses when they were traced
    for attr in ("train_function", "test_function", "predict_function"):
        if hasattr(model, attr):
            setattr(model, attr, None)


def add_slimming(model, l1: float = 1e-4, blocks: Iterable[str] | None = None) -> list[str]:
    """Attach :class:`BatchNormSlimming` to gamma of every batch norm in ``blocks`` of a built tree network.

    Args:
        model: a :class:`mtlzoo.TreeNetwork` / :class:`mtlzoo.training.MultiTaskModel`.
        l1: lambda of eq. 5.6.
        blocks: block names (default: every block; blocks without a scaled batch
            norm are skipped). A block named explicitly that has no batch norm
            with a gamma is an error.

    Returns:
        The paths ``"block/layer"`` of the batch-norm layers that now carry the penalty.

    Raises:
        ValueError: the model is not a tree network, a block is unknown or has no
            batch norm with a scale, or the model has no batch norm at all.

    Example:
        >>> model = mtlzoo.models.get("lenet_bn_tree", width=2)
        >>> add_slimming(model, l1=1e-4)
        ['conv1/bn', 'conv2/bn']
    """
    blocks, explicit = _select_blocks(model, blocks, "add_slimming")
    regularizer = BatchNormSlimming(l1)
    touched = []
    for block in blocks:
        bns = [bn for bn in _batch_norms(model.block_layer(block)) if bn.scale]
        if explicit and not bns:
            raise ValueError(f"add_slimming: block {block!r} has no BatchNormalization with a scale (gamma); "
                             "drop it from blocks= or add a BatchNormalization(scale=True) to it.")
        for bn in bns:
            _set_gamma_regularizer(bn, regularizer)
            touched.append(f"{block}/{bn.name}")
    if not touched:
        raise ValueError(f"add_slimming: model {model.name!r} has no BatchNormalization with a scale (gamma) in "
                         f"blocks {blocks}; network slimming needs batch-norm layers.")
    _invalidate_step_functions(model)
    return touched


def remove_slimming(model, blocks: Iterable[str] | None = None) -> list[str]:
    """Detach every :class:`BatchNormSlimming` from the batch norms of ``blocks`` (default: all blocks).

    Other gamma regularizers are left in place.

    Args:
        model: a :class:`mtlzoo.TreeNetwork`.
        blocks: block names (default: every block).

    Returns:
        The paths ``"block/layer"`` of the batch-norm layers that lost the penalty.

    Example:
        >>> model = mtlzoo.models.get("lenet_bn_tree", width=2)
        >>> _ = add_slimming(model)
        >>> remove_slimming(model)
        ['conv1/bn', 'conv2/bn']
    """
    blocks, _ = _select_blocks(model, blocks, "remove_slimming")
    touched = []
    for block in blocks:
        for bn in _batch_norms(model.block_layer(block)):
            if isinstance(bn.gamma_regularizer, BatchNormSlimming):
                _set_gamma_regularizer(bn, None)
                touched.append(f"{block}/{bn.name}")
    if touched:
        _invalidate_step_functions(model)
    return touched
