"""Shared by the fuzzers (tests/test_fuzz_*.py): the example budget, and the limits each case runs
under.

The default test run gives every fuzzer a small fixed budget (a few seconds in all);
``pytest --fuzz-long`` (defined in conftest.py) multiplies it, for a nightly or a release run.
Every case runs under an address-space limit and a time limit, so that "no memory blow-up" and
"no hang" are checked properties, not hopes: a case that needs more memory fails with
MemoryError, and one that runs too long with :class:`CaseTimeout`, both of which the fuzzers
report as failures.
"""
from __future__ import annotations

import contextlib
import os
import resource
import signal
from collections import Counter, defaultdict

from hypothesis import HealthCheck, settings

#: set from ``--fuzz-long`` by conftest.py before any test module is imported
LONG = False
#: how many times more examples ``--fuzz-long`` runs
LONG_FACTOR = 50

#: outcomes per fuzzer family (``family -> Counter(outcome)``), printed at the end of a run
TALLY: dict[str, Counter] = defaultdict(Counter)


def fuzz_settings(examples: int, **overrides) -> settings:
    """Hypothesis settings for a fuzzer: ``examples`` by default, ×LONG_FACTOR with --fuzz-long.

    No deadline (a loaded CI machine must not fail a case for being slow: :func:`limits` is the
    hang check) and derandomized in the default run, so that it is reproducible.
    """
    n = examples * LONG_FACTOR if LONG else examples
    return settings(max_examples=n, deadline=None, derandomize=not LONG,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much],
                    **overrides)


class CaseTimeout(Exception):
    """A fuzz case ran past its time limit: a hang."""


def _address_space() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def limits(memory_mb: int = 512, seconds: float = 10.0):
    """Run the body with at most ``memory_mb`` more address space and ``seconds`` of time."""
    old_as = resource.getrlimit(resource.RLIMIT_AS)
    want = _address_space() + memory_mb * 2**20
    if old_as[1] != resource.RLIM_INFINITY:
        want = min(want, old_as[1])

    def alarm(signum, frame):
        raise CaseTimeout(f"the case ran past {seconds:g} s")

    old_handler = signal.signal(signal.SIGALRM, alarm)
    resource.setrlimit(resource.RLIMIT_AS, (want, old_as[1]))
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        resource.setrlimit(resource.RLIMIT_AS, old_as)


def summary() -> list[str]:
    """One line per family: cases tried and their outcomes."""
    lines = []
    for family in sorted(TALLY):
        c = TALLY[family]
        parts = ", ".join(f"{k}: {v}" for k, v in sorted(c.items()))
        lines.append(f"{family}: {sum(c.values())} cases ({parts})")
    return lines
