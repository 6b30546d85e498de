"""The mutator's own cost of each event, shared by every model (docs/design.md §4).

Two models differ only by what their memory management adds; the program's own loads, stores,
register moves and computation cost the same under all of them. These are stated assumptions,
not measurements, and can be overridden from TOML (``[run.mutator_costs]``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import param
from .trace import ALLOC, CLEAR, FREE, LOAD, MOVE, STORE, WORK


@dataclass(frozen=True)
class MutatorCosts:
    """Nanoseconds of the program's own work per event, before any memory management."""

    load_ns: float = param(1.0, "a pointer load that hits in cache (≈4 cycles at ≈4 GHz; "
                                "assumption)", minimum=0)
    store_ns: float = param(1.0, "a pointer store that hits in cache (assumption)", minimum=0)
    move_ns: float = param(0.3, "a register-to-register reference copy (≈1 cycle; assumption)",
                           minimum=0)
    clear_ns: float = param(0.3, "setting a local to null (assumption)", minimum=0)
    alloc_ns: float = param(1.0, "the program's side of `new`: taking the result into a local "
                                 "(the allocator's work is the model's; assumption)", minimum=0)
    free_ns: float = param(0.0, "the program's side of `delete` (the deallocation itself is the "
                                "model's; zero so a batch of frees is one stall)", minimum=0)
    work_scale: float = param(1.0, "multiplier on WORK events' nanoseconds", minimum=0)
    alloc_ns_per_byte: float = param(
        0.0, "the program's initialisation of each allocated byte (payload + 8 × slots) beyond "
             "what the allocator zeroes: 0 by default, because every model's allocator prices "
             "its own zeroing; a calibrated replayer's table sets it (e.g. cpp-native "
             "value-initialises each object it news)", minimum=0)

    def per_event(self, op: np.ndarray, a: np.ndarray, b: np.ndarray | None = None,
                  c: np.ndarray | None = None) -> np.ndarray:
        """The mutator's cost of every event, in ns (vectorised); ``b`` and ``c`` (ALLOC's
        size and slots) are needed only when ``alloc_ns_per_byte`` is set."""
        table = np.zeros(7)
        table[ALLOC] = self.alloc_ns
        table[LOAD] = self.load_ns
        table[STORE] = self.store_ns
        table[MOVE] = self.move_ns
        table[CLEAR] = self.clear_ns
        table[FREE] = self.free_ns
        cost = table[op]
        work = op == WORK
        cost[work] = a[work] * self.work_scale
        if self.alloc_ns_per_byte:
            if b is None or c is None:
                raise ValueError("alloc_ns_per_byte needs the events' sizes and slot counts")
            alloc = op == ALLOC
            cost[alloc] += (b[alloc] + 8 * c[alloc]) * self.alloc_ns_per_byte
        return cost
