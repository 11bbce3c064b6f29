"""``mtlzoo reproduce hybrid_speed``: seed 000 §4.5, Fig. 6 (loss against wall time) and Fig. 4 (Pareto-stationary
fraction per epoch) on MultiMNIST.

For every seed, ``multimnist_lenet`` trains with the balancers ``uniform``,
``gradnorm`` (latent, eq. 4.11), ``mgda`` (exact MGDA on the shared parameters),
``mgda_ub`` and ``hybrid`` (Alg. 1), from the same initial weights on the same
batches; one unit of work is one (balancer, seed) training, so an interrupted
reproduction resumes at the first unfinished one. The balancer order rotates
with the seed, so slow phases of a shared machine do not always hit the same
balancer.

Writes ``report.md``, ``hybrid_speed.csv`` (one row per balancer: seconds per
epoch and the ratio to uniform, final test loss and accuracy per task, time to
reach uniform's final training loss, last Pareto-stationary fraction, hybrid
switch epoch), ``hybrid_speed_curves.csv`` (per balancer and epoch, means over
seeds) and the plots ``hybrid_speed_loss_vs_time.png`` and
``hybrid_speed_pareto_stationary.png``.

Default: 8 epochs (``--epochs``), 3 seeds. On the full MultiMNIST (60k pairs,
batch 256) one epoch takes about 5-7 s of training (exact MGDA about 1.5-2x
that) plus 1 s of test evaluation on 2 idle CPU cores, so the default run
(5 balancers x 3 seeds x 8 epochs) takes about 15 minutes; it took 22 minutes
on a shared machine with a load average near 9.

Example:
    >>> from mtlzoo.tools import reproduce as r
    >>> r.get("hybrid_speed")(r.ReproductionFolder("runs/hybrid_speed"),
    ...                       r.ReproduceOptions(data_dir="../shared/data"))  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from mtlzoo.tools.reproduce import hybrid_speed_report as report
from mtlzoo.tools.reproduce import hybrid_speed_summary as summary
from mtlzoo.tools.reproduce import hybrid_speed_training as training

#: ``mtlzoo reproduce NAME``: this experiment's name and one-line description (read by the package).
NAME = "hybrid_speed"
DESCRIPTION = ("seed 000 Fig. 6 and Fig. 4: loss against wall time for uniform, GradNorm, exact MGDA, MGDA-UB and "
               "hybrid; Pareto-stationary fraction per epoch")

#: Epochs when ``options.epochs`` is not given (about 15 minutes for 3 seeds on 2 idle cores).
DEFAULT_EPOCHS = 8


def unit_key(balancer: str, seed: int) -> str:
    """The unit key of one training, e.g. ``"mgda_ub-seed0"``."""
    return f"{balancer}-seed{seed}"


def plan(seeds: list[int], balancers=None) -> list[tuple[str, int]]:
    """``(balancer, seed)`` in run order: seed by seed, the balancer order rotated by the seed's position.

    Example:
        >>> plan([0, 1], ("a", "b"))
        [('a', 0), ('b', 0), ('b', 1), ('a', 1)]
    """
    balancers = tuple(training.BALANCERS if balancers is None else balancers)
    out = []
    for k, seed in enumerate(seeds):
        shift = k % len(balancers)
        out += [(b, seed) for b in balancers[shift:] + balancers[:shift]]
    return out


def reproduce(folder, options) -> Path:
    """Run (or resume) the trainings and write the report, CSVs and plots.

    Args:
        folder: the :class:`~mtlzoo.tools.reproduce.ReproductionFolder`.
        options: the :class:`~mtlzoo.tools.reproduce.ReproduceOptions` (epochs default 8).

    Returns:
        ``folder.report_path``.

    Raises:
        mtlzoo.data.DataNotFoundError: MultiMNIST's ``mnist.npz`` is not in the data directory.
    """
    epochs = options.epochs_or(DEFAULT_EPOCHS)
    todo = plan(options.seed_list)
    units: dict[str, list[dict]] = {b: [] for b in training.BALANCERS}
    for i, (balancer, seed) in enumerate(todo):
        key = unit_key(balancer, seed)
        options.progress(i, len(todo), f"hybrid_speed: {balancer}, seed {seed}, {epochs} epochs")
        result = folder.unit(key, lambda: training.train_unit(balancer, seed, epochs, options))
        if result.get("epochs") != epochs:
            raise ValueError(f"{folder.unit_path(key)} holds a {result.get('epochs')}-epoch run, not {epochs}; "
                             "use a new folder or delete the units to rerun with another --epochs.")
        units[balancer].append(result)
    units = {b: sorted(runs, key=lambda u: u["seed"]) for b, runs in units.items()}
    rows = summary.summary_rows(units)
    curves = summary.curve_rows(units)
    folder.write_csv("hybrid_speed", rows)
    folder.write_csv("hybrid_speed_curves", curves)
    figures = [report.plot_loss_vs_time(folder, curves).stem,
               report.plot_stationary(folder, curves, training.MIN_NORM).stem]
    text = report.report_text(options, epochs, rows, curves, training.DATASET, summary.same_start(units), figures)
    folder.write_text("report.md", text)
    return folder.report_path
