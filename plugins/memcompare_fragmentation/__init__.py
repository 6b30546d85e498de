"""fragmentation: mixed small and large blocks, every other one freed, then bigger requests.

A synthetic program — the classic pattern for exposing *external fragmentation* (Wilson,
Johnstone, Neely & Boles, "Dynamic Storage Allocation: A Survey and Critical Review", IWMM 1995;
Johnstone & Wilson, "The Memory Fragmentation Problem: Solved?", ISMM 1998). It stands for
a long-running program that interleaves small records with kilobyte buffers and frees them in an
order unrelated to their addresses: the free memory ends up in holes between survivors, and a
later, bigger request fits none of them. A non-moving allocator (C++'s ``malloc``, Go's spans)
must take fresh memory for it; a compacting collector slides the survivors together.

Each of ``rounds`` rounds:

1. allocates ``count`` blocks, interleaved: each is *large* (``large_min``..``large_max`` bytes)
   with probability ``large_fraction`` and *small* (``small_min``..``small_max``) otherwise;
2. frees every other one of them (the 2nd, 4th, ... in allocation order), leaving holes no
   bigger than ``large_max`` between the survivors;
3. allocates ``big_count`` blocks of ``big_min_factor``..``big_max_factor`` × ``large_max``
   bytes — at least twice the largest hole, so none fits one;
4. frees the rest: the survivors of step 1, then the big blocks.

Blocks are byte buffers (no pointer slots) held in one table, an object with
``count + big_count`` slots that lives for the whole run, like the vector of pointers the program
keeps: a block is stored into its slot when allocated and loaded, its slot nulled, and then freed
when deleted. ``work_ns`` of computation is charged per block allocated. Sizes are drawn from
``rng``, never from the global ``random`` module.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from memcompare import Recorder, Workload, hookimpl, param
from memcompare.trace import FROM, INTO, randint_of


@dataclass(frozen=True)
class Params:
    rounds: int = param(10, "rounds of fill, free every other, big requests, free the rest",
                        minimum=1)
    count: int = param(1000, "interleaved small and large blocks allocated per round", minimum=1)
    large_fraction: float = param(0.5, "probability that an interleaved block is large",
                                  minimum=0, maximum=1)
    small_min: int = param(16, "smallest small block, bytes", minimum=0)
    small_max: int = param(128, "largest small block, bytes", minimum=0)
    large_min: int = param(1024, "smallest large block, bytes", minimum=0)
    large_max: int = param(16384, "largest large block, bytes", minimum=0)
    big_count: int = param(100, "big requests per round, after the holes are made", minimum=0)
    big_min_factor: float = param(2.0, "smallest big request, as a multiple of large_max",
                                  minimum=1)
    big_max_factor: float = param(4.0, "largest big request, as a multiple of large_max",
                                  minimum=1)
    work_ns: int = param(50, "computation per block allocated (filling it), ns", minimum=0)
    seed: int = param(1, "random seed of the sizes")

    def __post_init__(self):
        for lo, hi in (("small_min", "small_max"), ("large_min", "large_max"),
                       ("big_min_factor", "big_max_factor")):
            if getattr(self, hi) < getattr(self, lo):
                raise ValueError(f"{hi} ({getattr(self, hi)}) must be >= {lo} "
                                 f"({getattr(self, lo)})")


class Fragmentation(Workload):
    """Interleaved small and large blocks, every other one freed, then requests no hole fits."""

    name = "fragmentation"
    Params = Params

    def record(self, params: Params, t: Recorder, rng: random.Random) -> None:
        p = params
        randint = randint_of(rng)        # rng.randint, faster: the same numbers
        table = t.alloc(0, p.count + p.big_count)
        big_lo = int(p.big_min_factor * p.large_max)
        big_hi = int(p.big_max_factor * p.large_max)

        kinds: list[int] = []       # a round's table operations, recorded in one call
        slots: list[int] = []
        sizes: list[int] = []

        def put(slot: int, size: int) -> None:
            # alloc, work, store into the table, drop the local (t.alloc_into)
            kinds.append(INTO)
            slots.append(slot)
            sizes.append(size)

        def delete(slot: int) -> None:
            # load from the table, null the slot, free (t.free_from)
            kinds.append(FROM)
            slots.append(slot)
            sizes.append(0)

        for _ in range(p.rounds):
            for i in range(p.count):
                if rng.random() < p.large_fraction:
                    put(i, randint(p.large_min, p.large_max))
                else:
                    put(i, randint(p.small_min, p.small_max))
            for i in range(1, p.count, 2):
                delete(i)
            for j in range(p.big_count):
                put(p.count + j, randint(big_lo, big_hi))
            for i in range(0, p.count, 2):
                delete(i)
            for j in range(p.big_count):
                delete(p.count + j)
            t.slot_ops(table, kinds, slots, sizes, p.work_ns)     # the round's operations
            kinds.clear()
            slots.clear()
            sizes.clear()
        t.free(table)


@hookimpl
def register_workloads(register):
    register(Fragmentation)
