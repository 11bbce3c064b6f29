"""The ``resnet18_multihead`` and ``resnet50_psp`` zoo entries at tiny widths."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtlzoo
import mtlzoo.models

CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
DENSE = {"semantic": 19, "instance": 2, "disparity": 1}
PSP_INPUT = (48, 80, 3)  # encoder features 6x10: not divisible by the 3- and 6-bins


@pytest.fixture(scope="module")
def r18():
    return mtlzoo.models.get("resnet18_multihead", width=2)


@pytest.fixture(scope="module")
def psp():
    return mtlzoo.models.get("resnet50_psp", width=2, input_shape=PSP_INPUT)


def images(shape, n=2, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, *shape)).astype("float32")


def as_numpy(outputs):
    return {task: keras.ops.convert_to_numpy(value) for task, value in outputs.items()}


def assert_root_shared(model, tasks):
    tree = model.tree
    assert tree.root == "encoder" and tree.shared_blocks == ("encoder",)
    assert tree.tasks_of("encoder") == tuple(tasks)
    assert tree.paths == {t: ("encoder", f"head_{t}") for t in tasks}


# ------------------------------------------------------------------------ resnet18_multihead
def test_r18_builds_with_cifar10_tasks(r18):
    assert "resnet18_multihead" in mtlzoo.models.names()
    assert list(r18.tasks) == CIFAR10
    assert tuple(r18.inputs[0].shape) == (None, 32, 32, 3)
    assert_root_shared(r18, CIFAR10)
    assert tuple(r18.block_layer("encoder").output.shape) == (None, 16)  # 8 * width pooled features
    out = as_numpy(r18(images((32, 32, 3)), training=False))
    assert set(out) == set(CIFAR10)
    assert all(v.shape == (2, 1) and v.dtype == np.float32 for v in out.values())


def test_r18_heads_are_linear_binary():
    model = mtlzoo.models.get("resnet18_multihead", width=2, tasks=["a", "b"])
    for task in ("a", "b"):
        head = model.block_layer(f"head_{task}")
        assert isinstance(head, mtlzoo.heads.MultiLabelHead) and head.num_labels == 1 and not head.hidden_units
        assert head.count_params() == 16 + 1  # one Dense 16 -> 1


def test_r18_celeba_and_overrides():
    model = mtlzoo.models.get("resnet18_multihead", width=2, dataset="celeba")
    assert len(model.tasks) == 40 and len(set(model.tasks)) == 40
    assert model.tasks[:3] == ("5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive")
    assert model.tasks[-3:] == ("Wearing_Necklace", "Wearing_Necktie", "Young")
    assert tuple(model.inputs[0].shape) == (None, 64, 64, 3)
    assert_root_shared(model, model.tasks)
    small = mtlzoo.models.get("resnet18_multihead", width=2, dataset="celeba", tasks=["Smiling", "Male"],
                              input_shape=(16, 16, 3))
    assert small.tasks == ("Smiling", "Male") and tuple(small.inputs[0].shape) == (None, 16, 16, 3)


def test_r18_celeba_order_matches_tfds():
    builder = pytest.importorskip("tensorflow_datasets.datasets.celeb_a.celeb_a_dataset_builder")
    from mtlzoo.models.zoo.resnet18_multihead import CELEBA_ATTRIBUTES

    assert CELEBA_ATTRIBUTES == tuple(builder.ATTR_HEADINGS)


def test_r18_bad_options():
    with pytest.raises(ValueError, match="dataset"):
        mtlzoo.models.get("resnet18_multihead", width=2, dataset="svhn")
    with pytest.raises(ValueError, match="no option"):
        mtlzoo.models.get("resnet18_multihead", depth=34)


def assert_keras_round_trip_and_peel(model, x, tmp_path, peel_task):
    """Plain keras load gives the same tree and outputs; the peeled task gives its output."""
    expected = as_numpy(model(x, training=False))
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, mtlzoo.TreeNetwork) and loaded.tree == model.tree
    got = as_numpy(loaded(x, training=False))
    for task in model.tasks:
        np.testing.assert_allclose(got[task], expected[task], atol=1e-5)
    single = mtlzoo.peel(model, peel_task)
    assert single.tasks == (peel_task,)
    np.testing.assert_allclose(as_numpy(single(x, training=False))[peel_task], expected[peel_task], atol=1e-5)


def test_r18_save_load_and_peel(r18, tmp_path):
    assert r18.tasks == tuple(CIFAR10)
    assert_keras_round_trip_and_peel(r18, images((32, 32, 3)), tmp_path, "cat")


# ----------------------------------------------------------------------------- resnet50_psp
def test_psp_builds_with_dense_heads(psp):
    assert "resnet50_psp" in mtlzoo.models.names()
    assert list(psp.tasks) == list(DENSE)
    assert_root_shared(psp, list(DENSE))
    assert tuple(psp.block_layer("encoder").output.shape) == (None, 6, 10, 64)  # output stride 8, 32 * width
    out = as_numpy(psp(images(PSP_INPUT), training=False))
    for task, channels in DENSE.items():
        assert out[task].shape == (2, 48, 80, channels) and out[task].dtype == np.float32
        head = psp.block_layer(f"head_{task}")
        assert isinstance(head, keras.Model) and head.name == f"head_{task}"
        dense = head.get_layer("dense_head")
        assert dense.task_type == ("classification" if task == "semantic" else "regression")
    layers = psp._flatten_layers(include_self=False, recursive=True)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in layers)


def test_psp_call_without_training_is_inference(psp):
    x = images(PSP_INPUT, n=3, seed=3)
    batch, single = as_numpy(psp(x)), as_numpy(psp(x[:1]))
    for task in DENSE:
        np.testing.assert_allclose(batch[task][:1], single[task], atol=1e-5)


def test_psp_head_param_count(psp):
    c, mid = 64, 16  # encoder channels 32 * width; decoder channels 8 * width = c // 4
    decoder = 4 * (c * mid + 4 * mid) + 9 * (c + 4 * mid) * mid + 4 * mid
    for task, channels in DENSE.items():
        assert psp.block_layer(f"head_{task}").count_params() == decoder + mid * channels + channels


def test_psp_every_variable_gets_a_gradient(psp):
    x = tf.constant(images(PSP_INPUT, n=1))
    with tf.GradientTape() as tape:
        out = psp(x, training=True)
        loss = sum(tf.reduce_mean(tf.square(v)) for v in out.values())
    grads = tape.gradient(loss, psp.trainable_variables)
    missing = [v.path for v, g in zip(psp.trainable_variables, grads) if g is None]
    assert not missing


def test_psp_subset_of_tasks_and_unknown_task():
    model = mtlzoo.models.get("resnet50_psp", width=2, input_shape=(32, 32, 3), tasks=["disparity"],
                              num_classes=5)
    assert model.tasks == ("disparity",) and tuple(model.outputs[0].shape) == (None, 32, 32, 1)
    with pytest.raises(ValueError, match="depth"):
        mtlzoo.models.get("resnet50_psp", width=2, input_shape=(32, 32, 3), tasks=["depth"])


def test_psp_save_load_and_peel(psp, tmp_path):
    assert psp.tasks == tuple(DENSE)
    assert_keras_round_trip_and_peel(psp, images(PSP_INPUT), tmp_path, "instance")


def test_psp_weights_round_trip(psp, tmp_path):
    path = str(tmp_path / "encoder.weights.h5")
    psp.block_layer("encoder").save_weights(path)
    fresh = mtlzoo.models.get("resnet50_psp", width=2, input_shape=PSP_INPUT, weights=path)
    x = images(PSP_INPUT)
    want = keras.ops.convert_to_numpy(psp.block_layer("encoder")(x, training=False))
    got = keras.ops.convert_to_numpy(fresh.block_layer("encoder")(x, training=False))
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_psp_bad_weights_raise(psp, tmp_path):
    missing = str(tmp_path / "nowhere.weights.h5")
    with pytest.raises(ValueError, match="nowhere.weights.h5.*does not exist.*weights=None"):
        mtlzoo.models.get("resnet50_psp", width=2, input_shape=PSP_INPUT, weights=missing)
    with pytest.raises(ValueError, match="does not exist"):
        mtlzoo.models.get("resnet50_psp", width=2, input_shape=PSP_INPUT, weights="imagenet")
    wide = str(tmp_path / "wide.weights.h5")
    mtlzoo.models.get("resnet50_psp", width=3, input_shape=(32, 32, 3)).block_layer("encoder").save_weights(wide)
    with pytest.raises(ValueError, match="wide.weights.h5.*does not match"):
        mtlzoo.models.get("resnet50_psp", width=2, input_shape=PSP_INPUT, weights=wide)
    other = str(tmp_path / "r18.weights.h5")
    mtlzoo.models.get("resnet18_multihead", width=2).block_layer("encoder").save_weights(other)
    with pytest.raises(ValueError, match="r18.weights.h5.*arrays"):
        mtlzoo.models.get("resnet50_psp", width=2, input_shape=PSP_INPUT, weights=other)
    junk = tmp_path / "junk.weights.h5"
    junk.write_text("not hdf5")
    with pytest.raises(ValueError, match="junk.weights.h5.*not a Keras weights file"):
        mtlzoo.models.get("resnet50_psp", width=2, input_shape=PSP_INPUT, weights=str(junk))


# ----------------------------------------------------------------------------- full width
@pytest.mark.slow
def test_default_widths_param_counts():
    r18 = mtlzoo.models.get("resnet18_multihead")
    assert r18.count_params() == 11_178_432 + 10 * (512 + 1)
    psp = mtlzoo.models.get("resnet50_psp")
    assert tuple(psp.block_layer("encoder").output.shape) == (None, 16, 32, 2048)
    c, mid = 2048, 512
    decoder = 4 * (c * mid + 4 * mid) + 9 * (c + 4 * mid) * mid + 4 * mid
    heads = sum(decoder + mid * ch + ch for ch in DENSE.values())
    assert psp.count_params() == 23_561_152 + heads == 92_809_174
