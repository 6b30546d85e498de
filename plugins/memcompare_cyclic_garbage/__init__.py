"""cyclic-garbage: short-lived structures with back-pointers that die as whole cycles.

The program it stands for builds small graphs whose objects point at each other — doubly linked
lists, parent/child links, rings of objects that observe one another — uses them briefly and drops
them whole. Every such structure dies as a cycle, which reference counting alone never reclaims:
CPython leaves it to its cycle collector (the CPython devguide, "Garbage collector design",
https://devguide.python.org/internals/garbage-collector/; Bacon & Rajan, "Concurrent Cycle
Collection in Reference Counted Systems", ECOOP 2001), while tracing collectors reclaim a dead
cycle like any other garbage and a C++ program deletes it node by node.

Two kinds of structure, chosen with probability ``list_fraction``:

- a doubly linked list of ``list_min``..``list_max`` nodes (seeded): slot 0 = next, slot 1 = prev,
  so every pair of neighbours is a two-object cycle;
- a ring of ``ring_min``..``ring_max`` nodes: slot 0 = next, the last node pointing back to the
  first; with probability ``self_loop`` one node's slot 1 points to itself (slot 1 is null
  otherwise).

Every node has ``node_bytes`` of payload and 2 slots. The program keeps the ``live`` most recent
structures, each held by one register (its first node); building a new one charges ``work_ns``
and drops the oldest. Dropping is the C++ delete of the whole structure: walk it (LOADs along
slot 0) holding a handle to every node, then FREE all of them consecutively — one batch, because
every node is still referenced by a neighbour that is freed in the same batch. At the end the
structures still held are dropped the same way, oldest first.

Every random choice comes from ``rng``, never the global ``random`` module.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from memcompare import Recorder, Workload, hookimpl, param
from memcompare.trace import randint_of

NEXT, PREV, SELF = 0, 1, 1


@dataclass(frozen=True)
class Params:
    structures: int = param(1600, "structures built and dropped", minimum=1)
    live: int = param(16, "most recent structures kept alive at once", minimum=0)
    list_fraction: float = param(0.5, "probability that a structure is a doubly linked list "
                                      "rather than a ring", minimum=0, maximum=1)
    list_min: int = param(2, "fewest nodes in a list", minimum=1)
    list_max: int = param(32, "most nodes in a list", minimum=1)
    ring_min: int = param(2, "fewest nodes in a ring", minimum=1)
    ring_max: int = param(8, "most nodes in a ring", minimum=1)
    self_loop: float = param(0.25, "probability that a ring has one node pointing to itself",
                             minimum=0, maximum=1)
    node_bytes: int = param(32, "payload bytes per node besides its 2 pointer slots", minimum=0)
    work_ns: int = param(200, "computation per structure (using it while it lives), ns",
                         minimum=0)
    seed: int = param(1, "random seed of the kinds, lengths and self-loops")

    def __post_init__(self):
        for lo, hi in (("list_min", "list_max"), ("ring_min", "ring_max")):
            if getattr(self, hi) < getattr(self, lo):
                raise ValueError(f"{hi} ({getattr(self, hi)}) must be >= {lo} "
                                 f"({getattr(self, lo)})")


class CyclicGarbage(Workload):
    """Doubly linked lists and small rings built, briefly kept, and dropped as dead cycles."""

    name = "cyclic-garbage"
    Params = Params

    def record(self, params: Params, t: Recorder, rng: random.Random) -> None:
        p = params
        randint = randint_of(rng)       # rng.randint, faster: the same numbers
        # the program's decisions first: each structure's kind, node count and self-loop
        lengths, is_list, loop_at = [], [], []
        for _ in range(p.structures):
            if rng.random() < p.list_fraction:
                lengths.append(randint(p.list_min, p.list_max))
                is_list.append(True)
                loop_at.append(-1)
            else:
                n = randint(p.ring_min, p.ring_max)
                lengths.append(n)
                is_list.append(False)
                loop_at.append(rng.randrange(n) if rng.random() < p.self_loop else -1)
        # then the events: build each structure (a list: alloc each node, link it to the one
        # before, both ways; a ring: the same one way, the last node back to the first, node
        # loop_at to itself), work, hold it, and once more than `live` are held delete the
        # oldest (walk it, free every node in one batch); at the end delete the rest, oldest
        # first. Recorder.chain_window records the alloc_chain / free_chain calls that says.
        is_ring = [not k for k in is_list]
        t.chain_window(lengths, p.node_bytes, 2, NEXT, live=p.live, back_slot=PREV,
                       back=is_list, self_slot=SELF, self_at=loop_at, close=is_ring,
                       work=p.work_ns)


@hookimpl
def register_workloads(register):
    register(CyclicGarbage)
