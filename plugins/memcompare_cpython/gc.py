"""CPython's generational cyclic collector (default build): when it runs, what it examines,
what it frees.

Sources: Modules/gcmodule.c (3.11, 3.12) and Python/gc.c (3.13; 3.14.5+ restores this code
after 3.14.0–3.14.4's incremental collector), InternalDocs/garbage_collector.md, and
docs/runtimes.md §3.2–3.3. The rules, each where it is coded below:

- three generations; ``count[0]`` rises on every tracked allocation (``_PyObject_GC_Link``) and
  falls, never below 0, on every tracked deallocation (``PyObject_GC_Del``);
- when ``count[0] > threshold[0]`` an allocation starts a collection — inside the allocation in
  3.11 (``_PyObject_GC_Link`` calls ``gc_collect_generations``), at the next eval-breaker check
  from 3.12 on (``_Py_ScheduleGC`` sets ``_PY_GC_SCHEDULED_BIT``; ``_Py_RunGC`` collects);
  the model's loop decides that timing, this module the rest;
- the collection takes the oldest generation whose count exceeds its threshold — the oldest only
  when, besides that, ``long_lived_pending >= long_lived_total / 4`` (3.11/3.12
  ``gc_collect_generations``, 3.13 ``gc_select_generation``);
- ``gc_collect_main``: ``count[g+1] += 1``, counts of generations ``0..g`` reset to 0, younger
  generations merged into ``g``; ``deduce_unreachable``: gc_refs = refcount (``update_refs``),
  minus references from within the examined set (``subtract_refs``); objects with gc_refs > 0
  and everything reachable from them are reachable (``move_unreachable``); survivors move up one
  generation (the oldest stays), ``long_lived_pending`` grows by generation 1's survivors and a
  full collection resets it and sets ``long_lived_total``; the rest is freed
  (``delete_garbage``: ``tp_clear`` drops the references, and refcounting frees the objects —
  and whatever only they referred to, tracked or not).

Generations are kept as id ranges and arrays, not linked lists: object ids are dense in
allocation order and everything a collection examines moves up together, so generation 0 is
"containers allocated since the last collection" (an id range) and generations 1 and 2 are the
sorted ids promoted into them, filtered for the dead when next examined. ``deduce_unreachable``
runs on numpy arrays: the examined set's slots are gathered once, the references inside the set
subtracted with a bincount, and the walk from the externally referenced objects goes a frontier
at a time, one object at a time once the frontier is small (chains). Weak references,
finalizers (PEP 442, legacy ``tp_del``), resurrection, tuple/dict untracking, ``gc.freeze`` and
the permanent generation do not arise: trace objects have none of them.

This module decides and performs collections; it prices them with the model's cost table and
computes no metric.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .refcount import Heap

NUM_GENERATIONS = 3


@dataclass(frozen=True)
class VersionRules:
    """What differs between the modelled versions' collectors (default build, 64-bit)."""

    #: gc.get_threshold() at start-up
    thresholds: tuple[int, int, int]
    #: True: an allocation over threshold 0 schedules the collection for the eval breaker,
    #: which runs it at the interpreter's next check; False: it collects inside the allocation
    scheduled: bool
    #: where the rules are, function by function
    source: str


