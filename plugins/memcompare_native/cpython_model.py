"""``cpython-native``: the trace replayed in a real CPython interpreter (reference counting, the
generational cycle collector, pymalloc), measured — the twin of the simulated ``cpython`` model.

The replayer is ``cpython/replay.py``, a standard-library-only script (it imports neither
memcompare nor numpy, so the heap it measures is the replay's own plus a bare interpreter's),
run as ``PYTHON -I replay.py TRACE REPLAYS [--gc off] [--thresholds T0,T1,T2]``. Nothing is
compiled: :meth:`build` only checks that the interpreter exists and is CPython 3.7 or newer.
Its docstring documents the object layout (a trace object with slots is ONE tracked container,
as in the simulated model's layout.py) and where each figure comes from:

- ``gc_count`` / ``gc_counts`` (``gen0``, ``gen1``, ``gen2``): differences of
  ``gc.get_stats()[g]["collections"]`` across the timed loop;
- pauses: ``gc.callbacks`` "start"→"stop" (``time.perf_counter``) inside the loop only
  (``pause_source`` "gc.callbacks");
- ``wall_time_s`` ``time.perf_counter``, ``cpu_time_s`` ``time.process_time``, both around the
  loop only; ``footprint_peak_bytes`` VmHWM after a reset through /proc/self/clear_refs, with
  VmRSS before the replay alongside;
- ``allocated_bytes`` is null: CPython counts allocated bytes only under ``tracemalloc``, which
  slows the replay about 9× and inflates the heap (reference/native-replay.md §3.7).

Each replay line also names the interpreter (``"runtime": "CPython 3.11.7"``).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from memcompare import param
from memcompare.errors import Unavailable

from .base import NativeModel, NativeParams

HERE = Path(__file__).resolve().parent
REPLAY = HERE / "cpython" / "replay.py"
NUM_GENERATIONS = 3
#: the oldest CPython the replayer runs on (time.perf_counter_ns, gc.callbacks, gc.get_stats)
MIN_VERSION = (3, 7)


def _thresholds_check(value) -> str | None:
    if value is not None and len(value) != NUM_GENERATIONS:
        return f"must be {NUM_GENERATIONS} thresholds"
    return None


@dataclass(frozen=True)
class Params(NativeParams):
    """The real CPython's collector settings, and which interpreter to run."""

    gc_enabled: bool = param(
        True, "the cyclic collector; false runs gc.disable() before the replays: reference "
              "counting alone (dead cycles leak, gc_count is 0)")
    thresholds: tuple[int, int, int] | None = param(
        None, "gc.set_threshold(t0, t1, t2) before the replays; absent = the interpreter's own "
              "((700, 10, 10) up to 3.12, (2000, 10, 10) from 3.13); t0 = 0 disables collection",
        minimum=0, check=_thresholds_check)
    python: str | None = param(
        None, "the interpreter to run (a path or a name on PATH, e.g. \"python3.13\"); absent = "
              "the one running memcompare (sys.executable)")


class CPythonNative(NativeModel):
    """The real CPython, measured: the trace replayed by a Python script in the interpreter."""

    name = "cpython-native"
    language = "cpython"
    Params = Params
    sources = (REPLAY,)

    def interpreter(self) -> str:
        """The interpreter's path; :class:`Unavailable` when it is missing or not CPython 3.7+."""
        want = self.params.python or sys.executable
        found = shutil.which(want) if want else None
        if not found:
            raise Unavailable(
                f"cpython-native: the Python interpreter {want!r} was not found: install it "
                f"(Debian: apt-get install python3) or set params.python to an interpreter's "
                f"path")
        try:
            r = subprocess.run(
                [found, "-I", "-c", "import sys; print(sys.implementation.name, "
                                    "*sys.version_info[:2])"],
                capture_output=True, text=True, timeout=60)
            impl, major, minor = r.stdout.split()
            ok = r.returncode == 0 and impl == "cpython" and (int(major), int(minor)) >= MIN_VERSION
        except (OSError, ValueError, subprocess.TimeoutExpired):
            ok, impl, major, minor = False, "?", "?", "?"
        if not ok:
            raise Unavailable(
                f"cpython-native: {found} is not a working CPython >= "
                f"{'.'.join(map(str, MIN_VERSION))} (it says {impl} {major}.{minor}): set "
                f"params.python to a CPython 3.7+ interpreter")
        return found

    def build(self, cache_dir: Path) -> list[str]:
        """Nothing to compile: the argv prefix is the interpreter (isolated mode: no user site,
        no PYTHON* variables) and the script."""
        return [self.interpreter(), "-I", str(REPLAY)]

    def command(self, prefix: list[str], trace_path: str, replays: int
                ) -> tuple[list[str], dict[str, str]]:
        p = self.params
        argv = prefix + [trace_path, str(replays)]
        if not p.gc_enabled:
            argv += ["--gc", "off"]
        if p.thresholds is not None:
            argv += ["--thresholds", ",".join(str(int(t)) for t in p.thresholds)]
        return argv, {}
