"""Tells the model's balancer that an epoch ended (the hybrid switch) and logs what it says."""

from __future__ import annotations

import keras


class BalancerCallback(keras.callbacks.Callback):
    """Calls ``on_epoch_end(epoch)`` of the model's balancer and line search after every training epoch.

    ``MultiTaskModel.fit`` adds it first in the callback list, so the
    balancer's epoch-end state (e.g. the hybrid phase) is updated before
    ``ModelCheckpoint`` or ``BackupAndRestore`` save it; its values join the
    epoch's logs (e.g. ``hybrid_phase``).

    Example:
        >>> model.fit(ds, epochs=3, callbacks=[BalancerCallback()])   # doctest: +SKIP
    """

    def on_epoch_end(self, epoch, logs=None):
        for helper in (getattr(self.model, "balancer", None), getattr(self.model, "line_search", None)):
            if helper is None:
                continue
            values = helper.on_epoch_end(epoch)
            if logs is not None and values:
                logs.update(values)
