"""SavedModel export in TensorFlow Serving's layout: one signature for all tasks, one per task, peeled models."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: The file (inside TF Serving's ``assets.extra/``) that documents the model's input, preprocessing and outputs.
METADATA_FILE = "mtlzoo.json"
_VERSION = re.compile(r"^[1-9][0-9]*$")


def versions(directory: str | os.PathLike) -> list[int]:
    """The version numbers already exported under ``directory`` (folders named 1, 2, ...), sorted.

    Args:
        directory: a model folder in TF Serving's layout (``<directory>/<version>/saved_model.pb``).

    Example:
        >>> versions("/nonexistent")
        []
    """
    path = Path(directory)
    if not path.is_dir():
        return []
    return sorted(int(p.name) for p in path.iterdir() if p.is_dir() and _VERSION.match(p.name))


def signature_name(task: str) -> str:
    """The name of ``task``'s own signature: ``"task_<task>"``.

    Example:
        >>> signature_name("left")
        'task_left'
    """
    return f"task_{task}"


def export(model, directory: str | os.PathLike, tasks: Iterable[str] | None = None, peel: str | None = None,
           version: int | None = None, preprocessing: str | None = None) -> Path:
    """Write ``model`` as a SavedModel to ``<directory>/<version>/`` for TensorFlow Serving or ``mtlzoo serve``.

    The SavedModel has a ``serving_default`` signature returning every exported
    task's output (a dict ``{task: tensor}``) and one signature ``task_<name>``
    per task returning just that output. Each signature takes one input named
    after the model's input (e.g. ``image``) with the model's shape (batch axis
    free) and dtype; outputs are float32 even under mixed precision. The input,
    its preprocessing and each task's output are documented in
    ``<version>/assets.extra/mtlzoo.json``. The version is written to a
    temporary folder beside it and renamed into place, so a failed export never
    leaves a half-written version behind.

    Args:
        model: a built :class:`mtlzoo.TreeNetwork` (any zoo model, trained or not).
        directory: the model folder; created if missing. ``mtlzoo serve`` serves
            it under its folder name.
        tasks: the tasks to export (default: all). Their blocks are all kept;
            use ``peel`` for a smaller single-task network.
        peel: export only this task's peeled network (:func:`mtlzoo.peel`):
            fewer parameters, the same output for that task.
        version: the version number (default: one more than the largest
            existing version, starting at 1). An existing version is never
            overwritten.
        preprocessing: text describing the input the model expects (default:
            derived from the model's recipe dataset).

    Returns:
        The path of the version folder written.

    Raises:
        ValueError: unknown task, bad version, or ``tasks`` and ``peel`` both given.
        FileExistsError: the version exists already.

    Example:
        >>> model = mtlzoo.models.get("multimnist_lenet")          # doctest: +SKIP
        >>> mtlzoo.tools.export(model, "exports/multimnist")      # doctest: +SKIP
        PosixPath('exports/multimnist/1')
    """
    import keras
    import tensorflow as tf

    from mtlzoo.peel import peel as peel_network

    known = list(model.tasks)
    if peel is not None:
        if tasks is not None:
            raise ValueError("export: give either tasks=... or peel=..., not both (peel exports one task).")
        _check_tasks([peel], known, "peel")
        model = peel_network(model, peel)
        tasks = [peel]
    tasks = list(known if tasks is None else tasks)
    if not tasks:
        raise ValueError(f"export: tasks is empty; pass some of {known} (or leave it out for all).")
    _check_tasks(tasks, known, "tasks")

    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise ValueError(f"export: {str(root)!r} is a file; pass a folder to hold the versions.")
    version = _next_version(root, version)
    target = root / str(version)

    specs = [tf.TensorSpec([None, *shape], tf.as_dtype(dtype), name=name) for name, shape, dtype in model.input_specs()]
    several = isinstance(model._input_spec_config["input_shape"], Mapping)  # the root takes a list of inputs

    def endpoint(selected):
        def call(*inputs):
            outputs = model(list(inputs) if several else inputs[0], training=False)
            return {task: tf.cast(outputs[task], tf.float32) for task in selected}
        return call

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", endpoint(tasks), input_signature=specs)
    for task in tasks:
        archive.add_endpoint(signature_name(task), endpoint([task]), input_signature=specs)

    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".export-{version}-", dir=root))
    try:
        archive.write_out(str(staging / "model"), verbose=False)
        extra = staging / "model" / "assets.extra"
        extra.mkdir(exist_ok=True)
        metadata = describe(model, tasks, specs[0] if len(specs) == 1 else specs, preprocessing)
        (extra / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
        if target.exists():  # another export took this version meanwhile
            raise FileExistsError(f"export: {target} exists already; pass another version or leave it out.")
        os.rename(staging / "model", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def describe(model, tasks: list[str], spec, preprocessing: str | None = None) -> dict[str, Any]:
    """The metadata written to ``assets.extra/mtlzoo.json``: model, input, preprocessing, tasks and signatures.

    Args:
        model: the exported network.
        tasks: the exported tasks.
        spec: the input ``tf.TensorSpec`` (a list of them for a model with several inputs).
        preprocessing: overrides the text derived from the recipe's dataset.
    """
    import mtlzoo

    recipe = getattr(model, "recipe", None) or {}
    losses = recipe.get("loss")
    dataset = recipe.get("data")
    info = None
    if dataset:
        try:
            info = mtlzoo.data.info(dataset)
        except (KeyError, ValueError):
            info = None
    specs = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    spec = specs[0]
    if preprocessing is None and len(specs) > 1:
        preprocessing = "; ".join(f"{s.name}: {s.dtype.name} tensors of shape {tuple(s.shape[1:])}" for s in specs) \
            + ", as the model was trained on"
    if preprocessing is None:
        preprocessing = (f"{spec.dtype.name} images of shape {tuple(spec.shape[1:])} with pixel values "
                         f"scaled to [0, 1] (uint8 / 255), as mtlzoo.data.get({dataset!r}) yields them"
                         if info is not None else
                         f"{spec.dtype.name} tensors of shape {tuple(spec.shape[1:])}, as the model was trained on")
    task_infos = {t.name: t for t in info.tasks} if info is not None else {}
    described = {}
    for task in tasks:
        loss = losses.get(task) if isinstance(losses, Mapping) else losses
        entry: dict[str, Any] = {"signature": signature_name(task), "shape": _output_shape(model, task)}
        if isinstance(loss, str):
            entry["loss"] = loss
            entry["output"] = "logits" if loss.endswith("_from_logits") else "as the loss expects"
        if task in task_infos:
            t = task_infos[task]
            entry.update(kind=t.kind, num_classes=t.num_classes, description=t.description)
        described[task] = entry
    return {
        "format": "mtlzoo-export/1",
        "mtlzoo_version": mtlzoo.__version__,
        "model": model.name,
        "tree": model.tree.to_dict() if hasattr(model, "tree") else None,
        "input": {"name": spec.name, "dtype": spec.dtype.name, "shape": [None, *spec.shape[1:]]},
        **({"inputs": [{"name": s.name, "dtype": s.dtype.name, "shape": [None, *s.shape[1:]]} for s in specs]}
           if len(specs) > 1 else {}),
        "preprocessing": preprocessing,
        "dataset": dataset,
        "signatures": {"serving_default": list(tasks), **{signature_name(t): [t] for t in tasks}},
        "tasks": described,
        "parameters": int(model.count_params()),
    }


def _output_shape(model, task: str) -> list:
    shape = model.output[task].shape if isinstance(model.output, Mapping) else model.output.shape
    return [None if d is None else int(d) for d in shape]


def _check_tasks(tasks: list[str], known: list[str], argument: str) -> None:
    unknown = [t for t in tasks if t not in known]
    if unknown:
        raise ValueError(f"export: unknown task(s) {unknown} in {argument}; the model's tasks are {known}.")


def _next_version(root: Path, version: int | None) -> int:
    if version is None:
        existing = versions(root)
        return existing[-1] + 1 if existing else 1
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"export: version must be a positive integer, got {version!r}.")
    if (root / str(version)).exists():
        raise FileExistsError(f"export: {root / str(version)} exists already; pass another version or leave "
                              f"version out for the next free one ({(versions(root) or [0])[-1] + 1}).")
    return version
