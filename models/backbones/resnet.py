"""ResNet encoders (He et al. 2016) as functional Keras models, with CIFAR or ImageNet stems.

Seed 001 uses a ResNet-18 encoder for CIFAR-10, seed 002 a ResNet-18 for CelebA
and a dilated ResNet-50 under a pyramid-pooling decoder for Cityscapes. The
layout follows torchvision's ResNet v1.5 (the stride of a bottleneck block sits
on its 3x3 conv), with bias-free convs, batch norm (momentum 0.9, epsilon 1e-5,
as PyTorch's 0.1 / 1e-5) and He-normal (fan-out) initialization. Strided convs
pad symmetrically (``ZeroPadding2D`` then ``"valid"``), as PyTorch does, so an
``n``-pixel side becomes ``ceil(n / 2)``. A strided projection shortcut
subsamples (1x1 average pool, stride 2) before its 1x1 conv: the same function
and kernel as a stride-2 1x1 conv, without a oneDNN crash (see ``_shortcut``).

Every layer has a deterministic name, ``stem_conv``, ``stage{s}_block{b}_conv{k}``,
``stage{s}_block{b}_bn{k}``, ``stage{s}_block{b}_shortcut_conv``, ``avg_pool`` …, so
tools can find layers by name, and weights saved from one encoder load into
another built with the same options.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import keras

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
STEMS = ("cifar", "imagenet")
POOLINGS = ("avg", None)
# depth -> (block kind, blocks per stage); the expansion of bottleneck blocks is 4.
DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
EXPANSION = {"basic": 1, "bottleneck": 4}


def resnet(depth: int = 18, width: int = 64, input_shape: Sequence[int] = (32, 32, 3), stem: str = "cifar",
           output_stride: int | None = None, pooling: str | None = "avg", name: str = "encoder") -> keras.Model:
    """A ResNet encoder without its classifier: image -> pooled features or a feature map.

    Args:
        depth: 18 or 34 (basic blocks), 50, 101 or 152 (bottleneck blocks, expansion 4).
        width: filters of the stem and the first stage (64 in the real nets);
            stage ``s`` has ``width * 2**(s-1)`` (times 4 at the output of a
            bottleneck block). Tests use 2-8.
        input_shape: one image's shape ``(height, width, channels)``; fixed.
        stem: ``"cifar"`` (3x3 conv, stride 1, no pooling; for 32x32 and 64x64
            inputs) or ``"imagenet"`` (7x7 conv stride 2, 3x3 max-pool stride 2).
        output_stride: ``None`` keeps every stage's stride (total stride 8 with
            the CIFAR stem, 32 with the ImageNet stem). A smaller power of two
            replaces the strides of the last stages by dilation, for dense
            prediction: ``8`` with the ImageNet stem dilates stage 3 by 2 and
            stage 4 by 4 (every block of a dilated stage, as in PSPNet).
        pooling: ``"avg"`` for global-average-pooled features ``(batch, C)``,
            ``None`` for the last feature map ``(batch, h, w, C)``.
        name: the model's name (the block name in a task tree).

    Returns:
        A functional ``keras.Model`` whose output has ``width * 8 * expansion`` channels.

    Example:
        >>> enc = resnet(18, width=4, input_shape=(32, 32, 3))
        >>> tuple(enc.output.shape)
        (None, 32)
        >>> enc = resnet(50, width=2, input_shape=(64, 64, 3), stem="imagenet", output_stride=8, pooling=None)
        >>> tuple(enc.output.shape)
        (None, 8, 8, 64)
    """
    if depth not in DEPTHS:
        raise ValueError(f"resnet: depth must be one of {sorted(DEPTHS)}, got {depth!r}.")
    if int(width) < 1:
        raise ValueError(f"resnet: width must be >= 1, got {width!r}.")
    if stem not in STEMS:
        raise ValueError(f"resnet: stem must be one of {STEMS}, got {stem!r}.")
    if pooling not in POOLINGS:
        raise ValueError(f"resnet: pooling must be one of {POOLINGS}, got {pooling!r}.")
    kind, repeats = DEPTHS[depth]
    width = int(width)
    strides, dilations = stage_strides(stem, output_stride)

    image = keras.Input(shape=tuple(int(d) for d in input_shape), name=f"{name}_input")
    if stem == "cifar":
        x = _conv_bn(image, width, 3, 1, 1, "stem_conv", "stem_bn", relu="stem_relu")
    else:
        x = _conv_bn(image, width, 7, 2, 1, "stem_conv", "stem_bn", relu="stem_relu")
        x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    block = _basic_block if kind == "basic" else _bottleneck_block
    for s, (count, stride, dilation) in enumerate(zip(repeats, strides, dilations), start=1):
        filters = width * 2 ** (s - 1)
        for b in range(count):
            x = block(x, filters, stride if b == 0 else 1, dilation, f"stage{s}_block{b}")
    if pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(image, x, name=name)


def resnet18(width: int = 64, input_shape: Sequence[int] = (32, 32, 3), stem: str = "cifar", **kwargs) -> keras.Model:
    """ResNet-18 encoder (basic blocks, [2, 2, 2, 2]); see :func:`resnet` for the arguments.

    Example:
        >>> resnet18(width=2).count_params()
        11550
    """
    return resnet(18, width=width, input_shape=input_shape, stem=stem, **kwargs)


def resnet50(width: int = 64, input_shape: Sequence[int] = (224, 224, 3), stem: str = "imagenet",
             **kwargs) -> keras.Model:
    """ResNet-50 encoder (bottleneck blocks, [3, 4, 6, 3], expansion 4); see :func:`resnet`.

    Example:
        >>> tuple(resnet50(width=2, input_shape=(64, 64, 3), pooling=None).output.shape)
        (None, 2, 2, 64)
    """
    return resnet(50, width=width, input_shape=input_shape, stem=stem, **kwargs)


def stage_strides(stem: str, output_stride: int | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per-stage ``(strides, dilations)`` reaching ``output_stride`` (``None``: no dilation).

    Example:
        >>> stage_strides("imagenet", 8)
        ((1, 2, 1, 1), (1, 1, 2, 4))
    """
    stem_stride = 1 if stem == "cifar" else 4
    strides, dilations, current, dilation = [], [], stem_stride, 1
    allowed = [stem_stride * 2 ** k for k in range(4)]
    if output_stride is not None and output_stride not in allowed:
        raise ValueError(f"resnet: output_stride must be None or one of {allowed} with the {stem!r} stem, "
                         f"got {output_stride!r}.")
    for stride in (1, 2, 2, 2):
        if output_stride is not None and current * stride > output_stride:
            dilation *= stride
            stride = 1
        current *= stride
        strides.append(stride)
        dilations.append(dilation)
    return tuple(strides), tuple(dilations)


