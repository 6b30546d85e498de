#!/usr/bin/env python3
"""Replay a memcompare binary trace (format v1) in the CPython that runs this script, and print
one JSON line per replay (the native replayer contract, docs/native.md).

    python replay.py TRACE_FILE REPLAYS [--gc on|off] [--thresholds T0,T1,T2]

Standard library only: this script must not import memcompare or numpy, so the heap it measures
is the replay's own (plus a bare interpreter's).

Loading (before any clock): the columns ``op`` (u8 → ``array('b')``), ``a``, ``b``, ``c``
(i64 LE → ``array('q')``) are read straight from the file with ``array.fromfile``; the flags and
the derived x/y/z columns are skipped. ``array`` objects are not tracked by the cyclic collector
and hold raw machine integers, so the decoded trace costs the collector nothing. For every ALLOC
the loader replaces its ``b`` (the size) by the index of its shape, (size, nslots), so the loop
finds the shape's class without building a key (a tuple is a tracked container: one per
allocation would move the collector's count).

Object layout — ONE CPython object, one allocation, per trace ALLOC, laid out as the simulated
``cpython`` model lays it out (memcompare_cpython/layout.py):

- ``nslots > 0``: an instance of a class made for its shape, ``class Obj_<size>_<nslots>`` with
  ``__slots__ = ("s0", ..., "s<nslots-1>", "p0", ..., "p<m-1>")``, m = ceil(size / 8): the
  reference slots, then the payload as m pointer-sized slots that stay NULL (zeroed by
  ``PyType_GenericAlloc``, never visited). A heap type with ``__slots__`` and neither ``__dict__``
  nor ``__weakref__`` is ``PyGC_Head`` (16) + ``PyObject`` (16) + 8 per slot, in one
  ``PyObject_Malloc`` (Objects/typeobject.c ``PyType_GenericAlloc``, ``type_new``: basicsize =
  16 + 8 × slots; heap types are always GC types). ``sys.getsizeof`` says so on 3.11.7, 3.12.1 and
  3.13.0 alike: 56 for 3 slots, 32 + 8 × (nslots + m) in general; 3.12+'s pre-header (managed
  dict and weakref pointers, ``_PyType_PreHeaderSize``) exists only for classes with a
  ``__dict__`` or ``__weakref__``, which these have not. The reference slots are set to None at
  allocation (a slot never stored reads as null); every instance is one tracked container.
- ``nslots == 0``: an atom, not tracked: ``ZERO * size`` (``ZERO = b"\\0"``), a fresh
  ``PyBytesObject`` of 33 + size bytes in one allocation (``ob_refcnt``, ``ob_type``,
  ``ob_size``, ``ob_shash`` + payload + NUL; Include/cpython/bytesobject.h; getsizeof(ZERO *
  10) == 43) whose payload is written: ``bytes_repeat`` takes it from ``PyObject_Malloc`` and
  ``memset``s it (Objects/bytesobject.c), as the C++ twin zeroes what ``new`` returns and the
  Go twin writes each page. Not ``bytes(size)``: that is ``PyObject_Calloc``, and glibc's
  calloc skips the memset on fresh memory from the top chunk or mmap, so a program's payload
  would never become resident (``bytes(50_000_000)`` grows VmRSS by 4–200 KiB on 3.11–3.13,
  ``ZERO * 50_000_000`` by 48,832 KiB). Same size, same allocator path below 512 bytes
  (pymalloc's calloc is a malloc and a memset). Size 1 is ``bytes(1)`` (``ZERO * 1`` is
  ``ZERO`` itself); ``bytes(0)`` is a shared singleton, so a size-0 atom is ``object()`` (16
  bytes, untracked).

Semantics (docs/design.md §3): the register list is the whole root set; writing a register drops what
it held (plain Python assignment, the new reference taken first); FREE is a CLEAR (CPython has no
delete: the reference count frees the object when its last reference goes); ``local`` ALLOCs are
plain allocations; WORK spins on ``time.perf_counter_ns`` for its nanoseconds. No local variable
of the loop holds a trace object past its event, so objects die exactly when the trace says.

Per replay: clear all registers, ``gc.collect()``, ``gc.freeze()``, ``gc.collect()``: the
interpreter's own objects (modules, the shape classes, this script) move to the permanent
generation, which collections never examine, and the second collection, over empty generations,
sets ``long_lived_total`` and ``long_lived_pending`` to 0 — so the collector starts each replay
from the simulated model's state (only the trace's objects, nothing long-lived, every count 0)
instead of one where the 25 % rule for full collections weighs the interpreter's own tens of
thousands of containers (gcmodule.c / gc.c ``gc_collect_main``, ``gc_freeze_impl``). Then:
glibc's ``malloc_trim(0)`` (:func:`trim`: the memory the decoded trace freed leaves the heap, so
the replay starts cold, as the model does), write "5" to /proc/self/clear_refs (reset the peak
RSS; failure is reported on stderr), read VmRSS and
``gc.get_stats()``, make the loop's event iterator (a ``zip`` over four array iterators: eight
tracked containers), freeze again (the objects those made, and the count they added, leave the
young generation: ``gc.freeze`` zeroes every count, so the loop starts at count 0 exactly, as the
model does), and time ONLY the loop (``time.perf_counter``
wall, ``time.process_time`` CPU), then read ``gc.get_stats()`` and VmHWM. Collections are counted
from the ``gc.get_stats()`` differences; pauses are the ``gc.callbacks`` "start"→"stop"
intervals (``time.perf_counter``) of collections that happen inside the loop only. Allocated
bytes are null: CPython counts them only under ``tracemalloc``, which slows the replay about 9×
and inflates the heap (docs/native-replay.md §3.7). Each line also reports the settings the
replay ran with: ``python_version``, ``gc_enabled`` (``gc.isenabled()``), ``thresholds``
(``gc.get_threshold()``) and ``free_threaded`` (the build: ``Py_GIL_DISABLED``, 3.13t/3.14t).
"""
from __future__ import annotations

