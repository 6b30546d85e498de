"""``cpp``: C++ new/delete over glibc's malloc (ptmalloc2), the manual-memory model.

What it models (glibc 2.36 malloc/malloc.c, 64-bit; docs/runtimes.md §4.1): ``new`` asks
malloc for payload + 8 × slots bytes, rounded to a chunk of ``max(32, (req + 8 + 15) & ~15)``
bytes; ``delete`` frees it at the trace's FREE, and an object the trace never frees is a leak.
Chunks live at simulated addresses in one brk heap, so fragmentation shows in the footprint:

- the thread's tcache (7 chunks per 16-byte class, chunks up to 1040 B) in front of everything;
- fastbins (chunks up to 128 B): LIFO, never coalesced until ``malloc_consolidate``, which a
  large-bin request, a large free or a failing small request triggers;
- the unsorted bin, exact-size small bins and size-sorted large bins, best fit with splitting,
  the last-remainder rule, and coalescing of free neighbours on every free;
- the top chunk, grown by sbrk (request + ``top_pad``, whole pages) and trimmed when its free
  tail reaches ``trim_threshold``;
- chunks of ``mmap_threshold`` and more that the heap cannot serve are mmapped (page-rounded,
  8 bytes more than a heap chunk) and unmapped on free, with glibc's dynamic threshold.

Footprint = heap extent (brk) + mmapped bytes. ``local`` objects are automatic variables: no
malloc, no footprint, no cost.

Two more choices (pools.py, ownership.py):

- ``allocator = "pool"``: a boost::pool per 8-byte size class (boost/pool/pool.hpp), its free
  list keeping freed chunks for that class forever, its blocks (32, 64, 128, ... chunks) from
  the glibc model; ``"arena"``: bump allocation in regions from glibc, a region given back when
  all its objects are dead; ``"bump"``: never freeing (cpp-native's collector-off baseline).
- ``ownership = "shared_ptr"``: every object from ``std::make_shared`` and every reference a
  ``std::shared_ptr`` (libstdc++ 12 bits/shared_ptr_base.h): copies increment, overwrites and
  CLEARs decrement (locked instructions once the process has a thread), zero destroys with a
  cascade over the object's slots, FREE is only a CLEAR, and a dead cycle leaks.

What it simplifies or leaves out:

- one thread, so the main arena only: no arena selection, locks or contention, no per-thread
  caches of other threads, no ``heap_trim`` of non-main arenas;
- the brk heap starts page-aligned at address 0 and sbrk always succeeds contiguously (no
  foreign sbrk, no mmap fallback for a failing brk, no address-space limit);
- the tie among free chunks of one size is FIFO (exact for small bins; glibc's large bins hand
  out the most recent chunk of a size after the first one);
- ``malloc_trim``, ``madvise``, transparent huge pages, ``realloc``/``memalign``, chunk
  contents, security checks and ``tcache_unsorted_limit`` (default 0: no limit) are not
  simulated; glibc's ``have_fastchunks`` flag is kept, ``MAX_ITERS`` too;
- costs are per path (costs.py), not per instruction; page faults are charged when the top
  chunk first hands out a page of new brk space, and for all pages of an mmapped chunk.
"""
from __future__ import annotations

from memcompare import hookimpl

from .costs import Costs
from .model import CppModel, Params

__all__ = ["CppModel", "Params", "Costs"]


@hookimpl
def register_models(register):
    register(CppModel)
