"""Small helpers shared by mtlzoo's tests (and handy in users' own tests).

Everything here is tiny on purpose: widths of 2-8, a handful of samples, so a
test using it runs in milliseconds on a CPU.

>>> from mtlzoo.testing import seed_everything, tiny_tree, tiny_tree_network
>>> seed_everything(0)
>>> tiny_tree().shared_blocks
('root', 'trunk', 'branch')
>>> sorted(tiny_tree_network().tasks)
['a', 'b', 'c']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mtlzoo.seeding import seed_everything  # re-exported: tests and users' tests import it from here
from mtlzoo.task_tree import TaskTree

#: Default widths (output units) of the tiny tree's blocks; heads have 2-4 outputs.
TINY_WIDTHS = {"root": 8, "trunk": 6, "branch": 5, "head_a": 2, "head_b": 3, "head_c": 4, "head_d": 2}
#: Input features of the tiny tree network.
TINY_INPUT_DIM = 3


def tiny_tree(extra_tasks: Sequence[str] = ()) -> TaskTree:
    """The 3-task tree with a branch used across the tests.

    ``root -> trunk -> {branch -> {head_a, head_b}, head_c}``; tasks ``a``, ``b``,
    ``c`` end at ``head_a``, ``head_b``, ``head_c``. Each name in ``extra_tasks``
    (e.g. ``"d"``) adds a head ``head_<name>`` as a further child of ``trunk``, so
    ``trunk`` can be split into groups larger than singletons.
    """
    heads = ["head_a", "head_b", "head_c", *(f"head_{t}" for t in extra_tasks)]
    paths = {
        "a": ["root", "trunk", "branch", "head_a"],
        "b": ["root", "trunk", "branch", "head_b"],
        "c": ["root", "trunk", "head_c"],
    }
    paths.update({t: ["root", "trunk", f"head_{t}"] for t in extra_tasks})
    return TaskTree(blocks=["root", "trunk", "branch", *heads], paths=paths)


def tiny_tree_network(extra_tasks: Sequence[str] = (), activation: str | None = "tanh",
                      batch_norm: bool = False, widths: Mapping[str, int] | None = None,
                      input_dim: int = TINY_INPUT_DIM, name: str = "tiny_tree", model_class=None):
    """A :class:`mtlzoo.TreeNetwork` on :func:`tiny_tree` made of Dense blocks.

    Args:
        extra_tasks: extra tasks hanging off ``trunk`` (see :func:`tiny_tree`).
        activation: activation of the non-head blocks (``None`` makes the whole
            network affine, convenient for hand-computed gradients).
        batch_norm: make ``trunk`` a ``Sequential(Dense, BatchNormalization)``.
        widths: output units per block (defaults: :data:`TINY_WIDTHS`).
        input_dim: features of one input sample.
        name: the model's name.
        model_class: the network class (default :class:`~mtlzoo.TreeNetwork`;
            tests of training pass ``mtlzoo.training.MultiTaskModel``).
    """
    import keras

    from mtlzoo.tree_network import TreeNetwork

    tree = tiny_tree(extra_tasks)
    widths = {**TINY_WIDTHS, **(widths or {})}
    blocks: dict[str, Any] = {}
    for block in tree.blocks:
        units = widths.get(block, 2)
        act = None if block.startswith("head_") else activation
        if block == "trunk" and batch_norm:
            blocks[block] = keras.Sequential(
                [keras.layers.Dense(units, activation=act, name="dense"),
                 keras.layers.BatchNormalization(name="bn")],
                name=block,
            )
        else:
            blocks[block] = keras.layers.Dense(units, activation=act, name=block)
    return (model_class or TreeNetwork)(tree, blocks, input_shape=(input_dim,), name=name)


def random_inputs(batch: int = 4, shape: Sequence[int] = (TINY_INPUT_DIM,), seed: int = 0) -> np.ndarray:
    """A float32 batch of standard-normal inputs from its own generator."""
    return np.random.default_rng(seed).standard_normal((batch, *shape)).astype("float32")


def dense_params(inputs: int, units: int) -> int:
    """Parameters of a Dense layer with a bias, from its shape: ``inputs * units + units``."""
    return inputs * units + units


def layer_params(layer) -> int:
    """All parameters (trainable and not) of one layer, counted from its variables."""
    return int(sum(int(np.prod(v.shape)) for v in layer.weights))


def to_numpy(value):
    """A tensor, array or dict/list of them as NumPy."""
    if isinstance(value, Mapping):
        return {k: to_numpy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_numpy(v) for v in value)
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value))


def assert_outputs_close(actual, expected, atol: float = 1e-5) -> None:
    """Assert two outputs (tensors, arrays, or dicts / lists of them) agree within ``atol``.

    Dicts must have the same keys; shapes must match exactly.
    """
    actual, expected = to_numpy(actual), to_numpy(expected)
    if isinstance(expected, Mapping):
        assert isinstance(actual, Mapping), f"expected a dict of outputs, got {type(actual).__name__}"
        assert set(actual) == set(expected), f"output keys differ: {sorted(actual)} vs {sorted(expected)}"
        for key in expected:
            _assert_array_close(actual[key], expected[key], atol, key)
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{len(actual)} outputs vs {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            _assert_array_close(a, e, atol, i)
    else:
        _assert_array_close(actual, expected, atol, None)


def _assert_array_close(actual, expected, atol, key) -> None:
    where = "" if key is None else f" (output {key!r})"
    assert actual.shape == expected.shape, f"shapes differ{where}: {actual.shape} vs {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol, err_msg=f"outputs differ{where}")


def weights_snapshot(model) -> list[np.ndarray]:
    """Copies of every variable of ``model`` (trainable and not), for before/after checks."""
    return [np.array(w, copy=True) for w in model.get_weights()]


__all__ = ["TINY_INPUT_DIM", "TINY_WIDTHS", "assert_outputs_close", "dense_params", "layer_params",
           "random_inputs", "seed_everything", "tiny_tree", "tiny_tree_network", "to_numpy",
           "weights_snapshot"]
