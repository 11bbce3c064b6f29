"""The batched line search (all candidates at once, as under a strategy) equals the sequential one on one
device: same step sizes, trial counts and weights after several steps (the mirrored check is in
``test_distribution.py``)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import mtlzoo
from mtlzoo import testing
from mtlzoo.training import ArmijoLineSearch

STEPS = 4


def lenet_run(balancer, search, batched, weighted=False):
    """A width-2 LeNet trained STEPS single-batch steps: per step (eta, trials, skipped), the weights and
    how far they moved."""
    keras.backend.clear_session()
    testing.seed_everything(0)
    model = mtlzoo.models.get("multimnist_lenet", width=2, tasks=("left", "right"))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy_from_logits", balancer=balancer,
                  line_search={**search, "batched": batched})
    rng = np.random.default_rng(0)
    x = rng.random((8, 28, 28, 1), dtype="float32")
    y = {t: rng.integers(0, 10, 8).astype("int32") for t in model.tasks}
    w = {t: (rng.random(8) < 0.7).astype("float32") for t in model.tasks} if weighted else None
    initial = {v.path: v.numpy() for v in model.trainable_variables}
    logs = []
    for _ in range(STEPS):
        out = model.train_on_batch(x, y, sample_weight=w, return_dict=True)
        model.reset_metrics()
        logs.append((out["eta"], out["trials"], out["skipped"]))
    moved = max(float(np.abs(v.numpy() - initial[v.path]).max()) for v in model.trainable_variables)
    return logs, {v.path: v.numpy() for v in model.weights}, moved


SEARCHES = {
    # eta_ub far too large: the first steps backtrack through many candidates
    "fast": {"method": "fast", "eta_max": 64.0, "eps": 1e-6},
    "classic+warm": {"method": "classic", "eta_max": 64.0, "eps": 1e-6},
    "classic+cold": {"method": "classic", "eta_max": 64.0, "eps": 1e-6, "warm_start": False},
    # three candidates, all rejected: the fallback step at eps
    "classic+few": {"method": "classic", "eta_max": 64.0, "eps": 1e-6, "candidates": 3, "shrink": 0.3},
}


@pytest.mark.parametrize("balancer, search, weighted", [
    ("mgda_ub", "fast", False), ("mgda_ub", "fast", True), ("mgda_ub", "classic+warm", False),
    ("mgda", "classic+cold", True), ("uniform", "classic+warm", False), ("imtl", "classic+few", False)])
def test_batched_equals_sequential_on_one_device(balancer, search, weighted):
    seq_logs, seq_weights, moved = lenet_run(balancer, SEARCHES[search], False, weighted)
    bat_logs, bat_weights, _ = lenet_run(balancer, SEARCHES[search], True, weighted)
    assert max(t for _, t, _ in seq_logs) >= 3, seq_logs  # the walk went past the first candidates
    assert moved > 0, moved
    np.testing.assert_allclose(np.array(bat_logs), np.array(seq_logs), rtol=1e-6, atol=0)
    assert set(bat_weights) == set(seq_weights)
    for key, value in seq_weights.items():
        np.testing.assert_allclose(bat_weights[key], value, rtol=0, atol=1e-6, err_msg=key)


def test_candidates_and_batched_are_checked_and_saved():
    with pytest.raises(ValueError, match="candidates must be a whole number >= 1"):
        ArmijoLineSearch(candidates=0)
    search = ArmijoLineSearch(method="classic", eta_max=1.0, eps=1e-3, shrink=0.5)
    assert search.candidates == search.max_trials == 11  # 1, 1/2, ..., 1/1024 >= 1e-3
    config = ArmijoLineSearch(candidates=5, batched=True).get_config()
    again = ArmijoLineSearch.from_config(config)
    assert (again.candidates, again.batched) == (5, True)
    assert ArmijoLineSearch.from_config(search.get_config()).candidates == 11
