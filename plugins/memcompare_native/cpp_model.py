"""``cpp-native``: the trace replayed by a real C++ program, new/delete over the system's glibc
or, with ``allocator``, over jemalloc, tcmalloc or mimalloc preloaded from their Debian packages.

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

``allocator = "jemalloc" | "tcmalloc" | "mimalloc"`` runs the same replayer with ``LD_PRELOAD``
set to the Debian package's shared object (found in the multiarch library directory, e.g.
``/usr/lib/x86_64-linux-gnu``), so libstdc++'s ``operator new`` and ``delete`` reach that
allocator's ``malloc`` and ``free``. Footprint and time are measured as for glibc;
``allocated_bytes`` is null (the exact chunk sums read glibc's own chunk headers). A missing
package makes the cell ``unavailable`` naming it. ``footprint_samples = N`` samples the resident
set size N times per replay for a footprint-over-time figure (the cell's ``timeline``: the
growth above the resident set before the loop, in the replay with the median wall time).

The collector-off baseline (``baseline = true``) is ``--alloc bump``: the same loop over a
never-freeing bump allocator in a region faulted in before the clock starts, the twin of the
``cpp`` model's ``allocator = "bump"``; memory-management time is then what glibc's malloc and
free cost beyond handing out resident memory.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from memcompare.errors import Unavailable

from memcompare import param

from .base import NativeModel, NativeParams

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "cpp" / "replay.cpp"
INSTALL = "cpp-native needs g++: apt-get install g++"
BINARY = "replay-cpp"
CXXFLAGS = ("-O2", "-std=c++17")
#: allocator -> (the shared object its Debian package installs, the package)
ALLOCATORS = {
    "jemalloc": ("libjemalloc.so.2", "libjemalloc2"),
    "tcmalloc": ("libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"),
    "mimalloc": ("libmimalloc.so.2", "libmimalloc2.0"),
}


def library_dirs() -> list[Path]:
    """Where Debian installs shared libraries: the multiarch directories first."""
    arch = sysconfig.get_config_var("MULTIARCH") or ""
    dirs = [Path(p) / arch for p in ("/usr/lib", "/lib") if arch] + [Path("/usr/lib"),
                                                                     Path("/lib")]
    return [d for d in dirs if d.is_dir()]


def find_allocator(name: str) -> Path | None:
    """The shared object of a preloadable allocator, or None when its package is missing."""
    soname = ALLOCATORS[name][0]
    for d in library_dirs():
        if (d / soname).exists():
            return d / soname
    return None


@dataclass(frozen=True)
class Params(NativeParams):
    """C++ new/delete compiled with g++ -O2, over glibc malloc or a preloaded allocator."""

    allocator: Literal["glibc", "jemalloc", "tcmalloc", "mimalloc"] = param(
        "glibc", "the malloc new/delete reach: glibc (the system's), or jemalloc / tcmalloc / "
                 "mimalloc preloaded from Debian's libjemalloc2, libtcmalloc-minimal4, "
                 "libmimalloc2.0")
    footprint_samples: int = param(
        0, "read the resident set size this many times per replay (a few µs each) for a "
           "footprint-over-time figure; 0 = only the peak", minimum=0)


class CppNative(NativeModel):
    """The trace replayed by real C++ (g++ -O2) over glibc, jemalloc, tcmalloc or mimalloc."""

    name = "cpp-native"
    language = "cpp"
    sources = (SOURCE,)
    Params = Params
    twin = "cpp"
    matched = ("allocator",)
    off_params = {"allocator": "bump"}
    initialises_allocations = True       # std::memset of every new object

    def settings(self, replay_line):
        """The allocator the replay ran over."""
        return {"allocator": self.params.allocator}

    def command(self, prefix, trace_path, replays, *, baseline=False):
        argv = prefix + [trace_path, str(replays)]
        if self.params.footprint_samples:
            argv += ["--samples", str(self.params.footprint_samples)]
        if baseline:              # the same bump baseline whatever the allocator: no preload
            return argv + ["--alloc", "bump"], {}
        if self.params.allocator == "glibc":
            return argv, {}
        lib = find_allocator(self.params.allocator)
        return argv + ["--alloc", "preloaded"], {"LD_PRELOAD": str(lib)}

    def _report(self, trace, out, processes):
        super()._report(trace, out, processes)
        if not self.params.footprint_samples:
            return
        # the footprint over time of the replay with the median wall time among those measured
        _, sample = self._sample(processes)
        walls = [r["wall_time_s"] for r in sample]
        mid = sample[walls.index(statistics.median_low(walls))]
        # growth above the resident set before the loop (the process, the C++ runtime and the
        # decoded trace), the figure a model's heap footprint compares with
        base = mid.get("rss_before_bytes") or 0
        points = [[t * 1e9, max(0, b - base)] for t, b in mid.get("footprint") or () if b >= 0]
        out.timeline = {"wall_ns": mid["wall_time_s"] * 1e9, "footprint": points, "live": [],
                        "pauses": [], "mmu": []}
        out.stats["timeline_replay"] = ("the replay with the median wall time; footprint = "
                                        "resident set size above the one before the loop")

    def build(self, cache_dir: Path) -> list[str]:
        gxx = shutil.which("g++")
        if gxx is None:
            raise Unavailable(INSTALL)
        if self.params.allocator != "glibc" and find_allocator(self.params.allocator) is None:
            soname, package = ALLOCATORS[self.params.allocator]
            raise Unavailable(f"cpp-native allocator = \"{self.params.allocator}\" needs "
                              f"{soname}: apt-get install {package}")
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
