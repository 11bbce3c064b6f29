"""Where data comes from: local directories first, then tensorflow-datasets / keras.datasets downloads.

Local roots, in order: the ``data_dir`` argument, then every directory in
``$MTLZOO_DATA_DIR`` (``os.pathsep``-separated), then Keras' download cache
``~/.keras/datasets``. In each root a loader accepts the Keras ``.npz`` layout,
the original IDX files, or a prepared tensorflow-datasets directory. Downloads
happen only when allowed: ``download=None`` means "unless ``$MTLZOO_OFFLINE``
is set". Nothing here writes a file itself; downloads go through
``keras.utils.get_file`` and tfds, which remove partial files on failure.

>>> from mtlzoo.data.sources import idx_file_names
>>> idx_file_names("train")
('train-images-idx3-ubyte', 'train-labels-idx1-ubyte')
"""

from __future__ import annotations

import glob
import gzip
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from mtlzoo.data.data_not_found_error import DataNotFoundError

MNIST_FAMILY = ("mnist", "fashion_mnist", "kmnist")
_URLS = {
    "mnist": "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
    "fashion_mnist": "https://github.com/zalandoresearch/fashion-mnist (data/fashion/*.gz)",
    "kmnist": "https://github.com/rois-codh/kmnist (kmnist-*.npz or the IDX *.gz files)",
}
_OFFLINE_VALUES = ("", "0", "false", "no")


def data_roots(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The local directories searched for data, in order (see the module docstring).

    Args:
        data_dir: the directory given by the user, searched first.

    Example:
        >>> str(data_roots("/data")[0])
        '/data'
    """
    roots = [Path(data_dir).expanduser()] if data_dir else []
    roots += [Path(p).expanduser() for p in os.environ.get("MTLZOO_DATA_DIR", "").split(os.pathsep) if p]
    roots.append(Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "datasets")
    unique: list[Path] = []
    for r in roots:
        if r not in unique:
            unique.append(r)
    return unique


def download_allowed(download: bool | None) -> bool:
    """``download`` if given, else true unless ``$MTLZOO_OFFLINE`` is set to a true value.

    Args:
        download: the user's choice, or ``None`` to follow the environment.

    Example:
        >>> download_allowed(False)
        False
    """
    if download is not None:
        return bool(download)
    return os.environ.get("MTLZOO_OFFLINE", "").strip().lower() in _OFFLINE_VALUES


def idx_file_names(split: str) -> tuple[str, str]:
    """The original IDX image and label file names (without ``.gz``) of ``split``.

    Args:
        split: ``"train"`` or ``"test"`` (``t10k`` files).

    Example:
        >>> idx_file_names("test")[1]
        't10k-labels-idx1-ubyte'
    """
    prefix = "train" if split == "train" else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a NumPy array.

    Args:
        path: the file; a ``.gz`` suffix means gzipped.

    Example:
        >>> import tempfile, struct
        >>> p = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte")
        >>> _ = open(p, "wb").write(struct.pack(">BBBBI", 0, 0, 8, 1, 2) + bytes([3, 7]))
        >>> read_idx(p).tolist()
        [3, 7]
    """
    path = str(path)
    try:
        with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as fh:
            data = fh.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise ValueError(f"{path} is a corrupt gzip file ({type(error).__name__}: {str(error)[:120]}); delete it "
                         "and download it again.") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (bad magic number).")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} but the file holds {body.size} bytes (truncated?).")
    return body.reshape(dims)


def load_mnist_family(name: str, data_dir=None, download: bool | None = None) -> dict[str, np.ndarray]:
    """Load MNIST, Fashion-MNIST or KMNIST as uint8 arrays ``x_train, y_train, x_test, y_test``.

    Args:
        name: ``"mnist"``, ``"fashion_mnist"`` or ``"kmnist"``.
        data_dir: a directory to search first (see :func:`data_roots`).
        download: allow a download when no local copy exists (``None``: unless
            ``$MTLZOO_OFFLINE`` is set).

    Raises:
        DataNotFoundError: listing every file looked for and where to get them.

    Example:
        >>> arrays = load_mnist_family("mnist", "/work/shared/data")  # doctest: +SKIP
        >>> arrays["x_train"].shape  # doctest: +SKIP
        (60000, 28, 28)
    """
    if name not in MNIST_FAMILY:
        raise ValueError(f"Unknown MNIST-family dataset {name!r}; known: {', '.join(MNIST_FAMILY)}.")
    looked: list[str] = []
    for root in data_roots(data_dir):
        for finder in (_from_npz, _from_idx, _from_kmnist_npz, _from_tfds_dir):
            arrays = finder(name, root, looked)
            if arrays is not None:
                return _checked(name, arrays)
    tfds_home = Path(os.environ.get("TFDS_DATA_DIR", Path.home() / "tensorflow_datasets")).expanduser()
    arrays = _from_tfds_dir(name, tfds_home, looked)
    if arrays is not None:
        return _checked(name, arrays)
    how = (f"put {name}.npz (keys x_train, y_train, x_test, y_test; {_URLS[name]}) or the four IDX files "
           f"(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
           f"t10k-labels-idx1-ubyte.gz) in <data_dir>/{name}/, and pass data_dir=... or set MTLZOO_DATA_DIR; "
           f"or allow the download (download=True, MTLZOO_OFFLINE unset).")
    if not download_allowed(download):
        raise DataNotFoundError(name, looked, how)
    try:
        return _checked(name, _download(name, data_dir))
    except Exception as err:  # network errors come in many types
        raise DataNotFoundError(name, looked, how, cause=f"{type(err).__name__}: {err}") from err


