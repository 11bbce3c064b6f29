"""GreedySplitSearch (seed 000 Alg. 5): a stress step, the random baseline, resume, run-folder report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

import mtlzoo
from mtlzoo import testing
from mtlzoo.tools.split_search import GreedySplitSearch

TASKS = ("a", "b", "c")
COMPILE = {"optimizer": {"class_name": "Adam", "config": {"learning_rate": 1e-2}},
           "loss": "sparse_categorical_crossentropy_from_logits", "metrics": ["accuracy"], "balancer": "hybrid"}


def _data(n=64, batch=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 16, 16, 1), dtype=np.float32)
    y = {t: rng.integers(0, 3, n).astype("int32") for t in TASKS}
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


def _model():
    testing.seed_everything(0)
    return mtlzoo.models.get("lenet_bn_tree", tasks=TASKS, width=2, num_classes=3, input_shape=(16, 16, 1))


def _search(tmp_path=None, **kwargs):
    options = dict(steps=1, initial_epochs=1, fine_tune_epochs=1, retrain_epochs=1, compile_args=COMPILE,
                   max_batches=2, seed=0, verbose=False)
    options.update(kwargs)
    return GreedySplitSearch(_model(), _data(), _data(seed=1), run_dir=tmp_path, **options)


def test_stress_step_splits_the_only_splittable_block_and_writes_the_report(tmp_path):
    result = _search(tmp_path).run()
    (step,) = result.steps
    assert step["block"] == "conv2"
    assert set(step["stress"]) == {"conv2"} and step["stress"]["conv2"] >= 0
    assert step["fine_tuned_networks"] == 3  # T peeled networks per step, not T^2 N
    matrix = np.array(step["task_affinity"]["matrix"])
    assert matrix.shape == (3, 3) and np.allclose(matrix, matrix.T) and np.allclose(np.diag(matrix), 0)
    groups = step["partition"]
    assert sorted(c for g in groups for c in g) == ["head_a", "head_b", "head_c"] and len(groups) == 2
    tree = result.model.tree
    assert "conv2" not in tree.blocks and {"conv2_1", "conv2_2"} <= set(tree.blocks)
    assert sorted(map(sorted, result.first_partition())) == sorted(sorted(g) for g in
                                                                   ([c[5:] for c in g] for g in groups))
    assert {f"{t}_accuracy" for t in TASKS} <= set(step["metrics"])
    for name in ("search.json", "report.md", "models/step_0.keras", "models/step_1.keras", "stress.csv",
                 "metrics.csv", "task_affinity_step1.csv", "task_affinity_step1.png", "tree_step0.png",
                 "tree_step1.png"):
        assert (tmp_path / name).is_file(), name
    saved = json.loads((tmp_path / "search.json").read_text())
    assert saved["steps"][0]["partition"] == groups
    report = (tmp_path / "report.md").read_text()
    assert "conv2" in report and "task_affinity_step1.png" in report


def test_resume_runs_only_the_missing_steps_and_refuses_other_options(tmp_path):
    first = _search(tmp_path, strategy="random").run()
    before = json.loads((tmp_path / "search.json").read_text())
    again = _search(tmp_path, strategy="random", steps=2).run()
    assert again.steps[0] == json.loads(json.dumps(before["steps"][0]))
    assert len(again.steps) == 2 and again.steps[1]["step"] == 2
    assert len(again.model.tree.blocks) == len(first.model.tree.blocks) + 1
    with pytest.raises(ValueError, match="other options"):
        _search(tmp_path, strategy="stress", steps=2).run()


def test_random_strategy_is_seeded_and_stops_when_nothing_is_left(tmp_path):
    one = _search(strategy="random", steps=0).run()
    assert one.steps == [] and one.state["initial"]["epochs"] == 1
    a = _search(strategy="random", seed=3, initial_epochs=0, retrain_epochs=0).run()
    b = _search(strategy="random", seed=3, initial_epochs=0, retrain_epochs=0).run()
    assert a.steps[0]["block"] == b.steps[0]["block"] and a.steps[0]["partition"] == b.steps[0]["partition"]
    with pytest.raises(RuntimeError, match="lower `steps`"):
        _search(strategy="random", steps=6, initial_epochs=0, retrain_epochs=0).run()


def test_bad_options_name_the_argument():
    with pytest.raises(ValueError, match="strategy"):
        _search(strategy="greedy")
    with pytest.raises(ValueError, match="fine_tune_epochs"):
        _search(fine_tune_epochs=-1)
