"""The ``cpython`` model: parameters and the replay loop — refcounting on every event, pymalloc
inline, the cyclic collector when an allocation pushes the young count over its threshold.

The trace is first lowered with numpy to a stream of reference-count operations, in CPython's
order — the new reference is taken before the overwritten one is dropped (trace.py), so
``move 3 3`` changes nothing:

=====================  ===================================  =================================
event                  first entry                          second entry (if the write
                                                            overwrote a reference)
=====================  ===================================  =================================
load rd, rs, k         ``x`` — Py_INCREF the object loaded  ``~z`` — Py_DECREF what rd held
                       (none for a null load)
move rd, rs            ``x`` — Py_INCREF the object copied  ``~z``
store rs, k, rv        ``y`` — Py_INCREF the object stored  ``~z`` — what the slot held
                       (``N`` for a null)
alloc r, size, n       ``N + 1 + x`` — a new object         ``~z`` — what r held
clear r / free r       ``~x`` — Py_DECREF                   —
work ns                ``N`` — nothing                      —
=====================  ===================================  =================================

``N`` objects; ``N`` itself is a no-op, the increment of a spare count. FREE is a
CLEAR (docs/design.md §3): CPython has no ``delete``. ``local`` ALLOCs are plain allocations: CPython
has no escape analysis, every object is on the heap.

Most of those operations cannot free anything: an object dies at its last Py_DECREF from an
event unless a slot's final value still holds it, and then in its holder's cascade
(refcount.py derives both with numpy). So the loop — one function with all state in locals
(docs/simulator-speed.md §6.4) — visits only the allocations and those last Py_DECREFs that may
free, in stream order, and runs pymalloc, the deallocation cascades and the young count there;
a collection first brings the counts and slots to its moment (``Heap.sync``). On binary-trees
that is 2 items per object instead of 7 per object; and a run of allocations of one size class
(consecutive items) takes as many blocks of pymalloc's head pool as fit before the pool fills or
the young count reaches its threshold in one step, with the same result as one at a time.
The last Py_DECREFs between two allocations are one stretch, looped over with no test of the
item's kind; the young count's decrements for the containers they free are applied when the
count is next read (the next allocation), in one step with the same result (``_settle``).

Costs the trace fixes (refcount updates, object creation, each deallocation's fast path) are
summed with numpy after the loop; the loop records only what depends on the allocator's state.
This module computes no metric.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Literal

import numpy as np

from memcompare import Model, Output, Trace, param
from memcompare.trace import ALLOC, CLEAR, FREE, LOAD, MOVE, STORE, WORK

from . import layout
from .costs import Costs
from .gc import NUM_GENERATIONS, SCHEDULED, THRESHOLDS, Collector
from .freethreaded import LOCAL_ALLOC_COUNT_THRESHOLD, FreeThreadedCollector
from .incremental import IncrementalCollector
from .refcount import Heap


#: the versions whose collector is 3.14.0–3.14.4's incremental one
INCREMENTAL = ("3.14.0",)


def _thresholds_check(value) -> str | None:
    if value is not None and len(value) != NUM_GENERATIONS:
        return f"must be {NUM_GENERATIONS} thresholds"
    return None


@dataclass(frozen=True)
class Params:
    """CPython's collector settings (64-bit; the default build or the free-threaded one)."""

    version: Literal["3.11", "3.12", "3.13", "3.14", "3.14.0"] = param(
        "3.13", "CPython version: 3.11 collects inside the allocation that crosses threshold 0; "
                "3.12+ at the next eval-breaker check (the next event); thresholds (700, 10, 10) "
                "up to 3.12, (2000, 10, 10) from 3.13. \"3.14\" is 3.14.5 and later, which went "
                "back to 3.13's generational collector (What's New 3.14); \"3.14.0\" is "
                "3.14.0–3.14.4's incremental collector: every automatic collection is the young "
                "generation plus an increment of the old one, thresholds (2000, 10, 0) "
                "(Python/gc.c gc_collect_increment, incremental.py)")
    gc_enabled: bool = param(
        True, "the cyclic collector (gc.enable()); false is gc.disable(): refcounting alone, "
              "so dead cycles leak")
    thresholds: tuple[int, int, int] | None = param(
        None, "gc.set_threshold(t0, t1, t2); absent = the version's; t0 = 0 disables "
              "collection like gc.set_threshold(0)", minimum=0, check=_thresholds_check)
    build: Literal["default", "free-threaded"] = param(
        "default", "\"free-threaded\" is the 3.13t/3.14t build (Py_GIL_DISABLED): a "
                   "32-byte object header without PyGC_Head (Include/object.h), every object "
                   "in mimalloc's pages and segments instead of pymalloc/glibc "
                   "(mimalloc.py), biased reference counting, and a collector without "
                   "generations that stops the world over every tracked object when the "
                   "young count, flushed per 512 allocations, passes threshold 0 and a "
                   "quarter of the objects that survived the last collection "
                   "(Python/gc_free_threading.c gc_should_collect; freethreaded.py)")

    def __post_init__(self):
        if self.build == "free-threaded" and self.version in ("3.11", "3.12"):
            raise ValueError(f"version {self.version} has no free-threaded build (3.13t is "
                             f"the first)")


