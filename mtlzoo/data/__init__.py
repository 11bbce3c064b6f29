"""Datasets as ``tf.data`` pipelines of ``(x, {task: y})`` or ``(x, {task: y}, {task: sample_weight})``.

``get(name, split=..., batch_size=..., data_dir=..., seed=..., **options)``
builds one by name; ``names()`` lists them; ``info(name)`` describes one
(tasks, input shape, classes, which head fits) without loading anything.
Importing this package, ``names()`` and ``info()`` do not import TensorFlow.

Offline data: pass ``data_dir`` or set ``MTLZOO_DATA_DIR`` (Keras ``.npz``
files, IDX files, extracted Cityscapes, prepared tensorflow-datasets dirs);
set ``MTLZOO_OFFLINE=1`` to forbid downloads. See :mod:`mtlzoo.data.sources`.

>>> from mtlzoo import data
>>> "multimnist" in data.names()
True
>>> data.info("multimnist").task("left").num_classes
10
>>> ds = data.get("multidigits", split="test", batch_size=8)
>>> x, y = next(iter(ds))
>>> tuple(x.shape), sorted(y)
((8, 28, 28, 1), ['left', 'right'])
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from mtlzoo.data.catalog import INFOS, LOADERS, info_for
from mtlzoo.data.data_not_found_error import DataNotFoundError
from mtlzoo.data.dataset_info import DatasetInfo
from mtlzoo.data.task_info import TaskInfo
from mtlzoo.registry import Registry

#: The default dataset of ``mtlzoo train`` (needs no files and no network).
DEFAULT = "multidigits"


class _Loader:
    """Imports a loader's module on first call, so the registry stays TensorFlow-free."""

    def __init__(self, module: str, function: str):
        self.module, self.function = module, function

    def resolve(self):
        """The loader function (imports its module)."""
        return getattr(importlib.import_module(self.module), self.function)

    def __call__(self, **kwargs):
        return self.resolve()(**kwargs)


REGISTRY = Registry("dataset")
_INFOS: dict[str, DatasetInfo] = {}


def register(name: str, loader, info: DatasetInfo) -> None:
    """Register a dataset: ``loader(split=, batch_size=, data_dir=, seed=, **options)`` and its metadata.

    Args:
        name: the identifier for :func:`get`.
        loader: a callable returning a ``tf.data.Dataset``, or a ``(module, function)`` pair imported lazily.
        info: its :class:`DatasetInfo`.

    Example:
        >>> import tensorflow as tf
        >>> def toy(split="train", batch_size=2, data_dir=None, seed=0):
        ...     return tf.data.Dataset.from_tensors((tf.zeros([2, 1]), {"t": tf.zeros([2], tf.int32)}))
        >>> info = DatasetInfo("toy_doc", "", (1,), (TaskInfo("t", "classification", 2),))
        >>> _ = "toy_doc" in names() or register("toy_doc", toy, info)   # a name is registered once
        >>> "toy_doc" in names()
        True
    """
    if isinstance(loader, tuple):
        loader = _Loader(*loader)
    REGISTRY.register(name, loader)
    _INFOS[name] = info


for _name, _where in LOADERS.items():
    register(_name, _where, INFOS[_name])


def names() -> tuple[str, ...]:
    """The registered dataset names.

    Example:
        >>> "multidigits" in names()
        True
    """
    return REGISTRY.names()


def info(name: str, **options: Any) -> DatasetInfo:
    """Metadata of dataset ``name`` (adjusted for ``tasks`` / ``image_size`` options), without loading it.

    Args:
        name: a registered name.
        **options: loader options that change the metadata (``tasks``, ``image_size``).

    Example:
        >>> info("cifar10").tasks[0].head
        'binary'
    """
    REGISTRY.factory(name)  # raises the "unknown dataset, known: ..." error
    if name in INFOS:
        return info_for(name, **options)
    return _INFOS[name]


