"""MultiMNIST on the real MNIST file: sizes, labels traced to source indices, canvas geometry, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mtlzoo import data
from mtlzoo.data.multimnist import build_multimnist, multimnist_canvas, nearest_indices
from mtlzoo.data.multimnist_shift import build_multimnist_shift


def _authors_image(lim: np.ndarray, rim: np.ndarray) -> np.ndarray:
    """Sener & Koltun's loop body, verbatim in NumPy + PIL (``scipy.misc.imresize`` = bytescale + PIL resize)."""
    new_im = np.zeros((36, 36))
    new_im[0:28, 0:28] = lim
    new_im[6:34, 6:34] = rim
    new_im[6:28, 6:28] = np.maximum(lim[6:28, 6:28], rim[0:22, 0:22])
    cmin, cmax = new_im.min(), new_im.max()
    scale = 255.0 / ((cmax - cmin) or 1)
    byte = (((new_im - cmin) * scale).clip(0, 255) + 0.5).astype(np.uint8)
    return np.asarray(Image.fromarray(byte).resize((28, 28), Image.NEAREST))


@pytest.fixture(scope="module")
def built(mnist_arrays):
    return {s: build_multimnist(mnist_arrays[f"x_{s}"], mnist_arrays[f"y_{s}"], seed=0, split=s)
            for s in ("train", "test")}


def test_sizes_are_60k_and_10k(built, mnist_file):
    assert built["train"]["images"].shape == (60000, 28, 28)
    assert built["test"]["images"].shape == (10000, 28, 28)
    ds = data.get("multimnist", split="test", batch_size=4096, data_dir=mnist_file.parent)
    assert sum(int(x.shape[0]) for x, _ in ds) == 10000


def test_labels_are_the_source_digits_labels(built, mnist_arrays):
    for split in ("train", "test"):
        out, y = built[split], mnist_arrays[f"y_{split}"]
        n = len(y)
        np.testing.assert_array_equal(out["source"], np.arange(n))
        np.testing.assert_array_equal(out["left"], y)
        np.testing.assert_array_equal(out["right"], y[out["partner"]])
        # the partner is uniform over the whole split, not a fixed permutation or the image itself
        assert (out["partner"] == np.arange(n)).mean() < 0.01
        counts = np.bincount(out["partner"] * 10 // n, minlength=10)
        assert counts.min() > 0.9 * n / 10 and counts.max() < 1.1 * n / 10
        assert 0.07 < (out["left"] == out["right"]).mean() < 0.13


def test_images_match_the_authors_loader_at_the_source_indices(built, mnist_arrays):
    x, out = mnist_arrays["x_train"], built["train"]
    partner = out["partner"]
    peaks = x.reshape(len(x), -1).max(axis=1)
    stretched = np.flatnonzero(np.maximum(peaks, peaks[partner]) < 255)[:60]  # canvases imresize rescales
    rows = np.concatenate([np.random.default_rng(0).choice(len(x), 140, replace=False), stretched])
    assert len(stretched) > 10
    for i in rows:
        np.testing.assert_array_equal(out["images"][i], _authors_image(x[i], x[partner[i]]), err_msg=f"row {i}")


def test_top_left_six_rows_and_cols_come_from_the_first_digit_only(mnist_arrays):
    x = mnist_arrays["x_test"][:500]
    blank, full = np.zeros_like(x), np.full_like(x, 255)
    for partner in (x[::-1], blank, full):
        canvas = multimnist_canvas(x, partner)
        assert canvas.shape == (500, 36, 36)
        np.testing.assert_array_equal(canvas[:, :6, :28], x[:, :6, :])
        np.testing.assert_array_equal(canvas[:, :28, :6], x[:, :, :6])
        assert not canvas[:, :6, 28:].any() and not canvas[:, 28:, :6].any()
        np.testing.assert_array_equal(canvas[:, 6:34, 6:34] >= partner, True)
    both = multimnist_canvas(x, full)
    assert (both[:, 6:34, 6:34] == 255).all() and not both[:, 34:, :].any()


def test_resized_border_rows_come_from_the_first_digit(built, mnist_arrays):
    x, out = mnist_arrays["x_test"], built["test"]
    idx = nearest_indices(36, 28)
    assert idx[:5].tolist() == [0, 1, 3, 4, 5] and idx[5] == 7
    peaks = x.reshape(len(x), -1).max(axis=1)
    plain = np.flatnonzero(np.maximum(peaks, peaks[out["partner"]]) == 255)
    cols = np.where(idx < 28, idx, 0)
    expected = x[plain][:, idx[:5]][:, :, cols] * (idx < 28)
    np.testing.assert_array_equal(out["images"][plain, :5, :], expected)


def test_deterministic_for_a_seed_and_different_across_seeds(mnist_arrays, mnist_file):
    x, y = mnist_arrays["x_test"], mnist_arrays["y_test"]
    a, b, c = (build_multimnist(x, y, seed=s, split="test") for s in (5, 5, 6))
    np.testing.assert_array_equal(a["images"], b["images"])
    np.testing.assert_array_equal(a["partner"], b["partner"])
    assert (a["partner"] != c["partner"]).mean() > 0.99
    train = build_multimnist(x, y, seed=5, split="train")
    assert (train["partner"] != a["partner"]).mean() > 0.99  # splits draw independently

    def first(seed):
        ds = data.get("multimnist", split="test", batch_size=64, data_dir=mnist_file.parent, seed=seed, shuffle=True)
        xb, yb = next(iter(ds))
        return xb.numpy(), yb["left"].numpy(), yb["right"].numpy()

    one, two, other = first(3), first(3), first(4)
    for u, v in zip(one, two):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(one[0], other[0])


def test_values_dtype_and_shapes(mnist_file):
    ds = data.get("multimnist", split="test", batch_size=2500, data_dir=mnist_file.parent)
    lows, highs = [], []
    for xb, yb in ds:
        ds.mtlzoo_info.check_batch((xb, yb))
        assert xb.dtype.name == "float32" and tuple(xb.shape[1:]) == (28, 28, 1)
        assert {k: v.dtype.name for k, v in yb.items()} == {"left": "int32", "right": "int32"}
        lows.append(float(xb.numpy().min()))
        highs.append(float(xb.numpy().max()))
    assert min(lows) == 0.0 and max(highs) == 1.0


def test_shifted_overlay_matches_a_roll_reference(mnist_arrays):
    x, y = mnist_arrays["x_test"][:300], mnist_arrays["y_test"][:300]
    out = build_multimnist_shift(x, y, seed=2, split="test")
    np.testing.assert_array_equal(out["left"], y)
    np.testing.assert_array_equal(out["right"], y[out["partner"]])
    for i in range(0, 300, 7):
        left = np.roll(x[i], -4, axis=1)
        left[:, -4:] = 0
        right = np.roll(x[out["partner"][i]], 4, axis=1)
        right[:, :4] = 0
        np.testing.assert_array_equal(out["images"][i], np.maximum(left, right))
