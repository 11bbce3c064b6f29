"""Turn the values a run records (tuples, NumPy scalars, paths) into plain JSON values."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def jsonable(value: Any) -> Any:
    """Tuples to lists, numpy scalars to Python numbers, paths to strings (recursively).

    Args:
        value: a value made of mappings, lists, tuples, paths, NumPy scalars and plain values.

    Returns:
        The same value with only JSON types in it (mapping keys become strings).

    Example:
        >>> import numpy as np
        >>> from pathlib import PurePosixPath
        >>> jsonable({"widths": (2, 3), 1: np.float32(0.5), "dir": PurePosixPath("runs/a")})
        {'widths': [2, 3], '1': 0.5, 'dir': 'runs/a'}
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value
