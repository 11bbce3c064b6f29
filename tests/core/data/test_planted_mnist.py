"""planted_mnist on the real MNIST file: the three tasks' relations, teacher determinism and balance, registry."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score

from mtlzoo import data
from mtlzoo.data.planted_mnist import planted_arrays, teacher_labels, teacher_logits, teacher_weights


@pytest.fixture(scope="module")
def planted(mnist_file):
    return {s: planted_arrays(s, data_dir=mnist_file.parent) for s in ("train", "test")}


def test_registry_lists_it_with_three_ten_class_tasks():
    assert "planted_mnist" in data.names()
    meta = data.info("planted_mnist")
    assert meta.task_names == ("digit", "shifted", "teacher")
    assert meta.input_shape == (28, 28, 1) and dict(meta.splits) == {"train": 60000, "test": 10000}
    assert all(t.kind == "classification" and t.num_classes == 10 for t in meta.tasks)
    assert data.info("planted_mnist", tasks=["teacher"]).task_names == ("teacher",)


def test_digit_is_the_mnist_label_and_shifted_is_digit_plus_three(planted, mnist_arrays):
    for split in ("train", "test"):
        out = planted[split]
        np.testing.assert_array_equal(out["images"], mnist_arrays[f"x_{split}"])
        np.testing.assert_array_equal(out["digit"], mnist_arrays[f"y_{split}"])
        np.testing.assert_array_equal(out["shifted"], (mnist_arrays[f"y_{split}"] + 3) % 10)
        assert {k: v.dtype.name for k, v in out.items() if k != "images"} == {
            "digit": "int32", "shifted": "int32", "teacher": "int32"}


def test_teacher_is_balanced_and_not_a_function_of_the_digit(planted):
    for split in ("train", "test"):
        out = planted[split]
        share = np.bincount(out["teacher"], minlength=10) / len(out["teacher"])
        assert share.min() >= 0.03 and share.max() <= 0.25, (split, share.round(3))
        assert normalized_mutual_info_score(out["digit"], out["teacher"]) < 0.4
        # knowing the digit, the best guess of the teacher label is right far less than always
        table = np.zeros((10, 10), np.int64)
        np.add.at(table, (out["digit"], out["teacher"]), 1)
        assert table.max(axis=1).sum() / len(out["digit"]) < 0.6
        assert normalized_mutual_info_score(out["digit"], out["shifted"]) == pytest.approx(1.0)


def test_teacher_is_deterministic_and_depends_on_its_seed(planted, mnist_arrays, mnist_file):
    fresh = teacher_labels(mnist_arrays["x_train"], mnist_arrays["x_test"], cache=False)  # recomputed
    np.testing.assert_array_equal(fresh[0], planted["train"]["teacher"])
    np.testing.assert_array_equal(fresh[1], planted["test"]["teacher"])
    other = planted_arrays("test", data_dir=mnist_file.parent, teacher_seed=99)
    assert (other["teacher"] != planted["test"]["teacher"]).mean() > 0.5
    # the weights come from the seed alone; the same function labels any images
    w = teacher_weights(1234)
    assert all(np.array_equal(w[k], teacher_weights(1234)[k]) for k in w)
    logits = teacher_logits(mnist_arrays["x_test"][:50], w)
    assert logits.shape == (50, 10) and np.isfinite(logits).all()


def test_train_and_test_share_the_train_statistics(planted, mnist_arrays):
    x_train, x_test = mnist_arrays["x_train"], mnist_arrays["x_test"]
    # labelling train images "as test" gives the train labels: the statistics come from train only
    train, as_test = teacher_labels(x_train, x_train[:300])
    np.testing.assert_array_equal(as_test, train[:300])
    np.testing.assert_array_equal(train, planted["train"]["teacher"])
    # statistics from another set would change labels: standardisation matters
    _, own_stats = teacher_labels(x_test, x_test)
    assert (own_stats != planted["test"]["teacher"]).any()


def test_pipeline_limit_tasks_and_shuffling(planted, mnist_file):
    ds = data.get("planted_mnist", split="test", batch_size=32, data_dir=mnist_file.parent, limit=100)
    xs, ys = zip(*[(x.numpy(), {k: v.numpy() for k, v in y.items()}) for x, y in ds])
    assert [len(x) for x in xs] == [32, 32, 32, 4]
    x = np.concatenate(xs)
    assert x.dtype == np.float32 and x.shape == (100, 28, 28, 1) and x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_allclose(x[..., 0], planted["test"]["images"][:100] / 255.0, atol=1e-7)
    for task in ("digit", "shifted", "teacher"):
        np.testing.assert_array_equal(np.concatenate([y[task] for y in ys]), planted["test"][task][:100])
    ds.mtlzoo_info.check_batch((xs[0], ys[0]))

    first = [next(iter(data.get("planted_mnist", split="train", batch_size=16, data_dir=mnist_file.parent,
                                 seed=s, limit=200, tasks=["teacher"]))) for s in (1, 1, 2)]
    assert sorted(first[0][1]) == ["teacher"]
    np.testing.assert_array_equal(first[0][0], first[1][0])
    assert not np.array_equal(first[0][0], first[2][0])
    # trace each shuffled row back to its source image: it lies in the first 200 and keeps its label
    pixels = np.rint(first[0][0].numpy()[..., 0] * 255).astype(np.uint8).reshape(16, -1)
    source = planted["train"]["images"][:200].reshape(200, -1)
    rows = np.array([np.flatnonzero((source == p).all(axis=1))[0] for p in pixels])
    assert not np.array_equal(rows, np.arange(16))
    np.testing.assert_array_equal(first[0][1]["teacher"].numpy(), planted["train"]["teacher"][rows])


def test_bad_options_name_the_fix(mnist_file):
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        data.get("planted_mnist", data_dir=mnist_file.parent, limit=0)
    with pytest.raises(ValueError, match="no task 'colour'"):
        data.get("planted_mnist", data_dir=mnist_file.parent, tasks=["digit", "colour"])
    with pytest.raises(ValueError, match="tasks must be distinct names of"):
        data.get("planted_mnist", data_dir=mnist_file.parent, tasks=["digit", "digit"])
    with pytest.raises(ValueError, match="no split 'val'"):
        data.get("planted_mnist", split="val", data_dir=mnist_file.parent)


def test_default_teacher_gives_the_recorded_labels(planted):
    """Golden values for teacher_seed=1234 (recorded once): a change here means the labels of every
    earlier planted_mnist run changed (different machine arithmetic, NumPy stream or teacher code)."""
    assert np.bincount(planted["train"]["teacher"], minlength=10).tolist() == [
        6713, 5538, 6135, 5930, 5135, 6060, 6951, 5640, 5919, 5979]
    assert np.bincount(planted["test"]["teacher"], minlength=10).tolist() == [
        1180, 881, 993, 1087, 877, 985, 1177, 946, 966, 908]
    assert planted["train"]["teacher"][:12].tolist() == [3, 1, 2, 0, 0, 9, 5, 0, 5, 1, 0, 9]