#: Everything else is one rule set in all four: ``count[0]`` += 1 in ``_PyObject_GC_Link`` for
#: every tracked allocation, -= 1 (never below 0) in ``PyObject_GC_Del`` for every tracked
#: deallocation; the generation chosen by ``gc_collect_generations`` (3.11/3.12) or
#: ``gc_select_generation`` (3.13) — the oldest whose count exceeds its threshold, the oldest only
#: once ``long_lived_pending >= long_lived_total / 4``; ``gc_collect_main`` resets the counts it
#: collected and adds 1 to the next generation's. Checked against the interpreters with the
#: cpython-native twin: on configs/native.toml's seven workloads the collections per generation
#: are equal on 3.11.7, 3.12.1 and 3.13.0.
#:
#: Nothing in 3.13's gc.c scales or gates the young collection: its ``generations[0].count``,
#: threshold and 25 % rule are 3.12's. A program of lists collects less often on 3.13 than this
#: model says (60 trees of 2,047 lists built and dropped one by one: 1 collection on 3.13.0,
#: 60 here; 121 on 3.11/3.12, as here) because of the lists, not the collector: ``PyList_New``
#: takes a list from the free list of 80 without ``_PyObject_GC_Link`` and ``list_dealloc`` puts
#: it back without ``PyObject_GC_Del`` (Objects/listobject.c), so such a tree moves the count by
#: 2047 - 80 = 1967, under 3.13's 2000 and over 3.12's 700. A trace object is an instance of a
#: ``__slots__`` class, which has no free list.
RULES = {
    "3.11": VersionRules(
        (700, 10, 10), False,
        "Modules/gcmodule.c (v3.11.7): _PyObject_GC_Link calls gc_collect_generations when "
        "count[0] > threshold[0] (before the new object is tracked); PyObject_GC_Del; "
        "gc_collect_generations; gc_collect_main. Thresholds: _PyGC_InitState"),
    "3.12": VersionRules(
        (700, 10, 10), True,
        "Modules/gcmodule.c (v3.12.1): _PyObject_GC_Link calls _Py_ScheduleGC (gh-97922) and "
        "_Py_RunGC runs gc_collect_generations at the eval breaker; PyObject_GC_Del; "
        "gc_collect_main. Thresholds: Include/internal/pycore_runtime_init.h"),
    "3.13": VersionRules(
        (2000, 10, 10), True,
        "Python/gc.c (v3.13.0, the generational collector; the incremental one was reverted "
        "before 3.13.0): _PyObject_GC_Link → _Py_ScheduleGC; _Py_RunGC → gc_collect_main("
        "GENERATION_AUTO) → gc_select_generation; PyObject_GC_Del. Thresholds: "
        "Include/internal/pycore_runtime_init.h"),
    "3.14": VersionRules(
        (2000, 10, 10), True,
        "3.14.5+: 3.13's Python/gc.c restored (What's New 3.14, \"From Python 3.14.5 "
        "onwards\"; python/cpython PR #148720), docs/runtimes.md §3.3. 3.14.0-3.14.4's "
        "incremental collector is version \"3.14.0\""),
    "3.14.0": VersionRules(
        (2000, 10, 0), True,
        "3.14.0-3.14.4: the incremental collector (incremental.py): Python/gc.c "
        "_PyObject_GC_Link → _Py_ScheduleGC; _Py_RunGC → _PyGC_Collect(1) → "
        "gc_collect_increment (assess_work_to_do, mark_at_start, mark_stacks, "
        "expand_region_transitively_reachable, gc_collect_region, completed_scavenge); "
        "PyObject_GC_Del. Thresholds: Include/internal/pycore_runtime_init.h (young 2000, "
        "old 10 and 0)"),
}
#: gc.get_threshold() of each version (docs/runtimes.md §3.3)
THRESHOLDS = {v: r.thresholds for v, r in RULES.items()}
#: 3.12 made the collection a scheduled eval-breaker event (gh-97922): it runs at the
#: interpreter's next check, not inside the allocation that crossed the threshold
SCHEDULED = {v: r.scheduled for v, r in RULES.items()}
#: collection kinds as memcompare reports them, by generation collected
KINDS = ("gen0", "gen1", "gen2")


