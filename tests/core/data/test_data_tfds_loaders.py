"""CIFAR-10 one-vs-rest, CelebA and Visual Decathlon, offline on tfds.testing.mock_data (and tiny local files)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from mtlzoo import data
from mtlzoo.data.catalog import CELEBA_ATTRIBUTES, CIFAR10_CLASSES, DECATHLON_TASKS


def _examples(features):
    """An ``as_dataset_fn`` for tfds' mock yielding the given list of feature dicts."""

    def as_dataset(self, split, **kwargs):
        rows = features(self, split)
        return tf.data.Dataset.from_tensor_slices({k: np.stack([r[k] for r in rows]) for k in rows[0]})

    return as_dataset


def test_cifar10_default_mock_gives_ten_binary_tasks(tmp_path):
    with tfds.testing.mock_data(num_examples=6):
        ds = data.get("cifar10", batch_size=4, data_dir=tmp_path)
        xb, yb = next(iter(ds))
    assert tuple(yb) == CIFAR10_CLASSES and tuple(xb.shape) == (4, 32, 32, 3) and xb.dtype.name == "float32"
    ds.mtlzoo_info.check_batch((xb, yb))
    assert all(tuple(y.shape) == (4, 1) and y.dtype.name == "float32" for y in yb.values())
    np.testing.assert_array_equal(np.concatenate([yb[c] for c in CIFAR10_CLASSES], 1).sum(1), 1.0)


def test_cifar10_labels_follow_the_source_labels(tmp_path):
    labels = np.array([3, 0, 9, 3, 5, 1, 8])

    def rows(builder, split):
        return [{"id": f"r{i}", "image": np.full((32, 32, 3), 10 * i, np.uint8), "label": np.int64(y)}
                for i, y in enumerate(labels)]

    with tfds.testing.mock_data(as_dataset_fn=_examples(rows)):
        ds = data.get("cifar10", split="test", batch_size=7, data_dir=tmp_path, tasks=("cat", "airplane"))
        xb, yb = next(iter(ds))
    assert sorted(yb) == ["airplane", "cat"]
    np.testing.assert_array_equal(yb["cat"].numpy()[:, 0], labels == 3)
    np.testing.assert_array_equal(yb["airplane"].numpy()[:, 0], labels == 0)
    np.testing.assert_allclose(xb.numpy()[:, 0, 0, 0], 10 * np.arange(7) / 255, rtol=1e-6)


