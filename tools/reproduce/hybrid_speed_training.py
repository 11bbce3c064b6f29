"""One unit of ``hybrid_speed``: train ``multimnist_lenet`` with one balancer and one seed, timing each epoch.

The wall time is training only: a callback takes ``time.perf_counter()`` when an
epoch begins and when the epoch's validation begins (``on_test_begin``; at
``on_epoch_end`` when there is no validation), so the per-epoch evaluation on
the test split is not counted. The first epoch includes tracing the train step.

>>> BALANCERS
('uniform', 'gradnorm', 'mgda', 'mgda_ub', 'hybrid')
"""

from __future__ import annotations

import time

import keras

#: The dataset (``mtlzoo.data`` name); the tests switch it to the offline ``multidigits``.
DATASET = "multimnist"
#: Seed 002 §4.1's batch size.
BATCH_SIZE = 256
#: The balancers compared, in seed 000 Fig. 6's order plus exact MGDA (seed 000 §4.5: (a)-(d)).
BALANCERS = ("uniform", "gradnorm", "mgda", "mgda_ub", "hybrid")
#: The balancers that log ``pareto_stationary`` (seed 000 Fig. 4).
MIN_NORM = ("mgda", "mgda_ub", "hybrid")


class _TrainingClock(keras.callbacks.Callback):
    """Seconds of training per epoch: from ``on_epoch_begin`` to the validation's start (or the epoch's end)."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = None
        self._stop = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._stop = time.perf_counter(), None

    def on_test_begin(self, logs=None):
        if self._start is not None and self._stop is None:
            self._stop = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        stop = self._stop if self._stop is not None else time.perf_counter()
        self.seconds.append(stop - self._start)
        self._start = None


def load_data(options, seed: int):
    """The seeded train and test pipelines (batch 256), capped by ``options.limit`` examples.

    Args:
        options: a :class:`~mtlzoo.tools.reproduce.ReproduceOptions` (``data_dir``, ``limit``).
        seed: the pairing and shuffling seed (the same seed gives every balancer the same batches).

    Returns:
        ``(train, test)``; with a limit, ``limit`` training and ``limit // 6`` (at least 1) test examples.

    Example:
        >>> from mtlzoo.tools.reproduce import ReproduceOptions
        >>> train, test = load_data(ReproduceOptions(limit=512), seed=0)  # doctest: +SKIP
    """
    import mtlzoo

    # the loader's limit keeps the same examples every epoch (take() on a reshuffled stream would not)
    limits = {"train": options.limit, "test": max(2, options.limit // 6) if options.limit else None}
    train, test = (mtlzoo.data.get(DATASET, split=split, batch_size=BATCH_SIZE, data_dir=options.data_dir, seed=seed,
                                   limit=limits[split]) for split in ("train", "test"))
    return train, test


def build_model(options):
    """``multimnist_lenet`` (``options.width`` if given) with the zoo's recipe (SGD 0.01, momentum 0.9)."""
    import mtlzoo

    kwargs = {"width": options.width} if options.width else {}
    return mtlzoo.models.get("multimnist_lenet", **kwargs)


def train_unit(balancer: str, seed: int, epochs: int, options) -> dict:
    """Train one balancer from the seed's initial weights; the per-epoch history and training seconds.

    Every balancer of a seed starts from the same weights (the model is built
    right after seeding, before anything else draws random numbers) and sees the
    same batches (the pipelines are seeded); ``initial_test`` (the test losses
    before training) lets the report check that.

    Args:
        balancer: a balancer name from :data:`BALANCERS` (or any registered one).
        seed: the seed of weights, pairs and batches.
        epochs: training epochs.
        options: the :class:`~mtlzoo.tools.reproduce.ReproduceOptions`.

    Returns:
        ``{"balancer", "seed", "epochs", "seconds": [per epoch], "initial_test": {...},
        "history": {log: [per epoch]}}``; ``history`` holds ``loss`` (the sum of the
        task losses), ``<task>_loss``, ``val_*`` (the test split) and balancer logs.

    Example:
        >>> from mtlzoo.tools.reproduce import ReproduceOptions
        >>> train_unit("uniform", 0, 1, ReproduceOptions(limit=256, width=2))["epochs"]  # doctest: +SKIP
        1
    """
    from mtlzoo.seeding import seed_everything

    keras.backend.clear_session()
    seed_everything(seed)
    model = build_model(options)
    train, test = load_data(options, seed)
    model.compile(balancer=balancer)
    initial = model.evaluate(test, verbose=0, return_dict=True)
    clock = _TrainingClock()
    history = model.fit(train, epochs=epochs, validation_data=test, verbose=0, callbacks=[clock])
    return {"balancer": balancer, "seed": seed, "epochs": epochs, "seconds": clock.seconds,
            "initial_test": {k: float(v) for k, v in initial.items()},
            "history": {k: [float(x) for x in v] for k, v in history.history.items()}}
