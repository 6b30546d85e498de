"""Test-suite setup: only memcompare's own plugins load, the safety oracle runs in full, and the
fuzzers' budget follows ``--fuzz-long``."""
import os

# Set before memcompare loads any plugin: unrelated installed plugins never leak into the suite.
os.environ["MEMCOMPARE_LOAD_PLUGINS"] = ""
# Re-trace the heap at every collection (docs/design.md §4, safety oracle).
os.environ["MEMCOMPARE_CHECK"] = "full"
# Recorded traces go to a cache of the session's own, not the user's (docs/reliability.md).
import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

_trace_cache = tempfile.mkdtemp(prefix="memcompare-test-traces-")
os.environ["MEMCOMPARE_TRACE_CACHE"] = _trace_cache
atexit.register(shutil.rmtree, _trace_cache, True)


def pytest_addoption(parser):
    parser.addoption("--fuzz-long", action="store_true", default=False,
                     help="run every fuzzer (tests/test_fuzz_*.py) with 50x its default number "
                          "of examples, randomised (see tests/fuzzing.py)")


def pytest_configure(config):
    import fuzzing
    fuzzing.LONG = config.getoption("--fuzz-long")


def pytest_terminal_summary(terminalreporter):
    import fuzzing
    lines = fuzzing.summary()
    if lines:
        terminalreporter.section("fuzzing: cases per family")
        for line in lines:
            terminalreporter.write_line(line)
