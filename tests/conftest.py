"""Test-suite setup: only memcompare's own plugins load, and the safety oracle runs in full."""
import os

# Set before memcompare loads any plugin: unrelated installed plugins never leak into the suite.
os.environ["MEMCOMPARE_LOAD_PLUGINS"] = ""
# Re-trace the heap at every collection (DESIGN.md §4, safety oracle).
os.environ["MEMCOMPARE_CHECK"] = "full"
# Recorded traces go to a cache of the session's own, not the user's (docs/reliability.md).
import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

_trace_cache = tempfile.mkdtemp(prefix="memcompare-test-traces-")
os.environ["MEMCOMPARE_TRACE_CACHE"] = _trace_cache
atexit.register(shutil.rmtree, _trace_cache, True)
