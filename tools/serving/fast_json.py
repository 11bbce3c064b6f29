"""A fast path for the commonest predict body: one numeric tensor, ``{"instances": [...]}`` or ``{"inputs": [...]}``.

``json.loads`` builds one Python list per row of every image and NumPy then walks those
lists to find the shape: for a batch of 64 MultiMNIST images (50,176 numbers) that is
about 40% of the server's time per request. For a single-input signature with a
floating dtype and a fully known instance shape, :func:`fast_predict` reads the body
instead as

1. a head and a tail matched by regular expressions (``{"signature_name": ..., "instances":``
   / ``}``, either order), leaving the array text in between;
2. that text with its numbers and spaces deleted (``bytes.translate``), which must equal,
   byte for byte, the bracket-and-comma skeleton of a ``(n, *instance_shape)`` array --
   so the nesting is regular and of that shape, checked at C speed;
3. the numbers, parsed by ``json.loads`` as *one flat list* (the brackets turned into
   spaces), so they are exactly JSON's numbers, into a float64 array, reshaped.

Anything else -- another body form, a string or boolean, a ragged or mis-shaped list,
invalid JSON, a signature with several or integer inputs, an unknown model -- makes it
return ``None``, and the general path (``json.loads`` + :mod:`json_tensor`) answers,
with its error messages. When it answers, the result is the general path's, value for
value (a test compares the two on random bodies).

Example:
    >>> _split(b'{"instances": [[1, 2], [3, 4]], "signature_name": "s"}')
    ('instances', 's', b'[[1, 2], [3, 4]]')
    >>> _skeleton((2, 2))
    b'[[,],[,]]'
"""

from __future__ import annotations

import json
import re

import numpy as np

from mtlzoo.tools.serving.json_tensor import to_float
from mtlzoo.tools.serving.serving_error import ServingError

_NAME = rb'"signature_name"\s*:\s*"(?P<sig>[A-Za-z0-9_.\-]*)"'
_HEAD = re.compile(rb"\s*\{\s*(?:" + _NAME + rb"\s*,\s*)?\"(?P<key>instances|inputs)\"\s*:\s*(?=\[)")
_TAIL = re.compile(rb"\]\s*(?:,\s*" + _NAME + rb"\s*)?\}\s*\Z")
#: Bytes a JSON number (or the space around it) is made of: deleted to leave the skeleton.
_NUMBER_BYTES = b"0123456789+-.eE \t\r\n"
#: Brackets become spaces, so the numbers parse as one flat JSON list.
_FLATTEN = bytes.maketrans(b"[]", b"  ")


def fast_predict(repository, name: str, version, body: bytes) -> dict | None:
    """The answer to a ``:predict`` body through the fast path, or ``None`` when it does not apply.

    Args:
        repository: the :class:`~mtlzoo.tools.serving.ModelRepository`.
        name, version: the model and version of the URL (``version`` ``None``: the latest).
        body: the raw request body.

    Raises:
        ServingError: only for what the general path would answer the same way once the body
            parsed (a value out of the dtype's range, the signature refusing the input).
    """
    parts = _split(body)
    if parts is None:
        return None
    key, signature_name, text = parts
    try:
        signature = repository.servable(name, version).signature(signature_name)
    except ServingError:
        return None  # the general path reports it, after the JSON checks it does first
    if len(signature.inputs) != 1:
        return None
    (input_name, spec), = signature.inputs.items()
    if not spec.dtype.is_floating or spec.shape.rank is None or spec.shape.rank < 1 \
            or not spec.shape[1:].is_fully_defined():
        return None
    values = _numbers(text)
    instance = tuple(spec.shape[1:].as_list())
    size = int(np.prod(instance, dtype=np.int64))
    if values is None or size == 0 or values.size == 0 or values.size % size:
        return None
    shape = (values.size // size, *instance)
    if not spec.shape.is_compatible_with(shape) or text.translate(None, _NUMBER_BYTES) != _skeleton(shape):
        return None
    array = to_float(values.reshape(shape), spec.dtype, input_name)
    outputs = signature.run({input_name: array})
    if key == "instances":
        return signature.rows_answer(outputs, shape[0])
    return signature.columns_answer(outputs)


def _split(body: bytes):
    """``(key, signature_name, array text)`` of ``{"instances" | "inputs": [...]}`` with an optional
    ``signature_name`` before or after, else ``None``."""
    head = _HEAD.match(body)
    if head is None:
        return None
    tail = _TAIL.search(body, max(head.end(), len(body) - 256))
    if tail is None or tail.start() < head.end():
        return None
    names = [m["sig"] for m in (head, tail) if m["sig"] is not None]
    if len(names) > 1:
        return None  # a duplicate key: the general path decides
    return head["key"].decode(), (names[0].decode() if names else None), body[head.end():tail.start() + 1]


def _numbers(text: bytes) -> np.ndarray | None:
    """The numbers of ``text`` (a nested JSON list) as one flat float64 array, or ``None`` when they are not
    all JSON numbers that fit float64."""
    if text.translate(None, _NUMBER_BYTES + b"[],"):
        return None  # strings, objects, true / false / null, NaN: not for the fast path
    try:
        flat = json.loads(b"[" + text.translate(_FLATTEN) + b"]")  # only numbers can come out of these bytes
    except ValueError:  # not JSON numbers (a missing comma, "1.", "+1", ...), or more than 4300 digits
        return None
    try:
        return np.array(flat, dtype=np.float64)
    except OverflowError:  # an integer beyond float64
        return None


def _skeleton(shape: tuple[int, ...]) -> bytes:
    """The brackets and commas of a JSON array of ``shape`` with its numbers deleted."""
    text = b""
    for size in reversed(shape):
        text = b"[" + b",".join([text] * size) + b"]"
    return text
