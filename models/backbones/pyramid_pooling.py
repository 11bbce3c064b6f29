"""PSPNet's pyramid pooling module (Zhao et al. 2017) as a decoder for dense tasks (seed 002 §4.3)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from mtlzoo.layers.adaptive_average_pooling import AdaptiveAveragePooling
from mtlzoo.layers.bilinear_resize import BilinearResize
from mtlzoo.models.backbones.resnet import BN_EPSILON, BN_MOMENTUM


def pyramid_pooling(x, bins: Sequence[int] = (1, 2, 3, 6), branch_channels: int | None = None,
                    channels: int | None = None, dropout: float = 0.1, name: str = "ppm"):
    """Apply the pyramid pooling module to a symbolic feature map ``x`` (functional API).

    For each bin count ``b``: adaptive average pooling to ``b x b``, 1x1 conv to
    ``branch_channels``, batch norm, ReLU, bilinear upsampling back to the
    feature size. The branches are concatenated with ``x`` and fused by a 3x3
    conv, batch norm and ReLU (then dropout, as in PSPNet).

    Args:
        x: a ``(batch, h, w, c)`` Keras tensor with static ``h`` and ``w``; a
            side need not be divisible by a bin count.
        bins: the pyramid's bin counts.
        branch_channels: filters of each branch's 1x1 conv (default
            ``c // len(bins)``, 512 for a 2048-channel ResNet-50 map).
        channels: filters of the fusing 3x3 conv (default ``c // 4``).
        dropout: dropout rate after the fusing conv (0 disables it).
        name: prefix of the layer names (``{name}_pool{b}``, ``{name}_fuse_conv`` …).

    Returns:
        The fused ``(batch, h, w, channels)`` tensor.

    Example:
        >>> inp = keras.Input((5, 7, 16))
        >>> tuple(pyramid_pooling(inp, channels=8).shape)
        (None, 5, 7, 8)
    """
    height, width, in_channels = x.shape[1], x.shape[2], x.shape[3]
    if height is None or width is None or in_channels is None:
        raise ValueError(f"pyramid_pooling: the feature map needs a static shape, got {tuple(x.shape)}; "
                         "fix the model's input shape.")
    bins = tuple(int(b) for b in bins)
    if not bins or any(b < 1 for b in bins) or len(set(bins)) != len(bins):
        raise ValueError(f"pyramid_pooling: bins must be distinct positive ints, got {bins!r}.")
    branch_channels = int(branch_channels or max(1, in_channels // len(bins)))
    channels = int(channels or max(1, in_channels // 4))
    branches = [x]
    for b in bins:
        y = AdaptiveAveragePooling(b, name=f"{name}_pool{b}")(x)
        y = _conv_bn_relu(y, branch_channels, 1, f"{name}_branch{b}")
        y = BilinearResize((height, width), name=f"{name}_upsample{b}")(y)
        branches.append(y)
    y = keras.layers.Concatenate(name=f"{name}_concat")(branches)
    y = _conv_bn_relu(y, channels, 3, f"{name}_fuse")
    if dropout:
        y = keras.layers.Dropout(dropout, name=f"{name}_dropout")(y)
    return y


def pyramid_pooling_decoder(feature_shape: Sequence[int], bins: Sequence[int] = (1, 2, 3, 6),
                            branch_channels: int | None = None, channels: int | None = None,
                            dropout: float = 0.1, head: keras.layers.Layer | None = None,
                            name: str = "decoder") -> keras.Model:
    """The pyramid pooling module (optionally followed by a task head) as a functional sub-model.

    Args:
        feature_shape: the encoder's feature-map shape ``(h, w, c)``.
        bins, branch_channels, channels, dropout: see :func:`pyramid_pooling`.
        head: a layer applied to the fused features, e.g. a
            :class:`mtlzoo.heads.DenseHead` that upsamples to the image size.
        name: the sub-model's name (``head_<task>`` as a block of a task tree).

    Example:
        >>> dec = pyramid_pooling_decoder((16, 32, 64), channels=8)
        >>> tuple(dec.output.shape)
        (None, 16, 32, 8)
    """
    features = keras.Input(shape=tuple(int(d) for d in feature_shape), name=f"{name}_input")
    y = pyramid_pooling(features, bins, branch_channels, channels, dropout, name="ppm")
    if head is not None:
        y = head(y)
    return keras.Model(features, y, name=name)


def _conv_bn_relu(x, filters: int, kernel: int, name: str):
    x = keras.layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, synchronized=True,
                                        name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)
