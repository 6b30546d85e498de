"""The reachability oracle: insert a FREE of every object right after the event that kills it.

A trace that never frees (an imported GC trace, a workload written for a collector) leaks every
object under the manual model. Hertz & Berger's reachability oracle ("Quantifying the performance
of garbage collection vs. explicit memory management", OOPSLA 2005) frees each object at the
exact moment it becomes unreachable; the death times come from Merlin (Hertz, Blackburn, Moss,
McKinley, Stefanović, "Generating object lifetime traces with Merlin", TOPLAS 28(3), 2006), which
finds them without re-tracing the heap after every event:

1. **Time-stamp** every object at the last event that drops a reference to it (a register or a
   slot overwritten or cleared: derived column ``z``, or ``x`` of CLEAR/FREE). Only a dropped
   reference can kill, and a dead object never loses a reference again (nothing can reach it
   to mutate it), so this is one numpy pass.
2. **Propagate** backwards over the final heap graph: an object dead at the end dies at the
   largest time stamp of any dead object that reaches it. Processing dead objects in decreasing
   time-stamp order and flooding each one's unvisited dead descendants gives every object its
   death time in O(objects + slots) after the sort. (A dead object's slots never change after
   its death, so the final graph is the graph it died in.)

:func:`insert_frees` then rewrites the trace (docs/trace-import.md §3 spells out why this is
exact). This module must not know about models, files or the command line.
"""
from __future__ import annotations

import heapq

import numpy as np

from .errors import TraceError
from .trace import CLEAR, FREE, LOAD, MAX_REGISTER, MOVE, STORE, Trace, build

__all__ = ["death_times", "insert_frees", "insert_frees_mapped"]


def _as_collected(trace: Trace) -> np.ndarray:
    """The op column with every FREE read as CLEAR: the oracle decides when objects are freed."""
    op = trace.op.copy()
    op[op == FREE] = CLEAR
    return op


def _stamps(trace: Trace) -> np.ndarray:
    """Merlin's time stamps: per object, the last event that dropped a reference to it (-1)."""
    op = trace.op
    # ``move 3 3`` "drops" the object it keeps; such a stamp is harmless: the death-time proof
    # only needs every stamped object to be reachable just before the stamping event
    dropped = np.where((op == CLEAR) | (op == FREE), trace.x, trace.z)
    events = np.flatnonzero(dropped >= 0)
    stamp = np.full(trace.objects, -1, dtype=np.int64)
    np.maximum.at(stamp, dropped[events], events)
    return stamp


def death_times(trace: Trace) -> np.ndarray:
    """Per object, the event after which it is unreachable from the registers; -1 if never.

    FREE is read as CLEAR (the reference is dropped; the object's slots keep their values).
    """
    n = trace.objects
    death = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return death
    live = trace.reachable_at_end()
    stamp = _stamps(trace)
    dead = np.flatnonzero(~live)
    if dead.size == 0:
        return death
    slots = trace.final_slots().tolist()
    base = trace.obj_slot_base.tolist()
    nsl = trace.obj_nslots.tolist()
    is_dead = (~live).tolist()
    out = death.tolist()
    # decreasing stamp; ties by id keep the result deterministic (the value is the same anyway)
    order = dead[np.lexsort((dead, -stamp[dead]))].tolist()
    st = stamp.tolist()
    for root in order:
        if out[root] >= 0:
            continue
        t = st[root]
        out[root] = t
        stack = [root]
        while stack:
            o = stack.pop()
            s = base[o]
            for v in slots[s:s + nsl[o]]:
                if v >= 0 and is_dead[v] and out[v] < 0:
                    out[v] = t
                    stack.append(v)
    return np.array(out, dtype=np.int64)


def insert_frees(trace: Trace) -> Trace:
    """The trace with a FREE batch right after each event that makes objects unreachable.

    See :func:`insert_frees_mapped` for the exact transformation.
    """
    return insert_frees_mapped(trace)[0]


