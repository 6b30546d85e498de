"""CPython 3.14.0–3.14.4's incremental cyclic collector (default build): two generations, young
and old, the old one split in a *visited* and a *pending* space and collected a piece at a time.

Source: Python/gc.c of the 3.14 branch before 3.14.5 restored 3.13's collector (the file whose
``assess_work_to_do`` caps the heap fraction at ``new_objects*3/2``; Nuitka's gc code guards the
same state with ``PYTHON_VERSION >= 0x3e0 && < 0x3e5``). The rules, each where it is coded below:

- ``young.count`` rises on every tracked allocation (``_PyObject_GC_Link``) and falls, never
  below 0, on every deallocation of a container (``PyObject_GC_Del``), which also keeps
  ``heap_size`` (the tracked objects alive); over ``young.threshold`` (2000) an allocation calls
  ``_Py_ScheduleGC`` and the eval breaker's ``_Py_RunGC`` calls ``_PyGC_Collect(1)``, i.e.
  ``gc_collect_increment`` — every automatic collection is one (the model's loop decides that
  timing, as for 3.12+; this module the rest);
- ``assess_work_to_do``: ``work_to_do += young.count + min(heap_size / 10 / scale,
  young.count * 3 / 2)`` with ``scale = max(old[0].threshold, 2)`` (threshold 10), then
  ``young.count = 0``;
- in the MARK phase (the first call of each cycle) ``mark_at_start`` moves everything reachable
  from the roots (``mark_global_roots``, ``mark_stacks(start=true)``) into the visited space and
  collects nothing; ``work_to_do`` loses the objects marked twice (in ``mark_at_start`` and in
  its caller, as the source does); the phase becomes COLLECT;
- in the COLLECT phase: ``mark_stacks(start=false)`` marks what the stacks reach that is not
  visited yet; the young generation becomes the increment; while the increment is smaller than
  ``work_to_do`` the head of the pending space joins it with everything pending it reaches
  (``expand_region_transitively_reachable``); ``gc_collect_region`` frees what is unreachable
  from outside the increment (``deduce_unreachable``, as in the generational collector) and
  moves the survivors to the end of the visited space; ``work_to_do += heap_size / 10 / scale -
  increment_size``; once the pending space is empty, ``completed_scavenge``: the visited space
  becomes the pending one, ``work_to_do = 0``, phase MARK.

A trace's roots are its registers — the program's local and global variables — so
``mark_at_start`` marks every container reachable from them, and each increment's
``mark_stacks`` those reachable from the registers that are not visited yet (young objects a
register holds, and what they reach). The ``cpython-native`` twin keeps its registers in a list
that ``gc.freeze()`` puts in the permanent generation, whose members are always "visited", so on
a 3.14.0–3.14.4 interpreter the twin's marking reaches less than this model's: the two would
differ by design, not by error, for this version.

Simplified: ``move_unreachable`` reorders objects that are reachable only from objects after
them in the list; here the survivors keep the increment's order (the young generation by
allocation, then each pending object taken and what it brought). Tuples' untracking, weak
references, finalizers and the permanent generation do not arise for trace objects.

This module decides and performs collections; it prices them with the model's cost table and
computes no metric.
"""
from __future__ import annotations

import numpy as np

from memcompare import Trace
from memcompare.trace import CLEAR, FREE, STORE, WORK

from .gc import Collector
from .refcount import Heap

#: gc.c: "Divide by 10, so that the default incremental threshold of 10 scans objects at 1% of
#: the heap size"
SCAN_RATE_DIVISOR = 10
#: where an object is: the young generation, or one of the old generation's two spaces
YOUNG, VISITED, PENDING = 0, 1, 2