def _alloc_runs(items: np.ndarray, size_class: np.ndarray, tracked: np.ndarray) -> np.ndarray:
    """For each object, the allocations from its own on that are consecutive items of the
    loop (``items``: ``p`` an allocation, negative a last Py_DECREF) of one pymalloc size class
    and all tracked or all untracked; the loop takes such a run a pool's worth at a time."""
    at = np.flatnonzero(items >= 0)
    objs = items[at]
    # (narrow types: a key is a class and a flag, a run is at most every object)
    key = size_class.astype(np.int8)[objs] * np.int8(2) + tracked[objs]
    m = objs.size
    left = np.zeros(size_class.size, dtype=np.int32)
    if m:
        # the last allocation of each run: the next item is not an allocation of its kind
        is_last = np.append((at[1:] != at[:-1] + 1) | (key[1:] != key[:-1]), True)
        del key
        last = np.flatnonzero(is_last).astype(np.int32)
        run = np.cumsum(is_last, dtype=np.int32)
        run -= is_last                                  # each allocation's run
        left[objs] = last[run] - np.arange(m, dtype=np.int32) + 1
    return left


def _settle(young: int, k: int, floor: int, wrap: int) -> tuple[int, int]:
    """The young count after ``k`` containers freed, each PyObject_GC_Del's decrement in turn
    (Python/gc.c: "never below 0" — the count stops at ``floor``; the free-threaded collector's
    counter instead wraps by ``wrap - 1`` there, freethreaded.py), and the wraps made: one step
    per stretch of decrements rather than one per container."""
    wraps = 0
    while k:
        if young > floor:
            t = min(k, young - floor)
            young -= t
            k -= t
        elif wrap:
            young += wrap - 1
            wraps += 1
            k -= 1
        else:
            break
    return young, wraps


