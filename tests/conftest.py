"""Test-suite setup: only memcompare's own plugins load, and the safety oracle runs in full."""
import os

# Set before memcompare loads any plugin: unrelated installed plugins never leak into the suite.
os.environ["MEMCOMPARE_LOAD_PLUGINS"] = ""
# Re-trace the heap at every collection (docs/design.md §4, safety oracle).
os.environ["MEMCOMPARE_CHECK"] = "full"
