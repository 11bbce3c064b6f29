"""Head for binary and multi-label tasks: one independent logit per label."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from mtlzoo.heads.head import Head


@keras.saving.register_keras_serializable(package="mtlzoo")
class MultiLabelHead(Head):
    """Independent logits for sigmoid cross-entropy (use ``from_logits=True``).

    Args:
        num_labels: number of binary labels (1 for a binary task such as a
            CelebA attribute or a CIFAR-10 one-vs-rest task).
        hidden_units: widths of hidden Dense layers.
        activation: activation of the hidden layers.
        dropout: dropout rate after each hidden layer.

    Example:
        >>> head = MultiLabelHead(1)
        >>> tuple(head(keras.ops.ones((2, 8))).shape)
        (2, 1)
    """

    task_type = "binary"

    def __init__(self, num_labels: int = 1, hidden_units: Sequence[int] = (), activation: str = "relu",
                 dropout: float = 0.0, **kwargs):
        super().__init__(int(num_labels), hidden_units, activation, dropout, **kwargs)
        self.num_labels = int(num_labels)

    def get_config(self):
        config = super().get_config()
        config.pop("units")
        config["num_labels"] = self.num_labels
        return config
