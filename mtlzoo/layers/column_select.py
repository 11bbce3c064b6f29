"""Pick one task's column out of a stacked (batch, T, ...) tensor."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="mtlzoo")
class ColumnSelect(keras.layers.Layer):
    """Return ``inputs[:, index]``: the column of one task from stacked per-task features.

    Used by column architectures (cross-stitch networks), whose shared block
    emits all task columns stacked on axis 1 and whose heads each read one.

    Args:
        index: the column to select (0-based).

    Example:
        >>> x = keras.ops.reshape(keras.ops.arange(6.0), (1, 2, 3))
        >>> keras.ops.convert_to_numpy(ColumnSelect(1)(x)).tolist()
        [[3.0, 4.0, 5.0]]
    """

    def __init__(self, index: int, **kwargs):
        super().__init__(**kwargs)
        if int(index) < 0:
            raise ValueError(f"ColumnSelect: index must be >= 0, got {index}.")
        self.index = int(index)

    def build(self, input_shape):
        if len(input_shape) < 2 or (input_shape[1] is not None and self.index >= input_shape[1]):
            raise ValueError(f"ColumnSelect({self.index}): input of shape {tuple(input_shape)} has no such column.")

    def call(self, inputs):
        return inputs[:, self.index]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *input_shape[2:])

    def get_config(self):
        config = super().get_config()
        config["index"] = self.index
        return config
