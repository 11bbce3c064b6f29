"""``load_keras_file``: a ``.keras`` file holding a multi-output functional Keras model, ready to train as MTL."""

from __future__ import annotations

import os
from pathlib import Path


def load_keras_file(path: str | os.PathLike, shared=None):
    """Load a saved functional Keras model with one output per task and turn it into a ``MultiTaskModel``.

    A file that already holds a :class:`~mtlzoo.training.MultiTaskModel` (say, a
    run folder's ``model.keras``) is returned as it is; anything else goes through
    :func:`~mtlzoo.training.from_keras.from_keras`. Nothing is compiled.

    Args:
        path: the ``.keras`` file.
        shared: passed to ``from_keras`` (a coarser shared block).

    Raises:
        ValueError: one line naming the file and the reason: it does not exist,
            Keras cannot load it, or it holds no multi-output functional model
            (a subclassed model, one output, a graph that is not a tree, ...).

    Example:
        >>> load_keras_file("missing.keras")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: model file 'missing.keras' does not exist; give the path of a .keras file ...
    """
    path = Path(path)
    shown = repr(str(path))
    if not path.is_file():
        raise ValueError(f"model file {shown} does not exist; give the path of a .keras file holding a functional "
                         "Keras model with one output per task, or a zoo model name (mtlzoo zoo).")
    from mtlzoo.saving import load_model
    from mtlzoo.training.from_keras import from_keras
    from mtlzoo.training.multi_task_model import MultiTaskModel

    try:
        model = load_model(path, compile=False)
    except Exception as err:  # Keras raises ValueError, TypeError, zipfile/OSError variants for a bad file
        reason = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
        raise ValueError(f"model file {shown} is not a Keras model file that loads ({reason}); save the model "
                         "with model.save('name.keras').") from None
    if isinstance(model, MultiTaskModel):
        return model
    try:
        return from_keras(model, shared=shared)
    except ValueError as err:
        raise ValueError(f"model file {shown}: {str(err).removeprefix('from_keras: ')}") from None
