"""The cost table of the ``go`` model: simulated nanoseconds per unit of counted work.

The model counts what the Go runtime would do (objects and pointer slots marked, spans swept,
pages faulted in or released, write barriers executed, stop-the-world pauses) and this table
prices it. Every default comes from docs/runtimes.md §5 or is a stated assumption, and all
can be overridden from TOML (``costs = { mark_object_ns = 30 }``). Nothing here decides a policy.

Units: the pacer's "scan work" is measured in nanoseconds of marking at these prices (Go counts
bytes scanned); the pacer only ever uses ratios of scan work, in which the unit cancels.
"""
from __future__ import annotations

from dataclasses import dataclass

from memcompare import param


@dataclass(frozen=True)
class Costs:
    """Nanoseconds per counted unit of Go runtime work (docs/runtimes.md §5)."""

    alloc_ns: float = param(
        15.0, "mallocgc fast path per object: mcache slot or tiny block (§5.3: 15 ns/object, "
              "from local testing.B figures and the Go 1.26 notes)", minimum=0)
    alloc_ns_per_byte: float = param(
        0.1, "mallocgc zeroing per byte of the slot, block or page run handed out (§5.3: "
             "0.1 ns/B)", minimum=0)
    refill_ns: float = param(
        200.0, "mcache.refill → mcentral.cacheSpan: swapping the cached span for one with free "
               "slots, sweeping not included (assumption: a few spanSet operations and span "
               "bookkeeping)", minimum=0)
    span_alloc_ns: float = param(
        500.0, "mheap.allocSpan under the heap lock: page-allocator search and span "
               "initialisation (assumption)", minimum=0)
    grow_ns: float = param(
        3000.0, "mheap.grow: one sysMap of a new 4 MiB heap chunk (assumption: an mmap-like "
                "system call, as the cpp model's mmap_ns)", minimum=0)
    page_fault_ns: float = param(
        2100.0, "first touch of a 4 KiB physical page the heap got from, or gave back to, the "
                "OS: minor fault plus kernel zeroing (measured on the reference VM, 1.6–2.3 µs "
                "per page: the figure every model shares; memcompare_jvm/costs.py)", minimum=0)
    mark_object_ns: float = param(
        20.0, "marking one object: find its span, set its mark bit, queue it (§5.3: "
              "20 ns/object, local Go/JVM mark figures)", minimum=0)
    mark_slot_ns: float = param(
        0.5, "scanning one pointer slot (8 bytes) of a marked object or of the stack (§5.3: "
             "0.5 ns per pointer slot)", minimum=0)
    span_mark_object_ns: float = param(
        13.0, 'version "1.27" (Green Tea): marking one object of a 16–512-byte class, whose '
              "span carries inline mark bits: set the bit and queue the span, then scan the "
              "object with the span's other marked objects in one visit "
              "(mgcmark_greenteagc.go tryDeferToSpanScan, scanSpan) — mark_object_ns less the "
              "≥ 35 % of mark time stalled on memory that batching by span avoids "
              "(go.dev/blog/greenteagc; assumption: 20 × 0.65)", minimum=0)
    span_scan_ns: float = param(
        20.0, 'version "1.27" (Green Tea): one scanSpan visit of a span with two or more '
              "marked objects: acquire it, merge its marks into its scans (spanSetScans over "
              "63 bytes), the span's first cache misses (assumption: one object's worth of "
              "the object-by-object path, mark_object_ns). A span with one marked object is "
              "fast-tracked (spanScanOneMark) and costs mark_object_ns, as before", minimum=0)
    mark_start_ns: float = param(
        200000.0, "wall time of a concurrent mark on a spare P beyond its marking: "
                  "startTheWorldWithSema's wakep wakes an idle M (a futex wake) that must "
                  "find the worker (proc.go findRunnable), and gcMarkDone's ragged barriers "
                  "(forEachP) must reach the mutator's P before the mark can end (assumption: "
                  "fitted to Go 1.19 gctrace marks of 0.2-1 ms on a 2-core VM; GOMAXPROCS >= 2 "
                  "only)", minimum=0)
    sweep_span_ns: float = param(
        50.0, "sweeping one span: lock, swap mark and alloc bitmaps, file it (assumption)",
        minimum=0)
    sweep_object_ns: float = param(
        2.0, "sweeping, per object slot of the span (§5.3: sweep ≈ 10 % of mark cost, "
             "Green Tea blog; 10 % of mark_object_ns)", minimum=0)
    write_barrier_ns: float = param(
        3.0, "the hybrid write barrier on one pointer store while marking: both pointers "
             "into the per-P buffer (§5.3: 2–5 ns, assumption — no published figure)",
        minimum=0)
    stw_ns: float = param(
        10000.0, "fixed part of each stop-the-world pause (§1.5: Go 1.8+ pauses 'often as "
                 "low as 10 µs', local gctrace 5–20 µs each)", minimum=0)
    stw_per_proc_ns: float = param(
        1000.0, "per P other than the one stopping the world, in each pause: preempting or "
                "taking it and restarting it (proc.go stopTheWorldWithSema: the caller's P "
                "stops itself; assumption). On the reference VM a second P adds 25-95 µs to "
                "sweep termination's median (gctrace, GOMAXPROCS 1 against 2) and about "
                "nothing to mark termination's; `memcompare calibrate` fits it from its "
                "GOMAXPROCS=1 variant (docs/calibration.md)", minimum=0)
    scavenge_ns: float = param(
        10000.0, "releasing one 4 KiB physical page to the OS (madvise): mgcscavenge.go "
                 "approxWorkedNSPerPhysicalPage = 10 µs, 'somewhat pessimistic'", minimum=0)
