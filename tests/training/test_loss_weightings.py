"""The loss weightings of issue 16 (DWA, RLW, GLS, FAMO, STCH) against hand computations in NumPy and tapes."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mtlzoo import testing
from mtlzoo.training import MultiTaskModel, StepContext, VariableGroups, balancers
from mtlzoo.training.balancers.gls import gls_weights
from mtlzoo.training.balancers.stch import stch_value, stch_weights

METHODS = ("dwa", "rlw", "gls", "famo", "db_mtl", "stch")


def tree_model(balancer, seed=0, optimizer="sgd"):
    testing.seed_everything(seed)
    model = testing.tiny_tree_network(model_class=MultiTaskModel)
    model.compile(optimizer=optimizer, loss="mse", balancer=balancer)
    return model


def batch(model, seed=0, n=16):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    outputs, _ = model.forward(x)
    y = {t: rng.normal(size=tuple(outputs[t].shape)).astype("float32") for t in model.tasks}
    return x, y


def step_for(model, x, y, sample_weight=None):
    groups = VariableGroups.of(model)
    latent = [b for b, _, _ in groups.shared] if model.balancer.latent else []
    with tf.GradientTape(persistent=True) as tape:
        outputs, latents = model.forward(x, training=True, latents=latent)
        losses = model.task_losses(y, outputs, sample_weight)
    return StepContext(model, tape, losses, losses, latents, model.trainable_variables, groups)


def tape_gradient(model, x, y, objective, sample_weight=None):
    """d objective(losses) / d variables with a fresh tape (the independent reference)."""
    with tf.GradientTape() as tape:
        outputs, _ = model.forward(x, training=True)
        losses = model.task_losses(y, outputs, sample_weight)
        total = objective(losses)
    grads = tape.gradient(total, model.trainable_variables)
    return [np.zeros(v.shape, "float32") if g is None else np.asarray(g)
            for g, v in zip(grads, model.trainable_variables)]


def assert_gradients_close(got, expected, rtol=1e-5, atol=1e-6):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(np.asarray(g), e, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ DWA
def numpy_dwa(history, temperature=2.0, t=3):
    """Liu et al. 2019 eq. 7 for the epoch after ``history`` (a list of per-epoch mean loss vectors)."""
    if len(history) < 2:
        return np.ones(t)
    r = np.asarray(history[-1], float) / np.asarray(history[-2], float)
    e = np.exp(r / temperature)
    return t * e / e.sum()


def test_dwa_weights_from_given_loss_histories():
    from mtlzoo.training.balancers.dwa import dwa_weights

    history = [[2.0, 1.0, 0.5], [1.0, 0.9, 0.5], [0.4, 0.85, 0.6]]
    for k in range(2, len(history) + 1):
        np.testing.assert_allclose(dwa_weights(history[k - 1], history[k - 2]), numpy_dwa(history[:k]), rtol=1e-12)
    np.testing.assert_allclose(dwa_weights(history[2], history[1], 50.0).sum(), 3.0)
    # the task whose loss fell least (ratio 1.2) gets the largest weight
    assert np.argmax(dwa_weights(history[2], history[1])) == 2
    # a task never seen (loss 0) counts as ratio 1, not 0/0
    assert np.isfinite(dwa_weights([1.0, 0.0], [2.0, 0.0])).all()


def test_dwa_in_training_uses_the_last_two_epochs_mean_losses():
    model = tree_model("dwa")
    x, y = batch(model, n=64)
    history = model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0).history
    means = np.array([[history[f"{t}_loss"][e] for t in model.tasks] for e in range(4)])  # equal batches
    for epoch in range(4):
        weights = [history[f"weight_{t}"][epoch] for t in model.tasks]
        np.testing.assert_allclose(weights, numpy_dwa(list(means[:epoch])), rtol=1e-5)
    np.testing.assert_allclose(model.balancer.task_weights.numpy(), numpy_dwa(list(means)), rtol=1e-5)


# ------------------------------------------------------------------ RLW
def test_rlw_gradient_is_that_of_the_drawn_weighted_sum_and_draws_reproduce():
    model = tree_model("rlw")
    x, y = batch(model)
    step = step_for(model, x, y)
    grads, logs = model.balancer.gradients(step)
    w = np.array([float(logs[f"weight_{t}"]) for t in model.tasks])
    assert abs(w.sum() - 1) < 1e-6 and (w > 0).all()
    expected = tape_gradient(model, x, y, lambda ls: sum(wk * ls[t] for wk, t in zip(w, model.tasks)))
    assert_gradients_close(grads, expected)
    # same seed and step counter -> same draw on a fresh balancer; the counter moved on
    again = tree_model("rlw").balancer
    np.testing.assert_allclose(again.draw(0).numpy(), w, rtol=1e-6)
    assert float(model.balancer.steps.numpy()) == 1.0
    assert not np.allclose(again.draw(1).numpy(), w)
    other = tree_model(balancers.get("rlw", seed=5)).balancer
    assert not np.allclose(other.draw(0).numpy(), w)


@pytest.mark.parametrize("distribution", ["normal", "dirichlet"])
def test_rlw_draws_follow_their_distribution(distribution):
    """Softmax of N(0, I): log(w_i / w_j) ~ N(0, 2); Dirichlet(alpha): mean 1/T, var alpha(T-1)alpha/(a0^2 (a0+1))."""
    balancer = tree_model(balancers.get("rlw", distribution=distribution, concentration=2.0)).balancer
    draw = tf.function(balancer.draw)  # one trace, 3000 cheap calls
    draws = np.stack([draw(tf.constant(k, tf.float32)).numpy() for k in range(3000)])
    np.testing.assert_allclose(draws.sum(axis=1), 1.0, atol=1e-5)
    if distribution == "normal":
        ratio = np.log(draws[:, 0] / draws[:, 1])
        assert abs(ratio.mean()) < 0.1 and abs(ratio.var() - 2.0) < 0.2
    else:
        alpha, t = 2.0, 3
        a0 = alpha * t
        np.testing.assert_allclose(draws.mean(axis=0), 1 / t, atol=0.01)
        np.testing.assert_allclose(draws.var(axis=0), alpha * (a0 - alpha) / (a0 ** 2 * (a0 + 1)), rtol=0.1)


# ------------------------------------------------------------------ GLS
def test_gls_gradient_equals_that_of_the_geometric_mean():
    model = tree_model("gls")
    x, y = batch(model)
    grads, logs = model.balancer.gradients(step_for(model, x, y))
    expected = tape_gradient(model, x, y, lambda ls: tf.pow(ls["a"] * ls["b"] * ls["c"], 1.0 / 3.0))
    assert_gradients_close(grads, expected)
    losses = {t: float(v) for t, v in model.task_losses(y, model.forward(x)[0]).items()}
    geo = np.prod(list(losses.values())) ** (1 / 3)
    for t in model.tasks:  # w_t = G / (T L_t)
        np.testing.assert_allclose(float(logs[f"weight_{t}"]), geo / (3 * losses[t]), rtol=1e-5)


def test_gls_leaves_an_unlabelled_task_out_of_the_product():
    model = tree_model("gls")
    x, y = batch(model)
    weights = {"a": np.ones(16, "float32"), "b": np.ones(16, "float32"), "c": np.zeros(16, "float32")}
    grads, logs = model.balancer.gradients(step_for(model, x, y, weights))
    expected = tape_gradient(model, x, y, lambda ls: tf.sqrt(ls["a"] * ls["b"]), weights)
    assert_gradients_close(grads, expected)
    assert float(logs["weight_c"]) == 0.0
    np.testing.assert_array_equal(gls_weights(tf.zeros(3)).numpy(), np.zeros(3))


# ------------------------------------------------------------------ STCH
def test_stch_tends_to_the_max_as_mu_shrinks_and_to_the_mean_as_it_grows():
    losses, z, lam = np.array([0.7, 2.0, 1.2]), np.array([0.1, 0.5, 0.2]), np.ones(3)
    gaps = losses - z
    assert abs(float(stch_value(losses, z, lam, 1e-3)) - gaps.max()) < 1e-2
    np.testing.assert_allclose(stch_weights(losses, z, lam, 1e-3).numpy(), [0.0, 3.0, 0.0], atol=1e-6)
    big = 1e4
    np.testing.assert_allclose(float(stch_value(losses, z, lam, big)) - big * np.log(3), gaps.mean(), atol=2e-3)
    np.testing.assert_allclose(stch_weights(losses, z, lam, big).numpy(), np.ones(3), atol=1e-3)
    # any mu: the closed form mu log sum exp and its softmax gradient (float64 NumPy)
    mu, pref = 0.3, np.array([0.5, 1.0, 1.5])
    a = pref * gaps / mu
    np.testing.assert_allclose(float(stch_value(losses, z, pref, mu)), mu * np.log(np.exp(a).sum()), rtol=1e-5)
    np.testing.assert_allclose(stch_weights(losses, z, pref, mu).numpy(), 3 * pref * np.exp(a) / np.exp(a).sum(),
                               rtol=1e-5)


def test_stch_gradient_equals_that_of_the_scaled_smooth_max():
    z = [0.05, 0.1, 0.2]
    model = tree_model(balancers.get("stch", mu=0.5, reference=z, warmup_epochs=0, preference=[1.0, 2.0, 3.0]))
    x, y = batch(model)
    grads, _ = model.balancer.gradients(step_for(model, x, y))
    lam = np.array([1.0, 2.0, 3.0]) / 2.0  # normalized to mean 1

    def objective(ls):
        terms = tf.stack([lam[k] * (ls[t] - z[k]) / 0.5 for k, t in enumerate(model.tasks)])
        return 3 * 0.5 * tf.reduce_logsumexp(terms)

    assert_gradients_close(grads, tape_gradient(model, x, y, objective))


def test_stch_warms_up_then_uses_the_running_minimum_of_epoch_losses():
    model = tree_model("stch")  # warmup_epochs=1, reference estimated
    x, y = batch(model, n=64)
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    means = np.array([[history[f"{t}_loss"][e] for t in model.tasks] for e in range(3)])
    assert [history[f"weight_{t}"][0] for t in model.tasks] == [1.0, 1.0, 1.0]  # linear warm-up epoch
    np.testing.assert_allclose(model.balancer.reference_point.numpy(), means.min(axis=0), rtol=1e-5)
    assert float(model.balancer.has_reference.numpy()) == 1.0
    assert any(abs(history[f"weight_{t}"][2] - 1.0) > 1e-4 for t in model.tasks)  # the Tchebycheff phase


# ---------------------------------------------------------- every method
@pytest.mark.parametrize("name", METHODS)
def test_an_unlabelled_task_gets_no_nan(name):
    """Partial labels: task c has no labels in the first batch of every epoch."""
    model = tree_model(name)
    x, y = batch(model, n=32)
    weights = {t: np.ones(32, "float32") for t in model.tasks}
    weights["c"][:16] = 0.0
    epochs = 3 if name == "dwa" else 2  # DWA's weights move from epoch 3 on
    history = model.fit(x, y, sample_weight=weights, batch_size=16, epochs=epochs, shuffle=False, verbose=0).history
    for key, values in history.items():
        assert np.isfinite(values).all(), (key, values)
    for v in model.balancer.weights:
        assert np.isfinite(v.numpy()).all(), v.path
    step = step_for(model, x[:16], {t: v[:16] for t, v in y.items()}, {t: w[:16] for t, w in weights.items()})
    grads, logs = model.balancer.gradients(step)
    assert all(np.isfinite(np.asarray(g)).all() for g in grads)
    assert all(np.isfinite(float(v)) for v in logs.values())
    if name in ("gls", "famo", "db_mtl", "stch"):
        assert float(logs["weight_c"]) == 0.0


@pytest.mark.parametrize("name", METHODS)
def test_config_round_trip_and_logs(name):
    model = tree_model(name)
    config = model.balancer.get_config()
    again = balancers.get({"class_name": name, "config": config})
    assert type(again) is type(model.balancer) and again.get_config() == config
    assert set(model.balancer.log_names()) == {f"weight_{t}" for t in model.tasks}


@pytest.mark.parametrize("name, kwargs, message", [
    ("dwa", {"temperature": 0}, "temperature must be"),
    ("rlw", {"distribution": "uniform"}, "distribution must be one of normal, dirichlet"),
    ("famo", {"learning_rate": -1.0}, "learning_rate must be"),
    ("famo", {"optimizer": "rmsprop"}, "optimizer must be one of adam, sgd"),
    ("db_mtl", {"beta": 1.0}, "beta out of range"),
    ("stch", {"mu": 0.0}, "mu must be"),
])
def test_bad_hyperparameters_are_one_line_errors(name, kwargs, message):
    with pytest.raises(ValueError, match=message) as err:
        balancers.get(name, **kwargs)
    assert "\n" not in str(err.value)


def test_per_task_options_are_checked_against_the_tasks():
    with pytest.raises(ValueError, match=r"2 preference values for 3 tasks"):
        tree_model(balancers.get("stch", preference=[1.0, 2.0]))
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['z'\]"):
        tree_model(balancers.get("stch", reference={"z": 1.0}))
    with pytest.raises(ValueError, match="2 min_losses for 3 tasks"):
        tree_model(balancers.get("famo", min_losses=[0.0, 0.0]))
