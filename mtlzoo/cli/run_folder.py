"""``RunFolder``: the files of one ``mtlzoo train`` run, written atomically, and what they say about its state."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mtlzoo.atomic_file import atomic_file, remove_stale_temporaries
from mtlzoo.cli.run_backup import RunBackup, load_state
from mtlzoo.jsonable import jsonable


class RunFolder:
    """The layout of a training run folder and its bookkeeping.

    ``mtlzoo train`` writes::

        <run>/config.json            resolved options, the recipe used, library versions
        <run>/history.csv            one row per finished epoch (rewritten after every epoch)
        <run>/history.json           the same history as {metric: [values]}, written at the end
        <run>/backup/                the training state after the last finished epoch (RunBackup)
        <run>/checkpoints/last.keras the model after the last finished epoch
        <run>/tensorboard/           TensorBoard logs
        <run>/model.keras            the final model
        <run>/evaluation.json        per-task test metrics of the final model

    Every file but the TensorBoard logs (append-only event streams whose readers
    skip a cut-off last record) is written to a temporary file beside it and moved
    into place with ``os.replace`` (:func:`mtlzoo.atomic_file.atomic_file`), so a
    killed run never leaves a half-written one; :meth:`remove_temporaries` deletes the
    temporary files a killed process left. :meth:`check` refuses a corrupt or
    inconsistent folder with one line naming the file and the fix, reading only.

    Args:
        path: the run folder (created on the first write).

    Example:
        >>> import tempfile
        >>> run = RunFolder(tempfile.mkdtemp())
        >>> run.read_config() is None, run.epochs_done()
        (True, 0)
        >>> run.write_config({"options": {"lr": 0.1, "epochs": 2}})
        >>> run.conflicts({"lr": 0.2, "epochs": 5})
        {'lr': (0.1, 0.2)}
    """

    #: Options that may change between invocations of the same run.
    MUTABLE_OPTIONS = ("epochs", "run_dir", "data_dir")

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.backup = RunBackup(self.path / "backup")

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # ------------------------------------------------------------------ layout
    @property
    def config_path(self) -> Path:
        """``config.json``."""
        return self.path / "config.json"

    @property
    def history_csv(self) -> Path:
        """``history.csv`` (one row per finished epoch, :meth:`append_history`)."""
        return self.path / "history.csv"

    @property
    def history_json(self) -> Path:
        """``history.json``."""
        return self.path / "history.json"

    @property
    def backup_dir(self) -> Path:
        """``backup/``, the training state after the last finished epoch (:class:`RunBackup`)."""
        return self.path / "backup"

    @property
    def checkpoint_path(self) -> Path:
        """``checkpoints/last.keras``, the model after the last finished epoch."""
        return self.path / "checkpoints" / "last.keras"

    @property
    def tensorboard_dir(self) -> Path:
        """``tensorboard/``."""
        return self.path / "tensorboard"

    @property
    def model_path(self) -> Path:
        """``model.keras``, the final model."""
        return self.path / "model.keras"

    @property
    def evaluation_path(self) -> Path:
        """``evaluation.json``."""
        return self.path / "evaluation.json"

    # ------------------------------------------------------------------ config
    def read_config(self) -> dict | None:
        """The saved ``config.json``, or ``None`` for a new run.

        Raises:
            ValueError: the file exists but is not valid JSON.
        """
        return self._read_json(self.config_path)

    def write_config(self, config: Mapping[str, Any]) -> None:
        """Write ``config.json`` atomically."""
        self.write_json(self.config_path, config)

    def conflicts(self, options: Mapping[str, Any], ignore: Iterable[str] = MUTABLE_OPTIONS,
                  section: tuple[str, ...] = ("options",)) -> dict:
        """``{option: (saved, given)}`` for every option that differs from the saved config.

        Args:
            options: the resolved options of this invocation.
            ignore: options allowed to change (default :attr:`MUTABLE_OPTIONS`).
            section: where the saved values are in ``config.json`` (default its
                ``options``; e.g. ``("optimizer", "config")``).
        """
        saved = self.read_config()
        for key in section:
            saved = saved.get(key) if isinstance(saved, Mapping) else None
        if saved is None:
            return {}
        if not isinstance(saved, Mapping):  # check() names the file; here: nothing comparable was saved
            raise ValueError(f"{self.config_path}: {'.'.join(section)} is not a mapping of options; delete the "
                             f"run folder or pass a new --run-dir.")
        skip = set(ignore)
        return {k: (saved.get(k), v) for k, v in options.items()
                if k not in skip and not _same(saved.get(k), v)}

    # ------------------------------------------------------------------- state
    def epochs_done(self) -> int:
        """Epochs finished according to the backup (0 when there is none or it is not whole)."""
        return self.backup.epochs()

    def finished_epochs(self) -> int | None:
        """Epochs of the evaluated final model (from ``evaluation.json``), or ``None`` if unfinished."""
        try:
            evaluation = self._read_json(self.evaluation_path)
        except ValueError:
            return None
        if not isinstance(evaluation, Mapping) or not self.model_path.exists():
            return None
        epochs = evaluation.get("epochs", 0)
        return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None

    def resume_point(self) -> tuple[int, str | None]:
        """``(epochs done, source)``: continue from ``"backup"``, from ``"model"`` (``model.keras`` of a
        finished run whose ``backup/`` is gone), or from scratch (``None``). Call :meth:`check` first."""
        backup = self.backup.check() if self.backup.exists() else None
        finished = self.finished_epochs()
        if finished is not None and (backup is None or finished > backup):
            return finished, "model"
        if backup is not None:
            return backup, "backup"
        return 0, None

    def restore(self, model, source: str | None) -> None:
        """Load the state :meth:`resume_point` chose into ``model`` (built and compiled)."""
        if source == "backup":
            self.backup.restore(model)
        elif source == "model":
            load_state(model, self.model_path, f"delete it and {self.evaluation_path.name} to retrain, or pass a "
                                               f"new --run-dir.")

    def check(self) -> None:
        """Raise ``ValueError`` (one line: the file and the fix) if the folder is corrupt or inconsistent.

        Reads only, so it can run before anything is written: ``config.json``,
        ``history.json`` and ``evaluation.json`` must be JSON objects, ``history.csv`` a
        table of numbers with an ``epoch`` column, ``backup/`` whole (:meth:`RunBackup.check`),
        the ``.keras`` files readable zip archives, and the history no longer than the
        saved state (a history of epochs whose state is gone would be overwritten).

        Example:
            >>> import tempfile
            >>> run = RunFolder(tempfile.mkdtemp())
            >>> _ = run.config_path.write_text("[1, 2]")
            >>> run.check()  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            ValueError: ...config.json holds a list, not a JSON object with "options"; delete it, or pass a ...
        """
        config = self._read_json(self.config_path)
        if config is not None and not (isinstance(config, Mapping) and isinstance(config.get("options"), Mapping)):
            kind = type(config).__name__ if not isinstance(config, Mapping) else "an object without \"options\""
            raise ValueError(f"{self.config_path} holds {_article(kind)}, not a JSON object with \"options\"; "
                             f"delete it, or pass a new --run-dir.")
        for path in (self.history_json, self.evaluation_path):
            value = self._read_json(path)
            if value is not None and not isinstance(value, Mapping):
                raise ValueError(f"{path} holds {_article(type(value).__name__)}, not a JSON object; delete it, "
                                 f"or pass a new --run-dir.")
        evaluation = self._read_json(self.evaluation_path)
        if evaluation is not None:
            epochs = evaluation.get("epochs")
            if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
                raise ValueError(f"{self.evaluation_path} does not say how many epochs the model trained "
                                 f"(\"epochs\": {epochs!r:.40}); delete it, or pass a new --run-dir.")
            if not self.model_path.exists():
                raise ValueError(f"{self.model_path} is missing, though {self.evaluation_path.name} says the run "
                                 f"finished; pass --overwrite to retrain it, or a new --run-dir.")
        rows = self.history_rows()
        self.backup.check()
        for path in (self.model_path, self.checkpoint_path):
            if path.exists() and not _readable_keras(path):
                raise ValueError(f"{path} is not a readable .keras archive (truncated?); delete it, or pass a new "
                                 f"--run-dir.")
        done = self.resume_point()[0]
        beyond = [r["epoch"] for r in rows if r["epoch"] > done]  # one row past `done`: a kill before the backup
        if beyond:
            raise ValueError(f"{self.history_csv} records epoch {max(beyond) + 1} but the saved state ends after "
                             f"epoch {done} (backup/ or model.keras is gone); pass --overwrite to retrain, or a "
                             f"new --run-dir.")

    def remove_temporaries(self) -> list[Path]:
        """Delete temporary files that killed writers left in the folder (see :mod:`mtlzoo.atomic_file`)."""
        return remove_stale_temporaries(self.path)

    def clear(self) -> None:
        """Delete every file of the run (``--overwrite``): the folder then holds a new run."""
        for path in (self.config_path, self.history_csv, self.history_json, self.model_path, self.evaluation_path):
            path.unlink(missing_ok=True)
        for folder in (self.backup_dir, self.checkpoint_path.parent, self.tensorboard_dir):
            shutil.rmtree(folder, ignore_errors=True)

    # ----------------------------------------------------------------- history
    def history_rows(self) -> list[dict[str, float]]:
        """The rows of ``history.csv`` as numbers, one per epoch (a repeated epoch keeps its last row).

        Raises:
            ValueError: the file is not such a table (one line naming it and the fix).
        """
        if not self.history_csv.exists():
            return []
        bad = f"; delete it, or pass a new --run-dir."
        try:
            rows = list(csv.DictReader(io.StringIO(read_bytes(self.history_csv).decode("utf-8"), newline="")))
        except (UnicodeDecodeError, csv.Error) as e:
            raise ValueError(f"{self.history_csv} is not a CSV table ({str(e)[:80]}){bad}") from None
        by_epoch: dict[int, dict[str, float]] = {}
        for line, row in enumerate(rows, start=2):
            if None in row or None in row.values() or "epoch" not in row:
                raise ValueError(f"{self.history_csv} line {line} does not match the header (an \"epoch\" column "
                                 f"and one cell per column){bad}")
            values = {k: _number(k, v) for k, v in row.items()}
            text = [k for k, v in values.items() if isinstance(v, str)]
            if text or not isinstance(values["epoch"], int) or values["epoch"] < 0:
                raise ValueError(f"{self.history_csv} line {line}: {text[0] if text else 'epoch'} is not a "
                                 f"number{bad}")
            by_epoch[values["epoch"]] = values
        return [by_epoch[e] for e in sorted(by_epoch)]

    def append_history(self, epoch: int, logs: Mapping[str, Any]) -> None:
        """Record epoch ``epoch``'s logs in ``history.csv`` (rewritten atomically; a repeated epoch is replaced).

        Columns are ``epoch`` and the sorted log names, as ``keras.callbacks.CSVLogger`` writes them.
        """
        row = {"epoch": int(epoch), **{k: _scalar(logs[k]) for k in sorted(logs)}}
        self._write_csv([r for r in self.history_rows() if r["epoch"] < epoch] + [row])

    def trim_history(self, epochs: int) -> None:
        """Keep only the rows of ``history.csv`` for epochs ``< epochs`` (before resuming from a backup)."""
        if not self.history_csv.exists():
            return
        rows = [r for r in self.history_rows() if r["epoch"] < epochs]
        self._write_csv(rows)

    def write_history(self) -> dict[str, list[float]]:
        """Rewrite ``history.csv`` one row per epoch and write ``history.json``; return the history.

        Columns without any value (CSVLogger's ``NA`` ``val_`` columns when there
        is no validation data) are dropped. The JSON maps each column (``epoch``, ``loss``, ``<task>_loss``,
        ``<task>_<metric>``, balancer logs) to its list of per-epoch values,
        like ``keras.callbacks.History.history``.
        """
        rows = self.history_rows()
        keys = [k for k in dict.fromkeys(k for row in rows for k in row) if any(r.get(k) is not None for r in rows)]
        rows = [{k: row.get(k) for k in keys} for row in rows]
        self._write_csv(rows)
        history = {k: [row.get(k) for row in rows] for k in keys}
        self.write_json(self.history_json, history)
        return history

    # ---------------------------------------------------------------- writing
    def write_json(self, path: str | os.PathLike, data: Any) -> None:
        """Write ``data`` as JSON to ``path`` through a temporary file and ``os.replace``."""
        text = json.dumps(jsonable(data), indent=2, sort_keys=False) + "\n"
        with atomic_file(Path(path)) as tmp:
            Path(tmp).write_text(text)

    def read_json(self, path: str | os.PathLike) -> Any:
        """The JSON file at ``path`` (``None`` when missing)."""
        return self._read_json(Path(path))

    def save_model(self, model) -> None:
        """``model.save`` to :attr:`model_path` through a temporary ``.keras`` file."""
        with atomic_file(self.model_path, suffix=".keras") as tmp:
            model.save(str(tmp))

    def save_checkpoint(self, model) -> None:
        """``model.save`` to :attr:`checkpoint_path` through a temporary ``.keras`` file."""
        with atomic_file(self.checkpoint_path, suffix=".keras") as tmp:
            model.save(str(tmp))

    def _write_csv(self, rows: list[dict[str, float]]) -> None:
        if not rows:
            if self.history_csv.exists():
                self.history_csv.unlink()
            return
        keys = list(dict.fromkeys(k for row in rows for k in row))
        with atomic_file(self.history_csv, "w") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if row.get(k) is None else row[k] for k in keys})

    @staticmethod
    def _read_json(path: Path) -> Any:
        if not path.exists():
            return None
        data = read_bytes(path)  # a folder in the file's place: one line naming it
        try:
            return json.loads(data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            message = " ".join(str(e).split())[:80]
            raise ValueError(f"{path} is not valid JSON ({message}); delete it, or pass a new --run-dir.") from None


def read_bytes(path: Path) -> bytes:
    """``path.read_bytes()``; a folder or an unreadable file raises one ``ValueError`` line naming it."""
    try:
        return path.read_bytes()
    except OSError as e:
        what = "is a folder, not a file" if path.is_dir() else f"cannot be read ({e.strerror or e})"
        raise ValueError(f"{path} {what}; delete it, or pass a new --run-dir.") from None


def _readable_keras(path: Path) -> bool:
    """Whether ``path`` is a whole zip archive holding a Keras ``config.json`` (CRCs checked)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return "config.json" in archive.namelist() and archive.testzip() is None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return False


def _article(kind: str) -> str:
    return kind if kind.startswith("an ") else f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}"


def _scalar(value: Any) -> Any:
    if hasattr(value, "numpy"):
        value = value.numpy()
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=0.0)  # float32 round-off
    return jsonable(a) == jsonable(b)


def _number(key: str, text: str | None) -> Any:
    """A CSV cell as a number: ``epoch`` as int, other columns as float (empty cells as ``None``)."""
    if text is None or text in ("", "NA"):  # keras' CSVLogger (older run folders) wrote NA for missing val_ columns
        return None
    try:
        return int(text) if key == "epoch" else float(text)
    except ValueError:
        return text
