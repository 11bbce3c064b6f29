"""MultiTaskModel with Keras' own fit/evaluate/predict/save and callbacks."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import mtlzoo
from mtlzoo import testing
from mtlzoo.training import MultiTaskModel, balancers


def lenet(balancer="mgda_ub", **compile_kwargs):
    testing.seed_everything(0)
    model = mtlzoo.models.get("multimnist_lenet", width=2)
    model.compile(balancer=balancer, **compile_kwargs)
    return model


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 28, 28, 1), dtype="float32")
    y = {"left": rng.integers(0, 10, n), "right": rng.integers(0, 10, n)}
    return x, y


def test_zoo_models_are_multi_task_models_with_a_recipe():
    model = mtlzoo.models.get("multimnist_lenet", width=2)
    assert isinstance(model, MultiTaskModel)
    assert model.recipe["balancer"] == "mgda_ub"
    model.compile()  # the recipe
    assert model.balancer.name == "mgda_ub" and isinstance(model.optimizer, keras.optimizers.SGD)
    assert model.get_compile_config()["loss"] == {t: "sparse_categorical_crossentropy_from_logits"
                                                  for t in model.tasks}


@pytest.mark.parametrize("name", balancers.names())
def test_fit_evaluate_predict_with_every_balancer(name):
    model = lenet(name)
    x, y = data()
    before = testing.weights_snapshot(model)
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_data=(x, y))
    logs = history.history
    for key in ("loss", "left_loss", "right_loss", "left_accuracy", "right_accuracy", "val_left_loss"):
        assert key in logs and len(logs[key]) == 2 and np.isfinite(logs[key]).all(), (key, logs)
    np.testing.assert_allclose(logs["loss"], np.add(logs["left_loss"], logs["right_loss"]), rtol=1e-5)
    assert not any(k.startswith("val_") and k[4:] in model.balancer.log_names() for k in logs)
    assert any(np.abs(a - b).max() > 0 for a, b in zip(before, testing.weights_snapshot(model)))
    results = model.evaluate(x, y, verbose=0, return_dict=True)
    assert {"loss", "left_loss", "right_accuracy"} <= set(results)
    outputs = model.predict(x[:4], verbose=0)
    assert {t: v.shape for t, v in outputs.items()} == {"left": (4, 10), "right": (4, 10)}


def test_logged_losses_are_the_unweighted_keras_losses():
    model = lenet("uniform", loss_weights={"left": 2.0, "right": 1.0})
    x, y = data()
    results = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    outputs = model.predict(x, verbose=0)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    left = float(ce(y["left"], outputs["left"]))
    np.testing.assert_allclose(results["left_loss"], 2.0 * left, rtol=1e-5)  # c_t L_t, as optimized
    np.testing.assert_allclose(results["loss"], 2.0 * left + float(ce(y["right"], outputs["right"])), rtol=1e-5)


def test_zero_sample_weight_masks_a_task():
    """A task whose samples all have weight 0 does not train: its head stays put."""
    model = lenet("uniform", optimizer="sgd")
    x, y = data()
    head = model.block_layer("head_right")
    before = [np.array(w) for w in head.get_weights()]
    weights = {"left": np.ones(32, "float32"), "right": np.zeros(32, "float32")}
    history = model.fit(x, y, sample_weight=weights, batch_size=16, epochs=1, verbose=0)
    for a, b in zip(before, head.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert history.history["right_loss"][0] == 0.0


def test_pareto_stationarity_fraction_is_logged():
    model = lenet(balancers.get("mgda_ub", tolerance=10.0))  # every step counts as stationary
    x, y = data()
    assert model.fit(x, y, batch_size=16, epochs=1, verbose=0).history["pareto_stationary"] == [1.0]
    model = lenet(balancers.get("mgda_ub", tolerance=0.0))
    assert model.fit(x, y, batch_size=16, epochs=1, verbose=0).history["pareto_stationary"] == [0.0]


def test_hybrid_switches_to_mgda_ub_when_a_task_stops_improving():
    model = lenet(balancers.get("hybrid", epsilon=1e9))  # no drop is ever large enough
    x, y = data()
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0).history
    # epoch 1 has no previous epoch; the switch happens at the end of epoch 2
    assert history["hybrid_phase"] == [0.0, 1.0, 1.0]
    assert float(model.balancer.phase.numpy()) == 1.0
    model = lenet(balancers.get("hybrid", epsilon=-1e9))  # every drop is large enough: stays GradNorm
    assert model.fit(x, y, batch_size=16, epochs=3, verbose=0).history["hybrid_phase"] == [0.0, 0.0, 0.0]


def test_save_and_load_keep_weights_compile_config_and_balancer_state(tmp_path):
    model = lenet("gradnorm")
    x, y = data()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = mtlzoo.load_model(path)
    assert isinstance(loaded, MultiTaskModel) and loaded.recipe == model.recipe
    assert type(loaded.balancer) is type(model.balancer)
    np.testing.assert_allclose(loaded.balancer.task_weights.numpy(), model.balancer.task_weights.numpy())
    testing.assert_outputs_close(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    loaded.fit(x, y, batch_size=16, epochs=1, verbose=0)  # trains on


def test_backup_and_restore_resumes_with_balancer_state(tmp_path):
    x, y = data()

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("killed")

    backup = str(tmp_path / "backup")
    model = lenet("hybrid")
    with pytest.raises(RuntimeError, match="killed"):
        model.fit(x, y, batch_size=16, epochs=4, verbose=0,
                  callbacks=[keras.callbacks.BackupAndRestore(backup), Interrupt()])
    saved = {v.path: v.numpy() for v in model.balancer.weights}

    resumed = lenet("hybrid")
    seen = []
    resumed.fit(x, y, batch_size=16, epochs=2, verbose=0, initial_epoch=0,
                callbacks=[keras.callbacks.BackupAndRestore(backup),
                           keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(e))])
    assert seen == []  # both epochs were done before the kill: nothing left to run
    restored = {v.path: v.numpy() for v in resumed.balancer.weights}
    assert saved.keys() == restored.keys() and len(saved) >= 5
    for key, value in saved.items():
        np.testing.assert_allclose(restored[key], value, err_msg=key)


def test_standard_callbacks(tmp_path):
    model = lenet("mgda_ub")
    x, y = data()
    callbacks = [keras.callbacks.ModelCheckpoint(str(tmp_path / "ckpt.keras")),
                 keras.callbacks.TensorBoard(str(tmp_path / "tb")),
                 keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=1e9),
                 keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))]
    history = model.fit(x, y, batch_size=16, epochs=5, verbose=0, callbacks=callbacks)
    assert len(history.history["loss"]) == 2  # early stopping after patience 0
    assert (tmp_path / "ckpt.keras").exists() and any((tmp_path / "tb").rglob("*tfevents*"))
    assert "pareto_stationary" in (tmp_path / "log.csv").read_text().splitlines()[0]
    mtlzoo.load_model(tmp_path / "ckpt.keras")


def test_recompile_replaces_the_balancer_state():
    model = lenet("uncertainty")
    n_with = len(model.trainable_variables)
    model.compile(balancer="uniform")
    assert len(model.trainable_variables) == n_with - 1  # the log-variances left with their balancer
    x, y = data()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)


def test_uncertainty_log_variances_train():
    model = lenet("uncertainty")
    x, y = data()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    s = model.balancer.log_variances.numpy()
    assert (s > 0).all()  # CE ~ 2.3 > 1/2: the optimum exp(-s) = 1 / (2 L) is below 1


def test_compile_errors_name_the_problem():
    model = testing.tiny_tree_network(model_class=MultiTaskModel)
    with pytest.raises(ValueError, match="no loss given"):
        model.compile()
    with pytest.raises(ValueError, match="missing \\['c'\\]"):
        model.compile(loss={"a": "mse", "b": "mse"})
    with pytest.raises(ValueError, match="Unknown balancer 'mgdaa'.*mgda_ub"):
        model.compile(loss="mse", balancer="mgdaa")
    with pytest.raises(ValueError, match="Unknown loss"):
        model.compile(loss="not_a_loss")
    with pytest.raises(ValueError, match="normalization"):
        balancers.get("mgda", normalization="l3")
    with pytest.raises(RuntimeError, match="not compiled"):
        model.task_losses({}, {})


def test_labels_must_cover_every_task():
    model = lenet("uniform")
    x, y = data()
    with pytest.raises(ValueError, match="no labels for task"):
        model.fit(x, {"left": y["left"]}, epochs=1, verbose=0)


@pytest.mark.parametrize("name", balancers.names())
def test_balancer_config_round_trip(name):
    balancer = balancers.get(name)
    config = keras.saving.serialize_keras_object(balancer)
    again = balancers.get(config)
    assert type(again) is type(balancer) and again.get_config() == balancer.get_config()
    assert balancers.get(balancer) is balancer


@pytest.mark.parametrize("name", ["mgda_ub", "uncertainty"])
def test_mixed_precision_trains_with_loss_scaling(name):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = lenet(name)
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        x, y = data()
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0).history
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.isfinite(history["loss"]).all() and history["loss"][1] < history["loss"][0] + 0.5
    assert all(v.dtype == "float32" for v in model.balancer.weights)
