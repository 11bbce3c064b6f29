"""Channel importance, channel similarity and block compatibility between networks (seed 000 §5.2).

Definitions, as decided for mtlzoo (read literally from seed 000):

- Pre-affine activations z (eq. 5.5): in block i's LAST ``BatchNormalization``,
  ``(u - moving_mean) / sqrt(moving_var + epsilon)`` with u the batch norm's input
  in inference mode. The block's input is its parent's output (the model input
  for the root).
- Similarity of one neuron (eqs. 5.1-5.3): with p = sigma(z^F1), q = sigma(z^F2),
  ``D_KL(p||q) = (1/N) sum_x p(x) log(p(x) / q(x))`` over the N samples x and
  ``D_JS = 1/2 D_KL(p||m) + 1/2 D_KL(q||m)``, m = (p + q) / 2. Every summand
  ``1/2 p log(p/m) + 1/2 q log(q/m)`` is >= 0 (log-sum inequality), 0 iff p = q,
  and symmetric. Probabilities are clipped below at 1e-7, so saturated sigmoids
  give no NaN.
- Eq. 5.4 / 5.8's ``1/(h+w) sum_{n,m}`` is the MEAN over the h*w positions (dense,
  rank-2 activations have one position). Per channel k the divergence is thus
  the mean of the pointwise JS over samples and positions.
- Importance (eq. 5.7) on |gamma|: ``I = |gamma| / sum |gamma|``, uniform 1/c when
  the sum is 0 (or the batch norm has no scale). Between two networks the mean of
  their two importance vectors is used, so the compatibility is symmetric.
- Compatibility (eq. 5.8): ``C = sum_k I_k * D_JS_k``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

#: Probabilities are clipped below at this value before taking logs.
PROBABILITY_FLOOR = 1e-7
#: Rows per batch when a NumPy array is given as the dataset.
ARRAY_BATCH_SIZE = 128
_BN_FIX = "split search needs a BatchNormalization in every searched block"


# ----------------------------------------------------------------- pure math
def channel_importance(gamma) -> np.ndarray:
    """Eq. 5.7 on |gamma|: ``|gamma_k| / sum_j |gamma_j|`` (uniform ``1/c`` if the sum is 0).

    Args:
        gamma: the batch-norm scales of one layer, shape ``[c]`` (array, tensor or variable).

    Returns:
        A float64 vector of shape ``[c]``, non-negative, summing to 1.

    Example:
        >>> channel_importance([1.0, -3.0]).tolist()
        [0.25, 0.75]
    """
    g = np.abs(np.asarray(keras.ops.convert_to_numpy(gamma), dtype=np.float64))
    if g.ndim != 1 or g.size == 0:
        raise ValueError(f"channel_importance: gamma must be a non-empty vector [c], got shape {g.shape}.")
    if not np.all(np.isfinite(g)):
        raise ValueError("channel_importance: gamma has NaN or infinite entries; the network diverged.")
    total = g.sum()
    return np.full(g.size, 1.0 / g.size) if total == 0 else g / total


def _pointwise_js(z1, z2):
    """``1/2 p log(p/m) + 1/2 q log(q/m)`` elementwise, p = sigma(z1), q = sigma(z2), m = (p+q)/2."""
    p = tf.maximum(tf.sigmoid(tf.cast(z1, tf.float32)), PROBABILITY_FLOOR)
    q = tf.maximum(tf.sigmoid(tf.cast(z2, tf.float32)), PROBABILITY_FLOOR)
    m = 0.5 * (p + q)
    return 0.5 * p * tf.math.log(p / m) + 0.5 * q * tf.math.log(q / m)


def _channel_sums(z1, z2):
    """Per-channel sums of the pointwise JS over every axis but the last, and the count per channel."""
    js = _pointwise_js(z1, z2)
    js = tf.reshape(js, [-1, tf.shape(js)[-1]])
    return tf.reduce_sum(js, axis=0), tf.shape(js)[0]


def sigmoid_js_divergence(z1, z2) -> np.ndarray:
    """Per-channel D_JS of sigmoid activations (eqs. 5.1-5.3, 5.4 without weights).

    Args:
        z1, z2: pre-affine activations ``[N, ..., c]`` of two networks on the same N samples.

    Returns:
        ``[c]`` (float64): for each channel the mean over samples and positions of
        the pointwise JS divergence.

    Example:
        >>> float(sigmoid_js_divergence(np.zeros((4, 1)), np.zeros((4, 1)))[0])
        0.0
    """
    z1, z2 = tf.convert_to_tensor(z1), tf.convert_to_tensor(z2)
    if z1.shape != z2.shape or z1.shape.rank < 2:
        raise ValueError(f"sigmoid_js_divergence: z1 and z2 must have the same shape [N, ..., c], got "
                         f"{z1.shape} and {z2.shape}.")
    sums, count = _channel_sums(z1, z2)
    return sums.numpy().astype(np.float64) / max(int(count), 1)


def compatibility(z1, z2, importance) -> float:
    """Eq. 5.8: ``C = sum_k I_k * D_JS_k`` (mean over positions inside each channel).

    Args:
        z1, z2: pre-affine activations ``[N, ..., c]``.
        importance: channel weights ``[c]`` (e.g. :func:`channel_importance`).

    Example:
        >>> compatibility(np.zeros((2, 3)), np.zeros((2, 3)), [0.2, 0.3, 0.5])
        0.0
    """
    js = sigmoid_js_divergence(z1, z2)
    return _weighted(js, importance, "compatibility")


def _weighted(js: np.ndarray, importance, who: str) -> float:
    w = np.asarray(keras.ops.convert_to_numpy(importance), dtype=np.float64)
    if w.shape != js.shape:
        raise ValueError(f"{who}: importance has shape {w.shape}, the activations have {js.shape[0]} channels; "
                         "give one weight per channel.")
    return float(np.dot(w, js))


# ------------------------------------------------------ networks and blocks
def _last_batch_norm(network, block: str):
    layer = network.block_layer(block)
    if isinstance(layer, keras.layers.BatchNormalization):
        return layer, layer, []
    bns = [sub for sub in getattr(layer, "layers", []) if isinstance(sub, keras.layers.BatchNormalization)]
    if not bns:
        raise ValueError(f"Block {block!r} of {network.name!r} has no BatchNormalization among its layers; "
                         f"{_BN_FIX} (e.g. conv -> BatchNormalization -> ReLU, as in "
                         "mtlzoo.models.backbones.lenet.conv_bn_block).")
    return layer, bns[-1], list(layer.layers)


def block_importance(network, block: str) -> np.ndarray:
    """Eq. 5.7 for ``block``: :func:`channel_importance` of the gamma of its last batch norm.

    Example:
        >>> model = mtlzoo.models.get("lenet_bn_tree", width=2)
        >>> round(float(block_importance(model, "conv2").sum()), 6)
        1.0
    """
    _, bn, _ = _last_batch_norm(network, block)
    if not bn.scale:
        return np.full(int(bn.moving_mean.shape[0]), 1.0 / int(bn.moving_mean.shape[0]))
    return channel_importance(bn.gamma)


class _PreAffine:
    """Callable ``x -> z`` (pre-affine activations of one block of one network, inference mode)."""

    def __init__(self, network, block: str):
        tree = network.tree
        if block not in tree.blocks:
            raise ValueError(f"Unknown block {block!r} in {network.name!r}; blocks: {list(tree.blocks)}.")
        path = tree.path(tree.tasks_of(block)[0])
        self.ancestors = [network.block_layer(b) for b in path[: path.index(block)]]
        layer, self.bn, layers = _last_batch_norm(network, block)
        if layer is self.bn:
            self.prefix = lambda z: z
        elif isinstance(layer, keras.Sequential):
            head = layers[: layers.index(self.bn)]
            self.prefix = lambda z: _apply(head, z)
        else:
            try:
                sub = keras.Model(layer.inputs, self.bn.input)
            except Exception as err:  # not a functional model, or the BN is called twice
                raise ValueError(f"Block {block!r} of {network.name!r}: cannot reach the input of its last "
                                 f"BatchNormalization {self.bn.name!r} ({err}); make the block a "
                                 "keras.Sequential or a functional model.") from err
            self.prefix = lambda z: sub(z, training=False)
        spec = getattr(network, "_input_spec_config", {})
        self.input_name = spec.get("input_name")
        self.input_dtype = spec.get("input_dtype", "float32")
        self.block, self.network_name = block, network.name
        self.channels = int(self.bn.moving_mean.shape[0])

    def __call__(self, x):
        if isinstance(x, Mapping):
            x = x[self.input_name]
        z = tf.cast(x, self.input_dtype)
        z = _apply(self.ancestors, z)
        u = tf.cast(self.prefix(z), tf.float32)
        u = _channels_last(u, self.bn.axis)
        mean = tf.cast(self.bn.moving_mean, tf.float32)
        var = tf.cast(self.bn.moving_variance, tf.float32)
        return (u - mean) / tf.sqrt(var + self.bn.epsilon)


def _channels_last(u, axis):
    axis = axis if isinstance(axis, int) else list(axis)[0]
    rank = u.shape.rank
    axis = axis % rank
    if axis == rank - 1:
        return u
    return tf.transpose(u, [d for d in range(rank) if d != axis] + [axis])


def _apply(layers, z):
    for layer in layers:
        z = layer(z, training=False)
    return z


def pre_affine_activations(network, block: str, x):
    """The pre-affine activations ``[batch, ..., c]`` of ``block``'s last batch norm on one batch ``x``.

    Args:
        network: a :class:`mtlzoo.TreeNetwork`.
        block: the block's name.
        x: one batch of inputs (array, tensor, or ``{input_name: tensor}``).

    Raises:
        ValueError: the block has no ``BatchNormalization`` (split search needs one in every searched block).

    Example:
        >>> import numpy as np
        >>> model = mtlzoo.models.get("lenet_bn_tree", width=2)
        >>> tuple(pre_affine_activations(model, "conv1", np.zeros((8, 28, 28, 1), "float32")).shape)
        (8, 24, 24, 2)
    """
    return _PreAffine(network, block)(x)


# ---------------------------------------------------------------- streaming
def _batches(dataset, max_batches: int | None):
    """Input batches of ``dataset`` (``x``, ``(x, y)`` or ``(x, y, w)`` elements, or a NumPy array)."""
    if max_batches is not None and (int(max_batches) != max_batches or max_batches < 1):
        raise ValueError(f"max_batches must be a positive integer or None, got {max_batches!r}.")
    if isinstance(dataset, np.ndarray):
        stream = (dataset[i:i + ARRAY_BATCH_SIZE] for i in range(0, len(dataset), ARRAY_BATCH_SIZE))
    elif isinstance(dataset, tf.data.Dataset):
        if max_batches is None and dataset.cardinality() == tf.data.INFINITE_CARDINALITY:
            raise ValueError("The dataset repeats forever; pass max_batches=<number of batches> (or a "
                             "dataset with .take(n)).")
        stream = iter(dataset)
    else:
        raise ValueError(f"dataset must be a tf.data.Dataset of (x, y[, w]) batches or a NumPy array of "
                         f"inputs, got {type(dataset).__name__}.")
    for i, element in enumerate(stream):
        if max_batches is not None and i >= max_batches:
            return
        yield element[0] if isinstance(element, (tuple, list)) else element


def pairwise_channel_divergence(networks: Sequence, block: str, dataset, pairs: Sequence[tuple[int, int]],
                                max_batches: int | None = None) -> np.ndarray:
    """Per-channel D_JS of ``block`` between ``networks[a]`` and ``networks[b]`` for each pair, in one pass.

    Streams the dataset once: every network's pre-affine activations of a batch
    are computed once (in a ``tf.function``) and reduced to per-channel sums
    right away, so the dataset's activations are never held in memory.

    Args:
        networks: tree networks that all have ``block`` (same channel count).
        block: the block's name.
        dataset: see :func:`network_compatibility`.
        pairs: ``[(a, b), ...]`` indices into ``networks``.
        max_batches: stop after this many batches (default: the whole dataset).

    Returns:
        ``[len(pairs), c]`` float64.

    Example:
        >>> pairwise_channel_divergence([net, net], "conv1", x, [(0, 1)])   # doctest: +SKIP
    """
    fns = [_PreAffine(net, block) for net in networks]
    channels = {f.channels for f in fns}
    if len(channels) != 1:
        raise ValueError(f"Block {block!r} has different channel counts in the networks "
                         f"{[(f.network_name, f.channels) for f in fns]}; compare networks of one architecture.")
    pairs = [(int(a), int(b)) for a, b in pairs]
    used = sorted({i for pair in pairs for i in pair})

    @tf.function(reduce_retracing=True)
    def step(x):
        zs = {i: fns[i](x) for i in used}
        sums, counts = zip(*(_channel_sums(zs[a], zs[b]) for a, b in pairs))
        return tf.stack(sums), counts[0]

    total = np.zeros((len(pairs), channels.pop()), dtype=np.float64)
    count = 0
    for x in _batches(dataset, max_batches):
        sums, n = step(tf.nest.map_structure(tf.convert_to_tensor, x))
        total += sums.numpy()
        count += int(n)
    if count == 0:
        raise ValueError(f"The dataset gave no samples for block {block!r}; pass a non-empty dataset.")
    return total / count


def network_compatibility(net_a, net_b, block: str, dataset, max_batches: int | None = None) -> float:
    """Eq. 5.8 between two networks at ``block``: ``C(z_i^A || z_i^B)``, streamed over a dataset.

    The channel weights are the mean of both networks' importance vectors
    (:func:`block_importance`), so ``C(A||B) == C(B||A)``.

    Args:
        net_a, net_b: tree networks that both contain ``block``.
        block: the block i (needs a ``BatchNormalization``).
        dataset: a ``tf.data.Dataset`` of ``x``, ``(x, y)`` or ``(x, y, w)`` batches,
            or a NumPy array of inputs (batched by :data:`ARRAY_BATCH_SIZE`).
        max_batches: stop after this many batches.

    Example:
        >>> network_compatibility(peeled["mnist"], model, "conv2", ds, max_batches=4)  # doctest: +SKIP
        0.0123
    """
    js = pairwise_channel_divergence([net_a, net_b], block, dataset, [(0, 1)], max_batches)[0]
    importance = 0.5 * (block_importance(net_a, block) + block_importance(net_b, block))
    return _weighted(js, importance, "network_compatibility")
