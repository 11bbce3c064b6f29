"""Drive a partition oracle with a plain Python score function (seed 004 §4-5.2).

No Keras model is built: :class:`PartitionSearch` asks the oracle for a trial,
reads the raw ``P`` from its hyperparameters, scores the refined ``P̃`` with
``score_fn`` (e.g. a short distillation run, higher is better) and reports
``{"score": s}`` back. Trials are written by keras-tuner under
``directory/project_name`` (``oracle.json`` + ``trial_*/trial.json``), so a
search that is stopped (crash, Ctrl-C) and started again with the same folder
continues where it stopped, up to ``max_trials``, without repeating trials.

Example:
    >>> import tempfile, numpy as np
    >>> target = np.full((2, 2), 0.3)
    >>> search = PartitionSearch(lambda P: -float(np.sum((P - target) ** 2)), n_tasks=2, strategy="random",
    ...                          max_trials=4, directory=tempfile.mkdtemp(), seed=0, verbose=0)
    >>> len(search.search().results())
    4
"""

from __future__ import annotations

import math
import os
import traceback

import keras
import numpy as np
from keras_tuner.engine import trial as trial_module

from mtlzoo.tools.partition_search.es_partition_oracle import EvolutionaryPartitionOracle
from mtlzoo.tools.partition_search.parameterization import refine
from mtlzoo.tools.partition_search.random_partition_oracle import SCORE, RandomPartitionOracle

_ORACLES = {"random": RandomPartitionOracle, "es": EvolutionaryPartitionOracle}
_STATUS = trial_module.TrialStatus


