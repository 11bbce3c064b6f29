"""The classic search's warm start (Vaswani et al. 2019) and the hybrid's relative switch test."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mtlzoo import testing
from mtlzoo.training import ArmijoLineSearch, MultiTaskModel, balancers


def convex_problem(seed: int, n: int = 16):
    testing.seed_everything(seed)
    rng = np.random.default_rng(seed)
    model = MultiTaskModel.shared_trunk(
        keras.layers.Dense(2, use_bias=False, name="trunk"),
        {"a": keras.layers.Dense(1, name="head_a"), "b": keras.layers.Dense(1, name="head_b")}, (3,))
    x = rng.normal(size=(n, 3)).astype("float32")
    y = {"a": rng.normal(size=(n, 1)).astype("float32"), "b": rng.normal(size=(n, 1)).astype("float32")}
    return model, x, y


def trials_per_step(warm_start, steps=10):
    model, x, y = convex_problem(0)
    model.compile(optimizer="sgd", loss="mse", balancer="mgda_ub",
                  line_search={"method": "classic", "eta_max": 1e3, "warm_start": warm_start})
    out = []
    for _ in range(steps):
        logs = model.train_on_batch(x, y, return_dict=True)  # one step: the logs are that step's
        out.append((float(logs["trials"]), float(logs["eta"])))
        model.reset_metrics()
    return out, model


def test_warm_start_starts_from_the_last_accepted_eta_over_shrink():
    cold, _ = trials_per_step(False)
    warm, model = trials_per_step(True)
    assert cold[0] == warm[0]  # the first step searches from eta_ub either way
    assert cold[0][0] >= 5  # eta_ub = 1000 is far too large: many failed trials
    # a cold search repeats them every step; a warm one needs one or two trials on average (it doubles
    # eta after each accepted step, so it fails a trial now and then and comes back)
    assert np.mean([t for t, _ in cold[1:]]) >= 8
    assert np.mean([t for t, _ in warm[1:]]) <= 2.5
    assert float(model.line_search.last_eta.numpy()) == pytest.approx(warm[-1][1])


def test_warm_start_defaults_and_round_trip():
    assert ArmijoLineSearch(method="classic").warm_start is True
    assert ArmijoLineSearch(method="fast").warm_start is False
    config = ArmijoLineSearch(method="classic", warm_start=False).get_config()
    assert ArmijoLineSearch.from_config(config).warm_start is False


def epoch(hybrid, losses, index):
    """Feed one epoch's mean losses to the hybrid's running sums, then end the epoch."""
    hybrid.epoch_loss_sum.assign(np.asarray(losses, "float32"))
    hybrid.epoch_steps.assign(1.0)
    return hybrid.on_epoch_end(index)


@pytest.mark.parametrize("relative,switch_at", [(True, 3), (False, 2)])
def test_relative_epsilon_measures_the_drop_against_the_first_epoch(relative, switch_at):
    """Losses 2 -> 1.5 -> 1.3 -> 1.25: drops 0.5, 0.2, 0.05. With epsilon = 0.15 relative to the first
    epoch (a threshold of 0.3) the GradNorm phase ends after epoch 3; absolute 0.3 ends it after epoch 2."""
    hybrid = balancers.get("hybrid", epsilon=0.15 if relative else 0.6, relative=relative)
    hybrid.setup(testing.tiny_tree_network(model_class=MultiTaskModel).tree)
    logs = [epoch(hybrid, [v, v, v], k) for k, v in enumerate((2.0, 1.5, 1.3, 1.25))]
    phases = [entry["hybrid_phase"] for entry in logs]
    assert phases == [0.0] * (switch_at - 1) + [1.0] * (5 - switch_at)
    assert logs[-1]["hybrid_switch_epoch"] == switch_at
    assert balancers.get(dict(class_name="hybrid", config=hybrid.get_config())).relative is relative
