"""The program's heap at a collection: which object each register and slot refers to.

The roots of a trace are its registers (docs/design.md §3). A collection before event ``i`` needs
the registers and slots as events ``0 .. i-1`` left them; between two collections the events
only overwrite registers and slots, so each stretch is applied in one numpy step,
last writer wins (docs/simulator-speed.md §6.3) — no per-event Python loop.

Collector semantics: FREE only clears its register, like CLEAR (docs/design.md §3); death is found
by reachability. A ``local`` ALLOC is a plain ALLOC here: a semispace has no escape analysis.
"""
from __future__ import annotations

import numpy as np

from memcompare import Trace
from memcompare.trace import CLEAR, STORE, WORK


def last_write(target: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For writes in event order, the last value written to each distinct target."""
    target, value = target[::-1], value[::-1]
    unique, first = np.unique(target, return_index=True)
    return unique, value[first]


class HeapState:
    """Registers and the flat slot array (``trace.obj_slot_base`` indexes it), advanced in
    stretches of events."""

    def __init__(self, trace: Trace):
        self.trace = trace
        self.regs = np.full(max(trace.registers, 1), -1, dtype=np.int64)
        self.flat = np.full(int(trace.obj_nslots.sum()), -1, dtype=np.int64)
        self.pos = 0                 # events 0 .. pos-1 are applied

    def advance(self, upto: int) -> None:
        """Apply events ``pos .. upto-1``: the state just before event ``upto``."""
        t, s, e = self.trace, self.pos, upto
        if e <= s:
            return
        op = t.op[s:e]
        idx = np.arange(s, e)
        st = idx[op == STORE]
        if st.size:
            target, value = last_write(t.obj_slot_base[t.x[st]] + t.b[st], t.y[st])
            self.flat[target] = value
        # every op but STORE and WORK writes register a: ALLOC/LOAD/MOVE the object x
        # (a LOAD of a null slot writes null), CLEAR/FREE null
        w = idx[(op != STORE) & (op != WORK)]
        if w.size:
            value = np.where(t.op[w] >= CLEAR, -1, t.x[w])
            target, value = last_write(t.a[w], value)
            self.regs[target] = value
        self.pos = e

    def roots(self) -> list[int]:
        """The objects the registers refer to, in register order (duplicates included)."""
        r = self.regs
        return r[r >= 0].tolist()
