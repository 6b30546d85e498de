"""``ownership = "shared_ptr"``: every reference is a ``std::shared_ptr``, as libstdc++ 12 counts it.

The program holds each object through ``std::make_shared`` (bits/shared_ptr.h) and every slot
and register is a ``std::shared_ptr`` (bits/shared_ptr_base.h ``__shared_ptr``: the stored
pointer and the control-block pointer, 16 bytes):

- **layout**: make_shared allocates one block, ``_Sp_counted_ptr_inplace``: the control block
  (``_Sp_counted_base``: a vptr and two ``_Atomic_word`` counts, ``_M_use_count`` and
  ``_M_weak_count``: 8 + 4 + 4 = 16 bytes) followed by the object (``_Impl::_M_storage``). The
  request is 16 + payload + 16 × slots bytes.
- **counts**: a register or slot write that copies a reference (LOAD, STORE, MOVE) is a
  copy-construction or copy-assignment: ``_M_add_ref_copy``, an increment of the new target
  first; the reference it overwrote is released (``_M_release``): so is a CLEAR. ALLOC starts
  the new object's count at 1 (the control block's constructor, no atomic operation) and
  releases what the register held. FREE is a CLEAR: the program's ``delete`` is not how a
  shared_ptr program ends a life.
- **atomic or not** (ext/atomicity.h ``__atomic_add_dispatch``, ``__is_single_threaded``):
  once the process has started a thread glibc's ``__libc_single_threaded`` is false and every
  update is a locked instruction (``atomic_counts = true``, the default); before that,
  libstdc++ uses plain increments and decrements.
- **release** (``_Sp_counted_base<_S_atomic>::_M_release``, GCC 12): an acquire load of both
  counts; when both are 1 — the last reference, no weak one, always so for make_shared
  objects here — the object is destroyed without a locked instruction (``last_release_ns``);
  otherwise a locked decrement (``atomic_dec_ns``).
- **destruction**: at zero, ``_M_dispose`` runs the object's destructor, which releases each
  of its slots in turn — a cascade, as in CPython, but with C++ costs — and ``_M_destroy``
  gives the block back to the allocator (glibc ``free``, a pool's free list, an arena's live
  count). The cascade happens at the event whose release started it and is the program's own
  deallocation (``free_ns``).
- **cycles leak**: objects whose counts never reach zero (a cycle of shared_ptrs, unreachable)
  are never destroyed: ``leaked_bytes`` counts them.

``local`` objects are automatic variables: no block, no count charged for references to them
(a raw reference); the model still counts their register references to find the end of their
scope (their FREE), where their destructor releases their slots.
"""
from __future__ import annotations

import numpy as np

from memcompare import Output, Trace
from memcompare.trace import ALLOC, CLEAR, FREE, LOAD, MOVE, STORE, WORK

#: _Sp_counted_ptr_inplace's control block before the object: vptr + two _Atomic_word counts
CONTROL_BLOCK = 8 + 4 + 4
#: a std::shared_ptr member: the stored pointer and the _Sp_counted_base pointer
SHARED_PTR_BYTES = 16


def make_shared_request(payload: np.ndarray, nslots: np.ndarray) -> np.ndarray:
    """The bytes ``std::make_shared<Obj>()`` asks operator new for: control block + object,
    whose slots are shared_ptrs."""
    return CONTROL_BLOCK + payload.astype(np.int64) + SHARED_PTR_BYTES * nslots.astype(np.int64)


