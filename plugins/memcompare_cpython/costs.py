"""The cost table of the ``cpython`` model: simulated nanoseconds per CPython memory operation.

Every default comes from docs/runtimes.md §5 or is a stated assumption; all can be
overridden from TOML (``costs = { gc_scan_ns = 30 }``). The model counts what happened
(objects created and deallocated, reference-count updates, pools and arenas taken and given
back, containers a collection examined, garbage it freed) and this table prices it; it must not
decide anything itself.

Requests over 512 bytes go to glibc's ``malloc`` (``PyMem_RawMalloc``), simulated by the ``cpp``
model's allocator (memcompare_cpp/malloc.py). Its path prices are inherited from the ``cpp`` cost
table, field for field, so one glibc is priced the same under both models and every one of its
prices is overridable here too. ``mmap_ns``/``munmap_ns``/``page_fault_ns`` also price pymalloc's
arenas, which obmalloc maps and unmaps itself.

Anchors (docs/runtimes.md §5.2 / §5.3, CPython 3.11–3.13 on the reference VM):

- creating and destroying a small object costs ≈35–118 ns (``[]`` ≈35–42 ns, ``object()``
  ≈50 ns); §5.3 suggests 40 ns for "pymalloc alloc+free (+object init)";
- a non-atomic reference-count increment or decrement costs ≈0.5 ns (§5.2: an inc+dec pair
  ≈0.8–1.1 ns; §5.3: 0.5 ns each);
- a full collection costs ≈27–90 ns per live tracked container and ≈110–160 ns per cyclic-garbage
  object collected, its deallocation included.
"""
from __future__ import annotations

from dataclasses import dataclass

from memcompare import param
from memcompare_cpp.costs import Costs as GlibcCosts

_GLIBC = GlibcCosts()


@dataclass(frozen=True)
class Costs(GlibcCosts):
    """Nanoseconds per CPython memory operation (docs/runtimes.md §5), after glibc's."""

    # -- system calls, shared by glibc and pymalloc's own arenas (defaults: the cpp table's) --
    mmap_ns: float = param(
        _GLIBC.mmap_ns, "one mmap system call: a glibc chunk at or above the mmap threshold, or "
                        "a 1 MiB pymalloc arena (new_arena; assumption, as in the cpp table)",
        minimum=0)
    munmap_ns: float = param(
        _GLIBC.munmap_ns, "one munmap system call: freeing an mmapped glibc chunk, or a wholly "
                          "free pymalloc arena (insert_to_freepool; assumption, as in the cpp "
                          "table)", minimum=0)
    page_fault_ns: float = param(
        _GLIBC.page_fault_ns, "first touch of a 4 KiB page from the kernel: glibc heap growth, "
                              "an mmapped chunk, or each of the 4 pages of a pymalloc pool "
                              "carved from a fresh arena (measured, as in the cpp table)",
        minimum=0)
    # -- CPython --
    rc_ns: float = param(
        0.5, "one Py_INCREF or Py_DECREF, non-atomic (default build; §5.3: 0.5 ns; §5.2: an "
             "inc+dec pair ≈0.8–1.1 ns)", minimum=0)
    rc_biased_ns: float = param(
        0.7, "free-threaded build only: one Py_INCREF or Py_DECREF by the object's owning "
             "thread — biased reference counting (PEP 703) compares ob_tid with the thread's "
             "id, then updates ob_ref_local without an atomic (Include/object.h "
             "_Py_IsOwnedByCurrentThread; assumption: rc_ns plus a compare and a "
             "thread-local read). A trace runs on one thread, so every update is the owner's; "
             "deferred reference counting applies to functions, code, modules and types, not "
             "to trace objects", minimum=0)
    mi_alloc_ns: float = param(
        10.0, "free-threaded build only: mimalloc's fast path, a pop from the page's free "
              "list (assumption: as pymalloc_alloc_ns)", minimum=0)
    mi_free_ns: float = param(
        5.0, "free-threaded build only: mimalloc's free fast path, a push on the page's local "
             "free list (assumption: as pymalloc_free_ns)", minimum=0)
    mi_page_ns: float = param(
        100.0, "free-threaded build only: a fresh mimalloc page (mi_page_fresh: page init and "
               "free-list build; assumption: twice new_pool_ns); its slices' first touch pays "
               "page_fault_ns for each 4 KiB page", minimum=0)
    object_init_ns: float = param(
        15.0, "creating an object besides its memory: type call, header and slot "
              "initialisation, _PyObject_GC_Link (§5.3: 40 ns per pymalloc create+destroy; "
              "split 15 init + 10 pymalloc_alloc + 10 tp_dealloc + 5 pymalloc_free, the split "
              "an assumption)", minimum=0)
    pymalloc_alloc_ns: float = param(
        10.0, "pymalloc_alloc from a used pool: pop the pool's free block (§5.3's 40 ns pair, "
              "split as above)", minimum=0)
    dealloc_ns: float = param(
        10.0, "tp_dealloc of an object besides its memory and its slots' decrefs: untrack, "
              "tp_free (§5.3's 40 ns pair, split as above)", minimum=0)
    pymalloc_free_ns: float = param(
        5.0, "pymalloc_free into a pool that stays in use: push the block on the pool's free "
             "list (§5.3's 40 ns pair, split as above)", minimum=0)
    new_pool_ns: float = param(
        50.0, "allocate_from_new_pool: take a free pool from the fullest arena and initialise "
              "its header and free list (assumption: a few dozen instructions and a cache "
              "miss on the pool header); the first use of a freshly carved pool also pays "
              "page_fault_ns for each of its 4 pages", minimum=0)
    pool_free_ns: float = param(
        20.0, "insert_to_freepool: a pool became empty, unlink it and keep usable_arenas "
              "sorted (assumption: list surgery over a few arenas)", minimum=0)
    gc_fixed_ns: float = param(
        1000.0, "fixed cost of one cyclic collection: gc_collect_main's bookkeeping, "
                "callbacks, list merges, clearing free lists (assumption: ≈1 µs)", minimum=0)
    gc_scan_ns: float = param(
        50.0, "per tracked container a collection examines and finds reachable: update_refs, "
              "subtract_refs and move_unreachable each visit it (§5.2: ≈27–90 ns per live "
              "tracked container in a full collection)", minimum=0)
    gc_mark_ns: float = param(
        30.0, "3.14.0-3.14.4 only: per container the incremental collector's marking moves to "
              "the visited space (mark_at_start, mark_stacks: one tp_traverse and a list move; "
              "assumption: below gc_scan_ns, which visits each object three times)", minimum=0)
    gc_garbage_ns: float = param(
        135.0, "per cyclic-garbage object a collection frees, its scan, tp_clear and "
               "deallocation included (§5.2: ≈110–160 ns per object collected)", minimum=0)
