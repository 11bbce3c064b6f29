"""``RunFolder``: the files of one ``mtlzoo train`` run, written atomically, and what they say about its state."""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


class RunFolder:
    """The layout of a training run folder and its bookkeeping.

    ``mtlzoo train`` writes::

        <run>/config.json            resolved options, the recipe used, library versions
        <run>/history.csv            one row per finished epoch (keras CSVLogger, append=True)
        <run>/history.json           the same history as {metric: [values]}, written at the end
        <run>/backup/                keras BackupAndRestore state (weights, optimizer, balancer, epoch)
        <run>/checkpoints/last.keras the model after the last finished epoch (ModelCheckpoint)
        <run>/tensorboard/           TensorBoard logs
        <run>/model.keras            the final model
        <run>/evaluation.json        per-task test metrics of the final model

    JSON files and the final model are written to a temporary file first and
    moved into place with ``os.replace``, so a killed run never leaves a
    half-written one behind.

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

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # ------------------------------------------------------------------ layout
    @property
    def config_path(self) -> Path:
        """``config.json``."""
        return self.path / "config.json"

    @property
    def history_csv(self) -> Path:
        """``history.csv`` (appended to by ``keras.callbacks.CSVLogger``)."""
        return self.path / "history.csv"

    @property
    def history_json(self) -> Path:
        """``history.json``."""
        return self.path / "history.json"

    @property
    def backup_dir(self) -> Path:
        """``backup/``, the ``keras.callbacks.BackupAndRestore`` directory."""
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
        skip = set(ignore)
        return {k: (saved.get(k), v) for k, v in options.items()
                if k not in skip and not _same(saved.get(k), v)}

    # ------------------------------------------------------------------- state
    def epochs_done(self) -> int:
        """Epochs finished according to the ``BackupAndRestore`` state (0 when there is none)."""
        meta = self.backup_dir / "training_metadata.json"
        if not (self.backup_dir / "latest.weights.h5").exists():
            return 0
        try:
            return int((self._read_json(meta) or {}).get("epoch", 0))
        except ValueError:
            return 0

    def finished_epochs(self) -> int | None:
        """Epochs of the evaluated final model (from ``evaluation.json``), or ``None`` if unfinished."""
        try:
            evaluation = self._read_json(self.evaluation_path)
        except ValueError:
            return None
        if not evaluation or not self.model_path.exists():
            return None
        return int(evaluation.get("epochs", 0))

    # ----------------------------------------------------------------- history
    def history_rows(self) -> list[dict[str, float]]:
        """The rows of ``history.csv`` as numbers, one per epoch (a repeated epoch keeps its last row)."""
        if not self.history_csv.exists():
            return []
        with open(self.history_csv, newline="") as f:
            rows = list(csv.DictReader(f))
        by_epoch: dict[int, dict[str, float]] = {}
        for row in rows:
            values = {k: _number(k, v) for k, v in row.items() if k is not None}
            by_epoch[int(values["epoch"])] = values
        return [by_epoch[e] for e in sorted(by_epoch)]

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
        with self._atomic(Path(path)) as tmp:
            Path(tmp).write_text(text)

    def read_json(self, path: str | os.PathLike) -> Any:
        """The JSON file at ``path`` (``None`` when missing)."""
        return self._read_json(Path(path))

    def save_model(self, model) -> None:
        """``model.save`` to :attr:`model_path` through a temporary ``.keras`` file."""
        with self._atomic(self.model_path, suffix=".keras") as tmp:
            model.save(tmp)

    def _write_csv(self, rows: list[dict[str, float]]) -> None:
        if not rows:
            if self.history_csv.exists():
                self.history_csv.unlink()
            return
        keys = list(dict.fromkeys(k for row in rows for k in row))
        with self._atomic(self.history_csv) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if row.get(k) is None else row[k] for k in keys})

    def _atomic(self, target: Path, suffix: str = ".tmp"):
        return _AtomicPath(target, suffix)

    @staticmethod
    def _read_json(path: Path) -> Any:
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON ({e}); delete it or use a new --run-dir.") from None


class _AtomicPath:
    """Context manager: a temporary path next to ``target``, moved onto it with ``os.replace`` on success."""

    def __init__(self, target: Path, suffix: str):
        self.target, self.suffix = target, suffix

    def __enter__(self) -> str:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.target.name}.", suffix=self.suffix, dir=self.target.parent)
        os.close(fd)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            os.replace(self.tmp, self.target)
        elif os.path.exists(self.tmp):
            os.remove(self.tmp)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=0.0)  # float32 round-off
    return jsonable(a) == jsonable(b)


def jsonable(value: Any) -> Any:
    """Tuples to lists, numpy scalars to Python numbers, paths to strings (recursively)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def _number(key: str, text: str | None) -> Any:
    """A CSV cell as a number: ``epoch`` as int, other columns as float (empty cells as ``None``)."""
    if text is None or text in ("", "NA"):  # CSVLogger writes NA for val_ columns when there is no validation
        return None
    try:
        return int(text) if key == "epoch" else float(text)
    except ValueError:
        return text
