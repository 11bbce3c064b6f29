"""Static-weight grid search (seed 002's "grid search" baseline): grid, hypermodel, hold-out, resumable search."""

from __future__ import annotations

import json
import shutil
from math import comb

import keras
import keras_tuner
import numpy as np
import pytest

import mtlzoo
from mtlzoo.tools.static_weights import (HoldoutSplit, MeanMetricCallback, StaticWeightHyperModel, grid_size,
                                         search_static_weights, simplex_grid)
from mtlzoo.training import MultiTaskModel

TINY = {"resolution": 3, "epochs": 1, "width": 2, "limit": 300, "batch_size": 64}


# ------------------------------------------------------------------ grid
@pytest.mark.parametrize("tasks", [2, 3])
@pytest.mark.parametrize("resolution", [1, 2, 3, 4, 7, 10])
@pytest.mark.parametrize("boundary", [False, True])
def test_grid_points_lie_on_the_simplex_and_are_counted_right(tasks, resolution, boundary):
    grid = simplex_grid(tasks, resolution, include_boundary=boundary)
    expected = comb(resolution + tasks - 1, tasks - 1) if boundary else comb(resolution - 1, tasks - 1)
    assert len(grid) == expected == grid_size(tasks, resolution, boundary)
    assert len(set(grid)) == len(grid)
    for point in grid:
        assert len(point) == tasks
        assert sum(point) == pytest.approx(1.0)
        assert all(abs(c * resolution - round(c * resolution)) < 1e-9 for c in point)  # multiples of 1/r
        assert min(point) >= (0.0 if boundary else 1.0 / resolution - 1e-12)
    if boundary:
        assert any(0.0 in p for p in grid)


def test_two_task_grid_runs_along_the_edge_and_excludes_the_vertices():
    grid = simplex_grid(2, 10)
    assert grid[0] == pytest.approx((0.1, 0.9)) and grid[-1] == pytest.approx((0.9, 0.1))
    assert [p[0] for p in grid] == pytest.approx([k / 10 for k in range(1, 10)])
    assert (0.5, 0.5) in simplex_grid(2, 6)
    assert simplex_grid(3, 3) == [pytest.approx((1 / 3, 1 / 3, 1 / 3))]
    assert simplex_grid(3, 2) == []


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_grid_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="positive integer"):
        simplex_grid(2, bad)
    with pytest.raises(ValueError, match="num_tasks"):
        simplex_grid(bad, 3)


# ------------------------------------------------------------ hypermodel
def _hp(index: int) -> keras_tuner.HyperParameters:
    hp = keras_tuner.HyperParameters()
    hp.Fixed("weights_index", index)
    return hp


def test_hypermodel_builds_a_compiled_model_with_the_grid_points_static_weights():
    hypermodel = StaticWeightHyperModel("multimnist_lenet", resolution=4, model_kwargs={"width": 2})
    assert hypermodel.tasks == ("left", "right")
    np.testing.assert_allclose(hypermodel.grid, [(0.25, 0.75), (0.5, 0.5), (0.75, 0.25)])  # nested approx: pytest>=9.2 refuses
    models = [hypermodel.build(_hp(i)) for i in range(3)]
    for i, model in enumerate(models):
        assert isinstance(model, MultiTaskModel)
        assert model.balancer.registry_name == "static"
        c = hypermodel.grid[i]
        assert model.balancer.task_weights == pytest.approx({"left": 2 * c[0], "right": 2 * c[1]})  # T * c
        assert hypermodel.weights_of(i) == pytest.approx({"left": c[0], "right": c[1]})
        assert isinstance(model.optimizer, keras.optimizers.SGD)  # the zoo recipe's optimizer
        assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    assert models[0].optimizer is not models[1].optimizer
    x = np.zeros((4, 28, 28, 1), "float32")
    logs = models[0].train_on_batch(x, {"left": np.zeros(4, "int32"), "right": np.ones(4, "int32")}, return_dict=True)
    assert {"left_accuracy", "right_accuracy"} <= set(logs)  # the objective's metric is compiled
    # every trial starts from the same initial weights
    first = [v.numpy() for v in hypermodel.build(_hp(0)).trainable_variables]
    again = [v.numpy() for v in hypermodel.build(_hp(2)).trainable_variables]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_hypermodel_total_weight_and_search_space():
    hypermodel = StaticWeightHyperModel("multimnist_lenet", resolution=3, model_kwargs={"width": 2},
                                        total_weight=1.0, optimizer="adam")
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert hp.space[0].name == "weights_index" and list(hp.space[0].values) == [0, 1]
    assert model.balancer.task_weights == pytest.approx({"left": 1 / 3, "right": 2 / 3})
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert hypermodel.objective.name == "val_mean_accuracy" and hypermodel.objective.direction == "max"


