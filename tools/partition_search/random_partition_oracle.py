"""Random sampling of partitions as a keras-tuner Oracle (seed 004 §4.1, "random sampling").

Each trial is one raw ``P`` drawn by :func:`sample_partition` (diagonal uniform
in ``channel_use``, off-diagonals uniform in [0, 1]). The oracle also owns what
every partition search logs per trial, so :class:`EvolutionaryPartitionOracle`
builds on it: the penalised reward ``r = score - weight_decay * ||diag(P)||²``
(seed 004 §4.1's L2 term on ``diag(P)``) becomes the trial's keras-tuner score
(so ``get_best_trials`` ranks by it), ``reward`` and ``channel_use`` join the
trial's metrics, and :meth:`RandomPartitionOracle.trial_record` gives one flat
row per trial (P, channel use, raw score, reward, iteration, role).

Example:
    >>> import tempfile
    >>> oracle = RandomPartitionOracle(n_tasks=2, max_trials=3, weight_decay=0.0, seed=1)
    >>> oracle._set_project_dir(tempfile.mkdtemp(), "demo"); oracle.verbose = 0
    >>> trial = oracle.create_trial("worker")
    >>> _ = oracle.update_trial(trial.trial_id, {"score": 0.5})
    >>> trial.status = "COMPLETED"; oracle.end_trial(trial)
    >>> record = oracle.trial_record(trial.trial_id)
    >>> record["role"], record["score"], record["reward"], len(record["P"])
    ('sample', 0.5, 0.5, 2)
"""

from __future__ import annotations

import keras_tuner
import numpy as np
from keras_tuner.engine import trial as trial_module

from mtlzoo.tools.partition_search.parameterization import channel_use as mean_channel_use
from mtlzoo.tools.partition_search.parameterization import sample_partition
from mtlzoo.tools.partition_search.search_space import hp_to_partition, partition_space, partition_to_values

#: The metric the search driver reports per trial (higher is better).
SCORE = "score"


