"""Lifetime traces from real programs: captures of memray (Python) and heaptrack (C/C++).

An allocation profiler records every ``malloc``/``free`` (and Python's own allocator) with a
size and an address, but no pointers between the blocks. Each allocation becomes one object of
``size`` payload bytes and no slots, held by a register from its ALLOC until its FREE: a
**lifetime trace** (docs/trace-import.md says what that means for each model and when it is a
fair comparison). ``realloc`` is a FREE of the old block and an ALLOC of the new one, as both
profilers record it. An object the capture never frees stays in its register to the end: it is
counted in the trace's ``params`` (``unfreed_objects``, ``unfreed_bytes``) and reported by
``memcompare trace import``.

This module reads the profilers' files through their own documented outputs (memray's
``FileReader``; heaptrack's line format) and builds a :class:`memcompare.trace.Trace`; it must
not know about models or engines.
"""
from __future__ import annotations

import gzip
import heapq
import io
import os
import shutil
import subprocess
from pathlib import Path
from typing import IO, Iterator

from .errors import ConfigError, TraceError
from .trace import ALLOC, FREE, MAX_REGISTER, WORK, Trace, build

__all__ = ["import_memray", "import_heaptrack", "Lifetimes"]


class Lifetimes:
    """Builds a lifetime trace: :meth:`alloc` and :meth:`free` by the profiler's own key (an
    address, an allocation index), :meth:`work` for time between records.

    Registers are handed out lowest-free-first, so the register file is as large as the peak
    number of live blocks; a program with more than 2^20 blocks live at once cannot be a trace.
    """

    def __init__(self, source: str):
        self.source = source
        self.ops: list[int] = []
        self.a: list[int] = []
        self.b: list[int] = []
        self._free_regs: list[int] = []
        self._next_reg = 0
        self.live: dict[object, tuple[int, int]] = {}     # key -> (register, size)
        self.allocations = 0
        self.allocated_bytes = 0
        self.ignored_frees = 0        # frees of blocks allocated before the capture began

    def alloc(self, key: object, size: int, where: str) -> None:
        if size < 0:
            raise TraceError(f"{where}: negative allocation size {size}", source=self.source)
        old = self.live.pop(key, None)
        if old is not None:
            # the profiler saw no free of the block that had this address: it stays allocated
            # (held to the end) under a key no later free can name
            self.live[("lost", len(self.ops))] = old
        if self._free_regs:
            r = heapq.heappop(self._free_regs)
        else:
            r = self._next_reg
            if r >= MAX_REGISTER:
                raise TraceError(f"{where}: more than {MAX_REGISTER} blocks live at once; a "
                                 f"lifetime trace holds each live block in a register (at most "
                                 f"{MAX_REGISTER}): capture a shorter run", source=self.source)
            self._next_reg += 1
        self.ops.append(ALLOC)
        self.a.append(r)
        self.b.append(size)
        self.live[key] = (r, size)
        self.allocations += 1
        self.allocated_bytes += size

    def free(self, key: object) -> bool:
        """FREE the block under ``key``; False (and counted) when no live block has it."""
        held = self.live.pop(key, None)
        if held is None:
            self.ignored_frees += 1
            return False
        self.ops.append(FREE)
        self.a.append(held[0])
        self.b.append(0)
        heapq.heappush(self._free_regs, held[0])
        return True

    def work(self, ns: int) -> None:
        if ns > 0:
            self.ops.append(WORK)
            self.a.append(int(ns))
            self.b.append(0)

    def build(self, workload: str, params: dict) -> Trace:
        unfreed = list(self.live.values())
        params = {**params, "allocations": self.allocations,
                  "allocated_bytes": self.allocated_bytes,
                  "unfreed_objects": len(unfreed),
                  "unfreed_bytes": sum(size for _, size in unfreed),
                  "ignored_frees": self.ignored_frees}
        # WORK's nanoseconds sit in operand a, ALLOC's size in b; c is always 0 (no slots)
        return build(self.ops, self.a, self.b, [0] * len(self.ops), workload=workload,
                     params=params, source=self.source)


# -- memray ------------------------------------------------------------------------------------

