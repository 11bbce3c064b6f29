"""The LeNet zoo entries: structure, hand-counted parameters, peel/split, .keras round trips."""

import keras
import numpy as np
import pytest

import mtlzoo
from mtlzoo.testing import assert_outputs_close, to_numpy

ZOO = mtlzoo.models.names()
LENETS = ("multimnist_lenet", "lenet_bn_tree", "cross_stitch_lenet")


def conv_params(k, in_ch, out_ch):
    return k * k * in_ch * out_ch + out_ch


def dense_params(n_in, n_out):
    return n_in * n_out + n_out


def bn_params(channels):
    return 4 * channels  # gamma, beta, moving mean, moving variance


def _images(model, batch=2, seed=0):
    shape = tuple(model.inputs[0].shape[1:])
    return np.random.default_rng(seed).random((batch, *shape)).astype("float32")


def test_zoo_lists_the_lenet_models():
    assert set(LENETS) <= set(ZOO)
    assert list(ZOO) == sorted(ZOO)


def test_multimnist_lenet_parameter_count_by_hand():
    # seed 002: conv 10@5x5 on 1 channel, conv 20@5x5 on 10 channels, FC 320 -> 50 (28 -> 24 -> 12 -> 8 -> 4;
    # 4 * 4 * 20 = 320), then per task FC 50 -> 50 and FC 50 -> 10.
    trunk = conv_params(5, 1, 10) + conv_params(5, 10, 20) + dense_params(320, 50)
    per_task = dense_params(50, 50) + dense_params(50, 10)
    assert (trunk, per_task) == (21330, 3060)
    model = mtlzoo.models.get("multimnist_lenet")
    assert model.count_params() == trunk + 2 * per_task == 27450
    assert model.tasks == ("left", "right")
    assert model.tree.shared_blocks == ("trunk",)
    assert tuple(model.inputs[0].shape[1:]) == (28, 28, 1)
    assert {t: tuple(y.shape) for t, y in model(_images(model)).items()} == {"left": (2, 10), "right": (2, 10)}


def test_lenet_bn_tree_parameter_count_by_hand():
    # seed 000 §4.5: conv1 w@5x5 + BN, conv2 2w@5x5 + BN (-> 4 * 4 * 2w), one FC to each task's 10 classes.
    w = 10
    conv1 = conv_params(5, 1, w) + bn_params(w)
    conv2 = conv_params(5, w, 2 * w) + bn_params(2 * w)
    head = dense_params(4 * 4 * 2 * w, 10)
    assert (conv1, conv2, head) == (300, 5100, 3210)
    model = mtlzoo.models.get("lenet_bn_tree", width=10)
    assert model.count_params() == conv1 + conv2 + 3 * head == 15030
    assert model.tasks == ("mnist", "fashion_mnist", "kmnist")
    assert model.tree.root == "input" and model.tree.shared_blocks == ("input", "conv1", "conv2")
    assert all(len(model.tree.path(t)) == 4 for t in model.tasks)


def test_cross_stitch_lenet_parameter_count_by_hand():
    column = conv_params(5, 1, 10) + conv_params(5, 10, 20) + dense_params(320, 50)
    stitches = 3 * 2 * 2  # one 2x2 unit after each of the three stages
    head = dense_params(50, 50) + dense_params(50, 10)
    model = mtlzoo.models.get("cross_stitch_lenet")
    assert model.count_params() == 2 * column + stitches + 2 * head == 48792


def test_cross_stitch_lenet_starts_with_rows_summing_to_one():
    model = mtlzoo.models.get("cross_stitch_lenet", width=2, alpha_self=0.8)
    units = [l for l in model.block_layer("columns").layers if isinstance(l, mtlzoo.layers.CrossStitch)]
    assert len(units) == 3
    for unit in units:
        alpha = to_numpy(unit.alpha)
        np.testing.assert_allclose(alpha, [[0.8, 0.2], [0.2, 0.8]], atol=1e-6)


def test_options_and_task_names():
    model = mtlzoo.models.get("lenet_bn_tree", tasks=["p", "q"], width=2, num_classes=3)
    assert model.tasks == ("p", "q")
    assert {t: tuple(y.shape) for t, y in model(_images(model)).items()} == {"p": (2, 3), "q": (2, 3)}
    with pytest.raises(ValueError, match="'colour'"):
        mtlzoo.models.get("lenet_bn_tree", colour="red")
    with pytest.raises(ValueError, match="2 tasks"):
        mtlzoo.models.get("cross_stitch_lenet", tasks=["solo"], width=2)


@pytest.mark.parametrize("name", ZOO)
def test_zoo_entry_keras_round_trip(tmp_path, name):
    model = mtlzoo.models.get(name, width=2)
    x = _images(model)
    expected = model(x, training=False)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.tree == model.tree
    assert loaded.count_params() == model.count_params()
    assert_outputs_close(loaded(x, training=False), expected, atol=1e-6)


@pytest.mark.parametrize("name", LENETS)
def test_lenet_peel_keeps_each_task_output(name):
    model = mtlzoo.models.get(name, width=2)
    x = _images(model)
    reference = to_numpy(model(x))
    for task in model.tasks:
        assert_outputs_close(mtlzoo.peel(model, task)(x), {task: reference[task]}, atol=1e-5)


def test_lenet_bn_tree_split_after_training_mode_calls():
    model = mtlzoo.models.get("lenet_bn_tree", width=2)
    x = _images(model, batch=4)
    for _ in range(2):
        model(x, training=True)
    reference = to_numpy(model(x, training=False))
    wider = mtlzoo.split(model, "conv2", [["head_mnist"], ["head_fashion_mnist", "head_kmnist"]])
    assert_outputs_close(wider(x, training=False), reference, atol=1e-5)
    conv2 = sum(int(np.prod(v.shape)) for v in model.block_layer("conv2").weights)
    assert wider.count_params() - model.count_params() == conv2
    deeper = mtlzoo.split(wider, "conv1", [["conv2_1"], ["conv2_2"]])
    assert_outputs_close(deeper(x, training=False), reference, atol=1e-5)
    assert deeper.tree.shared_blocks == ("input", "conv1_2", "conv2_2")
    assert deeper.tree.path("fashion_mnist") == ("input", "conv1_2", "conv2_2", "head_fashion_mnist")
