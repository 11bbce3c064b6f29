"""MultiDigits, the embedded default: no files, fixed split, labels traced back to scikit-learn's digits."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from mtlzoo import data
from mtlzoo.data.multidigits import TEST_SIZE, TRAIN_SIZE, bilinear_matrix, digits_split, multidigits_arrays


@pytest.fixture(scope="module")
def sklearn_frames():
    """Every sklearn digit upsampled to 20x20, independently of the builder's frame code."""
    digits = load_digits()
    a = bilinear_matrix(8, 20)
    up = np.clip(np.rint(a @ (digits.images * (255 / 16)) @ a.T), 0, 255).reshape(len(digits.images), -1)
    return up, digits.target


def _match(frames, lookup):
    """Index of the sklearn digit each frame shows (nearest, and within rounding of it)."""
    crops = frames[:, 4:24, 4:24].reshape(len(frames), -1).astype(float)
    dist = (crops ** 2).sum(1)[:, None] + (lookup ** 2).sum(1)[None] - 2 * crops @ lookup.T
    index = dist.argmin(axis=1)
    assert np.abs(crops - lookup[index]).max() <= 1
    return index


def test_bilinear_matrix_weights():
    a = bilinear_matrix(8, 20)
    np.testing.assert_allclose(a.sum(axis=1), 1.0)
    assert a[0, 0] == 1.0 and a[-1, -1] == 1.0  # edges clamp
    np.testing.assert_allclose(a @ np.arange(8.0), np.clip((np.arange(20) + 0.5) * 0.4 - 0.5, 0, 7))


def test_fixed_split_covers_every_digit_once(sklearn_frames):
    lookup, target = sklearn_frames
    (xtr, ytr), (xte, yte) = digits_split("train"), digits_split("test")
    assert (len(xtr), len(xte)) == (TRAIN_SIZE, TEST_SIZE) == (1437, 360)
    index = np.concatenate([_match(xtr, lookup), _match(xte, lookup)])
    assert sorted(index.tolist()) == list(range(1797))
    np.testing.assert_array_equal(np.concatenate([ytr, yte]), target[index])
    # the digit sits in rows/cols 4-23 of its 28x28 frame, like MNIST's 20x20 box
    assert not xtr[:, :4].any() and not xtr[:, 24:].any() and not xtr[:, :, :4].any() and not xtr[:, :, 24:].any()
    for seed in (0, 9):  # the split does not depend on the seed
        np.testing.assert_array_equal(_match(digits_split("test")[0], lookup), index[TRAIN_SIZE:])
        assert len(multidigits_arrays("test", seed)["images"]) == TEST_SIZE


def test_pairs_follow_the_multimnist_construction(sklearn_frames):
    lookup, target = sklearn_frames
    frames, _ = digits_split("train")
    out = multidigits_arrays("train", seed=4)
    source_ids = _match(frames[out["source"]], lookup)
    partner_ids = _match(frames[out["partner"]], lookup)
    np.testing.assert_array_equal(out["left"], target[source_ids])
    np.testing.assert_array_equal(out["right"], target[partner_ids])
    for i in range(0, TRAIN_SIZE, 97):
        canvas = np.zeros((36, 36), np.uint8)
        canvas[:28, :28] = frames[out["source"][i]]
        canvas[6:34, 6:34] = np.maximum(canvas[6:34, 6:34], frames[out["partner"][i]])
        span = (canvas.max() - canvas.min()) or 1
        byte = ((canvas.astype(float) - canvas.min()) * (255.0 / span) + 0.5).astype(np.uint8)
        expected = np.asarray(Image.fromarray(byte).resize((28, 28), Image.NEAREST))
        np.testing.assert_array_equal(out["images"][i], expected)
    assert (multidigits_arrays("train", seed=5)["partner"] != out["partner"]).mean() > 0.95


def test_get_multidigits_needs_no_files_or_network(tmp_path, monkeypatch):
    monkeypatch.setenv("MTLZOO_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    ds = data.get("multidigits", split="train")
    batches = list(ds)
    assert sum(int(b[0].shape[0]) for b in batches) == TRAIN_SIZE
    for b in batches[:3]:
        ds.mtlzoo_info.check_batch(b)
        assert b[0].dtype.name == "float32" and float(b[0].numpy().max()) <= 1.0
    assert data.DEFAULT == "multidigits"
    assert list(tmp_path.iterdir()) == []  # wrote nothing


def test_import_and_metadata_do_not_load_tensorflow():
    code = ("import sys, mtlzoo.data as d; d.names(); d.info('cityscapes', image_size=8); "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
