"""Tells the model's balancer that an epoch ended (the hybrid switch) and logs what it says."""

from __future__ import annotations

import keras


class BalancerCallback(keras.callbacks.Callback):
    """Calls ``model.balancer.on_epoch_end(epoch)`` after every training epoch.

    ``MultiTaskModel.fit`` adds it first in the callback list, so the
    balancer's epoch-end state (e.g. the hybrid phase) is updated before
    ``ModelCheckpoint`` or ``BackupAndRestore`` save it; its values join the
    epoch's logs (e.g. ``hybrid_phase``).

    Example:
        >>> model.fit(ds, epochs=3, callbacks=[BalancerCallback()])   # doctest: +SKIP
    """

    def on_epoch_end(self, epoch, logs=None):
        balancer = getattr(self.model, "balancer", None)
        if balancer is None:
            return
        values = balancer.on_epoch_end(epoch)
        if logs is not None and values:
            logs.update(values)