def get(name: str | Mapping, split: str = "train", batch_size: int | None = None, data_dir=None, seed: int = 0,
        **options: Any):
    """Build dataset ``name`` as a ``tf.data.Dataset``.

    Args:
        name: a registered name, or ``{"class_name": name, "config": {...}}``
            (the config's keys fill in arguments not given here), or a
            ``tf.data.Dataset``, returned unchanged.
        split: ``"train"``, ``"test"`` or (where it exists) ``"validation"``.
        batch_size: examples per batch (default: the dataset's, ``info(name).batch_size``).
        data_dir: a directory with local copies of the data (also ``$MTLZOO_DATA_DIR``).
        seed: shuffling, pairing and sampling seed; the same seed gives the same batches.
        **options: dataset-specific options (see each loader's docstring); an
            unknown option raises ``ValueError`` listing the valid ones.

    Returns:
        A ``tf.data.Dataset``; it carries its metadata as ``dataset.mtlzoo_info``.

    Example:
        >>> ds = get("multidigits", split="test", batch_size=4, seed=1)
        >>> ds.mtlzoo_info.name
        'multidigits'
    """
    if hasattr(name, "element_spec"):  # already a dataset: passes through, like other registries' instances
        if options or (split, batch_size, data_dir, seed) != ("train", None, None, 0):
            raise ValueError("mtlzoo.data.get: cannot apply split/batch_size/options to an existing dataset.")
        return name
    if isinstance(name, Mapping):
        config = dict(name.get("config", {}))
        name = name.get("class_name", name.get("name"))
        given = {"split": split, "batch_size": batch_size, "data_dir": data_dir, "seed": seed}
        defaults = {"split": "train", "batch_size": None, "data_dir": None, "seed": 0}
        merged = {**config, **{k: v for k, v in given.items() if v != defaults[k]}, **options}
        split, batch_size, data_dir, seed = (merged.pop(k, defaults[k]) for k in defaults)
        options = merged
    if not isinstance(name, str):
        raise ValueError(f"A dataset is named by a string or a {{'class_name', 'config'}} dict, got {name!r}.")
    loader = REGISTRY.factory(name)
    function = loader.resolve() if isinstance(loader, _Loader) else loader
    _check_options(name, function, options)
    meta = info(name, **{k: v for k, v in options.items() if k in ("tasks", "image_size")})
    batch_size = meta.batch_size if batch_size is None else batch_size
    ds = function(split=split, batch_size=batch_size, data_dir=data_dir, seed=seed, **options)
    ds.mtlzoo_info = meta
    return ds


def _check_options(name: str, function, options: Mapping[str, Any]) -> None:
    params = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    valid = sorted(set(params) - {"split", "batch_size", "data_dir", "seed"})
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise ValueError(f"Dataset {name!r} has no option(s) {unknown}; its options: {', '.join(valid) or '(none)'}.")


_LAZY = {"CurriculumCallback": "mtlzoo.data.curriculum_callback", "validate": "mtlzoo.data.validation",
         "EpochClock": "mtlzoo.data.epoch_clock",
         "TemperatureCurriculum": "mtlzoo.data.temperature_curriculum",
         "build_multimnist": "mtlzoo.data.multimnist", "multimnist_canvas": "mtlzoo.data.multimnist",
         "load_mnist_family": "mtlzoo.data.sources"}


def __getattr__(attr: str):
    if attr in _LAZY:
        value = getattr(importlib.import_module(_LAZY[attr]), attr)
        globals()[attr] = value
        return value
    raise AttributeError(f"module 'mtlzoo.data' has no attribute {attr!r}")


__all__ = ["CurriculumCallback", "DataNotFoundError", "DatasetInfo", "DEFAULT", "EpochClock", "TaskInfo",
           "TemperatureCurriculum",
           "build_multimnist", "get", "info", "load_mnist_family", "multimnist_canvas", "names", "register",
           "validate"]
