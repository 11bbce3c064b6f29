"""Shared fixtures of the data tests: the real MNIST file (skip if absent) and tiny traceable fake datasets."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
FAMILY = ("mnist", "fashion_mnist", "kmnist")


def mnist_path() -> Path:
    """``$MTLZOO_TEST_MNIST`` or ``../shared/data/mnist.npz`` beside the repository root."""
    return Path(os.environ.get("MTLZOO_TEST_MNIST", ROOT.parent / "shared" / "data" / "mnist.npz"))


@pytest.fixture(scope="session")
def mnist_file() -> Path:
    path = mnist_path()
    if not path.is_file():
        reason = f"real MNIST not found at {path} (set MTLZOO_TEST_MNIST to its path)"
        print(f"SKIPPED: {reason}")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def mnist_arrays(mnist_file):
    with np.load(mnist_file) as f:
        return {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}


@pytest.fixture(autouse=True)
def _no_stray_data(tmp_path_factory, monkeypatch):
    """No test reads the user's Keras/tfds caches or env settings; each test sees only its own files."""
    empty = tmp_path_factory.mktemp("empty_home")
    monkeypatch.setenv("KERAS_HOME", str(empty / "keras"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(empty / "tfds"))
    monkeypatch.delenv("MTLZOO_DATA_DIR", raising=False)
    monkeypatch.delenv("MTLZOO_OFFLINE", raising=False)


def traceable_images(code: int, n: int) -> np.ndarray:
    """uint8 images whose pixel (0, 0) is ``code`` and (0, 1) is the row index: rows can be traced back."""
    rng = np.random.default_rng(code)
    x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    x[:, 0, 0] = code
    x[:, 0, 1] = np.arange(n)
    return x


def write_family(root: Path, sizes=(30, 12), names=FAMILY) -> dict[str, dict[str, np.ndarray]]:
    """Write tiny Keras-layout ``<name>.npz`` files (traceable images, random labels); return their arrays."""
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, name in enumerate(names):
        rng = np.random.default_rng(100 + i)
        arrays = {"x_train": traceable_images(10 * (i + 1), sizes[0]), "y_train": rng.integers(0, 10, sizes[0]),
                  "x_test": traceable_images(10 * (i + 1) + 5, sizes[1]), "y_test": rng.integers(0, 10, sizes[1])}
        arrays = {k: v.astype(np.uint8) for k, v in arrays.items()}
        np.savez(root / f"{name}.npz", **arrays)
        out[name] = arrays
    return out


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> None:
    """Write ``array`` (uint8) as an IDX file (gzipped when ``gz``)."""
    import gzip

    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + np.ascontiguousarray(array, np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with (gzip.open(path, "wb") if gz else open(path, "wb")) as fh:
        fh.write(data)


@pytest.fixture
def fake_family(tmp_path):
    """``(root, arrays)``: tiny traceable mnist/fashion_mnist/kmnist ``.npz`` files (30 train, 12 test each)."""
    root = tmp_path / "family"
    return root, write_family(root)


@pytest.fixture
def idx_writer():
    """The :func:`write_idx` helper."""
    return write_idx
