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
        >>> import numpy as np
        >>> from mtlzoo.testing import tiny_tree_network
        >>> from mtlzoo.training import MultiTaskModel
        >>> model = tiny_tree_network(model_class=MultiTaskModel)           # tasks a, b, c
        >>> x = np.ones((4, 3), "float32")
        >>> y = {"a": np.zeros((4, 2), "float32"), "b": np.zeros((4, 3), "float32"), "c": np.zeros((4, 4), "float32")}
        >>> model.compile(optimizer="sgd", loss="mse", balancer="hybrid")
        >>> history = model.fit(x, y, epochs=2, verbose=0)      # fit adds a BalancerCallback itself
        >>> len(history.history["hybrid_phase"])                # 0: GradNorm, 1: MGDA-UB, once per epoch
        2
    """

    def on_epoch_end(self, epoch, logs=None):
        for helper in (getattr(self.model, "balancer", None), getattr(self.model, "line_search", None)):
            if helper is None:
                continue
            values = helper.on_epoch_end(epoch)
            if logs is not None and values:
                logs.update(values)
