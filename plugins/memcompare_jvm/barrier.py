"""The card-marking post-write barrier and the card table, applied a segment at a time.

HotSpot's Serial and Parallel collectors keep one byte per 512-byte card of the heap
(``GCCardSizeInBytes`` = 512, gc_globals.hpp). Every reference store runs a post-write barrier
that dirties the card of the stored-into location, unconditionally (``UseCondCardMark`` is
false). A young collection scans the old generation's dirty cards for old→young pointers
(``CardTableRS::non_clean_card_iterate``, gc/serial/cardTableRS.cpp; ``PSCardTable::
scavenge_contents_parallel`` for Parallel), clearing them, and re-dirties the card of every
scanned or promoted field that still points into the young generation afterwards
(``OldGenScanClosure``, ``PSPromotionManager::copy_and_push_safe_barrier``).

What the model does, and why:

- A store of ``null`` runs no barrier: C2 elides it for a constant null ("If we are writing a
  NULL then we need no post barrier", ``CardTableBarrierSetC2::post_barrier``).
- The dirtied card is the card of the slot's own address (precise marking). HotSpot marks
  precisely for arrays and marks the object's first card for instance fields, then scans the
  whole object from that card; for the small instances of the traces the two differ only when
  an object straddles a card boundary. The trace does not say which objects are arrays.
- A dirty card's slots are scanned whether their object is live or dead: the old generation
  learns which of its objects are dead only in a full collection, so an old→young pointer
  from a dead old object keeps its young target alive until then (as in HotSpot).

Between two collections the barrier's effect depends only on which objects are old, which
cannot change, so a segment's stores are filtered with numpy (docs/simulator-speed.md
§6.3); the slot and register values the collectors need are brought up to date the same way,
last writer wins. This module must not decide what is live.
"""
from __future__ import annotations

import numpy as np

from memcompare.trace import ALLOC, CLEAR, FREE, LOAD, MOVE, STORE

from .heap import CARD_SHIFT, OLD, SURV, ranges


def _last_of_each(target: np.ndarray) -> np.ndarray:
    """For writes in order, True at the last write to each target.

    Found per segment (between two collections) rather than from one sort of every write of
    the trace: the work is then linear in the trace's length at any length (issue 10's scale:
    the whole-trace argsort was the jvm replay's largest step at 10⁷ events)."""
    m = target.size
    last = np.zeros(m, dtype=bool)
    if m:
        _, first = np.unique(target[::-1], return_index=True)
        last[m - 1 - first] = True
    return last


class Mutations:
    """The trace's slot stores and register writes, lowered once, applied per segment."""

    def __init__(self, trace, heap):
        op = trace.op
        st = np.flatnonzero(op == STORE)
        self.store_at = st
        self.store_obj = trace.x[st]
        self.store_val = trace.y[st]
        self.store_slot = trace.b[st]
        self.store_fidx = heap.slot_base[self.store_obj] + self.store_slot
        rw = np.flatnonzero((op == ALLOC) | (op == LOAD) | (op == MOVE) | (op == CLEAR)
                            | (op == FREE))
        self.reg_at = rw
        self.reg_target = trace.a[rw]
        self.reg_val = np.where(op[rw] >= CLEAR, -1, trace.x[rw])

    def apply(self, heap, end: int) -> int:
        """Apply events ``heap.pos .. end - 1`` to the heap's slots and registers, and dirty
        the cards of the old generation they store into. Returns the barrier executions."""
        start = heap.pos
        if end <= start:
            return 0
        s0, s1 = np.searchsorted(self.store_at, (start, end))
        barriers = 0
        if s1 > s0:
            last = _last_of_each(self.store_fidx[s0:s1])
            heap.flat[self.store_fidx[s0:s1][last]] = self.store_val[s0:s1][last]
            val = self.store_val[s0:s1]
            obj = self.store_obj[s0:s1]
            nonnull = val >= 0
            barriers = int(np.count_nonzero(nonnull))
            into_old = nonnull & (heap.gen_np[obj] == OLD)
            if into_old.any():
                o = obj[into_old]
                addr = heap.addr[o] + heap.slot_off[o] \
                    + self.store_slot[s0:s1][into_old] * heap.layout.ref_size
                heap.dirty = np.union1d(heap.dirty, addr >> CARD_SHIFT)
        r0, r1 = np.searchsorted(self.reg_at, (start, end))
        if r1 > r0:
            last = _last_of_each(self.reg_target[r0:r1])
            heap.regs[self.reg_target[r0:r1][last]] = self.reg_val[r0:r1][last]
        heap.pos = end
        return barriers


def scan_dirty_cards(heap) -> tuple[np.ndarray, np.ndarray]:
    """The old generation's slots that lie in dirty cards, in address order: their indices
    into the old slot table and their values. The caller clears the cards."""
    d = heap.dirty
    addr = heap.old_slot_addr.view()
    if d.size == 0 or addr.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    lo = np.searchsorted(addr, d << CARD_SHIFT)
    hi = np.searchsorted(addr, (d + 1) << CARD_SHIFT)
    idx = ranges(lo, hi - lo)
    return idx, heap.flat[heap.old_slot_fidx.view()[idx]]


def young_cards(heap, slot_idx: np.ndarray) -> np.ndarray:
    """Cards of the old slots ``slot_idx`` whose current value is in a survivor space: the
    cards that stay or become dirty after a young collection."""
    if slot_idx.size == 0:
        return np.empty(0, dtype=np.int64)
    vals = heap.flat[heap.old_slot_fidx.view()[slot_idx]]
    hit = vals >= 0
    hit[hit] = heap.gen_np[vals[hit]] == SURV
    return np.unique(heap.old_slot_addr.view()[slot_idx[hit]] >> CARD_SHIFT)
