"""``RunBackup``: a run folder's ``backup/``, the training state after the last finished epoch, committed atomically."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from mtlzoo.atomic_file import atomic_file

#: The commit record: epochs done, the weights file it belongs to and that file's SHA-256.
METADATA = "training_metadata.json"
#: What ``keras.callbacks.BackupAndRestore`` (which older run folders used) names its weights.
LEGACY_WEIGHTS = "latest.weights.h5"


class RunBackup:
    """The ``backup/`` folder of a run: model weights with optimizer, balancer and line-search state.

    One backup is a weights file ``epoch-<k>.weights.h5`` (``model.save_weights``:
    every variable of the model, its optimizer and its tracked helpers) plus the
    commit record ``training_metadata.json`` = ``{"epoch": k, "batch": 0, "weights":
    "epoch-<k>.weights.h5", "sha256": ...}``. :meth:`save` writes the weights file
    through a temporary file, then the record (also atomically), then deletes older
    weights: a process killed at any point leaves the previous record and the file it
    names intact, so a backup is always whole and consistent. Folders written by
    ``keras.callbacks.BackupAndRestore`` (``latest.weights.h5``, no digest) are still read.

    Args:
        path: the ``backup/`` folder.

    Example:
        >>> import tempfile
        >>> backup = RunBackup(Path(tempfile.mkdtemp()) / "backup")
        >>> backup.epochs(), backup.exists()
        (0, False)
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunBackup({str(self.path)!r})"

    @property
    def metadata_path(self) -> Path:
        """``training_metadata.json``, the commit record."""
        return self.path / METADATA

    def exists(self) -> bool:
        """Whether a commit record is there (whole or not: see :meth:`check`)."""
        return self.metadata_path.exists()

    def epochs(self) -> int:
        """Epochs finished according to the backup (0 when there is none or it is unreadable)."""
        try:
            return self.check()
        except ValueError:
            return 0

    def weights_path(self) -> Path | None:
        """The weights file the commit record names (``None`` without a record)."""
        record = self._record()
        return None if record is None else self.path / record.get("weights", LEGACY_WEIGHTS)

    def check(self) -> int:
        """Epochs done; raise ``ValueError`` naming the file and the fix if the backup is not whole.

        Reads only: a record that is not a JSON object ``{"epoch": int >= 0, ...}``, a
        missing weights file, a weights file whose SHA-256 differs from the record's
        (truncated or changed), or a legacy weights file that is not a readable HDF5 file.
        """
        record = self._record()
        if record is None:
            return 0
        epoch, name = record.get("epoch"), record.get("weights", LEGACY_WEIGHTS)
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"{self.metadata_path} does not hold a number of finished epochs (\"epoch\": "
                             f"{_short(epoch)}); {self.fix}")
        if not isinstance(name, str) or Path(name).name != name or not name.endswith(".weights.h5"):
            raise ValueError(f"{self.metadata_path} names no weights file (\"weights\": {_short(name)}); {self.fix}")
        weights = self.path / name
        if not weights.is_file():
            raise ValueError(f"{weights} is missing (named by {METADATA}); {self.fix}")
        digest = record.get("sha256")
        if digest is not None and digest != sha256(weights):
            raise ValueError(f"{weights} is truncated or changed (its SHA-256 is not the one {METADATA} "
                             f"recorded); {self.fix}")
        if digest is None and not _readable_hdf5(weights):
            raise ValueError(f"{weights} is not a readable weights file (truncated?); {self.fix}")
        return epoch

    @property
    def fix(self) -> str:
        """The advice every backup error ends with."""
        return (f"delete {self.path} to continue from model.keras (or to retrain from scratch when there is "
                f"none), or pass a new --run-dir.")

    def save(self, model, epochs: int) -> None:
        """Back up ``model`` (weights, optimizer, balancer, line search) as having finished ``epochs`` epochs."""
        name = f"epoch-{int(epochs)}.weights.h5"
        target = self.path / name
        with atomic_file(target, suffix=".weights.h5") as tmp:
            model.save_weights(str(tmp))
        record = {"epoch": int(epochs), "batch": 0, "weights": name, "sha256": sha256(target)}
        with atomic_file(self.metadata_path, "w") as fh:
            fh.write(json.dumps(record) + "\n")
        for old in self.path.iterdir():  # the commit is done: older weights (and Keras' .bkp copies) go
            if old.name != name and old.name != METADATA and (".weights.h5" in old.name or old.name.endswith(".bkp")):
                old.unlink(missing_ok=True)

    def restore(self, model) -> int:
        """Load the backup into ``model`` (built, compiled); return the epochs it had finished (0: no backup).

        Raises:
            ValueError: the backup is not whole (:meth:`check`) or does not fit the model.
        """
        epochs = self.check()
        if not self.exists():
            return 0
        load_state(model, self.weights_path(), self.fix)
        return epochs

    def _record(self) -> dict | None:
        if not self.metadata_path.exists():
            return None
        try:
            record = json.loads(self.metadata_path.read_bytes())
        except IsADirectoryError:
            raise ValueError(f"{self.metadata_path} is a folder, not a file; {self.fix}") from None
        except OSError as e:
            raise ValueError(f"{self.metadata_path} cannot be read ({e.strerror or e}); {self.fix}") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError(f"{self.metadata_path} is not valid JSON ({_short(e)}); {self.fix}") from None
        if not isinstance(record, dict):
            raise ValueError(f"{self.metadata_path} holds {type(record).__name__}, not the backup's JSON object; "
                             f"{self.fix}")
        return record


def load_state(model, path: Path, fix: str) -> None:
    """``model.load_weights(path)`` with the optimizer built first; a failure raises one line naming ``path``."""
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)  # so its variables are loaded too
    try:
        model.load_weights(str(path))
    except Exception as e:  # noqa: BLE001 - h5py/zip/Keras errors of every kind: the file is the problem
        raise ValueError(f"{path} cannot be loaded into this model ({_short(e)}); {fix}") from None


def sha256(path: Path) -> str:
    """The file's SHA-256 as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _readable_hdf5(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            f.visit(lambda _: None)
    except Exception:  # noqa: BLE001 - any failure to read means not usable
        return False
    return True


def _short(value, limit: int = 80) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit] + "..."
