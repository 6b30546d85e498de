"""``cpython-native``: the trace replayed in a real CPython interpreter (reference counting, the
generational cycle collector, pymalloc), measured — the twin of the simulated ``cpython`` model.

The replayer is ``cpython/replay.py``, a standard-library-only script (it imports neither
memcompare nor numpy, so the heap it measures is the replay's own plus a bare interpreter's),
run as ``PYTHON -I replay.py TRACE REPLAYS [--gc off] [--thresholds T0,T1,T2]``. Nothing is
compiled: :meth:`build` only finds the interpreter and checks that it is CPython 3.7 or newer.
Its docstring documents the object layout (one object per trace object, byte for byte the
simulated model's layout.py), how each replay starts the collector from the model's state, and
where each figure comes from:

- ``gc_count`` / ``gc_counts`` (``gen0``, ``gen1``, ``gen2``): differences of
  ``gc.get_stats()[g]["collections"]`` across the timed loop;
- pauses: ``gc.callbacks`` "start"→"stop" (``time.perf_counter``) inside the loop only
  (``pause_source`` "gc.callbacks");
- ``wall_time_s`` ``time.perf_counter``, ``cpu_time_s`` ``time.process_time``, both around the
  loop only; ``footprint_peak_bytes`` VmHWM after a reset through /proc/self/clear_refs, with
  VmRSS before the replay alongside;
- ``allocated_bytes`` is null: CPython counts allocated bytes only under ``tracemalloc``, which
  slows the replay about 9× and inflates the heap (docs/native-replay.md §3.7).

Each replay line also names the interpreter (``"runtime": "CPython 3.11.7"``) and the settings it
ran with (``python_version``, ``gc_enabled``, ``thresholds`` as ``gc.get_threshold()`` reported),
which :meth:`CPythonNative.settings` turns into the ``cpython`` model's params.

Which interpreter: ``python`` takes a path, a name on PATH (``python3.13``) or a version
(``3.13``). A pyenv shim on PATH that refuses to run (no ``pyenv local``/``global`` selects that
version) is passed over for the interpreter itself, found through ``pyenv which`` or under
``$(pyenv root)/versions``.
"""
from __future__ import annotations

import glob
import os
import re
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
#: the oldest CPython the replayer runs on (time.perf_counter_ns, gc.callbacks, gc.get_stats,
#: gc.freeze)
MIN_VERSION = (3, 7)
#: what the interpreter says about itself: implementation, major, minor, micro, and 1 for a
#: free-threaded build (Py_GIL_DISABLED: 3.13t, 3.14t), 0 otherwise
PROBE = ("import sys, sysconfig; print(sys.implementation.name, *sys.version_info[:3], "
         "int(bool(sysconfig.get_config_var('Py_GIL_DISABLED'))))")


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
        None, "the interpreter to run: a path, a name on PATH (\"python3.13\") or a version "
              "(\"3.13\", \"3.14\"; \"3.14t\" for the free-threaded build; a pyenv shim "
              "that does not run is passed over for the interpreter under `pyenv root`); "
              "absent = the one running memcompare (sys.executable). A missing one makes the "
              "cell `unavailable`, naming what to install")


def _probe(path: str) -> tuple[str, tuple[int, int, int], bool] | None:
    """(implementation, version, free-threaded) of the interpreter at ``path``, or None if it
    does not run."""
    try:
        r = subprocess.run([path, "-I", "-c", PROBE], capture_output=True, text=True,
                           timeout=60)
        impl, *version, ft = r.stdout.split()
        if r.returncode != 0 or len(version) != 3:
            return None
        return impl, tuple(int(v) for v in version), ft == "1"
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def _pyenv_candidates(name: str, version: str | None) -> list[str]:
    """Interpreters pyenv has installed for ``name`` (``pythonX.Y``): ``pyenv which`` first,
    then ``$(pyenv root)/versions/X.Y.*/bin/pythonX.Y``, newest patch first."""
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return []
    found = []
    try:
        r = subprocess.run([pyenv, "which", name], capture_output=True, text=True, timeout=60)
        if r.returncode == 0 and r.stdout.strip():
            found.append(r.stdout.strip())
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True,
                              timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return found
    if root and version:
        def patch(p: str) -> tuple[int, ...]:
            m = re.search(r"/versions/(\d+)\.(\d+)\.(\d+)/", p)
            return tuple(int(g) for g in m.groups()) if m else ()
        found += sorted(glob.glob(os.path.join(glob.escape(root), "versions", f"{version}.*",
                                               "bin", name)), key=patch, reverse=True)
    return found


