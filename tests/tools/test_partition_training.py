"""Seed 004 Table 2 baselines, the accuracy curriculum (A.2) and full training of a partition."""

import math
import os
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtlzoo.testing import seed_everything
from mtlzoo.tools.partition_search import masks_from_partition, partition_matrix
from mtlzoo.tools.partition_search.baselines import BASELINES, baseline_partition
from mtlzoo.tools.partition_search.partition_training import train_partition
from mtlzoo.tools.partition_search.task_curriculum import AccuracyCurriculum

MNIST = Path(os.environ.get("MTLZOO_TEST_MNIST", Path(__file__).resolve().parents[3] / "shared" / "data" /
                            "mnist.npz"))


# -- baselines -------------------------------------------------------------------------------------------------
def test_baselines_follow_table_2():
    np.testing.assert_allclose(baseline_partition("independent", 4), np.eye(4) / 4)
    half = baseline_partition("share half", 4)
    np.testing.assert_allclose(np.diag(half), 0.5 + 1 / 8)
    np.testing.assert_allclose(half[~np.eye(4, dtype=bool)], 0.5)
    np.testing.assert_array_equal(baseline_partition("share-all", 3), np.ones((3, 3)))


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("n, channels", [(2, 8), (3, 12), (4, 10), (4, 50)])
def test_baselines_are_realisable_within_one_channel(name, n, channels):
    P = baseline_partition(name, n)
    solution = masks_from_partition(P, channels, return_solution=True)
    assert solution.realisable
    np.testing.assert_array_less(np.abs(partition_matrix(solution.mask) - P), 1 / channels + 1e-9)
    if channels % (2 * n) == 0:  # exact when every share is a whole number of channels
        np.testing.assert_allclose(partition_matrix(solution.mask), P)


def test_unknown_baseline_and_bad_task_count_are_named():
    with pytest.raises(ValueError, match="'share_most'.*independent, share_half, share_all"):
        baseline_partition("share_most", 3)
    with pytest.raises(ValueError, match="n_tasks must be a positive integer"):
        baseline_partition("independent", 0)


# -- curriculum ------------------------------------------------------------------------------------------------
def _labelled(batches, tasks=("a", "b", "c")):
    x = np.zeros((batches, 1), "float32")
    return tf.data.Dataset.from_tensor_slices((x, {t: np.zeros(batches, "int32") for t in tasks})).batch(1)


def _drawn(curriculum, dataset, seed=0):
    weights = curriculum.apply(dataset, seed=seed).map(lambda x, y, w: tf.stack([w[t][0] for t in curriculum.tasks]))
    present = next(iter(weights.batch(100_000))).numpy()  # (batches, tasks)
    np.testing.assert_array_equal(present.sum(axis=1), 1.0)  # exactly one task per batch
    return present.sum(axis=0).astype(int)


def test_probabilities_are_a_softmax_of_one_minus_accuracy_over_temperature():
    cur = AccuracyCurriculum(["a", "b", "c"], temperature=0.25)
    np.testing.assert_allclose(cur.probabilities(), [1 / 3] * 3)
    cur.update({"a": 0.9, "b": 0.6, "c": 0.3})
    logits = np.array([0.1, 0.4, 0.7]) / 0.25
    np.testing.assert_allclose(cur.probabilities(), np.exp(logits) / np.exp(logits).sum())
    np.testing.assert_allclose(AccuracyCurriculum(["a", "b"], math.inf).probabilities([0.0, 1.0]), [0.5, 0.5])


@pytest.mark.parametrize("temperature", [0.2, 1.0, math.inf])
def test_sampling_frequencies_follow_the_formula(temperature):
    cur = AccuracyCurriculum(["a", "b", "c"], temperature=temperature)
    cur.update({"a": 0.95, "b": 0.6, "c": 0.2})
    n = 3000
    counts = _drawn(cur, _labelled(n))
    p = cur.probabilities()
    sigma = np.sqrt(n * p * (1 - p))
    assert np.all(np.abs(counts - n * p) < 4 * sigma + 1), (counts, n * p)
    np.testing.assert_array_equal(cur.drawn.numpy(), counts)


def test_draws_are_seeded_and_follow_updates():
    cur = AccuracyCurriculum(["a", "b", "c"], temperature=0.05)
    ds = _labelled(200)
    assert np.array_equal(_drawn(cur, ds, seed=3), _drawn(cur, ds, seed=3))
    cur.update({"a": 1.0, "b": 1.0, "c": 0.0})  # c lags by 1: p(c) = 1 / (1 + 2 e^-20)
    assert _drawn(cur, ds)[2] == 200


