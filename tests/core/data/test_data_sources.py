"""Offline sources: Keras .npz, IDX files, KMNIST's own npz, MTLZOO_DATA_DIR, and the not-found error."""

from __future__ import annotations

import numpy as np
import pytest

from mtlzoo.data import DataNotFoundError, sources
from mtlzoo.data.sources import load_mnist_family, read_idx


def test_keras_npz_layout(fake_family):
    root, arrays = fake_family
    got = load_mnist_family("fashion_mnist", root, download=False)
    for key in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(got[key], arrays["fashion_mnist"][key])
    assert got["x_train"].dtype == np.uint8 and got["y_train"].dtype == np.int32


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_in_a_named_folder(tmp_path, fake_family, idx_writer, gz):
    _, arrays = fake_family
    ref = arrays["kmnist"]
    folder = tmp_path / "root" / "kmnist"
    for split, prefix in (("train", "train"), ("test", "t10k")):
        name = f"{prefix}-images-idx3-ubyte" + (".gz" if gz else "")
        idx_writer(folder / name, ref[f"x_{split}"], gz)
        idx_writer(folder / (f"{prefix}-labels-idx1-ubyte" + (".gz" if gz else "")), ref[f"y_{split}"], gz)
    got = load_mnist_family("kmnist", tmp_path / "root", download=False)
    np.testing.assert_array_equal(got["x_test"], ref["x_test"])
    np.testing.assert_array_equal(got["y_train"], ref["y_train"])


def test_keras_fashion_cache_folder_and_kmnist_official_npz(tmp_path, fake_family, idx_writer):
    _, arrays = fake_family
    keras_dir = tmp_path / "fashion-mnist"  # where keras.datasets caches Fashion-MNIST
    for split, prefix in (("train", "train"), ("test", "t10k")):
        idx_writer(keras_dir / f"{prefix}-images-idx3-ubyte.gz", arrays["fashion_mnist"][f"x_{split}"])
        idx_writer(keras_dir / f"{prefix}-labels-idx1-ubyte.gz", arrays["fashion_mnist"][f"y_{split}"])
        np.savez(tmp_path / f"kmnist-{split}-imgs.npz", arrays["kmnist"][f"x_{split}"])
        np.savez(tmp_path / f"kmnist-{split}-labels.npz", arrays["kmnist"][f"y_{split}"])
    np.testing.assert_array_equal(load_mnist_family("fashion_mnist", tmp_path, False)["y_test"],
                                  arrays["fashion_mnist"]["y_test"])
    np.testing.assert_array_equal(load_mnist_family("kmnist", tmp_path, False)["x_train"], arrays["kmnist"]["x_train"])


def test_data_dir_comes_before_the_environment(tmp_path, fake_family, monkeypatch):
    root, arrays = fake_family
    other = tmp_path / "other"
    other.mkdir()
    np.savez(other / "mnist.npz", **{k: v[:5] for k, v in arrays["kmnist"].items()})
    monkeypatch.setenv("MTLZOO_DATA_DIR", str(other))
    assert len(load_mnist_family("mnist", root, False)["x_train"]) == 30
    assert len(load_mnist_family("mnist", None, False)["x_train"]) == 5
    assert sources.data_roots(root)[:2] == [root, other]


def test_missing_data_lists_every_place_and_how_to_get_it(tmp_path, monkeypatch):
    with pytest.raises(DataNotFoundError) as err:
        load_mnist_family("kmnist", tmp_path, download=False)
    text = str(err.value)
    for expected in (tmp_path / "kmnist.npz", tmp_path / "kmnist" / "train-images-idx3-ubyte.gz",
                     tmp_path / "kmnist-train-imgs.npz", tmp_path / "kmnist" / "<version>" / "dataset_info.json"):
        assert str(expected) in text
    assert "How to get it" in text and "MTLZOO_DATA_DIR" in text and isinstance(err.value, FileNotFoundError)
    monkeypatch.setenv("MTLZOO_OFFLINE", "1")  # download=None obeys the environment
    with pytest.raises(DataNotFoundError):
        load_mnist_family("mnist", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_failed_download_is_reported_with_its_cause(tmp_path, monkeypatch):
    def offline(name, data_dir):
        raise OSError("network unreachable")

    monkeypatch.setattr(sources, "_download", offline)
    with pytest.raises(DataNotFoundError, match="network unreachable") as err:
        load_mnist_family("mnist", tmp_path, download=True)
    assert str(tmp_path / "mnist.npz") in str(err.value)


def test_bad_files_raise_clear_errors(tmp_path, idx_writer):
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="lacks key"):
        load_mnist_family("mnist", tmp_path, False)
    idx_writer(tmp_path / "short-idx1-ubyte", np.arange(4, dtype=np.uint8), gz=False)
    data = (tmp_path / "short-idx1-ubyte").read_bytes()
    (tmp_path / "short-idx1-ubyte").write_bytes(data[:-1])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "short-idx1-ubyte")
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "bad")
    with pytest.raises(ValueError, match="Unknown MNIST-family"):
        load_mnist_family("emnist", tmp_path, False)
