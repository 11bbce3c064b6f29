"""Seed 000 §5's greedy min-stress architecture search (Alg. 5), resumable, with a random-split baseline."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from mtlzoo.atomic_file import atomic_file
from mtlzoo.jsonable import jsonable as _jsonable
from mtlzoo.option_conflicts import differing, saved_vs_now

STRATEGIES = ("stress", "random")
STATE_FILE = "search.json"


class GreedySplitSearch:
    """Grow a tree network by splitting its most stressed block, step by step (seed 000 Alg. 5).

    First the network is trained towards Pareto stationarity (the hybrid
    balancer by default, with the network-slimming L1 penalty on batch-norm
    scales, eq. 5.6). Then each step:

    1. peels every task's single-task network and fine-tunes each for
       ``fine_tune_epochs`` (T networks per step, shared by steps 2 and 3);
    2. computes the stress S_i of every splittable block (Alg. 2: the summed
       compatibility (5.8) between each peeled network's block output and the
       tree's);
    3. for the most stressed block, the task affinity matrix (Alg. 3) and the
       child affinity matrix (Alg. 4), and splits its children in two by
       spectral clustering of that affinity (normalized cuts);
    4. applies ``mtlzoo.split`` and retrains the grown network for
       ``retrain_epochs``, then evaluates each task.

    With ``strategy="random"`` steps 1-3 are replaced by a random splittable
    block and a random two-group partition of its children (seed 000 Table 1's
    baselines). With ``run_dir`` every step is saved (``search.json``, the
    network after each step in ``models/``, and the report), so a search that
    is interrupted resumes at the next step when run again.

    Args:
        model: a built, uncompiled or compiled :class:`mtlzoo.training.MultiTaskModel`
            whose searched blocks each contain a ``BatchNormalization``
            (e.g. ``mtlzoo.models.get("lenet_bn_tree")``).
        train_data: a ``tf.data`` dataset of ``(x, {task: y}[, weights])`` batches.
        eval_data: batches for the per-task metrics of each step (default: ``train_data``).
        probe_data: batches whose activations are compared (stress, affinity;
            default: ``eval_data``). Give a mixed, shuffled stream when the
            evaluation split is ordered task by task (``mnist_triple``), so the
            first ``max_batches`` batches hold every task's inputs.
        steps: number of splits N.
        strategy: ``"stress"`` (the seed's method) or ``"random"``.
        initial_epochs: most epochs of the first training.
        stationary_fraction: the first training stops early once an epoch's
            mean ``pareto_stationary`` log reaches this fraction (Pareto
            stationarity, eq. 4.7); ``None`` trains all ``initial_epochs``.
        fine_tune_epochs: epochs of fine-tuning of each peeled network (k).
        retrain_epochs: epochs of training after each split.
        compile_args: keyword arguments of ``model.compile`` (default: the
            model's recipe; ``balancer`` defaults to ``"hybrid"``). The
            optimizer is given as a name or config so each network gets a fresh one.
        slimming: lambda of the L1 penalty on batch-norm gamma (0 turns it off).
        max_batches: at most this many ``eval_data`` batches per activation pass.
        seed: seeds training, fine-tuning, clustering and the random baseline.
        run_dir: folder for the state, models and report (``None``: in memory only).
        verbose: print a progress bar over the steps.

    Example:
        >>> model = mtlzoo.models.get("lenet_bn_tree", tasks=["digit", "shifted", "teacher"])   # doctest: +SKIP
        >>> search = GreedySplitSearch(model, train, test, steps=2, run_dir="runs/split")       # doctest: +SKIP
        >>> result = search.run()                                                              # doctest: +SKIP
        >>> print(result.model.tree)                                                           # doctest: +SKIP
    """

    def __init__(self, model, train_data, eval_data=None, steps: int = 2, strategy: str = "stress",
                 initial_epochs: int = 5, stationary_fraction: float | None = 0.5, fine_tune_epochs: int = 1,
                 retrain_epochs: int = 1, compile_args: Mapping[str, Any] | None = None, slimming: float = 1e-4,
                 max_batches: int | None = 20, seed: int = 0, run_dir: str | os.PathLike | None = None,
                 verbose: bool = True, probe_data=None):
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}.")
        for name, value in (("steps", steps), ("initial_epochs", initial_epochs),
                            ("fine_tune_epochs", fine_tune_epochs), ("retrain_epochs", retrain_epochs)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")
        if slimming < 0:
            raise ValueError(f"slimming must be >= 0, got {slimming!r}.")
        self.model = model
        self.train_data = train_data
        self.eval_data = eval_data if eval_data is not None else train_data
        self.probe_data = probe_data if probe_data is not None else self.eval_data
        self.steps, self.strategy = steps, strategy
        self.initial_epochs, self.stationary_fraction = initial_epochs, stationary_fraction
        self.fine_tune_epochs, self.retrain_epochs = fine_tune_epochs, retrain_epochs
        self.compile_args = _compile_args(model, compile_args)
        self.slimming, self.max_batches, self.seed = float(slimming), max_batches, int(seed)
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.verbose = verbose
        self.state: dict[str, Any] = {"config": self.config(), "initial": None, "steps": []}

    # ------------------------------------------------------------------ config
    def config(self) -> dict[str, Any]:
        """The options that define the search (a resumed search must have the same)."""
        return {"model": self.model.name, "tree": self.model.tree.to_dict(), "steps": self.steps,
                "strategy": self.strategy, "initial_epochs": self.initial_epochs,
                "stationary_fraction": self.stationary_fraction, "fine_tune_epochs": self.fine_tune_epochs,
                "retrain_epochs": self.retrain_epochs, "compile_args": _jsonable(self.compile_args),
                "slimming": self.slimming, "max_batches": self.max_batches, "seed": self.seed}

    # --------------------------------------------------------------------- run
    def run(self) -> SearchResult:
        """Run (or resume) the search; returns the grown network and the per-step records."""
        from mtlzoo.seeding import seed_everything

        model = self._resume()
        if model is None:
            seed_everything(self.seed)
            model = self.model
            started = time.perf_counter()
            epochs, stationary = self._train(model, self.initial_epochs, until_stationary=True)
            self.state["initial"] = {"epochs": epochs, "pareto_stationary": stationary,
                                     "seconds": time.perf_counter() - started, "tree": model.tree.to_dict(),
                                     "metrics": self._evaluate(model)}
            self._save(model, 0)
        done = len(self.state["steps"])
        bar = keras.utils.Progbar(self.steps, unit_name="split") if self.verbose and self.steps else None
        if bar is not None and done:
            bar.update(done)
        for step in range(done + 1, self.steps + 1):
            seed_everything(self.seed + step)
            model, record = self._step(model, step)
            self.state["steps"].append(record)
            self._save(model, step)
            if bar is not None:
                bar.update(step, values=[("stress", max(record["stress"].values(), default=0.0))]
                           if record["stress"] else None)
        return SearchResult(model, self.state)

    def _step(self, model, step: int):
        from mtlzoo.split import split
        from mtlzoo.tools.split_search.affinity import child_affinity, task_affinity
        from mtlzoo.tools.split_search.spectral_partition import spectral_partition
        from mtlzoo.tools.split_search.stress import block_stress, fine_tune_peeled, splittable_blocks

        tree = model.tree
        candidates = list(splittable_blocks(tree))
        if not candidates:
            raise RuntimeError(f"step {step}: no block of the tree has two or more children left to split; "
                               f"the tree is fully branched after {step - 1} steps: lower `steps`.")
        started = time.perf_counter()
        record: dict[str, Any] = {"step": step, "tree_before": tree.to_dict(), "stress": {},
                                  "fine_tuned_networks": 0}
        if self.strategy == "stress":
            peeled = fine_tune_peeled(model, self.train_data, self.fine_tune_epochs, optimizer=self._optimizer(),
                                      seed=self.seed + step)
            record["fine_tuned_networks"] = len(peeled)
            stress = {b: float(block_stress(model, b, peeled, self.probe_data, max_batches=self.max_batches))
                      for b in candidates}
            block = max(candidates, key=lambda b: stress[b])
            tasks = list(tree.tasks_of(block))
            affinity = task_affinity(peeled, block, self.probe_data, tasks, max_batches=self.max_batches)
            children, child = child_affinity(tree, block, affinity, tasks)
            partition = spectral_partition(list(children), child, n_groups=2, seed=self.seed + step)
            record.update(stress=stress, task_affinity={"tasks": tasks, "matrix": np.asarray(affinity).tolist()},
                          child_affinity={"children": list(children), "matrix": np.asarray(child).tolist()})
        else:
            rng = np.random.default_rng(self.seed + step)
            block = candidates[int(rng.integers(len(candidates)))]
            partition = _random_partition(list(tree.children(block)), rng)
        partition = [list(group) for group in partition]
        record.update(block=block, partition=partition, search_seconds=time.perf_counter() - started)
        grown = split(model, block, partition)
        started = time.perf_counter()
        self._train(grown, self.retrain_epochs, until_stationary=False)
        record.update(retrain_seconds=time.perf_counter() - started, tree=grown.tree.to_dict(),
                      parameters=int(grown.count_params()), metrics=self._evaluate(grown))
        return grown, record

    # ---------------------------------------------------------------- training
    def _optimizer(self):
        return keras.optimizers.get(_copy(self.compile_args.get("optimizer", "adam")))

    def _compile(self, model) -> None:
        args = dict(self.compile_args)
        args["optimizer"] = self._optimizer()
        model.compile(**args)

    def _train(self, model, epochs: int, until_stationary: bool):
        """Compile and fit ``model``; returns (epochs run, last epoch's mean pareto_stationary or None)."""
        if self.slimming:
            from mtlzoo.training.batch_norm_slimming import add_slimming

            add_slimming(model, self.slimming)
        self._compile(model)
        if epochs == 0:
            return 0, None
        callbacks = []
        if until_stationary and self.stationary_fraction is not None:
            callbacks.append(_StopWhenStationary(self.stationary_fraction))
        history = model.fit(self.train_data, epochs=epochs, verbose=0, callbacks=callbacks, shuffle=False).history
        stationary = history.get("pareto_stationary")
        done = len(next(iter(history.values()), []))
        return done, (float(stationary[-1]) if stationary else None)

    def _evaluate(self, model) -> dict[str, float]:
        logs = model.evaluate(self.eval_data, verbose=0, return_dict=True)
        return {k: float(v) for k, v in logs.items()}

    # ------------------------------------------------------------------- state
    def _resume(self):
        if self.run_dir is None:
            return None
        path = self.run_dir / STATE_FILE
        if not path.exists():
            return None
        try:
            state = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON ({e}); delete the run folder or pick another.") from None
        saved = _jsonable(state.get("config", {}))
        mine = _jsonable(self.config())
        differ = differing(saved, mine, ignore=("steps",))
        if differ:
            raise ValueError(f"run folder {self.run_dir} holds a search with other options ({saved_vs_now(differ)}); "
                             "use the same options to resume it, or another run folder.")
        done = len(state.get("steps", []))
        if done > self.steps:
            raise ValueError(f"run folder {self.run_dir} holds {done} steps, more than steps={self.steps}; "
                             f"pass steps >= {done} or another run folder.")
        from mtlzoo.saving import load_model

        model = load_model(self._model_path(done), compile=False)
        state["config"] = self.config()
        self.state = state
        return model

    def _model_path(self, step: int) -> Path:
        return self.run_dir / "models" / f"step_{step}.keras"

    def _save(self, model, step: int) -> None:
        if self.run_dir is None:
            return
        with atomic_file(self._model_path(step), suffix=".keras") as tmp:  # model.save wants the extension
            model.save(tmp)
        from mtlzoo.tools.split_search.search_report import write_search_report

        write_search_report(self.run_dir, self.state)
        _write_json(self.run_dir / STATE_FILE, self.state)  # last: the step counts as done once this is written


class SearchResult:
    """What :meth:`GreedySplitSearch.run` returns: the final network and the per-step records.

    Args:
        model: the grown network after the last step.
        state: ``{"config", "initial", "steps"}`` as saved in ``search.json``.
    """

    def __init__(self, model, state: Mapping[str, Any]):
        self.model = model
        self.state = dict(state)

    @property
    def steps(self) -> list[dict[str, Any]]:
        """One record per split: block, partition, stress, affinities, tree, metrics, timings."""
        return list(self.state["steps"])

    def first_partition(self) -> list[list[str]] | None:
        """The tasks on each side of the first split (each child group mapped to the tasks under it)."""
        if not self.steps:
            return None
        from mtlzoo.task_tree import TaskTree

        first = self.steps[0]
        tree = TaskTree.from_dict(first["tree_before"])
        return [sorted(t for child in group for t in tree.tasks_of(child)) for group in first["partition"]]


class _StopWhenStationary(keras.callbacks.Callback):
    """Stop training when an epoch's mean ``pareto_stationary`` log reaches ``fraction``."""

    def __init__(self, fraction: float):
        super().__init__()
        self.fraction = float(fraction)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("pareto_stationary")
        if value is not None and float(value) >= self.fraction:
            self.model.stop_training = True


def _random_partition(children: Sequence[str], rng: np.random.Generator) -> list[list[str]]:
    """A uniformly random split of ``children`` into two non-empty groups."""
    while True:
        sides = rng.integers(0, 2, len(children))
        if 0 < sides.sum() < len(children):
            return [[c for c, s in zip(children, sides) if s == 0], [c for c, s in zip(children, sides) if s == 1]]


def _compile_args(model, compile_args: Mapping[str, Any] | None) -> dict[str, Any]:
    recipe = dict(getattr(model, "recipe", None) or {})
    args = {k: recipe[k] for k in ("optimizer", "loss", "metrics", "balancer", "loss_weights") if k in recipe}
    args.setdefault("balancer", "hybrid")
    args.update(compile_args or {})
    if args.get("loss") is None:
        raise ValueError(f"model {model.name!r} has no recipe loss; pass compile_args={{'loss': ...}}.")
    optimizer = args.get("optimizer", "adam")
    if not isinstance(optimizer, (str, Mapping)):
        optimizer = keras.optimizers.serialize(optimizer)
    if isinstance(optimizer, Mapping) and isinstance(optimizer.get("config"), Mapping):
        # drop Keras' generated name ("sgd_1"): it differs between runs and would block resuming
        optimizer = {**optimizer, "config": {k: v for k, v in optimizer["config"].items() if k != "name"}}
    args["optimizer"] = optimizer
    return args


def _copy(value):
    return json.loads(json.dumps(_jsonable(value)))


def _write_json(path: Path, data) -> None:
    with atomic_file(path, "w") as f:
        json.dump(_jsonable(data), f, indent=2)
        f.write("\n")
