#!/usr/bin/env python3
"""Replay a memcompare binary trace (format v1) in the CPython that runs this script, and print
one JSON line per replay (the native replayer contract, issue 6).

    python replay.py TRACE_FILE REPLAYS [--gc on|off] [--thresholds T0,T1,T2]

Standard library only: this script must not import memcompare or numpy, so the heap it measures
is the replay's own (plus a bare interpreter's).

Loading (before any clock): the columns ``op`` (u8 → ``array('b')``), ``a``, ``b``, ``c``
(i64 LE → ``array('q')``) are read straight from the file with ``array.fromfile``; the flags and
the derived x/y/z columns are skipped. ``array`` objects are not tracked by the cyclic collector
and hold raw machine integers, so the decoded trace costs the collector nothing and is not part
of any generation's count (a ``list`` of ints would be traversed item by item at every full
collection).

Object layout — the fewest allocations CPython allows for "``nslots`` reference slots and
``size`` payload bytes", and the same container/atom split as the simulated ``cpython`` model
(memcompare_cpython/layout.py):

- ``nslots > 0``: an instance of ``Obj``, a ``list`` subclass with ``__slots__ = ("payload",)``.
  The list items ARE the reference slots (``nslots`` Nones), the one ``__slots__`` field holds a
  ``bytearray(size)`` (zero-filled). That is 2 Python objects and, at the C level, 3 allocations
  when size > 0: the list object itself (PyGC_Head + list header + the ``payload`` slot) through
  pymalloc, its item array (``8 * nslots`` bytes, ``PyMem_Malloc``), and the bytearray object,
  whose buffer is a 4th (``size + 1`` bytes) when size > 0. Exactly ONE of them is a container the
  cyclic collector tracks (the Obj), so a trace object with slots is one tracked container, as in
  CPython's own objects and in the simulated model. Python gives no way to put a variable number
  of references and a variable number of raw bytes in a single allocation (a ``__slots__`` class
  has a fixed number of slots; a var-sized subclass of ``bytes``/``tuple`` cannot take
  ``__slots__``, and a tuple is immutable).
  The brief's first layout — a ``__slots__`` class holding a list and a bytearray (3 Python
  objects) — makes every trace object TWO tracked containers (the instance and the list), which
  doubles the generation-0 count per allocation, so the collector runs twice as often as in
  CPython's model of the same program (e.g. 200 instead of 100 collections for 70,000 live
  one-slot objects at thresholds (700, 10, 10)).
- ``nslots == 0``: the ``bytearray(size)`` alone — an atom, like an int or a str: not tracked
  by the collector (no PyGC_Head), 1 object (+ its buffer). It can never be loaded from or stored
  into (validation rejects a slot out of range), so nothing needs the Obj shape.

Semantics (DESIGN.md §3): the register list is the whole root set; writing a register drops what
it held (plain Python assignment); FREE is a CLEAR (CPython has no delete: the reference count
frees the object when its last reference goes); ``local`` ALLOCs are plain allocations; WORK spins
on ``time.perf_counter_ns`` for its nanoseconds.

Per replay: clear all registers, ``gc.collect()``, write "5" to /proc/self/clear_refs (reset the
peak RSS; failure is reported on stderr), read VmRSS, read ``gc.get_stats()``, then time ONLY the
loop (``time.perf_counter`` wall, ``time.process_time`` CPU), then read ``gc.get_stats()`` and
VmHWM. Collections are counted from the ``gc.get_stats()`` differences; pauses are the
``gc.callbacks`` "start"→"stop" intervals (``time.perf_counter``) of collections that happen
inside the loop only. Allocated bytes are null: CPython counts them only under ``tracemalloc``,
which slows the replay about 9× and inflates the heap (reference/native-replay.md §3.7).
"""
from __future__ import annotations

import gc
import json
import platform
import re
import sys
import time
from array import array
from itertools import compress

MAGIC = b"MCTRACE\0"
PREFIX = 20
ALLOC, LOAD, STORE, MOVE, CLEAR, FREE, WORK = range(7)
SLOT_BYTES = 8


class Obj(list):
    """A trace object with slots: the list items are the slots; ``payload`` is its bytearray."""

    __slots__ = ("payload",)


def fail(message: str) -> None:
    print(f"replay.py: {message}", file=sys.stderr)
    sys.exit(2)


def load(path: str):
    """The trace's register count and its op/a/b/c columns (array('b'), 3 × array('q'))."""
    try:
        f = open(path, "rb")
    except OSError as e:
        fail(f"{path}: cannot read the trace file: {e.strerror}")
    with f:
        prefix = f.read(PREFIX)
        if len(prefix) < PREFIX or prefix[:8] != MAGIC:
            fail(f"{path}: not a memcompare binary trace (magic {MAGIC!r})")
        version = int.from_bytes(prefix[8:12], "little")
        if version != 1:
            fail(f"{path}: unsupported format version {version} (this replayer reads version 1)")
        hlen = int.from_bytes(prefix[12:16], "little")
        header = f.read(hlen).decode("utf-8", "replace")

        def key(name: str) -> int:
            m = re.search(r'"%s"\s*:\s*(\d+)' % name, header)
            if m is None:
                fail(f"{path}: the header has no integer {name!r}")
            return int(m.group(1))

        n, registers = key("events"), key("registers")
        body = PREFIX + hlen
        f.seek(0, 2)
        if f.tell() != body + 50 * n:
            fail(f"{path}: {n} events need a file of {body + 50 * n} bytes, it has {f.tell()}")
        op = array("b")
        f.seek(body)
        op.fromfile(f, n)
        cols = []
        for k in range(3):                      # a, b, c; flags at body + n are skipped
            col = array("q")
            f.seek(body + 2 * n + 8 * n * k)
            col.fromfile(f, n)
            if sys.byteorder != "little":
                col.byteswap()
            cols.append(col)
    return registers, op, cols[0], cols[1], cols[2]


