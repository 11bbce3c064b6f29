"""The builder: a :class:`TaskTree` plus one Keras layer per block -> one functional model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import keras
from keras import ops

from mtlzoo.task_tree import TaskTree


def _as_tree(tree: TaskTree | Mapping | str) -> TaskTree:
    if isinstance(tree, TaskTree):
        return tree
    if isinstance(tree, str):
        return TaskTree.from_json(tree)
    if isinstance(tree, Mapping):
        return TaskTree.from_dict(tree)
    raise ValueError(f"tree must be a TaskTree, its dict or its JSON text, got {type(tree).__name__}.")


def input_specs(input_shape, input_dtype="float32", input_name: str = "inputs") -> list[tuple[str, tuple, str]]:
    """``[(name, shape, dtype)]`` of a network's inputs: one, or one per entry of a ``{name: shape}`` mapping.

    Args:
        input_shape: one sample's shape, or ``{name: shape}`` for several inputs.
        input_dtype: a dtype for every input, or ``{name: dtype}``.
        input_name: the name of the single input (unused with a mapping).

    Example:
        >>> input_specs({"image": (8, 8, 1), "meta": [3]}, {"image": "float32", "meta": "int32"})
        [('image', (8, 8, 1), 'float32'), ('meta', (3,), 'int32')]
    """
    def shape_of(name, shape):
        if shape is None or isinstance(shape, (str, bytes, Mapping)):
            raise ValueError(f"input_shape of {name!r} must be a tuple of dimensions, got {shape!r}.")
        return tuple(None if d is None else int(d) for d in shape)

    if not isinstance(input_shape, Mapping):
        return [(input_name, shape_of(input_name, input_shape), str(input_dtype))]
    if not input_shape:
        raise ValueError("input_shape is an empty mapping; give {name: shape} for every input.")
    dtypes = input_dtype if isinstance(input_dtype, Mapping) else {n: input_dtype for n in input_shape}
    missing = [n for n in input_shape if n not in dtypes]
    if missing:
        raise ValueError(f"input_dtype has no dtype for input(s) {missing}; give {{name: dtype}} for every input.")
    return [(str(n), shape_of(n, s), str(dtypes[n])) for n, s in input_shape.items()]


def _as_layer(block: str, value: Any) -> keras.layers.Layer:
    if isinstance(value, keras.layers.Layer):
        return value
    if isinstance(value, Mapping):
        try:
            layer = keras.saving.deserialize_keras_object(dict(value))
        except Exception as err:  # Keras raises TypeError/ValueError variants here
            raise ValueError(f"Block {block!r}: cannot deserialize its layer config: {err}") from err
        if isinstance(layer, keras.layers.Layer):
            return layer
    raise ValueError(
        f"Block {block!r}: expected a keras Layer (or its serialized config), got {type(value).__name__}."
    )


def _fresh(value):
    """A block's several output tensors as copies (``identity``), read by nothing but the block's children."""
    if isinstance(value, (list, tuple)):
        return type(value)(keras.tree.map_structure(ops.copy, v) for v in value)
    return value


@keras.saving.register_keras_serializable(package="mtlzoo")
class TreeNetwork(keras.Model):
    """A tree-structured multi-task network F = (B, P, theta) as one functional Keras model.

    Every block is a Keras layer (or functional sub-model) called once per forward
    pass, so a shared block's output Z_i is computed once and feeds all its
    children. The model's outputs are a dict ``{task: tensor}``; :meth:`forward`
    additionally returns the latents ``{block: Z_i}`` of the shared blocks as
    tensors computed in the current call, so a train step running it under a
    ``GradientTape`` can differentiate the task losses with respect to them.

    Args:
        tree: a :class:`TaskTree` (or its dict / JSON text).
        blocks: ``{block: layer}``, one Keras layer (or serialized layer config)
            per block of the tree. Omit it when the tree's block infos are
            serialized layer configs.
        input_shape: shape of one input sample, without the batch axis; or
            ``{name: shape}`` for a network with several inputs (the root block
            is then called on the list of inputs, in this order).
        input_dtype: dtype of the input tensor (or ``{name: dtype}``).
        input_name: name of the input (also the serving signature's input name).

    Example:
        >>> tree = TaskTree(["trunk", "a", "b"], {"x": ["trunk", "a"], "y": ["trunk", "b"]})
        >>> net = TreeNetwork(tree, {"trunk": keras.layers.Dense(4, name="trunk"),
        ...                          "a": keras.layers.Dense(2, name="a"),
        ...                          "b": keras.layers.Dense(3, name="b")}, input_shape=(5,))
        >>> outputs, latents = net.forward(keras.ops.ones((2, 5)))
        >>> sorted(outputs), list(latents)
        (['x', 'y'], ['trunk'])
    """

    def __init__(self, tree, blocks: Mapping[str, Any] | None = None, input_shape: Sequence[int | None] = (),
                 input_dtype: str = "float32", input_name: str = "inputs", **kwargs):
        tree = _as_tree(tree)
        if blocks is None:
            blocks = tree.block_info
        layers = self._check_blocks(tree, blocks)
        specs = input_specs(input_shape, input_dtype, input_name)
        inputs = [keras.Input(shape=shape, dtype=dtype, name=name) for name, shape, dtype in specs]
        if isinstance(input_shape, Mapping):
            input_shape = {name: list(shape) for name, shape, _ in specs}
            input_dtype = {name: dtype for name, _, dtype in specs}
        else:
            inputs, input_shape = inputs[0], list(specs[0][1])
        block_outputs = self._walk(tree, layers, inputs, call=lambda layer, z: layer(z))
        outputs = {task: block_outputs[tree.path(task)[-1]] for task in tree.tasks}
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self._tree = tree
        self._block_layer_names = {b: layers[b].name for b in tree.blocks}
        self._input_spec_config = {"input_shape": input_shape, "input_dtype": input_dtype,
                                   "input_name": input_name}

    @classmethod
    def shared_trunk(cls, trunk: keras.layers.Layer, heads: Mapping[str, keras.layers.Layer],
                     input_shape: Sequence[int | None], trunk_block: str = "trunk", **kwargs):
        """The common two-level tree: one shared trunk block, then one head block per task.

        Args:
            trunk: the shared root block's layer.
            heads: ``{task: layer}``; each head becomes block ``"head_<task>"``.
            input_shape: one sample's shape.
            trunk_block: the trunk's block name.
            **kwargs: passed on (``input_dtype``, ``input_name``, ``name``).

        Example:
            >>> net = TreeNetwork.shared_trunk(keras.layers.Dense(4, name="trunk"),
            ...                                {"a": keras.layers.Dense(2, name="head_a")}, (3,))
            >>> net.tree.paths
            {'a': ('trunk', 'head_a')}
        """
        if not heads:
            raise ValueError("shared_trunk needs at least one task head.")
        head_blocks = {f"head_{task}": layer for task, layer in heads.items()}
        tree = TaskTree(blocks=[trunk_block, *head_blocks],
                        paths={task: [trunk_block, f"head_{task}"] for task in heads})
        return cls(tree, {trunk_block: trunk, **head_blocks}, input_shape=input_shape, **kwargs)

    # ------------------------------------------------------------------ build
    @staticmethod
    def _check_blocks(tree: TaskTree, blocks: Mapping[str, Any]) -> dict[str, keras.layers.Layer]:
        if not isinstance(blocks, Mapping):
            raise ValueError(f"blocks must be a {{block: layer}} mapping, got {type(blocks).__name__}.")
        missing = [b for b in tree.blocks if b not in blocks]
        if missing:
            raise ValueError(f"No layer given for block(s) {missing}; pass one layer per block of the tree.")
        extra = [b for b in blocks if b not in tree.blocks]
        if extra:
            raise ValueError(f"Layer(s) given for {extra}, which are not blocks of the tree {list(tree.blocks)}.")
        layers = {b: _as_layer(b, blocks[b]) for b in tree.blocks}
        by_id: dict[int, str] = {}
        by_name: dict[str, str] = {}
        for block, layer in layers.items():
            if id(layer) in by_id:
                raise ValueError(
                    f"Blocks {by_id[id(layer)]!r} and {block!r} are the same layer object; "
                    "each block owns its parameters, so give each its own layer."
                )
            if layer.name in by_name:
                raise ValueError(
                    f"Blocks {by_name[layer.name]!r} and {block!r} have layers with the same name "
                    f"{layer.name!r}; name each layer after its block (e.g. name={block!r})."
                )
            by_id[id(layer)] = block
            by_name[layer.name] = block
        return layers

    @staticmethod
    def _walk(tree: TaskTree, layers: Mapping[str, keras.layers.Layer], inputs, call) -> dict[str, Any]:
        """Run every block once, parents first; returns ``{block: output}``."""
        outputs: dict[str, Any] = {}
        for block in tree.topological_order():
            parent = tree.parent(block)
            outputs[block] = call(layers[block], inputs if parent is None else outputs[parent])
        return outputs

    # ------------------------------------------------------------- accessors
    @property
    def tree(self) -> TaskTree:
        """The network's :class:`TaskTree`."""
        return self._tree

    @property
    def tasks(self) -> tuple[str, ...]:
        """Task names, in the tree's order."""
        return self.tree.tasks

    @property
    def blocks(self) -> dict[str, keras.layers.Layer]:
        """``{block: layer}``: the Keras layer computing each block."""
        return {block: self.get_layer(name) for block, name in self._block_layer_names.items()}

    def input_specs(self) -> list[tuple[str, tuple, str]]:
        """``[(name, shape, dtype)]`` of the network's inputs (one sample's shape, no batch axis)."""
        config = self._input_spec_config
        return input_specs(config["input_shape"], config["input_dtype"], config["input_name"])

    def block_layer(self, block: str) -> keras.layers.Layer:
        """The layer computing ``block``."""
        if block not in self._block_layer_names:
            raise KeyError(f"Unknown block {block!r}; blocks: {list(self._block_layer_names)}.")
        return self.get_layer(self._block_layer_names[block])

    def block_variables(self, blocks: Iterable[str], trainable_only: bool = True) -> list:
        """The variables of the given blocks (trainable ones by default), deduplicated."""
        out, seen = [], set()
        for block in blocks:
            layer = self.block_layer(block)
            for var in layer.trainable_variables if trainable_only else layer.variables:
                if id(var) not in seen:
                    seen.add(id(var))
                    out.append(var)
        return out

    # --------------------------------------------------------------- forward
    def forward(self, inputs, training: bool | None = None, latents: str | Iterable[str] = "shared"):
        """Run the tree once and return ``(outputs, latents)``.

        Args:
            inputs: a batch of inputs.
            training: passed to every block (batch norm, dropout).
            latents: which block outputs to return: ``"shared"`` (|O(i)| >= 2,
                the default), ``"all"``, or an iterable of block names.

        Returns:
            ``({task: output}, {block: Z_i})``; each Z_i is the tensor that
            actually fed the block's children in this call (for a block that
            hands on several tensors, fresh copies of them that only the
            children read, so dL/dZ_i runs through the children alone even
            where one of the tensors is computed from another, as with U-Net
            skip connections).
        """
        tree = self.tree
        if latents == "shared":
            wanted = tree.shared_blocks
        elif latents == "all":
            wanted = tree.topological_order()
        else:
            wanted = tuple(latents)
            unknown = [b for b in wanted if b not in tree.blocks]
            if unknown:
                raise ValueError(f"forward: unknown latent block(s) {unknown}; blocks: {list(tree.blocks)}.")
        x = self._cast_inputs(inputs)
        values = self._walk(tree, self.blocks, x, call=lambda layer, z: _fresh(layer(z, training=training)))
        outputs = {task: values[tree.path(task)[-1]] for task in tree.tasks}
        return outputs, {b: values[b] for b in wanted}

    def _cast_inputs(self, inputs):
        specs = self.input_specs()
        if not isinstance(self._input_spec_config["input_shape"], Mapping):
            x = inputs[specs[0][0]] if isinstance(inputs, Mapping) else inputs
            return ops.cast(x, specs[0][2])
        if isinstance(inputs, Mapping):
            missing = [name for name, _, _ in specs if name not in inputs]
            if missing:
                raise ValueError(f"forward: no value for input(s) {missing}; the inputs are "
                                 f"{[name for name, _, _ in specs]}.")
            inputs = [inputs[name] for name, _, _ in specs]
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(inputs) != len(specs):
            raise ValueError(f"forward: got {len(inputs)} input(s) for the {len(specs)} inputs "
                             f"{[name for name, _, _ in specs]}; pass a list or a {{name: value}} dict.")
        return [ops.cast(x, dtype) for x, (_, _, dtype) in zip(inputs, specs)]

    # ---------------------------------------------------------- serialization
    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "tree": self._tree.to_dict(),
            "blocks": {b: keras.saving.serialize_keras_object(layer) for b, layer in self.blocks.items()},
            **self._input_spec_config,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects=None):
        config = dict(config)
        trainable = config.pop("trainable", True)
        model = cls(**config)
        model.trainable = trainable
        return model

    def with_tree(self, tree: TaskTree, blocks: Mapping[str, keras.layers.Layer], name: str | None = None):
        """A new network of the same class and input spec with another tree and blocks.

        Subclasses with extra constructor arguments inherit them through
        :meth:`get_config`; used by :func:`mtlzoo.peel` and :func:`mtlzoo.split`.
        """
        config = self.get_config()
        config.update(tree=tree.to_dict(), blocks=dict(blocks), name=name or self.name)
        return type(self).from_config(config)
