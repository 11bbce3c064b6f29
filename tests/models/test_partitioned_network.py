"""PartitionedNetwork (masks every other layer, per-task BN and momentum) and pruning (seed 004 §3, A.2)."""

import os
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtlzoo.models.partitioned_network import PartitionedNetwork
from mtlzoo.tools.partition_search import masks_for_widths, prune, pruned_parameter_count

# conv1 (4 channels): ch0 a only, ch1 shared, ch2-3 b only; a does not train the shared ch1, b not ch3.
M_F1 = np.array([[1, 0], [1, 1], [0, 1], [0, 1]])
M_B1 = np.array([[1, 0], [0, 1], [0, 1], [0, 0]])
# dense (6 units): u0-1 a only, u2 shared (trained by b only), u3-5 b only.
M_F2 = np.array([[1, 0], [1, 0], [1, 1], [0, 1], [0, 1], [0, 1]])
M_B2 = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 1], [0, 1]])
N = 16


def _network(**kwargs):
    net = PartitionedNetwork({"a": 3, "b": 2}, masks=[M_F1, M_F2], backward_masks=[M_B1, M_B2],
                             width=4, hidden=6, **kwargs)
    net.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return net


def _batch(seed=0, a=1.0, b=1.0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(N, 28, 28, 1)).astype("float32")
    y = {"a": rng.integers(0, 3, N), "b": rng.integers(0, 2, N)}
    w = {"a": np.full(N, a, "float32"), "b": np.full(N, b, "float32")}
    return x, y, w


def _state(net):
    return {v.path: keras.ops.convert_to_numpy(v).copy() for v in net.weights}


def test_task_gradients_are_exactly_zero_outside_backward_masks():
    net = _network()
    x, y, w = _batch()
    net.train_on_batch(x, y, sample_weight=w)  # a real train step first: BN statistics and weights moved
    with tf.GradientTape(persistent=True) as tape:
        y_pred = net(x, training=True)
        loss = net.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=w)
    grads = net.task_gradients(x, y_pred, loss, tape)
    for t, task in enumerate(net.tasks):
        owned = net.variable_masks(task)
        inside = 0
        for v, g in zip(net.trainable_variables, grads[t]):
            g = keras.ops.convert_to_numpy(g)
            assert np.all(g[owned[v.path] == 0] == 0.0), f"task {task}: gradient outside m_b in {v.path}"
            inside += np.count_nonzero(g[owned[v.path] == 1])
        assert inside > 0.9 * sum(m.sum() for m in owned.values())


def test_weights_outside_every_backward_mask_never_move():
    net = _network()
    x, y, w = _batch()
    net(x)
    before = _state(net)
    net.fit(x, y, sample_weight=w, batch_size=8, epochs=2, verbose=0)
    after = _state(net)
    trained = {p: net.variable_masks("a")[p] + net.variable_masks("b")[p] for p in net.variable_masks("a")}
    for v in net.trainable_variables:
        frozen = trained[v.path] == 0
        np.testing.assert_array_equal(after[v.path][frozen], before[v.path][frozen])
        assert frozen.all() or np.any(after[v.path][~frozen] != before[v.path][~frozen]), v.path
    assert net.conv1.kernel.path in trained and (trained[net.conv1.kernel.path][..., 3] == 0).all()


def test_batches_without_task_b_leave_its_weights_momentum_and_statistics_bit_identical():
    net = _network()
    for seed in range(2):  # task b batches: b's momentum slots fill up
        net.train_on_batch(*_batch(seed, a=0.0))
    only_b = {p: (m == 0) for p, m in net.variable_masks("a", backward=True).items()}
    before = _state(net)
    b_slots = [s.path for s in net._slots[1]]
    assert any(np.any(before[p] != 0) for p in b_slots)
    for seed in range(2, 5):  # task a batches
        net.train_on_batch(*_batch(seed, b=0.0))
    after = _state(net)
    for v in net.trainable_variables:
        np.testing.assert_array_equal(after[v.path][only_b[v.path]], before[v.path][only_b[v.path]], err_msg=v.path)
    b_state = b_slots + [v.path for n in (net.bn1.norms[1], net.bn2.norms[1]) for v in n.non_trainable_variables]
    for p in b_state:
        np.testing.assert_array_equal(after[p], before[p], err_msg=p)
    a_state = [s.path for s in net._slots[0]] + [v.path for v in net.bn1.norms[0].non_trainable_variables]
    assert all(np.any(after[p] != before[p]) for p in a_state[:1] + a_state[-2:])  # a did train