import gc
import json
import platform
import re
import sys
import sysconfig
import time
from array import array
from itertools import compress

MAGIC = b"MCTRACE\0"
PREFIX = 20
ALLOC, LOAD, STORE, MOVE, CLEAR, FREE, WORK = range(7)
ZERO = b"\0"  # an atom is ZERO * size: a written payload (see the module docstring)
SLOT_BYTES = 8


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


def slot_names(n: int) -> list[str]:
    """The attribute name of reference slot k, for k < n (interned: setattr compares by id)."""
    return [sys.intern(f"s{k}") for k in range(n)]


def shapes(op, B, C):
    """One class per (size, nslots) shape with slots (module docstring), and the ALLOC events'
    ``b`` replaced by their shape's index. Returns (classes, nslots, sizes, nbytes, names): per
    shape its class (None for an atom), its slot count, its payload size and what the digest
    counts for one of its objects (size + 8 × nslots); and the slot names."""
    index: dict[tuple[int, int], int] = {}
    classes, nslots, sizes, nbytes = [], [], [], []
    names = slot_names(max(compress(C, map(ALLOC.__eq__, op)), default=0))
    for i in compress(range(len(op)), map(ALLOC.__eq__, op)):
        size, ns = B[i], C[i]
        k = index.get((size, ns))
        if k is None:
            k = index[(size, ns)] = len(classes)
            if ns:
                payload = [f"p{j}" for j in range((size + SLOT_BYTES - 1) // SLOT_BYTES)]
                classes.append(type(f"Obj_{size}_{ns}", (), {"__slots__": tuple(names[:ns])
                                                                           + tuple(payload)}))
            else:
                classes.append(None)
            nslots.append(ns)
            sizes.append(size)
            nbytes.append(size + SLOT_BYTES * ns)
        B[i] = k
    return classes, nslots, sizes, nbytes, names


def replay_loop(regs, events, classes, nslots, sizes, shape_bytes, names):
    """Run every event of ``events`` (an iterator of (op, a, b, c), made before the clock: a zip
    and its four array iterators are eight tracked containers) once. Returns (objects,
    loads_nonnull, bytes) as observed."""
    objects = loads_nonnull = nbytes = 0
    spin = time.perf_counter_ns
    for o, a, b, c in events:
        if o == ALLOC:
            cls = classes[b]
            if cls is not None:
                obj = cls()
                # range(), not the tuple of names: a tuple iterator is a tracked container,
                # and its +1 on the young count would start collections a container early
                for k in range(nslots[b]):
                    setattr(obj, names[k], None)
                regs[a] = obj
                obj = None                  # the register holds the only reference
            elif sizes[b] > 1:
                regs[a] = ZERO * sizes[b]   # written: malloc + memset, as the C++ twin's new
            elif sizes[b]:
                regs[a] = bytes(1)          # ZERO * 1 would be ZERO itself, no allocation
            else:
                regs[a] = object()
            objects += 1
            nbytes += shape_bytes[b]
        elif o == STORE:
            setattr(regs[a], names[b], regs[c] if c >= 0 else None)
        elif o == LOAD:
            regs[a] = getattr(regs[b], names[c])
            if regs[a] is not None:
                loads_nonnull += 1
        elif o == CLEAR or o == FREE:
            regs[a] = None
        elif o == MOVE:
            regs[a] = regs[b]
        elif o == WORK:
            end = spin() + a
            while spin() < end:
                pass
    return objects, loads_nonnull, nbytes


def trim() -> None:
    """glibc's ``malloc_trim(0)``: give the free memory of glibc's heap back to the system.

    Decoding the trace allocates and frees tens of MB before the replay; glibc keeps those pages
    resident and serves the replay's large objects (over pymalloc's 512 bytes) from them, so the
    replay's growth and first-touch costs read low — message-buffer grew by 14.0 MiB for about
    20 MiB of messages. Trimmed, the replay starts from a heap with nothing resident but what is
    live, as the simulated model and the C++ twin (which keeps its decoded trace) do; the growth
    is then 20.5 MiB. Not glibc (no ``malloc_trim``): nothing to do."""
    try:
        import ctypes
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


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
    classes, nslots, sizes, shape_bytes, names = shapes(op, B, C)
    if thresholds is not None:
        gc.set_threshold(*thresholds)
    if not gc_on:
        gc.disable()
    settings = {"python_version": platform.python_version(), "gc_enabled": gc.isenabled(),
                "thresholds": list(gc.get_threshold()),
                "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED"))}
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
        # the collector starts from the model's state: only the trace's objects in its
        # generations, long_lived_total 0, every count 0 (module docstring)
        gc.collect()
        gc.freeze()
        gc.collect()
        trim()                                   # a cold heap, as the model's (module docstring)
        if not reset_peak():
            print("replay.py: cannot write /proc/self/clear_refs: the peak includes "
                  "everything before this replay", file=sys.stderr)
        rss_before = proc_status()["VmRSS"]
        del pauses[:]
        s0 = gc.get_stats()
        events = zip(op, A, B, C)
        gc.freeze()
        state[0] = True
        c0, w0 = time.process_time(), now()
        digest = replay_loop(regs, events, classes, nslots, sizes, shape_bytes, names)
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
            **settings,
        }
        del regs, events
        print(json.dumps(line), flush=True)
    gc.callbacks.remove(on_gc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
