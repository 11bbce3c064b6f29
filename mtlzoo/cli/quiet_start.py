"""Hide TensorFlow's start-up log lines (the oneDNN, CUDA and CPU-feature notices) on every command.

TensorFlow logs two ways: lines written before its logging is set up (``I0000 ... port.cc] oneDNN custom
operations are on``, ``cudart_stub.cc] Could not find cuda drivers``), which no setting hides, and lines
that honour ``TF_CPP_MIN_LOG_LEVEL`` (``cpu_feature_guard``, ``failed call to cuInit``). :func:`quiet_start`
sets ``TF_CPP_MIN_LOG_LEVEL=3`` for the second kind and, while ``tensorflow`` is first imported, drops the
first kind from the standard error stream (every other line written meanwhile is printed afterwards).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

#: what the command hides unless ``--debug`` is given or the user set it
LOG_LEVEL = "3"
#: start-up lines dropped while TensorFlow is imported: absl's format at INFO, WARNING or ERROR level,
#: absl's own notice, and the continuation line of the CPU-feature notice
START_UP_LINE = re.compile(r"^(?:[IWE]\d{4} [\d:.]+\s+\d+ \S+:\d+\] |WARNING: All log messages before "
                           r"absl::InitializeLog\(\) is called|To enable the following instructions: )")


def quiet_start(debug: bool = False, environ=None) -> bool:
    """Hide TensorFlow's start-up lines for this process, unless ``debug`` or the user chose a log level.

    Does nothing when ``debug`` is true, when ``TF_CPP_MIN_LOG_LEVEL`` is already set (the user's
    choice wins) or when TensorFlow is already imported (too late to change what it logs).

    Args:
        debug: the ``--debug`` flag: show everything.
        environ: the environment to read and set (default ``os.environ``).

    Returns:
        Whether the start-up lines are hidden.

    Example:
        >>> quiet_start(debug=True)
        False
        >>> env = {"TF_CPP_MIN_LOG_LEVEL": "0"}
        >>> quiet_start(environ=env), env
        (False, {'TF_CPP_MIN_LOG_LEVEL': '0'})
    """
    environ = os.environ if environ is None else environ
    if debug or "TF_CPP_MIN_LOG_LEVEL" in environ or "tensorflow" in sys.modules:
        return False
    environ["TF_CPP_MIN_LOG_LEVEL"] = LOG_LEVEL
    if not any(isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())
    return True


def drop_start_up_lines(text: str) -> str:
    """``text`` without TensorFlow's start-up log lines (:data:`START_UP_LINE`).

    Args:
        text: what was written to the standard error stream.

    Example:
        >>> drop_start_up_lines("I0000 00:00:1796.1   19552 port.cc:153] oneDNN custom operations are on.\\n"
        ...                     "UserWarning: kept\\n")
        'UserWarning: kept\\n'
    """
    return "".join(line for line in text.splitlines(keepends=True) if not START_UP_LINE.match(line))


@contextlib.contextmanager
def _start_up_lines_dropped():
    """Send file descriptor 2 to a temporary file meanwhile, then print it without the start-up lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            rest = drop_start_up_lines(captured.read().decode("utf-8", "replace"))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as Python would, and runs its first import with the start-up lines dropped."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: later imports find the module in sys.modules
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    """Wraps TensorFlow's own loader; puts it back on the module once it has run."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        try:
            with _start_up_lines_dropped():
                self.loader.exec_module(module)
        finally:
            module.__loader__ = self.loader
            if module.__spec__ is not None:
                module.__spec__.loader = self.loader

    def __getattr__(self, name):
        return getattr(self.loader, name)
