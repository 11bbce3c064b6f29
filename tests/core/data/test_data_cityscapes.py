"""Cityscapes: targets from tiny files in the official layout, the tfds path on mock data, the missing-data error."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from mtlzoo import data
from mtlzoo.data import DataNotFoundError
from mtlzoo.data.cityscapes_targets import TRAIN_LABEL_IDS, instance_offsets

H, W = 8, 16


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    tf.io.write_file(str(path), tf.io.encode_png(array if array.ndim == 3 else array[..., None]))


def _scene(seed):
    """labelIds, instanceIds and raw disparity of one synthetic 8x16 frame."""
    rng = np.random.default_rng(seed)
    labels = rng.choice([0, 4, 7, 8, 23, 26, 33], size=(H, W)).astype(np.uint8)
    inst = labels.astype(np.uint16)
    labels[2:5, 3:7] = 26
    inst[2:5, 3:7] = 26000  # a car, centre (3, 4.5)
    labels[5:8, 10:14] = 26
    inst[5:8, 10:14] = 26001  # another car, centre (6, 11.5)
    labels[0:2, 12:16] = 29
    inst[0:2, 12:16] = 29000  # a caravan: instance of a class without trainId -> ignored
    disparity = rng.integers(0, 60000, (H, W)).astype(np.uint16)
    disparity[0, :4] = 0
    return labels, inst, disparity


@pytest.fixture
def raw_root(tmp_path):
    root = tmp_path / "cityscapes"
    scenes = {}
    for k, cid in enumerate(["aachen_000000_000019", "bremen_000001_000019"]):
        city = cid.split("_")[0]
        labels, inst, disparity = _scene(k)
        image = np.full((H, W, 3), 40 * (k + 1), np.uint8)
        _png(root / "leftImg8bit" / "val" / city / f"{cid}_leftImg8bit.png", image)
        _png(root / "gtFine" / "val" / city / f"{cid}_gtFine_labelIds.png", labels)
        _png(root / "gtFine" / "val" / city / f"{cid}_gtFine_instanceIds.png", inst)
        _png(root / "disparity" / "val" / city / f"{cid}_disparity.png", disparity)
        scenes[cid] = (labels, inst, disparity)
    return tmp_path, scenes


def test_raw_layout_targets(raw_root):
    root, scenes = raw_root
    ds = data.get("cityscapes", split="val", batch_size=2, data_dir=root, image_size=(H, W))
    xb, yb, wb = next(iter(ds))
    ds.mtlzoo_info.check_batch((xb, yb, wb))
    assert tuple(xb.shape) == (2, H, W, 3) and sorted(yb) == ["disparity", "instance", "semantic"]
    for r, (labels, inst, disparity) in enumerate(scenes.values()):  # sorted by city, unshuffled
        assert float(xb[r, 0, 0, 0]) == pytest.approx(40 * (r + 1) / 255)
        train = {lid: i for i, lid in enumerate(TRAIN_LABEL_IDS)}
        valid = np.isin(labels, TRAIN_LABEL_IDS)
        np.testing.assert_array_equal(wb["semantic"][r], valid)
        np.testing.assert_array_equal(yb["semantic"][r], np.where(valid, np.vectorize(train.get)(
            np.where(valid, labels, 7)), 0))
        offsets, weights = yb["instance"][r].numpy(), wb["instance"][r].numpy()
        np.testing.assert_array_equal(weights, (inst == 26000) | (inst == 26001))
        assert offsets[2, 3].tolist() == [-1.0, -1.5] and offsets[4, 6].tolist() == [1.0, 1.5]
        assert offsets[7, 13].tolist() == [1.0, 1.5] and not offsets[weights == 0].any()
        np.testing.assert_allclose(yb["disparity"][r, ..., 0], np.where(disparity > 0, (disparity - 1.0) / 256, 0))
        np.testing.assert_array_equal(wb["disparity"][r], disparity > 0)


def test_raw_layout_resizes_and_subsets_tasks(raw_root):
    root, _ = raw_root
    ds = data.get("cityscapes", split="validation", batch_size=1, data_dir=root, image_size=(4, 8),
                  tasks=("instance",))
    assert ds.mtlzoo_info.task_names == ("instance",) and ds.mtlzoo_info.task("instance").label_shape == (4, 8, 2)
    for batch in ds:
        ds.mtlzoo_info.check_batch(batch)
        assert tuple(batch[1]["instance"].shape) == (1, 4, 8, 2)


def test_missing_instance_file_is_named(raw_root):
    root, _ = raw_root
    victim = next((root / "cityscapes" / "gtFine").rglob("*_instanceIds.png"))
    victim.unlink()
    with pytest.raises(DataNotFoundError, match="instance file"):
        data.get("cityscapes", split="validation", data_dir=root)


def test_instance_offsets_centre_of_mass():
    ids = np.zeros((5, 5), np.int32)
    ids[[0, 0, 4], [0, 1, 4]] = 24005  # an L-shaped, scattered person instance: centre (4/3, 5/3)
    offsets, weights = instance_offsets(ids)
    np.testing.assert_allclose(offsets.numpy()[4, 4], [4 - 4 / 3, 4 - 5 / 3], rtol=1e-6)
    np.testing.assert_allclose(offsets.numpy()[ids == 24005].sum(0), 0, atol=1e-5)
    assert float(weights.numpy().sum()) == 3


def test_tfds_default_mock_semantic_and_disparity(tmp_path):
    with tfds.testing.mock_data(num_examples=2):
        for task in ("semantic", "disparity"):
            ds = data.get("cityscapes", batch_size=2, data_dir=tmp_path, tasks=(task,), image_size=(16, 32))
            xb, yb, wb = next(iter(ds))
            ds.mtlzoo_info.check_batch((xb, yb, wb))
            assert tuple(xb.shape) == (2, 16, 32, 3) and tuple(yb) == (task,)
            assert tuple(wb[task].shape) == (2, 16, 32)


def _city_rows(ids_by_config):
    def as_dataset(self, split, **kwargs):
        config = self.builder_config.name
        ids = ids_by_config[config]
        rows = {"image_id": np.array(ids), "image_left": np.zeros((len(ids), H, W, 3), np.uint8)}
        if config == "semantic_segmentation":
            rows["segmentation_label"] = np.stack([np.full((H, W, 1), 7 + i, np.uint8) for i in range(len(ids))])
        else:
            rows["image_right"] = rows["image_left"]
            rows["disparity_map"] = np.stack([np.full((H, W, 1), 3 * i, np.uint8) for i in range(len(ids))])
        return tf.data.Dataset.from_tensor_slices(rows)

    return as_dataset


def test_tfds_configs_join_on_image_id(tmp_path):
    ids = ["a_0", "b_1", "c_2"]
    fn = _city_rows({"semantic_segmentation": ids, "stereo_disparity": ids})
    with tfds.testing.mock_data(as_dataset_fn=fn):
        ds = data.get("cityscapes", split="test", batch_size=3, data_dir=tmp_path, tasks=("semantic", "disparity"),
                      image_size=(H, W))
        xb, yb, wb = next(iter(ds))
    np.testing.assert_array_equal(yb["semantic"].numpy()[:, 0, 0], [0, 1, 0])  # labelIds 7, 8, 9 (9: ignored)
    np.testing.assert_array_equal(wb["semantic"].numpy()[:, 0, 0], [1, 1, 0])
    np.testing.assert_array_equal(yb["disparity"].numpy()[:, 0, 0, 0], [0, 3, 6])
    np.testing.assert_array_equal(wb["disparity"].numpy()[:, 0, 0], [0, 1, 1])
    bad = _city_rows({"semantic_segmentation": ids, "stereo_disparity": ["a_0", "x_9", "c_2"]})
    with tfds.testing.mock_data(as_dataset_fn=bad):
        ds = data.get("cityscapes", split="test", batch_size=3, data_dir=tmp_path, tasks=("semantic", "disparity"))
        with pytest.raises(tf.errors.InvalidArgumentError, match="not aligned"):
            next(iter(ds))


def test_missing_cityscapes_says_how_to_get_it(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        data.get("cityscapes", data_dir=tmp_path)
    text = str(err.value)
    assert "instanceIds" in text and "cityscapes-dataset.com" in text and "manual" in text
    assert str(tmp_path / "cityscapes" / "leftImg8bit" / "train") in text
    with pytest.raises(DataNotFoundError, match="gtFine_trainvaltest.zip") as err:
        data.get("cityscapes", data_dir=tmp_path, tasks=("semantic",), download=False)
    assert "dataset_info.json" in str(err.value)