def check_weights_file(path, owner: str = "model", block: str = "encoder") -> str:
    """Validate a local ``.weights.h5`` path before building; returns it as a string.

    Raises:
        ValueError: the path does not exist or lacks the ``.weights.h5``
            suffix; the message names the path and the fix.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{owner}: weights file {path!r} does not exist; {_fix(owner, block)}.")
    if not path.endswith(".weights.h5"):
        raise ValueError(f"{owner}: weights file {path!r} must end in '.weights.h5'; {_fix(owner, block)}.")
    return path


def load_encoder_weights(encoder: keras.Model, path, owner: str = "model") -> None:
    """Load a local ``.weights.h5`` file into ``encoder``; never downloads anything.

    Args:
        encoder: the (built) encoder sub-model.
        path: a local file written by ``encoder.save_weights(path)`` from an
            encoder built with the same depth, width, stem and input channels.
        owner: the zoo model's name, for the error message.

    Raises:
        ValueError: the path is not a local file, has the wrong suffix, or
            does not match the encoder; the message names the path and the fix.

    Example:
        >>> enc = resnet18(width=2); enc.save_weights("enc.weights.h5")      # doctest: +SKIP
        >>> load_encoder_weights(resnet18(width=2), "enc.weights.h5")          # doctest: +SKIP
    """
    path = check_weights_file(path, owner, encoder.name)
    fix = _fix(owner, encoder.name)
    try:
        import h5py

        with h5py.File(path, "r") as handle:
            arrays = []
            handle.visititems(lambda key, obj: arrays.append(key) if isinstance(obj, h5py.Dataset) else None)
    except OSError as err:
        raise ValueError(f"{owner}: weights file {path!r} is not a Keras weights file ({err}); {fix}.") from err
    if len(arrays) != len(encoder.weights):
        raise ValueError(f"{owner}: weights file {path!r} holds {len(arrays)} arrays but the encoder has "
                         f"{len(encoder.weights)} variables; {fix}.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras warns once per skipped container before it raises
            encoder.load_weights(path)
    except Exception as err:  # Keras raises ValueError variants for shape mismatches
        detail = " ".join(str(err).split())[:300]
        raise ValueError(f"{owner}: weights file {path!r} does not match the encoder ({detail}); {fix}.") from err


def _fix(owner: str, block: str) -> str:
    return (f"pass weights=None, or the path of a file saved with "
            f"`model.block_layer('{block}').save_weights('encoder.weights.h5')` from a {owner} built with "
            f"the same width and input channels (nothing is downloaded: pretrained weights must be local)")


# ------------------------------------------------------------------ building blocks
def _initializer():
    return keras.initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="untruncated_normal")


def _conv_bn(x, filters: int, kernel: int, stride: int, dilation: int, conv_name: str, bn_name: str,
             relu: str | None = None):
    """Conv (no bias) -> batch norm (-> ReLU); strided convs pad symmetrically like PyTorch."""
    padding = "same"
    if stride > 1 and kernel > 1:
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{conv_name}_pad")(x)
        padding = "valid"
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding, dilation_rate=dilation,
                            use_bias=False, kernel_initializer=_initializer(), name=conv_name)(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, synchronized=True,
                                        name=bn_name)(x)
    return keras.layers.ReLU(name=relu)(x) if relu else x


def _shortcut(x, filters: int, stride: int, name: str):
    """Identity, or a 1x1 projection (+ BN); a strided projection subsamples first, then convolves.

    Subsampling with a 1x1 average pool and then a stride-1 1x1 conv computes
    exactly a stride-2 1x1 conv with the same kernel. It sidesteps a oneDNN
    kernel of TF 2.21's CPU build whose weight gradient for stride-2 1x1 convs
    with fewer than 16 input channels corrupts memory (the tiny test widths).
    """
    if stride == 1 and x.shape[-1] == filters:
        return x
    if stride > 1:
        x = keras.layers.AveragePooling2D(1, strides=stride, name=f"{name}_shortcut_subsample")(x)
    return _conv_bn(x, filters, 1, 1, 1, f"{name}_shortcut_conv", f"{name}_shortcut_bn")


def _basic_block(x, filters: int, stride: int, dilation: int, name: str):
    """3x3 conv -> BN -> ReLU -> 3x3 conv -> BN, plus the shortcut, -> ReLU."""
    shortcut = _shortcut(x, filters, stride, name)
    y = _conv_bn(x, filters, 3, stride, dilation, f"{name}_conv1", f"{name}_bn1", relu=f"{name}_relu1")
    y = _conv_bn(y, filters, 3, 1, dilation, f"{name}_conv2", f"{name}_bn2")
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def _bottleneck_block(x, filters: int, stride: int, dilation: int, name: str):
    """1x1 conv -> 3x3 conv (stride, dilation) -> 1x1 conv to 4x filters, each with BN, plus the shortcut."""
    out = filters * EXPANSION["bottleneck"]
    shortcut = _shortcut(x, out, stride, name)
    y = _conv_bn(x, filters, 1, 1, 1, f"{name}_conv1", f"{name}_bn1", relu=f"{name}_relu1")
    y = _conv_bn(y, filters, 3, stride, dilation, f"{name}_conv2", f"{name}_bn2", relu=f"{name}_relu2")
    y = _conv_bn(y, out, 1, 1, 1, f"{name}_conv3", f"{name}_bn3")
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)
