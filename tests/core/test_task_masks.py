"""TaskChannelMask (forward/backward channel masks) and TaskBatchNormalization (per-task statistics)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtlzoo.layers import TaskBatchNormalization, TaskChannelMask

M_F = [[1, 1, 0, 1], [0, 1, 1, 1]]
M_B = [[1, 0, 0, 1], [0, 1, 1, 0]]


def test_forward_zeroes_channels_outside_forward_mask():
    layer = TaskChannelMask(M_F, M_B)
    x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype("float32")
    for t in range(2):
        out = keras.ops.convert_to_numpy(layer(x, task_index=t))
        np.testing.assert_array_equal(out, x * np.asarray(M_F[t], "float32"))


def test_gradient_is_exactly_zero_outside_backward_mask():
    layer = TaskChannelMask(M_F, M_B)
    dense = keras.layers.Dense(4)
    x = tf.constant(np.random.default_rng(1).normal(size=(6, 3)).astype("float32"))
    for t in range(2):
        with tf.GradientTape(persistent=True) as tape:
            features = dense(x)
            tape.watch(features)
            loss = tf.reduce_sum(layer(features, task_index=t) ** 2)
        g_features = tape.gradient(loss, features).numpy()
        g_kernel, g_bias = (g.numpy() for g in tape.gradient(loss, dense.trainable_variables))
        off = np.asarray(M_B[t]) == 0
        assert np.all(g_features[:, off] == 0.0) and np.all(g_kernel[:, off] == 0.0) and np.all(g_bias[off] == 0.0)
        assert np.all(g_features[:, ~off] != 0.0) and np.all(g_bias[~off] != 0.0)


def test_backward_mask_must_be_subset_and_masks_binary():
    with pytest.raises(ValueError, match="subset of forward_mask.*task 0 trains channel 2"):
        TaskChannelMask(M_F, [[1, 0, 1, 0], [0, 0, 0, 0]])
    with pytest.raises(ValueError, match="only 0 and 1"):
        TaskChannelMask([[0.5, 1.0]])
    with pytest.raises(ValueError, match="4 channels but the input's last axis has 3"):
        TaskChannelMask(M_F)(np.ones((2, 3), "float32"), task_index=0)
    with pytest.raises(ValueError, match="task_index 2 is out of range"):
        TaskChannelMask(M_F)(np.ones((2, 4), "float32"), task_index=2)


def test_mask_config_round_trip_and_set_masks():
    layer = TaskChannelMask(M_F, M_B, name="m")
    x = np.ones((1, 4), "float32")
    layer(x, task_index=0)
    layer.set_masks([[1, 0, 0, 0], [1, 1, 1, 1]])  # m_b defaults to m_f
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(clone) is TaskChannelMask and clone.get_config() == layer.get_config()
    assert clone.get_config()["backward_mask"] == [[1, 0, 0, 0], [1, 1, 1, 1]]
    for t in range(2):
        np.testing.assert_array_equal(clone(x, task_index=t), layer(x, task_index=t))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.m_f), [[1, 0, 0, 0], [1, 1, 1, 1]])
    with pytest.raises(ValueError, match="new masks have shape"):
        layer.set_masks([[1, 0], [0, 1]])


def test_task_batch_norm_keeps_separate_statistics():
    bn = TaskBatchNormalization(2, momentum=0.5)
    x = (np.random.default_rng(2).normal(size=(64, 3)) + 5.0).astype("float32")
    bn(x, task_index=0, training=True)
    mean0 = keras.ops.convert_to_numpy(bn.norms[0].moving_mean)
    mean1 = keras.ops.convert_to_numpy(bn.norms[1].moving_mean)
    assert np.all(mean0 > 2.0) and np.all(mean1 == 0.0)
    out0 = keras.ops.convert_to_numpy(bn(x, task_index=0, training=False))
    out1 = keras.ops.convert_to_numpy(bn(x, task_index=1, training=False))
    assert abs(out0.mean()) < abs(out1.mean())  # task 0 normalizes with its own statistics, task 1 does not
    assert len({id(v) for n in bn.norms for v in n.weights}) == 8  # gamma, beta, mean, variance per task
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(bn))
    assert clone.get_config() == bn.get_config()
    assert clone.tasks == 2 and clone.momentum == 0.5