def _from_npz(name, root: Path, looked):
    path = root / f"{name}.npz"
    looked.append(str(path))
    if not path.is_file():
        return None
    return read_npz(path, ("x_train", "y_train", "x_test", "y_test"))


def read_npz(path: str | os.PathLike, keys) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of the ``.npz`` archive ``path``; a damaged archive is reported as corrupt.

    ``np.load`` reads anything that is not a zip as a pickle, so random bytes would be answered
    with advice to pass ``allow_pickle=True``; here the zip signature is checked first and every
    failure names the file and the fix.

    Args:
        path: the ``.npz`` file.
        keys: the array names it must hold.

    Raises:
        ValueError: not a zip archive, a truncated or damaged one, or a missing key.

    Example:
        >>> import tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "a.npz")
        >>> np.savez(p, x=np.arange(3))
        >>> read_npz(p, ["x"])["x"].tolist()
        [0, 1, 2]
        >>> _ = open(p, "wb").write(b"random bytes")
        >>> read_npz(p, ["x"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: ...a.npz is not a .npz archive (not a zip file: corrupt, truncated or another format); ...
    """
    fix = "delete it and download it again (or pass another --data-dir)."
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a .npz archive (not a zip file: corrupt, truncated or another format); {fix}")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in keys if k not in f.files]
            if missing:
                raise ValueError(f"{path} lacks key(s) {missing}; it must hold {', '.join(keys)}.")
            return {k: f[k] for k in keys}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        raise ValueError(f"{path} is a corrupt .npz archive ({type(error).__name__}: {str(error)[:120]}); "
                         f"{fix}") from None
    except ValueError as error:
        if str(error).startswith(str(path)):
            raise
        raise ValueError(f"{path} is a corrupt .npz archive ({str(error)[:160]}); {fix}") from None


def _from_idx(name, root: Path, looked):
    dirs = [root / name] + ([root / "fashion-mnist"] if name == "fashion_mnist" else []) \
        + ([root] if name == "mnist" else [])
    for d in dirs:
        found = {}
        for split in ("train", "test"):
            for key, base in zip(("x", "y"), idx_file_names(split)):
                candidates = [d / f"{base}.gz", d / base]
                looked.append(str(candidates[0]) + " (or unzipped)")
                hit = next((c for c in candidates if c.is_file()), None)
                if hit is not None:
                    found[f"{key}_{split}"] = hit
        if len(found) == 4:
            return {k: read_idx(p) for k, p in found.items()}
    return None


def _from_kmnist_npz(name, root: Path, looked):
    if name != "kmnist":
        return None
    for d in (root, root / "kmnist"):
        files = {f"{k}_{s}": d / f"kmnist-{s}-{part}.npz" for s in ("train", "test")
                 for k, part in (("x", "imgs"), ("y", "labels"))}
        looked.extend(str(p) for p in files.values())
        if all(p.is_file() for p in files.values()):
            return {k: read_npz(p, ["arr_0"])["arr_0"] for k, p in files.items()}
    return None


def _from_tfds_dir(name, root: Path, looked):
    looked.append(str(root / name / "<version>" / "dataset_info.json") + " (prepared tensorflow-datasets)")
    if not glob.glob(str(root / name / "*" / "dataset_info.json")):
        return None
    import tensorflow_datasets as tfds

    from mtlzoo.data.tfds_source import as_arrays

    builder = tfds.builder(name, data_dir=str(root))
    out = {}
    for split in ("train", "test"):
        arrays = as_arrays(builder.as_dataset(split=split, shuffle_files=False), ("image", "label"))
        out[f"x_{split}"], out[f"y_{split}"] = arrays["image"][..., 0], arrays["label"]
    return out


def _download(name, data_dir):
    if name in ("mnist", "fashion_mnist"):
        import keras

        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
        return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    import tensorflow_datasets as tfds

    from mtlzoo.data.tfds_source import as_arrays

    out = {}
    for split in ("train", "test"):
        ds = tfds.load(name, split=split, data_dir=data_dir, download=True, shuffle_files=False)
        arrays = as_arrays(ds, ("image", "label"))
        out[f"x_{split}"], out[f"y_{split}"] = arrays["image"][..., 0], arrays["label"]
    return out


def _checked(name, arrays):
    for split in ("train", "test"):
        x, y = np.asarray(arrays[f"x_{split}"]), np.asarray(arrays[f"y_{split}"]).reshape(-1)
        if x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        if x.ndim != 3 or x.shape[0] != y.shape[0]:
            raise ValueError(f"{name} {split}: expected images (N, H, W) and N labels, got {x.shape} and {y.shape}.")
        if x.dtype != np.uint8:
            if not np.issubdtype(x.dtype, np.integer) or x.min() < 0 or x.max() > 255:
                raise ValueError(f"{name} {split}: images must be uint8 pixels 0-255, got dtype {x.dtype}.")
            x = x.astype(np.uint8)
        if y.size and (y.min() < 0 or y.max() > 9):
            raise ValueError(f"{name} {split}: labels must lie in 0-9, got [{y.min()}, {y.max()}].")
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y.astype(np.int32)
    return arrays
