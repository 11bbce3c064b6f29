"""``search_static_weights``: seed 002's "grid search" baseline over static task weights, via keras-tuner.

Seed 002 §4, baseline (iii): train with fixed weights c on the simplex
``{c^t in [0, 1] | sum_t c^t = 1}`` for many c and keep the best. Here the
grid is :func:`~mtlzoo.tools.static_weights.simplex_grid.simplex_grid` (interior
points by default), each point is one trial of ``keras_tuner.GridSearch`` with
:class:`~mtlzoo.tools.static_weights.static_weight_hypermodel.StaticWeightHyperModel`,
and a trial's score is the best epoch's mean validation accuracy over tasks on
rows held out from the *training* split (:class:`HoldoutSplit`: the last
``validation_fraction`` of the unshuffled training rows); the test split is
never read. The tuner's project folder makes the search resumable: a rerun with
the same ``directory`` reads finished trials back instead of training them again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mtlzoo.option_conflicts import differing, saved_vs_now
from mtlzoo.tools.static_weights.holdout_split import HoldoutSplit
from mtlzoo.tools.static_weights.static_weight_hypermodel import HP_NAME, StaticWeightHyperModel
from mtlzoo.tools.static_weights.static_weight_result import StaticWeightResult

#: The tuner's project name inside ``directory``.
PROJECT = "static_weights"
#: The options file beside the tuner's state; a rerun with other options is refused.
OPTIONS_FILE = "search_options.json"


def search_static_weights(model: str = "multimnist_lenet", data: str = "multimnist", *, directory, resolution: int,
                          epochs: int, batch_size: int | None = None, seed: int = 0, data_dir=None,
                          validation_fraction: float = 0.1, limit: int | None = None, width: int | None = None,
                          optimizer=None, include_boundary: bool = False, metric: str = "accuracy",
                          verbose: int = 0) -> StaticWeightResult:
    """Grid-search the static task weights of ``model`` on ``data`` and return the best point and all trials.

    Args:
        model: a zoo model name.
        data: a dataset name whose loader can read the training split unshuffled (``multimnist``, ``multidigits``).
        directory: the search folder (keras-tuner's project lives in ``directory/static_weights``);
            rerun with the same folder to resume.
        resolution: grid steps per simplex edge (weights are multiples of 1/resolution); for two
            tasks ``resolution - 1`` interior points, an even value includes (1/2, 1/2).
        epochs: epochs per trial; a trial scores its best epoch.
        batch_size: examples per batch (``None``: the zoo recipe's, else the dataset's).
        seed: weights initialization (the same for every trial), data pairing and shuffling.
        data_dir: local data folder (``mnist.npz`` for MultiMNIST).
        validation_fraction: the share of the (limited) training rows held out for scoring.
        limit: use only the first ``limit`` training rows (before the hold-out).
        width: the zoo model's ``width`` option (``None``: its default).
        optimizer: a Keras optimizer name or config (``None``: the zoo recipe's).
        include_boundary: also try weights with zeros (tasks left untrained).
        metric: the per-task metric averaged into the objective.
        verbose: keras-tuner / ``fit`` verbosity (0 silent, 1 progress bars, 2 one line per epoch).

    Returns:
        A :class:`StaticWeightResult` with ``best_weights`` ``{task: c^t}`` and the trial table.

    Raises:
        ValueError: an unknown model or dataset, a bad option, a model that does not fit the data,
            or a ``directory`` made with other options.
        RuntimeError: a trial failed (the message gives the trial's error).

    Example:
        >>> result = search_static_weights("multimnist_lenet", "multidigits", directory="/tmp/sw_doc",
        ...                                resolution=3, epochs=1, width=2, limit=300)  # doctest: +SKIP
        >>> result.best_weights  # doctest: +SKIP
        {'left': 0.6666666666666666, 'right': 0.3333333333333333}
    """
    import keras_tuner

    import mtlzoo

    _check_positive(resolution=resolution, epochs=epochs, batch_size=batch_size, width=width)
    info = mtlzoo.data.info(data)  # raises "unknown dataset ...; known: ..."
    model_kwargs = {} if width is None else {"width": int(width)}
    hypermodel = StaticWeightHyperModel(model, resolution=resolution, model_kwargs=model_kwargs, optimizer=optimizer,
                                        metric=metric, include_boundary=include_boundary, seed=seed)
    probe = hypermodel.build_network()
    info.check_model(probe)  # "model inputs/tasks do not fit the data" as a ValueError
    recipe = dict(getattr(probe, "recipe", None) or {})
    batch_size = int(batch_size or recipe.get("batch_size") or info.batch_size)
    options = {"model": model, "data": data, "resolution": int(resolution), "epochs": int(epochs),
               "batch_size": batch_size, "seed": int(seed), "validation_fraction": float(validation_fraction),
               "limit": limit, "width": width, "optimizer": _plain(optimizer),
               "include_boundary": bool(include_boundary), "metric": metric}
    project = Path(directory) / PROJECT
    saved = _check_same_options(project, options)
    tuner = keras_tuner.GridSearch(hypermodel, objective=hypermodel.objective, max_trials=len(hypermodel.grid),
                                   seed=int(seed) + 1,  # keras-tuner treats seed 0 as "pick a random seed"
                                   directory=str(directory), project_name=PROJECT, overwrite=False,
                                   max_consecutive_failed_trials=1)
    _forget_finished_retries(tuner.oracle)
    if _finished(tuner.oracle) >= set(range(len(hypermodel.grid))) and "num_train" in saved:
        options.update(num_train=saved["num_train"], num_validation=saved["num_validation"])  # nothing to train
        return _result(tuner.oracle, hypermodel, project, options)
    split = HoldoutSplit.from_data(data, batch_size, validation_fraction, limit, seed, data_dir)
    options.update(num_train=split.num_train, num_validation=split.num_validation)
    _write_options(project, options)
    try:
        tuner.search(split.train, validation_data=split.validation(), epochs=int(epochs), verbose=verbose,
                     shuffle=False)  # the pipeline shuffles itself
    except RuntimeError as e:
        raise RuntimeError(f"static-weight search in {project}: {_trial_error(tuner.oracle) or e}") from None
    return _result(tuner.oracle, hypermodel, project, options)


def _finished(oracle) -> set[int]:
    """The grid indices of the completed trials."""
    from keras_tuner.engine.trial import TrialStatus

    return {int(t.hyperparameters.get(HP_NAME)) for t in oracle.trials.values() if t.status == TrialStatus.COMPLETED}


def _result(oracle, hypermodel: StaticWeightHyperModel, project: Path, options: dict) -> StaticWeightResult:
    from keras_tuner.engine.trial import TrialStatus

    name = hypermodel.objective.name
    trials = []
    for trial in oracle.trials.values():
        if trial.status != TrialStatus.COMPLETED or trial.score is None:
            continue
        step = int(trial.best_step or 0)
        index = int(trial.hyperparameters.get(HP_NAME))
        metrics = {}
        for key in trial.metrics.metrics:
            values = [o.mean() for o in trial.metrics.get_history(key) if o.step == step]
            if values:
                metrics[key] = float(values[-1])
        trials.append({"trial_id": trial.trial_id, "index": index, "weights": hypermodel.weights_of(index),
                       "objective": float(trial.score), "epoch": step, "metrics": metrics})
    if not trials:
        raise RuntimeError(f"static-weight search in {project}: no trial finished.")
    trials.sort(key=lambda t: t["index"])
    sign = 1.0 if hypermodel.direction == "max" else -1.0
    best = max(trials, key=lambda t: (sign * t["objective"], -t["index"]))  # ties: the lowest grid index
    return StaticWeightResult(tuple(hypermodel.tasks), name, trials, best["weights"], best["objective"],
                              best["trial_id"], str(project), hypermodel.fits, options, hypermodel.direction)


def _forget_finished_retries(oracle) -> None:
    """Drop finished trials from the retry queue of a reloaded oracle.

    keras-tuner saves ``oracle.json`` in ``end_trial`` before it removes the
    trial from ``ongoing_trials``; a reload sends every "ongoing" trial for retry,
    so after an interruption at the wrong moment a completed trial would train again.
    """
    from keras_tuner.engine.trial import TrialStatus

    oracle._retry_queue = [t for t in oracle._retry_queue
                           if t not in oracle.trials or oracle.trials[t].status != TrialStatus.COMPLETED]


def _trial_error(oracle) -> str | None:
    """The last line of the newest failed trial's traceback."""
    from keras_tuner.engine.trial import TrialStatus

    failed = [t for t in oracle.trials.values() if t.status in (TrialStatus.FAILED, TrialStatus.INVALID) and t.message]
    if not failed:
        return None
    lines = [line for line in failed[-1].message.strip().splitlines() if line.strip()]
    return f"trial {failed[-1].trial_id} failed: {lines[-1].strip()}" if lines else None


def _check_positive(**values: Any) -> None:
    for name, value in values.items():
        if value is None and name in ("batch_size", "width"):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _plain(value):
    """Options as JSON data (an optimizer instance as its config)."""
    if value is None or isinstance(value, (str, int, float, bool, dict, list)):
        return value
    import keras

    return keras.optimizers.serialize(value)


def _check_same_options(project: Path, options: dict) -> dict:
    """The saved options (``{}`` for a new folder); a ``ValueError`` if they differ from ``options``."""
    path = project / OPTIONS_FILE
    if not path.is_file():
        return {}
    saved = json.loads(path.read_text())
    differ = differing(saved, options)
    if differ:
        raise ValueError(f"Search folder {project.parent} holds a search with other options: {saved_vs_now(differ)}. "
                         f"Rerun with the saved options ({path}) to resume it, or pass another directory (--run-dir "
                         "on the command line).")
    return saved


def _write_options(project: Path, options: dict) -> None:
    from mtlzoo.atomic_file import atomic_file

    with atomic_file(project / OPTIONS_FILE, "w") as f:
        json.dump(options, f, indent=2, sort_keys=True)
