"""Evolutionary strategies over partitions as a keras-tuner Oracle (seed 004 §4.1; Mania et al. 2018, ARS V1-t).

The search moves a centre ``θ`` (the upper triangle of a raw ``P``, in [0, 1]).
Iteration ``k``:

1. draw ``N = directions`` Gaussian directions ``δ_i ~ N(0, I)`` (seeded by ``(seed, k)``);
2. queue ``2N + 1`` trials: the centre ``θ`` (role ``center``, for the trajectory)
   and ``clip(θ ± ν δ_i, 0, 1)`` (roles ``plus`` / ``minus``), ``ν = noise``;
3. once all are scored, with ``r = score - λ ||diag(P)||²`` (``λ = weight_decay``,
   the L2 penalty on ``diag(P)`` that trades accuracy for channel use), keep the
   ``b = top_directions`` directions with the largest ``max(r+, r-)`` and step
   ``θ <- clip(θ + α / (b σ_R) Σ (r+ - r-) δ_i, 0, 1)``, ``α = step_size``, ``σ_R``
   the standard deviation of those ``2b`` rewards.

Trials are created one at a time by ``populate_space``; which trial fills which
slot (``center``, ``plus_i``, ``minus_i``), ``θ``, ``k``, the directions and the
per-iteration history are part of the oracle state (``get_state``/``set_state``),
so a reloaded search resumes mid-iteration. A trial that fails for good frees
its slot and the point is tried again as a new trial.

Example:
    >>> import tempfile
    >>> oracle = EvolutionaryPartitionOracle(2, max_trials=5, directions=2, seed=0)
    >>> oracle._set_project_dir(tempfile.mkdtemp(), "demo"); oracle.verbose = 0
    >>> [oracle.trial_record(oracle.create_trial(f"w{i}").trial_id)["role"] for i in range(3)]
    ['center', 'plus', 'minus']
"""

from __future__ import annotations

import numpy as np
from keras_tuner.engine import trial as trial_module

from mtlzoo.tools.partition_search.random_partition_oracle import RandomPartitionOracle
from mtlzoo.tools.partition_search.search_space import partition_to_values, partition_to_vector, vector_to_partition

_DONE = trial_module.TrialStatus.COMPLETED


