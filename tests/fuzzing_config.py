"""Hypothesis settings for the config fuzzer (tests/test_fuzz_config.py).

A fixed, small example budget in the default test run (a few seconds); the suite's
``--fuzz-long`` option (tests/conftest.py, tests/fuzzing.py), or ``MEMCOMPARE_FUZZ_LONG=1``,
runs many more.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

LONG = os.environ.get("MEMCOMPARE_FUZZ_LONG", "") not in ("", "0")


def fuzz_settings(default: int = 150, long: int = 5000) -> settings:
    """Examples per property: ``default`` normally, ``long`` under MEMCOMPARE_FUZZ_LONG=1; no
    example may take more than 5 s (a hang fails), and the run is derandomised by default so
    that the suite is deterministic."""
    import fuzzing                   # tests/fuzzing.py: set from --fuzz-long before collection
    many = LONG or fuzzing.LONG
    return settings(max_examples=long if many else default, deadline=5000,
                    derandomize=not many, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])
