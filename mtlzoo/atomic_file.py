"""Write a file through a temporary file beside it and ``os.replace``: never a half-written file."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path


@contextlib.contextmanager
def atomic_file(path, mode: str | None = None):
    """Yield a temporary path (or an open file when ``mode`` is given) next to ``path``; replace ``path`` on success.

    On an exception the temporary file is removed and ``path`` keeps its old content.

    Args:
        path: the file to (re)write; missing parent folders are created.
        mode: ``None`` to get the temporary path (for writers that take a path), or an
            ``open`` mode such as ``"w"`` or ``"wb"`` to get the open file.

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
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"  # umask applies, unlike mkstemp
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
