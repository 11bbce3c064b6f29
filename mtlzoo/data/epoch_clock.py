"""``EpochClock``: everything random in training epoch ``e`` becomes a function of ``(seed, e)`` only.

A shuffled mtlzoo pipeline (:func:`mtlzoo.data.pipeline.index_dataset` and the loaders built on
it) draws each pass's order from :func:`pass_seeds`: while an :class:`EpochClock` callback runs
inside ``fit``, the pass of epoch ``e`` uses the stateless seed ``fold_in((seed, salt), e)``, so
the order of epoch ``e`` does not depend on how many passes the process made before: a run
resumed after epoch ``k`` (``BackupAndRestore``, ``initial_epoch=k``) replays epoch ``k + 1``
exactly as the uninterrupted run saw it. The callback likewise resets every Keras
``SeedGenerator`` of the model (dropout masks, noise layers) at the start of epoch ``e`` to a
state derived from its initial seed and ``e``; Keras does not save those states with the weights.

Outside such a ``fit`` (the clock reads -1) a pipeline draws a fresh seed for every pass, like
``tf.data``'s ``reshuffle_each_iteration``: deterministic for a given seed and sequence of passes.

Departure from ``tf.data``'s own ``reshuffle_each_iteration``: that shuffle seeds each pass from
a counter of iterators created so far, which a new process restarts at 0; here the epoch number
is the counter, read from a process-wide ``tf.Variable`` the callback sets.

>>> import keras
>>> isinstance(EpochClock(), keras.callbacks.Callback)
True
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

_EPOCH: list = []  # the process-wide epoch variable, created on first use (not at import: see epoch_variable)


def epoch_variable() -> tf.Variable:
    """The process-wide ``int64`` epoch number that shuffled pipelines read (-1 outside ``fit``).

    Created on first use rather than at import, so importing mtlzoo does not start the
    TensorFlow runtime (a script may still configure its devices).
    """
    if not _EPOCH:
        with tf.init_scope():
            _EPOCH.append(tf.Variable(-1, dtype=tf.int64, trainable=False, name="mtlzoo_epoch"))
    return _EPOCH[0]


def pass_seeds(seed: int, salt: int = 0) -> tf.data.Dataset:
    """A dataset of one stateless seed (``int64[2]``) per pass: from ``(seed, salt, epoch)`` while the clock runs.

    Args:
        seed: the pipeline's seed.
        salt: separates pipelines that share ``seed`` (e.g. one stream per task).

    Example:
        >>> a = [s.numpy().tolist() for s in pass_seeds(3)]
        >>> len(a), len(a[0])
        (1, 2)
    """
    base = tf.constant([int(seed), int(salt)], tf.int64)
    clock = epoch_variable()

    def choose(fresh):
        epoch = clock.read_value()
        return tf.cond(epoch >= 0, lambda: tf.random.experimental.stateless_fold_in(base, epoch),
                       lambda: tf.stack([fresh, base[1]]))

    fresh = tf.data.Dataset.random(seed=int(seed), rerandomize_each_iteration=True).take(1)
    return fresh.map(choose)


def scalar_seed(pass_seed: tf.Tensor) -> tf.Tensor:
    """An ``int64`` scalar op seed (for ``Dataset.shuffle``) derived from a stateless seed pair."""
    return tf.random.stateless_uniform([], seed=pass_seed, minval=1, maxval=2**62, dtype=tf.int64)


class EpochClock(keras.callbacks.Callback):
    """Sets the epoch clock at the start of every epoch and reseeds the model's seed generators.

    Add it to ``fit``'s callbacks (``mtlzoo train`` does) to make a resumed run replay the
    data order and the dropout masks of the uninterrupted one; see the module docstring.
    It takes no arguments: a pipeline's order comes from its own ``seed``, a seed
    generator's from its initial state.

    Example:
        >>> import mtlzoo
        >>> ds = mtlzoo.data.get("multidigits", split="train", batch_size=512, limit=8)
        >>> model = mtlzoo.models.get("multimnist_lenet", width=2); model.compile()
        >>> _ = model.fit(ds, epochs=2, callbacks=[EpochClock()], verbose=0, shuffle=False)
        >>> int(epoch_variable().numpy())  # back to "no epoch" after fit
        -1
    """

    def on_epoch_begin(self, epoch, logs=None):
        epoch_variable().assign(int(epoch))
        for generator in _seed_generators(self.model):
            state = generator.state
            if not hasattr(generator, "_mtlzoo_initial_seed"):
                generator._mtlzoo_initial_seed = int(np.asarray(state.numpy()).reshape(-1)[0])
            mixed = int(np.random.default_rng([generator._mtlzoo_initial_seed % 2**63, int(epoch)])
                        .integers(1, 2**31 - 1))
            state.assign(np.array([mixed, 0], dtype=np.dtype(state.dtype)))

    def on_train_end(self, logs=None):
        epoch_variable().assign(-1)

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config) -> EpochClock:
        return cls(**config)


def _seed_generators(model) -> list:
    """Every ``keras.random.SeedGenerator`` the model's layers hold (dropout, noise), each once."""
    if model is None:
        return []
    found, seen = [], set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        for generator in getattr(layer, "_seed_generators", ()) or ():
            if id(generator) not in seen:
                seen.add(id(generator))
                found.append(generator)
    return found
