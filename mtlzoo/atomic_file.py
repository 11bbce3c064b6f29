"""Write a file through a temporary file beside it and ``os.replace``: never a half-written file.

A process killed while writing (``SIGKILL``, power loss) cannot run its cleanup, so it may
leave its temporary file behind; :func:`remove_stale_temporaries` deletes the temporaries of
processes that no longer run (their names carry the writer's process id).
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from pathlib import Path

#: ``.<name>.<pid>.<8 hex>.tmp[<suffix>]``: the temporary files :func:`atomic_file` writes.
TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp(?P<suffix>\.[^/]*)?$")


@contextlib.contextmanager
def atomic_file(path, mode: str | None = None, suffix: str = ""):
    """Yield a temporary path (or an open file when ``mode`` is given) next to ``path``; replace ``path`` on success.

    On an exception the temporary file is removed and ``path`` keeps its old content.

    Args:
        path: the file to (re)write; missing parent folders are created.
        mode: ``None`` to get the temporary path (for writers that take a path), or an
            ``open`` mode such as ``"w"`` or ``"wb"`` to get the open file.
        suffix: appended to the temporary name, for writers that insist on an extension
            (``".keras"`` for ``model.save``, ``".weights.h5"`` for ``model.save_weights``).

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "a.txt"
        >>> with atomic_file(target, "w") as f:
        ...     _ = f.write("done")
        >>> target.read_text()
        'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # umask applies, unlike mkstemp
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{suffix}"
    try:
        if mode is None:
            yield tmp
        else:
            with open(tmp, mode, newline="" if "b" not in mode else None) as fh:
                yield fh
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_stale_temporaries(folder, recursive: bool = True) -> list[Path]:
    """Delete the temporary files :func:`atomic_file` left in ``folder`` when its writer was killed.

    Only temporaries whose writer process is gone are removed, so a writer that is
    still running keeps its file.

    Args:
        folder: where to look (a missing folder holds nothing).
        recursive: also look in subfolders.

    Returns:
        The removed paths.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / ".model.keras.999999999.0123abcd.tmp.keras").write_bytes(b"half")
        >>> [p.name for p in remove_stale_temporaries(folder)]
        ['.model.keras.999999999.0123abcd.tmp.keras']
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.rglob(".*") if recursive else folder.glob(".*"):
        match = TEMPORARY.match(path.name)
        if match and path.is_file() and not _running(int(match["pid"])):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process's own leftovers are stale: its writes finished or failed
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's live process (or an unusable id): leave the file alone
    return True
