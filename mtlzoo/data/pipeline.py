"""Vectorized tf.data pipelines over in-memory arrays: shuffle indices, gather whole batches, prefetch.

The arrays stay as compact uint8 tensors; each batch is one ``tf.gather`` plus
one cast, so a pipeline feeds tens of thousands of examples per second.

Shuffles are stateless: the order of training epoch ``e`` is a permutation drawn from
``(seed, e)`` alone while :class:`~mtlzoo.data.EpochClock` runs in ``fit`` (``mtlzoo train``
adds it), so a run resumed after epoch ``k`` replays epoch ``k + 1`` exactly; see
:mod:`mtlzoo.data.epoch_clock`.

>>> import numpy as np
>>> ds = array_dataset(np.zeros((5, 2, 2), "uint8"), {"a": np.arange(5, dtype="int32")}, batch_size=2, seed=0)
>>> [tuple(x.shape) for x, _ in ds]
[(2, 2, 2, 1), (2, 2, 2, 1), (1, 2, 2, 1)]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from mtlzoo.data.epoch_clock import pass_seeds, scalar_seed
from mtlzoo.data.options import check_batch_size

AUTOTUNE = tf.data.AUTOTUNE


def to_float_images(x: tf.Tensor) -> tf.Tensor:
    """uint8 images ``(B, H, W)`` or ``(B, H, W, C)`` -> float32 in [0, 1] with a channel axis.

    Args:
        x: a batch of uint8 images.

    Example:
        >>> to_float_images(tf.fill([1, 2, 2], tf.constant(255, tf.uint8))).shape.as_list()
        [1, 2, 2, 1]
    """
    x = tf.cast(x, tf.float32) / 255.0
    return x[..., None] if x.shape.rank == 3 else x


def index_dataset(n: int, seed: int, shuffle: bool, repeat: bool = False, salt: int = 0) -> tf.data.Dataset:
    """Indices ``0..n-1``, in a new order every pass (epoch) when ``shuffle``.

    The order of a pass is ``stateless_shuffle(range(n))`` seeded by :func:`pass_seeds`: a
    function of ``(seed, salt, epoch)`` while :class:`~mtlzoo.data.EpochClock` runs in ``fit``.

    Args:
        n: number of rows.
        seed: the shuffle seed.
        shuffle: shuffle (a full permutation, a new one each pass).
        repeat: repeat forever (each repetition within a pass in its own order).
        salt: separates pipelines that share ``seed``.

    Example:
        >>> sorted(int(i) for i in index_dataset(4, seed=0, shuffle=True))
        [0, 1, 2, 3]
    """
    if not shuffle:
        ds = tf.data.Dataset.range(n)
        return ds.repeat() if repeat else ds

    def one_pass(pass_seed):
        def order(repetition):
            seed_r = tf.random.experimental.stateless_fold_in(pass_seed, repetition)
            return tf.data.Dataset.from_tensor_slices(
                tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=seed_r))

        return tf.data.Dataset.counter().flat_map(order) if repeat else order(tf.constant(0, tf.int64))

    ds = pass_seeds(seed, salt).flat_map(one_pass)
    return ds.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY if repeat else n))


def epoch_shuffle(ds: tf.data.Dataset, buffer_size: int, seed: int, repeat: bool = False,
                  salt: int = 0) -> tf.data.Dataset:
    """``ds.shuffle(buffer_size)`` whose seed for each pass comes from :func:`pass_seeds` (stateless per epoch).

    For streams read from files (tensorflow-datasets), where a full index permutation is not at hand.

    Args:
        ds: the examples (unbatched).
        buffer_size: the shuffle buffer.
        seed: the shuffle seed.
        repeat: repeat forever, each repetition within a pass shuffled with its own seed.
        salt: separates pipelines that share ``seed``.

    Example:
        >>> sorted(int(i) for i in epoch_shuffle(tf.data.Dataset.range(5), 5, seed=1))
        [0, 1, 2, 3, 4]
    """
    cardinality = int(ds.cardinality())

    def one_pass(pass_seed):
        def shuffled(repetition):
            seed_r = scalar_seed(tf.random.experimental.stateless_fold_in(pass_seed, repetition))
            # shuffle() pairs a tensor op seed with the graph seed and then compares the pair with (0, 0) in
            # Python, which fails for a global seed of 0; this traced function's graph gets no graph seed
            graph = tf.compat.v1.get_default_graph()
            saved, graph.seed = graph.seed, None
            try:
                return ds.shuffle(int(buffer_size), seed=seed_r, reshuffle_each_iteration=False)
            finally:
                graph.seed = saved

        return tf.data.Dataset.counter().flat_map(shuffled) if repeat else shuffled(tf.constant(0, tf.int64))

    out = pass_seeds(seed, salt).flat_map(one_pass)
    if repeat:
        return out.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))
    return out.apply(tf.data.experimental.assert_cardinality(cardinality)) if cardinality >= 0 else out


def array_dataset(x: np.ndarray, labels: Mapping[str, np.ndarray], batch_size: int, seed: int = 0,
                  shuffle: bool = True, weights: Mapping[str, np.ndarray] | None = None,
                  drop_remainder: bool = False, image_fn=to_float_images) -> tf.data.Dataset:
    """``(x, {task: y})`` (or with ``{task: w}``) batches from arrays held in memory.

    Args:
        x: uint8 images, one per row.
        labels: ``{task: array}``, one label per row.
        batch_size: rows per batch.
        seed: shuffling seed; the same seed gives the same epochs.
        shuffle: reshuffle every epoch.
        weights: optional ``{task: per-row weight}`` (adds the third element).
        drop_remainder: drop the last, smaller batch.
        image_fn: turns a gathered uint8 batch into the model input.

    Example:
        >>> ds = array_dataset(np.zeros((4, 2, 2), "uint8"), {"t": np.zeros(4, "int32")}, 4, shuffle=False)
        >>> x, y = next(iter(ds)); float(x.numpy().max()), y["t"].shape.as_list()
        (0.0, [4])
    """
    check_batch_size(batch_size)
    n = len(x)
    bad = [t for t, y in {**labels, **(weights or {})}.items() if len(y) != n]
    if bad:
        raise ValueError(f"Labels/weights of task(s) {bad} do not have one row per input ({n}).")
    xs = tf.constant(x)
    ys = {t: tf.constant(y) for t, y in labels.items()}
    ws = None if weights is None else {t: tf.constant(w, tf.float32) for t, w in weights.items()}

    def gather(idx):
        batch = (image_fn(tf.gather(xs, idx)), {t: tf.gather(y, idx) for t, y in ys.items()})
        return batch if ws is None else (*batch, {t: tf.gather(w, idx) for t, w in ws.items()})

    ds = index_dataset(n, seed, shuffle).batch(batch_size, drop_remainder=drop_remainder)
    return ds.map(gather, num_parallel_calls=AUTOTUNE, deterministic=True).prefetch(AUTOTUNE)


def array_stream(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int = 0, shuffle: bool = True,
                 repeat: bool = False, weights: np.ndarray | None = None,
                 image_fn=to_float_images) -> tf.data.Dataset:
    """One task's ``(x, y, w)`` batches from arrays (``w`` is 1 unless ``weights`` is given), for mixing.

    Args:
        x: uint8 images, one per row.
        y: the task's labels.
        batch_size: rows per batch.
        seed: shuffling seed.
        shuffle: reshuffle every epoch.
        repeat: repeat forever (for the ``mixed``/``alternate``/``sampled`` modes).
        weights: per-row weights (0 where the label is missing).
        image_fn: turns a gathered uint8 batch into the model input.

    Example:
        >>> s = array_stream(np.zeros((3, 2, 2), "uint8"), np.arange(3, dtype="int32"), 2, shuffle=False)
        >>> [w.numpy().tolist() for _, _, w in s]
        [[1.0, 1.0], [1.0]]
    """
    check_batch_size(batch_size)
    xs, ys = tf.constant(x), tf.constant(y)
    ws = tf.constant(np.ones(len(x), np.float32) if weights is None else np.asarray(weights, np.float32))

    def gather(idx):
        return image_fn(tf.gather(xs, idx)), tf.gather(ys, idx), tf.gather(ws, idx)

    ds = index_dataset(len(x), seed, shuffle, repeat).batch(batch_size)
    return ds.map(gather, num_parallel_calls=AUTOTUNE, deterministic=True)
