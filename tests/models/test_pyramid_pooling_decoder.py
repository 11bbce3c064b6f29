"""Adaptive average pooling and the PSP pyramid pooling decoder."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtlzoo.heads import DenseHead
from mtlzoo.layers.adaptive_average_pooling import AdaptiveAveragePooling
from mtlzoo.models.backbones.pyramid_pooling import pyramid_pooling_decoder


def reference_pool(x, bins):
    """PyTorch's adaptive_avg_pool2d windows: [floor(i*n/b), ceil((i+1)*n/b))."""
    n, h, w, c = x.shape
    out = np.zeros((n, bins, bins, c), dtype="float64")
    for i in range(bins):
        h0, h1 = (i * h) // bins, -(-((i + 1) * h) // bins)
        for j in range(bins):
            w0, w1 = (j * w) // bins, -(-((j + 1) * w) // bins)
            out[:, i, j] = x[:, h0:h1, w0:w1].mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("size", [(16, 32), (5, 7), (2, 3), (6, 6)])
@pytest.mark.parametrize("bins", [1, 2, 3, 6])
def test_adaptive_pooling_matches_reference(size, bins):
    x = np.random.default_rng(0).normal(size=(2, *size, 3)).astype("float32")
    got = keras.ops.convert_to_numpy(AdaptiveAveragePooling(bins)(x))
    np.testing.assert_allclose(got, reference_pool(x, bins), atol=1e-5)


def test_adaptive_pooling_is_differentiable_and_serializable():
    layer = AdaptiveAveragePooling((3, 6), name="pool")
    x = tf.random.normal((1, 16, 32, 2))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
    grad = tape.gradient(y, x)
    assert grad is not None and float(tf.reduce_sum(grad)) == pytest.approx(3 * 6 * 2, rel=1e-5)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(clone, AdaptiveAveragePooling) and clone.output_size == (3, 6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(x)), keras.ops.convert_to_numpy(y))


def test_adaptive_pooling_needs_static_size():
    with pytest.raises(ValueError, match="static"):
        AdaptiveAveragePooling(2)(keras.Input((None, 8, 3)))
    with pytest.raises(ValueError, match="output_size"):
        AdaptiveAveragePooling(0)


def test_decoder_shapes_names_and_no_lambda():
    # 6x10 features: 10 is divisible by neither 3 nor 6.
    head = DenseHead(5, output_size=(48, 80), name="dense_head")
    decoder = pyramid_pooling_decoder((6, 10, 16), head=head, name="head_semantic")
    assert decoder.name == "head_semantic"
    assert tuple(decoder.output.shape) == (None, 48, 80, 5)
    names = [layer.name for layer in decoder.layers]
    for b in (1, 2, 3, 6):
        assert f"ppm_pool{b}" in names and f"ppm_branch{b}_conv" in names and f"ppm_upsample{b}" in names
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in decoder._flatten_layers())
    concat = decoder.get_layer("ppm_concat")
    assert concat.output.shape[-1] == 16 + 4 * (16 // 4)
    out = decoder(np.ones((2, 6, 10, 16), "float32"))
    assert tuple(out.shape) == (2, 48, 80, 5)


def test_decoder_param_count_from_layer_shapes():
    c, branch, fused = 16, 4, 4
    decoder = pyramid_pooling_decoder((6, 10, c))
    expected = 4 * (c * branch + 4 * branch) + (9 * (c + 4 * branch) * fused + 4 * fused)
    assert decoder.count_params() == expected


def test_decoder_rejects_bad_bins():
    with pytest.raises(ValueError, match="bins"):
        pyramid_pooling_decoder((6, 10, 16), bins=(1, 1))


def test_decoder_default_call_is_inference():
    """No keras.layers.Resizing: its training=True default leaked into the BN after it (keras#23166)."""
    decoder = pyramid_pooling_decoder((6, 10, 16), channels=4, dropout=0.0)
    assert not any(isinstance(layer, keras.layers.Resizing) for layer in decoder._flatten_layers())
    x = np.random.default_rng(1).uniform(size=(4, 6, 10, 16)).astype("float32")
    batch = keras.ops.convert_to_numpy(decoder(x))
    single = keras.ops.convert_to_numpy(decoder(x[:1]))
    np.testing.assert_allclose(batch[:1], single, atol=1e-5)
    assert not np.any(keras.ops.convert_to_numpy(decoder.get_layer("ppm_fuse_bn").moving_mean))
