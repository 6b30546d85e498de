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
from memcompare.trace import FROM, INTO, SPEND, getrandbits_of, randbelow_of

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
        slots = p.lifetime_max + 1
        table = t.alloc(0, slots)
        free_slots = list(range(slots - 1, -1, -1))     # a stack: slot 0 is used first
        # the slots whose objects end at each step, by step modulo `slots` (no object lives
        # longer than lifetime_max steps); given back in (end step, slot) order
        ending: list[list[int]] = [[] for _ in range(slots)]
        take = free_slots.pop
        # objects of earlier blocks that end in a later one: their end steps and slots
        left_end = left_slot = np.zeros(0, dtype=np.int64)
        for s0 in range(0, p.steps, BLOCK):
            n = min(BLOCK, p.steps - s0)
            sizes, lives = draws(p, rng, n)
            # which slot of the table each step's object takes: the program's one sequential
            # part (a Python step per object); its table operations are put in order with numpy
            taken: list[int] = []
            for step, life in enumerate(lives, s0):
                slot = take()
                taken.append(slot)
                ending[(step + life) % slots].append(slot)
                due = ending[step % slots]
                if due:
                    if len(due) > 1:
                        due.sort()
                    free_slots += due
                    due.clear()
            slot = np.array(taken, dtype=np.int64)
            step = np.arange(s0, s0 + n, dtype=np.int64)
            end = np.concatenate([left_end, step + np.array(lives, dtype=np.int64)])
            held = np.concatenate([left_slot, slot])
            last = s0 + n == p.steps
            now = end < s0 + n if not last else np.ones(end.shape[0], dtype=bool)
            left_end, left_slot = end[~now], held[~now]
            end, held = end[now], held[now]
            ops = self._ops(step, slot, np.array(sizes, dtype=np.int64), end, held, p.work_ns)
            for lo in range(0, ops[0].shape[0], CALL):
                t.slot_ops(table, *(o[lo:lo + CALL] for o in ops))
        t.free(table)

    @staticmethod
    def _ops(step, slot, size, end, held, work):
        """The table operations of the steps ``step`` (their objects' slots and sizes) and the
        frees of the objects ``held`` in the slots ``held`` that end at ``end``, in the
        program's order: step s allocates into its slot (``t.alloc_into``), charges ``work``
        (``t.work``), then loads, nulls and frees (``t.free_from``) the objects that end at s in
        slot order; objects still held at the end are freed last, in (end step, slot) order.
        As ``Recorder.slot_ops`` arguments (kinds, slots, sizes, work)."""
        n, m = step.shape[0], end.shape[0]
        per = 2 if work else 1                  # operations per step before its frees
        kinds = np.empty(per * n + m, dtype=np.int64)
        where = np.zeros_like(kinds)
        sizes = np.zeros_like(kinds)
        # sort keys: (step, rank), rank 0 = INTO, 1 = SPEND, 2 + slot = FROM of that slot
        rank = np.zeros_like(kinds)
        kinds[:n], where[:n], sizes[:n] = INTO, slot, size
        if work:
            kinds[n:2 * n], rank[n:2 * n] = SPEND, 1
        kinds[per * n:], where[per * n:], rank[per * n:] = FROM, held, 2 + held
        order = np.lexsort((rank, np.concatenate([step] * per + [end])))
        kinds = kinds[order]
        return kinds, where[order], sizes[order], np.where(kinds == SPEND, work, 0)


#: steps drawn and laid out at a time
BLOCK = 4096
#: table operations per Recorder.slot_ops call (its temporaries are some 100 bytes each)
CALL = 16384


def draws(p: Params, rng: random.Random, steps: int) -> tuple[list[int], list[int]]:
    """The next ``steps`` steps' object sizes and lifetimes, drawn in the program's order:
    ``rng.random() < large_fraction`` chooses a large array (its size
    ``power_law_size(rng.random(), ...)``) or a small object (``rng.randint(small_min,
    small_max)``), then ``rng.randint(lifetime_min, lifetime_max)``; ``randint`` inlined where
    :func:`getrandbits_of` allows (the same numbers, without a Python call per number)."""
    small_span = p.small_max - p.small_min + 1
    life_span = p.lifetime_max - p.lifetime_min + 1
    large, lo, hi = p.large_fraction, p.large_min, p.large_max
    small_min, life_min = p.small_min, p.lifetime_min
    rand = rng.random
    sizes: list[int] = []
    lives: list[int] = []
    bits = getrandbits_of(rng)
    if bits is None:
        below = randbelow_of(rng)       # rng.randint(lo, hi) is lo + below(hi - lo + 1)
        for _ in range(steps):
            if rand() < large:
                sizes.append(power_law_size(rand(), lo, hi))
            else:
                sizes.append(small_min + below(small_span))
            lives.append(life_min + below(life_span))
        return sizes, lives
    ks, kl = small_span.bit_length(), life_span.bit_length()
    for _ in range(steps):
        if rand() < large:
            sizes.append(power_law_size(rand(), lo, hi))
        else:
            r = bits(ks)                # small_min + below(small_span), inline
            while r >= small_span:
                r = bits(ks)
            sizes.append(small_min + r)
        r = bits(kl)                    # life_min + below(life_span), inline
        while r >= life_span:
            r = bits(kl)
        lives.append(life_min + r)
    return sizes, lives


@hookimpl
def register_workloads(register):
    register(LargeObjects)
