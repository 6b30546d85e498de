"""The free-threaded build's cyclic collector (3.13t/3.14t, Python/gc_free_threading.c): no
generations, every collection stops the world and examines every tracked object.

The rules, each where it is coded below:

- each thread counts its tracked allocations and deallocations in ``alloc_count``
  (``record_allocation`` / ``record_deallocation``) and adds it to the interpreter's
  ``young.count`` only when it reaches +512 or -512 (``LOCAL_ALLOC_COUNT_THRESHOLD``); the
  count is not clamped at 0, and a collection zeroes ``young.count`` but not the threads'
  buffers;
- at a +512 flush, ``gc_should_collect``: ``young.count > young.threshold`` (2000), the
  threshold not 0, the collector enabled, and ``young.count > long_lived_total / 4`` (unless
  ``old[0].threshold`` is 0) — then ``_Py_ScheduleGC``; the eval breaker's ``gc_collect_main``
  checks ``gc_should_collect`` again before collecting (the model's loop decides that timing,
  as for 3.12+; this module the rest);
- ``gc_collect_internal``: stop the world, ``deduce_unreachable_heap`` over every tracked object
  in the mimalloc heaps (the same subtraction of internal references as the default build's
  ``deduce_unreachable``), ``long_lived_total`` = the objects that survived, ``young.count`` =
  0, then ``delete_garbage``; its deallocations count down the thread's ``alloc_count`` too.

The model's loop keeps ``alloc_count + 512`` in its young counter (so the -512 flush is the
counter reaching its floor, 0 → 512) and calls :meth:`automatic` when it passes 1023 (the +512
flush). ``gc_mark_alive_from_roots`` (the collector's first pass in 3.14t) changes what the
collection costs, not what it frees: it is priced in ``gc_scan_ns`` per object examined.

This module decides and performs collections; it prices them with the model's cost table and
computes no metric.
"""
from __future__ import annotations

import numpy as np

from .gc import Collector
from .refcount import Heap

#: gc_free_threading.c: "Each thread buffers the count of allocated objects in a thread-local
#: variable up to +/- this amount to reduce the overhead of updating the global count."
LOCAL_ALLOC_COUNT_THRESHOLD = 512


class FreeThreadedCollector(Collector):
    """``young.count``, ``long_lived_total`` and ``gc_collect_internal`` of the free-threaded
    build. ``count[0]`` is the loop's young counter (``alloc_count + 512``)."""

    #: the loop's young counter starts at alloc_count 0, and flushes when it would reach 0
    START = LOCAL_ALLOC_COUNT_THRESHOLD

    def __init__(self, heap: Heap, thresholds: tuple[int, int, int], costs,
                 containers: np.ndarray):
        super().__init__(heap, thresholds, costs, containers)
        heap.young_floor, heap.young_wrap = 1, LOCAL_ALLOC_COUNT_THRESHOLD
        self.young_count = 0                  # gcstate->young.count
        self.count[0] = self.START
        self._wraps_seen = 0
        self.flushes = 0
        self.full_collections = 0

    def _deallocation_flushes(self) -> None:
        """Apply the -512 flushes the loop and the cascades made since the last call."""
        heap = self.heap
        wraps = heap.young_wraps + heap.young_wraps_loop
        self.young_count -= LOCAL_ALLOC_COUNT_THRESHOLD * (wraps - self._wraps_seen)
        self._wraps_seen = wraps

    def should_collect(self) -> bool:
        """gc_should_collect (the collector being enabled is the loop's business)."""
        count, threshold = self.young_count, self.threshold[0]
        if count <= threshold or threshold == 0:
            return False
        return count > self.long_lived_total // 4 or self.threshold[1] == 0

    def automatic(self, young: int, end: int, at: int) -> tuple[str | None, float, list[int]]:
        """The +512 flush of record_allocation, and the collection it schedules if
        gc_should_collect holds then and when gc_collect_main runs."""
        self._deallocation_flushes()
        # record_allocation: alloc_count reached 512 at the allocation: young.count += 512
        local = young - self.START - LOCAL_ALLOC_COUNT_THRESHOLD
        self.young_count += LOCAL_ALLOC_COUNT_THRESHOLD
        self.flushes += 1
        scheduled = self.should_collect()
        # the register write that followed (3.12+ timing) may have freed containers: the
        # loop counted them down from 1024; any -512 flush among them happens now
        while local <= -LOCAL_ALLOC_COUNT_THRESHOLD:
            local += LOCAL_ALLOC_COUNT_THRESHOLD
            self.young_count -= LOCAL_ALLOC_COUNT_THRESHOLD
        self.count[0] = local + self.START
        if not (scheduled and self.should_collect()):
            return None, 0.0, []
        ns, freed = self._collect_all(end, at)
        return "full", ns, freed

    def _collect_all(self, end: int, at: int) -> tuple[float, list[int]]:
        """gc_collect_internal: every tracked object alive, at once."""
        c = self.c
        heap = self.heap
        cont = self._containers
        ids = cont[:int(np.searchsorted(cont, end))]
        ids = ids[heap.dead_np[ids] == 0]
        reached = self.deduce_unreachable(ids)
        survivors = int(np.count_nonzero(reached))
        self.young_count = 0
        self.long_lived_total = survivors
        before = heap.tracked_freed
        ns, freed = self.delete_garbage(ids[~reached].tolist(), at,
                                        c.gc_fixed_ns + c.gc_scan_ns * survivors)
        # PyObject_GC_Del → record_deallocation for each container freed
        local = self.count[0] - self.START - (heap.tracked_freed - before)
        while local <= -LOCAL_ALLOC_COUNT_THRESHOLD:
            local += LOCAL_ALLOC_COUNT_THRESHOLD
            self.young_count -= LOCAL_ALLOC_COUNT_THRESHOLD
        self.count[0] = local + self.START
        self.examined += int(ids.size)
        self.full_collections += 1
        return ns, freed

    def full(self, end: int, at: int) -> None:
        """gc.collect(): the same collection (the final one, not measured)."""
        self._collect_all(end, at)

    def stats(self) -> dict[str, int]:
        return {"gc_examined": self.examined, "gc_collected": self.collected,
                "gc_cascaded": self.cascaded, "gc_long_lived_total": self.long_lived_total,
                "gc_count_flushes": self.flushes}
