"""``CifarUnpickler``: reads CIFAR-10's Python pickles without running code from the file.

``pickle.load`` calls whatever callable the file names (``os.system``, ``builtins.exec``,
...), so a crafted ``cifar-10-batches-py/data_batch_1`` in a data directory could run
anything. The batches hold only a dict of bytes keys, a list of int labels, a list of
file names, a label string and one uint8 NumPy array; this unpickler admits exactly the
globals needed to rebuild those (see "Restricting Globals" in the :mod:`pickle` docs):

- NumPy's array reconstruction (``numpy.core.multiarray._reconstruct`` of the original
  files, ``numpy._core.multiarray._reconstruct`` of NumPy 2) and ``numpy.ndarray`` as its
  argument: they yield a placeholder whose state (shape, dtype, bytes) is checked here and
  turned into an array with ``np.frombuffer`` -- NumPy's own ``__setstate__``, which
  trusts its input, never sees the file's data;
- ``numpy.dtype`` of numeric codes (``u1``, ``i8``, ``f4``, ...) only, likewise rebuilt
  from a checked byte order, and NumPy scalars of those;
- ``_frombuffer`` (NumPy's form in protocol 5), with the same checks;
- ``_codecs.encode(text, "latin1")``, how Python 3 writes ``bytes`` in protocol 2.

Any other global raises :class:`pickle.UnpicklingError` naming it, before it is looked
up, so nothing it names is imported or called. :meth:`CifarUnpickler.load` returns the
file's dicts, lists, numbers, strings and bytes with the arrays in place.

Args:
    file: a binary file object.

Example:
    >>> import io, pickle
    >>> import numpy as np
    >>> blob = pickle.dumps({b"labels": [3], b"data": np.zeros((1, 4), np.uint8)}, protocol=2)
    >>> CifarUnpickler(io.BytesIO(blob)).load()[b"labels"]
    [3]
    >>> class Evil:
    ...     def __reduce__(self):
    ...         return (print, ("code ran",))
    >>> CifarUnpickler(io.BytesIO(pickle.dumps(Evil()))).load()
    Traceback (most recent call last):
    ...
    mtlzoo.data.cifar_unpickler._Refused: the file refers to builtins.print, which a CIFAR-10 batch never holds; refusing to load it
"""

from __future__ import annotations

import pickle

import numpy as np

import re

import numpy as np

#: The dtype codes an array or scalar in the file may have: bool, integers and floats.
_NUMERIC = re.compile(r"^(b1|[iu][1248]|f[248])$")
_REFUSED = "refusing to load it"


class _Refused(pickle.UnpicklingError):
    """What the file holds is not part of the format (as opposed to a damaged pickle)."""


def _refuse(what: str):
    raise _Refused(f"the file {what}, which a CIFAR-10 batch never holds; {_REFUSED}")


class _Dtype:
    """``numpy.dtype(code, align, copy)`` as named in the file; its BUILD state sets only the byte order."""

    def __init__(self, code, align=False, copy=False):
        if not isinstance(code, (str, bytes)) or not _NUMERIC.match(code.decode("ascii", "replace")
                                                                    if isinstance(code, bytes) else code):
            _refuse(f"holds the dtype {str(code)[:40]!r}")
        self.dtype = np.dtype(code.decode("ascii") if isinstance(code, bytes) else code)

    def __setstate__(self, state):
        order = state[1] if isinstance(state, tuple) and len(state) > 1 else None
        order = order.decode("ascii", "replace") if isinstance(order, bytes) else order
        if order not in ("|", "<", ">", "="):
            _refuse("holds a dtype state NumPy never writes")
        if order in "<>" and self.dtype.itemsize > 1:
            self.dtype = self.dtype.newbyteorder(order)


class _Array:
    """``_reconstruct(ndarray, (0,), b"b")`` as named in the file; BUILD's state gives the array."""

    def __init__(self, subtype, shape, code=b"b"):
        if subtype is not _NDARRAY or tuple(shape) != (0,):
            _refuse("rebuilds an array in a way NumPy never writes")
        self.array = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            _refuse("holds an array state NumPy never writes")
        shape, dtype, fortran, raw = state[-4:]
        if not (isinstance(shape, tuple) and all(isinstance(n, int) and n >= 0 for n in shape)
                and isinstance(dtype, _Dtype) and isinstance(raw, (bytes, str))):
            _refuse("holds an array state NumPy never writes")
        raw = raw.encode("latin1") if isinstance(raw, str) else raw
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if count * dtype.dtype.itemsize != len(raw):
            _refuse(f"holds an array of shape {list(shape)[:8]} with {len(raw)} bytes of data (truncated?)")
        self.array = np.frombuffer(raw, dtype.dtype).reshape(shape, order="F" if fortran else "C")


class _NdarrayToken:
    """Stands for ``numpy.ndarray`` in the file: usable only as the argument of the reconstruction."""


_NDARRAY = _NdarrayToken()


def _scalar(dtype, data=None):
    if not isinstance(dtype, _Dtype) or not isinstance(data, bytes) or len(data) != dtype.dtype.itemsize:
        _refuse("holds a NumPy scalar NumPy never writes")
    return np.frombuffer(data, dtype.dtype)[0]


def _frombuffer(buffer, dtype, shape, order="C"):
    """``numpy._core.numeric._frombuffer``: how NumPy writes arrays in pickle protocol 5."""
    if not (isinstance(buffer, (bytes, bytearray)) and isinstance(dtype, _Dtype) and isinstance(shape, tuple)
            and all(isinstance(n, int) and n >= 0 for n in shape) and order in ("C", "F")):
        _refuse("rebuilds an array in a way NumPy never writes")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if count * dtype.dtype.itemsize != len(buffer):
        _refuse(f"holds an array of shape {list(shape)[:8]} with {len(buffer)} bytes of data (truncated?)")
    return np.frombuffer(bytes(buffer), dtype.dtype).reshape(shape, order=order)


def _latin1(text, encoding="latin1"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        _refuse("encodes text in a way protocol 2 never writes")
    return text.encode("latin1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _Array,
    ("numpy._core.multiarray", "_reconstruct"): _Array,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _Dtype,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("_codecs", "encode"): _latin1,
}


def _with_arrays(value):
    """``value`` with every :class:`_Array` placeholder replaced by its array (lists and dicts walked, in place)."""
    stack, seen = [value], set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        pairs = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
        for key, child in list(pairs):
            if isinstance(child, _Array):
                if child.array is None:
                    _refuse("holds an array without data")
                item[key] = child.array
            elif isinstance(child, (dict, list)):
                stack.append(child)
    if isinstance(value, _Array):
        if value.array is None:
            _refuse("holds an array without data")
        return value.array
    return value


class CifarUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` admitting only what CIFAR-10's batches hold (see the module docstring).

    Args:
        file: a binary file object.
        encoding: how Python 2 ``str`` objects are read (``"bytes"``, as the CIFAR-10 keys are).
    """

    #: The error of a refused global or value (a subclass of ``pickle.UnpicklingError``; a damaged pickle raises
    #: the plain one).
    Refused = _Refused

    def __init__(self, file, encoding: str = "bytes"):
        super().__init__(file, encoding=encoding)

    def load(self):
        """The file's object, with the arrays rebuilt."""
        return _with_arrays(super().load())

    def find_class(self, module: str, name: str):
        found = _ALLOWED.get((module, name))
        if found is None:
            _refuse(f"refers to {str(module)[:60]}.{str(name)[:60]}")
        return found

    def persistent_load(self, pid):
        _refuse("holds persistent references")
