"""The full collection: stop-the-world sliding mark-compact of the whole heap.

Serial's ``SerialFullGC::invoke_at_safepoint`` (gc/serial/serialFullGC.cpp, formerly
genMarkSweep.cpp) runs four phases, which the model follows:

1. *Mark live objects* from the roots (the registers; a scalar-replaced object's fields).
2. *Compute new object addresses* (``Compacter::phase2_calculate_new_addr``): the spaces are
   walked object by object in the order old, eden, from, and every live object is given the
   next address at the compaction point, which starts at the bottom of the old generation and
   moves on to eden, then the from-space, when an object does not fit the rest of the
   current space — so live young objects are compacted into the old generation as far as it
   has room, and the rest stay in the young generation.
   In the old generation only, the ``DeadSpacer`` lets runs of dead objects at the bottom
   stay where they are, turned into filler objects, as long as their total stays within
   ``MarkSweepDeadRatio`` = 5 % of the old generation's capacity; every
   ``MarkSweepAlwaysCompactCount`` = 4th full collection, and the last-ditch one before an
   OutOfMemoryError, compacts completely.
3. *Adjust pointers* of every live object to the new addresses.
4. *Move objects* to their new addresses.

Afterwards the card table is cleared if the young generation is empty, or all of the old
generation is dirtied if it is not (``CardTableRS::maintain_old_to_young_invariant``).

Parallel's full collection is ``PSParallelCompact`` (marking, summary, adjust and compaction
phases, in parallel); the model uses the same sequential rules for it, with full compaction
every time (its dense prefix, decided per 512 KiB region with ``MarkSweepDeadRatio`` = 1, is not
modelled) and prices the work divided over the GC threads (model.py).

Reclaimed objects are the unmarked ones, dead-wood included: a filler keeps their space but
no longer refers to anything. This module must not decide when to run.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .heap import CARD, DEAD, EDEN, OLD, SURV, ranges
from .young import register_roots

#: MarkSweepDeadRatio (gc_globals.hpp), Serial's old generation
DEAD_RATIO = 5
#: MarkSweepAlwaysCompactCount (gc_globals.hpp)
ALWAYS_COMPACT_COUNT = 4
#: below this frontier size marking continues in plain Python (chains, reference/
#: docs/simulator-speed.md §6.5: a numpy frontier step costs ≈12 µs however small it is)
SMALL_FRONTIER = 64
PY_BUDGET = 50_000


@dataclass
class FullWork:
    """What one full collection did, in the units costs.py prices."""

    marked_objects: int = 0
    marked_slots: int = 0
    walked_live: int = 0
    walked_dead: int = 0
    moved_objects: int = 0
    moved_bytes: int = 0
    dead_wood_bytes: int = 0
    promoted_bytes: int = 0      # live young bytes compacted into the old generation
    old_growth: int = 0          # old used after − before (update_promote_stats' sample)
    spilled_bytes: int = 0
    live_bytes: int = 0
    reclaimed: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


def mark(heap, roots: list[int]) -> np.ndarray:
    """Phase 1: a boolean mask over object ids of everything reachable from ``roots``.

    Level-synchronous with numpy while the frontier is wide; depth-first in Python while it
    is narrow (a linked list would otherwise cost one numpy step per element).
    """
    marked = bytearray(heap.n)
    mk = np.frombuffer(marked, dtype=np.bool_)
    frontier = np.unique(np.asarray(roots, dtype=np.int64))
    mk[frontier] = True
    flat, ns, sb = heap.flat, heap.nslots, heap.slot_base
    nsl, sbl = heap.nslots_l, heap.slot_base_l
    while frontier.size:
        if frontier.size <= SMALL_FRONTIER:
            stack = frontier.tolist()
            budget = PY_BUDGET
            while stack and budget:
                o = stack.pop()
                budget -= 1
                c = nsl[o]
                if c:
                    b = sbl[o]
                    for v in flat[b:b + c].tolist():
                        if v >= 0 and not marked[v]:
                            marked[v] = 1
                            stack.append(v)
            frontier = np.array(stack, dtype=np.int64)
            continue
        v = flat[ranges(sb[frontier], ns[frontier])]
        v = v[v >= 0]
        v = np.unique(v[~mk[v]])
        mk[v] = True
        frontier = v
    return mk.copy()


def collect_full(heap, eden_ids: np.ndarray, dead_wood: bool) -> FullWork:
    """One full collection; ``eden_ids`` are this cycle's eden objects (any state)."""
    w = FullWork()
    sizes = heap.sizes
    gen_np = heap.gen_np
    size = heap.size
    mk = mark(heap, register_roots(heap))
    old_ids = heap.old_ids.view().copy()
    eden_ids = eden_ids[gen_np[eden_ids] == EDEN] if eden_ids.size else eden_ids
    young = np.concatenate((eden_ids, heap.surv))
    live_old = old_ids[mk[old_ids]]
    live_young = young[mk[young]]
    w.marked_objects = int(live_old.size + live_young.size)
    w.marked_slots = int(heap.nslots[live_old].sum() + heap.nslots[live_young].sum())
    w.walked_live = w.marked_objects
    w.walked_dead = int(old_ids.size + young.size) - w.marked_objects
    old_top_before = heap.old_top

    # -- phase 2: new addresses. Old first: gaps before each live object and at the end --
    A = heap.addr[live_old]
    S = size[live_old]
    ends = A + S
    gaps = np.empty(live_old.size + 1, dtype=np.int64)
    if live_old.size:
        gaps[0] = A[0]
        gaps[1:-1] = A[1:] - ends[:-1]
        gaps[-1] = heap.old_top - ends[-1]
    else:
        gaps[-1] = heap.old_top
    kept = np.zeros_like(gaps)
    if dead_wood:
        # DeadSpacer: dead runs stay as fillers while their running total fits the allowance
        allowance = (sizes.old * DEAD_RATIO // 100) // 8 * 8
        pos = gaps > 0
        cs = np.cumsum(np.where(pos, gaps, 0))
        keep = pos & (cs <= allowance)
        kept[keep] = gaps[keep]
    w.dead_wood_bytes = int(kept.sum())
    new_A = np.cumsum(S + kept[:-1]) - S
    top = int(S.sum() + kept.sum())
    # then the live young objects, eden's before the from-space's, while old has room
    YS = size[live_young]
    ycum = np.cumsum(YS)
    n_fit = int(np.searchsorted(top + ycum, sizes.old, side="right"))
    to_old = live_young[:n_fit]
    to_old_addr = top + ycum[:n_fit] - YS[:n_fit]
    top += int(YS[:n_fit].sum())
    spill = live_young[n_fit:]
    spill_sz = YS[n_fit:]
    scum = np.cumsum(spill_sz)
    n_eden = int(np.searchsorted(scum, sizes.eden, side="right"))
    eden_spill = int(spill_sz[:n_eden].sum())
    from_spill = int(spill_sz[n_eden:].sum())
    if from_spill > sizes.survivor:                     # cannot happen: they came from there
        raise AssertionError("full collection: live young objects exceed eden + from-space")

    moved = (new_A != A)
    w.moved_objects = int(np.count_nonzero(moved) + live_young.size)
    w.moved_bytes = int(S[moved].sum() + YS.sum())
    w.live_bytes = int(S.sum() + YS.sum())

    # -- reclaim, and the new layout --
    dead = np.concatenate((old_ids[~mk[old_ids]], young[~mk[young]]))
    gen_np[dead] = DEAD
    w.reclaimed = dead
    new_old = np.concatenate((live_old, to_old))
    gen_np[to_old] = OLD
    heap.rebuild_old(new_old, np.concatenate((new_A, to_old_addr)), top)
    gen_np[spill] = SURV
    heap.age_np[spill] = 0
    heap.surv = spill
    heap.eden_spill = eden_spill
    heap.from_used = from_spill
    heap.hwm["eden"] = max(heap.hwm["eden"], eden_spill)
    fr = heap.from_space()
    heap.hwm[fr] = max(heap.hwm[fr], from_spill)
    w.spilled_bytes = eden_spill + from_spill
    w.promoted_bytes = int(YS[:n_fit].sum())
    w.old_growth = max(0, top - old_top_before)
    if spill.size:
        heap.dirty = np.arange((top + CARD - 1) // CARD, dtype=np.int64)
    else:
        heap.dirty = np.empty(0, dtype=np.int64)
    return w
