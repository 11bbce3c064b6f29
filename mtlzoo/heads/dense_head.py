"""Head for dense (per-pixel) tasks: segmentation logits or per-pixel regression."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from mtlzoo.layers.bilinear_resize import BilinearResize

_TASK_TYPES = ("classification", "regression")


@keras.saving.register_keras_serializable(package="mtlzoo")
class DenseHead(keras.layers.Layer):
    """3x3 conv layers, a 1x1 conv to ``channels``, then optional bilinear resize.

    Args:
        channels: output channels per pixel (classes for segmentation, 2 for
            instance-centre offsets, 1 for disparity).
        hidden_channels: widths of the 3x3 conv layers before the 1x1 output conv.
        task_type: ``"classification"`` (per-pixel logits) or ``"regression"``.
        output_size: ``(height, width)`` to resize the output to, e.g. the input
            image size; ``None`` keeps the feature map's size.
        activation: activation of the hidden conv layers.

    Example:
        >>> head = DenseHead(3, hidden_channels=(4,), output_size=(8, 8))
        >>> tuple(head(keras.ops.ones((1, 4, 4, 2))).shape)
        (1, 8, 8, 3)
    """

    def __init__(self, channels: int, hidden_channels: Sequence[int] = (), task_type: str = "classification",
                 output_size: Sequence[int] | None = None, activation: str = "relu", **kwargs):
        super().__init__(**kwargs)
        if int(channels) < 1:
            raise ValueError(f"DenseHead: channels must be >= 1, got {channels}.")
        if task_type not in _TASK_TYPES:
            raise ValueError(f"DenseHead: task_type must be one of {_TASK_TYPES}, got {task_type!r}.")
        self.channels = int(channels)
        self.hidden_channels = tuple(int(c) for c in hidden_channels)
        self.task_type = task_type
        self.output_size = None if output_size is None else tuple(int(s) for s in output_size)
        self.activation = activation
        self.convs = [keras.layers.Conv2D(c, 3, padding="same", activation=activation, name=f"conv_{i}")
                      for i, c in enumerate(self.hidden_channels)]
        self.out = keras.layers.Conv2D(self.channels, 1, name="logits")
        self.resize = BilinearResize(self.output_size, name="resize") if self.output_size else None

    def build(self, input_shape):
        shape = tuple(input_shape)
        for conv in self.convs:
            conv.build(shape)
            shape = shape[:-1] + (conv.filters,)
        self.out.build(shape)

    def call(self, inputs):
        x = inputs
        for conv in self.convs:
            x = conv(x)
        x = self.out(x)
        # BilinearResize, not keras.layers.Resizing: in Keras 3.15 that layer's call defaults to
        # training=True and leaks it into the call context (keras-team/keras#23166).
        return self.resize(x) if self.resize is not None else x

    def compute_output_shape(self, input_shape):
        size = self.output_size or tuple(input_shape[1:3])
        return (input_shape[0], *size, self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels, hidden_channels=list(self.hidden_channels),
                      task_type=self.task_type, activation=self.activation,
                      output_size=None if self.output_size is None else list(self.output_size))
        return config
