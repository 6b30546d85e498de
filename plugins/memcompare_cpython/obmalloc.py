"""pymalloc (Objects/obmalloc.c, 64-bit, CPython 3.10+): size classes, pools, arenas.

The rules, each from obmalloc.c (3.11–3.13; the functions are the same in all three) and
Include/internal/pycore_obmalloc.h, with the figures of docs/runtimes.md §3.4:

- a request of 1..512 bytes (``SMALL_REQUEST_THRESHOLD``) is served from size class
  ``(nbytes - 1) >> 4`` (``ALIGNMENT`` 16 → 32 classes of 16..512 bytes); anything larger goes to
  ``PyMem_RawMalloc``, i.e. glibc's malloc (the model's business, not this module's);
- blocks of one class come from a 16 KiB pool (``POOL_SIZE``, ``USE_LARGE_POOLS``) whose 48-byte
  header (``POOL_OVERHEAD``) leaves ⌊(16384 − 48) / size⌋ blocks;
- pools come from 1 MiB arenas (``ARENA_SIZE``, ``USE_LARGE_ARENAS``) that obmalloc maps itself
  (``_PyObject_ArenaMmap``); an arena whose address is not pool-aligned loses one pool, which
  ``sys._debugmallocstats`` reports as "bytes lost to arena alignment = 16384" per arena
  (docs/runtimes.md §3.4), so an arena holds 63 pools;
- ``pymalloc_alloc`` takes a block from the first pool of ``usedpools[class]``; a pool that fills
  up leaves the list (``pymalloc_pool_extend``); with no used pool, ``allocate_from_new_pool``
  takes a pool from the head of ``usable_arenas`` — a cached free pool first, else the next
  never-used one — after ``new_arena`` when no arena has a free pool;
- ``pymalloc_free``: a pool that was full goes back to the *front* of its used list
  (``insert_to_usedpool``); a pool that becomes empty goes to its arena's ``freepools``
  (``insert_to_freepool``), which keeps ``usable_arenas`` sorted by ascending free pools so the
  fullest arena is used first and emptier ones can drain; an arena is unmapped only when every
  pool in it is free, and not when it is the last in ``usable_arenas`` — so one wholly free arena
  is kept (bpo-37257, since 3.9).

Pools are identified by integers: ``0..31`` are the list heads of ``usedpools`` (one per class,
a circular doubly linked list through ``pnext``/``pprev`` like obmalloc's own), and arena slot
``a`` holds pools ``32 + 64·a + k``. Blocks are not simulated one by one: which block of a pool
is handed out decides nothing memcompare measures, how many are in use (``pcount``, obmalloc's
``ref.count``) decides when a pool fills or empties.

The model's replay loop inlines the fast paths of :meth:`malloc` and :meth:`free` over these
lists; this module is the whole of both and every slow path. It prices paths with the model's
cost table and reports arena count changes through a callback; it computes no metric.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

ALIGNMENT_SHIFT = 4                  # pycore_obmalloc.h: ALIGNMENT 16 on 64-bit
ALIGNMENT = 1 << ALIGNMENT_SHIFT
SMALL_REQUEST_THRESHOLD = 512        # pycore_obmalloc.h
NB_SMALL_SIZE_CLASSES = SMALL_REQUEST_THRESHOLD // ALIGNMENT     # 32
POOL_SIZE = 16 * 1024                # pycore_obmalloc.h: USE_LARGE_POOLS (3.10+, 64-bit)
ARENA_SIZE = 1024 * 1024             # pycore_obmalloc.h: USE_LARGE_ARENAS (3.10+, 64-bit)
POOL_OVERHEAD = 48                   # sizeof(struct pool_header) rounded up to ALIGNMENT
MAX_POOLS_IN_ARENA = ARENA_SIZE // POOL_SIZE                     # 64
#: one pool lost to arena alignment (docs/runtimes.md §3.4: "bytes lost to arena alignment = 16384
#: per arena" in sys._debugmallocstats of 3.10–3.13)
POOLS_PER_ARENA = MAX_POOLS_IN_ARENA - 1
PAGE = 4096
PAGES_PER_POOL = POOL_SIZE // PAGE
#: pool ids start after the usedpools list heads
FIRST_POOL = NB_SMALL_SIZE_CLASSES


def size_class(nbytes: np.ndarray) -> np.ndarray:
    """pymalloc_alloc's ``size = (nbytes - 1) >> ALIGNMENT_SHIFT`` for 1..512 bytes; -1 for a
    request pymalloc declines (over ``SMALL_REQUEST_THRESHOLD``, or 0) and glibc serves."""
    nbytes = np.asarray(nbytes, dtype=np.int64)
    small = (nbytes >= 1) & (nbytes <= SMALL_REQUEST_THRESHOLD)
    return np.where(small, (nbytes - 1) >> ALIGNMENT_SHIFT, -1)


def block_size(szidx: int) -> int:
    """obmalloc.c ``INDEX2SIZE``: the block size of size class ``szidx``."""
    return (szidx + 1) << ALIGNMENT_SHIFT


def blocks_per_pool(szidx: int) -> int:
    """Blocks in one pool of class ``szidx``: pymalloc_pool_extend carves blocks from
    POOL_OVERHEAD while one more fits (``nextoffset <= maxnextoffset = POOL_SIZE - size``)."""
    return (POOL_SIZE - POOL_OVERHEAD) // block_size(szidx)


class Obmalloc:
    """pymalloc's pools and arenas. :meth:`malloc`/:meth:`free` return their cost beyond the
    fast path (the model prices the fast path itself); ``on_arenas(at)`` is called whenever the
    number of mapped arenas or of the pools carved in them (``carved_total``) changes."""

    def __init__(self, costs, on_arenas: Callable[[int], None]):
        self.c = costs
        self.on_arenas = on_arenas
        heads = list(range(NB_SMALL_SIZE_CLASSES))
        # -- pools (ids: see module docstring); the first 32 entries are the usedpools heads --
        self.pnext: list[int] = list(heads)       # an empty used list points to its own head
        self.pprev: list[int] = list(heads)
        self.pcount: list[int] = [0] * NB_SMALL_SIZE_CLASSES     # blocks in use (ref.count)
        self.pcap: list[int] = [0] * NB_SMALL_SIZE_CLASSES       # blocks the pool holds
        self.pcls: list[int] = list(heads)                       # the pool's size class
        self.caps = [blocks_per_pool(k) for k in heads]
        # -- arenas by slot (obmalloc's allarenas[]); slots are reused last-freed first --
        self.nfree: list[int] = []                # nfreepools
        self.freepools: list[list[int]] = []      # cached empty pools, most recent last
        self.carved: list[int] = []               # pools handed out since the arena was mapped
        self.usable: list[int] = []               # usable_arenas, head first
        self.unused: list[int] = []               # unused_arena_objects
        self.narenas = 0                          # narenas_currently_allocated
        #: pools carved in the mapped arenas: the arenas' resident part. new_arena maps ARENA_SIZE
        #: bytes, but allocate_from_new_pool carves pools one by one from pool_address
        #: ("Carve off a new pool", obmalloc.c), so a pool's pages are first written when it is
        #: carved and stay resident until the arena is unmapped; the rest of the mapping is
        #: never touched (by this rule an arena with one pool in use holds 16 KiB, not 1 MiB)
        self.carved_total = 0
        # -- counters (stats) --
        self.arenas_mapped = 0
        self.arenas_unmapped = 0
        self.arenas_peak = 0
        self.pools_carved = 0
        self.pools_initialised = 0
        self.pools_emptied = 0

    # -- pymalloc_alloc -----------------------------------------------------------------------
    def malloc(self, szidx: int, at: int) -> tuple[int, float]:
        """pymalloc_alloc of a block of class ``szidx`` at event ``at``: the pool it came from,
        and the cost beyond the fast path."""
        pool = self.pnext[szidx]
        if pool != szidx:
            # "There is a used pool for this size class": pop its head block
            n = self.pcount[pool] + 1
            self.pcount[pool] = n
            if n == self.pcap[pool]:
                self._unlink_full(pool, szidx)
            return pool, 0.0
        return self.allocate_from_new_pool(szidx, at)

    def _unlink_full(self, pool: int, szidx: int) -> None:
        """pymalloc_pool_extend: "Pool is full, unlink from used pools" (it is the head)."""
        nxt = self.pnext[pool]
        self.pnext[szidx] = nxt
        self.pprev[nxt] = szidx

    def allocate_from_new_pool(self, szidx: int, at: int) -> tuple[int, float]:
        """obmalloc.c allocate_from_new_pool: no used pool of this class, so take a pool from the
        arena at the head of usable_arenas (the one with the fewest free pools)."""
        c = self.c
        ns = c.new_pool_ns
        usable = self.usable
        if not usable:
            ns += self._new_arena(at)          # "No arena has a free pool: allocate a new arena"
        a = usable[0]
        cached = self.freepools[a]
        if cached:
            pool = cached.pop()                # "Try to get a cached free pool"
        else:
            k = self.carved[a]                 # "Carve off a new pool"
            self.carved[a] = k + 1
            pool = FIRST_POOL + a * MAX_POOLS_IN_ARENA + k
            self.pools_carved += 1
            self.carved_total += 1
            ns += PAGES_PER_POOL * c.page_fault_ns   # first touch of the pool's pages
            self.on_arenas(at)
        left = self.nfree[a] - 1
        self.nfree[a] = left
        if left == 0:
            usable.pop(0)                      # "Wholly allocated: remove"
        # the head keeps the smallest nfreepools after the decrement: no re-sorting needed.
        # "Frontlink to used pools": the class had none, so this pool is the only one
        self.pcap[pool] = self.caps[szidx]
        self.pcls[pool] = szidx                # pool->szidx
        self.pcount[pool] = 1
        self.pnext[pool] = szidx
        self.pprev[pool] = szidx
        self.pnext[szidx] = pool
        self.pprev[szidx] = pool
        self.pools_initialised += 1
        return pool, ns

    def _new_arena(self, at: int) -> float:
        """obmalloc.c new_arena: map ARENA_SIZE bytes; usable_arenas was empty."""
        if self.unused:
            a = self.unused.pop()
            self.nfree[a] = POOLS_PER_ARENA
            self.freepools[a] = []             # a fresh mapping: nothing cached, nothing carved
            self.carved[a] = 0
        else:
            a = len(self.nfree)
            self.nfree.append(POOLS_PER_ARENA)
            self.freepools.append([])
            self.carved.append(0)
            grow = MAX_POOLS_IN_ARENA
            self.pnext.extend([0] * grow)
            self.pprev.extend([0] * grow)
            self.pcount.extend([0] * grow)
            self.pcap.extend([0] * grow)
            self.pcls.extend([0] * grow)
        self.usable.append(a)
        self.narenas += 1
        self.arenas_mapped += 1
        self.arenas_peak = max(self.arenas_peak, self.narenas)
        self.on_arenas(at)
        return self.c.mmap_ns

    # -- pymalloc_free ------------------------------------------------------------------------
    def free(self, pool: int, at: int) -> float:
        """pymalloc_free of a block in ``pool`` at event ``at``; returns the cost beyond the
        fast path."""
        n = self.pcount[pool]
        if n == self.pcap[pool]:
            self.insert_to_usedpool(pool, self.pcls[pool])   # "Pool was full"
        n -= 1
        self.pcount[pool] = n
        if n:
            return 0.0                             # "pool isn't empty: leave it in usedpools"
        return self.insert_to_freepool(pool, at)

    def insert_to_usedpool(self, pool: int, szidx: int) -> None:
        """A full pool got a free block: link it at the front of usedpools[szidx], so it is the
        next to allocate from ("This mimics LRU pool usage for new allocations")."""
        pnext, pprev = self.pnext, self.pprev
        nxt = pnext[szidx]
        pnext[pool] = nxt
        pprev[pool] = szidx
        pprev[nxt] = pool
        pnext[szidx] = pool

    def insert_to_freepool(self, pool: int, at: int) -> float:
        """obmalloc.c insert_to_freepool: ``pool`` just became empty. Returns the cost."""
        c = self.c
        pnext, pprev = self.pnext, self.pprev
        nxt, prv = pnext[pool], pprev[pool]
        pnext[prv] = nxt
        pprev[nxt] = prv
        a = (pool - FIRST_POOL) // MAX_POOLS_IN_ARENA
        self.freepools[a].append(pool)
        self.pools_emptied += 1
        nf_old = self.nfree[a]
        nf = nf_old + 1
        self.nfree[a] = nf
        usable = self.usable
        if nf == 1:
            # Case 2: the arena was wholly allocated, so not on usable_arenas: put it at the head
            usable.insert(0, a)
            return c.pool_free_ns
        j = usable.index(a)
        if nf == POOLS_PER_ARENA and j + 1 < len(usable):
            # Case 1: every pool is free and the arena is not the last on usable_arenas:
            # give it back to the system (the last one is kept "to avoid thrashing", bpo-37257)
            del usable[j]
            self.unused.append(a)
            self.narenas -= 1
            self.arenas_unmapped += 1
            self.carved_total -= self.carved[a]
            self.on_arenas(at)
            return c.pool_free_ns + c.munmap_ns
        # Cases 3 and 4: keep usable_arenas sorted by nfreepools — the arena moves right past
        # the other arenas that had nf_old free pools (behind nfp2lasta[nf_old]), if any
        del usable[j]
        nfree = self.nfree
        k = j
        while k < len(usable) and nfree[usable[k]] == nf_old:
            k += 1
        usable.insert(k, a)
        return c.pool_free_ns

    # -- inspection (tests, stats) ------------------------------------------------------------
    def pools_in_use(self) -> int:
        """Pools holding at least one block."""
        return sum(1 for n in self.pcount[FIRST_POOL:] if n)

    def stats(self) -> dict[str, int]:
        return {
            "arenas_mapped": self.arenas_mapped, "arenas_unmapped": self.arenas_unmapped,
            "arenas_peak": self.arenas_peak, "arenas_final": self.narenas,
            "pools_carved": self.pools_carved, "pools_initialised": self.pools_initialised,
            "pools_emptied": self.pools_emptied,
        }
