"""Cheney's collector: copy what the registers reach into to-space, breadth first.

C. J. Cheney, "A nonrecursive list compacting algorithm", CACM 13(11):677–678, 1970. The
to-space itself is the queue: the roots are copied first, then a *scan* pointer walks the
copied objects in address order and copies every not-yet-forwarded object their slots refer
to, appending it at the *free* pointer. The collection ends when scan catches up with free.
No recursion and no stack — which is why a 200,000-node linked list costs nothing special.

Here the to-space is the list ``order`` (object ids in to-space address order), ``scan`` an
index into it, and ``forwarded`` the forwarding marks a real collector leaves in from-space
headers. The copy order is breadth-first: roots in register order, then each copied object's
slots in slot order. It decides object addresses (and, in a generational collector, which
objects overflow a full survivor space: see memcompare's jvm/young.py), so it is fixed here.

This module decides what survives and in which order; it does not price the work
(costs.py) nor decide when to collect (model.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Collection:
    """What one collection did, in the units costs.py prices."""

    registers: int = 0                   # registers scanned for roots
    copied_objects: int = 0
    copied_bytes: int = 0
    scanned_slots: int = 0               # pointer slots of copied objects scanned
    order: list = field(default_factory=list)        # copied ids, in to-space order
    reclaimed: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


def cheney(roots: list[int], flat: np.ndarray, slot_base: list[int], nslots: list[int],
           nobjects: int) -> tuple[list[int], int]:
    """Copy order of everything reachable from ``roots``, and the slots scanned.

    ``flat[slot_base[o] : slot_base[o] + nslots[o]]`` are object ``o``'s slots (``-1`` null).
    """
    forwarded = bytearray(nobjects)
    order: list[int] = []                # the to-space: `free` is len(order)
    for o in roots:                      # copy the roots, without scanning them yet
        if not forwarded[o]:
            forwarded[o] = 1
            order.append(o)
    scan = 0
    scanned = 0
    while scan < len(order):             # until scan catches up with free
        o = order[scan]
        scan += 1
        n = nslots[o]
        if n:
            scanned += n
            s = slot_base[o]
            for v in flat[s:s + n].tolist():
                if v >= 0 and not forwarded[v]:
                    forwarded[v] = 1
                    order.append(v)
    return order, scanned


def collect(roots: list[int], registers: int, flat: np.ndarray, slot_base: list[int],
            nslots: list[int], size: np.ndarray, resident: np.ndarray) -> Collection:
    """One collection of the from-space holding ``resident`` objects."""
    order, scanned = cheney(roots, flat, slot_base, nslots, int(size.shape[0]))
    copied = np.asarray(order, dtype=np.int64)
    survived = np.zeros(size.shape[0], dtype=bool)
    survived[copied] = True
    return Collection(registers=registers, copied_objects=len(order),
                      copied_bytes=int(size[copied].sum()), scanned_slots=scanned,
                      order=order, reclaimed=resident[~survived[resident]])
