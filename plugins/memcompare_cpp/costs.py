"""The cost table of the ``cpp`` model: simulated nanoseconds per glibc malloc/free path.

Every default either comes from docs/runtimes.md §5 or is a stated assumption; all can be
overridden from TOML (``costs = { sbrk_ns = 800 }``). The model counts which path each ``new`` and
``delete`` took (malloc.py) and this table prices the path; it must not decide any path itself.

Anchors (docs/runtimes.md §5.2, glibc 2.36 on the reference VM):

- a malloc+free pair that hits the tcache costs ≈10–17 ns; §5.3 suggests 15 ns per pair;
- 1000 allocations then 1000 frees cost ≈15 ns per pair for 16–64 B (tcache + fastbins) and
  ≈50 ns per pair for 256 B (the bin path: coalescing on free, unsorted scan on malloc);
- §5.3: 50–300 ns on the bin / large paths (gperftools' ≈300 ns ptmalloc2 pair, 2005).

System calls and page faults have no figure in docs/runtimes.md; their defaults are assumptions for a
Linux x86-64 virtual machine, stated in each field's doc.
"""
from __future__ import annotations

from dataclasses import dataclass

from memcompare import param


@dataclass(frozen=True)
class Costs:
    """Nanoseconds per glibc malloc/free path (docs/runtimes.md §5)."""

    tcache_get_ns: float = param(
        8.0, "malloc served by tcache_get in __libc_malloc (§5.3: 15 ns per tcache-hit "
             "malloc+free pair; split 8 malloc / 7 free — the split is an assumption)", minimum=0)
    tcache_put_ns: float = param(
        7.0, "free that only does tcache_put in _int_free (§5.3: 15 ns pair, 7 of it the "
             "free)", minimum=0)
    fastbin_get_ns: float = param(
        10.0, "malloc served from a fastbin in _int_malloc (§5.2: ≈15 ns per pair for 16–64 B "
              "with 1000 live, i.e. past the tcache; split 10 malloc / 5 free, assumption)",
        minimum=0)
    fastbin_put_ns: float = param(
        5.0, "free that pushes the chunk on a fastbin (§5.2, same pair as fastbin_get_ns)",
        minimum=0)
    stash_ns: float = param(
        2.0, "per chunk moved from a fastbin or small bin into the tcache while serving a "
             "malloc (a few instructions each; assumption)", minimum=0)
    int_malloc_ns: float = param(
        25.0, "entering _int_malloc past the fastbins: small-bin check, unsorted loop set-up, "
              "result (§5.2: ≈50 ns per 256-B pair on the bin path, half of it malloc)",
        minimum=0)
    unsorted_ns: float = param(
        5.0, "per chunk taken off the unsorted bin and filed into its small or large bin "
             "(assumption: a list unlink and insert)", minimum=0)
    bin_search_ns: float = param(
        10.0, "a best-fit search through the bins (binmap scan, large-bin walk) when no exact "
              "fit exists (assumption within §5.3's 50–300 ns bin-path range)", minimum=0)
    split_ns: float = param(
        5.0, "splitting a chunk (from a bin, the last remainder or top) and filing the "
             "remainder (assumption)", minimum=0)
    int_free_ns: float = param(
        25.0, "_int_free of a chunk past the tcache and fastbins: neighbour checks and "
              "unsorted insert (§5.2: ≈50 ns per 256-B pair, half of it free)", minimum=0)
    coalesce_ns: float = param(
        5.0, "per free neighbour merged (unlink_chunk) on free or in malloc_consolidate "
             "(assumption)", minimum=0)
    consolidate_ns: float = param(
        8.0, "per fastbin chunk malloc_consolidate moves to the unsorted bin (a streamlined "
             "free, per malloc.c's own comment; assumption)", minimum=0)
    sbrk_ns: float = param(
        1500.0, "one brk system call to grow or trim the heap (sysmalloc / systrim): syscall "
                "entry and a VMA update on a VM (assumption; no figure in docs/runtimes.md)",
        minimum=0)
    mmap_ns: float = param(
        3000.0, "one mmap system call for a chunk at or above the mmap threshold "
                "(assumption)", minimum=0)
    munmap_ns: float = param(
        3000.0, "one munmap system call on free of an mmapped chunk, TLB shootdown included "
                "(assumption)", minimum=0)
    page_fault_ns: float = param(
        2100.0, "first touch of a 4 KiB page the heap or an mmapped chunk got from the kernel: "
                "a minor fault plus the kernel's zeroing (measured on the reference VM: a C "
                "loop writing one byte per page of a fresh anonymous mmap takes 1.6–2.3 µs per "
                "page, and HotSpot's cold − warm young pauses give 2.1 µs per page first "
                "written; memcompare_jvm/costs.py — one figure for every model)", minimum=0)
    atomic_inc_ns: float = param(
        5.0, "ownership = \"shared_ptr\", atomic_counts: copying a shared_ptr, one locked "
             "increment of the count (_M_add_ref_copy: lock add), uncontended (measured on the "
             "reference VM, benchmarks/bench_refcount.py: 4.7–5.3 ns, back to back on one "
             "count; docs/runtimes.md §5.2: ≈5.5 ns per atomic inc+dec pair)", minimum=0)
    atomic_dec_ns: float = param(
        5.0, "ownership = \"shared_ptr\", atomic_counts: releasing a shared_ptr that is not "
             "the last: _M_release's acquire load of both counts and a locked decrement (lock "
             "xadd: measured 4.7–6.0 ns; 16–22 ns when it follows a locked write to the same "
             "count at once, the store-forwarding stall of an 8-byte load over a 4-byte "
             "write: benchmarks/bench_refcount.py)", minimum=0)
    plain_inc_ns: float = param(
        0.6, "ownership = \"shared_ptr\", atomic_counts = false: a plain increment of the "
             "count (measured 0.6–1.0 ns, benchmarks/bench_refcount.py)", minimum=0)
    plain_dec_ns: float = param(
        0.6, "ownership = \"shared_ptr\", atomic_counts = false: the acquire load and a plain "
             "decrement (as plain_inc_ns; assumption: the same)", minimum=0)
    last_release_ns: float = param(
        1.0, "releasing the last shared_ptr of an object: GCC 12's _M_release sees both counts "
             "at 1 with one acquire load and destroys without a locked instruction "
             "(bits/shared_ptr_base.h; assumption: a load and a compare)", minimum=0)
    destroy_ns: float = param(
        3.0, "destroying an object whose count reached zero: the control block's two virtual "
             "calls, _M_dispose (the destructor) and _M_destroy (deallocation), the "
             "allocator's own free priced apart (assumption: two indirect calls)", minimum=0)
    pool_alloc_ns: float = param(
        2.0, "allocator = \"pool\": taking the first chunk off a class's free list "
             "(simple_segregated_storage::malloc: a load and a store; assumption)", minimum=0)
    pool_free_ns: float = param(
        2.0, "allocator = \"pool\": pushing a chunk on its class's free list "
             "(simple_segregated_storage::free; assumption)", minimum=0)
    pool_segregate_ns: float = param(
        1.0, "allocator = \"pool\": per chunk of a new block, writing its link into the free "
             "list (simple_segregated_storage::segregate; assumption), the block's malloc and "
             "page faults priced by glibc's costs", minimum=0)
    region_free_ns: float = param(
        1.0, "allocator = \"arena\": a delete, one decrement of its region's live count "
             "(assumption)", minimum=0)
    region_release_ns: float = param(
        5.0, "allocator = \"arena\": giving a dead region back (bookkeeping; its free() "
             "priced by glibc's costs; assumption)", minimum=0)
    bump_alloc_ns: float = param(
        1.0, "allocator = \"bump\" (and \"arena\" within a region): one allocation from a "
             "bump region — a compare and an add (assumption: a few cycles)", minimum=0)
