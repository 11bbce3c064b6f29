"""Heads and generic layers: behaviour, CrossStitch mixing, config and .keras round trips."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtlzoo.heads import ClassificationHead, DenseHead, Head, MultiLabelHead
from mtlzoo.layers import AdaptiveAveragePooling, BilinearResize, ColumnSelect, CrossStitch
from mtlzoo.task_tree import TaskTree
from mtlzoo.testing import assert_outputs_close, to_numpy
from mtlzoo.tree_network import TreeNetwork

RNG = np.random.default_rng(7)
VEC = RNG.standard_normal((3, 5)).astype("float32")
IMG = RNG.standard_normal((2, 4, 4, 2)).astype("float32")
COLS = [RNG.standard_normal((2, 3)).astype("float32") for _ in range(3)]
STACKED = RNG.standard_normal((2, 3, 4)).astype("float32")

# (factory, sample input): every public layer and head
LAYERS = {
    "Head": (lambda: Head(3, hidden_units=(4, 2), activation="tanh", dropout=0.25, name="h"), VEC),
    "Head-image": (lambda: Head(2, name="h_img"), IMG),
    "ClassificationHead": (lambda: ClassificationHead(4, hidden_units=(3,), dropout=0.1, name="cls"), VEC),
    "MultiLabelHead": (lambda: MultiLabelHead(2, hidden_units=(3,), activation="sigmoid", name="ml"), VEC),
    "DenseHead": (lambda: DenseHead(3, hidden_channels=(2,), task_type="regression", output_size=(8, 6),
                                    activation="tanh", name="dh"), IMG),
    "DenseHead-noresize": (lambda: DenseHead(2, name="dh2"), IMG),
    "CrossStitch": (lambda: CrossStitch(alpha_self=0.7, name="cs"), COLS),
    "CrossStitch-per-channel": (lambda: CrossStitch(alpha_self=0.6, per_channel=True, name="cs_pc"), COLS),
    "ColumnSelect": (lambda: ColumnSelect(2, name="sel"), STACKED),
    "BilinearResize": (lambda: BilinearResize((6, 5), name="resize"), IMG),
    "AdaptiveAveragePooling": (lambda: AdaptiveAveragePooling(3, name="pool"), IMG),
}


def _randomize(layer):
    rng = np.random.default_rng(0)
    layer.set_weights([rng.standard_normal(w.shape).astype("float32") for w in layer.get_weights()])


@pytest.mark.parametrize("key", list(LAYERS))
def test_config_round_trip(key):
    factory, x = LAYERS[key]
    layer = factory()
    y = layer(x)
    _randomize(layer)
    y = to_numpy(layer(x))
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    # and through Keras' registry, by its registered name alone
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == f"mtlzoo>{type(layer).__name__}"
    again = keras.saving.deserialize_keras_object(serialized)
    assert type(again) is type(layer) and again.get_config() == config
    clone(x)
    clone.set_weights(layer.get_weights())
    assert_outputs_close(clone(x), y, atol=1e-6)


def test_every_public_layer_is_covered():
    import mtlzoo.heads
    import mtlzoo.layers

    public = set(mtlzoo.heads.__all__) | set(mtlzoo.layers.__all__)
    classes = {n for n in public if isinstance(getattr(mtlzoo.heads, n, getattr(mtlzoo.layers, n, None)), type)}
    covered = {key.split("-")[0] for key in LAYERS} | {"TaskBatchNormalization", "TaskChannelMask"}  # test_task_masks
    assert classes == covered


def test_heads_in_a_tree_network_survive_a_keras_file(tmp_path):
    heads = {"cls": ClassificationHead(3, hidden_units=(4,), dropout=0.1, name="cls"),
             "ml": MultiLabelHead(2, name="ml"), "mlp": Head(2, hidden_units=(2,), name="mlp"),
             "dense": DenseHead(3, hidden_channels=(2,), output_size=(8, 8), name="dense")}
    tree = TaskTree(["stem", *heads], {f"t_{h}": ["stem", h] for h in heads})
    blocks = {"stem": keras.layers.Conv2D(2, 1, name="stem"), **heads}
    net = TreeNetwork(tree, blocks, input_shape=(4, 4, 2))
    path = tmp_path / "heads.keras"
    net.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.tree == tree
    assert_outputs_close(loaded(IMG), net(IMG), atol=1e-6)
    assert tuple(net(IMG)["t_dense"].shape) == (2, 8, 8, 3)


# -------------------------------------------------------------------- heads
def test_head_output_equals_the_linear_map_by_hand():
    head = ClassificationHead(3, name="c")
    out = to_numpy(head(IMG))
    kernel, bias = (to_numpy(v) for v in (head.out.kernel, head.out.bias))
    np.testing.assert_allclose(out, IMG.reshape(2, -1) @ kernel + bias, atol=1e-5)
    assert head.task_type == "classification" and head.num_classes == 3


def test_head_shapes_and_argument_errors():
    assert tuple(MultiLabelHead()(VEC).shape) == (3, 1)
    assert tuple(Head(4, hidden_units=(2,))(VEC).shape) == (3, 4)
    assert tuple(DenseHead(2, output_size=(8, 8))(IMG).shape) == (2, 8, 8, 2)
    assert tuple(DenseHead(2)(IMG).shape) == (2, 4, 4, 2)
    with pytest.raises(ValueError, match="num_classes"):
        ClassificationHead(1)
    with pytest.raises(ValueError, match="units"):
        Head(0)
    with pytest.raises(ValueError, match="dropout"):
        Head(2, dropout=1.0)
    with pytest.raises(ValueError, match="task_type"):
        DenseHead(2, task_type="ranking")
    with pytest.raises(ValueError, match="channels"):
        DenseHead(0)


def test_head_hidden_layers_and_dropout_only_in_training():
    head = Head(2, hidden_units=(4,), activation="relu", dropout=0.5)
    eval_a, eval_b = to_numpy(head(VEC)), to_numpy(head(VEC, training=False))
    np.testing.assert_array_equal(eval_a, eval_b)
    hidden = np.maximum(VEC @ to_numpy(head.hidden[0].kernel) + to_numpy(head.hidden[0].bias), 0)
    np.testing.assert_allclose(eval_a, hidden @ to_numpy(head.out.kernel) + to_numpy(head.out.bias), atol=1e-5)
    train = to_numpy(head(np.repeat(VEC, 50, axis=0), training=True))
    assert not np.allclose(train, np.repeat(eval_a, 50, axis=0), atol=1e-6)


# ------------------------------------------------------------- ColumnSelect
def test_column_select_picks_one_column():
    np.testing.assert_array_equal(to_numpy(ColumnSelect(1)(STACKED)), STACKED[:, 1])
    assert tuple(ColumnSelect(0).compute_output_shape((None, 3, 4))) == (None, 4)
    with pytest.raises(ValueError, match="index"):
        ColumnSelect(-1)
    with pytest.raises(ValueError, match="ColumnSelect\\(3\\)"):
        ColumnSelect(3)(STACKED)


# -------------------------------------------------------------- CrossStitch
@pytest.mark.parametrize("t", [2, 3, 4])
@pytest.mark.parametrize("alpha_self", [0.9, 0.5, 1.0])
def test_cross_stitch_initial_matrix(t, alpha_self):
    unit = CrossStitch(alpha_self=alpha_self)
    unit([np.zeros((1, 2), "float32")] * t)
    alpha = to_numpy(unit.alpha)
    assert alpha.shape == (t, t)
    np.testing.assert_allclose(alpha.sum(axis=1), np.ones(t), atol=1e-6)
    np.testing.assert_allclose(np.diag(alpha), np.full(t, alpha_self), atol=1e-6)
    off = alpha[~np.eye(t, dtype=bool)]
    np.testing.assert_allclose(off, np.full(t * (t - 1), (1 - alpha_self) / (t - 1)), atol=1e-6)


def test_cross_stitch_per_channel_initial_matrices():
    unit = CrossStitch(alpha_self=0.6, per_channel=True)
    unit(COLS)
    alpha = to_numpy(unit.alpha)
    assert alpha.shape == (3, 3, 3)  # (channels, T, T)
    for c in range(3):
        np.testing.assert_allclose(alpha[c].sum(axis=1), np.ones(3), atol=1e-6)
        np.testing.assert_allclose(np.diag(alpha[c]), np.full(3, 0.6), atol=1e-6)


def test_cross_stitch_mixes_by_hand():
    x0 = np.array([[1.0, 2.0], [3.0, 4.0]], "float32")
    x1 = np.array([[10.0, 20.0], [30.0, 40.0]], "float32")
    unit = CrossStitch(alpha_self=0.9)
    y0, y1 = (to_numpy(y) for y in unit([x0, x1]))
    np.testing.assert_allclose(y0, 0.9 * x0 + 0.1 * x1, atol=1e-5)
    np.testing.assert_allclose(y1, 0.1 * x0 + 0.9 * x1, atol=1e-5)
    # a non-symmetric matrix catches a transposed mix: y_i = sum_j alpha_ij x_j
    unit.alpha.assign(np.array([[0.5, 2.0], [-1.0, 0.25]], "float32"))
    y0, y1 = (to_numpy(y) for y in unit([x0, x1]))
    np.testing.assert_allclose(y0, 0.5 * x0 + 2.0 * x1, atol=1e-5)
    np.testing.assert_allclose(y1, -1.0 * x0 + 0.25 * x1, atol=1e-5)


def test_cross_stitch_per_channel_mixes_by_hand():
    unit = CrossStitch(per_channel=True)
    unit(COLS)
    alpha = np.random.default_rng(1).standard_normal((3, 3, 3)).astype("float32")  # (channel, i, j)
    unit.alpha.assign(alpha)
    out = [to_numpy(y) for y in unit(COLS)]
    for i in range(3):
        expected = np.stack([sum(alpha[c, i, j] * COLS[j][:, c] for j in range(3)) for c in range(3)], axis=-1)
        np.testing.assert_allclose(out[i], expected, atol=1e-5)


def test_cross_stitch_on_feature_maps():
    rng = np.random.default_rng(2)
    maps = [rng.standard_normal((2, 3, 3, 2)).astype("float32") for _ in range(2)]
    unit = CrossStitch(alpha_self=0.75, per_channel=True)
    y0, y1 = (to_numpy(y) for y in unit(maps))
    np.testing.assert_allclose(y0, 0.75 * maps[0] + 0.25 * maps[1], atol=1e-5)
    np.testing.assert_allclose(y1, 0.25 * maps[0] + 0.75 * maps[1], atol=1e-5)


@pytest.mark.parametrize("per_channel", [False, True])
def test_gradients_flow_to_alpha(per_channel):
    unit = CrossStitch(alpha_self=0.8, per_channel=per_channel)
    unit(COLS)
    weights = np.random.default_rng(3).standard_normal((2, 3)).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(unit(COLS)[0] * weights)
    grad = tape.gradient(loss, unit.alpha)
    assert grad is not None
    grad = to_numpy(grad)
    # d loss / d alpha_0j = sum(x_j * w) (per channel: summed over the batch only); rows 1, 2 get nothing
    if per_channel:
        expected = np.zeros((3, 3, 3), "float32")
        for c in range(3):
            expected[c, 0] = [np.sum(COLS[j][:, c] * weights[:, c]) for j in range(3)]
    else:
        expected = np.zeros((3, 3), "float32")
        expected[0] = [np.sum(COLS[j] * weights) for j in range(3)]
    np.testing.assert_allclose(grad, expected, atol=1e-4)
    assert unit.alpha in unit.trainable_variables


def test_cross_stitch_argument_errors():
    with pytest.raises(ValueError, match="alpha_self"):
        CrossStitch(alpha_self=1.5)
    with pytest.raises(ValueError, match="at least 2"):
        CrossStitch()([COLS[0]])
    with pytest.raises(ValueError, match="same shape"):
        CrossStitch()([COLS[0], np.zeros((2, 4), "float32")])
    with pytest.raises(ValueError, match="list"):
        CrossStitch()(COLS[0])


def test_dense_head_resize_does_not_switch_later_batch_norm_to_training():
    # Keras 3.15's Resizing layer defaults `training=True` and leaks it into the call context shared by
    # the whole outer call (keras-team/keras#23166): a BatchNormalization running after a resizing
    # DenseHead normalized with batch statistics and updated its moving averages during inference.
    block = keras.Sequential([DenseHead(3, output_size=(8, 8), name="dh"), keras.layers.BatchNormalization(name="bn")],
                             name="up")
    net = TreeNetwork(TaskTree(["up"], {"seg": ["up"]}), {"up": block}, input_shape=(4, 4, 2))
    bn = block.get_layer("bn")
    before = [to_numpy(bn.moving_mean), to_numpy(bn.moving_variance)]
    inference = to_numpy(net(IMG, training=False))
    assert_outputs_close(net(IMG), inference, atol=1e-6)
    assert_outputs_close(net.forward(IMG)[0], inference, atol=1e-6)
    np.testing.assert_array_equal(to_numpy(bn.moving_mean), before[0])
    np.testing.assert_array_equal(to_numpy(bn.moving_variance), before[1])
    training = to_numpy(net(IMG, training=True))
    assert not np.allclose(training["seg"], inference["seg"], atol=1e-3)  # the modes do differ here
