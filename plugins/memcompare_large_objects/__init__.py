"""large-objects: a stream of small objects with an occasional array of 64 KiB to 4 MiB.

The program it stands for handles requests that mostly allocate small records but now and then a
large buffer — an image, a file chunk, a serialised response, a column of numbers. Every runtime
treats such arrays apart from small objects: Go gives any object above 32 KiB its own span
(``maxSmallSize``, runtime/malloc.go), HotSpot's G1 puts an object of half a region or more in
"humongous" regions, glibc's ``malloc`` serves blocks above ``M_MMAP_THRESHOLD`` (128 KiB by
default, adjusted dynamically) with ``mmap``, and CPython's ``pymalloc`` passes anything above
512 bytes to ``malloc``. A few large arrays thus dominate the allocated volume while small
objects dominate the count — which is what drives collection triggers that count bytes.

Each step allocates one object: with probability ``large_fraction`` a large array of
``large_min``..``large_max`` bytes, drawn from a truncated power law with density proportional to
``1/size**2`` (most arrays near the minimum, a few of several MiB: about 270 KiB on average with
the defaults), otherwise a small object of ``small_min``..``small_max`` bytes (uniform). Neither
has pointer slots. Each object gets a lifetime of ``lifetime_min``..``lifetime_max`` steps
(uniform) and is kept in a table — an object with ``lifetime_max + 1`` slots, enough for every
object that can be alive at once — from which it is loaded, its slot nulled, and freed once its
lifetime is over; an object allocated at step ``k`` with lifetime ``L`` is freed at step ``k + L``,
after that step's allocation. ``work_ns`` is charged per step. At the end every object still
held, then the table, is freed.

Every random choice comes from ``rng``, never the global ``random`` module.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from memcompare import Recorder, Workload, hookimpl, param
from memcompare.trace import FROM, INTO, SPEND, randbelow_of

KiB = 1024
MiB = 1024 * KiB


def power_law_size(u: float, lo: int, hi: int) -> int:
    """The inverse CDF of the density ``c / s**2`` on ``[lo, hi]`` at ``u`` in ``[0, 1)``."""
    return int(1.0 / (1.0 / lo - u * (1.0 / lo - 1.0 / hi)))


@dataclass(frozen=True)
class Params:
    steps: int = param(12000, "objects allocated, one per step", minimum=1)
    large_fraction: float = param(0.02, "probability that an object is a large array "
                                        "(about 1 per 50 small objects)", minimum=0, maximum=1)
    large_min: int = param(64 * KiB, "smallest large array, bytes", minimum=1)
    large_max: int = param(4 * MiB, "largest large array, bytes", minimum=1)
    small_min: int = param(16, "smallest small object, bytes", minimum=0)
    small_max: int = param(256, "largest small object, bytes", minimum=0)
    lifetime_min: int = param(1, "shortest object lifetime, in steps", minimum=0)
    lifetime_max: int = param(400, "longest object lifetime, in steps", minimum=0)
    work_ns: int = param(100, "computation per step (handling one request), ns", minimum=0)
    seed: int = param(1, "random seed of the kinds, sizes and lifetimes")

    def __post_init__(self):
        for lo, hi in (("large_min", "large_max"), ("small_min", "small_max"),
                       ("lifetime_min", "lifetime_max")):
            if getattr(self, hi) < getattr(self, lo):
                raise ValueError(f"{hi} ({getattr(self, hi)}) must be >= {lo} "
                                 f"({getattr(self, lo)})")


class LargeObjects(Workload):
    """Many small objects with an occasional 64 KiB-4 MiB array, each with a seeded lifetime."""

    name = "large-objects"
    Params = Params

    def record(self, params: Params, t: Recorder, rng: random.Random) -> None:
        p = params
        below = randbelow_of(rng)       # rng.randint(lo, hi) is lo + below(hi - lo + 1)
        small_span = p.small_max - p.small_min + 1
        life_span = p.lifetime_max - p.lifetime_min + 1
        slots = p.lifetime_max + 1
        table = t.alloc(0, slots)
        free_slots = list(range(slots - 1, -1, -1))     # a stack: slot 0 is used first
        # the slots whose objects end at each step, by step modulo `slots` (no object lives
        # longer than lifetime_max steps); deleted in (end step, slot) order
        ending: list[list[int]] = [[] for _ in range(slots)]
        # the program's table operations as (kind, slot, size) triples, recorded a few
        # thousand at a time
        ops: list[int] = []

        def record_ops() -> None:
            kinds, where, sizes = np.array(ops, dtype=np.int64).reshape(-1, 3).T
            t.slot_ops(table, kinds, where, sizes, np.where(kinds == SPEND, p.work_ns, 0))
            ops.clear()

        large, lo, hi = p.large_fraction, p.large_min, p.large_max
        for step in range(p.steps):
            if rng.random() < large:
                size = power_law_size(rng.random(), lo, hi)
            else:
                size = p.small_min + below(small_span)
            life = p.lifetime_min + below(life_span)
            slot = free_slots.pop()
            if p.work_ns:               # alloc, store into the table, drop the local
                ops.extend((INTO, slot, size, SPEND, 0, 0))     # (t.alloc_into), t.work
            else:
                ops.extend((INTO, slot, size))
            ending[(step + life) % slots].append(slot)
            due = ending[step % slots]
            if due:
                due.sort()
                for slot in due:        # load it, null its slot, free it (t.free_from)
                    ops.extend((FROM, slot, 0))
                free_slots.extend(due)
                due.clear()
            if len(ops) >= 3 * 16384:
                record_ops()
        for k in range(1, slots):       # at the end, every object still held
            due = sorted(ending[(p.steps - 1 + k) % slots])
            for slot in due:
                ops.extend((FROM, slot, 0))
        record_ops()
        t.free(table)


@hookimpl
def register_workloads(register):
    register(LargeObjects)
