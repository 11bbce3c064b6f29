"""Network slimming (seed 000 eq. 5.6): the L1 penalty on batch-norm gamma enters the training loss."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtlzoo
from mtlzoo.testing import seed_everything, tiny_tree_network
from mtlzoo.training.batch_norm_slimming import BatchNormSlimming, add_slimming, remove_slimming


def _gammas(model):
    return {b: model.block_layer(b).get_layer("bn").get_weights()[0] for b in ("conv1", "conv2")}


def _tiny_data(model, n=8):
    rng = np.random.default_rng(0)
    x = rng.random((n, 28, 28, 1)).astype("float32")
    y = {t: rng.integers(0, 10, n) for t in model.tasks}
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(n)


def test_regularizer_value_and_config_round_trip():
    reg = BatchNormSlimming(l1=0.25)
    assert float(reg(keras.ops.convert_to_tensor([1.0, -2.0, 0.5]))) == pytest.approx(0.875)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(reg))
    assert isinstance(again, BatchNormSlimming) and again.l1 == 0.25
    with pytest.raises(ValueError, match="l1"):
        BatchNormSlimming(l1=-1.0)


def test_add_slimming_puts_lambda_times_l1_of_gamma_into_model_losses():
    model = mtlzoo.models.get("lenet_bn_tree", width=2)
    for block in ("conv1", "conv2"):
        bn = model.block_layer(block).get_layer("bn")
        bn.set_weights([np.linspace(-1.0, 2.0, bn.gamma.shape[0]).astype("float32"), *bn.get_weights()[1:]])
    assert model.losses == []
    assert add_slimming(model, l1=0.1) == ["conv1/bn", "conv2/bn"]
    expected = 0.1 * sum(np.abs(g).sum() for g in _gammas(model).values())
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-6)
    assert remove_slimming(model) == ["conv1/bn", "conv2/bn"]
    assert model.losses == []


def test_slimming_shrinks_gamma_by_exactly_the_l1_gradient_in_a_train_step():
    models = []
    for l1 in (0.0, 1.0):
        seed_everything(0)
        model = mtlzoo.models.get("lenet_bn_tree", width=2)
        if l1:
            add_slimming(model, l1=l1)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), balancer="uniform", metrics=[])
        models.append(model)
    for a, b in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_array_equal(a, b)
    for model in models:
        model.fit(_tiny_data(model), epochs=1, verbose=0)  # one step
    plain, slim = _gammas(models[0]), _gammas(models[1])
    for block in plain:
        # same task gradient in both; the penalty adds lr * l1 * sign(gamma) = 0.01 (gamma starts at 1)
        np.testing.assert_allclose(plain[block] - slim[block], 0.01, atol=1e-5)


def test_slimming_added_after_a_fit_reaches_the_next_fit():
    seed_everything(0)
    model = mtlzoo.models.get("lenet_bn_tree", width=2)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), balancer="uniform", metrics=[])
    data = _tiny_data(model)
    model.fit(data, epochs=1, verbose=0)
    before = _gammas(model)
    add_slimming(model, l1=1.0)
    model.optimizer.learning_rate.assign(0.01)
    model.fit(data, epochs=1, verbose=0)
    for block, gamma in _gammas(model).items():
        assert np.all(gamma < before[block] - 0.005), block  # the task gradient alone is far smaller here


def test_peel_and_layer_config_keep_the_penalty():
    model = mtlzoo.models.get("lenet_bn_tree", width=2)
    add_slimming(model, l1=0.5, blocks=["conv2"])
    peeled = mtlzoo.peel(model, "mnist")
    bn = peeled.block_layer("conv2").get_layer("bn")
    assert isinstance(bn.gamma_regularizer, BatchNormSlimming) and bn.gamma_regularizer.l1 == 0.5
    assert peeled.block_layer("conv1").get_layer("bn").gamma_regularizer is None
    assert float(sum(peeled.losses)) == pytest.approx(0.5 * np.abs(bn.get_weights()[0]).sum(), rel=1e-6)


def test_bad_blocks_are_clear_errors():
    model = mtlzoo.models.get("lenet_bn_tree", width=2)
    with pytest.raises(ValueError, match="'ghost'"):
        add_slimming(model, blocks=["ghost"])
    with pytest.raises(ValueError, match="'head_mnist'.*BatchNormalization"):
        add_slimming(model, blocks=["head_mnist"])
    with pytest.raises(ValueError, match="no BatchNormalization"):
        add_slimming(tiny_tree_network())