def test_cifar10_reads_the_keras_pickle_folder(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    flat = rng.integers(0, 256, (5, 3072), dtype=np.uint8)
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({b"data": flat, b"labels": [4, 4, 2, 0, 7]}, fh)
    xb, yb = next(iter(data.get("cifar10", split="test", batch_size=5, data_dir=tmp_path, download=False)))
    np.testing.assert_array_equal(yb["deer"].numpy()[:, 0], [1, 1, 0, 0, 0])
    np.testing.assert_allclose(xb.numpy()[1, 0, 0], flat[1, [0, 1024, 2048]] / 255, rtol=1e-6)  # CHW -> HWC


def test_celeba_mock_gives_forty_attributes_at_64px(tmp_path):
    with tfds.testing.mock_data(num_examples=5):
        ds = data.get("celeba", split="validation", batch_size=5, data_dir=tmp_path)
        xb, yb = next(iter(ds))
    assert tuple(yb) == CELEBA_ATTRIBUTES and len(yb) == 40
    assert tuple(xb.shape) == (5, 64, 64, 3) and xb.dtype.name == "float32"
    assert 0.0 <= float(tf.reduce_min(xb)) and float(tf.reduce_max(xb)) <= 1.0
    ds.mtlzoo_info.check_batch((xb, yb))


def test_celeba_labels_follow_the_source_attributes(tmp_path):
    pattern = np.random.default_rng(1).integers(0, 2, (6, 40)).astype(bool)

    def rows(builder, split):
        return [{"image": np.zeros((218, 178, 3), np.uint8),
                 "attributes": {a: pattern[i, j] for j, a in enumerate(CELEBA_ATTRIBUTES)},
                 "landmarks": {}, "identity": {}} for i in range(6)]

    def as_dataset(self, split, **kwargs):
        rows_ = rows(self, split)
        return tf.data.Dataset.from_tensor_slices({
            "image": np.stack([r["image"] for r in rows_]),
            "attributes": {a: pattern[:, j] for j, a in enumerate(CELEBA_ATTRIBUTES)}})

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        ds = data.get("celeba", split="test", batch_size=6, data_dir=tmp_path, tasks=("Smiling", "Male"),
                      image_size=(32, 24))
        xb, yb = next(iter(ds))
    assert tuple(xb.shape) == (6, 32, 24, 3) and ds.mtlzoo_info.input_shape == (32, 24, 3)
    for name in ("Smiling", "Male"):
        np.testing.assert_array_equal(yb[name].numpy()[:, 0], pattern[:, CELEBA_ATTRIBUTES.index(name)])


def _decathlon_rows(builder, split):
    task = builder.builder_config.name
    code = list(c for c, _ in DECATHLON_TASKS.values()).index(task)
    n = 5 + code
    labels = np.full(n, -1) if split == "test" else np.arange(n) % DECATHLON_TASKS[
        [t for t, (c, _) in DECATHLON_TASKS.items() if c == task][0]][1]
    return [{"name": f"{task}{i}", "image": np.full((90, 72, 3), code * 20, np.uint8), "label": np.int64(y)}
            for i, y in enumerate(labels)]


def test_visual_decathlon_mock_has_nine_tasks_with_separate_inputs(tmp_path):
    with tfds.testing.mock_data(num_examples=4):
        ds = data.get("visual_decathlon", batch_size=4, data_dir=tmp_path)
        batches = list(ds)
    names = tuple(DECATHLON_TASKS)
    assert len(names) == 9 and "vgg_flowers" in names and "imagenet12" not in names
    assert len(batches) == 9  # 9 x 4 examples / 4 per batch, round robin
    for i, (xb, yb, wb) in enumerate(batches):
        ds.mtlzoo_info.check_batch((xb, yb, wb))
        assert tuple(xb.shape) == (4, 72, 72, 3) and tuple(yb) == names
        assert [t for t in names if float(wb[t].numpy().sum()) > 0] == [names[i]]


def test_visual_decathlon_masks_and_unlabelled_test_rows(tmp_path):
    tasks = ("svhn", "dtd", "omniglot")
    with tfds.testing.mock_data(as_dataset_fn=_examples(_decathlon_rows)):
        mixed = next(iter(data.get("visual_decathlon", batch_size=6, data_dir=tmp_path, tasks=tasks, mode="mixed")))
        test = list(data.get("visual_decathlon", split="test", batch_size=4, data_dir=tmp_path, tasks=tasks))
    xb, yb, wb = mixed
    codes = np.rint(xb.numpy()[:, 0, 0, 0] * 255 / 20).astype(int)
    owner = {list(c for c, _ in DECATHLON_TASKS.values()).index(DECATHLON_TASKS[t][0]): t for t in tasks}
    for r, code in enumerate(codes):
        for t in tasks:
            assert float(wb[t][r]) == float(owner[code] == t)
    assert all(float(w.numpy().sum()) == 0 for _, _, wd in test for w in wd.values())  # labels are -1
    assert all(int(y.numpy().min()) >= 0 for _, yd, _ in test for y in yd.values())
    assert sum(int(x.shape[0]) for x, _, _ in test) == (5 + 6) + (5 + 3) + (5 + 5)


def test_visual_decathlon_curriculum_and_errors(tmp_path):
    with tfds.testing.mock_data(num_examples=3):
        ds = data.get("visual_decathlon", batch_size=2, data_dir=tmp_path, tasks=("svhn", "gtsrb"),
                      curriculum="temperature")
        assert ds.mtlzoo_curriculum.tasks == ("svhn", "gtsrb")
        assert len(list(ds)) == 3
    with pytest.raises(ValueError, match="no task 'imagenet12'"):
        data.get("visual_decathlon", tasks=("imagenet12", "svhn"))
    with pytest.raises(ValueError, match="two or more"):
        data.get("visual_decathlon", tasks=("svhn",))
