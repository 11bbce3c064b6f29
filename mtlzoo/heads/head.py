"""Base class of the task heads: an MLP from a block output to a task's logits."""

from __future__ import annotations

from collections.abc import Sequence

import keras


@keras.saving.register_keras_serializable(package="mtlzoo")
class Head(keras.layers.Layer):
    """Flatten (when the input has spatial axes), hidden Dense layers, then a linear output.

    Subclasses fix what the ``units`` outputs mean (class logits, binary logits).

    Args:
        units: number of outputs of the last (linear) layer.
        hidden_units: widths of the hidden Dense layers, applied in order.
        activation: activation of the hidden layers.
        dropout: dropout rate after each hidden layer (0 disables it).

    Example:
        >>> head = Head(3, hidden_units=(8,))
        >>> tuple(head(keras.ops.ones((2, 4))).shape)
        (2, 3)
    """

    task_type = "generic"

    def __init__(self, units: int, hidden_units: Sequence[int] = (), activation: str = "relu",
                 dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if int(units) < 1:
            raise ValueError(f"{type(self).__name__}: units must be >= 1, got {units}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1), got {dropout}.")
        self.units = int(units)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.activation = activation
        self.dropout = float(dropout)
        self.flatten = keras.layers.Flatten()
        self.hidden = [keras.layers.Dense(u, activation=activation, name=f"hidden_{i}")
                       for i, u in enumerate(self.hidden_units)]
        self.drops = [keras.layers.Dropout(self.dropout) for _ in self.hidden_units] if self.dropout else []
        self.out = keras.layers.Dense(self.units, name="logits")

    def build(self, input_shape):
        shape = (input_shape[0], int(_prod(input_shape[1:])))
        self.flatten.build(input_shape)
        for layer in self.hidden:
            layer.build(shape)
            shape = (shape[0], layer.units)
        self.out.build(shape)

    def call(self, inputs, training=None):
        x = self.flatten(inputs) if len(inputs.shape) > 2 else inputs
        for i, layer in enumerate(self.hidden):
            x = layer(x)
            if self.drops:
                x = self.drops[i](x, training=training)
        return self.out(x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, hidden_units=list(self.hidden_units),
                      activation=self.activation, dropout=self.dropout)
        return config


def _prod(dims) -> int:
    out = 1
    for d in dims:
        if d is None:
            raise ValueError("Head: all non-batch input dimensions must be known to build a dense head.")
        out *= int(d)
    return out
