"""The cost table of the ``jvm`` model: simulated nanoseconds per counted unit of work.

Defaults come from docs/runtimes.md §5 (sections named in each doc) or are stated
assumptions; every entry can be overridden from TOML (``costs = { copy_ns_per_byte = 0.4 }``).
The model counts work (objects allocated, TLAB refills, barrier executions, cards and slots
scanned, objects and bytes copied, objects marked, forwarded, adjusted and moved) and this
table prices it; it must not decide anything else.

Anchors (docs/runtimes.md §5.2, JDK 17 Serial on the reference VM): allocation ≈3 ns per
24-byte object; a young pause with ≈1 MB of survivors ≈0.25–0.4 ms; full-collection marking
≈15–22 ns per object, a full collection without movement ≈43 ns per live object in all.

Copying and first touch are two entries (issue 9). §5.2's "≈0.5 ns/B" young copy was a cold
figure: it includes the page faults of survivor and old pages written for the first time.
Measured on this project's 2-core VM (OpenJDK 17.0.15, Serial, 256 MiB heap) with jvm-native on
message-buffer (200 000 messages, window 20 000; 2 young collections per replay, each copying
20 001 objects / ≈20.9 MB — 8.9 MB to a survivor space and ≈12 MB promoted — the model's
counts):

    memcompare trace record message-buffer --param messages=200000 \
        --param window=20000 -o mb.mctrace
    java -XX:+UseSerialGC -Xms256m -Xmx256m -XX:NewRatio=2 -XX:MaxDirectMemorySize=92m \
        -cp REPLAYER_CACHE Replay mb.mctrace 4          # ± -XX:+AlwaysPreTouch

the young pauses (``-Xlog:gc``, 3 processes × 4 replays each way, 2026-12-04) are 12.3–14.8 ms
(median ≈13.3) in each process's first replay, 2.3–2.9 ms (median ≈2.5) in later ones, and
2.4–2.9 ms in the first replay with ``-XX:+AlwaysPreTouch``. Warm: (2.5 ms − 0.2 ms fixed −
20 001 × 5 ns) / 20.9 MB ≈ 0.105 ns/B of copying. Cold − warm ≈ 10.8 ms over the ≈5 100 pages
first written in each pause (20.9 MB / 4 KiB) ≈ 2.1 µs per page: a minor fault and the
kernel's zeroing of the page on this virtual machine — a C loop writing one byte per page of a
fresh 200 MiB anonymous mmap takes 1.6–2.3 µs per page on it (transparent huge pages are
"madvise" there, so the JVM heap gets 4 KiB pages). Both are this machine's figures (other
jobs shared its 2 cores); ``memcompare calibrate`` fits them per machine.
"""
from __future__ import annotations

from dataclasses import dataclass

from memcompare import param