def import_memray(path: str | os.PathLike, source: str | None = None) -> Trace:
    """A ``memray run`` capture (a ``.bin`` file) as a lifetime trace.

    Read with memray's own reader, ``memray.FileReader(path).get_allocation_records()``, which
    yields every record in the order memray's tracker wrote them — one stream for all threads,
    written under the tracker's lock (memray src/memray/_memray/tracking_api.cpp), so the
    threads are already merged in time order. Records, by ``AllocatorType``
    (memray src/memray/_memray/hooks.cpp, ``allocatorKind``):

    - MALLOC, CALLOC, REALLOC, POSIX_MEMALIGN, ALIGNED_ALLOC, MEMALIGN, VALLOC, PVALLOC and
      PYMALLOC_MALLOC / _CALLOC / _REALLOC: an ALLOC of ``size`` bytes at ``address``. memray's
      realloc hook records the old block's FREE before the new block's REALLOC, so a realloc is
      a FREE and an ALLOC here too.
    - FREE, PYMALLOC_FREE: the FREE of the block at ``address``.
    - MMAP: an ALLOC of the mapping's length; MUNMAP: the bytes unmapped. A mapping is freed
      when its last byte is unmapped (munmap may unmap part of a mapping, or several).

    memray's records carry no timestamps (only its periodic memory snapshots do, and they do not
    say which record they follow), so the trace has no WORK events: the program's time between
    allocations is not known. Captures made with ``--aggregate`` have no per-allocation records
    and are refused.
    """
    try:
        import memray
    except ImportError:
        raise ConfigError("--from memray needs memray: pip install memray "
                          "(or pip install 'memcompare[memray]')") from None
    source = source or os.fspath(path)
    try:
        reader = memray.FileReader(os.fspath(path), report_progress=False)
    except (OSError, RuntimeError, ValueError) as e:
        raise TraceError(f"not a memray capture memray can read: {e}", source=source) from None
    try:
        meta = reader.metadata
        if getattr(meta.file_format, "name", "") != "ALL_ALLOCATIONS":
            raise TraceError(f"a memray capture of format {meta.file_format.name} has no "
                             f"per-allocation records: record with `memray run` without "
                             f"--aggregate", source=source)
        life = Lifetimes(source)
        maps: dict[int, list[int]] = {}       # mapping start -> [end, bytes unmapped so far]
        A = memray.AllocatorType
        deallocators = {int(A.FREE), int(A.PYMALLOC_FREE)}
        mmap, munmap = int(A.MMAP), int(A.MUNMAP)
        for k, rec in enumerate(reader.get_allocation_records()):
            kind = int(rec.allocator)
            if kind in deallocators:
                life.free(rec.address)
            elif kind == mmap:
                life.alloc(("map", rec.address), rec.size, f"record {k}")
                maps[rec.address] = [rec.address + rec.size, 0]
            elif kind == munmap:
                lo, hi = rec.address, rec.address + rec.size
                hit = False
                for start in [s for s, (end, _) in maps.items() if s < hi and end > lo]:
                    entry = maps[start]
                    entry[1] += min(hi, entry[0]) - max(lo, start)
                    hit = True
                    if entry[1] >= entry[0] - start:
                        del maps[start]
                        life.free(("map", start))
                if not hit:
                    life.ignored_frees += 1
            else:
                life.alloc(rec.address, rec.size, f"record {k}")
        params = {"format": "memray", "file": Path(source).name,
                  "python_allocator": str(meta.python_allocator),
                  "trace_python_allocators": bool(meta.trace_python_allocators)}
    finally:
        reader.close()
    return life.build("memray", params)


# -- heaptrack ---------------------------------------------------------------------------------

#: heaptrack line modes that carry no allocation: version, executable, command line, system
#: info, modules, trace and instruction-pointer tables, strings, RSS samples, comments, attach
#: marker (KDE/heaptrack src/track/libheaptrack.cpp writes them; src/analyze/
#: accumulatedtracedata.cpp reads them)
_HEAPTRACK_SKIPPED = set("vxXImtsiR#A")