def test_hypermodel_rejects_a_resolution_without_interior_points_and_unknown_models():
    with pytest.raises(ValueError, match="resolution >= 3"):
        StaticWeightHyperModel("lenet_bn_tree", resolution=2, model_kwargs={"width": 2})
    with pytest.raises(ValueError, match="multimnist_lenet"):
        StaticWeightHyperModel("no_such_model", resolution=3)


def test_mean_metric_callback_averages_tasks_and_names_missing_logs():
    logs = {"a_accuracy": 0.2, "b_accuracy": 0.6}
    MeanMetricCallback(["a", "b"]).on_epoch_end(0, logs)
    assert logs["mean_accuracy"] == pytest.approx(0.4) and "val_mean_accuracy" not in logs
    with pytest.raises(ValueError, match="val_b_accuracy"):
        MeanMetricCallback(["a", "b"]).on_epoch_end(0, {**logs, "val_a_accuracy": 0.1})


# ------------------------------------------------------------- hold-out
def test_validation_rows_are_the_last_training_rows_and_disjoint_from_training():
    split = HoldoutSplit.from_data("multidigits", batch_size=32, validation_fraction=0.25, limit=200, seed=3)
    assert (split.num_train, split.num_validation) == (150, 50)
    full = mtlzoo.data.get("multidigits", split="train", batch_size=200, seed=3, shuffle=False)
    x_all, y_all = next(iter(full))
    x_all = x_all.numpy()

    val = list(split.validation())
    x_val = np.concatenate([x.numpy() for x, _ in val])
    np.testing.assert_array_equal(x_val, x_all[150:200])  # in order, the last rows
    np.testing.assert_array_equal(np.concatenate([y["left"].numpy() for _, y in val]), y_all["left"].numpy()[150:])

    def keys(xs):
        return {row.tobytes() for row in xs}

    train_x = np.concatenate([x.numpy() for x, _ in split.train()])
    assert len(train_x) == 150
    assert keys(train_x) == keys(x_all[:150])
    assert not keys(train_x) & keys(x_val)
    assert not np.array_equal(train_x, x_all[:150])  # shuffled ...
    again = np.concatenate([x.numpy() for x, _ in split.train()])
    np.testing.assert_array_equal(train_x, again)  # ... the same way for every fresh pipeline (every trial)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"validation_fraction": 0.0}, "in \\(0, 1\\)"),
    ({"validation_fraction": 1.0}, "in \\(0, 1\\)"),
    ({"validation_fraction": 0.001, "limit": 100}, "leaves 100 to train and 0"),
    ({"limit": 1}, "limit must be"),
])
def test_holdout_rejects_bad_fractions_and_limits(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HoldoutSplit.from_data("multidigits", batch_size=32, **kwargs)


# ---------------------------------------------------------------- search
class _FitCounter:
    """Counts ``MultiTaskModel.fit`` calls; raises ``KeyboardInterrupt`` at call ``interrupt_at`` (1-based)."""

    def __init__(self, monkeypatch, interrupt_at=None):
        self.calls, self.interrupt_at = 0, interrupt_at
        original = MultiTaskModel.fit

        def fit(model, *args, **kwargs):
            self.calls += 1
            if self.calls == self.interrupt_at:
                raise KeyboardInterrupt
            return original(model, *args, **kwargs)

        monkeypatch.setattr(MultiTaskModel, "fit", fit)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished tiny search (2 trials), shared; tests that change its folder work on a copy."""
    directory = tmp_path_factory.mktemp("search") / "tiny"
    return directory, search_static_weights("multimnist_lenet", "multidigits", directory=directory, **TINY)


def test_tiny_search_picks_the_argmax_trial_and_a_rerun_trains_nothing(finished, monkeypatch):
    directory, result = finished
    assert result.trained == 2
    assert [t["index"] for t in result.trials] == [0, 1]
    assert [t["weights"]["left"] for t in result.trials] == pytest.approx([1 / 3, 2 / 3])
    objectives = [t["objective"] for t in result.trials]
    best = max(range(2), key=lambda i: (objectives[i], -i))
    assert result.best_objective == max(objectives)
    assert result.best_weights == result.trials[best]["weights"]
    assert result.best_trial_id == result.trials[best]["trial_id"]
    for trial in result.trials:  # the objective is the mean of the per-task validation accuracies
        m = trial["metrics"]
        assert trial["objective"] == pytest.approx((m["val_left_accuracy"] + m["val_right_accuracy"]) / 2)
    assert result.options["num_train"] == 270 and result.options["num_validation"] == 30
    rows = result.rows()
    assert rows[0]["w_left"] == pytest.approx(1 / 3) and "val_mean_accuracy" in rows[0]
    assert result.to_csv().count("\n") == 3

    counter = _FitCounter(monkeypatch)
    again = search_static_weights("multimnist_lenet", "multidigits", directory=directory, **TINY)
    assert counter.calls == 0 and again.trained == 0
    assert again.trials == result.trials and again.best_weights == result.best_weights


def test_an_interrupted_search_resumes_with_the_unfinished_trial_only_and_is_deterministic(tmp_path, monkeypatch,
                                                                                           finished):
    counter = _FitCounter(monkeypatch, interrupt_at=2)
    with pytest.raises(KeyboardInterrupt):
        search_static_weights("multimnist_lenet", "multidigits", directory=tmp_path, **TINY)
    counter.calls, counter.interrupt_at = 0, None
    result = search_static_weights("multimnist_lenet", "multidigits", directory=tmp_path, **TINY)
    assert counter.calls == 1 and result.trained == 1 and len(result.trials) == 2
    # same seed and options: the same numbers as the uninterrupted search, trial by trial
    assert [t["metrics"] for t in result.trials] == [t["metrics"] for t in finished[1].trials]


def test_a_finished_trial_left_ongoing_in_the_saved_oracle_is_not_retrained(tmp_path, monkeypatch, finished):
    directory = tmp_path / "copy"
    shutil.copytree(finished[0], directory)
    oracle_file = directory / "static_weights" / "oracle.json"
    state = json.loads(oracle_file.read_text())
    state["ongoing_trials"] = {"tuner0": finished[1].trials[-1]["trial_id"]}  # as saved in the middle of end_trial
    oracle_file.write_text(json.dumps(state))
    counter = _FitCounter(monkeypatch)
    again = search_static_weights("multimnist_lenet", "multidigits", directory=directory, **TINY)
    assert counter.calls == 0 and again.trials == finished[1].trials


def test_search_refuses_a_folder_made_with_other_options_and_bad_arguments(tmp_path, finished):
    with pytest.raises(ValueError, match="resolution 3 \\(saved\\) vs 4 \\(now\\)"):
        search_static_weights("multimnist_lenet", "multidigits", directory=finished[0], **{**TINY, "resolution": 4})
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        search_static_weights("multimnist_lenet", "multidigits", directory=tmp_path / "x", **{**TINY, "epochs": 0})
    with pytest.raises(ValueError, match="multidigits"):
        search_static_weights("multimnist_lenet", "no_such_data", directory=tmp_path / "y", **TINY)
    with pytest.raises(ValueError, match="mnist_triple|input|task"):
        search_static_weights("lenet_bn_tree", "multidigits", directory=tmp_path / "z", **TINY)


@pytest.mark.parametrize("module", ["simplex_grid", "mean_metric_callback", "holdout_split",
                                    "static_weight_hypermodel", "static_weight_result"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"mtlzoo.tools.static_weights.{module}"))
    assert result.attempted >= 2 and result.failed == 0