class RandomPartitionOracle(keras_tuner.Oracle):
    """One uniformly random raw partition ``P`` per trial (seed 004 §4.1).

    Args:
        n_tasks: number of tasks ``n`` (``P`` is ``n x n``).
        max_trials: how many partitions to evaluate.
        channel_use: ``(low, high)``: range of the diagonal of ``P`` (the paper's
            "restrict samples to a specific range of parameter usage"); (0, 1) by default.
        weight_decay: ``λ >= 0`` of the reward ``score - λ ||diag(P)||²`` that ranks
            trials (0: rank by the raw score).
        seed: int seed; the draws of a search are a function of ``(seed, trial count)``,
            so a reloaded search continues the same sequence.
        objective: the metric to maximise; ``"score"`` (what :class:`PartitionSearch` reports).
        **kwargs: passed to ``keras_tuner.Oracle`` (``max_retries_per_trial``,
            ``max_consecutive_failed_trials``).

    Example:
        >>> oracle = RandomPartitionOracle(3, max_trials=10, channel_use=(0.25, 0.5), seed=0)
        >>> oracle.n_tasks, oracle.channel_use
        (3, (0.25, 0.5))
    """

    strategy = "random"

    def __init__(self, n_tasks: int, max_trials: int = 100, channel_use=(0.0, 1.0), weight_decay: float = 0.0,
                 seed: int | None = None, objective=None, **kwargs):
        if isinstance(n_tasks, bool) or not isinstance(n_tasks, (int, np.integer)) or n_tasks < 1:
            raise ValueError(f"n_tasks must be a positive integer (the number of tasks); got {n_tasks!r}.")
        if isinstance(max_trials, bool) or not isinstance(max_trials, (int, np.integer)) or max_trials < 1:
            raise ValueError(f"max_trials must be a positive integer; got {max_trials!r}.")
        low, high = (float(v) for v in channel_use)
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"channel_use must be (low, high) with 0 <= low <= high <= 1; got {channel_use!r}.")
        if not np.isfinite(weight_decay) or weight_decay < 0:
            raise ValueError(f"weight_decay (λ of the L2 penalty on diag(P)) must be >= 0; got {weight_decay!r}.")
        objective = objective or keras_tuner.Objective(SCORE, direction="max")
        super().__init__(objective=objective, max_trials=int(max_trials), hyperparameters=partition_space(n_tasks),
                         seed=seed, **kwargs)
        if seed is not None:  # keras-tuner replaces a falsy seed (0) by a random one
            self.seed = self._seed_state = int(seed)
        self.n_tasks = int(n_tasks)
        self.channel_use = (low, high)
        self.weight_decay = float(weight_decay)
        self._trial_info: dict[str, dict] = {}  # trial_id -> {"iteration": int, "role": str, ...}

    # -- sampling -------------------------------------------------------------------------------------------------

    def populate_space(self, trial_id):
        """Draw the next raw ``P`` (uniform, diagonal in ``channel_use``) for trial ``trial_id``."""
        rng = np.random.default_rng([self.seed, self._seed_state])
        self._trial_info[trial_id] = {"iteration": int(self._seed_state - self.seed), "role": "sample"}
        self._seed_state += 1
        P = sample_partition(self.n_tasks, rng, channel_use=self.channel_use)
        return {"status": trial_module.TrialStatus.RUNNING, "values": partition_to_values(P)}

    # -- scoring and logging --------------------------------------------------------------------------------------

    def partition(self, trial) -> np.ndarray:
        """The raw ``P`` of a trial (a ``Trial`` or a trial id)."""
        trial = self.trials[trial] if isinstance(trial, str) else trial
        return hp_to_partition(trial.hyperparameters, self.n_tasks)

    def reward(self, score: float, P) -> float:
        """``score - weight_decay * ||diag(P)||²``: the penalised reward (seed 004 §4.1).

        Example:
            >>> RandomPartitionOracle(2, weight_decay=0.5).reward(1.0, [[1.0, 0.0], [0.0, 1.0]])
            0.0
        """
        return float(score) - self.weight_decay * float(np.sum(np.diag(np.asarray(P, dtype=np.float64)) ** 2))

    def score_trial(self, trial):
        """Set ``trial.score`` to the penalised reward and log ``reward`` and ``channel_use`` as metrics."""
        super().score_trial(trial)
        if trial.score is None or not np.isfinite(trial.score):
            return
        P = self.partition(trial)
        extra = {"reward": self.reward(trial.score, P), "channel_use": mean_channel_use(P)}
        for name, value in extra.items():
            if not trial.metrics.exists(name):
                trial.metrics.register(name, direction="max" if name == "reward" else "min")
            trial.metrics.update(name, value, step=trial.best_step or 0)
        trial.score = extra["reward"]

    @keras_tuner.synchronized
    def end_trial(self, trial):
        """End the trial (keras-tuner), run :meth:`_after_end_trial`, then save the state.

        keras-tuner saves the oracle *before* it drops the trial from the ongoing
        ones; saving again here keeps a finished trial from being re-run on reload.
        """
        super().end_trial(trial)
        self._after_end_trial(self.trials[trial.trial_id])
        self.save()

    def _after_end_trial(self, trial):
        """Hook for subclasses, called with the ended trial before the state is saved."""

    def reload(self):
        """Reload trials and state; completed trials are never queued for a retry."""
        super().reload()
        done = trial_module.TrialStatus.COMPLETED
        self._retry_queue = [tid for tid in self._retry_queue if self.trials[tid].status != done]

    def trial_record(self, trial_id: str) -> dict:
        """One flat row of a trial.

        Keys: ``trial_id``, ``strategy``, ``status``, ``iteration``, ``role``, ``direction``
        (ES only), ``P`` (nested lists), ``channel_use``, ``score`` (raw) and ``reward``
        (penalised); ``score`` and ``reward`` are None until the trial is completed.

        Raises:
            KeyError: when ``trial_id`` is not a trial of this oracle.
        """
        if trial_id not in self.trials:
            raise KeyError(f"No trial {trial_id!r} in this oracle; known trials: {sorted(self.trials)[:10]}.")
        trial = self.trials[trial_id]
        P = self.partition(trial)
        done = trial.status == trial_module.TrialStatus.COMPLETED and trial.metrics.exists(SCORE)
        info = self._trial_info.get(trial_id, {})
        return {
            "trial_id": trial_id,
            "strategy": self.strategy,
            "status": trial.status,
            "iteration": info.get("iteration"),
            "role": info.get("role"),
            "direction": info.get("direction"),
            "P": P.tolist(),
            "channel_use": mean_channel_use(P),
            "score": float(trial.metrics.get_best_value(SCORE)) if done else None,
            "reward": float(trial.score) if done and trial.score is not None else None,
        }

    # -- state ----------------------------------------------------------------------------------------------------

    def get_state(self):
        state = super().get_state()
        state.update(n_tasks=self.n_tasks, channel_use=list(self.channel_use), weight_decay=self.weight_decay,
                     strategy=self.strategy, trial_info=self._trial_info)
        return state

    def set_state(self, state):
        super().set_state(state)
        saved = (state.get("strategy"), state.get("n_tasks"))
        if saved != (self.strategy, self.n_tasks):
            raise ValueError(f"The saved search is strategy={saved[0]!r} with n_tasks={saved[1]}, but this oracle is "
                             f"strategy={self.strategy!r} with n_tasks={self.n_tasks}; use another project_name or "
                             "directory, or overwrite=True.")
        self._trial_info = dict(state.get("trial_info", {}))
