"""Adaptive average pooling to a fixed grid, for inputs of static spatial size."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops


def pooling_matrix(size: int, bins: int) -> np.ndarray:
    """``(bins, size)`` averaging matrix: row ``i`` averages ``[floor(i*size/bins), ceil((i+1)*size/bins))``.

    These are PyTorch's ``adaptive_avg_pool`` windows: they cover every input
    position, overlap by one where ``size`` is not a multiple of ``bins``, and
    repeat positions where ``size < bins``.

    Example:
        >>> (3 * pooling_matrix(5, 2)).round(4).tolist()      # windows [0, 3) and [2, 5)
        [[1.0, 1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0, 1.0]]
    """
    matrix = np.zeros((bins, size), dtype="float32")
    for i in range(bins):
        start, end = (i * size) // bins, -((-(i + 1) * size) // bins)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


@keras.saving.register_keras_serializable(package="mtlzoo")
class AdaptiveAveragePooling(keras.layers.Layer):
    """Average-pool a ``(batch, h, w, c)`` map to ``(batch, bins_h, bins_w, c)`` for any ``h, w``.

    The windows are PyTorch's ``adaptive_avg_pool2d`` windows, so a side that
    is not divisible by its bin count (16 rows into 6 bins) works. The input's
    spatial size must be static; the pooling is two small constant matrix
    products built from it, so the layer has no weights, is differentiable
    (unlike ``tf.image.resize(..., method="area")``, whose op has no gradient)
    and runs on any Keras 3 version.

    Args:
        output_size: ``bins`` or ``(bins_h, bins_w)``.

    Example:
        >>> pool = AdaptiveAveragePooling(3)
        >>> tuple(pool(keras.ops.ones((2, 16, 32, 4))).shape)
        (2, 3, 3, 4)
    """

    def __init__(self, output_size: int | Sequence[int], **kwargs):
        super().__init__(**kwargs)
        size = (output_size, output_size) if isinstance(output_size, (int, np.integer)) else tuple(output_size)
        if len(size) != 2 or any(int(s) < 1 for s in size):
            raise ValueError(f"AdaptiveAveragePooling: output_size must be a positive int or (h, w), "
                             f"got {output_size!r}.")
        self.output_size = tuple(int(s) for s in size)
        self._rows = self._cols = None

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(f"AdaptiveAveragePooling({self.output_size}): needs a (batch, h, w, c) input with "
                             f"static h and w, got {tuple(input_shape)}; fix the model's input shape.")
        self._rows = pooling_matrix(int(input_shape[1]), self.output_size[0])
        self._cols = pooling_matrix(int(input_shape[2]), self.output_size[1])

    def call(self, inputs):
        rows = ops.cast(self._rows, inputs.dtype)
        cols = ops.cast(self._cols, inputs.dtype)
        x = ops.einsum("ih,nhwc->niwc", rows, inputs)
        return ops.einsum("jw,niwc->nijc", cols, x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.output_size, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config["output_size"] = list(self.output_size)
        return config
