"""mnist_triple: separate inputs, per-task masks (zero loss weight on other datasets' rows), the curriculum."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mtlzoo import data
from mtlzoo.data import CurriculumCallback, TemperatureCurriculum

TASKS = ("mnist", "fashion_mnist", "kmnist")
CODES = {"mnist": 10, "fashion_mnist": 20, "kmnist": 30}  # pixel (0, 0) of each dataset's train images


def _trace(xb):
    """(task, source index) of each row, read from the traceable pixels."""
    pix = np.rint(xb[:, 0, :2, 0] * 255).astype(int)
    inverse = {v: k for k, v in CODES.items()}
    return [inverse[c] for c in pix[:, 0]], pix[:, 1]


def test_mixed_batches_hold_every_dataset_with_masks(fake_family):
    root, arrays = fake_family
    ds = data.get("mnist_triple", batch_size=9, data_dir=root, seed=1)
    seen = {t: [] for t in TASKS}
    batches = list(ds)
    assert len(batches) == 10  # 30 examples per dataset / 3 per batch
    for xb, yb, wb in batches:
        ds.mtlzoo_info.check_batch((xb, yb, wb))
        tasks, index = _trace(xb.numpy())
        assert sorted(tasks) == sorted(TASKS * 3)
        for r, (task, i) in enumerate(zip(tasks, index)):
            seen[task].append(i)
            assert int(yb[task][r]) == arrays[task]["y_train"][i]
            for other in TASKS:
                assert float(wb[other][r]) == (1.0 if other == task else 0.0)
                if other != task:
                    assert int(yb[other][r]) == 0
    for task in TASKS:  # one epoch sees every example exactly once
        assert sorted(seen[task]) == list(range(30))


def test_a_task_loss_ignores_other_datasets_rows(fake_family):
    root, _ = fake_family
    xb, yb, wb = next(iter(data.get("mnist_triple", batch_size=12, data_dir=root)))
    tasks, _ = _trace(xb.numpy())
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    logits = np.random.default_rng(0).normal(size=(12, 10)).astype("float32")
    for task in TASKS:
        own = np.array([t == task for t in tasks])
        base = float(loss(yb[task], logits, sample_weight=wb[task]))
        other_rows = logits.copy()
        other_rows[~own] += np.random.default_rng(1).normal(scale=50, size=(int((~own).sum()), 10))
        assert float(loss(yb[task], other_rows, sample_weight=wb[task])) == pytest.approx(base, rel=1e-6)
        own_rows = logits.copy()
        own_rows[own] += 5 * np.eye(10, dtype="float32")[(np.asarray(yb[task])[own] + 1) % 10]
        assert float(loss(yb[task], own_rows, sample_weight=wb[task])) > base + 0.1


def test_alternate_and_sequential_modes(fake_family):
    root, arrays = fake_family
    ds = data.get("mnist_triple", batch_size=6, data_dir=root, mode="alternate")
    order = [_trace(xb.numpy())[0] for xb, _, _ in ds]
    assert len(order) == 15 and all(len(set(t)) == 1 for t in order)
    assert [t[0] for t in order[:6]] == list(TASKS) * 2
    test = data.get("mnist_triple", split="test", batch_size=5, data_dir=root)
    rows = []
    for xb, yb, wb in test:
        tasks = [t for t in TASKS if float(wb[t].numpy().sum()) > 0]
        assert len(tasks) == 1
        np.testing.assert_array_equal(np.asarray(wb[tasks[0]]), 1.0)
        rows.append((tasks[0], np.asarray(yb[tasks[0]])))
    assert [t for t, _ in rows] == ["mnist"] * 3 + ["fashion_mnist"] * 3 + ["kmnist"] * 3
    np.testing.assert_array_equal(np.concatenate([y for t, y in rows if t == "kmnist"]), arrays["kmnist"]["y_test"])


def test_curriculum_probabilities_follow_inverse_accuracy_with_temperature():
    cur = TemperatureCurriculum(TASKS, temperature=1.0)
    np.testing.assert_allclose(cur.probabilities(), 1 / 3)
    cur.update({"mnist": 0.9, "fashion_mnist": 0.6, "kmnist": 0.3})
    inv = np.array([1 / 0.9, 1 / 0.6, 1 / 0.3])
    np.testing.assert_allclose(cur.probabilities(), inv / inv.sum())
    hot = TemperatureCurriculum(TASKS, temperature=1e6)
    np.testing.assert_allclose(hot.probabilities([0.9, 0.6, 0.3]), 1 / 3, atol=1e-5)
    cold = TemperatureCurriculum(TASKS, temperature=0.05)
    assert cold.probabilities([0.9, 0.6, 0.3])[2] > 0.999
    with pytest.raises(ValueError, match="temperature"):
        TemperatureCurriculum(TASKS, temperature=0)
    with pytest.raises(ValueError, match="Unknown task"):
        cur.update({"svhn": 0.5})


def test_curriculum_sampling_tracks_the_fed_back_accuracy(fake_family):
    root, _ = fake_family
    ds = data.get("mnist_triple", batch_size=4, data_dir=root, curriculum="temperature", steps_per_epoch=300, seed=3)
    cur = ds.mtlzoo_curriculum

    def frequencies():
        counts = dict.fromkeys(TASKS, 0)
        for xb, _, wb in ds:
            (task,) = [t for t in TASKS if float(wb[t].numpy().sum()) > 0]
            assert set(_trace(xb.numpy())[0]) == {task}
            counts[task] += 1
        return np.array([counts[t] for t in TASKS]) / 300

    assert np.abs(frequencies() - 1 / 3).max() < 0.1
    CurriculumCallback(ds).on_train_batch_end(0, {"mnist_accuracy": 0.9, "fashion_mnist_accuracy": 0.9,
                                                  "kmnist_accuracy": 0.1, "loss": 2.0})
    expected = cur.probabilities()
    assert expected[2] > 0.8
    assert np.abs(frequencies() - expected).max() < 0.08


def test_curriculum_choices_are_deterministic_for_a_seed():
    a, b = TemperatureCurriculum(TASKS), TemperatureCurriculum(TASKS)
    for cur in (a, b):
        cur.update({"mnist": 0.2})
    draw = [[int(i) for i in cur.choices(seed=7).take(50)] for cur in (a, b)]
    assert draw[0] == draw[1]
    assert draw[0] != [int(i) for i in a.choices(seed=8).take(50)]


def test_fit_feeds_accuracy_back_through_the_callback(fake_family):
    root, _ = fake_family
    ds = data.get("mnist_triple", batch_size=6, data_dir=root, curriculum="temperature")
    inputs = keras.Input((28, 28, 1))
    flat = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, {t: keras.layers.Dense(10, name=t)(flat) for t in TASKS})
    ds.mtlzoo_info.check_model(model)
    model.compile("sgd", loss={t: keras.losses.SparseCategoricalCrossentropy(from_logits=True) for t in TASKS},
                  metrics={t: ["accuracy"] for t in TASKS})
    logs = []
    spy = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs=None, out=logs: out.append(dict(logs)))
    model.fit(ds, epochs=1, callbacks=[CurriculumCallback(ds), spy], verbose=0, shuffle=False)
    final = {t: float(logs[-1][f"{t}_accuracy"]) for t in TASKS}
    assert ds.mtlzoo_curriculum.accuracies() == pytest.approx(final)
    assert any(v < 1.0 for v in final.values())


def test_invalid_options(fake_family):
    root, _ = fake_family
    with pytest.raises(ValueError, match="sampled"):
        data.get("mnist_triple", data_dir=root, mode="sampled")
    with pytest.raises(ValueError, match="split='train'"):
        data.get("mnist_triple", split="test", data_dir=root, curriculum="temperature")
    with pytest.raises(ValueError, match="tasks"):
        data.get("mnist_triple", data_dir=root, tasks=("mnist", "emnist"))
    with pytest.raises(ValueError, match="at least one row per task"):
        data.get("mnist_triple", data_dir=root, batch_size=2)
    with pytest.raises(ValueError, match="CurriculumCallback needs"):
        CurriculumCallback(object())
