"""What the four native models share: building a replayer, running it, and turning its replays
into docs/design.md §4's metrics like a benchmark harness would.

A native model replays the trace in the real runtime (a small interpreter per language whose
register array is the whole root set; the contract is docs/native.md). It runs ``repeats``
processes × ``replays`` replays each; the first replay of each process is reported apart (JIT
and allocator warm-up), and each metric is the median of the others with their min and max.
A metric the runtime cannot give is ``null`` with the reason in ``stats["null_reasons"]``.

A native model is the *twin* of a simulated one (``twin``): the harness records the settings the
runtime actually ran with (:meth:`NativeModel.settings`), so a table compares the pair only when
they match, and — unless ``baseline = false`` — it replays the same trace with the collector off
(``command(..., baseline=True)``: GOGC=off, Epsilon, gc.disable(), a bump allocator) in
processes interleaved with the configured ones, so the memory-management share of wall time is
measured: ``stats["mm_time_s"]`` = median wall (configured) − median wall (collector off).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from memcompare import Model, Output, Trace, param
from memcompare.errors import OutOfMemory
from memcompare.procs import describe_exit, preexec_die_with_parent
from memcompare.params import to_plain
from memcompare.trace import FREE, LOAD
from memcompare.traceio import save

HERE = Path(__file__).resolve().parent
#: the figures a replay reports that are taken as medians over replays
SCALARS = ("wall_time_s", "cpu_time_s", "gc_count", "footprint_peak_bytes", "rss_before_bytes",
           "allocated_bytes")
#: metrics no replayer can give from inside the runtime, and why
NOT_MEASURED = {
    "max_stall_s": "stalls other than collector pauses (assists, deallocation) are not "
                   "observable from inside the runtime",
    "mmu": "the replayers report pause lengths, not a stall timeline",
    "footprint_mean_bytes": "only the peak resident size (VmHWM) is read",
    "leaked_bytes": "not observable in a running runtime",
    "mm_cpu_fraction": "the runtimes do not split CPU time by memory management",
    "gc_cpu_fraction": "the runtimes do not split CPU time by memory management",
}


@dataclass(frozen=True)
class NativeParams:
    repeats: int = param(3, "processes to start (the median is over all of them)", minimum=1)
    replays: int = param(3, "replays per process; the first of each is reported apart "
                            "(warm-up)", minimum=1)
    timeout_s: float = param(600.0, "give up on one process after this many seconds",
                             minimum=1)
    measure: Literal["warm", "cold"] = param(
        "warm", "which replays the metrics are the median of: warm = replays 2..N of each "
                "process (JIT compiled, heap pages already touched, allocator caches filled); "
                "cold = the first replay of each process (as a simulated model's run)")
    baseline: bool = param(
        True, "also replay in as many processes with the collector off (GOGC=off, Epsilon, "
              "gc.disable(), a never-freeing bump allocator), interleaved with the configured "
              "ones, to measure memory-management time = wall − wall with the collector off")


#: how each runtime says it could not get memory, in its own words, most telling first: the
#: JVM's java.lang.OutOfMemoryError (heap space, array size, metaspace) and, when it cannot even
#: reserve its spaces at start, "Could not allocate ..." / "Could not reserve enough space ..." /
#: "There is insufficient memory for the Java Runtime Environment" (hotspot's
#: vm_exit_during_initialization and vm_exit_out_of_memory); Go's runtime "runtime: out of
#: memory: cannot allocate N-byte block" before its throw "fatal error: out of memory"
#: (runtime/mcache.go allocLarge, malloc.go); C++'s std::bad_alloc (the terminate handler names
#: it; ``new`` throws it when malloc returns NULL); CPython's MemoryError (the last line of its
#: traceback)
OOM_MARKERS = ("java.lang.OutOfMemoryError", "There is insufficient memory for the Java",
               "Could not reserve enough space", "Could not allocate compressed class space",
               "runtime: out of memory", "fatal error: out of memory", "std::bad_alloc",
               "MemoryError")


def out_of_memory(stdout: str, stderr: str) -> str | None:
    """The line in which a replayer's runtime reports running out of memory, or None.

    Only that line is kept: a Python replayer's traceback or a Go goroutine dump says nothing
    more a reader needs."""
    for text in (stderr, stdout):
        lines = text.splitlines()
        for marker in OOM_MARKERS:
            found = [line.strip() for line in lines if marker in line]
            if found:
                return found[-1] if marker == "MemoryError" else found[0]
    return None


def cache_root() -> Path:
    """Where replayers are built: ``MEMCOMPARE_CACHE`` or ``~/.cache/memcompare``."""
    root = os.environ.get("MEMCOMPARE_CACHE") or Path.home() / ".cache" / "memcompare"
    return Path(root) / "replayers"


def digest(trace: Trace) -> dict[str, int]:
    """What every replayer must observe on ``trace`` (a test compares them)."""
    loads = trace.op == LOAD
    return {"objects": trace.objects,
            "loads_nonnull": int(np.count_nonzero(trace.x[loads] >= 0)),
            "bytes": int(trace.obj_bytes.sum())}


class NativeModel(Model):
    """Base of the native models: subclasses set ``name``, ``language``, ``sources``, ``Params``
    and implement :meth:`build` and :meth:`command`."""

    measured = True
    language: ClassVar[str]
    sources: ClassVar[tuple[Path, ...]] = ()
    #: the simulated model this one measures (``go`` for ``go-native``)
    twin: ClassVar[str | None] = None
    #: parameter names whose values must be equal in the twin's params for a pair to be
    #: compared (the runtime's own settings: version, thresholds, heap, GOMAXPROCS)
    matched: ClassVar[tuple[str, ...]] = ()
    #: the twin's params that turn its collector off, as ``command(..., baseline=True)`` does
    #: for the runtime: the simulated side of the memory-management time
    off_params: ClassVar[dict[str, Any]] = {}
    #: the replayer writes every byte it allocates itself (C++'s value-initialising `new`),
    #: rather than the runtime zeroing it: calibration then fits a per-byte mutator cost
    initialises_allocations: ClassVar[bool] = False

    # -- what a language provides ------------------------------------------------------------
    def build(self, cache_dir: Path) -> list[str]:
        """Compile into ``cache_dir`` if needed; return the argv prefix that runs the replayer.
        Raise :class:`Unavailable` saying what to install when the toolchain is missing."""
        raise NotImplementedError

    def command(self, prefix: list[str], trace_path: str, replays: int, *,
                baseline: bool = False) -> tuple[list[str], dict[str, str]]:
        """The full argv and extra environment for one process; ``baseline``: the same replay
        with the collector off."""
        if baseline:      # run() asks only models that declare off_params
            raise ValueError(f"{self.name} has no collector-off mode (no off_params)")
        return prefix + [trace_path, str(replays)], {}

    def parse_output(self, stdout: str, stderr: str, replays: int) -> list[dict[str, Any]]:
        """One dict per replay from a process's output: the JSON lines of stdout."""
        return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]

    def settings(self, replay_line: dict[str, Any]) -> dict[str, Any]:
        """The settings the runtime ran with, keyed by the twin's parameter names; by default
        the ``matched`` params as given (a runtime that decides a value itself, such as the
        interpreter's version, overrides this from what the replayer printed)."""
        return {k: to_plain(getattr(self.params, k)) for k in self.matched
                if hasattr(self.params, k)}

    # -- the harness ---------------------------------------------------------------------------
    def _cache_dir(self) -> Path:
        h = hashlib.sha256()
        for src in sorted(self.sources):
            h.update(src.name.encode())
            h.update(src.read_bytes())
        d = cache_root() / f"{self.language}-{h.hexdigest()[:12]}"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def _built(self) -> list[str]:
        d = self._cache_dir()
        # one build at a time, also across the runner's worker processes
        with open(d / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return self.build(d)

    def run(self, trace: Trace, out: Output) -> None:
        p = self.params
        prefix = self._built()
        lines: list[list[dict[str, Any]]] = []
        off: list[list[dict[str, Any]]] = []
        with tempfile.TemporaryDirectory(prefix="memcompare-native-") as tmp:
            path = str(Path(tmp) / "trace.mctrace")
            # the replayers (Go, Java, C++, Python sources) read binary format version 1
            save(trace, path, version=1)
            # configured and collector-off processes alternate, so that a drift of the
            # machine's speed during the cell moves both alike
            for _ in range(p.repeats):
                lines.append(self._process(prefix, path, baseline=False))
                if p.baseline and self.off_params:
                    off.append(self._process(prefix, path, baseline=True))
        self._report(trace, out, lines)
        if off:
            self._report_baseline(trace, out, off)
        elif p.baseline:
            out.stats["null_reasons"]["mm_time_s"] = (f"{self.name} has no collector-off mode "
                                                      f"to measure against")
        else:
            out.stats["null_reasons"]["mm_time_s"] = "baseline = false: not measured"

    def _process(self, prefix: list[str], path: str, *, baseline: bool
                 ) -> list[dict[str, Any]]:
        p = self.params
        argv, extra = self.command(prefix, path, p.replays, baseline=baseline)
        what = "replayer (collector off)" if baseline else "replayer"
        try:
            # the replayer dies with the worker running it, and so with the run
            r = subprocess.run(argv, env={**os.environ, **extra}, capture_output=True,
                               text=True, timeout=p.timeout_s,
                               preexec_fn=preexec_die_with_parent)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{self.name} {what} ran past {p.timeout_s:g} s") from None
        if r.returncode != 0:
            oom = out_of_memory(r.stdout, r.stderr)
            if oom is not None:
                raise OutOfMemory(f"{self.name} {what} ran out of memory "
                                  f"({describe_exit(r.returncode)}): {oom}", index=-1)
            tail = "\n".join(r.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"{self.name} {what} {describe_exit(r.returncode)}: {tail}")
        replays = self.parse_output(r.stdout, r.stderr, p.replays)
        if len(replays) != p.replays:
            raise RuntimeError(f"{self.name} {what} printed {len(replays)} replays, "
                               f"{p.replays} expected")
        return replays

    def _sample(self, processes: list[list[dict[str, Any]]]
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(first replays, the replays the metrics are the median of)."""
        firsts = [reps[0] for reps in processes]
        if self.params.measure == "cold":
            return firsts, firsts
        return firsts, [r for reps in processes for r in reps[1:]] or firsts

    def _check_digest(self, trace: Trace, replays: list[dict[str, Any]], what: str = ""
                      ) -> dict[str, int]:
        """Every replay observed what the trace says (docs/design.md §3's semantics); the digest."""
        want = digest(trace)
        for r in replays:
            if r["digest"] != want:
                raise RuntimeError(f"{self.name}{what} observed {r['digest']}, the trace says "
                                   f"{want}: the replayer does not follow the trace's semantics")
        return want

    def _report_baseline(self, trace: Trace, out: Output,
                         processes: list[list[dict[str, Any]]]) -> None:
        """Memory-management time: the configured replays' median wall time less the median of
        the same replays with the collector off."""
        _, sample = self._sample(processes)
        self._check_digest(trace, sample, " (collector off)")
        walls = [r["wall_time_s"] for r in sample]
        base = statistics.median(walls)
        st = out.stats
        st["baseline_wall_time_s"] = base
        st["ranges"]["baseline_wall_time_s"] = [min(walls), max(walls)]
        st["baseline_runtime"] = sample[0].get("runtime")
        wall = (out.measured or {}).get("wall_time_s")
        if wall is not None:
            st["mm_time_s"] = wall - base
            # the spread of the difference: each configured process against each off one
            on = st["ranges"].get("wall_time_s", [wall, wall])
            st["ranges"]["mm_time_s"] = [on[0] - max(walls), on[1] - min(walls)]

    def _report(self, trace: Trace, out: Output, processes: list[list[dict[str, Any]]]) -> None:
        firsts, sample = self._sample(processes)
        want = self._check_digest(trace, firsts + sample)
        null_reasons = dict(NOT_MEASURED)
        for r in sample:
            null_reasons.update(r.get("null_reasons") or {})
        metrics: dict[str, Any] = {k: None for k in NOT_MEASURED}
        ranges: dict[str, list[float]] = {}
        for key in SCALARS:
            values = [r.get(key) for r in sample]
            if any(v is None for v in values):
                metrics[key] = None
                continue
            metrics[key] = statistics.median(values)
            ranges[key] = [min(values), max(values)]
        for key in ("gc_count", "footprint_peak_bytes", "allocated_bytes"):
            if metrics.get(key) is not None:
                metrics[key] = int(round(metrics[key]))
        metrics.pop("rss_before_bytes", None)
        # the replay's own growth: the peak minus what the process held before the loop (the
        # runtime and the decoded trace) — the figure to set beside a model's managed heap
        growth = [r["footprint_peak_bytes"] - r["rss_before_bytes"] for r in sample
                  if r.get("footprint_peak_bytes") is not None
                  and r.get("rss_before_bytes") is not None]
        if len(growth) == len(sample):
            ranges["footprint_growth_bytes"] = [min(growth), max(growth)]
            out.stats["footprint_growth_bytes"] = int(round(statistics.median(growth)))
        # pauses: each replay's distribution, then the median of each figure
        per = [_pause_figures(r.get("pauses_s")) for r in sample]
        for key in ("pause_count", "pause_total_s", "pause_max_s", "pause_p50_s", "pause_p95_s",
                    "pause_p99_s"):
            values = [f[key] for f in per if f is not None]
            if len(values) != len(per):
                metrics[key] = None
                null_reasons.setdefault(key, "the runtime does not report pause lengths")
                continue
            metrics[key] = statistics.median(values)
            ranges[key] = [min(values), max(values)]
        if metrics["pause_count"] is not None:
            metrics["pause_count"] = int(round(metrics["pause_count"]))
        kinds = sorted({k for r in sample for k in (r.get("gc_counts") or {})})
        metrics["gc_counts"] = ({k: int(round(statistics.median(
            [(r.get("gc_counts") or {}).get(k, 0) for r in sample]))) for k in kinds}
            if all(r.get("gc_counts") is not None for r in sample) else None)
        wall = metrics.get("wall_time_s")
        ops = trace.events - int(np.count_nonzero(trace.op == FREE))
        metrics["throughput_ops_per_s"] = ops / wall if wall else None
        metrics["live_peak_bytes"] = trace.live_peak_bytes
        for key, value in metrics.items():
            if value is None and key not in null_reasons:
                null_reasons[key] = "not reported by the replayer"
        out.measured = metrics
        # how contended the machine was: CPU other processes took during each loop (where the
        # replayer reads /proc/stat) and whether the runtime had more threads than cores
        others = [r.get("other_cpu_s") for r in sample]
        if all(v is not None for v in others) and others:
            out.stats["other_cpu_s"] = statistics.median(others)
        if any(r.get("oversubscribed") for r in sample):
            out.stats["oversubscribed"] = True
        out.stats.update({
            "language": self.language,
            "runtime": sample[0].get("runtime"),
            "measure": self.params.measure,
            "twin": ({"model": self.twin, "settings": self.settings(sample[0]),
                      "off_params": dict(self.off_params)} if self.twin else None),
            "pause_source": sample[0].get("pause_source"),
            "processes": len(processes),
            "replays_per_process": len(processes[0]),
            "ranges": ranges,
            "first_replays": [{k: r.get(k) for k in ("wall_time_s", "gc_count",
                                                     "footprint_peak_bytes",
                                                     "rss_before_bytes")} for r in firsts],
            "rss_before_bytes": ranges.get("rss_before_bytes"),
            "digest": want,
            "null_reasons": {k: v for k, v in sorted(null_reasons.items())
                             if metrics.get(k) is None},
        })

    def held(self):
        raise RuntimeError("a measured model has no final collection")


def _pause_figures(pauses: list[float] | None) -> dict[str, float] | None:
    if pauses is None:
        return None
    a = np.asarray(pauses, dtype=np.float64)
    if a.size == 0:
        return {"pause_count": 0, "pause_total_s": 0.0, "pause_max_s": 0.0, "pause_p50_s": 0.0,
                "pause_p95_s": 0.0, "pause_p99_s": 0.0}
    return {"pause_count": int(a.size), "pause_total_s": float(a.sum()),
            "pause_max_s": float(a.max()), "pause_p50_s": float(np.percentile(a, 50)),
            "pause_p95_s": float(np.percentile(a, 95)), "pause_p99_s": float(np.percentile(a, 99))}
