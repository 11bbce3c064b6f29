"""``multimnist_lenet(dropout=0.5)`` and the ``multimnist`` recipe: the MGDA-UB authors' public setup.

References written here: the authors' layer order and their learning-rate loop (``train_multi_task.py``:
``if (epoch + 1) % 10 == 0: lr *= 0.85`` for 100 epochs), re-implemented in plain Python; NumPy for
what dropout must do to a layer's output.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import mtlzoo
from mtlzoo import testing
from mtlzoo.training import Recipe

TRUNK = [("conv1", "Conv2D"), ("pool1", "MaxPooling2D"), ("relu1", "ReLU"), ("conv2", "Conv2D"),
         ("conv2_dropout", "SpatialDropout2D"), ("pool2", "MaxPooling2D"), ("relu2", "ReLU"),
         ("flatten", "Flatten"), ("fc", "Dense")]


def _layers(model):
    return [(layer.name, type(layer).__name__) for layer in model.block_layer("trunk").layers]


def test_parity_layer_list_dropout_placement_and_parameter_count():
    model = mtlzoo.models.get("multimnist_lenet", dropout=0.5)
    assert _layers(model) == TRUNK
    assert model.block_layer("trunk").get_layer("conv2_dropout").rate == 0.5
    for task in ("left", "right"):
        head = model.block_layer(f"head_{task}")
        assert head.hidden_units == (50,) and head.dropout == 0.5
        assert [type(d).__name__ for d in head.drops] == ["Dropout"] and head.drops[0].rate == 0.5
    assert model.count_params() == 27450
    plain = mtlzoo.models.get("multimnist_lenet")  # dropout=0: the earlier network, no dropout layer at all
    assert _layers(plain) == [layer for layer in TRUNK if layer[0] != "conv2_dropout"]
    assert all(plain.block_layer(f"head_{t}").drops == [] for t in plain.tasks)
    assert plain.count_params() == 27450
    with pytest.raises(ValueError, match="dropout must be in"):
        mtlzoo.models.get("multimnist_lenet", dropout=1.0)


def test_trunk_dropout_drops_whole_channels_per_example_and_scales_the_rest():
    testing.seed_everything(0)
    trunk = mtlzoo.models.get("multimnist_lenet", width=4, dropout=0.5).block_layer("trunk")
    x = np.random.default_rng(0).random((64, 28, 28, 1), dtype="float32")
    y = x
    for layer in trunk.layers[:4]:  # conv1, pool1, relu1, conv2
        y = layer(y)
    y = np.asarray(y)
    z = np.asarray(trunk.get_layer("conv2_dropout")(y, training=True))
    kept = np.abs(z).sum(axis=(1, 2)) > 0  # (examples, channels)
    expected = np.where(kept[:, None, None, :], 2.0 * y, 0.0)  # inverted dropout: kept channels x 1 / (1 - p)
    np.testing.assert_allclose(z, expected, rtol=1e-5, atol=1e-6)
    # p = 0.5 over 64 x 8 channel draws: the kept fraction lies within 5 standard deviations of 1/2
    assert abs(kept.mean() - 0.5) < 5 * np.sqrt(0.25 / kept.size)
    assert len({tuple(row) for row in kept}) > 1  # one mask per example, not one per batch (documented)
    np.testing.assert_array_equal(np.asarray(trunk.get_layer("conv2_dropout")(y, training=False)), y)


def test_head_dropout_sits_between_the_first_fc_layer_and_the_logits_with_one_mask_per_head():
    testing.seed_everything(1)
    model = mtlzoo.models.get("multimnist_lenet", width=2, dropout=0.5)
    left, right = model.block_layer("head_left"), model.block_layer("head_right")
    hidden = left.hidden[0]
    # logits = the first 10 hidden units, so each logit shows its unit after dropout
    kernel, bias = left.out.get_weights()
    selector = np.zeros_like(kernel)
    selector[:10, :10] = np.eye(10)
    left.out.set_weights([selector, np.zeros_like(bias)])
    right.set_weights(left.get_weights())  # identical heads: only their masks can differ
    h = np.random.default_rng(1).random((32, 10), dtype="float32")
    w1, b1 = hidden.get_weights()
    a = np.maximum(h @ w1 + b1, 0.0)[:, :10]  # NumPy: the first FC layer and its ReLU
    np.testing.assert_allclose(np.asarray(left(h, training=False)), a, rtol=1e-5, atol=1e-6)
    out_left, out_right = np.asarray(left(h, training=True)), np.asarray(right(h, training=True))
    for out in (out_left, out_right):
        kept = ~np.isclose(out, 0.0, atol=1e-7)
        np.testing.assert_allclose(out, np.where(kept, 2.0 * a, 0.0), rtol=1e-5, atol=1e-6)
    active = a > 1e-3
    assert not np.array_equal(out_left[active] > 0, out_right[active] > 0)  # each head draws its own mask


def test_weights_trained_with_dropout_give_the_same_test_outputs_without_it():
    testing.seed_everything(2)
    with_dropout = mtlzoo.models.get("multimnist_lenet", width=2, dropout=0.5)
    without = mtlzoo.models.get("multimnist_lenet", width=2)
    without.set_weights(with_dropout.get_weights())
    x = np.random.default_rng(2).random((8, 28, 28, 1), dtype="float32")
    testing.assert_outputs_close(without(x, training=False), with_dropout(x, training=False), atol=1e-6)
    trained = with_dropout(x, training=True)
    assert not np.allclose(np.asarray(trained["left"]), np.asarray(with_dropout(x, training=False)["left"]))


def _authors_learning_rates(epochs=100, lr=0.01):
    """The authors' loop: at the start of 0-based epoch e, if (e + 1) % 10 == 0, lr *= 0.85."""
    rates = []
    for epoch in range(epochs):
        if (epoch + 1) % 10 == 0:
            lr *= 0.85
        rates.append(lr)
    return rates