class Collector:
    """The three generations, their counters, and ``gc_collect_main``."""

    #: below this many objects on the frontier, move_unreachable's walk continues one object at
    #: a time (a numpy level costs ~10 µs however small: a 2000-node chain would take 2000)
    SMALL_FRONTIER = 32
    #: a small frontier first goes on by sweeps over every inner edge at once (a sweep costs
    #: a few ns per edge, the walk ~0.3 µs per object): the first SWEEPS always, later ones
    #: while a sweep reaches at least one object per SWEEP_YIELD edges
    SWEEPS = 8
    SWEEP_YIELD = 64

    def __init__(self, heap: Heap, thresholds: tuple[int, int, int], costs,
                 containers: np.ndarray):
        self.heap = heap
        self.c = costs
        self.threshold = tuple(thresholds)
        #: generations[i].count
        self.count = [0, 0, 0]
        #: containers in generation 0 are those allocated at or after this id (and not dead)
        self.young_start = 0
        #: ids promoted into generations 1 and 2, ascending; may hold since-freed ids. Every
        #: generation-2 id is below every generation-1 id, which are below generation 0's
        self.gen1 = np.zeros(0, dtype=np.int64)
        self.gen2 = np.zeros(0, dtype=np.int64)
        self.long_lived_pending = 0
        self.long_lived_total = 0
        self._containers = containers          # ids of every container, ascending
        self._nslots = np.asarray(heap.nsl_np)
        # -- counters (stats) --
        self.examined = 0
        self.collected = 0                     # unreachable objects freed
        self.cascaded = 0                      # objects only the unreachable ones referred to
        self.full_deferred = 0                 # full collections the 25 % rule put off

    def select(self) -> int:
        """The generation to collect, or -1 (gc_select_generation, 3.13; the loop of
        gc_collect_generations, 3.11/3.12): the oldest whose count exceeds its threshold; the
        oldest only if long_lived_pending is at least 25 % of long_lived_total (the
        "amortized linear performance" heuristic, issue #4074)."""
        count, threshold = self.count, self.threshold
        for g in range(NUM_GENERATIONS - 1, -1, -1):
            if count[g] > threshold[g]:
                if (g == NUM_GENERATIONS - 1
                        and self.long_lived_pending < self.long_lived_total // 4):
                    self.full_deferred += 1
                    continue
                return g
        return -1

    def members(self, generation: int, end: int) -> np.ndarray:
        """The live containers of generations 0..``generation``, ascending (containers with ids
        below ``end`` are the allocated and tracked ones)."""
        cont = self._containers
        lo, hi = np.searchsorted(cont, (self.young_start, end))
        parts = [cont[lo:hi]]
        if generation >= 1:
            parts.insert(0, self.gen1)
        if generation >= 2:
            parts.insert(0, self.gen2)
        ids = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return ids[self.heap.dead_np[ids] == 0]

    def deduce_unreachable(self, young: np.ndarray) -> np.ndarray:
        """update_refs, subtract_refs and move_unreachable over the sorted ids ``young``:
        a boolean mask of the reachable ones."""
        heap = self.heap
        m = young.size
        refs = heap.refcounts(young)                        # update_refs: gc_refs = refcount
        # every slot of every member, and which member holds it
        ns = self._nslots[young]
        total = int(ns.sum())
        first = np.cumsum(ns) - ns
        src = np.repeat(np.arange(m), ns)
        idx = np.repeat(heap.sbase_np[young] - first, ns) + np.arange(total)
        vals = heap.slots_np[idx]
        # references from within the examined set (visit_decref: gc_is_collecting only)
        pos = np.minimum(np.searchsorted(young, vals), max(m - 1, 0))
        inner = (vals >= 0) & (young[pos] == vals) if m else np.zeros(0, dtype=bool)
        dst, src = pos[inner], src[inner]
        refs -= np.bincount(dst, minlength=m)               # subtract_refs
        # move_unreachable: what has references from outside is reachable, and so is
        # everything reachable from it (visit_reachable)
        reached = refs > 0
        indptr = np.searchsorted(src, np.arange(m + 1))     # inner edges are grouped by src
        frontier = np.flatnonzero(reached)
        # the frontier: the reached objects whose references are not yet followed
        sweeps = 0
        while frontier.size:
            if frontier.size >= self.SMALL_FRONTIER:
                starts = indptr[frontier]
                cnt = indptr[frontier + 1] - starts
                k = int(cnt.sum())
                kids = dst[np.repeat(starts - (np.cumsum(cnt) - cnt), cnt) + np.arange(k)]
                kids = np.sort(kids[~reached[kids]])       # once each (np.unique: 3x)
                kids = kids[np.append(True, kids[1:] != kids[:-1])] if kids.size else kids
            elif sweeps < self.SWEEPS or frontier.size * self.SWEEP_YIELD >= dst.size:
                # every edge from a reached object: those reached before the frontier have
                # nothing left to reach, so this is the frontier's next level (an object
                # twice in it is harmless)
                kids = dst[reached[src] & ~reached[dst]]
                sweeps += 1
            else:
                break
            reached[kids] = True
            frontier = kids
        if frontier.size:
            mark = reached.tolist()
            ptr = indptr.tolist()
            out = dst.tolist()
            stack = frontier.tolist()
            while stack:
                a = stack.pop()
                for b in out[ptr[a]:ptr[a + 1]]:
                    if not mark[b]:
                        mark[b] = True
                        stack.append(b)
            reached = np.array(mark, dtype=bool)
        return reached

    def collect(self, generation: int, end: int, at: int) -> tuple[float, list[int]]:
        """gc_collect_main(generation): examine generations 0..``generation`` (containers with
        ids below ``end`` are tracked), promote the survivors, free the unreachable. Memory is
        freed at event ``at``. Returns the pause in ns and the ids freed."""
        count = self.count
        # "update collection and allocation counters"
        if generation + 1 < NUM_GENERATIONS:
            count[generation + 1] += 1
        for g in range(generation + 1):
            count[g] = 0
        # "merge younger generations with one we are currently collecting"
        young = self.members(generation, end)
        self.young_start = end
        if generation >= 1:
            self.gen1 = np.zeros(0, dtype=np.int64)
        reached = self.deduce_unreachable(young)
        reachable = young[reached]

        # "Move reachable objects to next generation."
        if generation == 0:
            self.gen1 = np.concatenate((self.gen1, reachable))
        elif generation == 1:
            self.long_lived_pending += reachable.size
            self.gen2 = np.concatenate((self.gen2, reachable))
        else:
            self.gen2 = reachable
            self.long_lived_pending = 0
            self.long_lived_total = reachable.size
        ns, freed = self.delete_garbage(young[~reached].tolist(), at,
                                        self.c.gc_fixed_ns + self.c.gc_scan_ns * int(reachable.size))
        self.examined += int(young.size)
        return ns, freed

    def delete_garbage(self, unreachable: list[int], at: int,
                       ns: float) -> tuple[float, list[int]]:
        """delete_garbage: tp_clear drops every reference the unreachable objects hold; they
        die together at event ``at``, and so does whatever only they referred to. Returns
        ``ns`` plus the cost (garbage, cascade deallocations, memory released) and the ids
        freed."""
        c = self.c
        heap = self.heap
        dead, fin, dl, fslots, sbase, nsl = (heap.dead, heap.fin, heap.dl, heap.fslots,
                                             heap.sbase, heap.nsl)
        pos = heap.now
        freed = list(unreachable)
        for o in unreachable:
            dead[o] = 1
        heap.tracked_freed += len(unreachable)    # every object a collection examines is one
        extra = 0.0
        work: list[int] = []
        for o in unreachable:
            extra += heap.free_mem(o, at)
            b = sbase[o]
            # nothing can reach an unreachable object to change its slots: they are final
            for v in fslots[b:b + nsl[o]]:
                if v >= 0 and not dead[v]:
                    f = fin[v] - 1
                    fin[v] = f
                    if not f and dl[v] < pos:
                        work.append(v)
        cascade: list[int] = []
        # the young count was reset when the collection began, so PyObject_GC_Del's
        # decrements leave it at 0 (the free-threaded collector counts them itself: the
        # counter passed is one release() decrements without reaching a floor)
        _, extra2 = heap.release(work, at, cascade, 1 << 62)
        freed += cascade
        # summed one at a time in cascade order, as Python floats
        ns = (ns + c.gc_garbage_ns * len(unreachable)
              + sum(heap.dcost_np[np.asarray(cascade, dtype=np.int64)].tolist())
              + extra + extra2)
        self.collected += len(unreachable)
        self.cascaded += len(cascade)
        return ns, freed

    def automatic(self, young: int, end: int, at: int) -> tuple[str | None, float, list[int]]:
        """_Py_RunGC (3.12+) or gc_collect_generations (3.11) with ``young`` as the young
        count: select a generation and collect it. Returns the collection's kind (None: none
        was due), its cost, and the ids freed; ``count[0]`` is the young count after."""
        self.count[0] = young
        g = self.select()
        if g < 0:
            return None, 0.0, []               # gc_collect_main: "generation < 0": nothing
        ns, freed = self.collect(g, end, at)
        return KINDS[g], ns, freed

    def full(self, end: int, at: int) -> None:
        """gc.collect(): every generation (the final collection, not measured)."""
        self.collect(NUM_GENERATIONS - 1, end, at)

    def stats(self) -> dict[str, int]:
        return {"gc_examined": self.examined, "gc_collected": self.collected,
                "gc_cascaded": self.cascaded, "gc_full_deferred": self.full_deferred,
                "gc_long_lived_total": self.long_lived_total}