class IncrementalCollector(Collector):
    """The young generation, the old generation's two spaces, and ``gc_collect_increment``."""

    def __init__(self, heap: Heap, thresholds: tuple[int, int, int], costs,
                 containers: np.ndarray, trace: Trace):
        super().__init__(heap, thresholds, costs, containers)
        n = len(heap.nsl)
        # per-object flags are bytearrays (fast to index one at a time in the marking loops)
        # with numpy views over the same memory (for the vectorised steps)
        self._space = bytearray(n)
        self._young_marked = bytearray(n)
        self._cont = bytearray(n)
        #: YOUNG, VISITED or PENDING for every container (meaningless for the others)
        self.space = np.frombuffer(self._space, dtype=np.int8)
        #: young objects that marking moved to the visited space before their increment
        self.young_marked = np.frombuffer(self._young_marked, dtype=np.int8)
        #: the old generation's spaces, in list order; ``pending`` from ``pending_head`` on,
        #: skipping objects that died or left it since
        self.visited: list[np.ndarray] = []
        self.pending = np.zeros(0, dtype=np.int64)
        self._pending: list[int] = []
        self.pending_head = 0
        # the state gc.collect() leaves (gc_collect_full → completed_scavenge: work_to_do 0,
        # phase MARK), as the twin starts each replay; a fresh interpreter starts at -5000
        # (Include/internal/pycore_runtime_init.h)
        self.work_to_do = 0
        self.marking = True                    # gcstate->phase == GC_PHASE_MARK
        self.scale = max(self.threshold[1], 2)   # old[0].threshold, at least 2
        np.frombuffer(self._cont, dtype=np.int8)[containers] = 1
        # the registers at any event: each register's writes in event order
        w = np.flatnonzero((trace.op != STORE) & (trace.op != WORK))
        reg = trace.a[w].astype(np.int64)
        order = np.argsort(reg, kind="stable")
        self._span = np.int64(trace.events + 1)
        self._wkey = reg[order] * self._span + w[order]
        held = np.where((trace.op[w] == CLEAR) | (trace.op[w] == FREE), -1,
                        trace.x[w].astype(np.int64))
        self._wval = held[order]
        self._nregs = int(trace.registers)
        # -- counters (stats) --
        self.increments = 0
        self.marks = 0
        self.marked = 0
        self.scavenges = 0

    # -- roots ----------------------------------------------------------------------------------
    def registers_after(self, at: int) -> np.ndarray:
        """The objects the registers hold after event ``at`` (each register's last write)."""
        if self._nregs == 0 or self._wkey.size == 0:
            return np.zeros(0, dtype=np.int64)
        regs = np.arange(self._nregs, dtype=np.int64)
        k = np.searchsorted(self._wkey, regs * self._span + at, side="right") - 1
        kk = np.maximum(k, 0)
        ok = (k >= 0) & (self._wkey[kk] // self._span == regs)
        vals = self._wval[kk[ok]]
        return vals[vals >= 0]

    def _mark(self, roots: np.ndarray, end: int) -> int:
        """mark_stacks / mark_all_reachable: move every tracked container reachable from
        ``roots`` that is not in the visited space there (``move_to_reachable``,
        ``visit_add_to_container``); returns how many were moved."""
        heap = self.heap
        slots, sbase, nsl, dead = heap.slots_np, heap.sbase, heap.nsl, heap.dead
        space, cont, young_marked = self._space, self._cont, self._young_marked
        moved: list[int] = []
        stack = [o for o in roots.tolist() if o < end and cont[o] and space[o] != VISITED]
        for o in stack:
            if space[o] == YOUNG:
                young_marked[o] = 1
            space[o] = VISITED
        while stack:
            o = stack.pop()
            moved.append(o)
            b = sbase[o]
            for v in slots[b:b + nsl[o]].tolist():
                if v >= 0 and v < end and cont[v] and not dead[v] and space[v] != VISITED:
                    if space[v] == YOUNG:
                        young_marked[v] = 1
                    space[v] = VISITED
                    stack.append(v)
        if moved:
            self.visited.append(np.array(moved, dtype=np.int64))
        return len(moved)

    # -- the collection -------------------------------------------------------------------------
    def automatic(self, young: int, end: int, at: int) -> tuple[str | None, float, list[int]]:
        """_Py_RunGC → _PyGC_Collect(1) → gc_collect_increment, with ``young`` as
        young.count; containers with ids below ``end`` are tracked; memory is freed at event
        ``at``, with the registers as they are after event ``at - 1``."""
        c = self.c
        heap_size = self._heap_size(end)
        # assess_work_to_do
        heap_fraction = min(heap_size // SCAN_RATE_DIVISOR // self.scale, young * 3 // 2)
        self.work_to_do += young + heap_fraction
        self.count[0] = 0
        roots = self.registers_after(at - 1)
        if self.marking:
            # mark_at_start: global roots and every frame; no collection in this call
            marked = self._mark(roots, end)
            self.work_to_do -= 2 * marked      # in mark_at_start, and again in its caller
            self.marking = False
            self.marks += 1
            self.marked += marked
            return "mark", c.gc_fixed_ns + c.gc_mark_ns * marked, []
        marked = self._mark(roots, end)
        self.work_to_do -= marked
        self.marked += marked
        # the young generation, less what marking moved, is the start of the increment
        cont = self._containers
        lo, hi = np.searchsorted(cont, (self.young_start, end))
        young_ids = cont[lo:hi]
        young_ids = young_ids[self.young_marked[young_ids] == 0]
        young_ids = young_ids[self.heap.dead_np[young_ids] == 0]
        self.young_start = end
        self.space[young_ids] = VISITED
        increment = young_ids.tolist()
        size = len(increment)
        size += self._expand(increment, end)
        inc = np.array(increment, dtype=np.int64)
        order = np.argsort(inc, kind="stable")
        reached_sorted = self.deduce_unreachable(inc[order])
        reached = np.empty(inc.size, dtype=bool)
        reached[order] = reached_sorted
        survivors = inc[reached]
        if survivors.size:
            self.visited.append(survivors)
        ns, freed = self.delete_garbage(inc[~reached].tolist(), at,
                                        c.gc_fixed_ns + c.gc_mark_ns * marked
                                        + c.gc_scan_ns * int(survivors.size))
        self.examined += int(inc.size)
        self.work_to_do += self._heap_size(end) // SCAN_RATE_DIVISOR // self.scale
        self.work_to_do -= size
        self.increments += 1
        if self._pending_empty():
            self._completed_scavenge()
        return "increment", ns, freed

    def _expand(self, increment: list[int], end: int) -> int:
        """While the increment is smaller than work_to_do, take the head of the pending space
        and everything pending it reaches (expand_region_transitively_reachable). Returns
        how many joined."""
        heap = self.heap
        slots, sbase, nsl, dead = heap.slots_np, heap.sbase, heap.nsl, heap.dead
        space = self._space
        added = 0
        size = len(increment)
        while size + added < self.work_to_do:
            head = self._next_pending()
            if head < 0:
                break
            space[head] = VISITED
            start = len(increment)
            increment.append(head)
            added += 1
            i = start
            while i < len(increment):
                o = increment[i]
                b = sbase[o]
                for v in slots[b:b + nsl[o]].tolist():
                    if v >= 0 and v < end and not dead[v] and space[v] == PENDING:
                        space[v] = VISITED
                        increment.append(v)
                        added += 1
                i += 1
        return added

    def _next_pending(self) -> int:
        """The head of the pending space (objects that died or left it are skipped)."""
        dead, space, pending = self.heap.dead, self._space, self._pending
        h = self.pending_head
        n = len(pending)
        while h < n:
            o = pending[h]
            h += 1
            if not dead[o] and space[o] == PENDING:
                self.pending_head = h
                return o
        self.pending_head = h
        return -1

    def _pending_empty(self) -> bool:
        h = self._next_pending()
        if h >= 0:
            self.pending_head -= 1             # leave it at the head
            return False
        return True

    def _completed_scavenge(self) -> None:
        """completed_scavenge: the visited space becomes the pending one; phase MARK."""
        vis = np.concatenate(self.visited) if self.visited else np.zeros(0, dtype=np.int64)
        vis = vis[self.heap.dead_np[vis] == 0]
        self.space[vis] = PENDING
        self.set_pending(vis)
        self.visited = []
        self.work_to_do = 0
        self.marking = True
        self.scavenges += 1

    def set_pending(self, ids: np.ndarray) -> None:
        """Make ``ids``, in this order, the pending space (their space flags are the
        caller's)."""
        self.pending = ids
        self._pending = ids.tolist()
        self.pending_head = 0

    def _heap_size(self, end: int) -> int:
        """heap_size: the tracked objects alive (+1 in _PyObject_GC_Link, -1 in
        PyObject_GC_Del)."""
        heap = self.heap
        allocated = int(np.searchsorted(self._containers, end))
        return allocated - heap.tracked_freed - heap.tracked_freed_loop

    def full(self, end: int, at: int) -> None:
        """gc.collect() (gc_collect_full): every generation at once (the final collection,
        not measured)."""
        cont = self._containers
        k = int(np.searchsorted(cont, end))
        ids = cont[:k]
        ids = ids[self.heap.dead_np[ids] == 0]
        reached = self.deduce_unreachable(ids)
        self.delete_garbage(ids[~reached].tolist(), at, 0.0)

    def stats(self) -> dict[str, int]:
        return {"gc_examined": self.examined, "gc_collected": self.collected,
                "gc_cascaded": self.cascaded, "gc_increments": self.increments,
                "gc_marks": self.marks, "gc_marked": self.marked,
                "gc_scavenges": self.scavenges}
