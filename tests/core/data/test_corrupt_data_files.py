"""Damaged or hostile data files: a corrupt archive is reported as corrupt, and a crafted CIFAR-10 pickle runs no code."""

from __future__ import annotations

import gzip
import io
import pickle

import numpy as np
import pytest

from mtlzoo import data
from mtlzoo.data.cifar10 import read_cifar_pickles
from mtlzoo.data.cifar_unpickler import CifarUnpickler
from mtlzoo.data.sources import load_mnist_family, read_idx, read_npz


def _mnist_like(path):
    rng = np.random.default_rng(0)
    np.savez_compressed(path, x_train=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
                        y_train=rng.integers(0, 10, 20), x_test=rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
                        y_test=rng.integers(0, 10, 10))


@pytest.mark.parametrize("damage, words", [
    ("random", "is not a .npz archive (not a zip file"),
    ("truncated", "is not a .npz archive (not a zip file"),
    ("flipped", "is a corrupt .npz archive"),
    ("pickle", "is not a .npz archive"),
])
def test_corrupt_mnist_npz_is_reported_as_corrupt(tmp_path, damage, words):
    path = tmp_path / "mnist.npz"
    _mnist_like(path)
    raw = path.read_bytes()
    if damage == "random":
        path.write_bytes(np.random.default_rng(0).bytes(100_000))
    elif damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "flipped":  # inside the compressed x_train member
        flipped = bytearray(raw)
        flipped[200:1200] = bytes(b ^ 0x55 for b in flipped[200:1200])
        path.write_bytes(bytes(flipped))
    else:
        path.write_bytes(pickle.dumps({"x_train": [1]}))
    with pytest.raises(ValueError) as info:
        load_mnist_family("mnist", tmp_path, download=False)
    message = str(info.value)
    assert words in message and str(path) in message and "allow_pickle" not in message, message
    assert "download it again" in message and "\n" not in message


def test_good_npz_still_reads_and_a_missing_key_is_named(tmp_path):
    path = tmp_path / "mnist.npz"
    _mnist_like(path)
    assert load_mnist_family("mnist", tmp_path, download=False)["x_test"].shape == (10, 28, 28)
    np.savez(tmp_path / "other.npz", x=np.arange(3))
    with pytest.raises(ValueError, match=r"lacks key\(s\) \['y'\]"):
        read_npz(tmp_path / "other.npz", ["x", "y"])


def test_corrupt_gzip_idx_is_reported_as_corrupt(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x02\x03\x07")[:-9])
    with pytest.raises(ValueError, match="is a corrupt gzip file"):
        read_idx(path)


class _CreatesAFile:
    """Unpickled by plain ``pickle.load``, this creates ``target`` (``__reduce__`` calls ``open(target, "w")``)."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def _batch(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"testing batch 1 of 1", b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(n)]}


def test_a_crafted_cifar_pickle_runs_no_code(tmp_path):
    target = tmp_path / "pwned.txt"
    evil = pickle.dumps(_CreatesAFile(target), protocol=2)
    pickle.loads(evil).close()  # the crafted file works on plain pickle: it creates the file
    assert target.exists()
    target.unlink()
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batch = _batch(4)
    batch[b"labels"] = _CreatesAFile(target)  # hidden inside an otherwise valid batch
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(ValueError) as info:
        data.get("cifar10", split="test", batch_size=4, data_dir=tmp_path, download=False)
    assert not target.exists()  # nothing ran
    message = str(info.value)
    assert "test_batch is not a CIFAR-10 batch: the file refers to io.open" in message, message
    assert "\n" not in message


@pytest.mark.parametrize("payload, words", [
    (b"cos\nsystem\n(S'touch /tmp/x'\ntR.", "refers to os.system"),               # the classic protocol-0 attack
    (pickle.dumps(np.array([1, None], dtype=object), protocol=2), "holds the dtype 'O8'"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}), "'data' must be uint8"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}), "class indices 0-9"),
    (pickle.dumps(_batch(3))[:-40], "corrupt CIFAR-10 batch"),
    (np.random.default_rng(2).bytes(500), "test_batch"),
    (pickle.dumps([1, 2]), "not a dict"),
], ids=["os.system", "object array", "float data", "label 10", "truncated", "random", "list"])
def test_bad_cifar_batches_are_one_line_errors(tmp_path, payload, words):
    (tmp_path / "test_batch").write_bytes(payload)
    with pytest.raises(ValueError, match="test_batch") as info:
        read_cifar_pickles(tmp_path, "test")
    assert words in str(info.value) and "\n" not in str(info.value), str(info.value)


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_real_batch_layout_reads_in_every_protocol(tmp_path, protocol):
    batch = _batch(5, seed=protocol)
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=protocol))
    x, y = read_cifar_pickles(tmp_path, "test")
    np.testing.assert_array_equal(x, batch[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y, batch[b"labels"])


def test_python2_module_names_of_the_original_files_are_admitted():
    """The official files name ``numpy.core.multiarray`` (protocol 2 writes module names as text)."""
    blob = pickle.dumps(_batch(2), protocol=2)
    old = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert old != blob
    loaded = CifarUnpickler(io.BytesIO(old)).load()
    np.testing.assert_array_equal(loaded[b"data"], _batch(2)[b"data"])
