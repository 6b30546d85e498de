"""The ``semispace`` model: parameters and the replay driver.

Allocation alone decides when from-space is exhausted, so the replay runs from one allocation
failure to the next (space.py): the events in between are applied to the registers and slots
in one numpy step (heap.py), and at each failure a stop-the-world Cheney collection
(cheney.py) copies what the registers reach into to-space, the spaces flip, and the
allocation is retried. An object that still does not fit ends the replay with OutOfMemory at
the allocating event: the live data (plus that object) exceed one semispace.

Costs (costs.py): every allocation pays the bump path plus zeroing; a collection is a pause
of its fixed cost plus the registers and slots it scanned and the objects and bytes it copied.
There is no write barrier: a non-generational collector needs none.
This module computes no metric; the engine does, from what it writes into ``out``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memcompare import Model, Output, Trace, param
from memcompare.errors import OutOfMemory

from .cheney import collect
from .costs import Costs
from .heap import HeapState
from .space import PAGE, MiB, Semispaces, object_sizes, semispace_bytes


@dataclass(frozen=True)
class Params:
    """The heap and the object layout."""

    heap_mb: float = param(
        256.0, "total heap in MiB, split into two equal semispaces (each rounded down to "
               "4 KiB pages); the default is the jvm model's default heap", minimum=2 * PAGE / MiB)
    header_bytes: int = param(
        8, "per-object header in bytes: one word for the forwarding pointer and type "
           "(assumption; HotSpot's is 12 with compressed class pointers)", minimum=0)
    alignment: int = param(
        8, "object alignment in bytes (HotSpot ObjectAlignmentInBytes = 8, "
           "docs/runtimes.md §2.5)", minimum=1)


class SemispaceModel(Model):
    """Semispace copying collector: bump allocation, stop-the-world Cheney copying."""

    name = "semispace"
    Params = Params
    Costs = Costs
    # the heap is a hard limit: time–space sweeps bisect heap_mb for the minimum heap
    heap_param = "heap_mb"
    heap_granule_mb = 1 / 64          # 16 KiB: two halves of whole pages

    def run(self, trace: Trace, out: Output) -> None:
        p, c = self.params, self.costs
        self.trace = trace
        self.size = size = object_sizes(trace, p.header_bytes, p.alignment)
        alloc_at = trace.obj_alloc_at
        self.spaces = spaces = Semispaces(semispace_bytes(p.heap_mb), size, alloc_at)
        self.heap = heap = HeapState(trace)
        self.slot_base = trace.obj_slot_base.tolist()
        self.nslots = trace.obj_nslots.tolist()
        # from-space holds the survivors of the last collection and everything since
        self.survivors = np.empty(0, dtype=np.int64)
        self.since = 0
        #: to-space order of the last collection (object ids), for tests and the curious
        self.last_order: list[int] = []
        st = out.stats
        st.update({"semispace_bytes": spaces.half, "collections": 0, "copied_objects": 0,
                   "copied_bytes": 0, "scanned_slots": 0})
        out.footprint(0, 0)

        # -- mutator costs: every allocation is a bump plus zeroing (known in advance) --
        mm = np.zeros(trace.events)
        mm[alloc_at] = c.alloc_ns + c.zero_ns_per_byte * size
        out.mm_ns = mm
        out.allocated_bytes = int(size.sum())

        K = trace.objects
        k = 0
        while True:
            j = spaces.fill(k, out)
            if j == K:
                break
            i = int(alloc_at[j])            # object j does not fit: collect before event i
            heap.advance(i)
            self._collect(out, i, j)
            if not spaces.fits(j):
                raise OutOfMemory(
                    f"semispace of {spaces.half} bytes exhausted: object {j} needs "
                    f"{int(size[j])} bytes and {spaces.top} bytes are live after the "
                    f"collection (heap_mb = {p.heap_mb:g} holds two semispaces)", index=i)
            k = j

    def _collect(self, out: Output, i: int, j: int) -> None:
        """A stop-the-world collection before event ``i``; objects ``< j`` exist."""
        c, heap, st = self.costs, self.heap, out.stats
        resident = np.concatenate((self.survivors, np.arange(self.since, j, dtype=np.int64)))
        w = collect(heap.roots(), int(heap.regs.size), heap.flat, self.slot_base, self.nslots,
                    self.size, resident)
        pause = (c.pause_ns
                 + (w.registers + w.scanned_slots) * c.scan_ns_per_slot
                 + w.copied_objects * c.copy_ns_per_object
                 + w.copied_bytes * c.copy_ns_per_byte)
        out.pause(i, pause, "semispace")
        # the heap is as events 0 .. i-1 left it: reclaimed "after event i-1"
        out.collection("semispace", max(i - 1, 0), w.reclaimed)
        self.spaces.flip(w.copied_bytes)
        out.footprint(i, self.spaces.footprint())
        self.survivors = np.asarray(w.order, dtype=np.int64)
        self.since = j
        self.last_order = w.order
        st["collections"] += 1
        st["copied_objects"] += w.copied_objects
        st["copied_bytes"] += w.copied_bytes
        st["scanned_slots"] += w.scanned_slots

    def held(self) -> tuple[np.ndarray, np.ndarray]:
        """A final Cheney collection from the registers at the end (not measured): what it
        copies is what the model still holds."""
        t = self.trace
        resident = np.concatenate((self.survivors,
                                   np.arange(self.since, t.objects, dtype=np.int64)))
        roots = t.final_registers()
        w = collect(roots[roots >= 0].tolist(), int(roots.size), t.final_slots(),
                    self.slot_base, self.nslots, self.size, resident)
        ids = np.asarray(w.order, dtype=np.int64)
        return ids, self.size[ids]
