"""Trained weights shipped with the zoo, and their model cards.

The package holds, in ``mtlzoo/models/weights/``, one ``<model>-<weights>.weights.h5``
(Keras ``save_weights``) per trained zoo model and beside it ``<model>-<weights>.json``,
its model card: the data, the training recipe, the build options, the commit and date it
was made, and the test metrics measured per task. ``<weights>`` names the data the model
was trained on (``multimnist``, ``planted_mnist``). ``benchmarks/make_zoo_weights.py``
trains and writes them from ``mnist.npz``; ``mtlzoo zoo`` lists the cards.

>>> "multimnist" in names("multimnist_lenet")   # doctest: +SKIP
True
>>> card("multimnist_lenet", "multimnist")["test"]["tasks"]["left"]["accuracy"]  # doctest: +SKIP
0.97...
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: The folder of the shipped weights and cards.
FOLDER = Path(__file__).resolve().parent / "weights"
#: Suffix of a weights file (Keras requires it for ``save_weights``).
SUFFIX = ".weights.h5"


def names(model: str) -> tuple[str, ...]:
    """The shipped weights of zoo model ``model`` (each with its card), sorted.

    Args:
        model: a zoo name, e.g. ``"multimnist_lenet"``.

    Example:
        >>> names("no_such_model")
        ()
    """
    if not FOLDER.is_dir():
        return ()
    prefix = f"{model}-"
    return tuple(sorted(p.name[len(prefix):-len(SUFFIX)] for p in FOLDER.iterdir()
                        if p.name.startswith(prefix) and p.name.endswith(SUFFIX)
                        and (FOLDER / (p.name[:-len(SUFFIX)] + ".json")).is_file()))


def shipped() -> list[tuple[str, str]]:
    """Every shipped ``(model, weights)`` pair, sorted.

    Example:
        >>> all(isinstance(m, str) and isinstance(w, str) for m, w in shipped())
        True
    """
    if not FOLDER.is_dir():
        return []
    pairs = []
    for p in sorted(FOLDER.glob(f"*{SUFFIX}")):
        model, _, weights = p.name[:-len(SUFFIX)].partition("-")
        if weights and weights in names(model):
            pairs.append((model, weights))
    return pairs


def weights_path(model: str, weights: str) -> Path:
    """The shipped weights file of ``model`` trained on ``weights``.

    Raises:
        ValueError: ``weights`` is not shipped for ``model`` (the message lists what is).
    """
    if weights not in names(model):
        known = names(model)
        raise ValueError(
            f"zoo model {model!r} has no shipped weights {weights!r}; "
            + (f"shipped: {', '.join(known)}" if known else "it ships without weights")
            + f", or pass the path of a {SUFFIX} file.")
    return FOLDER / f"{model}-{weights}{SUFFIX}"


def card(model: str, weights: str) -> dict[str, Any]:
    """The model card (a dict) of ``model``'s shipped ``weights``.

    Keys: ``model``, ``weights``, ``data``, ``model_config`` (build options), ``recipe``
    (the training recipe, plain data), ``seed``, ``epochs``, ``test`` (``{"split", "data_options",
    "examples", "tasks": {task: {metric: value}}}``), ``commit``, ``date``, ``params``,
    ``versions`` and ``command`` (how to regenerate it).

    Raises:
        ValueError: ``weights`` is not shipped for ``model``.
    """
    path = weights_path(model, weights)
    return _read_card(path.with_name(path.name[:-len(SUFFIX)] + ".json"))


def resolve(model: str, weights: str | os.PathLike) -> tuple[Path, dict[str, Any] | None]:
    """``(weights file, card or None)`` for ``weights=``: a shipped name or a ``.weights.h5`` path.

    A path's card is the ``.json`` of the same stem beside it, when there is one.

    Raises:
        ValueError: an unknown name, a missing file, or a file that is not ``*.weights.h5``.
    """
    text = os.fspath(weights)
    if isinstance(weights, str) and weights in names(model):
        return weights_path(model, weights), card(model, weights)
    looks_like_path = not isinstance(weights, str) or os.sep in text or text.endswith((".h5", ".keras"))
    if not looks_like_path:
        weights_path(model, text)  # raises, naming the shipped weights
    path = Path(text).expanduser()
    if text.endswith(".keras"):
        raise ValueError(f"weights={text!r} is a whole saved model; load it with mtlzoo.tools.load_trained "
                         f"or keras.models.load_model, or pass a {SUFFIX} file.")
    if not path.name.endswith(SUFFIX):
        raise ValueError(f"weights={text!r}: pass a {SUFFIX} file (model.save_weights) or a shipped name "
                         f"({', '.join(names(model)) or 'none for ' + model}).")
    if not path.is_file():
        raise ValueError(f"weights file {text!r} does not exist; pass an existing {SUFFIX} file or a shipped "
                         f"name ({', '.join(names(model)) or 'none for ' + model}).")
    sibling = path.with_name(path.name[:-len(SUFFIX)] + ".json")
    return path, (_read_card(sibling) if sibling.is_file() else None)


def build_with_weights(entry, weights: str | os.PathLike, overrides: dict[str, Any]):
    """Build zoo ``entry`` with the card's build options (then ``overrides``) and load ``weights``.

    Args:
        entry: a :class:`~mtlzoo.models.ZooEntry`.
        weights: a shipped name (:func:`names`) or the path of a ``.weights.h5`` file.
        overrides: build options given by the caller; they win over the card's.

    Raises:
        ValueError: unknown weights, or weights that do not fit the network built.
    """
    path, info = resolve(entry.name, weights)
    config = dict(info.get("model_config", {})) if info and info.get("model") == entry.name else {}
    config.update(overrides)
    model = entry.build(**config)
    try:
        model.load_weights(str(path))
    except ValueError as e:
        first = str(e).strip().splitlines()[0]
        built = ", ".join(f"{k}={v!r}" for k, v in config.items()) or "its defaults"
        raise ValueError(f"weights {os.fspath(weights)!r} do not fit {entry.name} built with {built} ({first}); "
                         f"build it with the options the weights were trained with.") from None
    return model


def example_data() -> tuple[str, ...]:
    """The datasets with example inputs shipped beside the weights (``<data>.examples.json``).

    Example:
        >>> "multimnist" in example_data()   # doctest: +SKIP
        True
    """
    if not FOLDER.is_dir():
        return ()
    return tuple(sorted(p.name[:-len(".examples.json")] for p in FOLDER.glob("*.examples.json")))


def examples(data: str):
    """A handful of ``data``'s test inputs shipped with the package: ``(images float32 (N, ...), {task: labels})``.

    ``benchmarks/make_zoo_weights.py`` writes them (the first test batch of
    ``mtlzoo.data.get(data, split="test")``) so that a predict request can be tried without data files.

    Raises:
        ValueError: no examples are shipped for ``data`` (the message lists the datasets that have some).
    """
    import numpy as np

    path = FOLDER / f"{data}.examples.json"
    if not path.is_file():
        raise ValueError(f"no example inputs are shipped for data {data!r}; shipped: "
                         f"{', '.join(example_data()) or 'none'}.")
    raw = _read_card(path)
    images = np.asarray(raw["pixels"], dtype=np.float32).reshape(-1, *raw["shape"]) / 255.0
    return images, {t: np.asarray(v, dtype=np.int64) for t, v in raw["labels"].items()}


def _read_card(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"model card {path} is not valid JSON ({e}); regenerate it with "
                         f"benchmarks/make_zoo_weights.py.") from None