def replay(trace: Trace, out: Output, heap, request: np.ndarray, costs, atomic: bool) -> dict:
    """Count references through the trace; destroy objects at zero through ``heap``
    (pools.py). Returns the stats; sets ``out``'s costs and reclaims."""
    c = costs
    inc_ns = c.atomic_inc_ns if atomic else c.plain_inc_ns
    dec_ns = c.atomic_dec_ns if atomic else c.plain_dec_ns
    last_ns = c.last_release_ns
    n, m = trace.events, trace.objects
    op = trace.op
    local = trace.obj_local
    nslots = trace.obj_nslots
    # -- lowering: per event the reference taken (p), the one dropped (q), the slot written --
    ev = np.flatnonzero(op != WORK)
    o = op[ev]
    x, y, z = trace.x[ev], trace.y[ev], trace.z[ev]
    p = np.where(o == STORE, y, np.where((o == LOAD) | (o == MOVE), x, -1))
    p = np.where(o == ALLOC, -2 - x, p)                 # ALLOC of x: coded below -1
    q = np.where((o == CLEAR) | (o == FREE), x, z)
    flat = np.where(o == STORE, trace.obj_slot_base[np.where(o == STORE, x, 0)]
                    + trace.b[ev], -1)
    # -- what is static: one update per reference copied or dropped, locals not charged --
    counted = np.concatenate([~local, [False]])        # index -1: no object
    inc = counted[np.where(p >= 0, p, -1)]
    dec = counted[q]
    mm = np.zeros(n)
    mm[ev] = inc * inc_ns + dec * dec_ns
    n_inc, n_dec = int(inc.sum()), int(dec.sum())

    rc = [0] * (m + 1)
    slots = [-1] * int(nslots.sum())
    base = trace.obj_slot_base.tolist()
    nsl = nslots.tolist()
    loc = local.tolist()
    req = request.tolist()
    alloc, free = heap.alloc, heap.free
    mm_at: list[int] = []
    mm_ns: list[float] = []
    last_at: list[int] = []          # top-level releases that destroyed a counted object
    fr_at: list[int] = []
    fr_ns: list[float] = []
    rec_ids: list[int] = []
    rec_at: list[int] = []
    destroyed = cascaded = cascade_decs = 0
    for i, a, d, s in zip(ev.tolist(), p.tolist(), q.tolist(), flat.tolist()):
        if a >= 0:
            rc[a] += 1
        elif a < -1:
            a = -2 - a
            rc[a] = 1
            if not loc[a]:
                mm_at.append(i)
                mm_ns.append(alloc(a, req[a], i))
            a = -1
        if s >= 0:
            slots[s] = a
        if d >= 0:
            r = rc[d] - 1
            rc[d] = r
            if r == 0:
                # the last reference: _M_release's unique path, then the destructor's cascade
                if not loc[d]:
                    last_at.append(i)
                work = [d]
                ns = 0.0
                while work:
                    v = work.pop()
                    rec_ids.append(v)
                    rec_at.append(i)
                    k = nsl[v]
                    if k:
                        b = base[v]
                        for w in slots[b:b + k]:
                            # a slot never holds a local object (trace validation)
                            if w >= 0:
                                r = rc[w] - 1
                                rc[w] = r
                                if r == 0:
                                    work.append(w)
                                    ns += last_ns
                                    cascaded += 1
                                else:
                                    ns += dec_ns
                                    cascade_decs += 1
                    if not loc[v]:
                        destroyed += 1
                        ns += c.destroy_ns + free(v, i)
                fr_at.append(i)
                fr_ns.append(ns)
    if last_at:
        np.add.at(mm, np.asarray(last_at, dtype=np.int64), last_ns - dec_ns)
    if mm_at:
        np.add.at(mm, np.asarray(mm_at, dtype=np.int64), np.asarray(mm_ns))
    fr = np.zeros(n)
    if fr_at:
        np.add.at(fr, np.asarray(fr_at, dtype=np.int64), np.asarray(fr_ns))
    out.mm_ns = mm
    out.free_ns = fr
    out.reclaimed_ids = np.asarray(rec_ids, dtype=np.int64)
    out.reclaimed_at = np.asarray(rec_at, dtype=np.int64)
    alive = np.asarray(rc[:m], dtype=np.int64) > 0
    return {"alive": alive, "stats": {
        "rc_increments": n_inc, "rc_decrements": n_dec + cascaded + cascade_decs,
        "destroyed": destroyed, "cascade_destroyed": cascaded,
        "never_destroyed": int(np.count_nonzero(alive & ~local)),
    }}