def insert_frees_mapped(trace: Trace) -> tuple[Trace, np.ndarray]:
    """(new trace, origin): ``origin[j]`` is the input event of output event ``j``, -1 if inserted.

    For each input event ``i`` after which the set ``D`` of objects becomes unreachable, with
    ``d`` the object whose reference event ``i`` drops (every object of ``D`` is reachable from
    ``d`` through objects of ``D``):

    - before ``i``, one event takes a handle to ``d`` in a fresh register ``h``: ``move h r``
      when ``i`` overwrites or clears register ``r``, ``load h rs slot`` when ``i`` is the store
      ``rs.slot = ...``;
    - event ``i`` itself, unchanged (a FREE of the input becomes a CLEAR);
    - one ``load`` per other object of ``D``, along a breadth-first tree from ``d``, each into a
      fresh register;
    - one ``free`` per object of ``D``, consecutive: one batch, which is valid because nothing
      outside ``D`` refers to an object of ``D``.

    Fresh registers are numbered from the input's register count up and reused after the batch.
    Objects still reachable at the end are not freed.
    """
    death = death_times(trace)
    n = trace.events
    op_in = _as_collected(trace).tolist()
    A, B, C = trace.a.tolist(), trace.b.tolist(), trace.c.tolist()
    flags = trace.flags.tolist()
    X, Z = trace.x.tolist(), trace.z.tolist()
    # objects dying at each event
    dying: dict[int, list[int]] = {}
    for o in np.flatnonzero(death >= 0).tolist():
        dying.setdefault(int(death[o]), []).append(o)
    slots = trace.final_slots().tolist()
    base = trace.obj_slot_base.tolist()
    nsl = trace.obj_nslots.tolist()
    death_l = death.tolist()

    ops: list[int] = []
    oa: list[int] = []
    ob: list[int] = []
    oc: list[int] = []
    of: list[int] = []
    origin: list[int] = []
    first_fresh = trace.registers
    free_regs: list[int] = []
    next_reg = first_fresh

    def emit(o, a, b=0, c=0, f=0, src=-1):
        ops.append(o)
        oa.append(a)
        ob.append(b)
        oc.append(c)
        of.append(f)
        origin.append(src)

    def take(i):
        nonlocal next_reg
        if free_regs:
            return heapq.heappop(free_regs)
        r = next_reg
        if r >= MAX_REGISTER:
            raise TraceError(f"the reachability oracle needs more than {MAX_REGISTER} registers "
                             f"to free the {len(dying[i])} objects that die together at this "
                             f"event (one handle each, all in one FREE batch)", index=i)
        next_reg += 1
        return r

    for i in range(n):
        o = op_in[i]
        group = dying.get(i)
        if group is None:
            emit(o, A[i], B[i], C[i], flags[i], i)
            continue
        d = X[i] if o == CLEAR else Z[i]
        h = take(i)
        if o == STORE:
            emit(LOAD, h, A[i], B[i])
        else:                               # alloc, load, move, clear: register A[i] held d
            emit(MOVE, h, A[i])
        emit(o, A[i], B[i], C[i], flags[i], i)
        # breadth-first over the objects dying here, from d, loading each into a fresh register
        handle = {d: h}
        queue = [d]
        k = 0
        while k < len(queue):
            p = queue[k]
            k += 1
            s = base[p]
            for slot in range(nsl[p]):
                v = slots[s + slot]
                if v >= 0 and v not in handle and death_l[v] == i:
                    r = take(i)
                    handle[v] = r
                    emit(LOAD, r, handle[p], slot)
                    queue.append(v)
        if len(queue) != len(group):       # pragma: no cover - Merlin's invariant
            raise AssertionError(f"event {i}: {len(group)} objects die but {len(queue)} are "
                                 f"reachable from the dropped reference")
        for p in queue:
            r = handle[p]
            emit(FREE, r)
            heapq.heappush(free_regs, r)
    out = build(ops, oa, ob, oc, of, workload=trace.workload, params=trace.params)
    return out, np.array(origin, dtype=np.int64)
