"""JSON values <-> NumPy arrays for one signature input or output, as TensorFlow Serving converts them.

A request value is a number, a boolean, a string, ``{"b64": "..."}`` (binary string) or a
nested list of those. :func:`to_array` turns it into an array of the input's dtype and
refuses, with a 400 :class:`ServingError` naming the input, a ragged list, a value of the
wrong kind (a string for a float input, 1.5 for an integer input, a number out of the
dtype's range: an integer beyond int64 or the input's integer type, a finite number that
would become infinite in float32) and a shape the signature does not accept. :func:`to_json` turns an output
array back into JSON values (bytes as UTF-8 text, or ``{"b64": ...}`` when not UTF-8).

Example:
    >>> import tensorflow as tf
    >>> spec = tf.TensorSpec([None, 2], tf.float32, name="x")
    >>> to_array([[1, 2.5]], spec, "x").dtype
    dtype('float32')
    >>> try:
    ...     to_array([[1, 2, 3]], spec, "x")
    ... except ServingError as error:
    ...     print(error.status, error.message)
    400 input 'x' expects shape [-1, 2] (-1: any size) of float32, got shape [1, 3]
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from mtlzoo.tools.serving.serving_error import ServingError

#: What a NumPy kind of a parsed JSON value means, for error messages.
_KIND_NAMES = {"U": "strings", "S": "strings", "b": "booleans", "f": "non-integer numbers", "i": "integers",
               "u": "integers", "O": "null, objects or mixed values"}


def shape_text(shape) -> str:
    """``TensorShape([None, 28])`` -> ``"[-1, 28]"`` (TF Serving writes unknown sizes as -1)."""
    if shape.rank is None:
        return "any shape"
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape.as_list()) + "]"


def to_array(value, spec, name: str, row_format: bool = False) -> np.ndarray:
    """Convert the JSON ``value`` of input ``name`` into an array matching ``spec``.

    Args:
        value: the parsed JSON value (for the row format: the list of per-instance values).
        spec: the input's ``tf.TensorSpec`` (dtype and shape, ``None`` for any size).
        name: the input's name, used in error messages.
        row_format: whether ``value`` came from ``instances`` (changes the hints only).

    Returns:
        A NumPy array of ``spec.dtype`` whose shape ``spec.shape`` accepts.

    Raises:
        ServingError: 400 for a ragged list, a wrong dtype or a wrong shape.
    """
    dtype = spec.dtype
    if dtype.name == "string":
        array = _string_array(value, name)
    else:
        array = _numeric_array(value, dtype, name)
    if not spec.shape.is_compatible_with(array.shape):
        hint = ""
        if row_format and spec.shape.rank:
            hint = f"; each instance must have shape {shape_text(spec.shape[1:])}"
        raise ServingError(400, f"input '{name}' expects shape {shape_text(spec.shape)} (-1: any size) of "
                                f"{dtype.name}, got shape {list(array.shape)}{hint}")
    return array


def _numeric_array(value, dtype, name: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        raise ServingError(400, f"input '{name}' is a ragged list: every list at the same depth must have the "
                                "same length (and the instances the same shape)") from None
    target = np.dtype(dtype.as_numpy_dtype)
    kind = array.dtype.kind
    if array.size == 0:
        return array.astype(target)
    if kind == "O" and _has_ragged_lists(value):
        raise ServingError(400, f"input '{name}' is a ragged list: every list at the same depth must have the "
                                "same length (and the instances the same shape)")
    if kind == "O" and not dtype.is_bool:
        array = _huge_numbers(array, dtype, name)  # integers beyond 64 bits make NumPy keep objects
        kind = array.dtype.kind
    if dtype.is_bool:
        accepted = "b"
    elif dtype.is_integer:
        accepted = "iu"
    elif dtype.is_floating:
        accepted = "iuf"
    else:
        raise ServingError(400, f"input '{name}' has dtype {dtype.name}, which mtlzoo serve cannot read from JSON")
    if kind not in accepted:
        wanted = {"b": "booleans (true/false)", "iu": "integers", "iuf": "numbers"}[accepted]
        raise ServingError(400, f"input '{name}' expects {dtype.name} ({wanted}), got {_KIND_NAMES.get(kind, kind)}")
    if dtype.is_integer:
        info = np.iinfo(target)
        low, high = array.min(), array.max()
        if low < info.min or high > info.max:
            raise ServingError(400, f"input '{name}' got {low if low < info.min else high}, out of the range of "
                                    f"{dtype.name} [{info.min}, {info.max}]")
        return array.astype(target, copy=False)
    return to_float(array, dtype, name)


def to_float(array: np.ndarray, dtype, name: str) -> np.ndarray:
    """``array`` (numbers) as the floating ``dtype``, refusing (400) finite values that would become infinite.

    Args:
        array: a NumPy array of numbers.
        dtype: the input's floating ``tf.DType``.
        name: the input's name, for the message.
    """
    target = np.dtype(dtype.as_numpy_dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        converted = array.astype(target, copy=False)
    if converted.dtype != array.dtype and not np.isfinite(converted).all():
        overflow = ~np.isfinite(converted) & np.isfinite(array)  # finite numbers that became +-inf
        if overflow.any():
            limit = float(np.finfo(target).max)
            raise ServingError(400, f"input '{name}' got {float(array[overflow].flat[0]):g}, out of the range of "
                                    f"{dtype.name} [{-limit:g}, {limit:g}]")
    return converted


def _huge_numbers(array: np.ndarray, dtype, name: str) -> np.ndarray:
    """An object array of JSON numbers (some integer beyond 64 bits): out of range for integer dtypes, float64
    for floating dtypes when every value fits; other object arrays (null, mixed kinds) come back unchanged."""
    flat = array.ravel()
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
        return array
    if dtype.is_integer:
        info = np.iinfo(np.dtype(dtype.as_numpy_dtype))
        huge = next(v for v in flat if isinstance(v, int) and not info.min <= v <= info.max)
        digits = int(huge.bit_length() * 0.30103) + 1
        raise ServingError(400, f"input '{name}' got an integer of about {digits} digits, out of the range of "
                                f"{dtype.name} [{info.min}, {info.max}]")
    try:
        return np.array(flat.tolist(), dtype=np.float64).reshape(array.shape)
    except OverflowError:
        limit = float(np.finfo(np.dtype(dtype.as_numpy_dtype)).max)
        raise ServingError(400, f"input '{name}' got an integer beyond {limit:g}, out of the range of "
                                f"{dtype.name}") from None


def _has_ragged_lists(value) -> bool:
    """True when nested lists have unequal lengths (NumPy may keep them as objects instead of failing)."""
    if not isinstance(value, list):
        return False
    lengths = {len(v) if isinstance(v, list) else -1 for v in value}
    return len(lengths) > 1 or any(_has_ragged_lists(v) for v in value)


def _string_array(value, name: str) -> np.ndarray:
    shape = _nested_shape(value, name)
    flat = []
    _flatten_strings(value, name, flat)
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array.reshape(shape)


def _nested_shape(value, name: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        return ()
    shapes = {_nested_shape(v, name) for v in value}
    if len(shapes) > 1:
        raise ServingError(400, f"input '{name}' is a ragged list: every list at the same depth must have the "
                                "same length (and the instances the same shape)")
    return (len(value), *(shapes.pop() if shapes else ()))


def _flatten_strings(value, name: str, out: list) -> None:
    if isinstance(value, list):
        for v in value:
            _flatten_strings(v, name, out)
    elif isinstance(value, str):
        out.append(value.encode("utf-8"))
    elif isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            out.append(base64.b64decode(value["b64"], validate=True))
        except (binascii.Error, ValueError):
            raise ServingError(400, f"input '{name}' has a 'b64' value that is not valid base64") from None
    else:
        raise ServingError(400, f"input '{name}' expects string values (text or {{\"b64\": \"...\"}}), "
                                f"got {type(value).__name__}")


def to_json(array: np.ndarray):
    """An output array as JSON values: numbers, booleans, text or ``{"b64": ...}`` for binary strings."""
    if array.dtype.kind in "OS":
        return _bytes_to_json(array.tolist())
    return array.tolist()


def _bytes_to_json(value):
    if isinstance(value, list):
        return [_bytes_to_json(v) for v in value]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    return value
