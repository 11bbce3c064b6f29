"""``ReproductionFolder``: the files of one ``mtlzoo reproduce`` run; finished units are cached so a rerun resumes."""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mtlzoo.atomic_file import atomic_file

_KEY = re.compile(r"^[A-Za-z0-9_.=+-]+$")


class ReproductionFolder:
    """The layout of a reproduction run folder::

        <folder>/units/<key>.json   one finished unit of work (a training run, a timing), its results
        <folder>/runs/<key>/        run folders of the trainings (resumable by themselves)
        <folder>/report.md          the report: tables in the seed's layout, the command, the plots
        <folder>/<name>.csv         the table(s) as CSV
        <folder>/<name>.png         the plots

    An experiment asks :meth:`done` before each unit and :meth:`save_unit` after it, so an
    interrupted reproduction picks up at the first unfinished unit. Every file is written through
    :func:`mtlzoo.atomic_file.atomic_file` (never half-written).

    Args:
        path: the folder (created on the first write).

    Example:
        >>> import tempfile
        >>> folder = ReproductionFolder(tempfile.mkdtemp())
        >>> folder.done("uniform-seed0")
        False
        >>> folder.save_unit("uniform-seed0", {"left": 0.9})
        >>> folder.load_unit("uniform-seed0"), folder.done("uniform-seed0")
        ({'left': 0.9}, True)
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"ReproductionFolder({str(self.path)!r})"

    @property
    def report_path(self) -> Path:
        return self.path / "report.md"

    def unit_path(self, key: str) -> Path:
        """The JSON file of unit ``key`` (letters, digits and ``_.=+-``)."""
        if not _KEY.match(key):
            raise ValueError(f"reproduction unit key {key!r}: use letters, digits and _.=+- only.")
        return self.path / "units" / f"{key}.json"

    def run_dir(self, key: str) -> Path:
        """The training run folder of unit ``key``."""
        self.unit_path(key)  # validates the key
        return self.path / "runs" / key

    def done(self, key: str) -> bool:
        """Whether unit ``key`` finished in an earlier (or this) invocation."""
        return self.unit_path(key).is_file()

    def save_unit(self, key: str, result: Mapping[str, Any]) -> None:
        """Record unit ``key`` as finished with its JSON-able ``result``."""
        from mtlzoo.jsonable import jsonable

        with atomic_file(self.unit_path(key), "w") as fh:
            json.dump(jsonable(result), fh, indent=2)

    def unit(self, key: str, compute: Callable[[], Mapping[str, Any]]) -> Any:
        """The saved result of unit ``key``; ``compute()`` runs (and its result is saved) only if it has not
        finished yet, so a rerun resumes. The result is always the one read back from the file.

        Example:
            >>> import tempfile
            >>> folder = ReproductionFolder(tempfile.mkdtemp())
            >>> folder.unit("a", lambda: {"x": (1, 2)}), folder.unit("a", lambda: 1 / 0)
            ({'x': [1, 2]}, {'x': [1, 2]})
        """
        if not self.done(key):
            self.save_unit(key, compute())
        return self.load_unit(key)

    def load_unit(self, key: str) -> Any:
        """The result saved for unit ``key``."""
        path = self.unit_path(key)
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: unit {key!r} has not finished yet.") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON ({e}); delete it to rerun unit {key!r}.") from None

    def write_csv(self, name: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> Path:
        """Write ``rows`` to ``<folder>/<name>.csv`` (columns: ``columns`` or the keys of the rows in order)."""
        columns = list(columns or _columns(rows))
        path = self.path / f"{name}.csv"
        with atomic_file(path, "w") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        return path

    def write_text(self, name: str, text: str) -> Path:
        """Write ``<folder>/<name>`` (for example ``report.md``)."""
        path = self.path / name
        with atomic_file(path, "w") as fh:
            fh.write(text)
        return path

    def save_figure(self, figure, name: str) -> Path:
        """Save a matplotlib figure as ``<folder>/<name>.png`` and close it."""
        import matplotlib.pyplot as plt

        path = self.path / f"{name}.png"
        try:
            with atomic_file(path) as tmp:
                figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
        finally:
            plt.close(figure)
        return path


def _columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)