def resolve_python(want: str | None) -> str:
    """The path of a working CPython >= 3.7 for ``want`` (a path, a name or a version; a
    version or name ending in ``t``, "3.14t", is the free-threaded build);
    :class:`Unavailable` saying what to install when there is none."""
    if not want:
        want = sys.executable
    version = None
    threaded = None                   # None: either build; True/False: that build only
    m = re.fullmatch(r"(\d+\.\d+)(t?)", want)
    if m:
        version, name = m.group(1), f"python{want}"
        threaded = bool(m.group(2))
    else:
        name = want
        m = re.fullmatch(r"python(\d+\.\d+)(t?)", os.path.basename(want))
        version = m.group(1) if m else None
        threaded = bool(m.group(2)) if m and m.group(2) else None
    candidates: list[str] = []
    if os.sep in name:
        candidates.append(name)
    else:
        on_path = shutil.which(name)
        if on_path:
            candidates.append(on_path)
        candidates += _pyenv_candidates(name, version)
    tried = []
    for path in dict.fromkeys(candidates):           # in order, without repeats
        got = _probe(path)
        if got is None:
            tried.append(f"{path} (does not run)")
            continue
        impl, v, ft = got
        if impl != "cpython" or v[:2] < MIN_VERSION:
            tried.append(f"{path} ({impl} {'.'.join(map(str, v))})")
            continue
        if version and f"{v[0]}.{v[1]}" != version:
            tried.append(f"{path} (it is {v[0]}.{v[1]})")
            continue
        if threaded is not None and ft != threaded:
            tried.append(f"{path} (the {'free-threaded' if ft else 'default'} build)")
            continue
        return path
    if version and threaded:
        what = f"a free-threaded CPython {version} (python{version}t)"
        install = (f"install one (pyenv install {version}t, or a python{version}t / "
                   f"python{version}-nogil package) ")
    elif version:
        what = f"CPython {version}"
        install = f"install it (pyenv install {version}, or apt-get install python{version}) "
    else:
        what = f"the Python interpreter {want!r}"
        install = "install it "
    detail = f"; tried {', '.join(tried)}" if tried else ""
    raise Unavailable(
        f"cpython-native: {what} was not found{detail}: {install}or set params.python to a "
        f"CPython {'.'.join(map(str, MIN_VERSION))}+ interpreter's path")


class CPythonNative(NativeModel):
    """The real CPython, measured: the trace replayed by a Python script in the interpreter."""

    name = "cpython-native"
    language = "cpython"
    Params = Params
    sources = (REPLAY,)
    twin = "cpython"
    #: the interpreter decides the version and, unless given, the thresholds: settings() reads
    #: them from the replay. The cpython model's thresholds = null stands for its version's
    #: defaults, which it reports resolved in stats["thresholds"]
    matched = ("version", "gc_enabled", "thresholds", "build")
    off_params = {"gc_enabled": False}

    def interpreter(self) -> str:
        """The interpreter's path; :class:`Unavailable` when it is missing or not CPython 3.7+."""
        return resolve_python(self.params.python)

    def build(self, cache_dir: Path) -> list[str]:
        """Nothing to compile: the argv prefix is the interpreter (isolated mode: no user site,
        no PYTHON* variables) and the script."""
        return [self.interpreter(), "-I", str(REPLAY)]

    def command(self, prefix: list[str], trace_path: str, replays: int, *,
                baseline: bool = False) -> tuple[list[str], dict[str, str]]:
        """The replay as configured; ``baseline``: the same with ``gc.disable()`` (``--gc
        off``), reference counting alone."""
        p = self.params
        argv = prefix + [trace_path, str(replays)]
        if baseline or not p.gc_enabled:
            argv += ["--gc", "off"]
        if p.thresholds is not None:
            argv += ["--thresholds", ",".join(str(int(t)) for t in p.thresholds)]
        return argv, {}

    def settings(self, replay_line: dict) -> dict:
        """The ``cpython`` model's params this replay ran under: the interpreter's version
        (major.minor; "3.14.0" for 3.14.0-3.14.4), whether the collector was on,
        gc.get_threshold() as it reported, and the build (free-threaded or default)."""
        v = [int(x) for x in re.findall(r"\d+", str(replay_line["python_version"]))[:3]]
        version = f"{v[0]}.{v[1]}"
        if version == "3.14" and v[2] < 5:
            # the model's "3.14" is 3.14.5+, which went back to 3.13's collector; 3.14.0-3.14.4
            # ran the incremental one, the model's "3.14.0" (docs/runtimes.md §3.3)
            version = "3.14.0"
        build = "free-threaded" if replay_line.get("free_threaded") else "default"
        return {"version": version, "gc_enabled": bool(replay_line["gc_enabled"]),
                "thresholds": [int(t) for t in replay_line["thresholds"]], "build": build}