def test_callback_updates_drawn_tasks_only_and_the_model_trains_one_task_per_batch():
    seed_everything(0)
    cur = AccuracyCurriculum(["a", "b"], temperature=0.5)
    cur.update({"a": 1.0, "b": 0.0})
    callback = cur.callback()
    callback.on_epoch_begin(0)
    cur.drawn.assign_add([0, 3])  # only b was drawn this epoch
    callback.on_epoch_end(0, {"a_accuracy": 0.0, "b_accuracy": 0.4})
    assert cur.accuracies() == {"a": 1.0, "b": 0.4}
    with pytest.raises(ValueError, match=r"Unknown task\(s\) \['z'\]"):
        cur.update({"z": 0.1})
    with pytest.raises(ValueError, match="temperature must be > 0"):
        AccuracyCurriculum(["a"], temperature=0)
    with pytest.raises(ValueError, match="labels for every task"):
        cur.apply(_labelled(2, tasks=("a",)))


# -- full training -----------------------------------------------------------------------------------------------
def _mnist(n_train, n_test):
    with np.load(MNIST) as data:
        x, y = data["x_train"][:n_train], data["y_train"][:n_train]
        xt, yt = data["x_test"][:n_test], data["y_test"][:n_test]

    def ds(images, labels, shuffle):
        images = (images[..., None] / 255.0).astype("float32")
        out = tf.data.Dataset.from_tensor_slices((images, {"digit": labels.astype("int32"),
                                                           "parity": (labels % 2).astype("int32"),
                                                           "unused": labels.astype("int32")}))
        return (out.shuffle(len(images), seed=0) if shuffle else out).batch(64)

    return ds(x, y, True), ds(xt, yt, False)


@pytest.mark.skipif(not MNIST.is_file(), reason=f"real MNIST not found at {MNIST} (set MTLZOO_TEST_MNIST)")
def test_train_partition_learns_both_tasks_with_the_curriculum_on_real_mnist():
    seed_everything(0)
    train, test = _mnist(1024, 512)
    tasks = {"digit": 10, "parity": 2}
    model, acc, use = train_partition("share_half", train, test, tasks, epochs=3, width=4, hidden=16,
                                      temperature=0.2, seed=0)
    assert use == pytest.approx(0.75) and sorted(acc) == ["digit", "parity"]
    assert acc["digit"] > 0.3 and acc["parity"] > 0.6, acc  # chance: 0.1 and 0.5 (512 test images)
    assert model.tasks == ["digit", "parity"]
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.005)  # dropped 10x
    train, test = _mnist(1024, 512)  # fresh pipelines: a reused shuffled dataset continues its sequence
    again = train_partition("share_half", train, test, tasks, epochs=3, width=4, hidden=16, temperature=0.2, seed=0)
    assert again[1] == acc  # seeded


@pytest.mark.slow
@pytest.mark.skipif(not MNIST.is_file(), reason=f"real MNIST not found at {MNIST} (set MTLZOO_TEST_MNIST)")
def test_a_task_with_almost_no_channels_learns_less_than_with_all():
    seed_everything(0)
    train, test = _mnist(1024, 512)
    tiny = np.array([[1 / 8, 0.0], [0.0, 1.0]])  # digit gets 1 of 8 conv1 channels, 2 of 16 dense units
    _, starved, use = train_partition(tiny, train, test, {"digit": 10, "parity": 2}, epochs=2, width=8, hidden=16)
    _, full, _ = train_partition("share_all", train, test, {"digit": 10, "parity": 2}, epochs=2, width=8, hidden=16)
    assert use == pytest.approx(9 / 16)
    assert full["digit"] > starved["digit"] + 0.05, (full, starved)


def test_train_partition_rejects_bad_inputs_by_name():
    ds = _labelled(4, tasks=("a", "b"))
    with pytest.raises(ValueError, match=r"\(2, 2\) P̃ matrix"):
        train_partition(np.eye(3), ds, ds, ["a", "b"], epochs=1)
    with pytest.raises(ValueError, match=r"train_data has no labels for task\(s\) \['z'\]"):
        train_partition("share_all", ds, ds, ["a", "z"], epochs=1)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        train_partition("share_all", ds, ds, ["a", "b"], epochs=0)