class EvolutionaryPartitionOracle(RandomPartitionOracle):
    """Augmented random search (ARS V1-t) on the raw partition ``P`` with an L2 penalty on ``diag(P)``.

    Builds on :class:`RandomPartitionOracle` for the reward, per-trial metrics and
    :meth:`trial_record` (which adds ``iteration``, ``role`` = center/plus/minus and ``direction``).

    Args:
        n_tasks: number of tasks ``n``.
        max_trials: total evaluations (each iteration takes ``2 * directions + 1``).
        directions: ``N``, Gaussian directions per iteration (>= 1).
        top_directions: ``b <= N``, directions used in the update; ``max(1, N // 2)`` when None.
        step_size: ``α``, the learning rate.
        noise: ``ν``, the exploration radius of ``θ ± ν δ``.
        weight_decay: ``λ`` of ``r = score - λ ||diag(P)||²``.
        initial: the starting raw ``P`` (n x n); every entry 0.5 when None.
        channel_use: ``(low, high)`` bounds for the diagonal of ``θ`` (default (0, 1)).
        seed: int seed of the directions.
        **kwargs: passed to :class:`RandomPartitionOracle` / ``keras_tuner.Oracle``.

    Example:
        >>> oracle = EvolutionaryPartitionOracle(3, directions=4, weight_decay=1e-3, seed=0)
        >>> oracle.centre_partition().shape, oracle.iteration
        ((3, 3), 0)
    """

    strategy = "es"

    def __init__(self, n_tasks: int, max_trials: int = 100, directions: int = 8, top_directions: int | None = None,
                 step_size: float = 0.05, noise: float = 0.05, weight_decay: float = 0.0, initial=None,
                 channel_use=(0.0, 1.0), seed: int | None = None, **kwargs):
        super().__init__(n_tasks, max_trials=max_trials, channel_use=channel_use, weight_decay=weight_decay,
                         seed=seed, **kwargs)
        if isinstance(directions, bool) or not isinstance(directions, (int, np.integer)) or directions < 1:
            raise ValueError(f"directions (N, Gaussian directions per iteration) must be an integer >= 1; "
                             f"got {directions!r}.")
        top = max(1, directions // 2) if top_directions is None else top_directions
        if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or not 1 <= top <= directions:
            raise ValueError(f"top_directions (b) must be an integer in [1, directions={directions}]; "
                             f"got {top_directions!r}.")
        for name, value in (("step_size", step_size), ("noise", noise)):
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number; got {value!r}.")
        self.directions, self.top_directions = int(directions), int(top)
        self.step_size, self.noise = float(step_size), float(noise)
        m = self.n_tasks * (self.n_tasks + 1) // 2
        on_diag = np.zeros((self.n_tasks, self.n_tasks), dtype=bool)
        np.fill_diagonal(on_diag, True)
        on_diag = on_diag[np.triu_indices(self.n_tasks)]
        self._low = np.where(on_diag, self.channel_use[0], 0.0)
        self._high = np.where(on_diag, self.channel_use[1], 1.0)
        theta = np.full(m, 0.5) if initial is None else partition_to_vector(initial)
        self.theta = np.clip(theta, self._low, self._high)
        self.iteration = 0
        self.history: list[dict] = []  # one entry per finished iteration
        self._start_iteration()

    # -- the ARS loop ---------------------------------------------------------------------------------------------

    def _start_iteration(self):
        rng = np.random.default_rng([self.seed, self.iteration, 7])
        self._deltas = rng.standard_normal((self.directions, self.theta.size))
        keys = ["center"] + [f"{role}_{i}" for i in range(self.directions) for role in ("plus", "minus")]
        self._slots: dict[str, str | None] = dict.fromkeys(keys)  # slot -> trial_id (None: not created yet)

    def _point(self, slot: str) -> np.ndarray:
        if slot == "center":
            return self.theta.copy()
        role, i = slot.split("_")
        sign = 1.0 if role == "plus" else -1.0
        return np.clip(self.theta + sign * self.noise * self._deltas[int(i)], self._low, self._high)

    def _reward_of(self, slot: str) -> float | None:
        trial_id = self._slots[slot]
        trial = self.trials.get(trial_id) if trial_id is not None else None
        return float(trial.score) if trial is not None and trial.status == _DONE and trial.score is not None else None

    def _maybe_advance(self):
        """When every slot of the iteration is scored, take the ARS step and start the next iteration."""
        rewards = {slot: self._reward_of(slot) for slot in self._slots}
        if any(r is None for r in rewards.values()):
            return
        r_plus = np.array([rewards[f"plus_{i}"] for i in range(self.directions)])
        r_minus = np.array([rewards[f"minus_{i}"] for i in range(self.directions)])
        top = np.argsort(-np.maximum(r_plus, r_minus), kind="stable")[: self.top_directions]
        sigma = float(np.std(np.concatenate([r_plus[top], r_minus[top]])))
        step = np.zeros_like(self.theta)
        if sigma > 1e-12:  # all rewards equal: no information, no step
            step = self.step_size / (self.top_directions * sigma) * ((r_plus[top] - r_minus[top]) @ self._deltas[top])
        self.history.append({"iteration": self.iteration, "theta": self.theta.tolist(),
                             "center_reward": rewards["center"], "center_trial": self._slots["center"],
                             "sigma_r": sigma, "step_norm": float(np.linalg.norm(step))})
        self.theta = np.clip(self.theta + step, self._low, self._high)
        self.iteration += 1
        self._start_iteration()

    def populate_space(self, trial_id):
        """The next unfilled slot of the current iteration (``IDLE`` while the last ones are still running)."""
        self._maybe_advance()
        slot = next((s for s, tid in self._slots.items() if tid is None), None)
        if slot is None:
            return {"status": trial_module.TrialStatus.IDLE, "values": None}
        self._slots[slot] = trial_id
        role, _, index = slot.partition("_")
        self._trial_info[trial_id] = {"iteration": self.iteration, "role": role,
                                      "direction": int(index) if index else None}
        return {"status": trial_module.TrialStatus.RUNNING,
                "values": partition_to_values(vector_to_partition(self._point(slot), self.n_tasks))}

    def _after_end_trial(self, trial):
        """Free the slot of a trial that failed for good; step ``θ`` when the iteration is complete."""
        if trial.status == trial_module.TrialStatus.FAILED:
            for slot, trial_id in self._slots.items():
                if trial_id == trial.trial_id:
                    self._slots[slot] = None
        self._maybe_advance()

    def centre_partition(self) -> np.ndarray:
        """The current centre ``θ`` as a raw ``P`` (n x n)."""
        return vector_to_partition(self.theta, self.n_tasks)

    # -- state ----------------------------------------------------------------------------------------------------

    def get_state(self):
        state = super().get_state()
        state.update(es={"theta": self.theta.tolist(), "iteration": self.iteration, "deltas": self._deltas.tolist(),
                         "slots": self._slots, "history": self.history})
        return state

    def set_state(self, state):
        super().set_state(state)
        es = state["es"]
        if len(es["theta"]) != self.theta.size or len(es["deltas"][0]) != self.theta.size:
            raise ValueError(f"The saved ES state has {len(es['theta'])} parameters, this {self.n_tasks}-task "
                             f"oracle needs {self.theta.size}; use another project_name or overwrite=True.")
        if len(es["deltas"]) != self.directions:
            raise ValueError(f"The saved ES search used directions={len(es['deltas'])}, this oracle has "
                             f"directions={self.directions}; resume with the same directions.")
        self.theta = np.asarray(es["theta"], dtype=np.float64)
        self.iteration = int(es["iteration"])
        self._deltas = np.asarray(es["deltas"], dtype=np.float64)
        self._slots = dict(es["slots"])
        self.history = list(es["history"])
