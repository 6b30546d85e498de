"""queue-churn: a FIFO work queue whose items live a medium, seeded time.

The program it stands for is a server's pending-work queue — requests, jobs or messages enqueued
by a producer and retired in order by a consumer some time later (a linked ``std::queue`` of
nodes, a Go channel of pointers, a ``java.util.concurrent.LinkedBlockingQueue``). Items live for
*medium* times: long enough to survive a young collection, short enough to die soon after
being promoted — the lifetimes the weak generational hypothesis does not cover, so a generational
collector copies them and then collects them in the old generation (Jones, Hosking & Moss, "The
Garbage Collection Handbook", chapter 9, Generational garbage collection).

The queue is a singly linked list of items; its head and tail are registers (the queue's two
fields live in the program's frame). An item has ``size_min``..``size_max`` payload bytes (seeded)
and one slot, 0 = the next item. Each step enqueues one item, whose lifetime is drawn uniformly
from ``lifetime_min``..``lifetime_max`` steps, charges ``work_ns`` of computation, and then
dequeues and deletes items from the head while the head's time is up. An item whose time is up
waits behind an older item that is still live (head-of-line blocking), so an item lives at least
its drawn lifetime and at most ``lifetime_max`` steps. With ``lifetime_min = lifetime_max = L``
every item is deleted exactly ``L`` steps after it was enqueued. At the end the queue is drained.

Every random choice comes from ``rng``, never the global ``random`` module.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from memcompare import Recorder, Workload, hookimpl, param
from memcompare.trace import randints

NEXT = 0


@dataclass(frozen=True)
class Params:
    steps: int = param(20000, "items enqueued, one per step", minimum=1)
    lifetime_min: int = param(500, "shortest item lifetime, in steps", minimum=0)
    lifetime_max: int = param(1500, "longest item lifetime, in steps", minimum=0)
    size_min: int = param(32, "smallest item payload, bytes", minimum=0)
    size_max: int = param(256, "largest item payload, bytes", minimum=0)
    work_ns: int = param(100, "computation per step (producing and consuming one item), ns",
                         minimum=0)
    seed: int = param(1, "random seed of the item sizes and lifetimes")

    def __post_init__(self):
        if self.lifetime_max < self.lifetime_min:
            raise ValueError(f"lifetime_max ({self.lifetime_max}) must be >= lifetime_min "
                             f"({self.lifetime_min})")
        if self.size_max < self.size_min:
            raise ValueError(f"size_max ({self.size_max}) must be >= size_min ({self.size_min})")


class QueueChurn(Workload):
    """A FIFO work queue: items enqueued every step, dequeued when their medium lifetime ends."""

    name = "queue-churn"
    Params = Params

    def record(self, params: Params, t: Recorder, rng: random.Random) -> None:
        p = params
        # the program's decisions first: each step's item size and lifetime, drawn in that
        # order (randints gives the numbers of rng.randint, called step by step)
        draws = randints(rng, [p.size_min, p.lifetime_min], [p.size_max, p.lifetime_max],
                         p.steps)
        sizes, ends = draws[:, 0], np.arange(p.steps) + draws[:, 1]
        # an item is dequeued at the first step at or after its end at which every older item
        # has been dequeued (FIFO: it waits behind the head); those past the last step are
        # drained at the end
        leave = np.minimum(np.maximum.accumulate(ends), p.steps)
        pops = np.bincount(leave, minlength=p.steps + 1)
        # then the queue's events: per step, enqueue (alloc the item, link it after the tail),
        # work, dequeue (load the head's next, free the head) pops[step] times; see
        # Recorder.fifo for the calls it stands for
        t.fifo(sizes, pops, nslots=1, next_slot=NEXT, work=p.work_ns)


@hookimpl
def register_workloads(register):
    register(QueueChurn)
