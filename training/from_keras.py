"""``from_keras``: any multi-output functional Keras model as a :class:`MultiTaskModel` (issue 17)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def from_keras(model, shared: str | Iterable[str] | None = None, name: str | None = None, copy: bool = False,
               recipe: Mapping | None = None, model_class=None):
    """Turn a functional Keras model with one output per task into a tree network that trains as MTL.

    The tree is read off the graph (seed 000 §3): for every layer, the set of
    outputs it feeds; a block is the group of layers with the same set, the root
    holds the layers that feed every task, and a shared block's latent Z_i is
    the tuple of tensors that leave it (several with skip connections, and MGDA-UB
    and every latent method use all of them). See :class:`mtlzoo.keras_cut.KerasCut`
    for the rules and the refusals.

    Args:
        model: a functional ``keras.Model`` with two or more outputs: a dict
            ``{task: output}`` or a list (the output layers' names become the
            task names); one or several inputs.
        shared: a layer name or names: everything up to and including them
            becomes the one shared root block (a coarser cut than the graph's).
        name: the new model's name (default: ``model.name``).
        copy: work on a copy of ``model`` (same weights, new layer objects); by
            default the result uses the SAME layer objects, so it shares the
            weights with ``model`` and predicts exactly what ``model`` predicts.
        recipe: ``compile`` defaults (``loss``, ``metrics``, ``balancer``, ...) kept
            with the model (see :class:`MultiTaskModel`).
        model_class: the class to build (default :class:`MultiTaskModel`).

    Returns:
        A :class:`MultiTaskModel` whose ``tree`` is the derived :class:`~mtlzoo.TaskTree`
        (``print(model.tree)`` lists each block's layers) and whose blocks are
        functional sub-models of the user's layers; its inputs keep the model's
        input names, its outputs are ``{task: tensor}``.

    Raises:
        ValueError: not a functional model with two or more outputs, a layer called
            at two places, or a graph that is not a tree; the message names the layer
            and the fix.

    Example:
        >>> import keras, numpy as np
        >>> x = keras.Input((6,), name="x")
        >>> h = keras.layers.Dense(4, activation="relu", name="trunk_dense")(x)
        >>> net = keras.Model(x, {"a": keras.layers.Dense(1, name="out_a")(h),
        ...                       "b": keras.layers.Dense(3, name="out_b")(h)})
        >>> model = from_keras(net)
        >>> model.tree.paths
        {'a': ('trunk', 'head_a'), 'b': ('trunk', 'head_b')}
        >>> data = np.ones((2, 6), "float32")
        >>> bool(np.all(model.predict(data, verbose=0)["b"] == net.predict(data, verbose=0)["b"]))
        True
        >>> model.compile(optimizer="sgd", loss="mse", balancer="mgda_ub")
    """
    from mtlzoo.keras_cut import KerasCut
    from mtlzoo.keras_graph import KerasGraph

    graph = KerasGraph(model)  # checks the kind of model before anything is copied
    if copy:
        graph = KerasGraph(_copied(model))
    cut = KerasCut(graph, shared=shared)
    if model_class is None:
        from mtlzoo.training.multi_task_model import MultiTaskModel as model_class
    inputs = graph.inputs
    if len(inputs) == 1:
        spec = {"input_shape": tuple(inputs[0].shape[1:]), "input_dtype": str(inputs[0].dtype),
                "input_name": inputs[0].name}
    else:
        spec = {"input_shape": {t.name: tuple(t.shape[1:]) for t in inputs},
                "input_dtype": {t.name: str(t.dtype) for t in inputs}}
    return model_class(cut.tree, cut.block_models(), recipe=recipe, name=name or graph.model.name, **spec)


def _copied(model):
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone
