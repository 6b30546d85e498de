"""``jvm-native``: the trace replayed by a real HotSpot JVM (Serial or Parallel GC).

The replayer is ``java/Replay.java`` (compiled with ``javac`` into the replayer cache). Each
trace object is one ``Obj { Obj[] slots; byte[] payload; }`` — up to three real allocations:
the Obj, an ``Obj[nslots]`` when ``nslots`` > 0 and a zeroed ``byte[size]`` when ``size`` > 0.
The registers are an ``Obj[]``, the program's whole root set; FREE clears the register. The
trace is decoded before the clock into a direct ByteBuffer (off the Java heap), whose cap
``-XX:MaxDirectMemorySize`` is set from the trace file's size.

Metrics (per replay, windowed to the timed loop):

- ``gc_count``/``gc_counts``: ``GarbageCollectorMXBean.getCollectionCount`` differences;
  "Copy"/"PS Scavenge" count as ``minor``, "MarkSweepCompact"/"PS MarkSweep" as ``full``;
- ``pauses_s``: ``GcInfo.getDuration()`` of the ``GarbageCollectionNotificationInfo``
  notifications whose GC id lies in the loop's window — millisecond resolution, so a sub-ms
  young pause reads 0;
- ``allocated_bytes``: ``com.sun.management.ThreadMXBean.getCurrentThreadAllocatedBytes``
  difference for the replay thread (HotSpot's own object sizes, TLAB-accounted);
- ``cpu_time_s``: this thread's CPU time plus the other threads' ``/proc/self/task/*/schedstat``
  run time (GC and JIT threads included), or ``getProcessCpuTime`` (10 ms ticks) without procfs;
- ``footprint_peak_bytes``: VmHWM after ``/proc/self/clear_refs`` was reset before the loop.

The first replay of each process includes JIT warm-up (reported apart by the harness).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from memcompare import param
from memcompare.errors import Unavailable

from .base import NativeModel, NativeParams

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "java" / "Replay.java"
INSTALL = "jvm-native needs a JDK: apt-get install openjdk-17-jdk-headless"


@dataclass(frozen=True)
class Params(NativeParams):
    """HotSpot flags, named as the simulated ``jvm`` model's Params, with ``-Xms`` = ``-Xmx``."""

    collector: Literal["serial", "parallel"] = param(
        "serial", "serial = -XX:+UseSerialGC; parallel = -XX:+UseParallelGC "
                  "-XX:-UseAdaptiveSizePolicy")
    heap_mb: float = param(256.0, "heap size in MiB (-Xms = -Xmx)", minimum=2)
    young_mb: float | None = param(
        None, "young generation in MiB (-Xmn); absent = HotSpot's default "
              "(heap / (new_ratio + 1))", minimum=0)
    new_ratio: int = param(2, "old : young size ratio when young_mb is absent (-XX:NewRatio)",
                           minimum=1)
    survivor_ratio: int = param(8, "eden : one survivor space (-XX:SurvivorRatio)", minimum=1)
    max_tenuring_threshold: int = param(
        15, "young collections an object survives before promotion (-XX:MaxTenuringThreshold)",
        minimum=0, maximum=16)
    target_survivor_ratio: int = param(
        50, "desired % of a survivor space used after a young collection "
            "(-XX:TargetSurvivorRatio)", minimum=0, maximum=100)
    gc_threads: int = param(
        4, "GC worker threads of the parallel collector (-XX:ParallelGCThreads); serial "
           "always uses one", minimum=1)
    compressed_oops: bool = param(
        True, "4-byte references (-XX:+UseCompressedOops); false = -XX:-UseCompressedOops")
    compressed_class_pointers: bool = param(
        True, "12-byte object header (-XX:+UseCompressedClassPointers); false = "
              "-XX:-UseCompressedClassPointers")
    scalar_replacement: bool = param(
        True, "C2 escape analysis may scalar-replace non-escaping allocations "
              "(-XX:+EliminateAllocations); false = -XX:-EliminateAllocations")


def _size(mb: float) -> str:
    """A HotSpot size argument: whole MiB as ``Nm``, otherwise KiB."""
    return f"{int(mb)}m" if float(mb).is_integer() else f"{int(round(mb * 1024))}k"


class JvmNative(NativeModel):
    """The trace replayed in a real HotSpot JVM, measured with its MXBeans and procfs."""

    name = "jvm-native"
    language = "java"
    sources = (SOURCE,)
    Params = Params

    def build(self, cache_dir: Path) -> list[str]:
        javac, java = shutil.which("javac"), shutil.which("java")
        if javac is None or java is None:
            raise Unavailable(INSTALL)
        cache_dir = Path(cache_dir)
        if not (cache_dir / "Replay.class").exists():
            r = subprocess.run([javac, "-d", str(cache_dir), str(SOURCE)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"javac failed on {SOURCE.name}:\n{r.stderr.strip()}")
        return [java, "-cp", str(cache_dir), "Replay"]

    def flags(self, trace_bytes: int = 0) -> list[str]:
        """The JVM options for ``self.params``; ``trace_bytes`` sizes the direct-memory cap
        (the decoded trace takes 16 bytes per event, the file 50)."""
        p = self.params
        f = ["-XX:+UseSerialGC"] if p.collector == "serial" else \
            ["-XX:+UseParallelGC", "-XX:-UseAdaptiveSizePolicy",
             f"-XX:ParallelGCThreads={p.gc_threads}"]
        f += [f"-Xms{_size(p.heap_mb)}", f"-Xmx{_size(p.heap_mb)}"]
        if p.young_mb is not None:
            f.append(f"-Xmn{_size(p.young_mb)}")
        else:
            f.append(f"-XX:NewRatio={p.new_ratio}")
        f += [f"-XX:SurvivorRatio={p.survivor_ratio}",
              f"-XX:MaxTenuringThreshold={p.max_tenuring_threshold}",
              f"-XX:TargetSurvivorRatio={p.target_survivor_ratio}"]
        if not p.compressed_oops:
            f.append("-XX:-UseCompressedOops")
        if not p.compressed_class_pointers:
            f.append("-XX:-UseCompressedClassPointers")
        if not p.scalar_replacement:
            f.append("-XX:-EliminateAllocations")
        direct_mb = 64 + (trace_bytes // 2 >> 20)
        f.append(f"-XX:MaxDirectMemorySize={direct_mb}m")
        return f

    def command(self, prefix: list[str], trace_path: str, replays: int
                ) -> tuple[list[str], dict[str, str]]:
        size = os.path.getsize(trace_path)
        return ([prefix[0], *self.flags(size), *prefix[1:], trace_path, str(replays)], {})
