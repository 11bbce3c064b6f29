"""The kind checks of every :class:`~mtlzoo.training.Recipe` key: one-line errors naming the key and the fix.

A recipe is plain data (strings, numbers, booleans, ``null``, lists and mappings with
string keys), whatever its source: a YAML file, ``--set KEY=VALUE`` or Python.
:func:`check_values` refuses anything else (a YAML date, ``!!binary`` bytes, a set, a
mapping with a list as key, a value that contains itself) naming the key path, and then
checks each key's kind (``balancer: 5`` or ``schedule: {every: [1]}`` are refused here,
before anything is trained). Echoed values are cut to a bounded length.

Example:
    >>> from mtlzoo.training.recipe import FIELDS
    >>> defaults = {key: default for key, (default, _) in FIELDS.items()}
    >>> check_values({**defaults, "seeds": 3}, "r")["seeds"]
    [3]
    >>> check_values({**defaults, "balancer": 5}, "r")
    Traceback (most recent call last):
    ...
    ValueError: recipe 'r': balancer must be a balancer name or {class_name: NAME, config: {...}}, got 5; e.g. balancer: mgda_ub.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from mtlzoo.short_repr import short_repr

#: Largest epochs / batch size accepted (Keras counts them in 32-bit integers).
MAX_COUNT = 2 ** 31 - 1
#: Seeds lie in [0, MAX_SEED] (NumPy's legacy seeding range, which keras.utils.set_random_seed uses).
MAX_SEED = 2 ** 32 - 1

#: Longest name (dataset, task, balancer, optimizer, loss) accepted.
MAX_NAME = 200
#: Longest ``model``: a zoo name or the path of a ``.keras`` file.
MAX_PATH = 4096

#: ``key: (what it must be, an example line)``, for the error messages.
KINDS = {
    "model": ("a zoo model name (see `mtlzoo zoo`) or the path of a .keras file", "model: multimnist_lenet"),
    "data": ("a dataset name (mtlzoo.data.names())", "data: multidigits"),
    "model_config": ("a mapping of the model's build arguments", "model_config: {width: 4}"),
    "data_config": ("a mapping of dataset options", "data_config: {limit: 1000}"),
    "task": ("a task name", "task: left"),
    "balancer": ("a balancer name or {class_name: NAME, config: {...}}", "balancer: mgda_ub"),
    "loss": ("a Keras loss name or {class_name, config}, or {task: loss}",
             "loss: sparse_categorical_crossentropy_from_logits"),
    "metrics": ("a list of Keras metric names, or {task: [metric, ...]}", "metrics: [accuracy]"),
    "line_search": ("fast, classic, none or a mapping of ArmijoLineSearch arguments", "line_search: fast"),
    "optimizer": ("a Keras optimizer name or {class_name: NAME, config: {...}}",
                  "optimizer: {class_name: SGD, config: {momentum: 0.9}}"),
    "lr": ("a positive number (finite)", "lr: 0.01"),
    "schedule": ("{every: EPOCHS >= 1, factor: 0 < F <= 1}", "schedule: {every: 10, factor: 0.5}"),
    "batch_size": (f"a positive integer (at most {MAX_COUNT})", "batch_size: 64"),
    "epochs": (f"a positive integer (at most {MAX_COUNT})", "epochs: 60"),
    "seeds": (f"a non-empty list of integers in [0, {MAX_SEED}]", "seeds: [0, 1, 2]"),
    "strategy": ("auto, one_device, mirrored or multi_worker", "strategy: mirrored"),
    "mixed_precision": ("true or false", "mixed_precision: true"),
    "jit_compile": ("true, false or null (Keras' auto)", "jit_compile: false"),
}
#: The ``strategy`` names (:mod:`mtlzoo.training.strategies`; not imported here: it imports TensorFlow).
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")


def check_values(values: dict, name: str) -> dict:
    """Check every key of a recipe's (complete) values; returns them normalized (``seeds: 3`` -> ``[3]``).

    Args:
        values: ``{key: value}`` for every key of :data:`KINDS`.
        name: the recipe's name, for messages.

    Raises:
        ValueError: the first key whose value is not plain data or not of its kind.
    """
    for key, value in values.items():
        if not isinstance(value, (*_PLAIN, list, tuple, Mapping)):  # a date, bytes, a set...: say what fits
            _require(False, key, value, name)
        _check_plain(value, key, name, set())
    v = dict(values)
    _require(_is_name(v["model"], MAX_PATH), "model", v["model"], name)  # a zoo name or a .keras file's path
    _require(_is_name(v["data"]), "data", v["data"], name)
    for key in ("model_config", "data_config"):
        _require(isinstance(v[key], Mapping), key, v[key], name)
    _require(v["task"] is None or _is_name(v["task"]), "task", v["task"], name)
    for key in ("balancer", "optimizer"):
        _require(v[key] is None or _is_name(v[key]) or _is_class_spec(v[key]), key, v[key], name)
    if "loss" in v:
        loss = v["loss"]
        _require(loss is None or _is_spec(loss) or (isinstance(loss, Mapping) and bool(loss)
                                                    and all(_is_spec(x) for x in loss.values())), "loss", loss, name)
    if "metrics" in v:
        metrics = v["metrics"]
        _require(metrics is None or _is_specs(metrics) or (isinstance(metrics, Mapping) and bool(metrics)
                                                           and all(_is_specs(x) for x in metrics.values())),
                 "metrics", metrics, name)
    _require(v["line_search"] in (None, "fast", "classic", "none") or isinstance(v["line_search"], Mapping),
             "line_search", v["line_search"], name)
    if v["line_search"] == "none":
        v["line_search"] = None
    _require(v["lr"] is None or _is_positive_number(v["lr"]), "lr", v["lr"], name)
    schedule = v["schedule"]
    _require(schedule is None or (isinstance(schedule, Mapping) and set(schedule) == {"every", "factor"}
                                  and _is_count(schedule["every"]) and _is_number(schedule["factor"])
                                  and 0 < schedule["factor"] <= 1), "schedule", schedule, name)
    _require(v["batch_size"] is None or _is_count(v["batch_size"]), "batch_size", v["batch_size"], name)
    _require(_is_count(v["epochs"]), "epochs", v["epochs"], name)
    seeds = v["seeds"]
    if _is_int(seeds):
        v["seeds"] = seeds = [seeds]
    _require(isinstance(seeds, list) and bool(seeds) and all(_is_int(s) and 0 <= s <= MAX_SEED for s in seeds),
             "seeds", seeds, name)
    if "strategy" in v:
        _require(v["strategy"] is None or v["strategy"] in STRATEGIES, "strategy", v["strategy"], name)
    if "mixed_precision" in v:
        _require(isinstance(v["mixed_precision"], bool), "mixed_precision", v["mixed_precision"], name)
    if "jit_compile" in v:
        _require(v["jit_compile"] is None or isinstance(v["jit_compile"], bool), "jit_compile", v["jit_compile"],
                 name)
    return v


def _require(ok: bool, key: str, value, name: str) -> None:
    if not ok:
        expected, example = KINDS[key]
        raise ValueError(f"recipe {name!r}: {key} must be {expected}, got {short_repr(value)}; e.g. {example}.")


def _is_name(value, limit: int = None) -> bool:
    """A registry name (or a file's path): one printable line of at most ``limit`` (:data:`MAX_NAME`) characters."""
    return isinstance(value, str) and 0 < len(value) <= (limit or MAX_NAME) and value.isprintable()


def _is_spec(value) -> bool:
    """A Keras loss or metric: a name or its serialized ``{class_name, config}``."""
    return _is_name(value) or _is_class_spec(value)


def _is_specs(value) -> bool:
    """One metric or a list of them."""
    return _is_spec(value) or (isinstance(value, list) and all(_is_spec(x) for x in value))


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_count(value) -> bool:
    return _is_int(value) and 1 <= value <= MAX_COUNT


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_positive_number(value) -> bool:
    if not _is_number(value):
        return False
    try:
        value = float(value)
    except OverflowError:  # an integer beyond float's range
        return False
    return math.isfinite(value) and value > 0


def _is_class_spec(value) -> bool:
    """``{class_name: NAME[, config: {...}, module: ..., registered_name: ...]}`` (Keras' serialized form)."""
    return (isinstance(value, Mapping) and _is_name(value.get("class_name"))
            and set(value) <= {"class_name", "config", "module", "registered_name"}
            and isinstance(value.get("config", {}), Mapping))


_PLAIN = (str, int, float, bool, type(None))


def _check_plain(value, path: str, name: str, seen: set) -> None:
    """Refuse what is not JSON-like data (JSON is how run folders save recipes)."""
    if isinstance(value, _PLAIN):
        return
    if id(value) in seen:
        raise ValueError(f"recipe {name!r}: {path} contains itself; give plain values.")
    if isinstance(value, (list, tuple)):
        seen.add(id(value))
        for i, item in enumerate(value):
            _check_plain(item, f"{path}[{i}]", name, seen)
        seen.discard(id(value))
        return
    if isinstance(value, Mapping):
        seen.add(id(value))
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"recipe {name!r}: {path} has the key {short_repr(key)}, not a name; mapping keys "
                                 f"must be names (e.g. {{width: 4}}).")
            _check_plain(item, f"{path}.{key}", name, seen)
        seen.discard(id(value))
        return
    raise ValueError(f"recipe {name!r}: {path} holds {short_repr(value)} (a {type(value).__name__}); recipe "
                     f"values are strings, numbers, booleans, null, lists and mappings (quote a date or a name: "
                     f"'2020-01-01').")
