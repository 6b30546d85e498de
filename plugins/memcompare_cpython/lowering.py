"""Lowering a trace to the ``cpython`` replay loop's stream of reference-count operations, and
removing from it the increments and decrements that cannot change anything measured.

The stream (model.py's docstring has its encoding) has one or two entries per event: the new
reference an event takes and the one it drops. Most of them are the walk of a program over
structures that stay alive: ``load`` a child, look at it, ``clear`` it. Such a Py_INCREF and its
Py_DECREF move a count that stays above zero in between, so they decide nothing — unless a
decrement inside the pair's window would otherwise have freed the object, or a collection runs
inside it and reads the count. This module finds, with numpy over the whole trace, pairs that
provably fall in neither case, and takes both entries out of the loop's stream
(reference/simulator-speed.md §6.2: everything the trace fixes is computed before the loop).

A register *interval* is the time a register holds one object: from the event that writes the
object into it (``alloc``, ``load``, ``move``) to the next event that writes that register (its
Py_DECREF of the object). ``L(o)``, the end of ``o``'s last interval, bounds its life from below:
an object that a register holds at event ``t`` is alive, and reachable from the registers, at
every event before ``t`` (nothing can reach an unreachable object again). Two kinds of pair are
dropped, each only while a *different* reference keeps the object's count at 1 or more:

- ``load rd, rs, k`` of object ``o`` from object ``h`` and the end of that interval, when slot
  ``k`` of ``h`` is not stored to until after the end and ``L(h)`` is later than the end
  (``h != o``): ``h`` is alive and its slot holds ``o`` throughout;
- ``store rs, k, rv`` of ``o`` into ``h`` and the end of ``rv``'s interval holding ``o`` (one
  store per interval, the last), under the same condition on ``h`` and its slot: the register's
  reference is handed over to the slot, and both hold ``o`` in between.

Inside a dropped pair's window the loop's count is one lower than CPython's and still at least
1 — the anchoring slot is never itself dropped, so a chain of pairs always ends at a reference
the loop counts — and every decrement that frees an object is the same, in the same place, and
so is every deallocation cascade, pool and arena operation. A collection reads counts
(``update_refs``): the loop adds the pairs open at that point back before it collects and takes
them off after (:class:`HiddenRefs`), so the collector sees CPython's counts exactly. Results
are identical to the byte with and without this pass (tests/test_cpython.py compares them); it
only saves the loop's time.

This module computes the stream; it decides nothing about memory and computes no metric.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memcompare import Trace
from memcompare.trace import ALLOC, CLEAR, FREE, LOAD, STORE, WORK


class HiddenRefs:
    """The references whose increment and decrement were dropped, for collections to restore.

    A pair is *open* at full-stream position ``P`` (every entry before ``P`` done) when its
    increment is before ``P`` and its decrement at ``P`` or later. Collections come in stream
    order, so the open set is kept between calls: each pair is added and removed once.
    """

    def __init__(self, start: np.ndarray, dec: np.ndarray, obj: np.ndarray):
        order = np.argsort(start, kind="stable")
        self.start, self.dec, self.obj = start[order], dec[order], obj[order]
        self._next = 0                        # pairs with start below the last P: already seen
        self._open = np.zeros(0, dtype=np.int64)   # indices of the pairs open at the last P

    @property
    def pairs(self) -> int:
        return int(self.start.size)

    def open_at(self, pos: int) -> list[int]:
        """The objects (one entry per hidden reference) of the pairs open at ``pos``."""
        hi = int(np.searchsorted(self.start, pos, side="left"))
        idx = np.concatenate((self._open, np.arange(self._next, hi, dtype=np.int64)))
        idx = idx[self.dec[idx] >= pos]
        self._open, self._next = idx, hi
        return self.obj[idx].tolist()


@dataclass
class Stream:
    """The loop's entries and what the loop needs to place them in the trace.

    Entries (model.py): ``~o`` a Py_DECREF of object ``o``; ``o`` in ``[0, n_obj)`` a
    Py_INCREF (a load, a move, or a store that takes its own reference); ``n_obj`` nothing; and
    ``n_obj + 1 + o`` the allocation of ``o``. Stores write no slot in the loop: a deallocation
    reads the slots of an object that is dead, which nothing can store into any more, so their
    final values (:attr:`final_slots`); a collection reads them as they were at its point in
    the stream (:meth:`slots_at`).
    """

    #: the entries, int64
    entries: np.ndarray
    #: for each ALLOC, in object order: the position of its entry in the full stream (one or
    #: two entries per event, before any is dropped), and the position just past its event
    alloc_pos: np.ndarray
    alloc_event_end: np.ndarray
    #: for each object (and the spare): the event of its last Py_DECREF (-1: never)
    last_dec: np.ndarray
    #: for each object: the index in ``entries`` of the Py_DECREF of what its ALLOC's register
    #: held, in the same event, or -1
    next_dec: np.ndarray
    #: every slot's value after the last event, flat (Trace.obj_slot_base)
    final_slots: np.ndarray
    #: stores by slot, then position: ``slot * span + position`` ascending, and the value
    store_keys: np.ndarray
    store_vals: np.ndarray
    span: int
    #: the dropped pairs, for collections to restore
    hidden: HiddenRefs

    def slots_at(self, idx: np.ndarray, pos: int) -> np.ndarray:
        """The values of flat slots ``idx`` with every full-stream entry before ``pos`` done:
        each slot's last store before ``pos``, or null."""
        keys = self.store_keys
        if idx.size == 0 or keys.size == 0:
            return np.full(idx.size, -1, dtype=np.int64)
        k = np.searchsorted(keys, idx * self.span + pos, side="left") - 1
        kk = np.maximum(k, 0)
        hit = (k >= 0) & (keys[kk] // self.span == idx)
        return np.where(hit, self.store_vals[kk], -1)


def lower(trace: Trace, sbase: np.ndarray, drop_pairs: bool = True) -> Stream:
    """The loop's stream for ``trace`` (``sbase``: each object's first flat slot, int64)."""
    n_obj = trace.objects
    n_ev = trace.events
    n_slots = int(trace.obj_nslots.sum())
    op = trace.op
    # int64 throughout: the trace's columns may be narrower (ids, slots and events fit int32)
    x = trace.x.astype(np.int64, copy=False)
    y = trace.y.astype(np.int64, copy=False)
    z = trace.z.astype(np.int64, copy=False)
    is_store = op == STORE
    is_alloc = op == ALLOC
    is_drop = (op == CLEAR) | (op == FREE)
    inc_end = n_obj + 1
    # -- the full stream: an event's own reference first, then the one its write overwrote --
    first = np.where(is_drop, ~x, x)      # loads and moves: x; a null load takes nothing
    first[is_store] = np.where(y[is_store] >= 0, y[is_store], n_obj)
    first[is_alloc] = inc_end + x[is_alloc]
    has_first = ~((op == WORK) | ((op == LOAD) & (x < 0)))
    has_second = (z >= 0) & ~is_drop
    per_event = has_first.astype(np.int64) + has_second
    start = np.cumsum(per_event) - per_event
    total = int(start[-1] + per_event[-1]) if n_ev else 0
    second_pos = start + has_first
    stream = np.empty(total, dtype=np.int64)
    stream[start[has_first]] = first[has_first]
    stream[second_pos[has_second]] = ~z[has_second]
    alloc_pos = start[is_alloc]
    alloc_event_end = (start + per_event)[is_alloc]
    # a cascade happens at the last Py_DECREF of the object that started it
    last_dec = np.full(n_obj + 1, -1, dtype=np.int64)
    dec_ev = np.flatnonzero(is_drop | has_second)
    dec_obj = np.where(is_drop[dec_ev], x[dec_ev], z[dec_ev])
    np.maximum.at(last_dec, dec_obj, dec_ev)
    # -- stores: by slot, then position (slot reconstruction, the next store to a slot) --
    st_ev = np.flatnonzero(is_store)
    st_slot = sbase[x[st_ev]] + trace.b[st_ev].astype(np.int64)
    st_order = np.argsort(st_slot, kind="stable")     # by slot, events ascending within
    s_slot = st_slot[st_order]
    span = total + 1
    store_keys = s_slot * span + start[st_ev[st_order]]
    store_vals = y[st_ev[st_order]]
    final_slots = np.full(n_slots, -1, dtype=np.int64)
    if s_slot.size:
        last = np.ones(s_slot.size, dtype=bool)
        last[:-1] = s_slot[1:] != s_slot[:-1]
        final_slots[s_slot[last]] = store_vals[last]

    keep = stream != n_obj                # WORK has no entry; a null store takes nothing
    h_start = h_dec = h_obj = np.zeros(0, dtype=np.int64)
    if drop_pairs and total:
        h_start, h_dec, h_obj = _pairs(
            op, x, y, z, trace.a, trace.c, n_ev, n_obj, sbase, start, second_pos,
            st_ev, st_slot, s_slot, st_ev[st_order])
        keep[h_start] = False
        keep[h_dec] = False
    entries = stream[keep]
    # 3.12+ scheduling: the decref that follows each ALLOC's entry in its own event
    next_dec = np.full(n_obj, -1, dtype=np.int64)
    with_dec = np.flatnonzero(is_alloc & has_second)
    pos = second_pos[with_dec]
    kept = keep[pos]
    index = np.cumsum(keep) - 1
    next_dec[x[with_dec[kept]]] = index[pos[kept]]
    return Stream(entries, alloc_pos, alloc_event_end, last_dec, next_dec, final_slots,
                  store_keys, store_vals, span, HiddenRefs(h_start, h_dec, h_obj))


def _pairs(op, x, y, z, a, c, n_ev, n_obj, sbase, start, second_pos, st_ev, st_slot,
           s_slot, s_ev):
    """The droppable pairs (module docstring): the full-stream positions of each pair's
    increment (a load's, or a store's) and decrement, and its object."""
    big = np.int64(n_ev + 1)
    # -- register intervals: every write of a register, and the next write of the same one --
    writes = np.flatnonzero((op != STORE) & (op != WORK))
    reg = a[writes]
    # a stable sort on 16-bit keys is a radix sort
    reg = reg.astype(np.uint16) if reg.size and int(reg.max()) < 65536 else reg
    order = np.argsort(reg, kind="stable")             # by register, events ascending
    w_sorted = writes[order]
    r_sorted = reg[order].astype(np.int64)
    nxt_sorted = np.full(w_sorted.size, n_ev, dtype=np.int64)
    same = r_sorted[1:] == r_sorted[:-1]
    nxt_sorted[:-1][same] = w_sorted[1:][same]
    nxt = np.empty_like(nxt_sorted)
    nxt[order] = nxt_sorted                            # by write, in event order
    w_op = op[writes]
    holds = (w_op != CLEAR) & (w_op != FREE) & (x[writes] >= 0)
    # L(o): the end of o's last interval (n_ev: still held at the end of the trace)
    last_held = np.full(n_obj, -1, dtype=np.int64)
    np.maximum.at(last_held, x[writes[holds]], nxt[holds])

    def dec_of(end: np.ndarray) -> np.ndarray:
        """The Py_DECREF entry of an interval ending at event ``end``: a clear's or free's own
        entry, else the second entry of the write that replaced the object."""
        e_op = op[end]
        return np.where((e_op == CLEAR) | (e_op == FREE), start[end], second_pos[end])

    def next_store(slot: np.ndarray, after: np.ndarray) -> np.ndarray:
        """The first store to each ``slot`` after event ``after`` (n_ev: none)."""
        if s_slot.size == 0:
            return np.full(slot.size, n_ev, dtype=np.int64)
        keys = s_slot * big + s_ev
        k = np.searchsorted(keys, slot * big + after, side="right")
        kk = np.minimum(k, keys.size - 1)
        hit = (k < keys.size) & (s_slot[kk] == slot)
        return np.where(hit, s_ev[kk], n_ev)

    # -- loads: the loaded slot holds the object, and its holder lives, until the end --
    li = np.flatnonzero((w_op == LOAD) & holds & (nxt < n_ev))
    ls = writes[li]
    end = nxt[li]
    h = y[ls]
    o = x[ls]
    slot = sbase[h] + c[ls]                            # load rd, rs, slot: c is the slot
    ok = (h != o) & (last_held[h] > end) & (next_store(slot, ls) > end)
    dropped = np.zeros(writes.size, dtype=bool)
    dropped[li[ok]] = True
    p_start = start[ls[ok]]
    p_dec = dec_of(end[ok])
    p_obj = o[ok]
    # -- stores: the register's reference handed over to the slot --
    sv = y[st_ev]
    s_idx = np.flatnonzero(sv >= 0)
    se = st_ev[s_idx]
    v = sv[s_idx]
    rv = c[se].astype(np.int64)
    # the write of register rv that put the value there: rv's last write before the store
    keys = r_sorted * big + w_sorted
    k = np.searchsorted(keys, rv * big + se, side="left") - 1
    wi = order[np.maximum(k, 0)]                       # that write, by event order
    end = nxt[wi]
    hs = x[se]
    ok = (k >= 0) & (r_sorted[np.maximum(k, 0)] == rv) & (end < n_ev) & ~dropped[wi]
    ok &= (hs != v) & (last_held[hs] > end)
    ok &= next_store(st_slot[s_idx], se) > end
    cand = np.flatnonzero(ok)
    # one store per interval: the last
    rev = cand[::-1]
    _, firsts = np.unique(wi[rev], return_index=True)
    chosen = rev[firsts]
    h_start = np.concatenate((p_start, start[se[chosen]]))
    h_dec = np.concatenate((p_dec, dec_of(end[chosen])))
    h_obj = np.concatenate((p_obj, v[chosen]))
    return h_start, h_dec, h_obj
