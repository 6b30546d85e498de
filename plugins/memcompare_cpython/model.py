"""The ``cpython`` model: parameters and the replay loop — refcounting on every event, pymalloc
inline, the cyclic collector when an allocation pushes the young count over its threshold.

The loop is one function with all state in locals (reference/simulator-speed.md §6.4), over one
array of integers lowered from the trace with numpy and read through a memoryview (cheaper than
a list of a million ints): each event becomes the reference-count operations it implies, in
CPython's order — the new reference is taken before the overwritten
one is dropped (trace.py), so ``move 3 3`` changes nothing:

=====================  ===================================  =================================
event                  first entry                          second entry (if the write
                                                            overwrote a reference)
=====================  ===================================  =================================
load rd, rs, k         ``x`` — Py_INCREF the object loaded  ``~z`` — Py_DECREF what rd held
                       (none for a null load)
move rd, rs            ``x`` — Py_INCREF the object copied  ``~z``
store rs, k, rv        ``N + 1 + s`` — store number ``s``:  ``~z`` — what the slot held
                       the slot takes ``rv`` (side lists)
alloc r, size, n       ``N + 1 + S + x`` — a new object     ``~z`` — what r held
clear r / free r       ``~x`` — Py_DECREF                   —
work ns                ``N`` — nothing                      —
=====================  ===================================  =================================

``N`` objects, ``S`` stores; ``N`` itself is a no-op, the increment of a spare count. FREE is a
CLEAR (DESIGN.md §3): CPython has no ``delete``. ``local`` ALLOCs are plain allocations: CPython
has no escape analysis, every object is on the heap.

Costs the trace fixes (refcount updates, object creation, each deallocation's fast path) are
summed with numpy after the loop; the loop records only what depends on the allocator's state.
This module computes no metric.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from memcompare import Model, Output, Trace, param
from memcompare.trace import ALLOC, CLEAR, FREE, LOAD, STORE, WORK

from . import layout
from .costs import Costs
from .gc import KINDS, NUM_GENERATIONS, SCHEDULED, THRESHOLDS, Collector
from .lowering import lower
from .refcount import Heap


def _thresholds_check(value) -> str | None:
    if value is not None and len(value) != NUM_GENERATIONS:
        return f"must be {NUM_GENERATIONS} thresholds"
    return None


@dataclass(frozen=True)
class Params:
    """CPython's collector settings (default build, 64-bit)."""

    version: Literal["3.11", "3.12", "3.13", "3.14"] = param(
        "3.13", "CPython version: 3.11 collects inside the allocation that crosses threshold 0; "
                "3.12+ at the next eval-breaker check (the next event); thresholds (700, 10, 10) "
                "up to 3.12, (2000, 10, 10) from 3.13. \"3.14\" is 3.14.5 and later, which went "
                "back to 3.13's generational collector (3.14.0–3.14.4's incremental one is not "
                "modelled)")
    gc_enabled: bool = param(
        True, "the cyclic collector (gc.enable()); false is gc.disable(): refcounting alone, "
              "so dead cycles leak")
    thresholds: tuple[int, int, int] | None = param(
        None, "gc.set_threshold(t0, t1, t2); absent = the version's; t0 = 0 disables "
              "collection like gc.set_threshold(0)", minimum=0, check=_thresholds_check)


