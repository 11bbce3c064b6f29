"""Markdown tables and ``mean ± CI`` cells for every experiment's ``report.md``.

>>> print("\\n".join(markdown_table(["method", "acc"], [["uniform", pm(0.5, 0.01)]], align="lr")))
| method | acc |
| --- | ---: |
| uniform | 0.50 ± 0.01 |
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> list[str]:
    """A markdown table as lines: the header, the separator, one line per row.

    Args:
        head: the column titles (an empty one is written ``| |``).
        rows: one sequence of cell texts per row.
        align: one letter per column, ``l`` (left) or ``r`` (right), for a ``| --- | ---: |`` separator;
            ``None`` gives the plain ``|---|---|``.

    Example:
        >>> markdown_table(["a", "b"], [["1", "2"]])
        ['| a | b |', '|---|---|', '| 1 | 2 |']
    """
    if align is not None and (len(align) != len(head) or set(align) - {"l", "r"}):
        raise ValueError(f"align={align!r}: give one letter l or r per column ({len(head)} columns).")
    rule = ("|" + "---|" * len(head) if align is None
            else "| " + " | ".join("---:" if a == "r" else "---" for a in align) + " |")
    title = "|" + "|".join(f" {h} " if h else " " for h in head) + "|"
    return [title, rule, *("| " + " | ".join(map(str, row)) + " |" for row in rows)]


def missing(value) -> bool:
    """Whether ``value`` is ``None`` or NaN (a cell with nothing to show)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def pm(mean, half=None, digits: int = 2, signed: bool = False) -> str:
    """``"96.50 ± 0.31"``: a mean and its interval half-width (or sd); the mean alone when ``half`` is missing,
    ``–`` when the mean is.

    Args:
        mean: the value.
        half: the half-width (``None`` or NaN: no interval, e.g. one seed).
        digits: decimals of both numbers.
        signed: always print the mean's sign (``+0.00``, never ``-0.00``).

    Example:
        >>> pm(96.5, 0.314), pm(96.5, float("nan"), 1), pm(-0.001, 0.5, signed=True), pm(None)
        ('96.50 ± 0.31', '96.5', '+0.00 ± 0.50', '–')
    """
    if missing(mean):
        return "–"
    text = format(mean, f"{'+' if signed else ''}.{digits}f")
    if signed and text.lstrip("+-").strip("0.") == "":
        text = "+" + text.lstrip("+-")
    return text if missing(half) else f"{text} ± {half:.{digits}f}"