class PartitionSearch:
    """Random sampling or evolutionary strategies over feature partitions, logged and resumable.

    Args:
        score_fn: callable ``P̃ -> float`` (``P̃ = refine(P)``, an (n, n) array), higher is better.
            An exception marks the trial invalid (keras-tuner retries it ``max_retries_per_trial``
            times, and stops after ``max_consecutive_failed_trials`` failures in a row);
            ``KeyboardInterrupt`` stops the search, which resumes from that trial.
        n_tasks: number of tasks.
        strategy: ``"es"`` (:class:`EvolutionaryPartitionOracle`) or ``"random"``
            (:class:`RandomPartitionOracle`).
        max_trials: total number of evaluations.
        directory, project_name: where keras-tuner keeps the trials (``directory/project_name``).
        seed: int seed of the oracle.
        overwrite: start afresh even if the folder holds a search.
        verbose: 1 shows a progress bar, 0 is silent.
        **oracle_kwargs: passed to the oracle (``weight_decay``, ``channel_use``, and for
            ES ``directions``, ``top_directions``, ``step_size``, ``noise``, ``initial``).

    Example:
        >>> import tempfile
        >>> search = PartitionSearch(lambda P: float(P.trace()), 3, strategy="es", max_trials=7, directions=3,
        ...                          weight_decay=0.1, directory=tempfile.mkdtemp(), seed=1, verbose=0)
        >>> [r["role"] for r in search.search().results()][:3]
        ['center', 'plus', 'minus']
    """

    def __init__(self, score_fn, n_tasks: int, strategy: str = "es", max_trials: int = 100,
                 directory="partition_search", project_name: str = "search", seed: int | None = 0,
                 overwrite: bool = False, verbose: int = 1, **oracle_kwargs):
        if not callable(score_fn):
            raise ValueError(f"score_fn must be a callable P̃ -> float; got {type(score_fn).__name__}.")
        if strategy not in _ORACLES:
            raise ValueError(f"Unknown strategy {strategy!r}; choose one of {sorted(_ORACLES)}.")
        self.score_fn, self.strategy, self.verbose = score_fn, strategy, int(verbose)
        self.directory, self.project_name = os.fspath(directory), str(project_name)
        self.oracle = _ORACLES[strategy](n_tasks, max_trials=max_trials, seed=seed, **oracle_kwargs)
        self.oracle._set_project_dir(self.directory, self.project_name)
        self.oracle.verbose = 0  # keras-tuner's per-trial tables; we show a progress bar instead
        fname = os.path.join(self.directory, self.project_name, "oracle.json")
        if overwrite and os.path.exists(fname):
            import shutil

            shutil.rmtree(os.path.join(self.directory, self.project_name))
        elif os.path.exists(fname):
            self.oracle.reload()

    @property
    def project_dir(self) -> str:
        """``directory/project_name``, the folder holding the trials."""
        return os.path.join(self.directory, self.project_name)

    def search(self) -> PartitionSearch:
        """Evaluate trials until the oracle has ``max_trials`` (or stops); returns ``self``."""
        oracle = self.oracle
        bar = None
        if self.verbose:
            bar = keras.utils.Progbar(oracle.max_trials, unit_name="trial", stateful_metrics=["score", "best_reward"])
        while True:
            trial = oracle.create_trial("partition_search")
            if trial.status == _STATUS.STOPPED:
                break
            if trial.status != _STATUS.RUNNING:
                raise RuntimeError(f"The {self.strategy} oracle returned a {trial.status} trial while no other trial "
                                   "is running; its state is inconsistent (delete the project folder to restart).")
            self._run(trial)
            if bar is not None:
                record = oracle.trial_record(trial.trial_id)
                best = [t.score for t in oracle.get_best_trials(1) if t.status == _STATUS.COMPLETED]
                values = [("score", record["score"] if record["score"] is not None else math.nan),
                          ("best_reward", best[0] if best else math.nan)]
                bar.update(len(oracle.end_order), values=values)
        return self

    def _run(self, trial):
        P = self.oracle.partition(trial)
        try:
            score = float(self.score_fn(refine(P)))
            if not math.isfinite(score):
                raise ValueError(f"score_fn returned {score}; it must return a finite float.")
        except Exception as error:  # noqa: BLE001 - keras-tuner decides between retry and failure
            trial.status = _STATUS.INVALID
            trial.message = "".join(traceback.format_exception_only(type(error), error)).strip()
            self.oracle.end_trial(trial)
            return
        self.oracle.update_trial(trial.trial_id, {SCORE: score})
        trial.status = _STATUS.COMPLETED
        self.oracle.end_trial(trial)

    def results(self, completed_only: bool = True) -> list[dict]:
        """One row per trial in creation order (see :meth:`RandomPartitionOracle.trial_record`).

        Args:
            completed_only: drop trials that are running, invalid or failed.
        """
        rows = [self.oracle.trial_record(tid) for tid in self.oracle.start_order if tid in self.oracle.trials]
        seen, unique = set(), []
        for row in rows:  # a retried trial appears once
            if row["trial_id"] not in seen:
                seen.add(row["trial_id"])
                unique.append(row)
        return [r for r in unique if r["status"] == _STATUS.COMPLETED] if completed_only else unique

    def best(self, by: str = "reward", max_channel_use: float | None = None) -> dict | None:
        """The completed trial with the highest ``by`` (``"reward"`` or ``"score"``), or None if there is none.

        Args:
            by: ``"reward"`` (penalised by ``weight_decay``) or ``"score"`` (raw).
            max_channel_use: only trials whose mean ``diag(P)`` is at most this (a resource budget).
        """
        if by not in ("reward", "score"):
            raise ValueError(f"by must be 'reward' or 'score'; got {by!r}.")
        rows = [r for r in self.results() if max_channel_use is None or r["channel_use"] <= max_channel_use]
        return max(rows, key=lambda r: r[by]) if rows else None

    def centres(self) -> list[dict]:
        """The ES trajectory: the completed ``center`` trials, one per iteration (empty for random sampling)."""
        return [r for r in self.results() if r["role"] == "center"]

    def best_partition(self, by: str = "reward", max_channel_use: float | None = None) -> np.ndarray:
        """The refined ``P̃`` of :meth:`best` (what the masks are derived from).

        Raises:
            ValueError: when no trial is completed (within ``max_channel_use``).
        """
        best = self.best(by, max_channel_use)
        if best is None:
            raise ValueError("No completed trial (within max_channel_use); run search() or relax the budget.")
        return refine(np.asarray(best["P"]))