def replay_loop(regs, op, A, B, C, nones):
    """Run every event once. Returns (objects, loads_nonnull, bytes) as observed."""
    objects = loads_nonnull = nbytes = 0
    spin = time.perf_counter_ns
    for o, a, b, c in zip(op, A, B, C):
        if o == ALLOC:
            if c:
                obj = Obj(nones[c])
                obj.payload = bytearray(b)
                regs[a] = obj
            else:
                regs[a] = bytearray(b)
            objects += 1
            nbytes += b + SLOT_BYTES * c
        elif o == STORE:
            regs[a][b] = regs[c] if c >= 0 else None
        elif o == LOAD:
            v = regs[b][c]
            if v is not None:
                loads_nonnull += 1
            regs[a] = v
        elif o == CLEAR or o == FREE:
            regs[a] = None
        elif o == MOVE:
            regs[a] = regs[b]
        elif o == WORK:
            end = spin() + a
            while spin() < end:
                pass
    return objects, loads_nonnull, nbytes


def proc_status() -> dict:
    """VmRSS and VmHWM in bytes (None when /proc is missing)."""
    out = {"VmRSS": None, "VmHWM": None}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in out:
                    out[name] = int(rest.split()[0]) * 1024      # "kB"
    except OSError:
        pass
    return out


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    gc_on, thresholds = True, None
    pos = []
    while args:
        arg = args.pop(0)
        if arg == "--gc":
            value = args.pop(0) if args else ""
            if value not in ("on", "off"):
                fail(f"--gc takes on or off, got {value!r}")
            gc_on = value == "on"
        elif arg == "--thresholds":
            try:
                thresholds = tuple(int(t) for t in (args.pop(0) if args else "").split(","))
            except ValueError:
                thresholds = ()
            if len(thresholds) != 3 or min(thresholds) < 0:
                fail("--thresholds takes three non-negative integers: T0,T1,T2")
        else:
            pos.append(arg)
    if len(pos) != 2 or not pos[1].isdigit() or int(pos[1]) < 1:
        fail("usage: replay.py TRACE_FILE REPLAYS [--gc on|off] [--thresholds T0,T1,T2]")
    path, replays = pos[0], int(pos[1])

    registers, op, A, B, C = load(path)
    # one tuple of Nones per distinct slot count, made before the clock: Obj(t) copies it
    nones = {c: (None,) * c for c in set(compress(C, map(ALLOC.__eq__, op)))}
    if thresholds is not None:
        gc.set_threshold(*thresholds)
    if not gc_on:
        gc.disable()
    runtime = f"{platform.python_implementation()} {platform.python_version()}"

    pauses = []
    state = [False, 0.0]                        # [inside the timed loop, start of this pause]
    now = time.perf_counter

    def on_gc(phase, info):
        if state[0]:
            if phase == "start":
                state[1] = now()
            else:
                pauses.append(now() - state[1])

    gc.callbacks.append(on_gc)
    null_reasons = {"allocated_bytes": "CPython counts allocated bytes only under tracemalloc, "
                                       "which slows the replay about 9x and inflates the heap"}
    for k in range(replays):
        regs = [None] * registers
        gc.collect()
        if not reset_peak():
            print("replay.py: cannot write /proc/self/clear_refs: the peak includes "
                  "everything before this replay", file=sys.stderr)
        rss_before = proc_status()["VmRSS"]
        del pauses[:]
        s0 = gc.get_stats()
        state[0] = True
        c0, w0 = time.process_time(), now()
        digest = replay_loop(regs, op, A, B, C, nones)
        w1, c1 = now(), time.process_time()
        state[0] = False
        s1 = gc.get_stats()
        status = proc_status()
        counts = {f"gen{g}": s1[g]["collections"] - s0[g]["collections"] for g in range(3)}
        reasons = dict(null_reasons)
        if status["VmHWM"] is None:
            reasons["footprint_peak_bytes"] = "no /proc/self/status on this system"
            reasons["rss_before_bytes"] = "no /proc/self/status on this system"
        line = {
            "replay": k,
            "wall_time_s": w1 - w0,
            "cpu_time_s": c1 - c0,
            "gc_count": sum(counts.values()),
            "gc_counts": counts,
            "pauses_s": list(pauses),
            "pause_source": "gc.callbacks",
            "footprint_peak_bytes": status["VmHWM"],
            "rss_before_bytes": rss_before,
            "allocated_bytes": None,
            "digest": {"objects": digest[0], "loads_nonnull": digest[1], "bytes": digest[2]},
            "null_reasons": reasons,
            "runtime": runtime,
        }
        del regs
        print(json.dumps(line), flush=True)
    gc.callbacks.remove(on_gc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
