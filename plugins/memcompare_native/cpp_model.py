"""``cpp-native``: the trace replayed by a real C++ program, new/delete over the system's glibc.

The replayer is ``cpp/replay.cpp``, compiled with ``g++ -O2 -std=c++17`` into the replayer cache.
Each trace object is ONE allocation, ``::operator new(8 * nslots + size)`` zeroed: the reference
slots, then the payload — the request the ``cpp`` model gives malloc; FREE is ``::operator delete``
and CLEAR only nulls the register, so an object the trace never frees leaks, as in C++. The
registers are a ``std::vector<Obj*>``; the trace is decoded into a ``std::vector`` before the
clock starts (the file is mapped with mmap, so loading frees no large malloc block and leaves
glibc's dynamic mmap threshold at its default). ALLOC's ``local`` flag is ignored: an
interpreter cannot give a trace object an automatic lifetime.

Metrics (per replay, the timed loop only):

- ``gc_count`` 0, ``gc_counts`` ``{}``, ``pauses_s`` ``[]`` (pause source "none: manual memory
  management"): C++ has no collector, so these are true zeros, not missing values;
- ``wall_time_s``: ``std::chrono::steady_clock``; ``cpu_time_s``: ``getrusage(RUSAGE_SELF)``;
- ``footprint_peak_bytes``: VmHWM after ``/proc/self/clear_refs`` was reset before the loop,
  with VmRSS before it as ``rss_before_bytes``; glibc keeps freed chunks in its arena, so after
  the first replay the peak is mostly the arena already resident;
- ``allocated_bytes``: the sum of the chunk sizes glibc actually handed out, read per ALLOC from
  the chunk header's size field (checked at startup against ``malloc_usable_size``: usable + 8
  for a heap chunk, + 16 for an mmapped one, glibc 2.36's layout). glibc keeps no
  cumulative count (``mallinfo2`` is a snapshot); when the startup check fails the replayer
  reports ``null`` with that reason.

The collector-off baseline (``baseline = true``) is ``--alloc bump``: the same loop over a
never-freeing bump allocator in a region faulted in before the clock starts, the twin of the
``cpp`` model's ``allocator = "bump"``; memory-management time is then what glibc's malloc and
free cost beyond handing out resident memory.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from memcompare.errors import Unavailable

from .base import NativeModel, NativeParams

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "cpp" / "replay.cpp"
INSTALL = "cpp-native needs g++: apt-get install g++"
BINARY = "replay-cpp"
CXXFLAGS = ("-O2", "-std=c++17")


@dataclass(frozen=True)
class Params(NativeParams):
    """C++ new/delete over the system's glibc malloc, compiled with g++ -O2 (no knobs beyond
    the harness's ``repeats`` and ``replays``)."""


class CppNative(NativeModel):
    """The trace replayed by a real C++ program: new/delete over glibc malloc, g++ -O2."""

    name = "cpp-native"
    language = "cpp"
    sources = (SOURCE,)
    Params = Params
    twin = "cpp"
    matched = ("allocator",)
    off_params = {"allocator": "bump"}
    initialises_allocations = True       # std::memset of every new object

    def settings(self, replay_line):
        """The allocator the replay ran over: glibc (the only one configured so far)."""
        return {"allocator": "glibc"}

    def command(self, prefix, trace_path, replays, *, baseline=False):
        argv = prefix + [trace_path, str(replays)]
        return (argv + ["--alloc", "bump"] if baseline else argv), {}

    def build(self, cache_dir: Path) -> list[str]:
        gxx = shutil.which("g++")
        if gxx is None:
            raise Unavailable(INSTALL)
        cache_dir = Path(cache_dir)
        binary = cache_dir / BINARY
        if not binary.exists():
            tmp = cache_dir / f".{BINARY}.{os.getpid()}"
            r = subprocess.run([gxx, *CXXFLAGS, str(SOURCE), "-o", str(tmp)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                tmp.unlink(missing_ok=True)
                raise RuntimeError(f"g++ failed on {SOURCE.name}:\n{r.stderr.strip()}")
            os.replace(tmp, binary)      # atomic: a half-written binary is never run
        return [str(binary)]
