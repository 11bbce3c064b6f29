"""``RunFolderCallback``: after every epoch, the history row, the checkpoint and the backup, each written atomically."""

from __future__ import annotations

import keras

from mtlzoo.cli.run_folder import RunFolder


class RunFolderCallback(keras.callbacks.Callback):
    """Write a finished epoch into a :class:`RunFolder`: ``history.csv``, ``checkpoints/last.keras``, ``backup/``.

    It replaces ``keras.callbacks.CSVLogger``, ``ModelCheckpoint`` and
    ``BackupAndRestore``, whose writes are not atomic (a kill mid-write left a
    truncated ``last.keras`` or an unreadable backup). The order makes a kill at any
    point recoverable: the history row and the checkpoint come first, the backup's
    commit record last, so after a kill the backup is at most one epoch behind the
    other two; the resumed run trims that history row and retrains the epoch into the
    same state (resuming is exact: :class:`mtlzoo.data.EpochClock`). Restoring is done
    before ``fit`` (:meth:`RunFolder.restore`, then ``fit(initial_epoch=...)``).

    Args:
        run: the run folder (or its path).

    Example:
        >>> import tempfile, mtlzoo
        >>> run = RunFolder(tempfile.mkdtemp())
        >>> model = mtlzoo.models.get("multimnist_lenet", width=2); model.compile()
        >>> ds = mtlzoo.data.get("multidigits", batch_size=512, limit=8)
        >>> _ = model.fit(ds, epochs=1, callbacks=[RunFolderCallback(run)], verbose=0)
        >>> run.epochs_done(), run.checkpoint_path.exists(), [r["epoch"] for r in run.history_rows()]
        (1, True, [0])
    """

    def __init__(self, run):
        super().__init__()
        self.run = run if isinstance(run, RunFolder) else RunFolder(run)

    def on_epoch_end(self, epoch, logs=None):
        self.run.append_history(epoch, logs or {})
        self.run.save_checkpoint(self.model)
        self.run.backup.save(self.model, epoch + 1)

    def get_config(self) -> dict:
        return {"run": str(self.run.path)}

    @classmethod
    def from_config(cls, config) -> RunFolderCallback:
        return cls(**config)
