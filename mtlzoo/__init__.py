"""mtlzoo: multi-task learning for Keras 3 as multi-objective optimization.

The public facade. Names load lazily, so ``import mtlzoo`` and the ``mtlzoo``
command answer fast; the first Keras-backed name you touch imports TensorFlow
and registers every mtlzoo layer and model with Keras serialization, so
``keras.models.load_model("model.keras")`` works afterwards with no
``custom_objects`` (or call :func:`mtlzoo.load_model`, which does it for you).

>>> import mtlzoo
>>> tree = mtlzoo.TaskTree(blocks=["trunk", "l", "r"],
...                        paths={"left": ["trunk", "l"], "right": ["trunk", "r"]})
>>> tree.shared_blocks
('trunk',)
"""

from __future__ import annotations

import importlib
import os

__version__ = "0.1.0"


def _join_rooms() -> None:
    """In a source checkout, let ``mtlzoo.models`` & co. resolve to the sibling folders.

    Installed (wheel or editable), setuptools maps ``models/``, ``training/`` and
    ``tools/`` into the package; run from the repository root, Python finds this
    folder first, so the rooms beside it are added to the package path.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    marker = os.path.join(root, "pyproject.toml")
    rooms = ("models", "training", "tools")
    if os.path.isfile(marker) and all(os.path.isfile(os.path.join(root, r, "__init__.py")) for r in rooms):
        try:
            with open(marker, encoding="utf-8") as fh:
                is_ours = 'name = "mtlzoo"' in fh.read()
        except OSError:
            is_ours = False
        if is_ours and root not in __path__:
            __path__.append(root)


_join_rooms()

# name -> module holding it (pure-Python names first; the rest import Keras).
_LAZY = {
    "TaskTree": "mtlzoo.task_tree",
    "Registry": "mtlzoo.registry",
    "TreeNetwork": "mtlzoo.tree_network",
    "peel": "mtlzoo.peel",
    "split": "mtlzoo.split",
    "load_model": "mtlzoo.saving",
    "register_all": "mtlzoo.saving",
    "from_keras": "mtlzoo.training.from_keras",
}
# ``peel`` and ``split`` are facade functions AND submodules of the same name: the first import of a
# submodule (``from mtlzoo.peel import peel`` anywhere) would rebind ``mtlzoo.peel`` to the module.
# Load the two pure-Python submodules now and drop those attributes, so ``__getattr__`` gives the functions.
for _name in ("peel", "split"):
    importlib.import_module(f"mtlzoo.{_name}")
    globals().pop(_name, None)
del _name
_SUBMODULES = ("heads", "layers", "data", "models", "training", "tools", "testing", "tree_ops", "cli")
_PURE = {"TaskTree", "Registry", "tree_ops", "cli", "data"}


def __getattr__(name: str):
    if name in _LAZY:
        if name not in _PURE:
            importlib.import_module("mtlzoo.saving").register_all()
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        if name not in _PURE:
            importlib.import_module("mtlzoo.saving").register_all()
        value = importlib.import_module(f"mtlzoo.{name}")
    else:
        raise AttributeError(f"module 'mtlzoo' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(_LAZY) + list(_SUBMODULES))


__all__ = ["TaskTree", "TreeNetwork", "peel", "split", "load_model", "from_keras", "data", "models", "training",
           "tools", "heads", "layers", "__version__"]