def test_multimnist_recipe_is_the_authors_schedule():
    recipe = Recipe.load("multimnist")
    assert (recipe.model, recipe.data, recipe.balancer) == ("multimnist_lenet", "multimnist", "mgda_ub")
    assert recipe.model_config == {"dropout": 0.5}
    assert (recipe.epochs, recipe.batch_size) == (100, 256)
    assert recipe.optimizer == {"class_name": "SGD", "config": {"learning_rate": 0.01, "momentum": 0.9}}
    assert recipe.schedule == {"every": 10, "factor": 0.85}
    steps = 235  # ceil(60000 / 256)
    optimizer = recipe.optimizer_for({}, steps_per_epoch=steps)
    assert isinstance(optimizer, keras.optimizers.SGD) and float(optimizer.momentum) == pytest.approx(0.9)
    schedule = optimizer.learning_rate if callable(optimizer.learning_rate) else optimizer._learning_rate
    ours = [float(schedule(e * steps)) for e in range(100)]
    last = [float(schedule(e * steps + steps - 1)) for e in range(100)]
    np.testing.assert_allclose(ours, last, rtol=1e-6)  # constant within an epoch
    theirs = _authors_learning_rates()
    np.testing.assert_allclose(ours[1:], theirs[:-1], rtol=1e-5)  # the same decays, one epoch later (recipe header)
    assert ours[0] == pytest.approx(0.01) and ours[-1] == pytest.approx(0.01 * 0.85 ** 9, rel=1e-5)
    assert theirs[-1] == pytest.approx(0.01 * 0.85 ** 10)


def test_dropout_model_trains_with_the_recipe_balancer():
    testing.seed_everything(3)
    model = mtlzoo.models.get("multimnist_lenet", width=2, dropout=0.5)
    model.compile()
    rng = np.random.default_rng(3)
    x = rng.random((16, 28, 28, 1), dtype="float32")
    y = {t: rng.integers(0, 10, 16) for t in model.tasks}
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0).history
    assert np.isfinite(history["loss"]).all() and model.balancer.name == "mgda_ub"
