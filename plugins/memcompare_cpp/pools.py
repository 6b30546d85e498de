"""Where a C++ program's objects live, one object at a time: glibc malloc, a pool, an arena.

The ``cpp`` model's plain new/delete over glibc has its own loop with glibc's tcache paths
inline (model.py). Everything else — the ``pool`` and ``arena`` allocators, and every
allocator under ``ownership = "shared_ptr"`` (ownership.py) — takes objects through the
interface here: ``alloc(o, request, at) -> ns`` and ``free(o, at) -> ns`` for object ``o``
at event ``at``, ``size[o]`` the bytes the object takes, and the footprint appended to the
model's ``fp_at``/``fp_bytes`` as it changes.

- :class:`GlibcHeap`: ``malloc``/``free`` of glibc's main arena (malloc.py), whole calls.
- :class:`BumpHeap`: a never-freeing bump region made resident beforehand (the collector-off
  baseline of cpp-native).
- :class:`PoolHeap`: a pool per size class, as boost::pool lays one out (boost/pool/pool.hpp,
  simple_segregated_storage.hpp): a request is rounded up to its partition size (at least 8
  bytes, a multiple of 8: ``alloc_size``); each class keeps a free list of chunks (LIFO:
  ``free`` pushes on the front, ``malloc`` pops it); an empty list gets a new block of
  ``next_size`` chunks from malloc, 32 at first and twice as many each time (``next_size``
  32, ``set_next_size(next_size << 1)``), of ``next_size × partition + 16`` bytes (the block's
  trailing next-block pointer and size: ``malloc_need_resize``'s ``POD_size``), and threads
  every chunk of it onto the list at once (``segregate``, which writes a link into each
  chunk, so the whole block is touched). Freed chunks stay on their class's list for the
  life of the program: a pool never gives memory back (``release_memory``/``purge_memory``
  are never called) nor lends one class's chunks to another. Requests over ``pool_max_bytes``
  go to malloc (the object-pool design: pools for the small, numerous objects).
- :class:`RegionHeap`: an arena (region) allocator: objects are bump-allocated, 16-byte
  aligned (``alignof(std::max_align_t)``), in regions of ``region_kb`` KiB taken from malloc;
  a region is given back only when every object in it is dead and it is no longer the one
  being filled (a region freed all at once: Hanson, "Fast allocation and deallocation of
  memory based on object lifetimes", SP&E 1990; a live count per region). An object larger
  than a region gets a region of its own.

Pool blocks and regions come from the same glibc main arena model as everything else, so the
footprint (brk extent + mmapped chunks) and page faults are glibc's: a block carved from fresh
brk space is faulted in when handed out (malloc.py ``_from_top``), an mmapped one at once.
This module prices paths with the :class:`Costs` table; it computes no metric.
"""
from __future__ import annotations

from .malloc import Arena

#: boost/pool/pool.hpp: min_alloc_size = lcm(sizeof(void*), sizeof(size_type)) = 8 on x86-64,
#: min_align = lcm(alignof(void*), alignof(size_type)) = 8
POOL_MIN_ALLOC = 8
#: pool.hpp: the first block holds 32 chunks (nnext_size default), each next one twice as many
POOL_FIRST_CHUNKS = 32
#: malloc_need_resize: POD_size = next_size × partition + lcm(sizeof(size_type),
#: sizeof(void*)) + sizeof(size_type): the block's trailing pointer to the next block and size
POOL_BLOCK_TAIL = 8 + 8
#: alignof(std::max_align_t) on x86-64: what an arena aligns every object to
REGION_ALIGN = 16


