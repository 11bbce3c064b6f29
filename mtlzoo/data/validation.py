"""Check a dataset against a model before training: inputs, task names, head sizes, label ranges.

>>> from mtlzoo import data
>>> import keras
>>> x = keras.Input((28, 28, 1))
>>> flat = keras.layers.Flatten()(x)
>>> net = keras.Model(x, {t: keras.layers.Dense(10, name=t)(flat) for t in ("left", "right")})
>>> validate(data.get("multidigits", split="test"), net).name
'multidigits'
"""

from __future__ import annotations

from itertools import islice

from mtlzoo.data.dataset_info import DatasetInfo


def validate(dataset, model=None, info: DatasetInfo | None = None, batches: int = 1) -> DatasetInfo:
    """Raise ``ValueError`` if ``dataset`` cannot train ``model``; return the dataset's metadata.

    Checks the model's input shape, its outputs (one per task, wide enough for
    the task's classes) against the metadata, then the first ``batches`` batches
    against the metadata (shapes, dtypes, labels within range where weighted).

    Args:
        dataset: a dataset from :func:`mtlzoo.data.get` (it carries ``mtlzoo_info``),
            or any dataset of ``(x, {task: y}[, {task: w}])`` with ``info`` given.
        model: a Keras model whose outputs are a dict ``{task: tensor}`` (optional).
        info: the metadata, if the dataset does not carry it.
        batches: how many batches to inspect (0 for none).

    Example:
        >>> from mtlzoo import data
        >>> validate(data.get("multidigits", split="test", batch_size=8)).task_names
        ('left', 'right')
    """
    info = info or getattr(dataset, "mtlzoo_info", None)
    if info is None:
        raise ValueError("validate: this dataset carries no metadata (mtlzoo_info); pass info=DatasetInfo(...) "
                         "or build it with mtlzoo.data.get(...).")
    if model is not None:
        info.check_model(model)
    for batch in islice(iter(dataset), max(int(batches), 0)):
        info.check_batch(tuple(batch))
    return info
