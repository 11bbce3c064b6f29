"""LeNet trunks: seed 002's MultiMNIST LeNet and seed 000's truncated LeNet with batch norm."""

from __future__ import annotations

import keras


def lenet_features(width: int = 10, hidden: int | None = None, name: str = "trunk",
                   dropout: float = 0.0) -> keras.Sequential:
    """Seed 002's shared LeNet: conv w@5x5, max-pool 2, ReLU, conv 2w@5x5, max-pool 2, ReLU, FC -> 5w, ReLU.

    With the default ``width=10`` on 28x28x1 inputs: conv 10@5x5, conv 20@5x5,
    flatten 320 -> FC 50, as in the authors' MultiMNIST model.

    With ``dropout > 0`` a channel dropout (``SpatialDropout2D``, named
    ``conv2_dropout``) follows ``conv2``, where the authors' ``MultiLeNetR``
    multiplies the second conv's output by a channel mask (see
    :mod:`mtlzoo.models.zoo.multimnist_lenet` for how the two masks relate).

    Args:
        width: filters of the first conv layer (the second has twice as many).
        hidden: units of the final FC layer (default ``5 * width``).
        name: the Sequential's name (the block name).
        dropout: rate of the channel dropout after ``conv2`` (0: none, the layer is left out).

    Example:
        >>> [layer.name for layer in lenet_features(2, dropout=0.5).layers][3:6]
        ['conv2', 'conv2_dropout', 'pool2']
    """
    hidden = 5 * width if hidden is None else hidden
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"lenet_features: dropout must be in [0, 1), got {dropout}; 0 turns it off.")
    # layers are made in network order: each initializer draws its seed when it is made
    conv1 = keras.layers.Conv2D(width, 5, name="conv1")
    conv2 = [keras.layers.Conv2D(2 * width, 5, name="conv2")]
    if dropout:
        conv2.append(keras.layers.SpatialDropout2D(float(dropout), name="conv2_dropout"))
    return keras.Sequential(
        [
            conv1,
            keras.layers.MaxPooling2D(2, name="pool1"),
            keras.layers.ReLU(name="relu1"),
            *conv2,
            keras.layers.MaxPooling2D(2, name="pool2"),
            keras.layers.ReLU(name="relu2"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(hidden, activation="relu", name="fc"),
        ],
        name=name,
    )


def conv_bn_block(filters: int, name: str, flatten: bool = False) -> keras.Sequential:
    """Conv 5x5 -> batch norm -> ReLU -> max-pool 2 (-> flatten): one block of seed 000's truncated LeNet.

    The batch-norm layer is named ``"bn"`` so the split search can find its
    scales gamma and pre-affine activations.
    """
    layers = [
        keras.layers.Conv2D(filters, 5, name="conv"),
        # momentum 0.9 = PyTorch's default (0.1) that the seed's reference code uses; Keras' 0.99 leaves the
        # moving statistics far from the data's after a few hundred steps, so evaluation lags training by tens
        # of points in short runs. synchronized: the same statistics on every replica.
        keras.layers.BatchNormalization(momentum=0.9, synchronized=True, name="bn"),
        keras.layers.ReLU(name="relu"),
        keras.layers.MaxPooling2D(2, name="pool"),
    ]
    if flatten:
        layers.append(keras.layers.Flatten(name="flatten"))
    return keras.Sequential(layers, name=name)
