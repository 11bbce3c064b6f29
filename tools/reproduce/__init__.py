"""``mtlzoo reproduce``: experiments that regenerate the seeds' tables and figures.

Each experiment is a module with a ``reproduce(folder, options)`` function that writes
``report.md``, CSV tables and PNG plots into a :class:`ReproductionFolder` and skips the
units of work an earlier, interrupted invocation finished.

>>> "multimnist_table3" in names()
True
"""

from __future__ import annotations

import importlib

from mtlzoo.tools.reproduce.reproduce_options import ReproduceOptions
from mtlzoo.tools.reproduce.reproduction_folder import ReproductionFolder

#: name -> (module, one-line description).
EXPERIMENTS: dict[str, tuple[str, str]] = {
    "multimnist_table3": ("mtlzoo.tools.reproduce.multimnist_table3",
                          "seed 002 Table 3 and Fig. 3: single task, uniform, grid, uncertainty, GradNorm, "
                          "MGDA-UB, hybrid and fast line search on MultiMNIST (mean +- 95% CI over seeds)"),
    "hybrid_speed": ("mtlzoo.tools.reproduce.hybrid_speed",
                     "seed 000 Fig. 6 and Fig. 4: loss against wall time for uniform, GradNorm, exact MGDA, "
                     "MGDA-UB and hybrid; Pareto-stationary fraction per epoch"),
    "line_search_timing": ("mtlzoo.tools.reproduce.line_search_timing",
                           "seed 001 Table 1: relative time per epoch of fast and classical line search, "
                           "SGD and MGDA-UB"),
    "split_search": ("mtlzoo.tools.reproduce.split_search",
                     "seed 000 Table 1: the greedy split search's steps on planted MNIST"),
    "partition": ("mtlzoo.tools.reproduce.partition",
                  "seed 004 Table 2: feature partitioning found by ES against the fixed partitionings"),
    "celeba_radar": ("mtlzoo.tools.reproduce.celeba_radar",
                     "seed 002 Fig. 2: per-attribute error radar chart on CelebA (needs CelebA)"),
    "multimnist_leaderboard": ("mtlzoo.tools.reproduce.multimnist_leaderboard",
                               "every registered balancer and single task on MultiMNIST: accuracy (mean +- 95% "
                               "CI), Delta-m%, seconds per epoch, rank"),
}


def names() -> list[str]:
    """The experiment names, in the order of the issue."""
    return list(EXPERIMENTS)


def get(name: str):
    """The ``reproduce(folder, options)`` function of experiment ``name``."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}.")
    return importlib.import_module(EXPERIMENTS[name][0]).reproduce


def description(name: str) -> str:
    """The one-line description of experiment ``name``."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}.")
    return EXPERIMENTS[name][1]


__all__ = ["EXPERIMENTS", "ReproduceOptions", "ReproductionFolder", "description", "get", "names"]
