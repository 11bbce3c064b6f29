"""``fit_distributed`` (mtlzoo's own epoch loop) against Keras' ``fit`` on one device; the multi-worker check
(two processes) is in ``test_distribution.py``."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtlzoo
from mtlzoo import testing
from mtlzoo.training import strategies
from mtlzoo.training.distributed_loop import fit_distributed, is_chief

BALANCERS = {"mgda_ub": "mgda_ub", "hybrid": {"class_name": "hybrid", "config": {"epsilon": 10.0}}}


def model_and_data(balancer, line_search=None):
    keras.backend.clear_session()
    testing.seed_everything(0)
    model = mtlzoo.models.get("multimnist_lenet", width=2, tasks=("left", "right"))
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), balancer=balancer,
                  loss="sparse_categorical_crossentropy_from_logits", line_search=line_search or False)
    rng = np.random.default_rng(0)
    x = rng.random((24, 28, 28, 1), dtype="float32")
    y = {t: rng.integers(0, 10, 24).astype("int32") for t in ("left", "right")}
    return model, tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


def weights(model):
    return {v.path: v.numpy() for v in model.weights}


@pytest.mark.parametrize("name, line_search", [("mgda_ub", None), ("hybrid", None),
                                               ("mgda_ub", {"method": "fast", "eta_max": 4.0})])
def test_matches_keras_fit_on_one_device(name, line_search):
    reference, data = model_and_data(BALANCERS[name], line_search)
    expected = reference.fit(data, epochs=3, shuffle=False, verbose=0).history
    model, data = model_and_data(BALANCERS[name], line_search)
    got = fit_distributed(model, data, epochs=3, verbose=0).history
    assert set(got) == set(expected)
    for key, values in expected.items():
        np.testing.assert_allclose(got[key], values, rtol=1e-6, atol=1e-7, err_msg=key)
    for key, value in weights(reference).items():
        np.testing.assert_allclose(weights(model)[key], value, rtol=0, atol=1e-6, err_msg=key)


def test_resuming_at_initial_epoch_continues_the_same_run():
    straight, data = model_and_data("mgda_ub")
    fit_distributed(straight, data, epochs=2, verbose=0)
    resumed, data = model_and_data("mgda_ub")
    fit_distributed(resumed, data, epochs=1, verbose=0)
    seen = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    history = fit_distributed(resumed, data, epochs=2, initial_epoch=1, callbacks=[record], verbose=0)
    assert seen == [1] and len(history.history["loss"]) == 1
    for key, value in weights(straight).items():
        np.testing.assert_array_equal(weights(resumed)[key], value, err_msg=key)


def test_one_device_is_the_chief_and_bad_arguments_are_named():
    assert is_chief(tf.distribute.get_strategy())
    model, data = model_and_data("uniform")
    with pytest.raises(ValueError, match="repeats forever"):
        fit_distributed(model, data.repeat(), epochs=1)
    with pytest.raises(ValueError, match="initial_epoch must be in"):
        fit_distributed(model, data, epochs=1, initial_epoch=2)


def test_strategy_names_are_resolved_or_refused():
    assert strategies.get("auto").num_replicas_in_sync == 1  # this CPU machine: no replication
    assert isinstance(strategies.get("one_device"), tf.distribute.OneDeviceStrategy)
    with pytest.raises(ValueError, match="strategy must be one of auto, one_device, mirrored, multi_worker; got 'gpu'"):
        strategies.get("gpu")
    with pytest.raises(ValueError, match="needs TF_CONFIG"):
        strategies.get("multi_worker", environ={})
    with pytest.raises(ValueError, match=r"MTLZOO_LOGICAL_CPUS must be a whole number >= 1 \(logical CPU devices\), "
                                         r"got 'two'"):
        strategies.get("mirrored", environ={"MTLZOO_LOGICAL_CPUS": "two"})
    assert strategies.logical_cpus({"MTLZOO_LOGICAL_CPUS": " 3 "}) == 3
