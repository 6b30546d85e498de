"""Allocation: TLAB bump pointers carved from eden, shared eden, and the old generation.

The rules (gc/shared/memAllocator.cpp, threadLocalAllocBuffer.{cpp,inline.hpp}):

- An object is bump-allocated in the thread's TLAB when it fits
  (``mem_allocate_inside_tlab_fast``).
- Otherwise (``mem_allocate_inside_tlab_slow``): if the TLAB's free space exceeds its refill
  waste limit (desired size / ``TLABRefillWasteFraction`` 64, raised by
  ``TLABWasteIncrement`` = 4 words at each such miss), the TLAB is kept and the object is
  allocated outside it; else the TLAB is retired (its tail wasted) and a new one carved:
  ``compute_size`` = min(eden free, desired size + object), which must be at least
  ``compute_min_size`` = max(object, ``MinTLABSize`` 2 KiB) — the last TLAB before a
  collection is smaller than the rest.
- Outside a TLAB (``mem_allocate_outside_tlab``), the object goes to shared eden if eden has
  room, else to the old generation when the collector's rule allows (policy.py), else the
  allocation fails and the heap collects (policy.py, model.py).

The desired TLAB size is eden / 50 for the trace's single thread (heap.py ``Sizes.tlab_size``).

First touch: HotSpot zeroes each object as it allocates it (``ZeroTLAB`` is off: the TLAB is
not cleared when carved, ``MemAllocator::finish`` → ``ObjAllocator::initialize`` clears the
object), so an allocation that writes a heap page for the first time in the process takes the
page fault. ``faults`` records (heap-object index, pages first written) for the cost table.

The end of every TLAB is reserved (``ThreadLocalAllocBuffer::fill`` sets its end to
``start + new_size - alignment_reserve()``): room for the filler object that retires it and,
with C2, for the allocation prefetches C2's code issues beyond the top
(``ThreadLocalAllocBuffer::startup_initialization``: ``(AllocatePrefetchDistance +
AllocatePrefetchStepSize × (max(AllocatePrefetchLines, AllocateInstancePrefetchLines) + 2)) /
HeapWordSize`` words = (256 + 64 × 5) / 8 = 72 words = 576 bytes with JDK 17's x86-64
defaults, ``-XX:+PrintFlagsFinal``). A TLAB must hold the object plus the reserve
(``compute_min_size``), and the reserve is wasted when the TLAB retires: about 1.7 % of eden
with a 2 MiB young generation (33 KiB TLABs), which is one young collection in sixty
(binary-trees max_depth 14 at ``-Xmx16m -Xmn2m``: HotSpot 17 runs 61, 60 without the reserve).

The loop here runs once per TLAB, not once per object: within a TLAB the objects that fit are
found with one ``searchsorted`` over the cumulative sizes (docs/simulator-speed.md §6.3).
This module decides where each object goes and when eden is exhausted; it must not collect.
"""
from __future__ import annotations

import numpy as np

from .heap import EDEN, HEAP_WORD, PAGE, KiB, NONE

MIN_TLAB = 2 * KiB                     # MinTLABSize
#: ThreadLocalAllocBuffer::alignment_reserve() in bytes (module docstring; x86-64, C2 present)
TLAB_END_RESERVE = (256 + 64 * (max(3, 1) + 2)) // HEAP_WORD * HEAP_WORD
REFILL_WASTE_FRACTION = 64             # TLABRefillWasteFraction
WASTE_INCREMENT = 4 * HEAP_WORD        # TLABWasteIncrement, words


