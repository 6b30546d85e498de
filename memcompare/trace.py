"""Traces: the register-machine programs every model replays (docs/design.md §3).

A trace is five event columns (``op``, ``flags``, ``a``, ``b``, ``c``) plus three derived object-id
columns (``x``, ``y``, ``z``) and an object table. The derived columns are computed once, when the
trace is built, by the same pass that validates it; file formats store them, so loading never
needs a per-event Python loop. This module must not know about models, engines or files.

Derived object ids per event (``-1`` = none):

======  ==========================  =========================  ==============================
op      x                           y                          z
======  ==========================  =========================  ==============================
alloc   the new object              -1                         object the register held before
load    the object loaded (or -1)   the object read from       object ``rd`` held before
store   the object written into     the object stored (or -1)  the value the slot held before
move    the object copied           -1                         object ``rd`` held before
clear   the object dropped          -1                         -1
free    the object freed            -1                         -1
work    -1                          -1                         -1
======  ==========================  =========================  ==============================

A model that counts references takes the new reference (``x`` or ``y``) before it drops the
overwritten one (``z``): ``move 3 3`` copies a register onto itself and must change nothing.
"""
from __future__ import annotations

import hashlib
import mmap
import operator
import struct
import random
from bisect import bisect_left, insort
from collections import deque
from heapq import heappop, heappush
from typing import Any, Callable, Iterator, NoReturn

import numpy as np

from .errors import TraceError

ALLOC, LOAD, STORE, MOVE, CLEAR, FREE, WORK = range(7)
OP_NAMES = ("alloc", "load", "store", "move", "clear", "free", "work")
OP_CODES = {name: code for code, name in enumerate(OP_NAMES)}
#: operands each op uses, in order (``a``, ``b``, ``c``)
OP_ARITY = (3, 3, 3, 2, 1, 1, 1)
FLAG_LOCAL = 1
#: kinds of :meth:`Recorder.slot_ops` operations: alloc_into, free_from, replace, work
INTO, FROM, SWAP, SPEND = range(4)
NULL = -1
#: Register numbers are small dense integers handed out by the recorder; a limit keeps a typo in
#: a hand-written trace ("alloc 4000000000 ...") from allocating a huge register file.
MAX_REGISTER = 1 << 20
#: Likewise for slots: 16 Mi pointer slots (128 MiB of pointers) is beyond any real object, and a
#: typo must not allocate gigabytes in the validator.
MAX_SLOTS = 1 << 24
SLOT_BYTES = 8

#: the five columns an event consists of, and the derived ones, with their on-disk dtypes
EVENT_COLUMNS = (("op", "u1"), ("flags", "u1"), ("a", "<i8"), ("b", "<i8"), ("c", "<i8"))
DERIVED_COLUMNS = (("x", "<i8"), ("y", "<i8"), ("z", "<i8"))
COLUMNS = EVENT_COLUMNS + DERIVED_COLUMNS


#: Stored integer columns take the narrowest of these dtypes that holds every value of the column
#: (docs/design.md §3 fixes the values, not the widths). Never narrower than int16: models do
#: arithmetic on the columns, and an int8 slot index times 8 would overflow.
STORAGE_DTYPES = (np.dtype(np.int16), np.dtype(np.int32), np.dtype(np.int64))
#: Columns are hashed and converted in chunks of this many events: a 10⁸-event trace never needs
#: its canonical (int64) encoding in memory at once.
CHUNK_EVENTS = 1 << 20


def narrowest(lo: int, hi: int) -> np.dtype:
    """The narrowest storage dtype that holds every integer in ``lo..hi``."""
    for dt in STORAGE_DTYPES:
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return dt
    raise OverflowError(f"values {lo}..{hi} do not fit in 64 bits")


def narrow(col: np.ndarray) -> np.ndarray:
    """``col`` in the narrowest storage dtype that holds its values (the same array if it is)."""
    col = np.asarray(col)
    if col.size == 0:
        want = STORAGE_DTYPES[0]
    else:
        want = narrowest(int(col.min()), int(col.max()))
    if col.dtype == want:
        return col
    return col.astype(want)


def _widened(col: np.ndarray) -> np.ndarray:
    """A narrow (int8 or int16) column as int32, the narrowest type the models compute in."""
    return col if col.dtype.itemsize >= 4 else col.astype(np.int32)


