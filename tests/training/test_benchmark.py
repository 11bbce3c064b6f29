"""``mtlzoo.training.benchmark``: result structure, step plans, synthetic batches, clear errors."""

from __future__ import annotations

import doctest
import math
import time

import numpy as np
import pytest

from mtlzoo.training import benchmark
from mtlzoo.training.benchmark import (build_compiled, paired_ratio, run_benchmark, split_steps,
                                       synthetic_batch, time_steps)

TINY = {"model": "multimnist_lenet", "model_options": {"width": 2}, "batch_size": 8, "warmup": 1}


def test_result_structure_ratios_and_step_counts():
    lines = []
    result = run_benchmark(balancers=["mgda_ub", "mgda"], steps=3, slow_steps=2, rounds=2, progress=lines.append,
                           **TINY)
    assert [r["balancer"] for r in result["results"]] == ["uniform", "mgda_ub", "mgda"]  # uniform added first
    assert [r["steps"] for r in result["results"]] == [3, 3, 2]  # mgda is slow: slow_steps
    assert result["tasks"] == 2 and result["input_shape"] == [28, 28, 1] and result["batch_size"] == 8
    rows = {r["balancer"]: r for r in result["results"]}
    assert rows["uniform"]["ratio"] == 1.0
    for row in result["results"]:
        assert len(row["times_ms"]) == row["steps"]
        assert row["median_ms"] == pytest.approx(float(np.median(row["times_ms"])))
        assert math.isfinite(row["ratio"]) and row["ratio"] > 0
        assert row["ratio_of_medians"] == pytest.approx(row["median_ms"] / rows["uniform"]["median_ms"])
        assert row["min_ms"] == pytest.approx(min(row["times_ms"]))
        assert row["ratio_of_minimums"] == pytest.approx(row["min_ms"] / rows["uniform"]["min_ms"])
        assert row["first_step_s"] > 0
    assert set(result["ratios"]) == {"mgda_ub/uniform", "mgda/uniform", "mgda/mgda_ub"}
    assert result["ratios"]["mgda_ub/uniform"] == rows["mgda_ub"]["ratio"]
    # paired by round: round 1 has 2 steps of each, round 2 one step of uniform and mgda_ub and one of mgda
    uni, ub, exact = (rows[b]["times_ms"] for b in ("uniform", "mgda_ub", "mgda"))
    expected = np.median([np.median(ub[:2]) / np.median(uni[:2]), ub[2] / uni[2]])
    assert rows["mgda_ub"]["ratio"] == pytest.approx(expected)
    expected = np.median([np.median(exact[:1]) / np.median(ub[:2]), exact[1] / ub[2]])
    assert result["ratios"]["mgda/mgda_ub"] == pytest.approx(expected)
    assert any(line.startswith("round 2/2 done") and "mgda " in line for line in lines)
    assert any("mgda_ub: building" in line for line in lines)


def test_every_balancer_starts_from_the_same_weights():
    first = build_compiled("multimnist_lenet", "uniform", {"width": 2}, seed=3)
    second = build_compiled("multimnist_lenet", "gradnorm", {"width": 2}, seed=3)
    for block, layer in first.blocks.items():
        for a, b in zip(layer.get_weights(), second.blocks[block].get_weights()):
            np.testing.assert_array_equal(a, b)
    assert second.balancer.name == "gradnorm" and not second.optimizer.get_config().get("momentum")


def test_steps_are_plain_optimizer_steps_even_when_the_recipe_has_a_line_search():
    net = build_compiled("resnet18_multihead", "mgda_ub", {"dataset": "celeba", "width": 2})
    assert len(net.tasks) == 40
    assert getattr(net, "line_search", None) is None
    assert type(net.optimizer).__name__ == "SGD"


def test_unknown_names_and_bad_counts_give_clear_errors():
    with pytest.raises(ValueError, match=r"unknown balancer\(s\) \['mgda_fast'\].*mgda_ub"):
        run_benchmark(balancers=["mgda_fast"], steps=1, **TINY)
    with pytest.raises(ValueError, match="unknown zoo model 'lenet5'.*multimnist_lenet"):
        run_benchmark("lenet5", ["uniform"], steps=1)
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        run_benchmark(balancers=["uniform"], steps=0, **TINY)
    with pytest.raises(ValueError, match="warmup must be an integer >= 0"):
        run_benchmark("multimnist_lenet", ["uniform"], warmup=-1)


def test_paired_ratio_cancels_load_between_rounds():
    # uniform and the balancer both slow down 3x in round 2: the paired ratio stays 2
    assert paired_ratio([[2.0, 2.0], [6.0, 6.0]], [[1.0], [3.0]]) == pytest.approx(2.0)
    assert paired_ratio([[5.0], []], [[1.0], [2.0]]) == pytest.approx(5.0)  # only rounds where both ran
    with pytest.raises(ValueError, match="no round has steps of both"):
        paired_ratio([[], [1.0]], [[1.0], []])


def test_split_steps_spreads_evenly():
    assert split_steps(7, 3) == [3, 2, 2]
    assert split_steps(2, 3) == [1, 1, 0]
    for total, rounds in [(60, 10), (5, 5), (1, 4)]:
        plan = split_steps(total, rounds)
        assert sum(plan) == total and max(plan) - min(plan) <= 1


def test_time_steps_times_each_call():
    calls = []

    def step():
        calls.append(1)
        time.sleep(0.01)

    times = time_steps(step, 3)
    assert len(calls) == 3 and len(times) == 3
    assert all(0.009 <= t < 1.0 for t in times)


def test_synthetic_labels_follow_the_loss():
    import mtlzoo

    net = mtlzoo.models.get("multimnist_lenet", width=2)
    x, y = synthetic_batch(net, 16, "sparse_categorical_crossentropy_from_logits", seed=1)
    assert tuple(x.shape) == (16, 28, 28, 1)
    assert y["left"].dtype.is_integer and set(np.unique(y["right"])) <= set(range(10))
    _, onehot = synthetic_batch(net, 4, "categorical_crossentropy")
    np.testing.assert_array_equal(np.sum(onehot["left"], axis=-1), np.ones(4))
    _, values = synthetic_batch(net, 4, {"left": "mae", "right": "binary_crossentropy"})
    assert values["left"].shape == (4, 10) and set(np.unique(values["right"])) <= {0.0, 1.0}
    again, _ = synthetic_batch(net, 16, "sparse_categorical_crossentropy_from_logits", seed=1)
    np.testing.assert_array_equal(x, again)


def test_presets_match_the_spec():
    lenet, resnet = benchmark.PRESETS["lenet"], benchmark.PRESETS["resnet18"]
    assert (lenet["model"], lenet["batch_size"]) == ("multimnist_lenet", 256)
    assert set(benchmark.ALL_BALANCERS) <= set(lenet["balancers"])
    assert (resnet["model"], resnet["model_options"], resnet["batch_size"]) == \
        ("resnet18_multihead", {"dataset": "celeba"}, 64)
    assert resnet["slow_steps"] < resnet["steps"]


def test_module_examples():
    result = doctest.testmod(benchmark, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted >= 4 and result.failed == 0
