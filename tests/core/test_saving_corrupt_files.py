"""``mtlzoo.load_model`` on files that are not (or no longer) Keras archives: each reported as such, naming the file."""

from __future__ import annotations

import zipfile

import keras
import numpy as np
import pytest

import mtlzoo
from mtlzoo.saving import check_keras_archive


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    path = tmp_path_factory.mktemp("keras") / "good.keras"
    model.save(path)
    return path


def _rewrite(good, path, replace: dict):
    """A copy of the archive ``good`` with the members in ``replace`` swapped for the given bytes."""
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            target.writestr(name, replace.get(name, source.read(name)))
    return path


def _damaged(good, tmp_path, kind):
    data = good.read_bytes()
    path = tmp_path / f"{kind}.keras"
    if kind == "random":
        path.write_bytes(np.random.default_rng(0).bytes(5000))
    elif kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "flipped":  # bytes of the compressed weights inverted: the CRC check fails
        flipped = bytearray(data)
        start = len(flipped) // 3
        flipped[start:start + 200] = bytes(b ^ 0xFF for b in flipped[start:start + 200])
        path.write_bytes(bytes(flipped))
    elif kind == "zip without config":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notes.txt", "hello")
    elif kind == "config not JSON":
        _rewrite(good, path, {"config.json": b"{not json"})
    elif kind == "config a list":
        _rewrite(good, path, {"config.json": b"[1, 2]"})
    elif kind == "weights garbage":
        _rewrite(good, path, {"model.weights.h5": b"\x00" * 64})
    return path


KINDS = {"random": "not a .keras archive (not a zip file", "truncated": "not a .keras archive (not a zip file",
         "empty": "not a .keras archive", "flipped": "corrupt .keras archive (BadZipFile: Bad CRC-32",
         "zip without config": "zip file but not a Keras model (no config.json inside)",
         "config not JSON": "corrupt .keras archive (JSONDecodeError", "config a list": "describes no model",
         "weights garbage": "corrupt .keras archive"}


@pytest.mark.parametrize("kind", list(KINDS))
def test_damaged_archive_is_reported_as_such_naming_the_file(good, tmp_path, kind):
    path = _damaged(good, tmp_path, kind)
    with pytest.raises(ValueError) as info:
        mtlzoo.load_model(path)
    message = str(info.value)
    assert KINDS[kind] in message and f"{kind}.keras" in message and "\n" not in message, message
    assert "File not found" not in message and len(message) < 400


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.keras' does not exist"):
        mtlzoo.load_model(tmp_path / "missing.keras")
    (tmp_path / "dir.keras").mkdir()
    with pytest.raises(ValueError, match="is a folder, not a .keras archive"):
        check_keras_archive(tmp_path / "dir.keras")


def test_the_good_archive_still_loads_with_its_weights(good):
    model = mtlzoo.load_model(good)
    reference = keras.models.load_model(good)
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_array_equal(model.predict(x, verbose=0), reference.predict(x, verbose=0))
