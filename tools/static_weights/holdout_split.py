"""``HoldoutSplit``: a deterministic validation set carved out of a dataset's training split.

MultiMNIST (and MultiDigits) have no validation split, and tuning on the test
split would leak it into the result. So the training split is read once in its
stored order (the loader's ``shuffle=False``: ``mtlzoo.data.get`` reshuffles
the training split every epoch, and a reshuffling pipeline cannot be split
with ``take``/``skip``), optionally cut to its first ``limit`` examples, and
held in memory; the *last* ``validation_fraction`` of those rows is the
validation set and the rest trains. The test split is never touched. Small
data only: MultiMNIST's 60k images take about 190 MB as float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Examples per batch while reading the training split into memory.
READ_BATCH = 2048


@dataclass(frozen=True)
class HoldoutSplit:
    """Training and validation rows of one dataset's training split, in memory.

    Build it with :meth:`from_data`. Rows ``[0, num_train)`` train, rows
    ``[num_train, num_train + num_validation)`` validate.

    Args:
        x: the inputs, one row per example (as the loader yields them, e.g. float32 images).
        labels: ``{task: labels}``.
        weights: ``{task: per-example sample weight}`` or ``None`` (the loader yielded none).
        num_train: the training rows.
        batch_size: examples per batch of both pipelines.
        seed: the training pipeline's shuffling seed.

    Example:
        >>> split = HoldoutSplit.from_data("multidigits", batch_size=64, validation_fraction=0.25, limit=400)
        >>> split.num_train, split.num_validation
        (300, 100)
        >>> x, y = next(iter(split.validation())); tuple(x.shape)
        (64, 28, 28, 1)
    """

    x: np.ndarray
    labels: dict[str, np.ndarray]
    weights: dict[str, np.ndarray] | None
    num_train: int
    batch_size: int
    seed: int = 0

    @property
    def num_validation(self) -> int:
        """The validation rows (the last ones)."""
        return len(self.x) - self.num_train

    @classmethod
    def from_data(cls, data: str, batch_size: int, validation_fraction: float = 0.1, limit: int | None = None,
                  seed: int = 0, data_dir=None) -> HoldoutSplit:
        """Read ``data``'s training split in its stored order and hold out its last rows.

        Args:
            data: a dataset name of :func:`mtlzoo.data.get` whose loader has a ``shuffle`` option.
            batch_size: examples per batch of the pipelines.
            validation_fraction: the share of the (limited) training rows held out, in (0, 1).
            limit: keep only the first ``limit`` training rows (``None``: all).
            seed: the dataset's seed (e.g. MultiMNIST's partner choice) and the training shuffle.
            data_dir: where the loader finds its files.

        Raises:
            ValueError: a fraction outside (0, 1), a bad limit, a split leaving no
                training or no validation row, or a dataset without ``shuffle=False``.
            mtlzoo.data.DataNotFoundError: the dataset's files are missing.
        """
        import mtlzoo

        if not 0.0 < float(validation_fraction) < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction!r}; "
                             "e.g. 0.1 holds out the last 10% of the training split.")
        if limit is not None and (isinstance(limit, bool) or int(limit) < 2):
            raise ValueError(f"limit must be an integer >= 2 (training plus validation rows), got {limit!r}.")
        try:
            ds = mtlzoo.data.get(data, split="train", batch_size=READ_BATCH, data_dir=data_dir, seed=seed,
                                 shuffle=False)
        except ValueError as e:
            if "shuffle" not in str(e):
                raise
            raise ValueError(f"Cannot hold out validation rows of dataset {data!r}: its loader cannot read the "
                             f"training split unshuffled (no shuffle=False option). ({e})") from None
        x, labels, weights = _read(ds, limit)
        n = len(x)
        n_val = int(round(n * float(validation_fraction)))
        if n_val < 1 or n_val >= n:
            raise ValueError(f"validation_fraction {validation_fraction} of {n} training rows leaves "
                             f"{n - n_val} to train and {n_val} to validate; raise the limit or change the fraction.")
        return cls(x, labels, weights, n - n_val, int(batch_size), int(seed))

    def train(self):
        """A fresh training pipeline: the first ``num_train`` rows, reshuffled every epoch from ``seed``.

        Each call starts the same sequence of epochs, so every trial of a search
        sees the same batches.
        """
        return self._pipeline(0, self.num_train, shuffle=True)

    def validation(self):
        """The validation pipeline: the last ``num_validation`` rows in order."""
        return self._pipeline(self.num_train, len(self.x), shuffle=False)

    def _pipeline(self, start: int, stop: int, shuffle: bool):
        import tensorflow as tf

        from mtlzoo.data.pipeline import AUTOTUNE, index_dataset

        xs = tf.constant(self.x[start:stop])
        ys = {t: tf.constant(y[start:stop]) for t, y in self.labels.items()}
        ws = None if self.weights is None else {t: tf.constant(w[start:stop]) for t, w in self.weights.items()}

        def gather(idx):
            batch = (tf.gather(xs, idx), {t: tf.gather(y, idx) for t, y in ys.items()})
            return batch if ws is None else (*batch, {t: tf.gather(w, idx) for t, w in ws.items()})

        ds = index_dataset(stop - start, self.seed, shuffle).batch(self.batch_size)
        return ds.map(gather, num_parallel_calls=AUTOTUNE, deterministic=True).prefetch(AUTOTUNE)


def _read(ds, limit: int | None) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """The dataset's rows as NumPy arrays (the first ``limit`` of them)."""
    xs, ys, ws, count = [], {}, None, 0
    for batch in ds:
        x, y, w = _unpack(batch)
        xs.append(x.numpy())
        for t, v in y.items():
            ys.setdefault(t, []).append(v.numpy())
        if w is not None:
            ws = ws or {}
            for t, v in w.items():
                ws.setdefault(t, []).append(v.numpy())
        count += len(xs[-1])
        if limit is not None and count >= limit:
            break
    if not xs:
        raise ValueError("The training split is empty: nothing to hold out.")
    stop = count if limit is None else min(count, int(limit))

    def cat(parts: list[Any]) -> np.ndarray:
        return np.concatenate(parts)[:stop]

    return cat(xs), {t: cat(v) for t, v in ys.items()}, None if ws is None else {t: cat(v) for t, v in ws.items()}


def _unpack(batch):
    if not isinstance(batch, tuple) or len(batch) not in (2, 3) or not isinstance(batch[1], dict):
        raise ValueError("HoldoutSplit needs a dataset of (x, {task: y}) or (x, {task: y}, {task: w}) batches.")
    return batch[0], batch[1], batch[2] if len(batch) == 3 else None