class EdenAllocator:
    """Places heap objects (in allocation order ``hid``) into TLABs, shared eden or old.

    ``fill(k)`` allocates from the ``k``-th heap object on and returns the index of the first
    object that needs a collection (or the number of heap objects). The kinds of slow-path
    allocation are recorded by heap-object index for the cost table.
    """

    def __init__(self, heap, policy, hid: np.ndarray, hsize: np.ndarray, alloc_event: np.ndarray,
                 out):
        self.heap = heap
        self.policy = policy
        self.hid = hid
        self.hid_l = memoryview(np.ascontiguousarray(hid, dtype=np.int64))   # see Heap.size_l
        self.hsize_l = memoryview(np.ascontiguousarray(hsize, dtype=np.int64))
        self.cum0 = np.concatenate(([0], np.cumsum(hsize))).astype(np.int64)
        self.cum0_l = None
        self.event = alloc_event
        self.out = out
        self.eden_cap = heap.sizes.eden
        self.desired = heap.sizes.tlab_size()
        self.eden_free = self.eden_cap
        self.tlab_free = 0
        self.tlab_reserve = 0              # the current TLAB's end reserve (0: no TLAB)
        self.waste_limit = self.desired // REFILL_WASTE_FRACTION
        self.almost_full = False
        self.refills: list[int] = []       # heap-object index whose allocation refilled
        self.shared: list[int] = []        # allocated outside a TLAB in eden
        self.old: list[int] = []           # allocated directly in the old generation
        self.tlab_waste = 0
        self.faults: list[tuple[int, int]] = []   # (heap-object index, pages first written)
        #: G1 only: the humongous allocation path (g1.py G1Run.allocate_humongous) and the
        #: TLAB cap (G1CollectedHeap::max_tlab_size, the humongous threshold)
        self.humongous = None
        self.tlab_cap: int | None = None

    def reset(self, spill: int) -> None:
        """After a collection: eden empty but for ``spill``; TLABs retired and resized
        (``ThreadLocalAllocBuffer::resize`` resets the refill waste limit)."""
        self.eden_free = self.eden_cap - spill
        self.tlab_free = 0
        self.tlab_reserve = 0
        self.waste_limit = self.desired // REFILL_WASTE_FRACTION

    @property
    def eden_used(self) -> int:
        """``eden()->used()`` at a collection: everything carved, TLAB tails included."""
        return self.eden_cap - self.eden_free

    def _outside_eden(self, k: int, place) -> bool:
        """Allocate object ``k`` outside eden with ``place(k)`` (a humongous region, or the old
        generation's top): its first-touch faults, the old list, the footprint. False when
        ``place`` finds no room."""
        heap = self.heap
        before = heap.touched_pages()
        if not place(k):
            return False
        if heap.touched_pages() > before:
            self.faults.append((k, heap.touched_pages() - before))
        self.old.append(k)
        heap.report_footprint(self.out, int(self.event[k]))
        return True

    def _append_old(self, k: int) -> bool:
        self.heap.append_old(np.array([self.hid_l[k]], dtype=np.int64))
        return True

    def _touch(self, k: int) -> None:
        heap = self.heap
        # a shared-eden object ends at eden's top, past the current TLAB
        touched = self.eden_cap - self.eden_free
        if touched > heap.hwm["eden"]:
            pages = (touched + PAGE - 1) // PAGE - (heap.hwm["eden"] + PAGE - 1) // PAGE
            if pages:
                self.faults.append((k, pages))
            heap.hwm["eden"] = touched
            heap.report_footprint(self.out, int(self.event[k]))

    def _touch_run(self, k0: int, k1: int) -> None:
        """Objects ``k0 .. k1-1`` were bump-allocated in the current TLAB: eden's touched memory
        grows object by object, so report the footprint at each object that touches a new page
        (a page becomes resident when first written, docs/runtimes.md §2: RSS counts
        touched pages)."""
        heap = self.heap
        end = (self.eden_cap - self.eden_free - self.tlab_free     # touched after object k1-1
               - self.tlab_reserve)
        after = end - (self.cum0[k1] - self.cum0[k0 + 1:k1 + 1])  # ... after each object
        hwm = heap.hwm["eden"]
        if end <= hwm:
            return
        # pages touched after each object, never below what earlier cycles touched
        hwm_pages = (hwm + PAGE - 1) // PAGE
        pages = np.maximum((after + PAGE - 1) // PAGE, hwm_pages)
        new = np.diff(pages, prepend=hwm_pages)
        first = np.flatnonzero(new > 0)
        for m, c in zip(first.tolist(), new[first].tolist()):
            self.faults.append((k0 + m, c))
            heap.hwm["eden"] = int(after[m])
            heap.report_footprint(self.out, int(self.event[k0 + m]))
        heap.hwm["eden"] = max(heap.hwm["eden"], int(end))

    def fill(self, k: int, retry: bool = False) -> int:
        """Allocate heap objects ``k, k + 1, ...`` until one cannot be; return its index.

        ``retry``: object ``k`` is being retried after a collection, and may go to the old
        generation whatever its size (``expand_heap_and_allocate`` / ``failed_mem_allocate``).
        """
        start = k
        K = len(self.hsize_l)
        cum0 = self.cum0
        hs = self.hsize_l
        heap = self.heap
        policy = self.policy
        while k < K:
            tf = self.tlab_free
            if tf > 0:
                # every object from k on that fits the TLAB's rest, in one search
                j = int(np.searchsorted(cum0, cum0[k] + tf, side="right")) - 1
                if j > k:
                    self.tlab_free = tf - int(cum0[j] - cum0[k])
                    self._touch_run(k, j)
                    k = j
                    if k == K:
                        break
            s = hs[k]
            if self.humongous is not None and policy.humongous(s):
                # G1: a humongous object never takes a TLAB or eden (g1.py)
                if not self._outside_eden(k, self.humongous):
                    break
                k += 1
                continue
            if self.tlab_free > self.waste_limit:
                # keep the TLAB, allocate this one outside it
                self.waste_limit += WASTE_INCREMENT
            else:
                self.tlab_waste += self.tlab_free + self.tlab_reserve
                self.tlab_free = self.tlab_reserve = 0
                new = min(self.eden_free, self.desired + s)
                if self.tlab_cap is not None:
                    new = min(new, self.tlab_cap)       # ThreadLocalAllocBuffer::max_size
                if new >= max(s + TLAB_END_RESERVE, MIN_TLAB):
                    self.eden_free -= new
                    self.tlab_free = new - TLAB_END_RESERVE
                    self.tlab_reserve = TLAB_END_RESERVE
                    self.waste_limit = self.desired // REFILL_WASTE_FRACTION
                    self.refills.append(k)
                    continue
            if s <= self.eden_free:
                self.eden_free -= s
                self.shared.append(k)
                self._touch(k)
                k += 1
                continue
            if (retry and k == start) or policy.old_takes_outside_tlab(s, self.almost_full):
                if s <= heap.old_free:
                    self._outside_eden(k, self._append_old)
                    k += 1
                    continue
            break
        if k > start:
            ids = self.hid[start:k]
            g = heap.gen_np[ids]
            heap.gen_np[ids[g == NONE]] = EDEN
        return k
