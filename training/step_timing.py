"""One timing harness for train steps: ``mtlzoo bench``, the timing experiments and ``benchmarks/`` use it.

A step is a zero-argument callable that blocks until the step has run. Contenders are timed in
rounds, each round giving every contender its steps in turn, so a slow phase of a shared machine
hits all of them alike; the order can rotate by one contender per round.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def time_steps(step: Callable[[], Any], steps: int, outputs: list | None = None) -> list[float]:
    """Seconds of each of ``steps`` calls of ``step`` (which must block until the step is done).

    Args:
        step: the step to time.
        steps: how many calls (0 for none).
        outputs: a list that receives what each call returned.

    Example:
        >>> out = []
        >>> len(time_steps(lambda: 1.5, 3, out)), out
        (3, [1.5, 1.5, 1.5])
    """
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        value = step()
        times.append(time.perf_counter() - start)
        if outputs is not None:
            outputs.append(value)
    return times


def interleaved_rounds(steps: Mapping[str, Callable[[], Any]], plan: Mapping[str, Sequence[int]] | Sequence[int],
                       warmup: int = 0, rotate: bool = False,
                       before: Callable[[int, str, int], None] | None = None,
                       after_round: Callable[[int, dict], None] | None = None) -> dict:
    """Time every contender's steps in rounds, after ``warmup`` untimed steps each.

    Args:
        steps: ``{name: step}``; each step blocks until it has run and may return its logs.
        plan: the timed steps of each round: one list for every contender (``[2, 2, 1]``) or
            ``{name: [steps per round]}`` (rounds without steps are skipped for that contender).
        warmup: untimed steps of each contender before any timing (after every contender was
            traced: the first call after another trace runs slow).
        rotate: start round ``r`` with the ``r``-th contender (else the same order every round).
        before: called as ``before(round, name, steps)`` before a contender's steps of a round.
        after_round: called as ``after_round(round, seconds)`` after each round.

    Returns:
        ``{"seconds": {name: [[seconds per step] per round]}, "outputs": {name: [what each timed step
        returned]}}``.

    Raises:
        ValueError: a negative ``warmup``, no contenders, or plans of different lengths.

    Example:
        >>> out = interleaved_rounds({"a": lambda: 1, "b": lambda: 2}, [1, 2], warmup=1, rotate=True)
        >>> [len(r) for r in out["seconds"]["a"]], out["outputs"]["b"]
        ([1, 2], [2, 2, 2])
    """
    names = list(steps)
    if not names:
        raise ValueError("interleaved_rounds: steps is empty; pass {name: step} for at least one contender.")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"interleaved_rounds: warmup must be an integer >= 0, got {warmup!r}.")
    plans = {n: list(plan[n]) for n in names} if isinstance(plan, Mapping) else {n: list(plan) for n in names}
    rounds = {len(p) for p in plans.values()}
    if len(rounds) != 1:
        raise ValueError(f"interleaved_rounds: every contender needs the same number of rounds; got {plans}.")
    for name in names:
        time_steps(steps[name], warmup)
    seconds: dict[str, list[list[float]]] = {n: [] for n in names}
    outputs: dict[str, list] = {n: [] for n in names}
    for r in range(rounds.pop()):
        order = names[r % len(names):] + names[:r % len(names)] if rotate else names
        for name in order:
            count = plans[name][r]
            if count and before is not None:
                before(r, name, count)
            seconds[name].append(time_steps(steps[name], count, outputs[name]))
        if after_round is not None:
            after_round(r, seconds)
    return {"seconds": seconds, "outputs": outputs}


__all__ = ["interleaved_rounds", "time_steps"]