def _open_text(path: Path, source: str) -> IO[str]:
    """The file's text, decompressed by its magic number: zstd (heaptrack's default, through the
    ``zstd`` command heaptrack itself compresses with), gzip, or plain."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"\x28\xb5\x2f\xfd":
        zstd = shutil.which("zstd")
        if zstd is None:
            raise ConfigError(f"{source}: a zstd-compressed heaptrack file needs the zstd "
                              f"command: apt-get install zstd")
        r = subprocess.run([zstd, "-dc", str(path)], capture_output=True)
        if r.returncode != 0:
            raise TraceError(f"zstd could not decompress it: {r.stderr.decode().strip()}",
                             source=source)
        return io.StringIO(r.stdout.decode("utf-8", "replace"))
    if magic[:2] == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _hex(tok: str, lineno: int, source: str) -> int:
    try:
        return int(tok, 16)
    except ValueError:
        raise TraceError(f"expected a hexadecimal number, got {tok!r}", line=lineno,
                         source=source) from None


def import_heaptrack(path: str | os.PathLike, source: str | None = None) -> Trace:
    """A heaptrack capture as a lifetime trace: the file ``heaptrack PROGRAM`` writes
    (``heaptrack.PROGRAM.PID.zst``, interpreted) or ``heaptrack --raw`` writes (``.raw.zst``);
    zstd, gzip or plain text.

    Line format (hexadecimal numbers; KDE/heaptrack src/track/libheaptrack.cpp writes the raw
    lines, src/interpret/heaptrack_interpret.cpp turns them into the interpreted ones):

    - raw ``+ SIZE TRACE PTR``: an allocation of SIZE bytes at PTR; ``- PTR``: its free. Frees
      match allocations by address, exactly.
    - interpreted ``a SIZE TRACE`` defines allocation info number k (k counts the ``a`` lines
      from 0); ``+ K``: an allocation with info K; ``- K``: a free of a block with info K. The
      interpreter keeps the address only to find K, so when several blocks with the same info
      (the same size from the same call stack) are live, the file does not say which one was
      freed: the most recently allocated is taken. The bytes live at every moment are exact
      either way; only which of several equal blocks lives longer is not.
    - ``c T``: T milliseconds since the program started (heaptrack's timer thread writes one
      about every 10 ms): a WORK event of the time since the previous ``c`` line. That time
      includes the program's own allocations, which every model also charges, so WORK slightly
      over-states the program's computation (by at most the real allocator's time).
    - realloc is written as the old block's ``-`` then the new block's ``+``.
    - other lines (version, modules, backtraces, strings, RSS samples, comments) carry no
      allocation and are skipped.
    """
    path = Path(path)
    source = source or os.fspath(path)
    life = Lifetimes(source)
    infos: list[int] = []                 # allocation info index -> size (interpreted form)
    stacks: dict[int, list[int]] = {}     # info index -> serials of its live blocks (LIFO)
    serial = 0
    raw: bool | None = None
    last_ms = 0
    version = None
    with _open_text(path, source) as f:
        for lineno, line in enumerate(f, 1):
            mode = line[:1]
            if mode in _HEAPTRACK_SKIPPED or not line.strip():
                if mode == "v":
                    version = line.split()[1:]
                continue
            tok = line.split()
            where = f"{Path(source).name}:{lineno}"
            if mode == "+":
                if raw is None:
                    raw = len(tok) >= 4
                if raw:
                    if len(tok) < 4:
                        raise TraceError("raw '+' line needs SIZE TRACE PTR", line=lineno,
                                         source=source)
                    life.alloc(_hex(tok[3], lineno, source), _hex(tok[1], lineno, source),
                               where)
                else:
                    k = _hex(tok[1], lineno, source) if len(tok) > 1 else -1
                    if not 0 <= k < len(infos):
                        raise TraceError(f"'+' names allocation info {tok[1:2]} but only "
                                         f"{len(infos)} 'a' lines came before it",
                                         line=lineno, source=source)
                    life.alloc(("b", serial), infos[k], where)
                    stacks.setdefault(k, []).append(serial)
                    serial += 1
            elif mode == "-":
                if len(tok) < 2:
                    raise TraceError("'-' line needs an operand", line=lineno, source=source)
                v = _hex(tok[1], lineno, source)
                if raw is None:
                    # a free before any allocation: the form is not known yet; in both forms
                    # it can only be a block allocated before the capture began
                    life.ignored_frees += 1
                elif raw:
                    life.free(v)
                else:
                    live = stacks.get(v)
                    if live:
                        life.free(("b", live.pop()))
                    else:
                        life.ignored_frees += 1
            elif mode == "a":
                if len(tok) < 3:
                    raise TraceError("'a' line needs SIZE TRACE", line=lineno, source=source)
                raw = False if raw is None else raw
                infos.append(_hex(tok[1], lineno, source))
            elif mode == "c":
                if len(tok) < 2:
                    raise TraceError("'c' line needs a time", line=lineno, source=source)
                ms = _hex(tok[1], lineno, source)
                life.work((ms - last_ms) * 1_000_000)
                last_ms = max(last_ms, ms)
            else:
                raise TraceError(f"unknown heaptrack line {line.strip()[:40]!r} (expected +, -, "
                                 f"a, c, or one of {''.join(sorted(_HEAPTRACK_SKIPPED))})",
                                 line=lineno, source=source)
    if version is None and not life.ops:
        raise TraceError("not a heaptrack file (no 'v' version line and no allocations)",
                         source=source)
    params = {"format": "heaptrack", "file": Path(source).name,
              "form": "raw" if raw else "interpreted"}
    if version:
        params["heaptrack_version"] = version[0]
    return life.build("heaptrack", params)


def records(trace: Trace) -> Iterator[str]:
    """One line per count a lifetime import reports, for ``memcompare trace import``."""
    p = trace.params
    yield (f"{p.get('allocations', 0)} allocations, {p.get('allocated_bytes', 0)} bytes "
           f"allocated")
    if p.get("unfreed_objects"):
        yield (f"{p['unfreed_objects']} block(s) never freed by the end of the capture "
               f"({p['unfreed_bytes']} bytes): kept live to the end of the trace")
    if p.get("ignored_frees"):
        yield (f"{p['ignored_frees']} free(s) of blocks allocated before the capture began: "
               f"ignored")