@dataclass(frozen=True)
class Costs:
    """Nanoseconds per unit of JVM memory-management work (docs/runtimes.md §5)."""

    # -- allocation (mutator) --
    tlab_alloc_ns: float = param(
        3.0, "TLAB bump-pointer allocation per object (§5.3: 3 ns; Goetz 2005, Shipilëv "
             "TLAB quark, local ≈3 ns per 24-B object)", minimum=0)
    zero_ns_per_byte: float = param(
        0.05, "zeroing per allocated byte (§5.3)", minimum=0)
    tlab_refill_ns: float = param(
        50.0, "retiring a TLAB and carving a new one from eden "
              "(MemAllocator::mem_allocate_inside_tlab_slow; assumption: a CAS on eden's top "
              "and TLAB bookkeeping)", minimum=0)
    shared_alloc_ns: float = param(
        20.0, "an allocation outside the TLAB in shared eden (mem_allocate_outside_tlab, a "
              "CAS on eden's top; assumption)", minimum=0)
    old_alloc_ns: float = param(
        100.0, "an allocation directly in the old generation (a large object: Heap_lock "
               "and the old space's allocator; assumption)", minimum=0)
    card_mark_ns: float = param(
        0.5, "card-marking post-write barrier per non-null reference store (§5.3: ≈0.5 ns, "
             "1–2 % of mutator time; Blackburn & Hosking 2004)", minimum=0)
    # -- young collection --
    young_pause_ns: float = param(
        200_000.0, "fixed cost of a young pause: safepoint, root scanning set-up, reference "
                   "processing (§5.3: JVM young ≥ 0.2 ms + copy cost)", minimum=0)
    copy_ns_per_byte: float = param(
        0.105, "copying a live object, per byte, into pages already touched (measured here, "
               "warm young pauses on message-buffer; module docstring)", minimum=0)
    copy_ns_per_object: float = param(
        5.0, "copying a live object: forwarding pointer, age, destination choice (§5.3)",
        minimum=0)
    scan_ns_per_slot: float = param(
        0.5, "scanning one reference slot or root for pointers into the collected space "
             "(§5.3: 0.5 ns per pointer slot)", minimum=0)
    dirty_card_ns: float = param(
        10.0, "finding the first object of a dirty card and clearing it (block offset table "
              "lookup; assumption)", minimum=0)
    card_table_ns_per_card: float = param(
        0.02, "walking the card table over the old generation, per card "
              "(CardTableRS::find_first_dirty_card compares 8 cards a word; assumption)",
        minimum=0)
    page_fault_ns: float = param(
        2100.0, "the first write to a 4 KiB heap page in the process (eden by allocation, "
                "survivors and old by a collection's copying): a minor fault and the "
                "kernel's zeroing (measured here: cold − warm young pauses per page first "
                "written; module docstring); none with always_pre_touch", minimum=0)
    # -- full collection (mark-compact) --
    full_pause_ns: float = param(
        1_000_000.0, "fixed cost of a full pause: safepoint, class unloading, code cache and "
                     "metadata work (assumption; no figure in docs/runtimes.md)", minimum=0)
    mark_ns_per_object: float = param(
        20.0, "phase 1, marking a live object (§5.3: 20 ns/object; §5.2: 15–22 ns)", minimum=0)
    mark_ns_per_slot: float = param(
        0.5, "phase 1, following one reference slot (§5.3: 0.5 ns per pointer slot)",
        minimum=0)
    forward_ns_per_object: float = param(
        8.0, "phase 2, computing a live object's new address (assumption: part of §5.2's "
             "≈23 ns per live object for the phases after marking)", minimum=0)
    dead_ns_per_object: float = param(
        2.0, "phase 2, stepping over a dead object (assumption)", minimum=0)
    adjust_ns_per_object: float = param(
        15.0, "phase 3, adjusting a live object's references (assumption: the rest of §5.2's "
              "≈23 ns per live object)", minimum=0)
    # phase 3 also pays scan_ns_per_slot per reference slot, phase 4 the copy costs above
    # -- parallel collector --
    parallel_efficiency: float = param(
        0.75, "fraction of linear speed-up the parallel collectors' threads achieve: each "
              "does this fraction of a Serial thread's work per unit of time, and work they "
              "cannot share (G1's direct promotions, g1.py) runs at one such thread's speed "
              "(assumption: work stealing and termination keep Parallel Scavenge below "
              "linear scaling, and it degrades beyond ≈8 cores — Gidra et al., PLOS 2011)",
        minimum=0.01, maximum=1)
    # -- G1 (g1.py) --
    g1_region_ns: float = param(
        20_000.0, "G1: per young region of a collection set (region set-up, freeing it, the "
                  "surviving-rate bookkeeping; HotSpot's young other time per region). "
                  "Assumption from JDK 17 -Xlog:gc on this project's VM: a young pause over 37 "
                  "eden regions copying ≈1 MB took 1.1–1.4 ms", minimum=0)
    g1_old_region_ns: float = param(
        40_000.0, "G1: per old region of a mixed collection set, besides copying its live "
                  "objects (non-young other time; assumption: twice a young region's)",
        minimum=0)
    g1_barrier_ns: float = param(
        1.0, "G1 post-write barrier per non-null reference store: the cross-region, null and "
             "young-card filters (g1BarrierSetAssembler_x86.cpp g1_write_barrier_post; "
             "assumption: about twice a card mark)", minimum=0)
    g1_refine_ns_per_card: float = param(
        1_000.0, "G1 concurrent refinement of one enqueued card: scanning it and adding its "
                 "references to remembered sets, on a refinement thread (assumption; "
                 "g1Analytics.cpp seeds 0.005 ms per logged card at 2 GC threads)", minimum=0)
    g1_remark_pause_ns: float = param(
        500_000.0, "G1 Remark pause: finishing marking, reference processing, class "
                   "unloading (assumption; g1Analytics.cpp starts its prediction at 0.05 ms "
                   "and real remarks take ≈0.5–2 ms on small heaps)", minimum=0)
    g1_cleanup_pause_ns: float = param(
        100_000.0, "G1 Cleanup pause: region liveness and remembered-set state updates "
                   "(assumption)", minimum=0)
    gc_thread_ns: float = param(
        20_000.0, "per parallel GC thread and pause: waking the worker and the termination "
                  "protocol (assumption)", minimum=0)
