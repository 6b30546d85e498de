"""The young (minor) collection: Serial ``DefNew`` and Parallel ``PSYoungGen`` copying.

Roots are the old generation's dirty cards (barrier.py), then the registers — the order of
``DefNewGeneration::collect`` ("old-to-young pointers; processing them before relocating other
kinds of roots", then thread stacks) and of Parallel's ``ScavengeRootsTask::work`` (card
table first, then thread roots). A register holding a scalar-replaced object (model.py)
contributes that object's fields instead.

Each live object of eden and the from-space is copied once
(``DefNewGeneration::copy_to_survivor_space``; ``PSPromotionManager::
copy_unmarked_to_survivor_space``): if its age is below the tenuring threshold and the
to-space has room, into the to-space with its age + 1 (saturating at 15, the mark word's
4 bits); otherwise into the old generation — *premature* promotion when the age was still
below the threshold but the to-space was full. If the old generation has no room either,
the promotion fails and a full collection follows (policy.py).

The copy order decides which objects overflow a full to-space:

- Serial is breadth-first (Cheney): roots are copied without being scanned, then
  ``SerialHeap::scan_evacuated_objs`` scans the to-space from its saved mark to its top,
  then the objects promoted into the old generation from its saved mark, and repeats until
  the to-space scan catches up — two FIFO queues, the to-space drained first.
- Parallel is depth-first: ``copy_and_push_safe_barrier`` copies a root at once and
  ``push_contents`` pushes its reference fields with ``oop_iterate_backwards`` onto the
  worker's task stack, which ``drain_stacks_depth`` pops LIFO — so slot 0's subtree is copied
  before slot 1's. Old→young fields found in dirty cards are pushed as tasks in address order
  (``PSCardTable::scavenge_contents_parallel`` → ``push_contents_bounded``) and drained
  before the thread roots are copied. Simplifications: one worker (work stealing would make
  the order nondeterministic), stacks always drained completely (HotSpot drains down to
  ``GCDrainStackTargetSize`` = 64 entries and leaves the rest for thieves), no promotion LABs
  (PLAB tails).

After a successful collection the survivor spaces swap, the old generation's dirty cards are
recomputed (a card stays dirty when one of its slots points into the new from-space), and
Serial recomputes its tenuring threshold from the age table
(``DefNewGeneration::adjust_desired_tenuring_threshold`` → ``AgeTable::
compute_tenuring_threshold``, gc/shared/ageTable.cpp): the smallest age at which the bytes of
survivors of that age and younger exceed ``TargetSurvivorRatio`` % of a survivor space, capped
by ``MaxTenuringThreshold``. Parallel keeps no age table; without its adaptive size policy its
threshold stays at ``MaxTenuringThreshold``.

This module decides what is live in the young generation and where it goes; it does not
price the work (costs.py, model.py) nor decide when to run (policy.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .barrier import scan_dirty_cards, young_cards
from .heap import (AGE_TABLE_SIZE, CARD, DEAD, EDEN, HEAP_WORD, LOCAL, MAX_AGE, OLD, SURV, TO,
                   ranges)


@dataclass
class MinorWork:
    """What one young collection did, in the units costs.py prices."""

    registers: int = 0
    card_table_cards: int = 0
    dirty_cards: int = 0
    card_slots: int = 0
    survived_objects: int = 0
    survived_bytes: int = 0
    promoted_objects: int = 0
    promoted_bytes: int = 0
    premature_bytes: int = 0
    promoted: list = field(default_factory=list)   # the promoted objects, in copy order
    scanned_slots: int = 0
    failed: bool = False
    age_bytes: list = field(default_factory=list)
    reclaimed: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def copied_objects(self) -> int:
        return self.survived_objects + self.promoted_objects

    @property
    def copied_bytes(self) -> int:
        return self.survived_bytes + self.promoted_bytes


def tenuring_threshold(age_bytes: list[int], survivor_capacity: int, target_survivor_ratio: int,
                       max_tenuring_threshold: int) -> int:
    """``AgeTable::compute_tenuring_threshold`` for a to-space of ``survivor_capacity`` bytes,
    in heap words as HotSpot counts them."""
    desired = int(float(survivor_capacity // HEAP_WORD) * target_survivor_ratio / 100)
    total = 0
    age = 1
    while age < AGE_TABLE_SIZE:
        total += age_bytes[age] // HEAP_WORD
        if total > desired:
            break
        age += 1
    return min(age, max_tenuring_threshold)


def register_roots(heap) -> list[int]:
    """Objects the registers refer to, in register order; a scalar-replaced object in a
    register stands for its fields, which are then roots themselves."""
    regs = heap.regs
    vals = regs[regs >= 0]
    if vals.size == 0:
        return []
    local = heap.gen_np[vals] == LOCAL
    if not local.any():
        return vals.tolist()
    roots: list[int] = []
    flat = heap.flat
    sb, ns = heap.slot_base_l, heap.nslots_l
    for v, is_local in zip(vals.tolist(), local.tolist()):
        if is_local:
            roots.extend(w for w in flat[sb[v]:sb[v] + ns[v]].tolist() if w >= 0)
        else:
            roots.append(v)
    return roots


def collect_young(heap, eden_ids: np.ndarray, depth_first: bool, target_survivor_ratio: int,
                  max_tenuring_threshold: int, adapt_threshold: bool) -> MinorWork:
    """One young collection of ``eden_ids`` (this cycle's eden objects) and the from-space.

    On promotion failure the heap is left as it was before the collection (the full
    collection that follows compacts the same live objects) and ``failed`` is set.
    """
    w = MinorWork()
    w.registers = int(heap.regs.size)
    w.card_table_cards = (heap.old_top + CARD - 1) // CARD
    w.dirty_cards = int(heap.dirty.size)
    gen_np = heap.gen_np
    # -- roots: dirty cards of the old generation, then the registers --
    card_idx, card_vals = scan_dirty_cards(heap)
    w.card_slots = int(card_idx.size)
    old_roots: list[int] = []
    if card_vals.size:
        v = card_vals[card_vals >= 0]
        g = gen_np[v]
        old_roots = v[(g == EDEN) | (g == SURV)].tolist()
    reg_roots = register_roots(heap)
    # -- the young objects' slots, as Python lists for the copy loop --
    eden_ids = eden_ids[gen_np[eden_ids] == EDEN] if eden_ids.size else eden_ids
    surv = heap.surv
    young_all = np.concatenate((eden_ids, surv))
    gen_before = gen_np[young_all].copy()
    age_before = heap.age_np[young_all].copy()
    flat = heap.flat
    if eden_ids.size:
        lo, hi = int(eden_ids[0]), int(eden_ids[-1])
        sb0 = heap.slot_base_l[lo]
        yslots = flat[sb0:heap.slot_base_l[hi] + heap.nslots_l[hi]].tolist()
    else:
        sb0 = 0
        yslots = []
    soff: dict[int, int] = {}
    if surv.size:
        cnt = heap.nslots[surv]
        offs = len(yslots) + np.cumsum(cnt) - cnt
        soff = dict(zip(surv.tolist(), offs.tolist()))
        yslots += flat[ranges(heap.slot_base[surv], cnt)].tolist()

    gen, age = heap.gen, heap.age
    size, nsl, sbl = heap.size_l, heap.nslots_l, heap.slot_base_l
    thr = heap.threshold
    to_cap = heap.sizes.survivor
    tq: list[int] = []          # copied to the to-space, in copy order
    oq: list[int] = []          # promoted, in copy order (= address order in old)
    age_bytes = [0] * AGE_TABLE_SIZE
    to_used = 0
    old_free = heap.old_free
    premature = 0
    scanned = 0
    failed = False

    def copy(o: int) -> bool:
        nonlocal to_used, old_free, premature, failed
        s = size[o]
        a = age[o]
        if a < thr and to_used + s <= to_cap:
            to_used += s
            if a < MAX_AGE:
                a += 1
            age[o] = a
            age_bytes[a] += s
            gen[o] = TO
            tq.append(o)
            return True
        if s <= old_free:
            old_free -= s
            gen[o] = OLD
            oq.append(o)
            if a < thr:
                premature += s
            return True
        failed = True
        return False

    def slots_of(o: int) -> list[int]:
        off = soff.get(o)
        if off is None:
            off = sbl[o] - sb0
        return yslots[off:off + nsl[o]]

    if not depth_first:
        # -- Serial: copy the roots, then Cheney-scan the to-space and the promoted objects
        for o in old_roots + reg_roots:
            g = gen[o]
            if (g == EDEN or g == SURV) and not copy(o):
                break
        ti = oi = 0
        while not failed:
            while ti < len(tq) and not failed:
                o = tq[ti]
                ti += 1
                if nsl[o]:
                    scanned += nsl[o]
                    for v in slots_of(o):
                        if v >= 0:
                            g = gen[v]
                            if (g == EDEN or g == SURV) and not copy(v):
                                break
            while oi < len(oq) and not failed:
                o = oq[oi]
                oi += 1
                if nsl[o]:
                    scanned += nsl[o]
                    for v in slots_of(o):
                        if v >= 0:
                            g = gen[v]
                            if (g == EDEN or g == SURV) and not copy(v):
                                break
            if ti == len(tq):
                break
    else:
        # -- Parallel: depth-first over a task stack
        stack: list[int] = []

        def push_contents(o: int) -> None:
            nonlocal scanned
            n = nsl[o]
            if n:
                scanned += n
                for v in reversed(slots_of(o)):
                    if v >= 0:
                        g = gen[v]
                        if g == EDEN or g == SURV:
                            stack.append(v)

        def drain() -> None:
            while stack:
                v = stack.pop()
                g = gen[v]
                if g == EDEN or g == SURV:
                    if not copy(v):
                        return
                    push_contents(v)

        stack.extend(old_roots)
        drain()
        if not failed:
            for o in reg_roots:
                g = gen[o]
                if g == EDEN or g == SURV:
                    if not copy(o):
                        break
                    push_contents(o)
            if not failed:
                drain()

    w.scanned_slots = scanned
    w.survived_objects = len(tq)
    w.survived_bytes = to_used
    w.promoted_objects = len(oq)
    w.promoted = oq
    w.promoted_bytes = heap.old_free - old_free
    w.premature_bytes = premature
    if failed:
        # promotion failed: undo, the full collection takes over from the same heap
        gen_np[young_all] = gen_before
        heap.age_np[young_all] = age_before
        w.failed = True
        return w

    # -- success: reclaim what was not copied, swap the survivor spaces, promote --
    dead_e = eden_ids[gen_np[eden_ids] == EDEN]
    dead_s = surv[gen_np[surv] == SURV]
    reclaimed = np.concatenate((dead_e, dead_s))
    gen_np[reclaimed] = DEAD
    w.reclaimed = reclaimed
    new_surv = np.array(tq, dtype=np.int64)
    gen_np[new_surv] = SURV
    heap.surv = new_surv
    heap.from_used = to_used
    heap.eden_spill = 0
    to = heap.to_space()
    heap.hwm[to] = max(heap.hwm[to], to_used)
    heap.to_index ^= 1
    n_before = heap.old_slot_addr.n
    heap.append_old(np.array(oq, dtype=np.int64))
    # cards: scanned old slots and promoted objects' slots that still point into young
    promoted_slots = np.arange(n_before, heap.old_slot_addr.n, dtype=np.int64)
    heap.dirty = np.union1d(young_cards(heap, card_idx), young_cards(heap, promoted_slots))
    if adapt_threshold:
        heap.threshold = tenuring_threshold(age_bytes, heap.sizes.survivor,
                                            target_survivor_ratio, max_tenuring_threshold)
    w.age_bytes = age_bytes
    return w
