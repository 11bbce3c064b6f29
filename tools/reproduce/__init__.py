"""``mtlzoo reproduce``: experiments that regenerate the seeds' tables and figures.

Each experiment is a module of this package that declares ``NAME = "..."`` and a one-line
``DESCRIPTION = "..."`` and has a ``reproduce(folder, options)`` function that writes ``report.md``,
CSV tables and PNG plots into a :class:`ReproductionFolder` and skips the units of work an earlier,
interrupted invocation finished. The modules are found by reading their source (``ast``, no import),
so listing the experiments (``mtlzoo reproduce --help``) imports neither TensorFlow nor an experiment.

>>> "multimnist_table3" in names()
True
>>> description("partition")[:8]
'seed 004'
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

from mtlzoo.tools.reproduce.reproduce_options import ReproduceOptions
from mtlzoo.tools.reproduce.reproduction_folder import ReproductionFolder


def _declared(path: Path) -> dict[str, str]:
    """The module-level string constants ``NAME`` and ``DESCRIPTION`` of the module at ``path``."""
    found = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in ("NAME", "DESCRIPTION"):
                    found[target.id] = node.value.value
    return found


def _discover() -> dict[str, tuple[str, str]]:
    experiments: dict[str, tuple[str, str]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        path = Path(__path__[0], f"{info.name}.py")
        declared = _declared(path) if path.is_file() else {}
        if "NAME" not in declared:
            continue
        name = declared["NAME"]
        if name in experiments or not declared.get("DESCRIPTION"):
            raise ValueError(f"{path}: experiment {name!r} " + ("is declared twice; give it another NAME."
                             if name in experiments else "needs a one-line DESCRIPTION = '...'."))
        experiments[name] = (f"{__name__}.{info.name}", declared["DESCRIPTION"])
    return experiments


#: name -> (module, one-line description), read from the experiment modules.
EXPERIMENTS: dict[str, tuple[str, str]] = _discover()


def names() -> list[str]:
    """The experiment names, sorted."""
    return list(EXPERIMENTS)


def _known(name: str) -> tuple[str, str]:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}.")
    return EXPERIMENTS[name]


def get(name: str):
    """The ``reproduce(folder, options)`` function of experiment ``name``."""
    return importlib.import_module(_known(name)[0]).reproduce


def description(name: str) -> str:
    """The one-line description of experiment ``name``."""
    return _known(name)[1]


__all__ = ["EXPERIMENTS", "ReproduceOptions", "ReproductionFolder", "description", "get", "names"]
