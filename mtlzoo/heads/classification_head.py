"""Head for single-label classification: one logit per class."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from mtlzoo.heads.head import Head


@keras.saving.register_keras_serializable(package="mtlzoo")
class ClassificationHead(Head):
    """Class logits for a softmax cross-entropy task (use ``from_logits=True``).

    Args:
        num_classes: number of classes (>= 2).
        hidden_units: widths of hidden Dense layers (seed 002's LeNet head uses ``(50,)``).
        activation: activation of the hidden layers.
        dropout: dropout rate after each hidden layer.

    Example:
        >>> head = ClassificationHead(10, hidden_units=(50,))
        >>> tuple(head(keras.ops.ones((2, 50))).shape)
        (2, 10)
    """

    task_type = "classification"

    def __init__(self, num_classes: int, hidden_units: Sequence[int] = (), activation: str = "relu",
                 dropout: float = 0.0, **kwargs):
        if int(num_classes) < 2:
            raise ValueError(
                f"ClassificationHead: num_classes must be >= 2, got {num_classes}; "
                "use MultiLabelHead(1) for a binary task."
            )
        super().__init__(int(num_classes), hidden_units, activation, dropout, **kwargs)
        self.num_classes = int(num_classes)

    def get_config(self):
        config = super().get_config()
        config.pop("units")
        config["num_classes"] = self.num_classes
        return config
