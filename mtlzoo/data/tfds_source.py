"""tensorflow-datasets builders found locally (a prepared data dir) or downloaded when allowed.

>>> from mtlzoo.data.tfds_source import tfds_dataset
>>> ds = tfds_dataset("cifar10", "test")  # doctest: +SKIP
"""

from __future__ import annotations

import os

from mtlzoo.data.data_not_found_error import DataNotFoundError
from mtlzoo.data.sources import data_roots, download_allowed

def tfds_builder(name: str, data_dir=None, download: bool | None = None, how_to_get: str = "",
                 looked: list[str] | None = None):
    """A tfds builder whose data is ready to read.

    Looks for a prepared copy in every root of :func:`~mtlzoo.data.sources.data_roots`
    and in tfds' default data dir; otherwise downloads and prepares it (into
    ``data_dir``, or tfds' default) when allowed.

    Args:
        name: the tfds name, with config (``"cityscapes/semantic_segmentation"``).
        data_dir: the directory searched first and downloaded into.
        download: allow a download (``None``: unless ``$MTLZOO_OFFLINE`` is set).
        how_to_get: instructions for the error message.
        looked: paths the caller already tried (listed first in the error).

    Raises:
        DataNotFoundError: nothing prepared and the download was not allowed or failed.

    Example:
        >>> builder = tfds_builder("mnist", download=False)  # doctest: +SKIP
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    roots = [str(r) for r in data_roots(data_dir)]
    looked = list(looked or [])
    for root in [*roots, None]:
        builder = tfds.builder(name, data_dir=root)
        marker = os.path.join(builder.data_dir, "dataset_info.json")
        looked.append(marker + " (prepared tensorflow-datasets)")
        if tf.io.gfile.exists(marker):
            return builder
    how = how_to_get or f"let tensorflow-datasets download {name!r} (download=True), or prepare it in data_dir."
    if not download_allowed(download):
        raise DataNotFoundError(name, looked, how)
    builder = tfds.builder(name, data_dir=str(data_dir) if data_dir else None)
    try:
        builder.download_and_prepare()
    except Exception as err:  # tfds raises many types (AssertionError for manual downloads)
        raise DataNotFoundError(name, looked, how, cause=f"{type(err).__name__}: {err}") from err
    return builder


def tfds_dataset(name: str, split: str, data_dir=None, download: bool | None = None, how_to_get: str = "",
                 looked: list[str] | None = None):
    """Read one split of a tfds dataset in its stored order (no file shuffling, one shard at a time).

    Args:
        name, data_dir, download, how_to_get, looked: as :func:`tfds_builder`.
        split: the tfds split name.

    Example:
        >>> ds = tfds_dataset("cifar10", "train")  # doctest: +SKIP
    """
    import tensorflow_datasets as tfds

    builder = tfds_builder(name, data_dir, download, how_to_get, looked)
    read = tfds.ReadConfig(interleave_cycle_length=1)
    return builder.as_dataset(split=split, shuffle_files=False, read_config=read)


def as_arrays(ds, keys: tuple[str, ...], chunk: int = 10000) -> dict:
    """Read a finite dataset of dict examples into ``{key: np.ndarray}`` (in chunks, without ``batch_size=-1``).

    Args:
        ds: a dataset of dict examples.
        keys: the features to keep.
        chunk: examples per read.

    Example:
        >>> import tensorflow as tf
        >>> ds = tf.data.Dataset.from_tensor_slices({"label": [1, 2, 3]})
        >>> as_arrays(ds, ("label",))["label"].tolist()
        [1, 2, 3]
    """
    import numpy as np

    parts = {k: [] for k in keys}
    for batch in ds.batch(chunk).as_numpy_iterator():
        for k in keys:
            parts[k].append(batch[k])
    return {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in parts.items()}
