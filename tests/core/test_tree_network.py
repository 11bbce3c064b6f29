"""TreeNetwork, the builder: dict outputs, one call per block, latents, block errors, saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtlzoo
from mtlzoo.task_tree import TaskTree
from mtlzoo.testing import (
    TINY_INPUT_DIM,
    assert_outputs_close,
    dense_params,
    random_inputs,
    tiny_tree,
    tiny_tree_network,
    to_numpy,
)
from mtlzoo.tree_network import TreeNetwork

X = random_inputs(batch=4, seed=3)


class CountingDense(keras.layers.Dense):
    """A Dense layer that counts its eager calls (Python side effect, so eager only)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0
        self.last_input = None

    def call(self, inputs):
        self.calls += 1
        self.last_input = inputs
        return super().call(inputs)


def _counting_network():
    tree = tiny_tree()
    widths = {"root": 8, "trunk": 6, "branch": 5, "head_a": 2, "head_b": 3, "head_c": 4}
    blocks = {b: CountingDense(widths[b], activation="tanh", name=b) for b in tree.blocks}
    return TreeNetwork(tree, blocks, input_shape=(TINY_INPUT_DIM,)), blocks


# ------------------------------------------------------------------ outputs
def test_outputs_are_a_dict_keyed_by_task():
    net = tiny_tree_network()
    out = net(X)
    assert isinstance(out, dict) and set(out) == {"a", "b", "c"}
    assert [tuple(out[t].shape) for t in ("a", "b", "c")] == [(4, 2), (4, 3), (4, 4)]
    assert net.tasks == ("a", "b", "c") and net.tree == tiny_tree()
    assert set(net.blocks) == set(tiny_tree().blocks)
    predicted = net.predict(X, verbose=0)
    assert_outputs_close(predicted, out, atol=1e-6)


def test_outputs_equal_the_blocks_composed_by_hand():
    net = tiny_tree_network()
    layer = net.block_layer
    z = layer("trunk")(layer("root")(X))
    expected = {"a": layer("head_a")(layer("branch")(z)), "b": layer("head_b")(layer("branch")(z)),
                "c": layer("head_c")(z)}
    assert_outputs_close(net(X), expected, atol=1e-6)


def test_tiny_network_parameter_count_by_hand():
    net = tiny_tree_network()
    expected = (dense_params(3, 8) + dense_params(8, 6) + dense_params(6, 5) + dense_params(5, 2)
                + dense_params(5, 3) + dense_params(6, 4))
    assert net.count_params() == expected == 32 + 54 + 35 + 12 + 18 + 28


@pytest.mark.parametrize("how", ["call", "forward"])
def test_each_block_computed_exactly_once_per_forward_pass(how):
    net, blocks = _counting_network()
    for layer in blocks.values():
        layer.calls = 0
    if how == "call":
        net(X)
    else:
        net.forward(X)
    assert {b: layer.calls for b, layer in blocks.items()} == {b: 1 for b in blocks}
    # structurally too: every block layer appears once in the functional graph
    for layer in blocks.values():
        assert len(layer._inbound_nodes) == 1, layer.name


# ------------------------------------------------------------------ latents
def test_forward_returns_shared_latents_by_default():
    net = tiny_tree_network()
    outputs, latents = net.forward(X)
    assert list(latents) == ["root", "trunk", "branch"]
    assert_outputs_close(outputs, net(X), atol=1e-6)
    _, everything = net.forward(X, latents="all")
    assert set(everything) == set(net.tree.blocks)
    _, some = net.forward(X, latents=["head_c"])
    assert list(some) == ["head_c"]
    assert_outputs_close(some["head_c"], outputs["c"], atol=1e-6)
    with pytest.raises(ValueError, match="'nope'"):
        net.forward(X, latents=["nope"])


def test_forward_accepts_a_dict_input_by_input_name():
    net = tiny_tree_network()
    outputs, _ = net.forward({"inputs": X})
    assert_outputs_close(outputs, net(X), atol=1e-6)


def test_latents_are_the_tensors_the_children_consumed():
    net, blocks = _counting_network()
    _, latents = net.forward(X)
    assert blocks["branch"].last_input is latents["trunk"]
    assert blocks["head_c"].last_input is latents["trunk"]
    assert blocks["head_a"].last_input is latents["branch"]
    assert blocks["trunk"].last_input is latents["root"]


def test_gradient_of_a_task_loss_wrt_a_latent_matches_a_hand_computation():
    # Affine blocks: out_a = (Z W_branch + b) W_a + c, so d sum(out_a) / dZ = 1 (W_branch W_a)^T.
    net = tiny_tree_network(activation=None)
    with tf.GradientTape(persistent=True) as tape:
        outputs, latents = net.forward(X, training=True)
        loss_a = tf.reduce_sum(outputs["a"])
        loss_c = tf.reduce_sum(outputs["c"] ** 2)
    g_trunk = tape.gradient(loss_a, latents["trunk"])
    g_branch = tape.gradient(loss_a, latents["branch"])
    g_c_branch = tape.gradient(loss_c, latents["branch"])
    g_c_trunk = tape.gradient(loss_c, latents["trunk"])
    del tape
    assert g_trunk is not None and g_branch is not None and g_c_trunk is not None
    assert g_c_branch is None  # task c does not go through 'branch'
    w_branch = to_numpy(net.block_layer("branch").kernel)
    w_a = to_numpy(net.block_layer("head_a").kernel)
    w_c, b_c = to_numpy(net.block_layer("head_c").kernel), to_numpy(net.block_layer("head_c").bias)
    ones = np.ones((X.shape[0], w_a.shape[1]), "float32")
    np.testing.assert_allclose(to_numpy(g_branch), ones @ w_a.T, atol=1e-5)
    np.testing.assert_allclose(to_numpy(g_trunk), ones @ w_a.T @ w_branch.T, atol=1e-5)
    z = to_numpy(latents["trunk"])
    np.testing.assert_allclose(to_numpy(g_c_trunk), 2 * (z @ w_c + b_c) @ w_c.T, atol=1e-4)