def partition_size(request: int) -> int:
    """boost::pool ``alloc_size``: the request, at least 8 bytes, rounded up to 8."""
    s = max(request, POOL_MIN_ALLOC)
    return -(-s // POOL_MIN_ALLOC) * POOL_MIN_ALLOC


class GlibcHeap:
    """Objects as malloc(request) / free chunks of glibc's main arena."""

    def __init__(self, arena: Arena, n_obj: int):
        self.arena = arena
        self.addr = [0] * n_obj
        self.size = [0] * n_obj

    def alloc(self, o: int, request: int, at: int) -> float:
        a, size, ns = self.arena.libc_malloc(request, at)
        self.addr[o] = a
        self.size[o] = size
        return ns

    def free(self, o: int, at: int) -> float:
        return self.arena.libc_free(self.addr[o], self.size[o], at)

    def stats(self) -> dict[str, int]:
        return self.arena.stats()


class BumpHeap:
    """Bump allocation in 16-byte steps over memory made resident beforehand; never freed.
    The footprint is the whole region from the start (the replayer's MAP_POPULATE)."""

    def __init__(self, costs, n_obj: int, total: int, fp_at: list[int], fp_bytes: list[int]):
        self.c = costs
        self.size = [0] * n_obj
        fp_at.append(0)
        fp_bytes.append(total)

    def alloc(self, o: int, request: int, at: int) -> float:
        self.size[o] = -(-max(request, 1) // 16) * 16
        return self.c.bump_alloc_ns

    def free(self, o: int, at: int) -> float:
        return 0.0

    def stats(self) -> dict[str, int]:
        return {}


class PoolHeap:
    """One boost::pool per partition size, its blocks from glibc's malloc; larger requests go
    to malloc directly."""

    def __init__(self, arena: Arena, costs, n_obj: int, max_bytes: int):
        self.arena = arena
        self.c = costs
        self.max_bytes = max_bytes
        self.addr = [0] * n_obj
        self.size = [0] * n_obj
        self.big = bytearray(n_obj)         # served by malloc, not a pool
        self.free_list: dict[int, list[int]] = {}   # partition size -> chunks, top at the end
        self.next_size: dict[int, int] = {}
        self.blocks = 0
        self.block_bytes = 0
        self.pool_allocs = 0
        self.pool_frees = 0

    def alloc(self, o: int, request: int, at: int) -> float:
        c = self.c
        if request > self.max_bytes:
            self.big[o] = 1
            a, size, ns = self.arena.libc_malloc(request, at)
            self.addr[o] = a
            self.size[o] = size
            return ns
        p = partition_size(request)
        fl = self.free_list.get(p)
        ns = c.pool_alloc_ns
        if not fl:
            # malloc_need_resize: a block of next_size chunks, segregated into the free list
            n = self.next_size.get(p, POOL_FIRST_CHUNKS)
            nbytes = n * p + POOL_BLOCK_TAIL
            a, _, block_ns = self.arena.libc_malloc(nbytes, at)
            # the list's front (the end of this Python list) is the block's first chunk
            fl = self.free_list[p] = list(range(a + (n - 1) * p, a - 1, -p))
            self.next_size[p] = n << 1
            self.blocks += 1
            self.block_bytes += nbytes
            ns += block_ns + n * c.pool_segregate_ns
        self.addr[o] = fl.pop()
        self.size[o] = p
        self.pool_allocs += 1
        return ns

    def free(self, o: int, at: int) -> float:
        if self.big[o]:
            return self.arena.libc_free(self.addr[o], self.size[o], at)
        # simple_segregated_storage::free: the chunk goes on the front of its class's list
        self.free_list[self.size[o]].append(self.addr[o])
        self.pool_frees += 1
        return self.c.pool_free_ns

    def stats(self) -> dict[str, int]:
        return {**self.arena.stats(), "pool_classes": len(self.free_list),
                "pool_blocks": self.blocks, "pool_block_bytes": self.block_bytes,
                "pool_allocs": self.pool_allocs, "pool_frees": self.pool_frees,
                "pool_free_chunks_final": sum(len(v) for v in self.free_list.values())}


class RegionHeap:
    """Bump allocation in regions taken from malloc, each given back once all its objects
    are dead and it is no longer being filled."""

    def __init__(self, arena: Arena, costs, n_obj: int, region_bytes: int):
        self.arena = arena
        self.c = costs
        self.region_bytes = region_bytes
        self.size = [0] * n_obj
        self.oregion = [0] * n_obj
        self.r_addr: list[int] = []         # per region: its malloc chunk, size, live objects
        self.r_size: list[int] = []
        self.r_live: list[int] = []
        self.cur = -1                       # the region being filled
        self.top = 0                        # ... its next free byte and end
        self.end = 0
        self.regions = 0
        self.released = 0

    def _region(self, nbytes: int, at: int) -> tuple[int, float]:
        a, size, ns = self.arena.libc_malloc(nbytes, at)
        r = len(self.r_addr)
        self.r_addr.append(a)
        self.r_size.append(size)
        self.r_live.append(0)
        self.regions += 1
        return r, ns

    def _release(self, r: int, at: int) -> float:
        self.released += 1
        ns = self.arena.libc_free(self.r_addr[r], self.r_size[r], at)
        self.r_size[r] = 0
        return ns + self.c.region_release_ns

    def alloc(self, o: int, request: int, at: int) -> float:
        c = self.c
        size = -(-max(request, 1) // REGION_ALIGN) * REGION_ALIGN
        self.size[o] = size
        ns = c.bump_alloc_ns
        if size > self.region_bytes:
            # a region of its own, sized to the object
            r, rns = self._region(size, at)
            self.r_live[r] = 1
            self.oregion[o] = r
            return ns + rns
        if self.cur < 0 or self.top + size > self.end:
            old = self.cur
            r, rns = self._region(self.region_bytes, at)
            ns += rns
            self.cur = r
            self.top, self.end = 0, self.region_bytes
            if old >= 0 and self.r_live[old] == 0:
                ns += self._release(old, at)     # every object of the old region is dead
        self.top += size
        self.r_live[self.cur] += 1
        self.oregion[o] = self.cur
        return ns

    def free(self, o: int, at: int) -> float:
        r = self.oregion[o]
        left = self.r_live[r] - 1
        self.r_live[r] = left
        ns = self.c.region_free_ns
        if left == 0 and r != self.cur:
            ns += self._release(r, at)
        return ns

    def stats(self) -> dict[str, int]:
        return {**self.arena.stats(), "regions": self.regions, "regions_released": self.released,
                "regions_held_final": self.regions - self.released}