class CPythonModel(Model):
    """CPython: reference counting, the generational cycle collector, pymalloc over glibc.

    After :meth:`run`, ``heap`` (refcount.Heap: counts, slots, pymalloc in ``heap.obm``, glibc
    in ``heap.glibc``) and ``collector`` (gc.Collector) hold the final state, for tests.
    """

    name = "cpython"
    Params = Params
    Costs = Costs
    #: with gc_enabled = false (or threshold 0) dead cycles are never reclaimed — CPython's
    #: own behaviour under gc.disable(); with the collector on, nothing leaks
    can_leak_cycles = True
    #: take out of the loop the reference-count pairs that cannot change anything
    #: (lowering.py); false replays every Py_INCREF and Py_DECREF, for tests that compare
    drop_pairs = True

    def run(self, trace: Trace, out: Output) -> None:
        prm, c = self.params, self.costs
        thresholds = prm.thresholds or THRESHOLDS[prm.version]
        scheduled = SCHEDULED[prm.version]
        t0 = thresholds[0]
        # _PyObject_GC_Link: "gcstate->enabled && gcstate->generations[0].threshold"
        gc_on = prm.gc_enabled and t0 > 0
        self.gc_on = gc_on
        heap = Heap(trace, c, out)
        containers = np.flatnonzero(layout.is_container(trace.obj_nslots))
        collector = Collector(heap, thresholds, c, containers)
        self.heap, self.collector = heap, collector
        n_ev = trace.events
        n_obj = trace.objects

        # -- lowering (numpy): the stream of reference-count operations (module docstring),
        # without the increment/decrement pairs that cannot change anything (lowering.py) --
        op, x, y, z = trace.op, trace.x, trace.y, trace.z
        is_store = op == STORE
        is_alloc = op == ALLOC
        inc_end = n_obj + 1                   # increments: object ids, and NOOP = n_obj
        low = lower(trace, heap.sbase_np, drop_pairs=self.drop_pairs)
        self.lowered = low
        last_dec_np = low.last_dec
        hidden = low.hidden
        # a dead object's slots are never stored to again: deallocations read final values
        heap.slots = low.final_slots.tolist()
        # Static tables are read through memoryviews of the numpy arrays: iterating or indexing
        # one makes each int when it is read, cheaper than a .tolist() of them all
        alloc_at = memoryview(trace.obj_alloc_at.astype(np.int64))
        alloc_pos = memoryview(low.alloc_pos)
        alloc_event_end = memoryview(low.alloc_event_end)
        last_dec = memoryview(last_dec_np)
        next_dec_mv = memoryview(low.next_dec)
        stream_mv = memoryview(low.entries)   # writable: the loop may void an entry

        def collect(young: int, end: int, pause_at: int, state_at: int, pos: int) -> int:
            """_Py_RunGC / gc_collect_generations: select a generation and collect it, as a
            pause before event ``pause_at``; the heap it sees is the one after ``state_at``,
            every entry of the full stream before ``pos`` done."""
            collector.count[0] = young
            g = collector.select()
            if g < 0:
                return young                   # gc_collect_main: "generation < 0": nothing
            # the collector reads CPython's counts: the dropped pairs open here count again
            held = hidden.open_at(pos)
            for o in held:
                rc[o] += 1
            # ... and the slots as they are here
            heap.slot_reader = lambda idx: low.slots_at(idx, pos)
            ns, freed = collector.collect(g, end, pause_at)
            heap.slot_reader = None
            for o in held:
                rc[o] -= 1
            out.pause(pause_at, ns, KINDS[g])
            out.collection(KINDS[g], state_at, freed)
            return collector.count[0]

        # -- the loop: state in locals --
        rc, slots, death = heap.rc, heap.slots, heap.death
        ocls, opool, nsl, sbase = heap.ocls, heap.pool, heap.nsl, heap.sbase
        obm = heap.obm
        pnext, pprev, pcount, pcap, pcls = obm.pnext, obm.pprev, obm.pcount, obm.pcap, obm.pcls
        new_pool = obm.allocate_from_new_pool
        free_pool = obm.insert_to_freepool
        alloc_large = heap.alloc_large
        free_mem = heap.free_mem
        m_at, m_ns = heap.m_at.append, heap.m_ns.append
        g_at, g_ns = heap.g_at.append, heap.g_ns.append
        work: list[int] = []
        trigger = t0 if gc_on else n_obj      # the young count above which a collection starts
        young = 0                              # generations[0].count
        for e in stream_mv:
            if e < 0:                          # Py_DECREF
                d = ~e
                r = rc[d] - 1
                rc[d] = r
                if not r:
                    # a deallocation cascade: one stall at this event, however deep
                    root = d
                    while True:
                        death[d] = root
                        pl = opool[d]
                        if pl >= 0:
                            # pymalloc_free's fast path
                            n = pcount[pl]
                            if n == pcap[pl]:  # was full: to the front of usedpools[class]
                                cl = pcls[pl]
                                nx = pnext[cl]
                                pnext[pl] = nx
                                pprev[pl] = cl
                                pprev[nx] = pl
                                pnext[cl] = pl
                            n -= 1
                            pcount[pl] = n
                            if not n:
                                at = last_dec[root]
                                g_at(at)
                                g_ns(free_pool(pl, at))
                        else:
                            at = last_dec[root]
                            g_at(at)
                            g_ns(free_mem(d, at))
                        n = nsl[d]
                        if n:
                            if young:          # PyObject_GC_Del: never below 0
                                young -= 1
                            b = sbase[d]
                            for v in slots[b:b + n]:
                                if v >= 0:
                                    r = rc[v] - 1
                                    rc[v] = r
                                    if not r:
                                        work.append(v)
                        if not work:
                            break
                        d = work.pop()
            elif e < inc_end:                  # Py_INCREF: load, move, store
                rc[e] += 1
            else:                              # alloc: a new object with one reference
                p = e - inc_end
                rc[p] = 1
                cl = ocls[p]
                if cl >= 0:
                    # pymalloc_alloc's fast path: the head pool of usedpools[cl]
                    pl = pnext[cl]
                    if pl != cl:
                        n = pcount[pl] + 1
                        pcount[pl] = n
                        if n == pcap[pl]:      # full: unlink (pymalloc_pool_extend)
                            nx = pnext[pl]
                            pnext[cl] = nx
                            pprev[nx] = cl
                    else:
                        at = alloc_at[p]
                        pl, ns = new_pool(cl, at)
                        m_at(at)
                        m_ns(ns)
                    opool[p] = pl
                else:
                    at = alloc_at[p]
                    m_at(at)
                    m_ns(alloc_large(p, at))
                if nsl[p]:
                    young += 1                 # _PyObject_GC_Link: a tracked allocation
                    if young > trigger:
                        at = alloc_at[p]
                        if scheduled:
                            # 3.12+: _Py_ScheduleGC; the eval breaker runs the collection
                            # before the next event, after this one's register write: the
                            # decref of what the register held is done now, its entry voided
                            j = next_dec_mv[p]
                            if j >= 0:
                                young = heap.decref(~stream_mv[j], at, young)
                                stream_mv[j] = n_obj    # NOOP
                            if at + 1 < n_ev:
                                young = collect(young, p + 1, at + 1, at, alloc_event_end[p])
                        else:
                            # 3.11: inside the allocation, before the new object is tracked
                            # (PyType_GenericAlloc tracks it after _PyObject_GC_Link returns)
                            # and before the register drops what it held
                            young = collect(young, p, at, at - 1, alloc_pos[p] + 1)
        collector.count[0] = young

        # -- costs the trace fixes, summed with numpy --
        small = heap.size_class >= 0
        rc_ops = ((x >= 0) & ~is_store & ~is_alloc).astype(np.int64) + (is_store & (y >= 0))
        rc_ops += (z >= 0)
        per = rc_ops * c.rc_ns
        per[is_alloc] += c.object_init_ns + np.where(small[x[is_alloc]], c.pymalloc_alloc_ns, 0.0)
        mm = per
        np.add.at(mm, np.asarray(heap.m_at, dtype=np.int64), np.asarray(heap.m_ns))
        death_np = np.asarray(death, dtype=np.int64)
        dead = np.flatnonzero(death_np >= 0)
        death_at = last_dec_np[death_np[dead]]
        gcw = np.zeros(n_ev)
        np.add.at(gcw, death_at, heap.dcost_np[dead])
        np.add.at(gcw, np.asarray(heap.g_at, dtype=np.int64), np.asarray(heap.g_ns))
        out.mm_ns = mm
        out.gc_ns = gcw
        out.reclaimed_ids = dead
        out.reclaimed_at = death_at
        out.allocated_bytes = heap.allocated_bytes()

        st = out.stats
        # the settings the run resolved, as gc.get_threshold() would report them: a twin
        # table compares them with the interpreter's
        st["version"] = prm.version
        st["thresholds"] = [int(t) for t in thresholds]
        st["objects"] = n_obj
        st["containers"] = int(containers.size)
        st["rc_deallocs"] = int(dead.size)
        st["largest_cascade"] = int(np.bincount(death_at).max()) if dead.size else 0
        st["pymalloc_objects"] = int(np.count_nonzero(small))
        st["glibc_objects"] = heap.large_allocs
        st.update(obm.stats())
        st["glibc_brk_grows"] = heap.glibc.brk_grows
        st["glibc_mmaps"] = heap.glibc.mmaps
        st.update(collector.stats())

    def held(self) -> tuple[np.ndarray, np.ndarray]:
        """A final full collection (gc.collect(), not measured) when the collector is on, then
        every object still alive with its block or chunk size."""
        heap = self.heap
        heap.reporting = False
        if self.gc_on:
            self.collector.collect(NUM_GENERATIONS - 1, len(heap.rc) - 1, -1)
        ids = np.flatnonzero(np.asarray(heap.rc[:-1], dtype=np.int64) > 0)
        return ids, heap.bytes_of(ids)