def test_gradient_through_latent_reaches_shared_parameters():
    net = tiny_tree_network()
    shared = net.block_variables(["root", "trunk"])
    assert len(shared) == 4
    with tf.GradientTape() as tape:
        outputs, latents = net.forward(X, training=True)
        loss = tf.reduce_sum(outputs["b"])
    dz = tape.gradient(loss, latents["trunk"], unconnected_gradients="none")
    assert dz is not None
    with tf.GradientTape() as tape:
        outputs, latents = net.forward(X, training=True)
        loss = tf.reduce_sum(outputs["b"])
    grads = tape.gradient(loss, shared)
    assert all(g is not None for g in grads)
    head_vars = net.block_variables(["head_a"])
    with tf.GradientTape() as tape:
        outputs, _ = net.forward(X, training=True)
        loss = tf.reduce_sum(outputs["b"])
    assert all(g is None for g in tape.gradient(loss, head_vars))


# --------------------------------------------------------------- block errors
def _dense_blocks(tree=None):
    tree = tree or tiny_tree()
    return {b: keras.layers.Dense(2, name=b) for b in tree.blocks}


def test_missing_block_layer_is_named():
    blocks = _dense_blocks()
    del blocks["head_b"]
    with pytest.raises(ValueError, match="'head_b'"):
        TreeNetwork(tiny_tree(), blocks, input_shape=(3,))


def test_extra_block_layer_is_named():
    blocks = _dense_blocks()
    blocks["stray"] = keras.layers.Dense(2, name="stray")
    with pytest.raises(ValueError, match="'stray'"):
        TreeNetwork(tiny_tree(), blocks, input_shape=(3,))


def test_same_layer_object_for_two_blocks_is_rejected():
    blocks = _dense_blocks()
    blocks["head_b"] = blocks["head_a"]
    with pytest.raises(ValueError, match="same layer object") as info:
        TreeNetwork(tiny_tree(), blocks, input_shape=(3,))
    assert "'head_a'" in str(info.value) and "'head_b'" in str(info.value)


def test_duplicate_layer_names_are_rejected():
    blocks = _dense_blocks()
    blocks["head_b"] = keras.layers.Dense(2, name="head_a")
    with pytest.raises(ValueError, match="same name") as info:
        TreeNetwork(tiny_tree(), blocks, input_shape=(3,))
    assert "'head_a'" in str(info.value) and "'head_b'" in str(info.value)


def test_non_layer_block_is_rejected():
    blocks = _dense_blocks()
    blocks["head_b"] = "not a layer"
    with pytest.raises(ValueError, match="'head_b'"):
        TreeNetwork(tiny_tree(), blocks, input_shape=(3,))
    with pytest.raises(ValueError, match="input_shape"):
        TreeNetwork(tiny_tree(), _dense_blocks(), input_shape=None)


def test_tree_given_as_dict_or_json_and_layers_as_configs():
    tree = tiny_tree()
    configs = {b: keras.saving.serialize_keras_object(layer) for b, layer in _dense_blocks().items()}
    from_json = TreeNetwork(tree.to_json(), dict(configs), input_shape=(3,))
    from_dict = TreeNetwork(tree.to_dict(), dict(configs), input_shape=(3,))
    in_spec = TreeNetwork(TaskTree(blocks=configs, paths=tree.paths), input_shape=(3,))
    for net in (from_json, from_dict, in_spec):
        assert net.tree.paths == tree.paths and set(net(X)) == {"a", "b", "c"}
    with pytest.raises(ValueError, match="TaskTree"):
        TreeNetwork(42, _dense_blocks(), input_shape=(3,))


# ----------------------------------------------------------- serialization
def test_get_config_from_config_keeps_tree_and_architecture():
    net = tiny_tree_network()
    clone = TreeNetwork.from_config(net.get_config())
    assert clone.tree == net.tree and clone.count_params() == net.count_params()
    clone.set_weights(net.get_weights())
    assert_outputs_close(clone(X), net(X), atol=1e-6)


@pytest.mark.parametrize("variant", ["plain", "batch_norm", "split"])
def test_keras_file_round_trip_without_custom_objects(tmp_path, variant):
    net = tiny_tree_network(batch_norm=variant == "batch_norm")
    if variant == "batch_norm":
        net(X * 2 + 1, training=True)
    if variant == "split":
        net = mtlzoo.split(net, "trunk", [["branch"], ["head_c"]])
    path = tmp_path / "net.keras"
    net.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is TreeNetwork
    assert loaded.tree == net.tree
    assert_outputs_close(loaded(X), net(X), atol=1e-6)
    assert_outputs_close(loaded.predict(X, verbose=0), net.predict(X, verbose=0), atol=1e-6)
    outputs, latents = loaded.forward(X)
    assert list(latents) == list(net.tree.shared_blocks)