class CPythonModel(Model):
    """CPython: reference counting, the cycle collector, pymalloc over glibc (or mimalloc).

    After :meth:`run`, ``heap`` (refcount.Heap: counts, slots, pymalloc in ``heap.obm``, glibc
    in ``heap.glibc``) and ``collector`` (gc.Collector) hold the final state, for tests.
    """

    name = "cpython"
    Params = Params
    Costs = Costs
    #: with gc_enabled = false (or threshold 0) dead cycles are never reclaimed — CPython's
    #: own behaviour under gc.disable(); with the collector on, nothing leaks
    can_leak_cycles = True

    def run(self, trace: Trace, out: Output) -> None:
        prm, c = self.params, self.costs
        thresholds = prm.thresholds or THRESHOLDS[prm.version]
        scheduled = SCHEDULED[prm.version]
        t0 = thresholds[0]
        # _PyObject_GC_Link: "gcstate->enabled && gcstate->generations[0].threshold"
        gc_on = prm.gc_enabled and t0 > 0
        self.gc_on = gc_on
        free_threaded = prm.build == "free-threaded"
        heap = Heap(trace, c, out, free_threaded)
        containers = np.flatnonzero(layout.is_container(trace.obj_nslots))
        if free_threaded:
            collector = FreeThreadedCollector(heap, thresholds, c, containers)
        elif prm.version in INCREMENTAL:
            collector = IncrementalCollector(heap, thresholds, c, containers, trace)
        else:
            collector = Collector(heap, thresholds, c, containers)
        self.heap, self.collector = heap, collector
        n_ev = trace.events
        n_obj = trace.objects

        # -- lowering (numpy): the stream of reference-count operations (module docstring) --
        op, x, y, z = trace.op, trace.x, trace.y, trace.z
        is_store = op == STORE
        is_alloc = op == ALLOC
        st_ev = np.flatnonzero(is_store)
        inc_end = n_obj + 1                   # increments: object ids, and NOOP = n_obj
        # int32 entries while the stream's largest (inc_end + the last object) fits
        idt = np.int32 if inc_end + n_obj < 2**31 - 1 else np.int64
        # first = sign[op] * x + offset[op]: x, ~x (-x - 1), inc_end + x, or NOOP
        sign = np.zeros(WORK + 1, dtype=idt)
        offset = np.zeros(WORK + 1, dtype=idt)
        sign[[LOAD, MOVE, ALLOC]] = 1
        sign[[CLEAR, FREE]] = -1
        offset[[CLEAR, FREE]] = -1
        offset[ALLOC] = inc_end
        offset[WORK] = n_obj
        first = sign[op] * x.astype(idt, copy=False)
        first += offset[op]
        store_val_np = y[st_ev].astype(np.int64)
        first[st_ev] = np.where(store_val_np >= 0, store_val_np, n_obj)
        has_first = (op != LOAD) | (x >= 0)   # a null load takes no reference
        has_second = (z >= 0) & (op != CLEAR) & (op != FREE)   # the reference overwritten
        alloc_at_np = trace.obj_alloc_at.astype(np.int64)
        if has_first.all() and not has_second.any():
            stream = first                    # one entry per event (every recorded workload)
            stream_ev = ev2pos = None         # an entry's position is its event's index
            alloc_entry = alloc_at_np
            store_pos = st_ev
        else:
            ev = np.arange(n_ev)
            per_event = has_first.astype(np.int64) + has_second
            start = np.cumsum(per_event) - per_event
            stream = np.empty(int(per_event.sum()), dtype=idt)
            stream_ev = np.empty(stream.size, dtype=np.int64)
            stream[start[has_first]] = first[has_first]
            stream_ev[start[has_first]] = ev[has_first]
            k = start[has_second] + has_first[has_second]
            stream[k] = ~z[has_second]
            stream_ev[k] = ev[has_second]
            alloc_entry = start[is_alloc]
            store_pos = start[st_ev]
            ev2pos = start
            del first, per_event, ev
        del has_first, has_second
        # Reference lifetimes (refcount.py): the loop visits each allocation and each object's
        # last Py_DECREF from an event, in stream order; a cascade happens at the last Py_DECREF
        # of the object that started it (it is dead after that)
        store_slot_np = heap.sbase_np[x[st_ev]] + trace.b[st_ev]
        free_at = trace.obj_free_at
        free_pos = np.where(free_at >= 0, ev2pos[np.maximum(free_at, 0)] if ev2pos is not None
                            else free_at, -1)
        last_pos, cand = heap.lower(stream, inc_end, store_pos, store_slot_np, store_val_np,
                                    x[st_ev].astype(np.int64), free_pos)
        del store_slot_np, store_val_np, free_pos, store_pos, st_ev
        if stream_ev is None:
            last_dec_np = last_pos
        else:
            last_dec_np = np.full(last_pos.size, -1, dtype=np.int64)
            some = last_pos >= 0
            last_dec_np[some] = stream_ev[last_pos[some]]
            del some
        visit = stream >= inc_end                           # allocations
        visit[last_pos[cand]] = True                        # last Py_DECREFs that may free
        items = stream[visit]                               # ~o: o's last Py_DECREF
        del visit
        items[items >= inc_end] -= inc_end                  # p: allocation of p
        run_left = memoryview(_alloc_runs(items, heap.size_class, heap.nsl_np > 0))
        allocs = np.flatnonzero(items >= 0)
        # the loop's items the other way round: o for o's last Py_DECREF (most items: no ~ to
        # undo in the death path), ~p for the allocation of p
        np.invert(items, out=items)
        # Static tables are read through memoryviews of the numpy arrays: iterating or indexing
        # one makes each int when it is read, cheaper than a .tolist() of them all
        alloc_at = memoryview(alloc_at_np)
        alloc_pos = memoryview(alloc_entry.astype(np.int64))
        #: for 3.12+'s scheduling: the entry after each ALLOC's, when it is that event's decref
        next_dec = np.full(n_obj, -1, dtype=np.int64)
        alloc_item = None
        if stream_ev is not None:
            after = alloc_entry + 1
            own = after < stream.size
            own[own] = stream_ev[after[own]] == stream_ev[alloc_entry[own]]
            next_dec[stream[alloc_entry[own]] - inc_end] = after[own]
            #: the item after each allocation's (a 3.12+ collection with such a decref reads it)
            alloc_item = memoryview(allocs)
        del allocs
        last_dec = memoryview(last_dec_np)
        next_dec_mv = memoryview(next_dec)
        items_mv = memoryview(items)          # writable: the loop may void an item
        # stretches of items of one kind (deaths are o >= 0), their bounds as one int64 array (8 bytes a stretch: message-buffer alternates
        # one allocation and one death, and a list of (start, end, kind) tuples held about 150
        # bytes a stretch, 3 GB at 10^8 events); kinds alternate from the first item's
        kind = items >= 0
        cuts = np.flatnonzero(kind[1:] != kind[:-1]) + 1
        bounds = np.concatenate((np.zeros(1, np.int64), cuts,
                                 np.full(min(items.size, 1), items.size, np.int64)))
        first_deaths = bool(kind[0]) if items.size else False
        del kind, cuts
        void = n_obj                          # fin[n_obj] > 0: a voided item frees nothing

        def collect(young: int, tracked_freed: int, end: int, pause_at: int,
                    state_at: int, pos: int) -> int:
            """_Py_RunGC / gc_collect_generations: select a generation and collect it, as a
            pause before event ``pause_at``; the heap it sees is the one after ``state_at``
            (stream position ``pos``: every entry before it applied)."""
            heap.tracked_freed_loop = tracked_freed
            heap.young_wraps_loop = wraps
            heap.sync(pos)
            kind, ns, freed = collector.automatic(young, end, pause_at)
            if kind is not None:
                out.pause(pause_at, ns, kind)
                out.collection(kind, state_at, freed)
            return collector.count[0]

        # -- the loop: state in locals --
        fin, fslots, dl, dead, death = heap.fin, heap.fslots, heap.dl, heap.dead, heap.death
        ocls, opool, nsl, fsb = heap.ocls, heap.pool, heap.nsl, heap.fsb
        obm = heap.obm
        pnext, pprev, pcount, pcap, pcls = obm.pnext, obm.pprev, obm.pcount, obm.pcap, obm.pcls
        new_pool = obm.allocate_from_new_pool
        free_pool = obm.insert_to_freepool
        to_usedpool = obm.insert_to_usedpool      # a full pool's first free (rare: no inlining)
        alloc_large = heap.alloc_large
        free_mem = heap.free_mem
        m_at, m_ns = heap.m_at.append, heap.m_ns.append
        g_at, g_ns = heap.g_at.append, heap.g_ns.append
        work: list[int] = []
        # the young count above which a collection starts (free-threaded: the counter is
        # alloc_count + 512, and the +512 flush comes when it passes 1023)
        if free_threaded:
            trigger = (2 * LOCAL_ALLOC_COUNT_THRESHOLD - 1 if gc_on
                       else n_obj + 2 * LOCAL_ALLOC_COUNT_THRESHOLD)
        else:
            trigger = t0 if gc_on else n_obj
        young = collector.count[0]             # generations[0].count
        # PyObject_GC_Del: "never below 0" (floor 0, no wrap); free-threaded: the -512 flush
        floor, wrap = heap.young_floor, heap.young_wrap
        wraps = 0
        tracked_freed = 0                      # containers the loop's cascades freed
        # PyObject_GC_Del's decrement of the young count for each container freed is applied
        # when the count is next read (an allocation, the end): `settled` is tracked_freed as
        # of then (_settle: the same count as one decrement at a time)
        settled = 0
        # the items in stretches of one kind: a stretch of last Py_DECREFs is its own loop,
        # with no test of the kind per item (a voided item stays one: void >= 0)
        deaths = not first_deaths
        bmv = memoryview(bounds)
        for a, e in zip(bmv[:-1], bmv[1:]):
            deaths = not deaths
            if deaths:
                for d in items_mv[a:e]:    # an object's last Py_DECREF from an event
                    if fin[d]:
                        continue                   # a live object's slot still holds it
                    # a deallocation cascade: one stall at this event, however deep. d is its
                    # root, marked 2 in dead (its death entry is filled in after the loop); the
                    # others come from the worklist below, each with the same steps
                    dead[d] = 2
                    # pymalloc_free's fast path: a pool neither full before nor empty after
                    # (pool 0, a usedpools head whose count and capacity stay 0, stands for no
                    # pool: the object's memory is glibc's, or mimalloc's: the other branch)
                    pl = opool[d]
                    n = pcount[pl]
                    if n == pcap[pl] or n == 1:
                        if not pl:
                            at = last_dec[d]
                            g_at(at)
                            g_ns(free_mem(d, at))
                        else:
                            if n == pcap[pl]:      # was full: to the front of usedpools[class]
                                to_usedpool(pl, pcls[pl])
                            pcount[pl] = n - 1
                            if n == 1:
                                at = last_dec[d]
                                g_at(at)
                                g_ns(free_pool(pl, at))
                    else:
                        pcount[pl] = n - 1
                    # a dead object's slots hold their final values; each drops a reference, the
                    # last one if no event's Py_DECREF is still to come (a null slot: the spare's)
                    b = fsb[d]
                    if b >= 0:                     # none can be the last (refcount.py, fsb)
                        tracked_freed += 1         # PyObject_GC_Del: heap_size -= 1, young -= 1
                        if nsl[d] == 2:            # (a pair: no slice made)
                            fin[fslots[b]] -= 1
                            fin[fslots[b + 1]] -= 1
                        else:
                            for v in fslots[b:b + nsl[d]]:
                                fin[v] -= 1
                        continue
                    if b == -1:                    # a container whose slots hold no reference
                        tracked_freed += 1
                        continue
                    if b == -2:                    # not a container
                        continue
                    tracked_freed += 1
                    b = -3 - b
                    root = d
                    lim = dl[d]
                    for v in fslots[b:b + nsl[d]]:
                        if v >= 0:
                            r = fin[v] - 1
                            fin[v] = r
                            if not r and dl[v] < lim:
                                work.append(v)
                    while work:
                        d = work.pop()
                        death[d] = root
                        dead[d] = 1
                        pl = opool[d]
                        if pl:
                            n = pcount[pl]
                            if n == pcap[pl]:
                                to_usedpool(pl, pcls[pl])
                            pcount[pl] = n - 1
                            if n == 1:
                                at = last_dec[root]
                                g_at(at)
                                g_ns(free_pool(pl, at))
                        else:
                            at = last_dec[root]
                            g_at(at)
                            g_ns(free_mem(d, at))
                        b = fsb[d]
                        if b != -2:
                            tracked_freed += 1
                            if b != -1:
                                if b < 0:
                                    b = -3 - b
                                for v in fslots[b:b + nsl[d]]:
                                    if v >= 0:
                                        r = fin[v] - 1
                                        fin[v] = r
                                        if not r and dl[v] < lim:
                                            work.append(v)
                continue
            it = iter(items_mv[a:e])
            for d in it:                   # alloc: a new object with one reference
                p = ~d
                if tracked_freed != settled:   # the young count, as of now
                    young, k = _settle(young, tracked_freed - settled, floor, wrap)
                    wraps += k
                    settled = tracked_freed
                cl = ocls[p]
                if cl >= 0:
                    # pymalloc_alloc's fast path: the head pool of usedpools[cl]
                    pl = pnext[cl]
                    if pl != cl:
                        k = run_left[p]
                        if k > 2:
                            # a run of allocations of one class: as many as the head pool
                            # has room for and the young count allows without a collection
                            # take its blocks in one step, as they would one at a time
                            n = pcap[pl] - pcount[pl]
                            if n < k:
                                k = n
                            tracked = nsl[p]
                            if tracked and trigger - young < k:
                                k = trigger - young
                            if k > 1:
                                opool[p:p + k] = [pl] * k
                                n = pcount[pl] + k
                                pcount[pl] = n
                                if n == pcap[pl]:      # full: unlink (pymalloc_pool_extend)
                                    nx = pnext[pl]
                                    pnext[cl] = nx
                                    pprev[nx] = cl
                                if tracked:
                                    young += k         # _PyObject_GC_Link, k times
                                next(islice(it, k - 2, None))   # the run's other items
                                continue
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
                        pos = alloc_pos[p] + 1
                        if scheduled:
                            # 3.12+: _Py_ScheduleGC; the eval breaker runs the collection
                            # before the next event, after this one's register write: the
                            # decref of what the register held is done now, its item voided
                            j = next_dec_mv[p]
                            if j >= 0:
                                pos = j + 1
                                v = ~int(stream[j])   # (a decrement: as it was)
                                if dl[v] == j:     # its last: done now, its item voided
                                    k = alloc_item[p] + 1
                                    if k < len(items_mv) and items_mv[k] == v:
                                        items_mv[k] = void
                                    young = heap.last_decref(v, j, at, young)
                            if at + 1 < n_ev:
                                young = collect(young, tracked_freed, p + 1, at + 1, at, pos)
                        else:
                            # 3.11: inside the allocation, before the new object is tracked
                            # (PyType_GenericAlloc tracks it after _PyObject_GC_Link returns)
                            # and before the register drops what it held
                            young = collect(young, tracked_freed, p, at, at - 1, pos)
        young, k = _settle(young, tracked_freed - settled, floor, wrap)
        wraps += k
        collector.count[0] = young
        # the loop's cascade roots: each is its own cascade's root
        roots_np = np.flatnonzero(heap.dead_np == 2)
        heap.death_np[roots_np] = roots_np
        heap.dead_np[roots_np] = 1
        del roots_np
        if gc_on:
            heap.sync(stream.size)             # the heap after the last event, for held()
        heap.lowered_done()
        del stream, items, items_mv, run_left, bmv, bounds

        # -- costs the trace fixes, summed with numpy --
        small = heap.size_class >= 0
        rc_ops = ((x >= 0) & ~is_store & ~is_alloc).view(np.int8) + (is_store & (y >= 0))
        rc_ops += (z >= 0)
        per = rc_ops * float(c.rc_biased_ns if free_threaded else c.rc_ns)
        # (allocations are in object order)
        per[alloc_at_np] += c.object_init_ns + np.where(small, c.pymalloc_alloc_ns, 0.0)
        mm = per
        np.add.at(mm, np.asarray(heap.m_at, dtype=np.int64), np.asarray(heap.m_ns))
        death_np = heap.death_np
        dead = np.flatnonzero(death_np >= 0)
        roots = death_np[dead]
        death_at = last_dec_np[roots]
        # (bincount adds the weights in order, as np.add.at would into zeros)
        gcw = (np.bincount(death_at, weights=heap.dcost_np[dead], minlength=n_ev) if dead.size
               else np.zeros(n_ev))
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
        # a cascade's root and its event are one to one (an event drops one reference at most)
        st["largest_cascade"] = int(np.bincount(roots).max()) if dead.size else 0
        st["pymalloc_objects"] = int(np.count_nonzero(small))
        st["glibc_objects"] = heap.large_allocs
        st.update(heap.mi.stats() if free_threaded else obm.stats())
        st["glibc_brk_grows"] = heap.glibc.brk_grows
        st["glibc_mmaps"] = heap.glibc.mmaps
        st.update(collector.stats())

    def held(self) -> tuple[np.ndarray, np.ndarray]:
        """A final full collection (gc.collect(), not measured) when the collector is on, then
        every object still alive with its block or chunk size. The replay is over after it:
        the per-object tables go, so that the engine's measurement has their memory."""
        heap = self.heap
        heap.reporting = False
        if self.gc_on:
            self.collector.full(len(heap.nsl), -1)
        ids = np.flatnonzero(heap.dead_np[:-1] == 0)
        nbytes = heap.bytes_of(ids)
        heap.drop_tables()
        self.collector = None
        return ids, nbytes
