"""One wording for "this folder was made with other options": ``--lr 0.01 (saved) vs 0.05 (now)``.

Every command and search that resumes a folder names each differing option with its saved and its new
value through :func:`saved_vs_now`; :func:`differing` finds them in two plain option mappings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def differing(saved: Mapping[str, Any], now: Mapping[str, Any], ignore: Iterable[str] = (),
              either: bool = False) -> dict[str, tuple[Any, Any]]:
    """``{option: (saved value, new value)}`` for every option whose value changed.

    Args:
        saved: the options the folder was made with.
        now: the options of this invocation.
        ignore: options allowed to change.
        either: also compare options only ``saved`` has (default: the options of ``now``).

    Example:
        >>> differing({"lr": 0.01, "seed": 0}, {"lr": 0.05, "seed": 0})
        {'lr': (0.01, 0.05)}
        >>> differing({"old": 1}, {}, either=True)
        {'old': (1, None)}
    """
    skip = set(ignore)
    keys = list(now) + ([k for k in saved if k not in now] if either else [])
    return {k: (saved.get(k), now.get(k)) for k in keys if k not in skip and saved.get(k) != now.get(k)}


def saved_vs_now(differ: Mapping[str, tuple[Any, Any]], flags: bool = False) -> str:
    """The differing options in words, ``"; "``-separated: ``--lr 0.01 (saved) vs 0.05 (now)``.

    Args:
        differ: ``{option: (saved value, new value)}``, e.g. from :func:`differing`.
        flags: write each option as its command-line flag (``batch_size`` -> ``--batch-size``).

    Example:
        >>> saved_vs_now({"batch_size": (32, 64), "balancer": ("mgda_ub", "uniform")}, flags=True)
        "--batch-size 32 (saved) vs 64 (now); --balancer 'mgda_ub' (saved) vs 'uniform' (now)"
    """
    def name(key: str) -> str:
        return "--" + key.replace("_", "-") if flags and not key.startswith("--") else key

    return "; ".join(f"{name(k)} {saved!r} (saved) vs {now!r} (now)" for k, (saved, now) in differ.items())
