"""``short_repr``: a value's repr cut to a bounded length, for error messages that echo user input."""

from __future__ import annotations

import reprlib

#: Default longest text :func:`short_repr` returns (characters).
LIMIT = 120

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = 6
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = LIMIT


def short_repr(value, limit: int = LIMIT, quote: bool = True) -> str:
    """``repr(value)`` (or ``str`` with ``quote=False``), at most ``limit`` characters, ending in ``...`` when cut.

    Containers are abbreviated while they are walked (``reprlib``), so a value with a billion
    shared elements is never expanded: the cost is bounded by ``limit``, not by the value.

    Args:
        value: anything.
        limit: the longest result.
        quote: ``repr`` (``True``) or ``str`` (``False``) of a string.

    Example:
        >>> short_repr(list(range(1000)))
        '[0, 1, 2, 3, 4, 5, ...]'
        >>> short_repr("x" * 500, 12)
        "'xxxxxxxx..."
    """
    if isinstance(value, str) and not quote:
        text = value
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4 * limit:
        text = f"<an integer of about {int(value.bit_length() * 0.30103)} digits>"  # str() of it may be refused
    else:
        try:
            text = _REPR.repr(value)
        except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the error being reported
            text = f"<{type(value).__name__}>"
    if len(text) > limit:
        text = text[:max(0, limit - 3)] + "..."
    return text
