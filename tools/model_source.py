"""Find and load a trained mtlzoo model from a ``.keras`` file or a run folder of ``mtlzoo train``."""

from __future__ import annotations

import os
from pathlib import Path


def model_file(path: str | os.PathLike) -> Path:
    """The ``.keras`` file behind ``path``: the file itself, or a run folder's model.

    A run folder gives its final ``model.keras``, or, for a run that has not
    finished, the last epoch's ``checkpoints/last.keras``.

    Args:
        path: a ``.keras`` file or a run folder.

    Raises:
        FileNotFoundError: nothing loadable at ``path`` (the message says what was looked for).

    Example:
        >>> model_file("runs/none")
        Traceback (most recent call last):
        ...
        FileNotFoundError: 'runs/none' does not exist; pass a .keras file or a run folder of `mtlzoo train`.
    """
    path = Path(path)
    if path.is_dir():
        for candidate in (path / "model.keras", path / "checkpoints" / "last.keras"):
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"{str(path)!r} is a folder without model.keras or checkpoints/last.keras; "
                                "pass a run folder of `mtlzoo train` (after one finished epoch) or a .keras file.")
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist; pass a .keras file or a run folder of `mtlzoo train`.")
    if path.suffix != ".keras":
        raise FileNotFoundError(f"{str(path)!r} is not a .keras file; pass a .keras file or a run folder.")
    return path


def load_trained(path: str | os.PathLike, compile: bool = False):
    """Load the model behind ``path`` (see :func:`model_file`) with mtlzoo's classes registered.

    Args:
        path: a ``.keras`` file or a run folder.
        compile: also restore the compile state (optimizer, losses, balancer).

    Example:
        >>> model = load_trained("runs/multimnist_lenet-multidigits-mgda_ub-seed0")   # doctest: +SKIP
    """
    from mtlzoo.saving import load_model

    return load_model(model_file(path), compile=compile)
