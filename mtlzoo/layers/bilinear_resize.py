"""Resize a feature map to a fixed spatial size with bilinear interpolation."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mtlzoo")
class BilinearResize(keras.layers.Layer):
    """Bilinearly resize ``(batch, h, w, c)`` to ``(batch, height, width, c)``; no weights.

    Used instead of ``keras.layers.Resizing``, whose call in Keras 3.15 defaults
    to ``training=True`` and leaks it into the call context, so the batch norm
    after it ran in training mode when the model was called without a
    ``training`` argument (keras-team/keras#23166).

    Args:
        size: the output ``(height, width)``.

    Example:
        >>> tuple(BilinearResize((6, 10))(keras.ops.ones((2, 3, 3, 4))).shape)
        (2, 6, 10, 4)
    """

    def __init__(self, size: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        size = tuple(int(s) for s in size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"BilinearResize: size must be a (height, width) of positive ints, got {size!r}.")
        self.size = size

    def call(self, inputs):
        return ops.image.resize(inputs, self.size, interpolation="bilinear")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.size, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config["size"] = list(self.size)
        return config
