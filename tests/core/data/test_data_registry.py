"""The dataset registry, the metadata and the dataset/model checks, and the array pipeline."""

from __future__ import annotations

import pickle

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtlzoo import data
from mtlzoo.data import DataNotFoundError, DatasetInfo, TaskInfo
from mtlzoo.data.pipeline import array_dataset

ALL = ("celeba", "cifar10", "cityscapes", "mnist_triple", "multidigits", "multimnist", "multimnist_shift",
       "visual_decathlon")


def test_names_info_and_unknown_names():
    assert set(ALL) <= set(data.names())
    for name in ALL:
        meta = data.info(name)
        assert meta.name == name and meta.tasks and meta.input_shape[-1] in (1, 3)
        assert all(t.head in ("classification", "binary", "dense") for t in meta.tasks)
        assert meta.to_dict()["tasks"][0]["units"] == meta.tasks[0].units
    assert data.info("cityscapes").task("semantic").units == 19
    assert data.info("cityscapes").task("instance").units == 2
    assert data.info("visual_decathlon").task("omniglot").num_classes == 1623
    with pytest.raises(ValueError, match="Known datasets: .*multimnist"):
        data.get("multi_mnist")
    with pytest.raises(ValueError, match="Known datasets"):
        data.info("nope")


def test_options_are_checked_and_config_dicts_accepted():
    with pytest.raises(ValueError, match=r"no option\(s\) \['colour'\].*drop_remainder"):
        data.get("multidigits", colour=True)
    with pytest.raises(ValueError, match="no split 'validation'"):
        data.get("multidigits", split="validation")
    with pytest.raises(ValueError, match="batch_size"):
        data.get("multidigits", batch_size=0)
    ds = data.get({"class_name": "multidigits", "config": {"split": "test", "batch_size": 360}})
    assert [int(x.shape[0]) for x, _ in ds] == [360]
    assert data.get(ds) is ds
    with pytest.raises(ValueError, match="existing dataset"):
        data.get(ds, batch_size=3)


def test_register_a_custom_dataset():
    def toy(split="train", batch_size=2, data_dir=None, seed=0, scale=1.0):
        x = tf.fill([batch_size, 3], scale)
        return tf.data.Dataset.from_tensors((x, {"t": tf.zeros([batch_size], tf.int32)}))

    meta = DatasetInfo("toy_registry_test", "a toy", (3,), (TaskInfo("t", "classification", 2),), batch_size=5)
    data.register("toy_registry_test", toy, meta)
    ds = data.get("toy_registry_test", scale=2.0)
    x, _ = next(iter(ds))
    assert tuple(x.shape) == (5, 3) and float(x[0, 0]) == 2.0 and data.info("toy_registry_test") is meta


def _model(input_shape, units):
    inputs = keras.Input(input_shape)
    flat = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, {t: keras.layers.Dense(u, name=t)(flat) for t, u in units.items()})


def test_dataset_model_checks():
    meta = data.info("multimnist")
    meta.check_model(_model((28, 28, 1), {"left": 10, "right": 10}))
    meta.check((None, 28, 28, 1), {"left": 10, "right": None})
    with pytest.raises(ValueError, match="inputs of shape .*32, 32, 3"):
        meta.check_model(_model((32, 32, 3), {"left": 10, "right": 10}))
    with pytest.raises(ValueError, match=r"labels in \[0, 10\) but its head has only 9"):
        meta.check_model(_model((28, 28, 1), {"left": 10, "right": 9}))
    with pytest.raises(ValueError, match=r"no output for task\(s\) \['right'\]"):
        meta.check((28, 28, 1), {"left": 10})
    with pytest.raises(ValueError, match=r"output\(s\) \['middle'\]"):
        meta.check((28, 28, 1), {"left": 10, "right": 10, "middle": 10})
    with pytest.raises(ValueError, match="binary"):
        data.info("cifar10").check((32, 32, 3), {c: 3 for c in data.info("cifar10").task_names})
    with pytest.raises(ValueError, match="regresses 2 value"):
        data.info("cityscapes").check(None, {"semantic": 19, "instance": 1, "disparity": 1})
    with pytest.raises(ValueError, match="dict"):
        meta.check_model(keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten()]))


def test_check_batch_catches_bad_labels():
    meta = DatasetInfo("toy", "", (2,), (TaskInfo("a", "classification", 3), TaskInfo("b", "binary", None, (1,),
                                                                                     "float32")))
    x = np.zeros((2, 2), np.float32)
    meta.check_batch((x, {"a": np.array([0, 2], np.int32), "b": np.array([[0.0], [1.0]], np.float32)}))
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        meta.check_batch((x, {"a": np.array([0, 3], np.int32), "b": np.zeros((2, 1), np.float32)}))
    with pytest.raises(ValueError, match="binary labels"):
        meta.check_batch((x, {"a": np.array([0, 1], np.int32), "b": np.full((2, 1), 0.5, np.float32)}))
    with pytest.raises(ValueError, match="dtype"):
        meta.check_batch((x, {"a": np.array([0, 1], np.int64), "b": np.zeros((2, 1), np.float32)}))
    with pytest.raises(ValueError, match="input batch"):
        meta.check_batch((np.zeros((2, 3)), {"a": np.array([0, 1], np.int32), "b": np.zeros((2, 1), np.float32)}))
    with pytest.raises(ValueError, match="kind"):
        TaskInfo("c", "ranking")


def test_data_not_found_error_pickles_and_lists_paths():
    err = DataNotFoundError("mnist", ["/a/mnist.npz", "/b/mnist"], "download it", cause="offline")
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and "/b/mnist" in str(err) and "offline" in str(err)


def test_array_pipeline_is_deterministic_and_reshuffles_each_epoch():
    x = np.arange(40, dtype=np.uint8).reshape(10, 2, 2)
    labels = {"t": np.arange(10, dtype=np.int32)}

    def epochs(seed):
        ds = array_dataset(x, labels, batch_size=4, seed=seed)
        return [np.concatenate([y["t"].numpy() for _, y in ds]) for _ in range(2)]

    first, again, other = epochs(1), epochs(1), epochs(2)
    assert sorted(first[0].tolist()) == list(range(10))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1]) and not np.array_equal(first[0], other[0])
    xb, yb = next(iter(array_dataset(x, labels, batch_size=3, shuffle=False, drop_remainder=True)))
    np.testing.assert_allclose(xb.numpy()[:, :, :, 0], x[:3] / 255.0, rtol=1e-6)
    assert len(list(array_dataset(x, labels, batch_size=3, shuffle=False, drop_remainder=True))) == 3


def test_metadata_round_trips_through_dicts():
    import json

    for name in ALL:
        meta = data.info(name)
        assert DatasetInfo.from_dict(json.loads(json.dumps(meta.to_dict()))) == meta


def test_validate_before_training():
    ds = data.get("multidigits", split="test", batch_size=16)
    assert data.validate(ds, _model((28, 28, 1), {"left": 10, "right": 10}), batches=2).name == "multidigits"
    with pytest.raises(ValueError, match="only 2 output"):
        data.validate(ds, _model((28, 28, 1), {"left": 10, "right": 2}))
    bare = ds.map(lambda x, y: (x, {"left": y["left"] + 10, "right": y["right"]}))
    with pytest.raises(ValueError, match="carries no metadata"):
        data.validate(bare)
    with pytest.raises(ValueError, match=r"task 'left': labels span \[1\d, 19\]"):
        data.validate(bare, info=data.info("multidigits"))
