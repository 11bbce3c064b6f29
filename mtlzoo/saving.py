"""Register every mtlzoo serializable with Keras, and load saved models."""

from __future__ import annotations

import importlib
import json
import os
import zipfile
import zlib
from pathlib import Path

# Modules whose import registers Keras-serializable classes (keep in sync; a test checks it).
SERIALIZABLE_MODULES = (
    "mtlzoo.tree_network",
    "mtlzoo.heads",
    "mtlzoo.layers",
    "mtlzoo.training",  # BatchNormSlimming (a gamma regularizer kept in saved models)
    "mtlzoo.models",  # PartitionedNetwork (seed 004's masked network)
)

_done = False


def register_all() -> None:
    """Import every module that registers mtlzoo classes with Keras serialization."""
    global _done
    if _done:
        return
    for module in SERIALIZABLE_MODULES:
        importlib.import_module(module)
    _done = True


def load_model(path, compile: bool = True, safe_mode: bool = True):
    """``keras.models.load_model`` with every mtlzoo class registered first.

    A ``.keras`` path is checked first, so a missing file, a file that is not a zip
    archive (random bytes, a truncated download, another format) and a zip that is
    not a Keras model are each reported as such, naming the file (Keras itself says
    "File not found" for all of them); an archive whose members are damaged is
    reported as corrupt.

    Args:
        path: a ``.keras`` file written by ``model.save``.
        compile: restore the compiled state (optimizer, losses) too.
        safe_mode: refuse to deserialize lambdas (Keras' default).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not a Keras archive, or a corrupt one.

    Example:
        >>> model = mtlzoo.load_model("runs/multimnist/model.keras")   # doctest: +SKIP
    """
    register_all()
    import keras

    if isinstance(path, (str, os.PathLike)) and str(path).endswith(".keras"):
        check_keras_archive(path)
        try:
            return keras.models.load_model(path, compile=compile, safe_mode=safe_mode)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, UnicodeDecodeError,
                json.JSONDecodeError, AttributeError) as error:  # damaged members, config.json not Keras
            if isinstance(error, FileNotFoundError) and not Path(path).exists():
                raise
            raise ValueError(f"{str(path)!r} is a corrupt .keras archive ({_reason(error)}); save the model "
                             "again, or load another copy.") from None
    return keras.models.load_model(path, compile=compile, safe_mode=safe_mode)


def check_keras_archive(path) -> None:
    """Raise a one-line error unless ``path`` is a readable zip holding a Keras model's ``config.json``.

    Args:
        path: the ``.keras`` file.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: a folder, not a zip archive, a damaged zip, or a zip without ``config.json``.

    Example:
        >>> import tempfile
        >>> bad = Path(tempfile.mkdtemp()) / "model.keras"
        >>> _ = bad.write_bytes(b"not a zip")
        >>> check_keras_archive(bad)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: '...model.keras' is not a .keras archive (not a zip file: ...
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{str(path)!r} does not exist; pass a .keras file saved by model.save.")
    if not path.is_file():
        raise ValueError(f"{str(path)!r} is a folder, not a .keras archive; pass a .keras file saved by model.save.")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{str(path)!r} is not a .keras archive (not a zip file: random bytes, a truncated "
                         "copy or another format); save the model again, or load another copy.")
    try:
        with zipfile.ZipFile(path) as archive:
            if "config.json" not in archive.namelist():
                raise ValueError(f"{str(path)!r} is a zip file but not a Keras model (no config.json inside); "
                                 "pass a .keras file saved by model.save.")
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError,
            RecursionError) as error:
        raise ValueError(f"{str(path)!r} is a corrupt .keras archive ({_reason(error)}); save the model again, "
                         "or load another copy.") from None
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"{str(path)!r} is a corrupt .keras archive (its config.json describes no model); save "
                         "the model again, or load another copy.")


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split())[:160]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