def test_fit_evaluate_predict_save_load(tmp_path):
    net = _network(learning_rate=0.01, momentum=0.5)
    x, y, w = _batch()
    data = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(8)
    history = net.fit(data, epochs=1, verbose=0, shuffle=False)
    assert {"loss", "a_loss", "b_loss", "a_accuracy", "b_accuracy"} <= set(history.history)
    logs = net.evaluate(x, y, verbose=0, return_dict=True)
    assert np.isfinite(logs["loss"])
    predicted = net.predict(x, verbose=0)
    assert predicted["a"].shape == (N, 3) and predicted["b"].shape == (N, 2)
    net.save(tmp_path / "net.keras")
    loaded = keras.models.load_model(tmp_path / "net.keras")
    assert loaded.momentum == 0.5 and abs(float(loaded.optimizer.learning_rate) - 0.01) < 1e-9
    for task in net.tasks:
        np.testing.assert_array_equal(loaded.predict(x, verbose=0)[task], predicted[task])
    for a, b in zip(net.weights, loaded.weights):  # masks, BN statistics and momentum slots included
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    clone = PartitionedNetwork.from_config(net.get_config())
    np.testing.assert_array_equal(clone.masks(backward=True)[0], net.masks(backward=True)[0])
    loaded.fit(data, epochs=1, verbose=0, shuffle=False)  # training resumes
    with pytest.raises(ValueError, match="one momentum slot per task"):
        net.compile(optimizer="adam", loss="mse")


def test_partition_matrix_gives_each_task_its_share_of_every_shared_layer():
    P = np.array([[0.5, 0.25], [0.25, 0.75]])
    net = PartitionedNetwork(["a", "b"], partition=P, width=8, hidden=16)
    net(np.zeros((1, 28, 28, 1), "float32"))
    expected = masks_for_widths(P, [8, 16])
    np.testing.assert_array_equal(net.masks()[0], expected[0].T)
    for t, task in enumerate(net.tasks):
        used = net.variable_masks(task, backward=False)
        for layer in (net.conv1, net.conv2, net.dense):
            share = used[layer.kernel.path].mean()
            assert share == pytest.approx(P[t, t]), (task, layer.name)  # every other layer: P_ii, not P_ii²


def test_pruned_network_matches_masked_outputs_with_fewer_parameters():
    net = _network()
    for seed in range(3):
        net.train_on_batch(*_batch(seed))
    x, _, _ = _batch(9)
    outputs = net.predict(x, verbose=0)
    full = sum(int(np.prod(v.shape)) for v in net.weights if "momentum" not in v.path and "mask" not in v.path)
    for task in net.tasks:
        small = prune(net, task)
        np.testing.assert_allclose(small.predict(x, verbose=0), outputs[task], atol=1e-5, rtol=0)
        assert small.count_params() == pruned_parameter_count(net, task) < full
    assert pruned_parameter_count(net, "a") == 25 * 2 + 4 * 2 + 25 * 2 * 8 + 4 * 8 + (16 * 8 + 1) * 3 + (3 + 1) * 3
    with pytest.raises(ValueError, match="Unknown task 'c'"):
        prune(net, "c")


def _mnist_path():
    default = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist.npz"
    return Path(os.environ.get("MTLZOO_TEST_MNIST", default))


@pytest.mark.skipif(not _mnist_path().exists(), reason="real MNIST (mnist.npz) not found")
def test_digit_and_parity_train_above_chance_on_real_mnist():
    with np.load(_mnist_path()) as data:
        x_train, y_train = data["x_train"][:640], data["y_train"][:640]
        x_test, y_test = data["x_test"][:300], data["y_test"][:300]

    def prepare(images, labels):
        return (images[..., None] / 255.0).astype("float32"), {"digit": labels, "parity": labels % 2}

    P = np.array([[0.75, 0.5], [0.5, 0.75]])
    net = PartitionedNetwork({"digit": 10, "parity": 2}, partition=P, width=6, hidden=32, learning_rate=0.02)
    net.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    net.fit(*prepare(x_train, y_train), batch_size=32, epochs=1, verbose=0)
    logs = net.evaluate(*prepare(x_test, y_test), verbose=0, return_dict=True)
    assert logs["digit_accuracy"] > 0.25 and logs["parity_accuracy"] > 0.65, logs  # chance: 0.1 and 0.5
