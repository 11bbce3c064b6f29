"""Where the recipes shipped with the package live; pure Python, so ``mtlzoo train --help`` stays fast.

>>> "multidigits" in names()
True
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def folder() -> Path:
    """The folder of the shipped ``*.yaml`` recipes (``mtlzoo.training``'s ``recipes/``), found without importing it."""
    spec = importlib.util.find_spec("mtlzoo.training")
    return Path(next(iter(spec.submodule_search_locations))) / "recipes"


def names() -> list[str]:
    """The shipped recipe names (file stems), sorted."""
    return sorted(p.name[:-5] for p in folder().iterdir() if p.name.endswith(".yaml"))
