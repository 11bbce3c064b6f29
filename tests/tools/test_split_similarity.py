"""Split search similarity (seed 000 eqs. 5.1-5.5, 5.7, 5.8) against hand-computed NumPy values."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtlzoo
from mtlzoo.testing import tiny_tree_network
from mtlzoo.tools.split_search import (
    block_importance,
    channel_importance,
    compatibility,
    network_compatibility,
    pre_affine_activations,
    sigmoid_js_divergence,
)


def _sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def _js_one(a, b):
    """Pointwise Jensen-Shannon term of eq. 5.2/5.3 for two scalar pre-activations, written out."""
    p, q = _sigmoid(a), _sigmoid(b)
    m = (p + q) / 2
    return 0.5 * p * math.log(p / m) + 0.5 * q * math.log(q / m)


def _js_loops(z1, z2):
    """Eq. 5.4 without weights by explicit loops: per channel, mean over samples and h*w positions."""
    n, h, w, c = z1.shape
    out = []
    for k in range(c):
        total = 0.0
        for i in range(n):
            for r in range(h):
                for s in range(w):
                    total += _js_one(float(z1[i, r, s, k]), float(z2[i, r, s, k]))
        out.append(total / (n * h * w))
    return np.array(out)


# ------------------------------------------------------------ eqs. 5.1-5.4
def test_js_of_one_neuron_matches_the_hand_computed_value():
    # p = sigma(0) = 0.5, q = sigma(ln 3) = 0.75, m = 0.625:
    # 0.25 ln(0.8) + 0.375 ln(1.2) = -0.0557859 + 0.0683706 = 0.0125847
    got = sigmoid_js_divergence(np.array([[0.0]]), np.array([[math.log(3.0)]]))
    np.testing.assert_allclose(got, [0.25 * math.log(0.8) + 0.375 * math.log(1.2)], rtol=1e-5)
    assert got[0] == pytest.approx(0.0125847, abs=1e-6)


def test_js_per_channel_matches_explicit_loops_over_samples_and_positions():
    rng = np.random.default_rng(1)
    z1 = rng.normal(size=(3, 2, 2, 2)).astype("float32")
    z2 = (z1 + rng.normal(scale=2.0, size=z1.shape)).astype("float32")
    np.testing.assert_allclose(sigmoid_js_divergence(z1, z2), _js_loops(z1, z2), rtol=1e-5, atol=1e-8)


def test_js_averages_positions_rather_than_summing_them():
    z1 = np.zeros((1, 2, 2, 1), "float32")
    z2 = z1.copy()
    z2[0, 1, 0, 0] = math.log(3.0)  # one of the 4 positions differs
    assert sigmoid_js_divergence(z1, z2)[0] == pytest.approx(_js_one(0.0, math.log(3.0)) / 4, rel=1e-5)


def test_js_of_dense_activations_has_one_position_per_channel():
    z1 = np.array([[0.0, 1.0], [2.0, -1.0]], "float32")
    z2 = np.array([[1.0, 1.0], [0.0, -3.0]], "float32")
    expected = [(_js_one(0, 1) + _js_one(2, 0)) / 2, (_js_one(1, 1) + _js_one(-1, -3)) / 2]
    np.testing.assert_allclose(sigmoid_js_divergence(z1, z2), expected, rtol=1e-5)


def test_js_is_zero_for_identical_and_symmetric_and_non_negative():
    rng = np.random.default_rng(2)
    z1 = rng.normal(scale=3.0, size=(5, 3, 3, 4)).astype("float32")
    z2 = rng.normal(scale=3.0, size=(5, 3, 3, 4)).astype("float32")
    np.testing.assert_array_equal(sigmoid_js_divergence(z1, z1), np.zeros(4))
    np.testing.assert_allclose(sigmoid_js_divergence(z1, z2), sigmoid_js_divergence(z2, z1), rtol=1e-6)
    assert np.all(sigmoid_js_divergence(z1, z2) > 0)


def test_js_of_saturated_sigmoids_is_finite():
    z1 = np.array([[-200.0], [200.0]], "float32")
    z2 = np.array([[200.0], [-200.0]], "float32")
    got = sigmoid_js_divergence(z1, z2)
    assert np.all(np.isfinite(got))
    # p = 1, q = 1e-7 (clipped): close to the maximum 0.5 ln 2 of a single term
    assert got[0] == pytest.approx(0.5 * math.log(2.0), abs=1e-5)


def test_js_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        sigmoid_js_divergence(np.zeros((2, 3)), np.zeros((2, 4)))


# ------------------------------------------------------------- eqs. 5.7-5.8
def test_importance_is_abs_gamma_normalized_and_sums_to_one():
    got = channel_importance(np.array([2.0, -1.0, 0.0, 1.0]))
    np.testing.assert_allclose(got, [0.5, 0.25, 0.0, 0.25])
    assert got.sum() == pytest.approx(1.0)


def test_importance_of_all_zero_gamma_is_uniform():
    np.testing.assert_allclose(channel_importance(np.zeros(4)), [0.25] * 4)


def test_compatibility_is_importance_weighted_sum_of_channel_divergences():
    z1 = np.array([[0.0, 1.0, -2.0]], "float32")
    z2 = np.array([[math.log(3.0), 0.0, -2.0]], "float32")
    weights = [0.5, 0.3, 0.2]
    expected = 0.5 * _js_one(0.0, math.log(3.0)) + 0.3 * _js_one(1.0, 0.0) + 0.2 * 0.0
    assert compatibility(z1, z2, weights) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="one weight per channel"):
        compatibility(z1, z2, [0.5, 0.5])


# ------------------------------------------------------ networks (eq. 5.5)
def _bn_tiny_network():
    net = tiny_tree_network(batch_norm=True)
    bn = net.block_layer("trunk").get_layer("bn")
    rng = np.random.default_rng(3)
    gamma, beta, mean, var = (rng.normal(size=6), rng.normal(size=6), rng.normal(size=6), rng.random(6) + 0.5)
    bn.set_weights([w.astype("float32") for w in (gamma, beta, mean, var)])
    return net


def test_pre_affine_activations_match_the_hand_computed_normalization():
    net = _bn_tiny_network()
    x = np.random.default_rng(4).normal(size=(5, 3)).astype("float32")
    w_root, b_root = net.block_layer("root").get_weights()
    w_dense, b_dense = net.block_layer("trunk").get_layer("dense").get_weights()
    _, _, mean, var = net.block_layer("trunk").get_layer("bn").get_weights()
    u = np.tanh(np.tanh(x @ w_root + b_root) @ w_dense + b_dense)  # trunk's input is root's output
    expected = (u - mean) / np.sqrt(var + 1e-3)
    np.testing.assert_allclose(pre_affine_activations(net, "trunk", x).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_block_without_batch_norm_is_a_clear_error():
    net = tiny_tree_network()
    with pytest.raises(ValueError, match="'trunk'.*BatchNormalization in every searched block"):
        pre_affine_activations(net, "trunk", np.zeros((2, 3), "float32"))


def test_block_importance_reads_the_last_batch_norm_gamma():
    net = _bn_tiny_network()
    gamma = net.block_layer("trunk").get_layer("bn").get_weights()[0]
    np.testing.assert_allclose(block_importance(net, "trunk"), np.abs(gamma) / np.abs(gamma).sum(), rtol=1e-6)


def _lenet_pair():
    model = mtlzoo.models.get("lenet_bn_tree", width=2)
    other = mtlzoo.peel(model, "kmnist")
    rng = np.random.default_rng(5)
    for block in ("conv1", "conv2"):  # perturb the copy: weights and batch-norm statistics
        layer = other.block_layer(block)
        layer.set_weights([w + rng.normal(scale=0.3, size=w.shape).astype("float32") for w in layer.get_weights()])
        bn = layer.get_layer("bn")
        g, b, m, v = bn.get_weights()
        bn.set_weights([g, b, m, np.abs(v) + 0.5])
    x = rng.random((12, 28, 28, 1)).astype("float32")
    return model, other, x


def test_network_compatibility_streamed_equals_the_one_batch_result():
    model, other, x = _lenet_pair()
    za, zb = (pre_affine_activations(n, "conv2", x) for n in (model, other))
    importance = 0.5 * (block_importance(model, "conv2") + block_importance(other, "conv2"))
    one_batch = compatibility(za, zb, importance)
    assert one_batch > 0
    labels = {t: np.zeros(12, "int64") for t in model.tasks}
    streamed = network_compatibility(model, other, "conv2", tf.data.Dataset.from_tensor_slices((x, labels)).batch(5))
    assert streamed == pytest.approx(one_batch, rel=1e-5)
    assert network_compatibility(model, other, "conv2", x) == pytest.approx(one_batch, rel=1e-5)  # NumPy input
    assert network_compatibility(other, model, "conv2", x) == pytest.approx(one_batch, rel=1e-5)  # symmetric
    first_two = compatibility(za[:10], zb[:10], importance)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(5)
    assert network_compatibility(model, other, "conv2", ds, max_batches=2) == pytest.approx(first_two, rel=1e-5)


def test_network_compatibility_of_a_network_with_itself_is_zero():
    model, _, x = _lenet_pair()
    assert network_compatibility(model, model, "conv1", x) == 0.0


def test_infinite_dataset_needs_max_batches():
    model, _, x = _lenet_pair()
    ds = tf.data.Dataset.from_tensor_slices(x).batch(4).repeat()
    with pytest.raises(ValueError, match="max_batches"):
        network_compatibility(model, model, "conv1", ds)
    assert network_compatibility(model, model, "conv1", ds, max_batches=2) == 0.0


def test_pre_affine_activations_honour_a_channels_first_batch_norm():
    block = keras.Sequential([keras.layers.Dense(4, name="dense"),
                              keras.layers.Reshape((2, 2), name="reshape"),
                              keras.layers.BatchNormalization(axis=1, name="bn")], name="trunk")
    tree = mtlzoo.TaskTree(["root", "trunk", "h1", "h2"], {"a": ["root", "trunk", "h1"], "b": ["root", "trunk", "h2"]})
    net = mtlzoo.TreeNetwork(tree, {"root": keras.layers.Identity(name="root"), "trunk": block,
                                    "h1": keras.layers.Flatten(name="h1"), "h2": keras.layers.Flatten(name="h2")},
                             input_shape=(3,))
    bn = block.get_layer("bn")
    bn.set_weights([np.ones(2, "float32"), np.zeros(2, "float32"), np.array([1.0, -1.0], "float32"),
                    np.array([4.0, 9.0], "float32")])
    x = np.random.default_rng(6).normal(size=(3, 3)).astype("float32")
    w, b = block.get_layer("dense").get_weights()
    u = (x @ w + b).reshape(3, 2, 2)  # channels on axis 1
    expected = np.stack([(u[:, 0, :] - 1.0) / np.sqrt(4.001), (u[:, 1, :] + 1.0) / np.sqrt(9.001)], axis=-1)
    np.testing.assert_allclose(pre_affine_activations(net, "trunk", x).numpy(), expected, rtol=1e-5, atol=1e-6)
