"""Cross-stitch unit (Misra et al. 2016, seed 003): learned linear mixing of task columns."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mtlzoo")
class CrossStitch(keras.layers.Layer):
    """Mix T same-shaped task columns: x~_i = sum_j alpha_ij x_j.

    The mixing matrix starts with ``alpha_self`` on the diagonal and
    ``(1 - alpha_self) / (T - 1)`` off it, so every row sums to 1 and outputs
    keep the inputs' scale (seed 003: alpha_S + alpha_D = 1 for stable learning).

    Args:
        alpha_self: initial weight of a column on itself (alpha_S), in [0, 1].
        per_channel: learn one T x T matrix per channel (last axis) instead of one.

    Example:
        >>> unit = CrossStitch(alpha_self=0.9)
        >>> a, b = unit([keras.ops.ones((2, 3)), keras.ops.zeros((2, 3))])
        >>> round(float(a[0, 0]), 4), round(float(b[0, 0]), 4)
        (0.9, 0.1)
    """

    def __init__(self, alpha_self: float = 0.9, per_channel: bool = False, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(alpha_self) <= 1.0:
            raise ValueError(f"CrossStitch: alpha_self must be in [0, 1], got {alpha_self}.")
        self.alpha_self = float(alpha_self)
        self.per_channel = bool(per_channel)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not isinstance(input_shape[0], (list, tuple)):
            raise ValueError("CrossStitch expects a list of T >= 2 tensors (one per task column).")
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) < 2:
            raise ValueError(f"CrossStitch needs at least 2 columns, got {len(shapes)}.")
        if any(s[1:] != shapes[0][1:] for s in shapes):
            raise ValueError(f"CrossStitch: all columns must have the same shape, got {shapes}.")
        t = len(shapes)
        off = (1.0 - self.alpha_self) / (t - 1)
        init = [[self.alpha_self if i == j else off for j in range(t)] for i in range(t)]
        shape = (t, t)
        if self.per_channel:
            channels = shapes[0][-1]
            init = [init] * channels
            shape = (channels, t, t)
        self.alpha = self.add_weight(name="alpha", shape=shape,
                                     initializer=keras.initializers.Constant(init), trainable=True)

    def call(self, inputs):
        x = ops.stack(inputs, axis=-1)  # (..., C, T)
        alpha = ops.cast(self.alpha, x.dtype)
        if self.per_channel:
            mixed = ops.einsum("...cj,cij->...ci", x, alpha)
        else:
            mixed = ops.einsum("...j,ij->...i", x, alpha)
        return [mixed[..., i] for i in range(len(inputs))]

    def compute_output_shape(self, input_shape):
        return [tuple(s) for s in input_shape]

    def get_config(self):
        config = super().get_config()
        config.update(alpha_self=self.alpha_self, per_channel=self.per_channel)
        return config
