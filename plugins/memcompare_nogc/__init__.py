"""``nogc``: bump allocation that never reclaims — the lower bound of memory-management cost.

It stands for MMTk's NoGC plan and the JVM's Epsilon collector (JEP 318, ``-XX:+UseEpsilonGC``):
allocation is a pointer bump in one contiguous region, nothing is ever freed, so its footprint is
everything the program ever allocated. With ``heap_mb`` it runs out, like Epsilon with ``-Xmx``,
and the cell ends with status ``oom`` — the baseline of time–space curves.

There is no per-event loop: a bump allocator's every number is a cumulative sum.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memcompare import Model, Output, Trace, hookimpl, param
from memcompare.errors import OutOfMemory


@dataclass(frozen=True)
class Params:
    heap_mb: float | None = param(None, "heap limit in MiB (Epsilon's -Xmx); absent = no limit",
                                  minimum=0)
    header_bytes: int = param(0, "per-object header in bytes (0: the baseline charges no layout "
                                 "overhead; 12 for a JVM-like Epsilon)", minimum=0)
    alignment: int = param(8, "object alignment in bytes (HotSpot ObjectAlignmentInBytes = 8, "
                              "docs/runtimes.md §2.5)", minimum=1)


@dataclass(frozen=True)
class Costs:
    alloc_ns: float = param(3.0, "bump/TLAB allocation per object (docs/runtimes.md §5.3: "
                                 "≈3 ns, Goetz 2005; Shipilëv TLAB quark)", minimum=0)
    zero_ns_per_byte: float = param(0.05, "zeroing per allocated byte (docs/runtimes.md "
                                          "§5.3)", minimum=0)


class NoGC(Model):
    """Bump allocation, never reclaims (MMTk NoGC, JVM Epsilon): the cost lower bound."""

    name = "nogc"
    Params = Params
    Costs = Costs
    heap_param = "heap_mb"
    reclaims = False
    heap_granule_mb = 1 / 64         # bisect to 16 KiB: the baseline's heaps can be tiny

    def run(self, trace: Trace, out: Output) -> None:
        p, c = self.params, self.costs
        align = p.alignment
        size = (p.header_bytes + trace.obj_bytes + align - 1) // align * align
        top = np.cumsum(size)
        alloc_at = trace.obj_alloc_at
        if p.heap_mb is not None:
            limit = int(p.heap_mb * (1 << 20))
            over = np.flatnonzero(top > limit)
            if over.size:
                k = int(over[0])
                raise OutOfMemory(f"heap of {limit} bytes exhausted: object {k} needs "
                                  f"{int(size[k])} bytes with {int(top[k] - size[k])} in use",
                                  index=int(alloc_at[k]))
        mm = np.zeros(trace.events)
        mm[alloc_at] = c.alloc_ns + c.zero_ns_per_byte * size
        out.mm_ns = mm
        out.allocated_bytes = int(top[-1]) if top.size else 0
        # arrays, not lists: a Python int per object would cost ~32 bytes each
        out.fp_at = np.concatenate(([0], alloc_at)).astype(np.int64, copy=False)
        out.fp_bytes = np.concatenate(([0], top)).astype(np.int64, copy=False)
        out.stats["objects"] = int(size.size)
        self._size = size

    def held(self):
        return np.arange(self._size.size, dtype=np.int64), self._size


@hookimpl
def register_models(register):
    register(NoGC)
