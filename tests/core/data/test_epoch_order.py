"""Stateless epochs: with ``EpochClock`` the data order (and the dropout masks) of epoch e depend on (seed, e) only,
so a run resumed with Keras' own ``BackupAndRestore`` ends where the uninterrupted run ends."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtlzoo
from mtlzoo import testing
from mtlzoo.data import EpochClock
from mtlzoo.data.epoch_clock import epoch_variable
from mtlzoo.data.pipeline import array_stream, epoch_shuffle, index_dataset


@pytest.fixture(autouse=True)
def no_epoch():
    epoch_variable().assign(-1)
    yield
    epoch_variable().assign(-1)


def one_pass(ds) -> list:
    return [int(i) for i in ds]


def at_epoch(epoch: int, ds) -> list:
    epoch_variable().assign(epoch)
    return one_pass(ds)


def test_the_order_of_epoch_e_depends_on_seed_and_e_only():
    used = index_dataset(50, seed=3, shuffle=True)
    for e in (0, 1, 2, 7):  # this dataset object has made passes before; the fresh one has not
        at_epoch(e, used)
    fresh = index_dataset(50, seed=3, shuffle=True)
    order = at_epoch(5, fresh)
    assert at_epoch(5, used) == order and at_epoch(5, fresh) == order
    assert sorted(order) == list(range(50)) and order != list(range(50))
    assert at_epoch(6, fresh) != order
    assert at_epoch(5, index_dataset(50, seed=4, shuffle=True)) != order
    assert at_epoch(5, index_dataset(50, seed=3, shuffle=True, salt=1)) != order
    assert int(fresh.cardinality()) == 50


def test_without_the_clock_every_pass_has_a_new_order_and_runs_repeat():
    def passes():
        testing.seed_everything(0)
        ds = index_dataset(40, seed=1, shuffle=True)
        return [one_pass(ds) for _ in range(3)]

    first = passes()
    assert first == passes()  # deterministic for the seed and the sequence of passes
    assert first[0] != first[1] != first[2]
    assert all(sorted(p) == list(range(40)) for p in first)


def test_repeating_streams_give_every_repetition_its_own_order():
    x = np.arange(6, dtype="uint8").reshape(6, 1, 1)
    stream = array_stream(x, np.arange(6, dtype="int32"), batch_size=6, seed=2, repeat=True)
    epoch_variable().assign(4)
    a = [b[1].numpy().tolist() for b in stream.take(3)]
    again = [b[1].numpy().tolist() for b in
             array_stream(x, np.arange(6, dtype="int32"), batch_size=6, seed=2, repeat=True).take(3)]
    assert a == again and all(sorted(r) == list(range(6)) for r in a) and a[0] != a[1]
    assert int(stream.cardinality()) == tf.data.INFINITE_CARDINALITY


def test_epoch_shuffle_of_a_file_stream_is_stateless_too():
    base = tf.data.Dataset.range(30).map(lambda i: i * 10)
    shuffled = epoch_shuffle(base, 30, seed=5)
    order = at_epoch(2, shuffled)
    assert order == at_epoch(2, epoch_shuffle(base, 30, seed=5)) and order != at_epoch(3, shuffled)
    assert sorted(order) == list(range(0, 300, 10)) and int(shuffled.cardinality()) == 30
    repeated = epoch_shuffle(base, 30, seed=5, repeat=True)
    epoch_variable().assign(2)
    first_two = [int(i) for i in repeated.take(60)]
    assert first_two[:30] != first_two[30:] and sorted(first_two[30:]) == sorted(order)


def test_curriculum_draws_of_epoch_e_are_stateless():
    curriculum = mtlzoo.data.TemperatureCurriculum(["a", "b", "c"])
    epoch_variable().assign(3)
    draws = [int(i) for i in curriculum.choices(seed=1).take(40)]
    assert draws == [int(i) for i in curriculum.choices(seed=1).take(40)]
    epoch_variable().assign(4)
    assert draws != [int(i) for i in curriculum.choices(seed=1).take(40)]


def _model():
    testing.seed_everything(0)
    model = mtlzoo.models.get("multimnist_lenet", width=2, dropout=0.5)  # dropout: seed generators matter
    model.compile(optimizer="sgd", balancer="uniform")
    return model


def _fit(model, epochs, callbacks):
    testing.seed_everything(0)
    ds = mtlzoo.data.get("multidigits", batch_size=16, limit=32, seed=0)
    model.fit(ds, epochs=epochs, callbacks=callbacks, verbose=0, shuffle=False)  # the data shuffles itself
    return [np.asarray(v) for v in model.trainable_variables]


@pytest.mark.parametrize("clock", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_keras_backup_and_restore_resumes_exactly_with_the_clock(tmp_path, clock):
    def callbacks(folder):
        backup = keras.callbacks.BackupAndRestore(str(folder), delete_checkpoint=False)
        return [backup, EpochClock()] if clock else [backup]

    uninterrupted = _fit(_model(), 2, [EpochClock()] if clock else [])
    _fit(_model(), 1, callbacks(tmp_path))  # the first run stops after one epoch...
    resumed = _fit(_model(), 2, callbacks(tmp_path))  # ...a new process would rebuild everything
    difference = max(float(np.max(np.abs(a - b))) for a, b in zip(uninterrupted, resumed, strict=True))
    if clock:
        assert difference == 0.0
    else:  # the bug EpochClock fixes: the resumed run replays epoch 0's order and masks in epoch 1
        assert difference > 0.0
