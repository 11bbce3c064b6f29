"""mnist_attributes on the real MNIST file: labels derived from the MNIST class, task subsets, limit, registry."""

from __future__ import annotations

import numpy as np
import pytest

from mtlzoo import data
from mtlzoo.data.mnist_attributes import attribute_arrays, attribute_labels, load_mnist_attributes


def test_registry_lists_four_tasks_with_their_class_counts():
    assert "mnist_attributes" in data.names()
    meta = data.info("mnist_attributes")
    assert meta.task_names == ("digit", "parity", "high", "mod3")
    assert [t.num_classes for t in meta.tasks] == [10, 2, 2, 3]
    assert meta.input_shape == (28, 28, 1) and dict(meta.splits) == {"train": 60000, "test": 10000}
    assert data.info("mnist_attributes", tasks=["mod3", "digit"]).task_names == ("mod3", "digit")


def test_labels_are_functions_of_the_digit():
    out = attribute_labels(np.arange(10))
    assert out["parity"].tolist() == [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]
    assert out["high"].tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    assert out["mod3"].tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
    assert all(v.dtype == np.int32 for v in out.values())
    with pytest.raises(ValueError, match="0..9"):
        attribute_labels(np.array([3, 12]))


def test_arrays_match_the_real_file(mnist_file, mnist_arrays):
    out = attribute_arrays("test", data_dir=mnist_file.parent)
    np.testing.assert_array_equal(out["images"], mnist_arrays["x_test"])
    np.testing.assert_array_equal(out["digit"], mnist_arrays["y_test"])
    np.testing.assert_array_equal(out["parity"], mnist_arrays["y_test"] % 2)
    small = attribute_arrays("train", data_dir=mnist_file.parent, limit=50)
    assert small["images"].shape == (50, 28, 28)
    np.testing.assert_array_equal(small["high"], (mnist_arrays["y_train"][:50] >= 5).astype(np.int32))
    with pytest.raises(ValueError, match="limit"):
        attribute_arrays("train", data_dir=mnist_file.parent, limit=0)


def test_loader_yields_the_chosen_tasks(mnist_file, mnist_arrays):
    ds = data.get("mnist_attributes", split="test", batch_size=8, data_dir=mnist_file.parent, limit=16,
                  tasks=["mod3", "parity"])
    x, y = next(iter(ds))
    assert tuple(x.shape) == (8, 28, 28, 1) and list(y) == ["mod3", "parity"]
    assert float(x.numpy().max()) <= 1.0
    np.testing.assert_array_equal(y["mod3"].numpy(), mnist_arrays["y_test"][:8] % 3)  # test split: not shuffled
    with pytest.raises(ValueError, match="unknown"):
        load_mnist_attributes("test", data_dir=mnist_file.parent, tasks=["digit", "colour"])
