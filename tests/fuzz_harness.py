"""Shared settings and bookkeeping of the ``test_fuzz_*.py`` files (loaded with importlib, not collected).

Each fuzz target runs twice: in the default suite with :data:`FAST` (50 examples), and
marked ``slow`` with :data:`SLOW` (``MTLZOO_FUZZ_EXAMPLES``, default 1000). Both are
derandomized, so a run is reproducible. :class:`FuzzRecord` times every case under a
``SIGALRM`` watchdog (a case past :data:`HANG_SECONDS` fails as a hang instead of
blocking the suite), counts the outcomes, and at the end checks the slowest case and
the growth of peak RSS (``resource.getrusage``), printing one summary line and
appending it to ``$MTLZOO_FUZZ_LOG`` when set.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import time
from collections import Counter

from hypothesis import HealthCheck, settings

HANG_SECONDS = 20.0
#: Peak-RSS growth allowed over a whole fuzz run (MiB): bounded memory, whatever the inputs.
MAX_RSS_GROWTH_MB = 1024

_COMMON = dict(deadline=None, derandomize=True, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                                      HealthCheck.function_scoped_fixture])
FAST = settings(max_examples=50, **_COMMON)
SLOW = settings(max_examples=int(os.environ.get("MTLZOO_FUZZ_EXAMPLES", "1000")), **_COMMON)


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Hang(Exception):
    pass


class FuzzRecord:
    """Cases, outcomes, slowest case and peak-RSS growth of one fuzz target.

    Args:
        target: the target's name, for the summary line.
    """

    def __init__(self, target: str):
        self.target = target
        self.cases = 0
        self.outcomes: Counter = Counter()
        self.slowest = 0.0
        self.slowest_label = ""
        self.rss_before = peak_rss_mb()

    @contextlib.contextmanager
    def case(self, label=None):
        """Run one case under the watchdog and time it; ``label`` (the input) is kept for the slowest case."""
        def alarm(signum, frame):
            raise _Hang(f"{self.target}: a case ran past {HANG_SECONDS} s (a hang)")

        previous = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
        start = time.perf_counter()
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            seconds = time.perf_counter() - start
            if seconds > self.slowest:
                self.slowest, self.slowest_label = seconds, repr(label)[:160]
            self.cases += 1

    def outcome(self, name: str) -> None:
        self.outcomes[name] += 1

    def finish(self) -> dict:
        """Check the slowest case and the memory growth; print and log the summary."""
        summary = {"target": self.target, "cases": self.cases, "outcomes": dict(self.outcomes.most_common(8)),
                   "slowest_case_s": round(self.slowest, 3), "slowest_case": self.slowest_label,
                   "peak_rss_mb": round(peak_rss_mb(), 1),
                   "peak_rss_growth_mb": round(peak_rss_mb() - self.rss_before, 1)}
        print(f"\nfuzz {json.dumps(summary)}")
        if os.environ.get("MTLZOO_FUZZ_LOG"):
            with open(os.environ["MTLZOO_FUZZ_LOG"], "a") as log:
                log.write(json.dumps(summary) + "\n")
        assert self.slowest < HANG_SECONDS, summary
        assert summary["peak_rss_growth_mb"] < MAX_RSS_GROWTH_MB, summary
        return summary


def one_line(error: BaseException, limit: int = 1000) -> str:
    """The error's message, asserted to be one bounded line."""
    message = str(error)
    assert message and "\n" not in message and len(message) <= limit, repr(message[:2000])
    return message
