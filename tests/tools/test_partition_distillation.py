"""Distillation scoring of partitions (seed 004 §4.2) on a tiny real-MNIST setup."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mtlzoo.testing import seed_everything
from mtlzoo.tools.partition_search.distillation import DistillationScorer
from mtlzoo.tools.partition_search.teachers import as_arrays, train_teachers

TASKS = {"digit": 10, "parity": 2}


def _mnist_path() -> Path:
    default = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist.npz"
    return Path(os.environ.get("MTLZOO_TEST_MNIST", default))


@pytest.fixture(scope="module")
def setup():
    path = _mnist_path()
    if not path.exists():
        pytest.skip(f"real MNIST not found at {path} (set MTLZOO_TEST_MNIST to its path)")
    with np.load(path) as f:
        x_train, y_train = f["x_train"][:1200], f["y_train"][:1200]
        x_test, y_test = f["x_test"][:400], f["y_test"][:400]

    def prepare(images, labels):
        return (images[..., None] / 255.0).astype("float32"), {"digit": labels, "parity": labels % 2}

    seed_everything(0)
    train, test = prepare(x_train, y_train), prepare(x_test, y_test)
    teachers = train_teachers(train, TASKS, width=4, hidden=16, epochs=2, batch_size=32, seed=0)
    scorer = DistillationScorer(teachers, train, test, steps=60, batch_size=32, seed=0)
    return teachers, train, test, scorer


def test_teachers_are_single_task_full_networks_from_one_init(setup):
    teachers, _, _, _ = setup
    assert {t: n.tasks for t, n in teachers.items()} == {"digit": ["digit"], "parity": ["parity"]}
    assert all(np.all(m == 1) for n in teachers.values() for m in n.masks())
    fresh = train_teachers(setup[1], TASKS, width=4, hidden=16, epochs=0, seed=0)  # untrained: the common init
    np.testing.assert_array_equal(np.asarray(fresh["digit"].conv2.kernel), np.asarray(fresh["parity"].conv2.kernel))


def test_teacher_with_its_own_layers_swapped_in_is_the_teacher(setup):
    teachers, _, test, scorer = setup
    x = test[0][:64]
    for task, net in teachers.items():
        own = np.asarray(scorer.swapped_logits(task, x, layers=net))
        np.testing.assert_array_equal(own, net.predict(x, verbose=0)[task])
        assert scorer.teacher_accuracy[task] > {"digit": 0.5, "parity": 0.7}[task], scorer.teacher_accuracy


def test_distillation_lowers_the_mse_and_full_sharing_beats_starved_tasks(setup):
    _, _, _, scorer = setup
    full = scorer(np.ones((2, 2)))
    details = scorer.last_details
    for task, d in details["tasks"].items():
        assert d["mse_after"] < 0.7 * d["mse_before"], (task, d)
        assert d["channels"] == [4, 16]
    starved = scorer(np.array([[0.25, 0.0], [0.0, 0.25]]))  # one conv1 channel, 4 dense units per task
    assert [d["channels"] for d in scorer.last_details["tasks"].values()] == [[1, 4], [1, 4]]
    assert full > starved + 0.05, (full, starved)
    assert full == pytest.approx(np.mean([d["accuracy"] for d in details["tasks"].values()]))
    assert details["seconds"] > 0 and len(scorer.history) >= 2


def test_scores_are_deterministic_given_the_seed(setup):
    teachers, train, test, scorer = setup
    P = np.array([[0.5, 0.25], [0.25, 0.75]])
    first = scorer(P)
    tasks_first = scorer.last_details["tasks"]
    assert scorer(P) == first and scorer.last_details["tasks"] == tasks_first  # the call resets the student
    other = DistillationScorer(teachers, train, test, steps=60, batch_size=32, seed=0)
    assert other(P) == first
    shifted = DistillationScorer(teachers, train, test, steps=60, batch_size=32, seed=1)
    shifted(P)
    assert shifted.last_details["tasks"] != tasks_first  # other batches, other result


def test_bad_inputs_are_named(setup):
    teachers, train, test, scorer = setup
    with pytest.raises(ValueError, match=r"P̃ must be \(2, 2\)"):
        scorer(np.ones((3, 3)))
    with pytest.raises(ValueError, match="target"):
        DistillationScorer(teachers, train, test, target="conv2")
    with pytest.raises(ValueError, match="no labels"):
        DistillationScorer(teachers, train, (test[0], {"digit": test[1]["digit"]}))
    with pytest.raises(ValueError, match="pair"):
        as_arrays(test[0])