class Trace:
    """One validated trace. Build it with :func:`build`, a :class:`Recorder` or a file loader.

    The eight columns are stored as compactly as their values allow (``op`` and ``flags`` as
    uint8; the others as int16, int32 or int64, whichever is the narrowest that holds every
    value of the column), so a trace costs about 20 bytes per event rather than 50. Reading a
    column narrower than int32 gives an int32 copy, made once and kept, so that a model's
    arithmetic (a slot index times 8, a size plus 8 × slots) cannot overflow where int64 did
    not; :meth:`stored` gives the column as stored. Columns may be read-only views of a
    memory-mapped file (:func:`memcompare.traceio.load`).

    The identity of a trace is the sha256 of its canonical encoding — every column in the
    dtype of :data:`COLUMNS`, one after the other — whatever the dtypes it is stored in.
    """

    __slots__ = ("_cols", "registers", "workload", "params", "_cache", "__weakref__")

    def __init__(self, op, flags, a, b, c, x, y, z, registers: int, workload: str | None = None,
                 params: dict[str, Any] | None = None, _cache: dict[str, Any] | None = None):
        cols = {"op": np.asarray(op), "flags": np.asarray(flags)}
        for name, col in (("a", a), ("b", b), ("c", c), ("x", x), ("y", y), ("z", z)):
            cols[name] = narrow(col)
        # b is read in sums "size + 8 × slots" (an object's bytes, docs/design.md §3): store it wide
        # enough that the largest such sum fits, so that the sum cannot overflow in b's dtype
        bcol, ccol = cols["b"], cols["c"]
        if bcol.size and bcol.dtype.itemsize >= 4:
            top = int(bcol.max()) + SLOT_BYTES * max(int(ccol.max()), 0)
            want = narrowest(int(bcol.min()), top) if top < 1 << 63 else np.dtype(np.int64)
            if want.itemsize > bcol.dtype.itemsize:
                cols["b"] = bcol.astype(want)
        for name in ("op", "flags"):
            if cols[name].dtype != np.uint8:
                cols[name] = cols[name].astype(np.uint8)
        n = cols["op"].shape[0]
        if any(col.ndim != 1 or col.shape[0] != n for col in cols.values()):
            raise ValueError("event columns differ in length")
        self._cols = cols
        self.registers = int(registers)
        self.workload = workload
        self.params = dict(params or {})
        self._cache = {} if _cache is None else _cache

    def stored(self, name: str) -> np.ndarray:
        """Column ``name`` as stored (possibly int16, possibly a read-only memory map)."""
        return self._cols[name]

    def segment(self, name: str, lo: int, hi: int) -> np.ndarray:
        """Events ``lo``..``hi`` of column ``name`` widened as its property gives it (int32 at
        least), without a widened copy of the whole column."""
        return _widened(self._cols[name][lo:hi])

    def _wide(self, name: str) -> np.ndarray:
        col = self._cols[name]
        if col.dtype.itemsize >= 4:
            return col
        key = "wide_" + name
        if key not in self._cache:
            self._cache[key] = _widened(col)
        return self._cache[key]

    @property
    def op(self) -> np.ndarray:
        return self._cols["op"]

    @property
    def flags(self) -> np.ndarray:
        return self._cols["flags"]

    a = property(lambda self: self._wide("a"), doc="operand a of every event")
    b = property(lambda self: self._wide("b"), doc="operand b of every event")
    c = property(lambda self: self._wide("c"), doc="operand c of every event")
    x = property(lambda self: self._wide("x"), doc="derived object id x of every event")
    y = property(lambda self: self._wide("y"), doc="derived object id y of every event")
    z = property(lambda self: self._wide("z"), doc="derived object id z of every event")

    @property
    def nbytes(self) -> int:
        """Bytes the stored columns take (not counting derived tables computed on demand)."""
        return sum(col.nbytes for col in self._cols.values())

    # -- identity -----------------------------------------------------------------------------
    @property
    def events(self) -> int:
        return int(self._cols["op"].shape[0])

    def __len__(self) -> int:
        return self.events

    def canonical_chunks(self) -> Iterator[bytes]:
        """The canonical encoding of the columns (format version 1's body), in pieces."""
        n = self.events
        for name, dt in COLUMNS:
            col = self._cols[name]
            want = np.dtype(dt)
            if col.dtype == want and col.flags.c_contiguous:
                if n:
                    yield memoryview(col).cast("B")
                continue
            for i in range(0, n, CHUNK_EVENTS):
                yield col[i:i + CHUNK_EVENTS].astype(want).tobytes()

    def body(self) -> bytes:
        """The canonical encoding of the columns, whole; its sha256 identifies the trace."""
        return b"".join(bytes(part) for part in self.canonical_chunks())

    @property
    def sha256(self) -> str:
        if "sha256" not in self._cache:
            h = hashlib.sha256()
            for part in self.canonical_chunks():
                h.update(part)
            self._cache["sha256"] = h.hexdigest()
        return self._cache["sha256"]

    # -- object table (numpy, computed once) --------------------------------------------------
    def _objects(self) -> dict[str, np.ndarray]:
        if "objects" not in self._cache:
            # a chunk of events at a time, into tables made once: whole-trace temporaries (a
            # mask per event, a gather then a widened copy per table) are fresh memory at 10⁸
            # events; the same values
            op, cols = self.op, self._cols
            n = self.events
            m = sum(int(np.count_nonzero(op[lo:lo + CHUNK_EVENTS] == ALLOC))
                    for lo in range(0, n, CHUNK_EVENTS))
            alloc_at = np.empty(m, dtype=np.int64)
            # int64 per object whatever the columns' storage: sizes are summed and multiplied
            size = np.empty(m, dtype=np.int64)
            nslots = np.empty(m, dtype=np.int64)
            local = np.empty(m, dtype=bool)
            free_at = np.full(m, -1, dtype=np.int64)
            k = 0
            for lo in range(0, n, CHUNK_EVENTS):
                seg = op[lo:lo + CHUNK_EVENTS]
                at = np.flatnonzero(seg == ALLOC)
                j = k + at.size
                alloc_at[k:j] = at + lo
                size[k:j] = cols["b"][lo:lo + CHUNK_EVENTS][at]
                nslots[k:j] = cols["c"][lo:lo + CHUNK_EVENTS][at]
                local[k:j] = (cols["flags"][lo:lo + CHUNK_EVENTS][at] & FLAG_LOCAL) != 0
                k = j
                at = np.flatnonzero(seg == FREE)
                free_at[cols["x"][lo:lo + CHUNK_EVENTS][at]] = at + lo
            slot_base = np.cumsum(nslots)
            slot_base -= nslots
            self._cache["objects"] = {
                "alloc_at": alloc_at,
                "size": size,
                "nslots": nslots,
                "local": local,
                "free_at": free_at,
                "slot_base": slot_base,
            }
        return self._cache["objects"]

    @property
    def objects(self) -> int:
        return int(self._objects()["alloc_at"].shape[0])

    @property
    def obj_size(self) -> np.ndarray:
        """Payload bytes of each object, by object id."""
        return self._objects()["size"]

    @property
    def obj_nslots(self) -> np.ndarray:
        return self._objects()["nslots"]

    @property
    def obj_local(self) -> np.ndarray:
        return self._objects()["local"]

    @property
    def obj_alloc_at(self) -> np.ndarray:
        """Event index of each object's ALLOC."""
        return self._objects()["alloc_at"]

    @property
    def obj_free_at(self) -> np.ndarray:
        """Event index of each object's FREE, or -1 when the trace never frees it."""
        return self._objects()["free_at"]

    @property
    def obj_slot_base(self) -> np.ndarray:
        """Index of each object's first slot in a flat array of all slots."""
        return self._objects()["slot_base"]

    @property
    def obj_bytes(self) -> np.ndarray:
        """Payload + 8 × slots: the object's bytes without any runtime's header."""
        if "obj_bytes" not in self._cache:
            self._cache["obj_bytes"] = self.obj_size + SLOT_BYTES * self.obj_nslots
        return self._cache["obj_bytes"]

    @property
    def live_peak_bytes(self) -> int:
        """Peak of bytes allocated and not yet freed by the trace's own FREEs (docs/design.md §4)."""
        if "live_peak" not in self._cache:
            peak = 0 if not self.events else None
            for _, part in self.live_chunks():
                top = int(part.max())
                peak = top if peak is None else max(peak, top)
            self._cache["live_peak"] = peak
        return self._cache["live_peak"]

    @property
    def live_curve(self) -> np.ndarray:
        """Live bytes after each event (the trace's FREEs define death), as one array."""
        if "live_curve" not in self._cache:
            live = np.empty(self.events, dtype=np.int64)
            for lo, part in self.live_chunks():
                live[lo:lo + part.size] = part
            self._cache["live_curve"] = live
        return self._cache["live_curve"]

    def live_chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        """:attr:`live_curve` a chunk of :data:`CHUNK_EVENTS` events at a time: ``(lo, live)``,
        the live bytes after events ``lo, lo + 1, ...``, in a buffer reused for the next chunk.

        One pass: each ALLOC adds its object's bytes and each FREE takes them away, summed in
        place (integers: exact whatever the grouping). Its temporaries stay a few MB, where a
        curve of 8 bytes per event is fresh memory at 10⁸ events (the measurement reads it a
        chunk at a time: :func:`memcompare.metrics.envelope_chunks`)."""
        n = self.events
        if "live_curve" in self._cache:
            live = self._cache["live_curve"]
            for lo in range(0, n, CHUNK_EVENTS):
                yield lo, live[lo:lo + CHUNK_EVENTS]
            return
        nbytes = self.obj_bytes
        op, x = self.op, self.stored("x")          # object ids, only to index: as stored
        buf = np.empty(min(n, CHUNK_EVENTS), dtype=np.int64)
        carry = 0
        for lo in range(0, n, CHUNK_EVENTS):
            hi = min(lo + CHUNK_EVENTS, n)
            seg, xs = op[lo:hi], x[lo:hi]
            part = buf[:hi - lo]            # the chunk's deltas first, then their sums
            part.fill(0)
            at = np.flatnonzero(seg == ALLOC)
            part[at] = nbytes[xs[at]]
            at = np.flatnonzero(seg == FREE)
            part[at] = -nbytes[xs[at]]
            np.cumsum(part, out=part)
            part += carry
            carry = int(part[-1])
            yield lo, part

    # -- end state ----------------------------------------------------------------------------
    def final_registers(self) -> np.ndarray:
        """The object each register holds after the last event (``-1`` = empty)."""
        regs = np.full(self.registers, -1, dtype=np.int64)
        # the columns as stored: registers and object ids index and are copied, never summed,
        # so a narrow column gives the same values without a whole-trace widened copy
        op, a, x = self.op, self.stored("a"), self.stored("x")

        def writes(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
            seg = op[lo:hi]
            w = np.flatnonzero((seg <= FREE) & (seg != STORE))   # every op but WORK and STORE
            value = np.where(seg[w] >= CLEAR, -1, x[lo:hi][w])   # writes or clears register a
            return a[lo:hi][w], value

        _last_writes(regs, self.events, writes)
        return regs

    def final_slots(self) -> np.ndarray:
        """Every slot's value after the last event, flat (see :attr:`obj_slot_base`)."""
        total = int(self.obj_nslots.sum())
        slots = np.full(total, -1, dtype=np.int64)
        # as stored (see final_registers): base is int64, so base + b cannot overflow
        op, b, x, y = self.op, self.stored("b"), self.stored("x"), self.stored("y")
        base = self.obj_slot_base

        def writes(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
            w = np.flatnonzero(op[lo:hi] == STORE)
            return base[x[lo:hi][w]] + b[lo:hi][w], y[lo:hi][w]

        _last_writes(slots, self.events, writes)
        return slots

    def reachable_at_end(self) -> np.ndarray:
        """Boolean mask over objects: reachable from the registers after the last event."""
        if "reach_end" not in self._cache:
            regs = self.final_registers()
            if not (regs >= 0).any():
                # every register empty at the end (a program that cleaned up): nothing is
                # reachable, whatever the slots hold — no walk over every STORE of the trace
                self._cache["reach_end"] = np.zeros(self.objects, dtype=bool)
                return self._cache["reach_end"]
            self._cache["reach_end"] = reachable(regs, self.final_slots(),
                                                 self.obj_slot_base, self.obj_nslots, self.objects)
        return self._cache["reach_end"]

    # -- conveniences -------------------------------------------------------------------------
    def save(self, path, *, compress: str | None = None, version: int | None = None) -> None:
        """Write the trace; the text form for ``.mctrace.txt`` / ``.txt``, binary otherwise
        (``compress="zlib"`` or ``"zstd"`` compresses a binary file's columns; ``version=1``
        writes the old binary format, which the native replayers read)."""
        from .traceio import FORMAT_VERSION, save
        save(self, path, compress=compress, version=version or FORMAT_VERSION)

    def counts(self) -> dict[str, int]:
        return {name: int(n) for name, n in zip(OP_NAMES, np.bincount(self.op, minlength=7))}

    def __repr__(self) -> str:
        return (f"<Trace {self.workload or 'anonymous'} events={self.events} "
                f"objects={self.objects} sha256={self.sha256[:12]}>")


def _last_write(target: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For writes in event order, the last value written to each distinct target."""
    target, value = target[::-1], value[::-1]
    unique, first = np.unique(target, return_index=True)
    return unique, value[first]


def _last_writes(dest: np.ndarray, events: int,
                 writes: Callable[[int, int], tuple[np.ndarray, np.ndarray]]) -> None:
    """Set ``dest[t]`` to the last value written to each target ``t``, where ``writes(lo, hi)``
    gives the (target, value) writes of events ``lo .. hi - 1`` in event order.

    A chunk of :data:`CHUNK_EVENTS` events at a time from the end: a target's last write is in
    the last chunk that writes it, so each chunk sorts only its own writes to targets no later
    chunk wrote (linear in the trace, where one sort of every write was not: issue 10's
    scale), and the walk stops once every target has its value."""
    done = np.zeros(dest.size, dtype=bool)
    left = dest.size
    for hi in range(events, 0, -CHUNK_EVENTS):
        target, value = writes(max(hi - CHUNK_EVENTS, 0), hi)
        new = ~done[target]             # writes a later chunk overwrites need no sort
        if not new.any():
            continue
        target, value = _last_write(target[new], value[new])
        dest[target] = value
        done[target] = True
        left -= target.size
        if not left:
            break


def reachable(registers: np.ndarray, slots: np.ndarray, slot_base: np.ndarray,
              nslots: np.ndarray, nobjects: int) -> np.ndarray:
    """Objects reachable from ``registers`` through ``slots`` (a Python worklist: no recursion)."""
    mark = bytearray(nobjects)
    # memoryviews, read one object at a time: the same Python ints, without a list of one
    # int per object made and faulted in first (at 10⁸ events, 1 GB for objects the walk
    # mostly never visits)
    base = memoryview(np.ascontiguousarray(slot_base, dtype=np.int64))
    ns = memoryview(np.ascontiguousarray(nslots, dtype=np.int64))
    flat = memoryview(np.ascontiguousarray(slots, dtype=np.int64))
    stack = [r for r in registers.tolist() if r >= 0]
    while stack:
        o = stack.pop()
        if mark[o]:
            continue
        mark[o] = 1
        s = base[o]
        for v in flat[s:s + ns[o]]:
            if v >= 0 and not mark[v]:
                stack.append(v)
    return np.frombuffer(mark, dtype=np.uint8).astype(bool)


def build(op, a, b, c, flags=None, *, workload: str | None = None,
          params: dict[str, Any] | None = None, lines: list[int] | None = None,
          source: str | None = None) -> Trace:
    """Validate the event columns and derive the object ids: the one way a Trace comes to be.

    Raises :class:`TraceError` naming the event index (and line, when ``lines`` maps events to
    lines of a text file) and the reason.
    """
    def fail(i, msg):
        raise TraceError(msg, index=i, line=None if lines is None else lines[i], source=source)

    cols = []
    for name, col, dt in (("op", op, np.int64), ("a", a, np.int64), ("b", b, np.int64),
                          ("c", c, np.int64), ("flags", flags, np.int64)):
        if col is None:
            cols.append(None)
            continue
        try:
            cols.append(np.ascontiguousarray(col, dtype=dt))
        except OverflowError:
            bad = next(i for i, v in enumerate(col) if not -(1 << 63) <= int(v) < (1 << 63))
            fail(bad, f"operand {name} = {col[bad]} does not fit in 64 bits")
    op, a, b, c, flags = cols
    n = op.shape[0]
    if flags is None:
        flags = np.zeros(n, dtype=np.int64)
    if not (a.shape[0] == b.shape[0] == c.shape[0] == flags.shape[0] == n):
        raise ValueError("event columns differ in length")
    bad = np.flatnonzero((op < 0) | (op > WORK))
    if bad.size:
        i = int(bad[0])
        fail(i, f"unknown op code {int(op[i])} (valid: 0..6 = {', '.join(OP_NAMES)})")
    # canonical events only: what the text form cannot say must not change a trace's sha256
    bad = np.flatnonzero((flags != 0) & (op != ALLOC))
    if bad.size:
        i = int(bad[0])
        fail(i, f"flags {int(flags[i])} on {OP_NAMES[op[i]]}: only alloc takes a flag (local)")
    arity = np.asarray(OP_ARITY)[op]
    unused = ((arity < 2) & (b != 0)) | ((arity < 3) & (c != 0))
    bad = np.flatnonzero(unused)
    if bad.size:
        i = int(bad[0])
        fail(i, f"{OP_NAMES[op[i]]} takes {OP_ARITY[op[i]]} operand(s); the unused ones must "
                f"be 0, got b={int(b[i])} c={int(c[i])}")
    op = op.astype(np.uint8)
    flags = flags.astype(np.uint8)
    x, y, z, nregs = _validate(op.tolist(), flags.tolist(), a.tolist(), b.tolist(), c.tolist(),
                               lines, source)
    return Trace(op, flags, a, b, c, np.array(x, dtype=np.int64), np.array(y, dtype=np.int64),
                 np.array(z, dtype=np.int64), nregs, workload, dict(params or {}))


def _validate(op, flags, a, b, c, lines, source):
    """One pass over the events: check every rule of docs/design.md §3 and derive x, y, z.

    ``rc`` counts, per object, the registers and the slots of not-yet-freed objects that refer
    to it; a batch of consecutive FREEs is valid when every object in it ends the batch at zero.
    """
    n = len(op)
    X = [-1] * n
    Y = [-1] * n
    Z = [-1] * n
    regs: list[int] = []
    rc: list[int] = []          # references per object
    base: list[int] = []        # first slot of each object in `slots`
    nsl: list[int] = []
    local: list[int] = []
    freed: list[int] = []       # 0 live, 1 freed
    slots: list[int] = []
    pending: list[tuple[int, int]] = []   # (event index, object) of the current FREE batch
    nregs = 0

    def fail(i, msg):
        raise TraceError(msg, index=i, line=None if lines is None else lines[i], source=source)

    def reg(i, r, what="register"):
        if r < 0 or r >= MAX_REGISTER:
            fail(i, f"{what} {r} out of range (0..{MAX_REGISTER - 1})")
        return r

    def holding(i, r, what):
        if r >= len(regs) or regs[r] < 0:
            fail(i, f"{what} r{r} is empty")
        return regs[r]

    def setreg(r, o):
        nonlocal nregs
        if r >= len(regs):
            regs.extend([-1] * (r + 1 - len(regs)))
            nregs = len(regs)
        old = regs[r]
        regs[r] = o
        return old

    def check_batch():
        for j, o in pending:
            if rc[o]:
                fail(j, f"invalid free of object {o}: still referenced "
                        f"({rc[o]} reference(s) from registers or slots of live objects)")
        pending.clear()

    for i in range(n):
        o = op[i]
        if pending and o != FREE:
            check_batch()
        if o == ALLOC:
            r = reg(i, a[i])
            size, ns = b[i], c[i]
            if size < 0:
                fail(i, f"alloc size must be >= 0, got {size}")
            if ns < 0 or ns > MAX_SLOTS:
                fail(i, f"alloc slot count must be in 0..{MAX_SLOTS}, got {ns}")
            if flags[i] & ~FLAG_LOCAL:
                fail(i, f"unknown flags {flags[i]:#x} (only local = {FLAG_LOCAL})")
            oid = len(rc)
            rc.append(1)
            base.append(len(slots))
            nsl.append(ns)
            local.append(flags[i] & FLAG_LOCAL)
            freed.append(0)
            slots.extend([-1] * ns)
            old = setreg(r, oid)
            if old >= 0:
                rc[old] -= 1
            X[i] = oid
            Z[i] = old
        elif o == LOAD:
            rd = reg(i, a[i])
            src = holding(i, reg(i, b[i]), "source register")
            k = c[i]
            if k < 0 or k >= nsl[src]:
                fail(i, f"slot {k} out of range for object {src} with {nsl[src]} slot(s)")
            v = slots[base[src] + k]
            if v >= 0:
                rc[v] += 1
            old = setreg(rd, v)
            if old >= 0:
                rc[old] -= 1
            X[i] = v
            Y[i] = src
            Z[i] = old
        elif o == STORE:
            dst = holding(i, reg(i, a[i]), "target register")
            k = b[i]
            if k < 0 or k >= nsl[dst]:
                fail(i, f"slot {k} out of range for object {dst} with {nsl[dst]} slot(s)")
            rv = c[i]
            if rv == NULL:
                v = -1
            else:
                v = holding(i, reg(i, rv, "value register"), "value register")
                if local[v]:
                    fail(i, f"object {v} was allocated local and must not be stored into a slot")
                rc[v] += 1
            s = base[dst] + k
            old = slots[s]
            slots[s] = v
            if old >= 0:
                rc[old] -= 1
            X[i] = dst
            Y[i] = v
            Z[i] = old
        elif o == MOVE:
            rd = reg(i, a[i])
            v = holding(i, reg(i, b[i]), "source register")
            rc[v] += 1
            old = setreg(rd, v)
            if old >= 0:
                rc[old] -= 1
            X[i] = v
            Z[i] = old
        elif o == CLEAR:
            v = holding(i, reg(i, a[i]), "register")
            regs[a[i]] = -1
            rc[v] -= 1
            X[i] = v
        elif o == FREE:
            v = holding(i, reg(i, a[i]), "register")
            if freed[v]:
                fail(i, f"object {v} is freed twice")
            regs[a[i]] = -1
            rc[v] -= 1
            freed[v] = 1
            s = base[v]
            for w in slots[s:s + nsl[v]]:     # a freed object's slots no longer refer
                if w >= 0:
                    rc[w] -= 1
            pending.append((i, v))
            X[i] = v
        elif o == WORK:
            if a[i] < 0:
                fail(i, f"work must be >= 0 ns, got {a[i]}")
        else:
            fail(i, f"unknown op code {o} (valid: 0..6 = {', '.join(OP_NAMES)})")
    if pending:
        check_batch()
    return X, Y, Z, nregs


def randbelow_of(rng: random.Random) -> Callable[[int], int]:
    """A function equal to ``rng.randrange(n)`` for ``n > 0`` (the same numbers, drawn the same
    way) with less Python overhead, for workloads that draw millions of numbers:
    ``rng.randint(lo, hi)`` is ``lo + below(hi - lo + 1)`` for ``lo <= hi``.

    In CPython's Lib/random.py, ``randint(a, b)`` is ``randrange(a, b + 1)``, which for a
    positive width is ``a + self._randbelow(width)``; ``randrange(n)`` is ``_randbelow(n)``.
    An ``rng`` of another class keeps its own ``randrange``.
    """
    if type(rng) is random.Random:
        return rng._randbelow
    return rng.randrange


def randint_of(rng: random.Random) -> Callable[[int, int], int]:
    """A function equal to ``rng.randint`` (see :func:`randbelow_of`)."""
    if type(rng) is not random.Random:
        return rng.randint
    below = rng._randbelow

    def randint(lo: int, hi: int) -> int:
        if hi < lo:
            return rng.randint(lo, hi)       # the error randint gives
        return lo + below(hi - lo + 1)
    return randint


def _mt_words(key: np.ndarray, pos: int, n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The next ``n`` 32-bit outputs of the Mersenne Twister in state (``key``, ``pos``), and the
    state after them. numpy's MT19937 is the same generator as CPython's ``random.Random``
    (Modules/_randommodule.c, ``genrand_uint32``), with the same state layout."""
    bg = np.random.MT19937()
    bg.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": pos}}
    words = bg.random_raw(n)
    st = bg.state["state"]
    return words, np.asarray(st["key"], dtype=np.uint32), int(st["pos"])


def randints(rng: random.Random, lows, highs, times: int) -> np.ndarray:
    """The numbers of ``[[rng.randint(lo, hi) for lo, hi in zip(lows, highs)] for _ in
    range(times)]`` as a ``(times, len(lows))`` int64 array, drawn with numpy, and ``rng`` left
    in the state those calls leave it in.

    ``rng.randint(lo, hi)`` is ``lo + rng._randbelow(hi - lo + 1)``, which takes 32-bit words
    of the generator, ``w >> (32 - k)`` for ``k`` = the width's bit length, until one is below
    the width (CPython's Lib/random.py, ``_randbelow_with_getrandbits``; ``getrandbits(k)`` for
    ``k <= 32`` in Modules/_randommodule.c). The words come from numpy's MT19937 set to
    ``rng``'s state; which draw a word goes to shifts by one at each rejected word, so a Python
    step per *rejection* (not per draw) finds them. A generator of another class, a width of
    2³² or more, or a Python whose ``randint`` draws differently (a check at first use) falls
    back to the calls themselves.
    """
    lows = [operator.index(v) for v in lows]
    highs = [operator.index(v) for v in highs]
    p = len(lows)
    if len(highs) != p:
        raise ValueError("randints: lows and highs differ in length")
    widths = [hi - lo + 1 for lo, hi in zip(lows, highs)]
    if times <= 0 or not p:
        return np.zeros((max(times, 0), p), dtype=np.int64)
    if (type(rng) is not random.Random or min(widths) < 1 or max(widths) >= 1 << 32
            or not _randints_agree()):
        randint = rng.randint
        return np.array([[randint(lo, hi) for lo, hi in zip(lows, highs)]
                         for _ in range(times)], dtype=np.int64).reshape(times, p)
    version, state, gauss = rng.getstate()
    key, pos = np.array(state[:624], dtype=np.uint32), state[624]
    width = np.array(widths, dtype=np.uint64)
    shift = np.array([32 - w.bit_length() for w in widths], dtype=np.uint64)
    need = times * p
    out = np.empty(need, dtype=np.int64)
    got, s = 0, 0                         # draws made; the draw the next word goes to (mod p)
    chunk = 1 << 17                      # words at a time: bounds the temporaries (~50 B each)
    while got < need:
        # enough words for the rest, most likely (a width w accepts w / 2**k of the words)
        n = min(chunk, int(sum(2 ** w.bit_length() / w for w in widths) * 1.02
                            * (need - got) / p) + 256)
        words, key2, pos2 = _mt_words(key, pos, n)
        vals = words[None, :] >> shift[:, None]          # (p, n): the word as each draw sees it
        acc = vals < width[:, None]
        # the word i goes to draw (i + c) % p, where c falls by one at every rejected word: jump
        # from one rejection to the next (the positions each c rejects, found with numpy)
        rejects = []
        for c in range(p):
            rej = np.empty(n, dtype=bool)
            for q in range(p):
                rej[(q - c) % p::p] = acc[q, (q - c) % p::p]
            rejects.append(np.flatnonzero(~rej).tolist())
        c, at, left, used = s, 0, need - got, n
        seg_start, seg_c = [], []
        while at < n:
            r = rejects[c]
            k = bisect_left(r, at)
            j = r[k] if k < len(r) else n
            seg_start.append(at)
            seg_c.append(c)
            if j - at >= left:
                used = at + left
                break
            left -= j - at
            c = (c - 1) % p
            at = j + 1
        seg_start.append(used)
        i = np.arange(used)
        before = i + np.repeat(np.array(seg_c[:len(seg_start) - 1], dtype=np.int64),
                               np.diff(seg_start))
        before %= p
        flat = before * n + i
        hit = acc.reshape(-1).take(flat)
        taken = np.flatnonzero(hit)
        k = taken.shape[0]
        out[got:got + k] = vals.reshape(-1).take(flat[taken])
        got += k
        s = int((before[-1] + hit[-1]) % p) if used else s
        if used == n:
            key, pos = key2, pos2
        else:
            _, key, pos = _mt_words(key, pos, used)
    rng.setstate((version, tuple(key.tolist()) + (pos,), gauss))
    return out.reshape(times, p) + np.array(lows, dtype=np.int64)


_AGREE: list[bool] = []


def _randints_agree() -> bool:
    """Whether this Python's ``randint`` draws as :func:`randints` assumes (checked once)."""
    if not _AGREE:
        widths = [(0, 0), (0, 1), (3, 9), (0, 224), (500, 1500), (0, (1 << 32) - 2), (5, 1 << 20)]
        ref = random.Random(12345)
        want = [[ref.randint(lo, hi) for lo, hi in widths] for _ in range(50)]
        want_state = ref.getstate()
        _AGREE.append(True)
        try:
            rng = random.Random(12345)
            got = randints(rng, [lo for lo, _ in widths], [hi for _, hi in widths], 50).tolist()
            _AGREE[0] = got == want and rng.getstate() == want_state
        except Exception:       # noqa: BLE001 - any failure means: use the calls themselves
            _AGREE[0] = False
    return _AGREE[0]


def _ints(what: str, index: int, *values) -> list[int]:
    """``values`` as Python ints (numpy integers too), or a TypeError naming the call."""
    out = []
    for v in values:
        try:
            out.append(operator.index(v))
        except TypeError:
            raise TypeError(f"{what}: sizes and counts must be integers, got {v!r} "
                            f"(event {index})") from None
    return out


def getrandbits_of(rng) -> Callable[[int], int] | None:
    """``rng.getrandbits`` when ``rng.randrange(n)`` for ``n > 0`` is, on this Python, ``r =
    rng.getrandbits(n.bit_length())`` taken again while ``r >= n`` (CPython's Lib/random.py,
    ``_randbelow_with_getrandbits``; ``rng.randint(lo, hi)`` is ``lo + rng.randrange(hi - lo +
    1)``), so that a workload's loop can draw the same numbers inline, without a Python call per
    number (``getrandbits`` is a C method: about a third of ``randrange``'s cost); ``None`` for
    a generator of another class or a Python that draws otherwise (checked once, on a few
    hundred draws): then the workload calls ``rng.randrange`` / ``rng.randint`` itself."""
    if type(rng) is not random.Random:
        return None
    if not _BITS_AGREE:
        ref, mine = random.Random(2024), random.Random(2024)
        ok = True
        for n in (1, 2, 3, 5, 7, 100, 241, 400, 1000, 20001, (1 << 31) + 1, (1 << 40) + 3) * 20:
            k = n.bit_length()
            r = mine.getrandbits(k)
            while r >= n:
                r = mine.getrandbits(k)
            ok = ok and r == ref.randrange(n)
        _BITS_AGREE.append(ok and mine.getstate() == ref.getstate())
    return rng.getrandbits if _BITS_AGREE[0] else None


_BITS_AGREE: list[bool] = []


class Handle:
    """A reference a workload holds; the recorder decides which register backs it."""

    __slots__ = ("reg",)

    def __init__(self, reg: int):
        self.reg = reg

    def __repr__(self) -> str:
        return f"<Handle r{self.reg}>" if self.reg >= 0 else "<Handle (dropped)>"


#: staged bytes (7 int64 values per event) before they are converted into numpy chunks
_STAGE = 56 * 65536
#: ``_PACK[k](...)``: k events' 7 × k values as the bytes of int64s. Staging events as bytes
#: (``struct``) costs about half of staging them as Python ints in a list and converting those.
_PACK = [struct.Struct(f"<{7 * k}q").pack for k in range(8)]


class _BlockState:
    """What :meth:`Recorder.repeat` compares before and after one run of a block."""

    __slots__ = ("held", "event", "first_object")

    def __init__(self, rec: "Recorder"):
        rec._flush()
        self.held = list(rec._held)
        self.event = len(rec)
        self.first_object = rec._nobj



class _Column:
    """One event column of a :class:`Recorder`: a typed buffer that grows by doubling.

    The buffer is an anonymous memory map, not a ``malloc``'d array. Its pages become resident
    only when events are written into them, so the capacity beyond the events costs address
    space, not memory; and a buffer outgrown is unmapped as soon as nothing refers to it, its
    memory given back to the system at once. (``malloc``'d chunks — the recorder's first
    design — ended in the middle of the C heap, among the recording's freed temporaries, where
    their memory stayed resident after they were joined into the trace: the recording's peak
    was the chunks, the holes between them and the joined trace, 50 bytes per event for a
    20-byte trace.) The column takes the widest dtype of the pieces appended to it (``uint8``
    for ``op`` and ``flags``; ``int16``, ``int32`` or ``int64`` for the others), converting what
    it holds when a piece needs a wider one.
    """

    __slots__ = ("buf", "n", "room")

    #: the first buffer's capacity, in events (address space only, until written)
    FIRST = 1 << 16
    #: private, not shared, anonymous memory where the platform has the flags (Python's default
    #: anonymous map is shared: a page faulted in 3.4-4.5 us against 2.5-3.1 on the benchmark
    #: machine, and growing it with ``mmap.resize`` ends in SIGBUS on Linux)
    FLAGS = ({"flags": mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS}
             if hasattr(mmap, "MAP_PRIVATE") and hasattr(mmap, "MAP_ANONYMOUS") else {})

    def __init__(self, dtype):
        self.buf = np.zeros(0, dtype=dtype)
        self.n = 0
        self.room: mmap.mmap | None = None

    def _regrow(self, capacity: int, dtype: np.dtype) -> None:
        size = max(capacity * dtype.itemsize, 1)
        if self.room is not None and dtype == self.buf.dtype:
            # grow the map where it is (Linux: mremap moves the pages, neither copying nor
            # touching them), unless something still views it (a built trace): then copy
            self.buf = None
            try:
                self.room.resize(size)
            except (BufferError, OSError, SystemError, ValueError):
                pass
            self.buf = np.frombuffer(self.room, dtype=dtype)
            if self.buf.shape[0] >= capacity:
                self._huge(self.room, size)
                return
        room = mmap.mmap(-1, size, **self.FLAGS)
        self._huge(room, size)
        buf = np.frombuffer(room, dtype=dtype)
        buf[:self.n] = self.buf[:self.n]
        self.buf, self.room = buf, room   # the old map is unmapped once no view of it is left

    #: maps of at least this many bytes ask for transparent huge pages (Linux): a 2 MiB page
    #: faults in at once where 4 KiB pages fault 512 times (2.5-3 us each on the benchmark
    #: machine); the last, partly written huge page of a column may hold up to 2 MiB it does
    #: not use, so small maps (where that would be a large share) keep 4 KiB pages
    HUGE = 32 << 20

    @classmethod
    def _huge(cls, room: mmap.mmap, size: int) -> None:
        if size >= cls.HUGE and hasattr(mmap, "MADV_HUGEPAGE"):
            try:
                room.madvise(mmap.MADV_HUGEPAGE)
            except OSError:
                pass

    def append(self, part: np.ndarray, dtype=None) -> None:
        """Append ``part`` (any layout), stored as ``dtype`` (default: its own), widening the
        column if it needs more."""
        end = self.n + part.shape[0]
        dt = np.promote_types(self.buf.dtype, part.dtype if dtype is None else dtype)
        cap = self.buf.shape[0]
        if end > cap or dt != self.buf.dtype:
            self._regrow(max(end, 2 * cap, self.FIRST) if end > cap else cap, dt)
        self.buf[self.n:end] = part
        self.n = end

    def view(self, lo: int = 0) -> np.ndarray:
        """The events ``lo..`` (a view: valid until the next append)."""
        return self.buf[lo:self.n]


class Recorder:
    """Records a trace through handles: ``node = t.alloc(32, 2)``, ``t.store(node, 0, child)``.

    Registers are assigned (lowest free first) and reused by the recorder, never by the author.
    The recorder follows the heap's shape (which object each register and slot refers to, how
    many references each live object has), so that :meth:`load` of a null slot returns ``None``
    rather than a handle to nothing, and so that it derives each event's object ids (``x``,
    ``y``, ``z``) and checks every rule of the register machine as the event is recorded: a
    misuse fails at the call that made it (a :class:`TraceError` naming the event index), and
    :meth:`build` needs no second pass over the events.

    Events are staged as packed int64 bytes and kept in one growing typed buffer per column
    (:class:`_Column`), not as Python objects: a few hundred bytes of state per *live* object,
    about 20 bytes per event, and :meth:`build` gives views of the buffers, no copy. The
    built-in workloads also use the batch operations: :meth:`repeat` (a self-contained block
    recorded once and copied), :meth:`slot_ops` (a sequence of slot operations on one object,
    recorded with numpy), :meth:`fifo` and :meth:`chain_window` (whole programs of linked
    structures, recorded with numpy), :meth:`alloc_chain`, :meth:`walk`, :meth:`alloc_after`,
    :meth:`free_head`, :meth:`free_chain` and the single slot operations — each the events of
    the calls it stands for, in one call — and :meth:`append_events` (a self-contained program
    whose events the workload derived itself, checked in part).
    """

    def __init__(self, workload: str | None = None, params: dict[str, Any] | None = None):
        self.workload = workload
        self.params = dict(params or {})
        self._ev = bytearray()            # staging: op|flags<<3, a, b, c, x, y, z per event
        # converted events, in order: one growing typed buffer per column
        self._cols = {name: _Column(np.uint8 if name in ("op", "flags") else np.int16)
                      for name, _ in COLUMNS}
        self._flushed = 0                 # events in self._cols
        self._free_regs: list[int] = []   # a heap: lowest register first keeps traces compact
        self._next_reg = 0
        self._held: list[int] = []        # object id per register (-1 = empty)
        # live (not freed) objects: id -> [references, local, slot 0, slot 1, ...]
        self._objs: dict[int, list[int]] = {}
        self._nobj = 0
        # the current batch of FREEs: object id -> (event index, its record)
        self._dying: dict[int, tuple[int, list[int]]] = {}
        # the batch operations' blank columns, kept from one block to the next: allocated and
        # freed at every block, their memory went back to the system and was faulted in again
        self._scratch: dict[tuple, np.ndarray] = {}

    def __len__(self) -> int:
        return self._flushed + len(self._ev) // 56

    # -- storage --------------------------------------------------------------------------------
    def _flush(self) -> None:
        """Convert the staged events into one chunk of narrow numpy columns."""
        if not self._ev:
            return
        ev = np.frombuffer(self._ev, dtype="<i8").reshape(-1, 7)
        self._ev = bytearray()
        self._append_chunk(ev)

    def _append_chunk(self, ev: np.ndarray) -> None:
        """Append events given as an (n, 7) int64 array (op|flags<<3, a, b, c, x, y, z)."""
        if not ev.shape[0]:
            return
        chunk = {"op": (ev[:, 0] & 7).astype(np.uint8), "flags": (ev[:, 0] >> 3).astype(np.uint8)}
        for k, name in enumerate(("a", "b", "c", "x", "y", "z"), 1):
            chunk[name] = narrow(np.ascontiguousarray(ev[:, k]))
        self._add(chunk)

    def _add(self, chunk: dict[str, np.ndarray]) -> None:
        """Append events given as one array per column (all as long), after the flushed ones."""
        for name, col in self._cols.items():
            col.append(chunk[name])
        self._flushed += chunk["op"].shape[0]

    def _emit(self, opf: int, a: int, b: int, c: int, x: int, y: int, z: int) -> None:
        ev = self._ev
        ev += _PACK[1](opf, a, b, c, x, y, z)
        if len(ev) >= _STAGE:
            self._flush()

    def _fail(self, msg: str) -> NoReturn:
        raise TraceError(msg, index=len(self))

    # -- registers and objects ------------------------------------------------------------------
    def _take(self) -> int:
        if self._free_regs:
            return heappop(self._free_regs)
        r = self._next_reg
        self._next_reg += 1
        self._held.append(-1)
        return r

    @staticmethod
    def _reg(h: Handle, what: str) -> int:
        if not isinstance(h, Handle):
            raise TypeError(f"{what}: expected a Handle, got {h!r}")
        if h.reg < 0:
            raise ValueError(f"{what}: handle already dropped or freed")
        return h.reg

    def _live(self, o: int, what: str) -> list[int]:
        rec = self._objs.get(o)
        if rec is None:
            self._fail(f"{what}: object {o} is freed")
        return rec

    def _slot(self, rec: list[int], o: int, slot: int, what: str) -> int:
        """``slot`` as a Python int (numpy integers too), or the error."""
        n = len(rec) - 2
        try:
            k = operator.index(slot)
        except TypeError:
            raise TypeError(f"{what}: slot must be an integer, got {slot!r}") from None
        if not 0 <= k < n:
            raise ValueError(f"{what}: slot {slot} out of range for an object with {n} slot(s) "
                             f"(event {len(self)})")
        return k

    def _end_batch(self) -> None:
        """A batch of consecutive FREEs is over: every object in it must be unreferenced."""
        dying = self._dying
        for o, (i, rec) in dying.items():
            if rec[0]:
                dying.clear()
                raise TraceError(f"invalid free of object {o}: still referenced ({rec[0]} "
                                 f"reference(s) from registers or slots of live objects)",
                                 index=i)
        dying.clear()

    # Each method below is one event. They are written out in full rather than through shared
    # helpers: a Python call costs about as much as the rest of an event, and workloads record
    # millions of them. Checks come first, so a call that raises records nothing.
    def alloc(self, size: int, nslots: int = 0, *, local: bool = False) -> Handle:
        """A new object of ``size`` payload bytes and ``nslots`` null pointer slots."""
        if self._dying:
            self._end_batch()
        if type(size) is not int or type(nslots) is not int:
            size, nslots = _ints("alloc", len(self), size, nslots)
        if size < 0:
            raise ValueError(f"alloc: size must be >= 0, got {size} (event {len(self)})")
        if not 0 <= nslots <= MAX_SLOTS:
            raise ValueError(f"alloc: slot count must be in 0..{MAX_SLOTS}, got {nslots} "
                             f"(event {len(self)})")
        free_regs = self._free_regs
        if free_regs:
            r = heappop(free_regs)
        else:
            r = self._take()
        o = self._nobj
        self._nobj = o + 1
        if nslots:
            rec = [1, 1 if local else 0]
            rec.extend([-1] * nslots)
            self._objs[o] = rec
        else:
            self._objs[o] = [1, 1 if local else 0]
        self._held[r] = o
        ev = self._ev
        ev += _PACK[1](ALLOC | (FLAG_LOCAL << 3) if local else ALLOC, r, size, nslots, o, -1, -1)
        if len(ev) >= _STAGE:
            self._flush()
        return Handle(r)

    def load(self, h: Handle, slot: int) -> Handle | None:
        """A new handle to what ``h``'s slot refers to, or ``None`` when the slot is null.

        A null load is still an event (the program reads the field); its register is free again
        at once.
        """
        if self._dying:
            self._end_batch()
        try:
            src = h.reg
        except AttributeError:
            src = self._reg(h, "load")
        if src < 0:
            self._reg(h, "load")
        o = self._held[src]
        rec = self._objs.get(o)
        if rec is None:
            self._live(o, "load")
        if type(slot) is not int or not 0 <= slot < len(rec) - 2:
            slot = self._slot(rec, o, slot, "load")
        free_regs = self._free_regs
        if free_regs:
            r = heappop(free_regs)
        else:
            r = self._take()
        v = rec[2 + slot]
        ev = self._ev
        ev += _PACK[1](LOAD, r, src, slot, v, o, -1)
        if len(ev) >= _STAGE:
            self._flush()
        if v < 0:
            heappush(free_regs, r)
            return None
        self._objs[v][0] += 1
        self._held[r] = v
        return Handle(r)

    def store(self, h: Handle, slot: int, value: Handle | None) -> None:
        """``h.slot = value``; ``None`` stores null."""
        if self._dying:
            self._end_batch()
        held, objs = self._held, self._objs
        if value is None:
            rv = v = -1
            vrec = None
        else:
            try:
                rv = value.reg
            except AttributeError:
                rv = self._reg(value, "store value")
            if rv < 0:
                self._reg(value, "store value")
            v = held[rv]
        try:
            dst = h.reg
        except AttributeError:
            dst = self._reg(h, "store")
        if dst < 0:
            self._reg(h, "store")
        o = held[dst]
        rec = objs.get(o)
        if rec is None:
            self._live(o, "store")
        if type(slot) is not int or not 0 <= slot < len(rec) - 2:
            slot = self._slot(rec, o, slot, "store")
        if v >= 0:
            vrec = objs.get(v)
            if vrec is None:
                self._live(v, "store value")
            if vrec[1]:
                self._fail(f"object {v} was allocated local and must not be stored into a slot")
            vrec[0] += 1
        old = rec[2 + slot]
        rec[2 + slot] = v
        if old >= 0:
            objs[old][0] -= 1
        ev = self._ev
        ev += _PACK[1](STORE, dst, slot, rv, o, v, old)
        if len(ev) >= _STAGE:
            self._flush()

    def copy(self, h: Handle) -> Handle:
        """A second handle to the same object (a MOVE into a new register)."""
        if self._dying:
            self._end_batch()
        src = self._reg(h, "copy")
        o = self._held[src]
        self._live(o, "copy")[0] += 1
        r = self._take()
        self._held[r] = o
        self._emit(MOVE, r, src, 0, o, -1, -1)
        return Handle(r)

    def drop(self, h: Handle) -> None:
        """Let go of the reference (CLEAR): the local went out of scope."""
        if self._dying:
            self._end_batch()
        try:
            r = h.reg
        except AttributeError:
            r = self._reg(h, "drop")
        if r < 0:
            self._reg(h, "drop")
        held = self._held
        o = held[r]
        rec = self._objs.get(o)
        if rec is None:
            self._live(o, "drop")
        rec[0] -= 1
        h.reg = -1
        held[r] = -1
        heappush(self._free_regs, r)
        ev = self._ev
        ev += _PACK[1](CLEAR, r, 0, 0, o, -1, -1)
        if len(ev) >= _STAGE:
            self._flush()

    def _dies(self, o: int, rec: list, at: int) -> None:
        """Object ``o`` (its record ``rec``, already out of the live objects) is freed at event
        ``at``: it is kept until its batch of FREEs ends, and its slots no longer refer."""
        self._dying[o] = (at, rec)
        rec[0] -= 1
        if len(rec) > 2:
            objs, dying = self._objs, self._dying
            for w in rec[2:]:
                if w >= 0:
                    wrec = objs.get(w)
                    if wrec is None:
                        wrec = dying[w][1]
                    wrec[0] -= 1

    def free(self, h: Handle) -> None:
        """The program's explicit ``delete`` (FREE). Consecutive frees form one batch."""
        try:
            r = h.reg
        except AttributeError:
            r = self._reg(h, "free")
        if r < 0:
            self._reg(h, "free")
        held, objs = self._held, self._objs
        o = held[r]
        rec = objs.pop(o, None)
        if rec is None:
            self._fail(f"object {o} is freed twice")
        h.reg = -1
        held[r] = -1
        heappush(self._free_regs, r)
        self._dies(o, rec, len(self))
        ev = self._ev
        ev += _PACK[1](FREE, r, 0, 0, o, -1, -1)
        if len(ev) >= _STAGE:
            self._flush()

    def work(self, ns: int) -> None:
        """Computation unrelated to memory, in simulated nanoseconds (zero records nothing)."""
        if ns:
            if ns < 0:
                raise ValueError(f"work: must be >= 0 ns, got {ns} (event {len(self)})")
            if self._dying:
                self._end_batch()
            ev = self._ev
            ev += _PACK[1](WORK, int(ns), 0, 0, -1, -1, -1)
            if len(ev) >= _STAGE:
                self._flush()

    # -- batch operations -----------------------------------------------------------------------
    def _target(self, h: Handle, slot: int, what: str) -> tuple[int, int, list[int], int]:
        """(register, object, its record, slot) of a live object's slot, or the error."""
        if self._dying:
            self._end_batch()
        r = self._reg(h, what)
        o = self._held[r]
        rec = self._live(o, what)
        return r, o, rec, self._slot(rec, o, slot, what)

    def alloc_into(self, h: Handle, slot: int, size: int, nslots: int = 0, *,
                   work: int = 0) -> None:
        """Allocate an object, fill it (``work`` ns), link it into ``h``'s slot and let go of it.

        The events of ``n = t.alloc(size, nslots); t.work(work); t.store(h, slot, n);
        t.drop(n)`` in one call (no WORK when ``work`` is 0).
        """
        dst, o, rec, slot = self._target(h, slot, "alloc_into")
        if type(size) is not int or type(nslots) is not int:
            size, nslots = _ints("alloc_into", len(self), size, nslots)
        if size < 0 or work < 0 or not 0 <= nslots <= MAX_SLOTS:
            raise ValueError(f"alloc_into: size and work must be >= 0 and nslots in "
                             f"0..{MAX_SLOTS}, got {size}, {work}, {nslots} (event {len(self)})")
        free_regs = self._free_regs
        r = heappop(free_regs) if free_regs else self._take()
        n = self._nobj
        self._nobj = n + 1
        new = [1, 0]                                  # referenced by the slot alone, at the end
        if nslots:
            new.extend([-1] * nslots)
        self._objs[n] = new
        old = rec[2 + slot]
        rec[2 + slot] = n
        if old >= 0:
            self._objs[old][0] -= 1
        heappush(free_regs, r)
        ev = self._ev
        if work:
            ev += _PACK[4](ALLOC, r, size, nslots, n, -1, -1, WORK, int(work), 0, 0, -1, -1, -1,
                       STORE, dst, slot, r, o, n, old, CLEAR, r, 0, 0, n, -1, -1)
        else:
            ev += _PACK[3](ALLOC, r, size, nslots, n, -1, -1, STORE, dst, slot, r, o, n, old,
                       CLEAR, r, 0, 0, n, -1, -1)
        if len(ev) >= _STAGE:
            self._flush()

    def free_from(self, h: Handle, slot: int) -> None:
        """Delete the object ``h``'s slot refers to: load it, null the slot, free it.

        The events of ``v = t.load(h, slot); t.store(h, slot, None); t.free(v)``; the slot must
        not be null. The FREE starts a batch, as :meth:`free` does.
        """
        src, o, rec, slot = self._target(h, slot, "free_from")
        v = rec[2 + slot]
        if v < 0:
            raise ValueError(f"free_from: slot {slot} is null: nothing to free (event {len(self)})")
        vrec = self._objs.pop(v)
        rec[2 + slot] = -1
        free_regs = self._free_regs
        r = heappop(free_regs) if free_regs else self._take()
        heappush(free_regs, r)
        ev = self._ev
        # the slot's reference goes (the load's register is taken and given back)
        self._dies(v, vrec, len(self) + 2)
        ev += _PACK[3](LOAD, r, src, slot, v, o, -1, STORE, src, slot, NULL, o, -1, v,
                   FREE, r, 0, 0, v, -1, -1)
        if len(ev) >= _STAGE:
            self._flush()

    def replace(self, h: Handle, slot: int, size: int, nslots: int = 0, *,
                work: int = 0) -> None:
        """Allocate an object, fill it (``work`` ns), put it in ``h``'s slot in place of the
        object there, and delete that one.

        The events of ``n = t.alloc(size, nslots); t.work(work); old = t.load(h, slot);
        t.store(h, slot, n); t.drop(n); t.free(old)``; the slot must not be null.
        """
        dst, o, rec, slot = self._target(h, slot, "replace")
        v = rec[2 + slot]
        if v < 0:
            raise ValueError(f"replace: slot {slot} is null: nothing to replace "
                             f"(event {len(self)})")
        if type(size) is not int or type(nslots) is not int:
            size, nslots = _ints("replace", len(self), size, nslots)
        if size < 0 or work < 0 or not 0 <= nslots <= MAX_SLOTS:
            raise ValueError(f"replace: size and work must be >= 0 and nslots in "
                             f"0..{MAX_SLOTS}, got {size}, {work}, {nslots} (event {len(self)})")
        free_regs = self._free_regs
        r1 = heappop(free_regs) if free_regs else self._take()
        r2 = heappop(free_regs) if free_regs else self._take()
        n = self._nobj
        self._nobj = n + 1
        new = [1, 0]
        if nslots:
            new.extend([-1] * nslots)
        self._objs[n] = new
        rec[2 + slot] = n
        vrec = self._objs.pop(v)
        heappush(free_regs, r1)
        heappush(free_regs, r2)
        ev = self._ev
        self._dies(v, vrec, len(self) + (5 if work else 4))   # at the FREE's event index
        if work:
            ev += _PACK[2](ALLOC, r1, size, nslots, n, -1, -1, WORK, int(work), 0, 0, -1, -1, -1)
        else:
            ev += _PACK[1](ALLOC, r1, size, nslots, n, -1, -1)
        ev += _PACK[4](LOAD, r2, dst, slot, v, o, -1, STORE, dst, slot, r1, o, n, v,
                   CLEAR, r1, 0, 0, n, -1, -1, FREE, r2, 0, 0, v, -1, -1)
        if len(ev) >= _STAGE:
            self._flush()

    def alloc_chain(self, n: int, size: int, nslots: int, next_slot: int, *,
                    back_slot: int | None = None, self_slot: int | None = None,
                    self_at: int = -1, close: bool = False) -> Handle:
        """Allocate ``n`` objects linked through ``next_slot``; a handle to the first.

        The events of::

            first = prev = t.alloc(size, nslots)
            for i in range(1, n):
                if i - 1 == self_at: t.store(prev, self_slot, prev)
                node = t.alloc(size, nslots)
                t.store(prev, next_slot, node)
                if back_slot is not None: t.store(node, back_slot, prev)
                if prev is not first: t.drop(prev)
                prev = node
            if n - 1 == self_at: t.store(prev, self_slot, prev)
            if close: t.store(prev, next_slot, first)
            if prev is not first: t.drop(prev)

        — a singly or doubly (``back_slot``) linked list, or a ring (``close``) whose node
        ``self_at`` may point to itself — in one call.
        """
        if self._dying:
            self._end_batch()
        if type(n) is not int or type(size) is not int or type(nslots) is not int:
            n, size, nslots = _ints("alloc_chain", len(self), n, size, nslots)
        if n < 1 or size < 0 or not 0 <= nslots <= MAX_SLOTS:
            raise ValueError(f"alloc_chain: n must be >= 1, size >= 0 and nslots in "
                             f"0..{MAX_SLOTS}, got {n}, {size}, {nslots} (event {len(self)})")
        if self_at >= 0 and self_slot is None:
            raise ValueError(f"alloc_chain: self_at {self_at} needs a self_slot "
                             f"(event {len(self)})")
        for name, s in (("next_slot", next_slot), ("back_slot", back_slot),
                        ("self_slot", self_slot if self_at >= 0 else None)):
            if s is not None and not 0 <= s < nslots:
                raise ValueError(f"alloc_chain: {name} {s} out of range for objects with "
                                 f"{nslots} slot(s) (event {len(self)})")
        objs, held, free_regs = self._objs, self._held, self._free_regs
        o0 = self._nobj
        self._nobj = o0 + n
        ev = self._ev
        pack = _PACK[1]
        nulls = [-1] * nslots
        first = heappop(free_regs) if free_regs else self._take()
        recs = [[1, 0] + nulls]
        objs[o0] = recs[0]
        held[first] = o0
        ev += pack(ALLOC, first, size, nslots, o0, -1, -1)
        pr, po, prec = first, o0, recs[0]          # the previous node: register, id, record
        for i in range(1, n + 1):
            if i - 1 == self_at:
                old = prec[2 + self_slot]
                prec[2 + self_slot] = po
                prec[0] += 1
                if old >= 0:
                    objs[old][0] -= 1
                ev += pack(STORE, pr, self_slot, pr, po, po, old)
            if i == n:
                break
            r = heappop(free_regs) if free_regs else self._take()
            o = o0 + i
            rec = [1, 0] + nulls
            objs[o] = rec
            held[r] = o
            old = prec[2 + next_slot]
            prec[2 + next_slot] = o
            rec[0] += 1
            if old >= 0:
                objs[old][0] -= 1
            ev += pack(ALLOC, r, size, nslots, o, -1, -1)
            ev += pack(STORE, pr, next_slot, r, po, o, old)
            if back_slot is not None:
                old = rec[2 + back_slot]
                rec[2 + back_slot] = po
                prec[0] += 1
                if old >= 0:
                    objs[old][0] -= 1
                ev += pack(STORE, r, back_slot, pr, o, po, old)
            if pr != first:
                held[pr] = -1
                prec[0] -= 1
                heappush(free_regs, pr)
                ev += pack(CLEAR, pr, 0, 0, po, -1, -1)
            pr, po, prec = r, o, rec
        if close:
            old = prec[2 + next_slot]
            prec[2 + next_slot] = o0
            recs[0][0] += 1
            if old >= 0:
                objs[old][0] -= 1
            ev += pack(STORE, pr, next_slot, first, po, o0, old)
        if pr != first:
            held[pr] = -1
            prec[0] -= 1
            heappush(free_regs, pr)
            ev += pack(CLEAR, pr, 0, 0, po, -1, -1)
        if len(ev) >= _STAGE:
            self._flush()
        return Handle(first)

    def walk(self, h: Handle, slot: int, n: int) -> Handle:
        """Follow ``slot`` ``n`` times from ``h``'s object; a handle to the object reached.

        The events of ``for _ in range(n): nxt = t.load(h, slot); t.drop(h); h = nxt`` (then
        ``h`` is returned: itself when ``n`` is 0); every slot on the way must be non-null.
        ``h`` is consumed when ``n > 0``.
        """
        if self._dying:
            self._end_batch()
        src = self._reg(h, "walk")
        if n <= 0:
            if n < 0:
                raise ValueError(f"walk: n must be >= 0, got {n} (event {len(self)})")
            return h
        objs, held, free_regs = self._objs, self._held, self._free_regs
        o = held[src]
        rec = self._live(o, "walk")
        path = [o]
        k = slot if type(slot) is int else self._slot(rec, o, slot, "walk")
        for _ in range(n):                   # checked first: a failed call records nothing
            if not 0 <= k < len(rec) - 2:
                self._slot(rec, path[-1], k, "walk")
            v = rec[2 + k]
            if v < 0:
                raise ValueError(f"walk: object {path[-1]}'s slot {k} is null after "
                                 f"{len(path) - 1} of {n} steps (event {len(self)})")
            path.append(v)
            rec = objs[v]
        ev = self._ev
        pack = _PACK[2]
        cr, co = src, o
        for v in path[1:]:
            r = heappop(free_regs) if free_regs else self._take()
            objs[v][0] += 1
            held[r] = v
            held[cr] = -1
            objs[co][0] -= 1
            heappush(free_regs, cr)
            ev += pack(LOAD, r, cr, k, v, co, -1, CLEAR, cr, 0, 0, co, -1, -1)
            cr, co = r, v
        h.reg = -1
        if len(ev) >= _STAGE:
            self._flush()
        return Handle(cr)

    def alloc_after(self, h: Handle, slot: int, size: int, nslots: int = 0) -> Handle:
        """Allocate an object, link it into ``h``'s slot and let go of ``h``: the events of
        ``n = t.alloc(size, nslots); t.store(h, slot, n); t.drop(h)``; returns ``n`` (the new
        tail of a list). ``h`` is consumed.
        """
        if self._dying:
            self._end_batch()
        dst = self._reg(h, "alloc_after")
        held, objs = self._held, self._objs
        o = held[dst]
        rec = self._live(o, "alloc_after")
        if type(slot) is not int or not 0 <= slot < len(rec) - 2:
            slot = self._slot(rec, o, slot, "alloc_after")
        if type(size) is not int or type(nslots) is not int:
            size, nslots = _ints("alloc_after", len(self), size, nslots)
        if size < 0 or not 0 <= nslots <= MAX_SLOTS:
            raise ValueError(f"alloc_after: size must be >= 0 and nslots in 0..{MAX_SLOTS}, "
                             f"got {size}, {nslots} (event {len(self)})")
        free_regs = self._free_regs
        r = heappop(free_regs) if free_regs else self._take()
        n = self._nobj
        self._nobj = n + 1
        new = [2, 0]                                  # the register and the slot
        if nslots:
            new.extend([-1] * nslots)
        objs[n] = new
        held[r] = n
        old = rec[2 + slot]
        rec[2 + slot] = n
        if old >= 0:
            objs[old][0] -= 1
        rec[0] -= 1                                   # h let go
        held[dst] = -1
        h.reg = -1
        heappush(free_regs, dst)
        ev = self._ev
        ev += _PACK[3](ALLOC, r, size, nslots, n, -1, -1, STORE, dst, slot, r, o, n, old,
                       CLEAR, dst, 0, 0, o, -1, -1)
        if len(ev) >= _STAGE:
            self._flush()
        return Handle(r)

    def free_head(self, h: Handle, slot: int) -> Handle | None:
        """Delete the first object of a list and hold the next: the events of
        ``nxt = t.load(h, slot); t.free(h)``; returns ``nxt`` (``None`` for a null slot). ``h``
        is consumed; the FREE starts a batch, as :meth:`free` does.
        """
        if self._dying:
            self._end_batch()
        src = self._reg(h, "free_head")
        held, objs = self._held, self._objs
        o = held[src]
        rec = self._live(o, "free_head")
        if type(slot) is not int or not 0 <= slot < len(rec) - 2:
            slot = self._slot(rec, o, slot, "free_head")
        free_regs = self._free_regs
        r = heappop(free_regs) if free_regs else self._take()
        v = rec[2 + slot]
        if v >= 0:
            objs[v][0] += 1
            held[r] = v
        del objs[o]                                   # the free
        held[src] = -1
        h.reg = -1
        heappush(free_regs, src)
        if v < 0:
            heappush(free_regs, r)
        self._dies(o, rec, len(self) + 1)
        ev = self._ev
        ev += _PACK[2](LOAD, r, src, slot, v, o, -1, FREE, src, 0, 0, o, -1, -1)
        if len(ev) >= _STAGE:
            self._flush()
        return None if v < 0 else Handle(r)

    def free_chain(self, first: Handle, slot: int, n: int) -> None:
        """Delete a linked structure of ``n`` objects in one batch: walk ``slot`` from ``first``
        (n - 1 LOADs), then free every object, ``first``'s first.

        The events of ``nodes = [first]; for _ in range(n - 1): nodes.append(t.load(nodes[-1],
        slot))``, then ``t.free(node)`` for each node; every slot on the way must be non-null.
        ``first`` is consumed.
        """
        if self._dying:
            self._end_batch()
        src = self._reg(first, "free_chain")
        held, objs, free_regs = self._held, self._objs, self._free_regs
        o = held[src]
        self._live(o, "free_chain")
        regs, objects = [src], [o]
        for _ in range(n - 1):               # checked first: a failed call records nothing
            rec = objs.get(objects[-1])
            if rec is None:
                self._fail(f"free_chain: object {objects[-1]} is freed")
            k = self._slot(rec, objects[-1], slot, "free_chain")
            v = rec[2 + k]
            if v < 0:
                raise ValueError(f"free_chain: object {objects[-1]}'s slot {k} is null after "
                                 f"{len(objects)} of {n} objects (event {len(self)})")
            objects.append(v)
        if len(set(objects)) < len(objects):
            raise ValueError(f"free_chain: the walk from object {o} along slot {slot} comes back "
                             f"to an object before {n} objects (event {len(self)})")
        ev = self._ev
        for j in range(1, n):
            r = heappop(free_regs) if free_regs else self._take()
            regs.append(r)
            held[r] = objects[j]
            objs[objects[j]][0] += 1
            ev += _PACK[1](LOAD, r, regs[j - 1], slot, objects[j], objects[j - 1], -1)
        first.reg = -1
        i = len(self)
        dies = self._dies
        for j in range(n):
            r, v = regs[j], objects[j]
            held[r] = -1
            heappush(free_regs, r)
            dies(v, objs.pop(v), i + j)
            ev += _PACK[1](FREE, r, 0, 0, v, -1, -1)
        if len(ev) >= _STAGE:
            self._flush()

    def slot_ops(self, h: Handle, kinds, slots, sizes=0, work=0) -> None:
        """A sequence of slot operations on ``h``'s object, recorded with numpy.

        For each ``j`` in order: ``alloc_into(h, slots[j], sizes[j], work=work[j])`` when
        ``kinds[j]`` is :data:`INTO`, ``free_from(h, slots[j])`` when it is :data:`FROM`,
        ``replace(h, slots[j], sizes[j], work=work[j])`` when it is :data:`SWAP`, and
        ``work(work[j])`` when it is :data:`SPEND` — the same events, but one Python step per
        operation (keeping track of the slots) instead of a recorder call and a Python object
        per event. ``slots``, ``sizes`` and ``work`` are sequences as long as ``kinds`` or single
        numbers; ``slots[j]`` is ignored for :data:`SPEND`, ``sizes[j]`` for :data:`FROM` and
        :data:`SPEND`. The new objects have no slots. A call that fails records nothing. As with
        :meth:`free_from`, a FREE that ends the sequence starts a batch of FREEs.
        """
        if self._dying:
            self._end_batch()
        kinds = np.asarray(kinds, dtype=np.int64).reshape(-1)
        k = kinds.shape[0]
        if not k:
            return
        slots, sizes, work = (np.broadcast_to(np.asarray(v, dtype=np.int64), (k,))
                              for v in (slots, sizes, work))
        dst = self._reg(h, "slot_ops")
        o = self._held[dst]
        rec = self._live(o, "slot_ops")
        nsl = len(rec) - 2
        here = len(self)
        uses_slot = kinds != SPEND
        bad = np.flatnonzero((kinds < INTO) | (kinds > SPEND)
                             | (uses_slot & ((slots < 0) | (slots >= nsl)))
                             | (sizes < 0) | (work < 0))
        if bad.size:
            j = int(bad[0])
            raise ValueError(f"slot_ops: operation {j}: kind {int(kinds[j])} (valid: 0..3), slot "
                             f"{int(slots[j])} (object of {nsl} slot(s)), size {int(sizes[j])} "
                             f"and work {int(work[j])} (both >= 0) (event {here})")
        hasw = (work > 0).astype(np.int64)
        hasw[kinds == FROM] = 0
        count = np.array([3, 3, 5, 0], dtype=np.int64)[kinds] + hasw
        start = here + np.cumsum(count) - count       # each operation's first event
        # what each operation finds in its slot, with numpy: the value the previous operation on
        # the same slot left there, or the slot's value before the call
        objs = self._objs
        n0 = self._nobj
        isnew = (kinds == INTO) | (kinds == SWAP)
        new_all = n0 + np.cumsum(isnew) - 1
        n = int(new_all[-1]) + 1
        left_by = np.where(isnew, new_all, -1)           # the slot's value after the operation
        used = np.flatnonzero(kinds != SPEND)
        order = used[np.argsort(slots[used], kind="stable")]
        ss = slots[order]
        first = np.ones(order.shape[0], dtype=bool)
        first[1:] = ss[1:] != ss[:-1]
        lastof = np.ones(order.shape[0], dtype=bool)
        lastof[:-1] = first[1:]
        before = np.asarray(rec[2:], dtype=np.int64)
        found = np.empty(order.shape[0], dtype=np.int64)
        found[first] = before[ss[first]]
        found[~first] = left_by[order[:-1][~first[1:]]]
        old_all = np.full(k, -1, dtype=np.int64)
        old_all[order] = found
        frees = (kinds == FROM) | (kinds == SWAP)
        null = np.flatnonzero(frees & (old_all < 0))
        if null.size:
            j = int(null[0])
            what = "free_from" if kinds[j] == FROM else "replace"
            raise ValueError(f"slot_ops: operation {j} ({what}): slot {int(slots[j])} is null "
                             f"(event {int(start[j])})")
        # a new object is referenced by its slot alone: it ends the call there (1 reference),
        # overwritten by an alloc_into (0, not freed) or freed by the next operation on the slot
        nxt = np.full(order.shape[0], SPEND, dtype=np.int64)
        nxt[:-1] = np.where(lastof[:-1], SPEND, kinds[order[1:]])
        mine = isnew[order]
        kept_ids = left_by[order][mine & (nxt != FROM) & (nxt != SWAP)]
        kept_rc = (nxt[mine & (nxt != FROM) & (nxt != SWAP)] == SPEND).astype(np.int64)
        # objects from before the call that an operation overwrites or frees: in Python, in order
        delta: dict[int, int] = {}      # reference changes of objects from before the call
        gone: dict[int, list[int]] = {}  # objects from before the call that it frees
        last = k - 1
        touched = np.flatnonzero((old_all >= 0) & (old_all < n0))
        for j, v, kind in zip(touched.tolist(), old_all[touched].tolist(),
                              kinds[touched].tolist()):
            delta[v] = delta.get(v, 0) - 1
            if kind == INTO:
                continue
            vrec = objs.get(v)
            if vrec is None or v in gone:
                raise TraceError(f"object {v} is freed twice", index=int(start[j]))
            gone[v] = vrec
            for w in vrec[2:]:              # a freed object's slots no longer refer
                if w >= 0:
                    delta[w] = delta.get(w, 0) - 1
            left = vrec[0] + delta[v]
            if v == o or (left and j != last):
                raise TraceError(f"invalid free of object {v}: still referenced ({left} "
                                 f"reference(s) from registers or slots of live objects)",
                                 index=int(start[j]) + int(count[j]) - 1)
        kl = kinds.tolist()
        # registers: the lowest free one (and the next, for replace), given back at once
        free_regs = self._free_regs
        ra = rb = -1
        if used.size:
            ra = heappop(free_regs) if free_regs else self._take()
            if SWAP in kl:
                rb = heappop(free_regs) if free_regs else self._take()
                heappush(free_regs, rb)
            heappush(free_regs, ra)
        # commit
        for v, d in delta.items():
            r = gone.get(v)
            if r is None:
                r = objs.get(v)
                if r is None:
                    r = self._dying[v][1]
            r[0] += d
        for v in gone:
            del objs[v]
        ends = order[lastof]
        for s, v in zip(slots[ends].tolist(), left_by[ends].tolist()):
            rec[2 + s] = v
        objs.update({v: [c, 0] for v, c in zip(kept_ids.tolist(), kept_rc.tolist())})
        self._nobj = n
        if kl[last] in (FROM, SWAP) and 0 <= old_all[last] < n0:
            v = int(old_all[last])
            self._dying[v] = (int(start[last]) + int(count[last]) - 1, gone[v])
        # the events, column by column
        self._flush()
        step = 1 << 14                  # operations per chunk: bounds the columns' temporaries
        for lo in range(0, k, step):
            sel = slice(lo, lo + step)
            self._slot_events(kinds[sel], slots[sel], sizes[sel], work[sel], hasw[sel],
                              start[sel] - start[lo], int(count[sel].sum()), old_all[sel],
                              new_all[sel], dst, o, ra, rb)

    def _slot_events(self, kinds, slots, sizes, work, hasw, start, total, old, new, dst, o,
                     ra, rb) -> None:
        """The events of :meth:`slot_ops` for one slice of its operations, as a chunk."""
        op, a, b, c, x, y, z = self._blank(total)

        def put(at, code, av, bv=0, cv=0, xv=-1, yv=-1, zv=-1):
            op[at] = code
            a[at] = av
            b[at] = bv
            c[at] = cv
            x[at] = xv
            y[at] = yv
            z[at] = zv

        m = hasw.astype(bool)
        put(start[m & (kinds == SPEND)], WORK, work[m & (kinds == SPEND)])
        for kind in (INTO, SWAP):
            k = kinds == kind
            s, w, n = start[k], hasw[k], new[k]
            put(s, ALLOC, ra, sizes[k], 0, n)
            put((s + 1)[w > 0], WORK, work[k][w > 0])
            if kind == INTO:
                put(s + 1 + w, STORE, dst, slots[k], ra, o, n, old[k])
                put(s + 2 + w, CLEAR, ra, xv=n)
            else:
                v = old[k]
                put(s + 1 + w, LOAD, rb, dst, slots[k], v, o)
                put(s + 2 + w, STORE, dst, slots[k], ra, o, n, v)
                put(s + 3 + w, CLEAR, ra, xv=n)
                put(s + 4 + w, FREE, rb, xv=v)
        k = kinds == FROM
        s, v = start[k], old[k]
        put(s, LOAD, ra, dst, slots[k], v, o)
        put(s + 1, STORE, dst, slots[k], NULL, o, -1, v)
        put(s + 2, FREE, ra, xv=v)
        chunk = {"op": op.astype(np.uint8), "flags": np.zeros(total, dtype=np.uint8)}
        for name, col in (("a", a), ("b", b), ("c", c), ("x", x), ("y", y), ("z", z)):
            chunk[name] = narrow(col)
        self._add(chunk)

    # -- whole programs of linked structures, recorded with numpy ---------------------------------
    def _lowest_free(self, k: int) -> list[int]:
        """The ``k`` registers the next ``k`` takes would return, without taking them."""
        return sorted(self._free_regs)[:k] + list(range(self._next_reg, self._next_reg + k))[
            :max(0, k - len(self._free_regs))]

    def _release_new(self, top: int) -> None:
        """A self-contained batch used registers up to ``top`` and left them all free: the new
        ones (from :attr:`_next_reg` on) join the free registers, as ``_take`` and a drop would
        have left them."""
        for r in range(self._next_reg, top + 1):
            self._held.append(-1)
            heappush(self._free_regs, r)
        self._next_reg = max(self._next_reg, top + 1)

    def _blank(self, total: int, small=np.int64, ids=np.int64) -> tuple[np.ndarray, ...]:
        """A block's seven event columns before its events are put in: op (to be set), a, b, c
        zero, and the derived object ids x, y, z unset (-1); ``c`` in dtype ``small`` and the ids
        in ``ids`` when the caller knows their values fit. In buffers the recorder keeps (valid
        until the next call)."""
        out = []
        for k, (dt, fill) in enumerate(((np.uint8, None), (np.int64, 0), (np.int64, 0),
                                        (small, 0), (ids, -1), (ids, -1), (ids, -1))):
            key = (k, np.dtype(dt))
            buf = self._scratch.get(key)
            if buf is None or buf.shape[0] < total:
                buf = self._scratch[key] = np.empty(max(total, 1), dtype=dt)
            col = buf[:total]
            if fill is not None:
                col.fill(fill)
            out.append(col)
        return tuple(out)

    def _put_columns(self, op, a, b=0, c=0, x=-1, y=-1, z=-1) -> None:
        """Append events given as columns (flags 0) as one chunk, after the staged ones."""
        n = op.shape[0]
        if not n:
            return
        self._flush()
        chunk = {"op": op.astype(np.uint8), "flags": np.zeros(n, dtype=np.uint8)}
        for name, col in (("a", a), ("b", b), ("c", c), ("x", x), ("y", y), ("z", z)):
            chunk[name] = narrow(col)
        self._add(chunk)

    def fifo(self, sizes, pops, nslots: int = 1, next_slot: int = 0, *, work: int = 0) -> None:
        """A linked FIFO queue's whole life: one object pushed per step, ``pops[s]`` objects
        popped after step ``s``, and ``pops[len(sizes)]`` (the rest) at the end; recorded with
        numpy. The events of::

            head = tail = None
            for s, size in enumerate(sizes):
                if tail is None:                      # the queue is empty
                    head = t.alloc(size, nslots)
                    tail = t.copy(head)
                else:
                    tail = t.alloc_after(tail, next_slot, size, nslots)
                t.work(work)
                for _ in range(pops[s]):
                    if head is the only object queued:
                        t.drop(tail); t.free(head); head = tail = None
                    else:
                        head = t.free_head(head, next_slot)
            ... and the same pops, ``pops[len(sizes)]`` of them, after the last step

        ``pops`` has ``len(sizes) + 1`` entries, never pops more objects than were pushed, and
        pops all of them: the queue is empty at the end (the call is self-contained). The queue
        uses the three lowest free registers. A call that fails records nothing.
        """
        if self._dying:
            self._end_batch()
        sizes = np.asarray(sizes, dtype=np.int64).reshape(-1)
        pops = np.asarray(pops, dtype=np.int64).reshape(-1)
        n = sizes.shape[0]
        here = len(self)
        nslots, next_slot, work = _ints("fifo", here, nslots, next_slot, work)
        if pops.shape[0] != n + 1:
            raise ValueError(f"fifo: pops must have len(sizes) + 1 = {n + 1} entries, got "
                             f"{pops.shape[0]} (event {here})")
        if not 1 <= nslots <= MAX_SLOTS or not 0 <= next_slot < nslots or work < 0:
            raise ValueError(f"fifo: nslots must be in 1..{MAX_SLOTS}, next_slot in 0..nslots-1 "
                             f"and work >= 0, got {nslots}, {next_slot}, {work} (event {here})")
        if n and int(sizes.min()) < 0:
            raise ValueError(f"fifo: sizes must be >= 0, got {int(sizes.min())} (event {here})")
        popped = np.cumsum(pops)                  # objects popped by the end of each step
        bad = np.flatnonzero((pops < 0) | (popped > np.minimum(np.arange(1, n + 2), n)))
        if bad.size or (n and int(popped[-1]) != n):
            s = int(bad[0]) if bad.size else n
            raise ValueError(f"fifo: pops[{s}] = {int(pops[s])}: a step pops between 0 and the "
                             f"objects queued, and the queue ends empty ({n} pushed, "
                             f"{int(popped[-1]) if n else 0} popped) (event {here})")
        if not n:
            return
        # registers: the queue holds at most two (head, tail) and takes one more at a push or a
        # pop, always the lowest free; so it uses the three lowest free registers r0 < r1 < r2.
        # A push into the empty queue puts its object in r0 (head) and r1 (tail); every other
        # push or pop takes the one free register, the one the operation before it let go of:
        # the tail before a push (the register the last push took), the head before a pop.
        r0, r1, r2 = self._lowest_free(3)
        o0 = self._nobj
        # (the arrays below are one or two entries per object, so int32 where the count allows:
        # they are the recording's memory while the columns are still empty)
        idt = np.int32 if 2 * n + 3 < 1 << 31 else np.int64
        if idt is np.int32:
            popped = popped.astype(np.int32)
        empty = np.zeros(n + 1, dtype=bool)       # the queue is empty before step s's push
        empty[0] = True
        empty[1:n] = popped[:n - 1] == np.arange(1, n, dtype=idt)
        leave = np.repeat(np.arange(n + 1, dtype=idt), pops)   # the step that pops each object
        last_pop = np.arange(n, dtype=idt) == np.minimum(leave, n - 1)   # it empties the queue
        # every push and pop in order: step s's push, then its pops
        START, PUSH, POP, LAST = range(4)
        m = 2 * n
        kind = np.empty(m, dtype=np.int8)
        at_push = popped[:n] - pops[:n].astype(idt)   # the first object each step pops ...
        at_push += np.arange(n, dtype=idt)            # ... plus the pushes before it
        at_pop = np.minimum(leave, n - 1)             # the step that pops it (the drain: n) ...
        at_pop += 1
        at_pop += np.arange(n, dtype=idt)             # ... plus the pushes and pops before it
        kind[at_push] = np.where(empty[:n], START, PUSH)
        kind[at_pop] = np.where(last_pop, LAST, POP)
        nodes = {name: m + k for k, name in enumerate(("r0", "r1", "r2"))}
        tail_src = np.full(m, nodes["r1"], dtype=idt)   # whose register the tail is in before op k
        head_src = np.full(m, nodes["r0"], dtype=idt)
        idx = np.arange(m, dtype=idt)
        period = np.maximum.accumulate(np.where(kind == START, idx, 0))
        for src, code in ((tail_src, PUSH), (head_src, POP)):
            before = np.empty(m, dtype=idt)
            before[0] = -1
            np.maximum.accumulate(np.where(kind[:-1] == code, idx[:-1], -1), out=before[1:])
            inside = before >= period
            src[inside] = before[inside]
            del before, inside
        del idx, period
        # the register op k takes is the one op k - 1 let go of: follow those links to a start
        link = np.empty(m + 3, dtype=idt)
        link[m:] = np.arange(m, m + 3)
        link[0] = nodes["r0"]
        prev = kind[:-1]
        link[1:m] = np.where(prev == START, nodes["r2"],
                             np.where(prev == PUSH, tail_src[:-1], head_src[:-1]))
        del prev, kind
        nxt = np.empty_like(link)
        while True:                               # pointer jumping: log2(m) rounds at most
            np.take(link, link, out=nxt)
            if np.array_equal(nxt, link):
                break
            link, nxt = nxt, link
        del nxt
        link -= m
        reg = np.array([r0, r1, r2], dtype=np.int32)[link]   # the register of every node
        del link
        push_new = np.where(empty[:n], np.int32(r0), reg[at_push])
        push_old = np.where(empty[:n], np.int32(r1), reg[tail_src[at_push]])
        pop_head = reg[head_src[at_pop]]
        pop_a = np.where(last_pop, reg[tail_src[at_pop]], reg[at_pop])
        top = max(int(push_new.max()), int(pop_a.max()), r1)
        del tail_src, head_src, reg, at_push, at_pop, last_pop
        # the events, a block of steps at a time (bounds the columns' temporaries); what a
        # block needs per step (its events' count and offsets) is worked out for the block
        # only
        ids = narrowest(-1, o0 + n)
        small = narrowest(-1, max(nslots, top))
        hasw = 1 if work else 0
        block = 1 << 13                           # steps: about 6 events each
        for lo in range(0, n + 1, block):
            hi = min(n + 1, lo + block)
            push_len = np.where(empty[lo:hi], 2, 3)
            if hi == n + 1:
                push_len[-1] = 0                  # the drain after the last step: pops only
            has_work = np.full(hi - lo, hasw, dtype=np.int64)
            if hi == n + 1:
                has_work[-1] = 0
            cnt = push_len + has_work + 2 * pops[lo:hi]
            total = int(cnt.sum())
            start = np.cumsum(cnt) - cnt
            del cnt
            op, a, b, c, x, y, z = self._blank(total, small, ids)

            def put(at, code, av, bv=0, cv=0, xv=-1, yv=-1):
                op[at] = code
                a[at] = av
                for col, v, unset in ((b, bv, 0), (c, cv, 0), (x, xv, -1), (y, yv, -1)):
                    if not isinstance(v, int) or v != unset:
                        col[at] = v

            s = np.arange(lo, min(hi, n))
            st = start[:s.shape[0]]
            e = empty[s]
            put(st, ALLOC, push_new[s], sizes[s], nslots, o0 + s)
            put(st[e] + 1, MOVE, push_old[s][e], push_new[s][e], 0, o0 + s[e])
            ne = ~e
            sn = s[ne]
            put(st[ne] + 1, STORE, push_old[sn], next_slot, push_new[sn], o0 + sn - 1, o0 + sn)
            put(st[ne] + 2, CLEAR, push_old[sn], 0, 0, o0 + sn - 1)
            if work:
                put(st + push_len[s - lo], WORK, work)
            objs = np.arange(int(popped[lo]) - int(pops[lo]), int(popped[hi - 1]))
            if objs.size:
                d = leave[objs] - lo
                first = popped[lo:hi][d] - pops[lo:hi][d]     # the first object step d pops
                at = start[d] + push_len[d] + has_work[d] + 2 * (objs - first)
                last = objs == np.minimum(d + lo, n - 1)
                put(at[last], CLEAR, pop_a[objs[last]], 0, 0, o0 + objs[last])
                nl = objs[~last]
                put(at[~last], LOAD, pop_a[nl], pop_head[nl], next_slot, o0 + nl + 1, o0 + nl)
                put(at + 1, FREE, pop_head[objs], 0, 0, o0 + objs)
            self._put_columns(op, a, b, c, x, y, z)
        self._nobj = o0 + n
        self._release_new(top)

    def chain_window(self, lengths, size: int, nslots: int, next_slot: int, *, live: int,
                     back_slot: int | None = None, back=False, self_slot: int | None = None,
                     self_at=-1, close=False, work: int = 0) -> None:
        """Linked structures built one after another, the ``live`` most recent kept and the
        older ones deleted whole, recorded with numpy. The events of::

            held = collections.deque()
            for j, n in enumerate(lengths):
                first = t.alloc_chain(n, size, nslots, next_slot,
                                      back_slot=back_slot if back[j] else None,
                                      self_slot=self_slot, self_at=self_at[j], close=close[j])
                t.work(work)
                held.append((first, n))
                if len(held) > live:
                    t.free_chain(*held.popleft(), ...)    # free_chain(first, next_slot, n)
            while held:
                t.free_chain(...)                         # the same, oldest first

        ``back``, ``self_at`` and ``close`` are one value or a sequence as long as ``lengths``.
        The events of each distinct structure (``n``, ``back``, ``self_at``, ``close``) are
        recorded once, by :meth:`alloc_chain` and :meth:`free_chain` on a scratch recorder, and
        copied with their registers and object ids renamed: a build takes the lowest free
        registers (the first node's stays held), a delete the lowest free ones for its loads.
        A call that fails records nothing.
        """
        if self._dying:
            self._end_batch()
        here = len(self)
        lengths = [operator.index(v) for v in np.asarray(lengths, dtype=np.int64).reshape(-1)]
        m = len(lengths)
        size, nslots, next_slot, live, work = _ints("chain_window", here, size, nslots,
                                                    next_slot, live, work)

        back, self_at, close = (np.broadcast_to(np.asarray(v), (m,)).tolist()
                                for v in (back, self_at, close))
        if live < 0 or work < 0 or size < 0 or not 0 <= nslots <= MAX_SLOTS:
            raise ValueError(f"chain_window: live, work and size must be >= 0 and nslots in "
                             f"0..{MAX_SLOTS}, got {live}, {work}, {size}, {nslots} "
                             f"(event {here})")
        if not m:
            return
        # the structures' templates: the events of alloc_chain + free_chain on a scratch recorder
        shapes: dict[tuple, int] = {}
        parts: list[np.ndarray] = []
        keys = []
        for j in range(m):
            key = (lengths[j], bool(back[j]), int(self_at[j]), bool(close[j]))
            if key not in shapes:
                n, bk, sa, cl = key
                if n < 1 or sa >= n:
                    raise ValueError(f"chain_window: structure {j}: n must be >= 1 and self_at "
                                     f"< n, got {n}, {sa} (event {here})")
                sc = Recorder()
                try:
                    first = sc.alloc_chain(n, size, nslots, next_slot,
                                           back_slot=back_slot if bk else None,
                                           self_slot=self_slot, self_at=sa, close=cl)
                    built = len(sc)
                    sc.free_chain(first, next_slot, n)
                except ValueError as e:
                    msg = str(e).split(" (event ")[0]
                    raise ValueError(f"chain_window: structure {j}: {msg} (event {here})") \
                        from None
                sc._flush()
                cols = sc._events_since(0)       # (events, 7): op (no flags), a, b, c, x, y, z
                shapes[key] = len(parts)
                parts.append(cols[:built])
                parts.append(cols[built:])
            keys.append(shapes[key])
        if work:
            work_id = len(parts)
            parts.append(np.array([[WORK, work, 0, 0, -1, -1, -1]], dtype=np.int64))
        bank = np.concatenate(parts)
        t_len = np.array([p.shape[0] for p in parts], dtype=np.int64)
        t_start = np.cumsum(t_len) - t_len
        bcol = [np.ascontiguousarray(bank[:, k]) for k in range(7)]
        bop = bcol[0]
        is_reg = (bop != WORK, (bop == LOAD) | (bop == MOVE), (bop == STORE) & (bcol[3] >= 0))
        # a register operand as an index into its segment's register map (0 when not one)
        breg = [np.where(m, bcol[1 + k], 0) for k, m in enumerate(is_reg)]
        # registers, a Python step per structure: the free ones below `top`, lowest first
        free = sorted(self._free_regs)
        top = self._next_reg
        seg_t: list[int] = []          # template of each segment, in event order
        seg_base: list[int] = []       # the structure's first object id
        seg_regs: list[int] = []       # each segment's register map, one after the other
        seg_rlen: list[int] = []
        o = self._nobj
        held: deque = deque()          # (register, first object, template, n) oldest first

        def lowest(k):
            got = free[:k]
            return got + list(range(top, top + k - len(got)))

        def delete():
            nonlocal top
            r, base, tid, n = held.popleft()
            regs = lowest(n - 1)
            if regs and regs[-1] >= top:
                free.extend(range(top, regs[-1] + 1))
                top = regs[-1] + 1
            insort(free, r)
            seg_t.append(tid + 1)
            seg_base.append(base)
            seg_regs.append(r)
            seg_regs.extend(regs)
            seg_rlen.append(1 + len(regs))

        for j in range(m):
            tid = keys[j]                # its build; tid + 1 is its delete
            n = lengths[j]
            regs = lowest(min(n, 3))
            if regs[-1] >= top:
                free.extend(range(top, regs[-1] + 1))
                top = regs[-1] + 1
            free.pop(0)                # the first node's register: the lowest, held
            seg_t.append(tid)
            seg_base.append(o)
            seg_regs.extend(regs)
            seg_rlen.append(len(regs))
            held.append((regs[0], o, tid, n))
            o += n
            if work:
                seg_t.append(work_id)
                seg_base.append(0)
                seg_rlen.append(0)
            if len(held) > live:
                delete()
        while held:
            delete()
        # the events: each segment's template with its registers and object ids renamed, a
        # block of segments at a time (bounds the temporaries)
        seg_t = np.array(seg_t, dtype=np.int64)
        seg_base = np.array(seg_base, dtype=np.int64)
        seg_rlen = np.array(seg_rlen, dtype=np.int64)
        seg_rstart = np.cumsum(seg_rlen) - seg_rlen
        regs_flat = np.array(seg_regs, dtype=np.int64)
        seg_len = t_len[seg_t]
        ends = np.cumsum(seg_len)
        lo = 0
        while lo < seg_t.shape[0]:
            hi = int(np.searchsorted(ends, ends[lo] - seg_len[lo] + (1 << 16), "right"))
            hi = max(hi, lo + 1)
            lens = seg_len[lo:hi]
            total = int(lens.sum())
            seg = np.repeat(np.arange(lo, hi), lens)
            src = np.arange(total) - (np.cumsum(lens) - lens).repeat(lens) \
                + t_start.take(seg_t.take(seg))
            rbase = seg_rstart.take(seg)
            cols = [bop.take(src)]
            for k in range(3):
                v = bcol[1 + k].take(src)
                cols.append(np.where(is_reg[k].take(src),
                                     regs_flat.take(rbase + breg[k].take(src)), v))
            base = seg_base.take(seg)
            for k in range(4, 7):
                v = bcol[k].take(src)
                cols.append(np.where(v >= 0, v + base, -1))
            self._put_columns(*cols)
            lo = hi
        self._nobj = o
        self._release_new(top - 1)

    def append_events(self, events) -> None:
        """Append a whole self-contained program whose events the caller derived in full — the
        registers, the object ids and the derived ``x``, ``y``, ``z`` — per event ``op | flags
        << 3, a, b, c, x, y, z`` as int64s: an ``(n, 7)`` array, packed bytes, or an iterable of
        such pieces in order (so that the caller need not hold the whole program at once).

        For a workload whose program is cheaper to derive from its own shadow than to record
        call by call (lru-cache). The recorder cannot follow such events one by one, so it asks
        for a program that starts and ends with an empty heap: no object live before it, every
        object it allocates freed by its end (its registers are then all free again). It checks
        with numpy what it can — op codes, flags, operand ranges, object ids allocated in order
        and each freed exactly once — but not the derived ids against the heap's shape: the
        workload's tests must compare the trace with the one its per-call program records.
        A call that fails records nothing.
        """
        if self._dying:
            self._end_batch()
        here = len(self)
        if self._objs:
            raise ValueError(f"append_events: {len(self._objs)} object(s) live before the "
                             f"program; it must start with an empty heap (event {here})")
        if isinstance(events, (bytes, bytearray, memoryview, np.ndarray)):
            events = [events]
        self._flush()
        try:
            self._append_program(events, here)
        except BaseException:
            for col in self._cols.values():     # a call that fails records nothing
                col.n = here
            self._flushed = here
            raise

    def _append_program(self, events, here: int) -> None:
        """:meth:`append_events`' pieces checked and appended to the columns as they come (each
        column written once into its buffer, in the narrowest dtype its values need)."""
        at, objs, top = here, self._nobj, -1
        freed = np.zeros(0, dtype=np.int64)
        top_opf = WORK | FLAG_LOCAL << 3
        for piece in events:
            if isinstance(piece, (bytes, bytearray, memoryview)):
                piece = np.frombuffer(piece, dtype="<i8")
            ev = np.asarray(piece)
            if ev.dtype != np.int64:
                ev = ev.astype(np.int64)
            ev = ev.reshape(-1, 7).T.copy()     # one column a row: 3x faster to scan than
            n = ev.shape[1]                     # the piece's strided columns
            if not n:
                continue
            opf, a, b, c, x = ev[0], ev[1], ev[2], ev[3], ev[4]
            ok = 0 <= int(opf.min()) and int(opf.max()) <= top_opf
            if ok:
                opf8 = opf.astype(np.uint8)
                op, flags = opf8 & 7, opf8 >> 3
                alloc, free, work = op == ALLOC, op == FREE, op == WORK
                ok = not (np.any(op > WORK) or np.any(flags[~alloc]) or int((a * work).min()) < 0)
                if ok and alloc.any():
                    ab, ac = b[alloc], c[alloc]
                    ok = int(ab.min()) >= 0 and int(ac.min()) >= 0 and int(ac.max()) <= MAX_SLOTS
            if not ok:
                op, flags = opf & 7, opf >> 3
                alloc = op == ALLOC
                i = int(np.flatnonzero((opf < 0) | (op > WORK) | ((flags & ~FLAG_LOCAL) != 0)
                                       | ((flags != 0) & ~alloc)
                                       | (alloc & ((b < 0) | (c < 0) | (c > MAX_SLOTS)))
                                       | ((op == WORK) & (a < 0)))[0])
                raise TraceError(f"append_events: not a valid event: {ev[:, i].tolist()}",
                                 index=at + i)
            # registers: a of every event but WORK, b of LOAD and MOVE, c of a non-null STORE
            rb = (op == LOAD) | (op == MOVE)
            rc = (op == STORE) & (c != NULL)
            # (multiplied by their masks: the other events count as register 0)
            if rb.any() or rc.any() or not work.all():
                ra, rb, rc = a * ~work, b * rb, c * rc
                lo = min(int(ra.min()), int(rb.min()), int(rc.min()))
                hi = max(int(ra.max()), int(rb.max()), int(rc.max()))
                if lo < 0 or hi >= MAX_REGISTER:
                    raise ValueError(f"append_events: registers must be in "
                                     f"0..{MAX_REGISTER - 1} (event {at})")
                top = max(top, hi)
            new = x[alloc]
            if not np.array_equal(new, np.arange(objs, objs + new.shape[0])):
                raise ValueError(f"append_events: the program's ALLOCs must create objects "
                                 f"{self._nobj}, {self._nobj + 1}, ... in order (event {at})")
            objs += new.shape[0]
            gone = x[free] - self._nobj
            if gone.size and (int(gone.min()) < 0 or int(gone.max()) >= objs):
                raise ValueError(f"append_events: the program frees an object it did not "
                                 f"allocate (event {at})")
            if freed.shape[0] < objs:
                freed = np.concatenate([freed, np.zeros(objs - freed.shape[0], np.int64)])
            if gone.size:
                freed += np.bincount(gone, minlength=freed.shape[0])
            # each column straight into its buffer, in the narrowest dtype its values need
            cols = self._cols
            cols["op"].append(op)
            cols["flags"].append(flags)
            for k, name in enumerate(("a", "b", "c", "x", "y", "z"), 1):
                col = ev[k]
                cols[name].append(col, narrowest(int(col.min()), int(col.max())))
            self._flushed += n
            del ev, opf, a, b, c, x, opf8, op, flags, alloc, free, work, rb, rc, new, gone
            at += n
        if np.any(freed != 1):
            raise ValueError(f"append_events: the program must free every object it allocates "
                             f"exactly once (event {here})")
        self._nobj = objs
        if top >= 0:
            self._release_new(top)

    def repeat(self, times: int, block: Callable[[], Any]) -> None:
        """Record ``block()`` ``times`` times over, running it only once.

        ``block`` must be self-contained: it may read (LOAD, copy) objects that exist before it,
        but it must not store into or free them, every object it allocates it must free, and it
        must leave every register as it found it. Then each run records the same events, with
        its own objects' ids shifted — the events of ``for _ in range(times): block()`` exactly,
        at the cost of one run and a numpy copy. A block that breaks a condition raises
        ``ValueError`` (nothing of the copies is recorded).
        """
        if times <= 0:
            return
        if self._dying:
            self._end_batch()
        before = _BlockState(self)
        block()
        if self._dying:
            self._end_batch()
        self._flush()
        nobj = self._nobj - before.first_object
        events = len(self) - before.event
        if times == 1 or events == 0:
            return
        ev = self._events_since(before.event)
        op, x = ev[:, 0] & 7, ev[:, 4]
        old = x < before.first_object
        if self._held[:len(before.held)] != before.held or any(
                o >= 0 for o in self._held[len(before.held):]):
            raise ValueError("repeat: the block must leave every register as it found it")
        if any(o >= before.first_object for o in self._objs):
            raise ValueError("repeat: the block must free every object it allocates")
        if np.any(((op == STORE) | (op == FREE)) & old):
            raise ValueError("repeat: the block must not store into or free an object that "
                             "existed before it")
        # each copy: the block's columns as they are, but the block's own object ids shifted by
        # the objects the copies before it allocated (ids from before the block stay)
        base = {"op": (ev[:, 0] & 7).astype(np.uint8), "flags": (ev[:, 0] >> 3).astype(np.uint8)}
        for k, name in enumerate(("a", "b", "c"), 1):
            base[name] = narrow(np.ascontiguousarray(ev[:, k]))
        top = self._nobj + (times - 1) * nobj           # beyond the last copy's ids
        id_dtype = narrowest(-1, top)
        ids = {name: np.ascontiguousarray(ev[:, k]).astype(id_dtype)
               for k, name in enumerate(("x", "y", "z"), 4)}
        mine = {name: ids[name] >= before.first_object for name in ids}
        per = max(1, CHUNK_EVENTS // events)
        for k in range(1, times, per):
            copies = min(per, times - k)
            chunk = {name: np.tile(col, copies) for name, col in base.items()}
            shift = (np.arange(k, k + copies, dtype=id_dtype) * id_dtype.type(nobj))[:, None]
            for name, col in ids.items():
                out = np.tile(col, (copies, 1))
                np.add(out, shift, out=out, where=mine[name][None, :])
                chunk[name] = out.reshape(-1)
            self._add(chunk)
        self._nobj += (times - 1) * nobj

    def _events_since(self, start: int) -> np.ndarray:
        """Events ``start..`` (all flushed) as an (n, 7) int64 array."""
        cols = self._cols
        ev = np.empty((self._flushed - start, 7), dtype=np.int64)
        ev[:, 0] = cols["op"].view(start)
        ev[:, 0] |= cols["flags"].view(start).astype(np.int64) << 3
        for k, name in enumerate(("a", "b", "c", "x", "y", "z"), 1):
            ev[:, k] = cols[name].view(start)
        return ev

    # -- the result -----------------------------------------------------------------------------
    def build(self) -> Trace:
        """The trace recorded so far (every rule was checked as the events were recorded)."""
        if self._dying:
            self._end_batch()
        self._flush()
        # the columns' buffers themselves, no copy: recording more after a build appends beyond
        # the trace's events (or into new buffers), never into them
        cols = {name: col.view() for name, col in self._cols.items()}
        return Trace(cols["op"], cols["flags"], cols["a"], cols["b"], cols["c"], cols["x"],
                     cols["y"], cols["z"], self._next_reg, self.workload, self.params)
