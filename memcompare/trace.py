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
import heapq
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import TraceError

ALLOC, LOAD, STORE, MOVE, CLEAR, FREE, WORK = range(7)
OP_NAMES = ("alloc", "load", "store", "move", "clear", "free", "work")
OP_CODES = {name: code for code, name in enumerate(OP_NAMES)}
#: operands each op uses, in order (``a``, ``b``, ``c``)
OP_ARITY = (3, 3, 3, 2, 1, 1, 1)
FLAG_LOCAL = 1
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


@dataclass(frozen=True, eq=False)
class Trace:
    """One validated trace. Build it with :func:`build`, a :class:`Recorder` or a file loader."""

    op: np.ndarray
    flags: np.ndarray
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    registers: int
    workload: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    # -- identity -----------------------------------------------------------------------------
    @property
    def events(self) -> int:
        return int(self.op.shape[0])

    def __len__(self) -> int:
        return self.events

    def body(self) -> bytes:
        """The canonical encoding of the columns; its sha256 identifies the trace."""
        if "body" not in self._cache:
            parts = [np.ascontiguousarray(getattr(self, name), dtype=dt).tobytes()
                     for name, dt in COLUMNS]
            self._cache["body"] = b"".join(parts)
        return self._cache["body"]

    @property
    def sha256(self) -> str:
        if "sha256" not in self._cache:
            self._cache["sha256"] = hashlib.sha256(self.body()).hexdigest()
        return self._cache["sha256"]

    # -- object table (numpy, computed once) --------------------------------------------------
    def _objects(self) -> dict[str, np.ndarray]:
        if "objects" not in self._cache:
            alloc_at = np.flatnonzero(self.op == ALLOC)
            size = self.b[alloc_at]
            nslots = self.c[alloc_at]
            free_at = np.full(alloc_at.shape[0], -1, dtype=np.int64)
            frees = np.flatnonzero(self.op == FREE)
            free_at[self.x[frees]] = frees
            self._cache["objects"] = {
                "alloc_at": alloc_at,
                "size": size,
                "nslots": nslots,
                "local": (self.flags[alloc_at] & FLAG_LOCAL) != 0,
                "free_at": free_at,
                "slot_base": np.cumsum(nslots) - nslots,
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
            delta = np.zeros(self.events, dtype=np.int64)
            alloc_at = self.obj_alloc_at
            delta[alloc_at] = self.obj_bytes
            freed = self.obj_free_at >= 0
            delta[self.obj_free_at[freed]] -= self.obj_bytes[freed]
            live = np.cumsum(delta)
            self._cache["live_peak"] = int(live.max()) if live.size else 0
            self._cache["live_curve"] = live
        return self._cache["live_peak"]

    @property
    def live_curve(self) -> np.ndarray:
        """Live bytes after each event (the trace's FREEs define death)."""
        self.live_peak_bytes
        return self._cache["live_curve"]

    # -- end state ----------------------------------------------------------------------------
    def final_registers(self) -> np.ndarray:
        """The object each register holds after the last event (``-1`` = empty)."""
        regs = np.full(self.registers, -1, dtype=np.int64)
        writes = np.flatnonzero(self.op <= FREE)   # every op but WORK writes or clears register a
        writes = writes[self.op[writes] != STORE]
        if writes.size:
            value = np.where(self.op[writes] >= CLEAR, -1, self.x[writes])
            target, value = _last_write(self.a[writes], value)
            regs[target] = value
        return regs

    def final_slots(self) -> np.ndarray:
        """Every slot's value after the last event, flat (see :attr:`obj_slot_base`)."""
        total = int(self.obj_nslots.sum())
        slots = np.full(total, -1, dtype=np.int64)
        stores = np.flatnonzero(self.op == STORE)
        if stores.size:
            target, value = _last_write(self.obj_slot_base[self.x[stores]] + self.b[stores],
                                        self.y[stores])
            slots[target] = value
        return slots

    def reachable_at_end(self) -> np.ndarray:
        """Boolean mask over objects: reachable from the registers after the last event."""
        if "reach_end" not in self._cache:
            self._cache["reach_end"] = reachable(self.final_registers(), self.final_slots(),
                                                 self.obj_slot_base, self.obj_nslots, self.objects)
        return self._cache["reach_end"]

    # -- conveniences -------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the trace; the text form for ``.mctrace.txt`` / ``.txt``, binary otherwise."""
        from .traceio import save
        save(self, path)

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


def reachable(registers: np.ndarray, slots: np.ndarray, slot_base: np.ndarray,
              nslots: np.ndarray, nobjects: int) -> np.ndarray:
    """Objects reachable from ``registers`` through ``slots`` (a Python worklist: no recursion)."""
    mark = bytearray(nobjects)
    base = slot_base.tolist()
    ns = nslots.tolist()
    flat = slots.tolist()
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
    return np.frombuffer(bytes(mark), dtype=np.uint8).astype(bool)


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


class Handle:
    """A reference a workload holds; the recorder decides which register backs it."""

    __slots__ = ("reg",)

    def __init__(self, reg: int):
        self.reg = reg

    def __repr__(self) -> str:
        return f"<Handle r{self.reg}>" if self.reg >= 0 else "<Handle (dropped)>"


class Recorder:
    """Records a trace through handles: ``node = t.alloc(32, 2)``, ``t.store(node, 0, child)``.

    Registers are assigned (lowest free first) and reused by the recorder, never by the author.
    The recorder follows the heap's shape (which object each register and slot refers to) so
    that :meth:`load` of a null slot returns ``None`` rather than a handle to nothing. Every
    rule of the register machine is checked again when :meth:`build` validates the trace.
    """

    def __init__(self, workload: str | None = None, params: dict[str, Any] | None = None):
        self.workload = workload
        self.params = dict(params or {})
        self._op: list[int] = []
        self._a: list[int] = []
        self._b: list[int] = []
        self._c: list[int] = []
        self._flags: list[int] = []
        self._free_regs: list[int] = []   # a heap: lowest register first keeps traces compact
        self._next_reg = 0
        self._held: list[int] = []        # object id per register (-1 = empty)
        self._slots: list[list[int]] = []  # slot values per object id

    def __len__(self) -> int:
        return len(self._op)

    def _take(self) -> int:
        if self._free_regs:
            return heapq.heappop(self._free_regs)
        r = self._next_reg
        self._next_reg += 1
        self._held.append(-1)
        return r

    def _release(self, h: Handle, what: str) -> int:
        r = self._reg(h, what)
        h.reg = -1
        self._held[r] = -1
        heapq.heappush(self._free_regs, r)
        return r

    def _emit(self, o: int, a: int, b: int = 0, c: int = 0, flags: int = 0) -> None:
        self._op.append(o)
        self._a.append(a)
        self._b.append(b)
        self._c.append(c)
        self._flags.append(flags)

    @staticmethod
    def _reg(h: Handle, what: str) -> int:
        if not isinstance(h, Handle):
            raise TypeError(f"{what}: expected a Handle, got {h!r}")
        if h.reg < 0:
            raise ValueError(f"{what}: handle already dropped or freed")
        return h.reg

    def _slot(self, obj: int, slot: int, what: str) -> None:
        n = len(self._slots[obj])
        if not 0 <= slot < n:
            raise ValueError(f"{what}: slot {slot} out of range for an object with {n} slot(s) "
                             f"(event {len(self._op)})")

    def alloc(self, size: int, nslots: int = 0, *, local: bool = False) -> Handle:
        """A new object of ``size`` payload bytes and ``nslots`` null pointer slots."""
        r = self._take()
        self._emit(ALLOC, r, size, nslots, FLAG_LOCAL if local else 0)
        self._held[r] = len(self._slots)
        self._slots.append([-1] * nslots)
        return Handle(r)

    def load(self, h: Handle, slot: int) -> Handle | None:
        """A new handle to what ``h``'s slot refers to, or ``None`` when the slot is null.

        A null load is still an event (the program reads the field); its register is free again
        at once.
        """
        src = self._reg(h, "load")
        obj = self._held[src]
        self._slot(obj, slot, "load")
        r = self._take()
        self._emit(LOAD, r, src, slot)
        v = self._slots[obj][slot]
        if v < 0:
            heapq.heappush(self._free_regs, r)
            return None
        self._held[r] = v
        return Handle(r)

    def store(self, h: Handle, slot: int, value: Handle | None) -> None:
        """``h.slot = value``; ``None`` stores null."""
        v = NULL if value is None else self._reg(value, "store value")
        dst = self._reg(h, "store")
        obj = self._held[dst]
        self._slot(obj, slot, "store")
        self._emit(STORE, dst, slot, v)
        self._slots[obj][slot] = -1 if value is None else self._held[v]

    def copy(self, h: Handle) -> Handle:
        """A second handle to the same object (a MOVE into a new register)."""
        src = self._reg(h, "copy")
        r = self._take()
        self._emit(MOVE, r, src)
        self._held[r] = self._held[src]
        return Handle(r)

    def drop(self, h: Handle) -> None:
        """Let go of the reference (CLEAR): the local went out of scope."""
        self._emit(CLEAR, self._release(h, "drop"))

    def free(self, h: Handle) -> None:
        """The program's explicit ``delete`` (FREE). Consecutive frees form one batch."""
        self._emit(FREE, self._release(h, "free"))

    def work(self, ns: int) -> None:
        """Computation unrelated to memory, in simulated nanoseconds (zero records nothing)."""
        if ns:
            self._emit(WORK, int(ns))

    def build(self) -> Trace:
        """Validate everything recorded and return the trace."""
        return build(self._op, self._a, self._b, self._c, self._flags,
                     workload=self.workload, params=self.params)
