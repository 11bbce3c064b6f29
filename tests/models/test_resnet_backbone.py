"""ResNet encoders: parameter counts from layer shapes, strides, dilation, names, errors."""

import keras
import pytest

from mtlzoo.models.backbones.resnet import resnet, resnet18, resnet50, stage_strides


# --- parameter counts written out from layer shapes (bias-free convs; BN has gamma, beta, mean, variance)
def conv(k, c_in, c_out):
    return k * k * c_in * c_out


def bn(c):
    return 4 * c  # 2 trainable (gamma, beta) + 2 moving statistics


def basic_block(c_in, c_out):
    count = conv(3, c_in, c_out) + bn(c_out) + conv(3, c_out, c_out) + bn(c_out)
    if c_in != c_out:  # first block of stages 2-4: strided 1x1 projection shortcut
        count += conv(1, c_in, c_out) + bn(c_out)
    return count


def resnet18_cifar_params(w):
    """ResNet-18, CIFAR stem (3x3 conv, no pool), [2, 2, 2, 2] basic blocks, no classifier."""
    stem = conv(3, 3, w) + bn(w)
    stage1 = basic_block(w, w) + basic_block(w, w)
    stage2 = basic_block(w, 2 * w) + basic_block(2 * w, 2 * w)
    stage3 = basic_block(2 * w, 4 * w) + basic_block(4 * w, 4 * w)
    stage4 = basic_block(4 * w, 8 * w) + basic_block(8 * w, 8 * w)
    return stem + stage1 + stage2 + stage3 + stage4


def bn_channels_resnet18(w):
    """Channels of all BN layers (each has 2 non-trainable statistics)."""
    return w + 4 * w + (2 * 2 + 1) * 2 * w + (2 * 2 + 1) * 4 * w + (2 * 2 + 1) * 8 * w


def bottleneck_block(c_in, planes):
    out = 4 * planes
    count = conv(1, c_in, planes) + bn(planes) + conv(3, planes, planes) + bn(planes) + conv(1, planes, out) + bn(out)
    if c_in != out:
        count += conv(1, c_in, out) + bn(out)
    return count


def resnet50_params(w):
    """ResNet-50, ImageNet stem (7x7 conv; max-pool has no weights), [3, 4, 6, 3] bottlenecks."""
    total, c_in = conv(7, 3, w) + bn(w), w
    for s, repeats in enumerate((3, 4, 6, 3)):
        planes = w * 2 ** s
        for _ in range(repeats):
            total += bottleneck_block(c_in, planes)
            c_in = 4 * planes
    return total


def trainable(model):
    return sum(int(keras.ops.size(v)) for v in model.trainable_weights)


@pytest.mark.parametrize("width", [2, 4])
def test_resnet18_param_count_matches_layer_shapes(width):
    encoder = resnet18(width=width, input_shape=(32, 32, 3))
    assert encoder.count_params() == resnet18_cifar_params(width)
    assert trainable(encoder) == resnet18_cifar_params(width) - 2 * bn_channels_resnet18(width)


def test_resnet50_param_count_matches_layer_shapes():
    encoder = resnet50(width=2, input_shape=(64, 64, 3), pooling=None)
    assert encoder.count_params() == resnet50_params(2)


@pytest.mark.slow
def test_full_width_param_counts():
    encoder = resnet18(width=64, input_shape=(32, 32, 3))
    assert resnet18_cifar_params(64) == 11_178_432
    assert encoder.count_params() == 11_178_432
    # kuangliu's CIFAR ResNet-18 has 11,173,962 trainable parameters with its 512->10 linear layer.
    assert trainable(encoder) == 11_173_962 - (512 * 10 + 10)
    encoder = resnet50(width=64, input_shape=(224, 224, 3))
    assert encoder.count_params() == resnet50_params(64)
    # torchvision's resnet50 has 25,557,032 parameters, 2,049,000 of them in its 2048->1000 fc.
    assert trainable(encoder) == 25_557_032 - 2_049_000


@pytest.mark.parametrize(
    "depth, stem, output_stride, pooling, size, expected",
    [
        (18, "cifar", None, None, 32, (None, 4, 4, 16)),
        (18, "cifar", None, "avg", 64, (None, 16)),
        (18, "imagenet", None, None, 64, (None, 2, 2, 16)),
        (50, "imagenet", None, None, 64, (None, 2, 2, 64)),
        (50, "imagenet", 8, None, 64, (None, 8, 8, 64)),
        (50, "imagenet", 16, None, 50, (None, 4, 4, 64)),  # odd sizes round up: 50->25->13->7->4
    ],
)
def test_output_shapes(depth, stem, output_stride, pooling, size, expected):
    encoder = resnet(depth, width=2, input_shape=(size, size, 3), stem=stem, output_stride=output_stride,
                     pooling=pooling)
    assert tuple(encoder.output.shape) == expected


def test_output_stride_8_dilates_stages_3_and_4():
    assert stage_strides("imagenet", 8) == ((1, 2, 1, 1), (1, 1, 2, 4))
    assert stage_strides("imagenet", None) == ((1, 2, 2, 2), (1, 1, 1, 1))
    encoder = resnet50(width=2, input_shape=(64, 64, 3), output_stride=8, pooling=None)
    rates = {layer.name: layer.dilation_rate for layer in encoder.layers if layer.name.endswith("_conv2")}
    assert rates["stage2_block0_conv2"] == (1, 1)
    assert all(rates[f"stage3_block{b}_conv2"] == (2, 2) for b in range(6))
    assert all(rates[f"stage4_block{b}_conv2"] == (4, 4) for b in range(3))


def test_layer_names_are_deterministic():
    names = [layer.name for layer in resnet18(width=2).layers]
    assert names == [layer.name for layer in resnet18(width=2).layers]
    for expected in ("stem_conv", "stem_bn", "stage1_block0_conv1", "stage2_block0_shortcut_conv",
                     "stage4_block1_bn2", "avg_pool"):
        assert expected in names
    assert "stem_pool" in [layer.name for layer in resnet50(width=2, input_shape=(64, 64, 3)).layers]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"depth": 20}, "depth"),
        ({"stem": "tiny"}, "stem"),
        ({"pooling": "max"}, "pooling"),
        ({"stem": "imagenet", "output_stride": 2}, "output_stride"),
        ({"output_stride": 12}, "output_stride"),
        ({"width": 0}, "width"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        resnet(**{"depth": 18, "width": 2, **kwargs})


@pytest.mark.parametrize("depth, stem", [(18, "cifar"), (50, "imagenet")])
def test_tiny_encoders_have_gradients(depth, stem):
    """Tiny widths put < 16 channels into the strided shortcuts (a oneDNN crash without the subsample)."""
    import tensorflow as tf

    encoder = resnet(depth, width=2, input_shape=(48, 80, 3), stem=stem, pooling=None)
    x = tf.random.stateless_uniform((2, 48, 80, 3), seed=(1, 2))
    for _ in range(2):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(encoder(x, training=True)))
        grads = tape.gradient(loss, encoder.trainable_variables)
        assert all(g is not None for g in grads)
    subsample = encoder.get_layer("stage2_block0_shortcut_subsample")
    assert subsample.strides == (2, 2) and encoder.get_layer("stage2_block0_shortcut_conv").strides == (1, 1)
