"""The ``jvm`` model: the replay driver and parameters of HotSpot's Serial, Parallel and G1 GC.

G1 runs the same loop in ``_run_g1`` with g1.py's policy and collections; Parallel's adaptive
size policy (asp.py) adjusts eden, survivors and the tenuring threshold after each scavenge.

The trace's heap objects are laid out (layout.py) and allocated in order through TLABs in
eden (tlab.py). Allocation alone decides when eden is exhausted, so the replay runs from one
allocation failure to the next: the events in between only store pointers, move registers
and allocate, and are applied to the heap in one numpy step per segment (barrier.py, with
the card-marking barrier as a vectorised filter; docs/simulator-speed.md §6.3). At each
failure the heap's policy (policy.py) runs a young collection (young.py) — a Python worklist
over the live young objects only, since the copy order decides which objects overflow the
to-space — or a full one (full.py), and the allocation is retried; a heap too small for the
live data ends in OutOfMemory at the allocating event.

Costs: every heap allocation pays the TLAB path plus zeroing, and the slow paths their own
prices; every non-null reference store pays the card mark; pauses are priced from the work
each collection counted (costs.py). A Parallel pause is its fixed costs plus the work divided
over ``gc_threads`` at ``parallel_efficiency``, and its CPU is the pause × threads. The first
write to each 4 KiB heap page in the process pays ``page_fault_ns``: in the allocation that
writes it (eden, tlab.py) or in the pause whose copying writes it (survivors, old); none with
``always_pre_touch``.

Epsilon (``collector = "epsilon"``; JEP 318, gc/epsilon/epsilonHeap.cpp): the heap is one
space (heap.py) filled through TLABs as eden is, never collected; an allocation that does not
fit is an OutOfMemoryError (``EpsilonHeap::allocate_work`` returns null when the heap cannot
expand, and Epsilon sets ``ExitOnOutOfMemoryError``, epsilonArguments.cpp). Its barrier set
(``EpsilonBarrierSet``) does nothing on a store, so no card-mark cost.

``local`` objects (docs/design.md §3): C2's escape analysis (``ConnectionGraph``, opto/escape.cpp)
finds allocations that do not escape the compiled method, and ``PhaseMacroExpand::
eliminate_allocate_node`` (opto/macro.cpp) replaces them by their fields (scalar replacement,
``-XX:+EliminateAllocations``, on by default). A ``local`` object is such an allocation, so with
``scalar_replacement`` it takes no heap space and costs nothing, and its fields are roots while
a register holds it. HotSpot only does this in C2-compiled (hot) code after inlining; turn
``scalar_replacement`` off for interpreted or cold code, where the object is a normal one.

Footprint is what resident memory would show: each space's touched pages (eden, both
survivor spaces, old's high-water mark) plus the card table for them — not the reserved heap.
This module computes no metric.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from memcompare import Model, Output, Trace, param
from memcompare.errors import OutOfMemory
from memcompare.trace import STORE

from .barrier import Mutations
from .asp import AdaptiveSizePolicy, mutator_clock
from .costs import Costs
from .full import collect_full
from .g1 import G1Heap, G1Policy, G1Run, g1_sizes
from .heap import EDEN, HEAP_ALIGNMENT, LOCAL, OLD, SURV, Heap, MiB, Sizes, align_up
from .layout import Layout
from .policy import Policy
from .tlab import EdenAllocator
from .young import collect_young


@dataclass(frozen=True)
class Params:
    """HotSpot flags (defaults as in JDK 17's ``-XX:+PrintFlagsFinal``, docs/runtimes.md
    §2), with ``-Xms`` = ``-Xmx``."""

    collector: Literal["serial", "parallel", "g1", "epsilon"] = param(
        "serial", "serial = -XX:+UseSerialGC (DefNew + mark-compact, one GC thread); "
                  "parallel = -XX:+UseParallelGC (PSYoungGen + parallel compaction over "
                  "gc_threads; see adaptive_size_policy); g1 = -XX:+UseG1GC (regions, "
                  "pause-time young sizing, IHOP, concurrent marking, mixed collections; "
                  "g1.py); epsilon = -XX:+UseEpsilonGC (JEP 318: TLAB allocation, no "
                  "collection, no barrier, OutOfMemoryError when the heap is full)")
    jdk: Literal["25", "17"] = param(
        "25", "the JDK of the twin this cell is compared with (jvm-native's jdk). The rules "
              "are HotSpot 17's (each cites its source); where JDK 25 is known to behave "
              "differently docs/native-jvm.md says so")
    adaptive_size_policy: bool = param(
        True, "Parallel only: -XX:+UseAdaptiveSizePolicy (HotSpot's default: eden and "
              "survivors resized after each young collection for the pause and throughput "
              "goals, tenuring threshold stepped; psAdaptiveSizePolicy.cpp, asp.py); false = "
              "-XX:-UseAdaptiveSizePolicy, the fixed layout")
    max_gc_pause_ms: int | None = param(
        None, "pause-time goal in ms (-XX:MaxGCPauseMillis); absent = the collector's default: "
              "200 for G1 (g1Arguments.cpp), none for Parallel (MaxGCPauseMillis is max_uintx, "
              "so only the throughput goal steers its adaptive size policy). G1 sizes young to "
              "fit it; Parallel's policy shrinks eden while the padded average minor pause "
              "exceeds it (psAdaptiveSizePolicy.cpp adjust_eden_for_pause_time)", minimum=1)
    ihop_percent: int = param(
        45, "G1: old + humongous occupancy, in % of the heap, above which concurrent marking "
            "starts (-XX:InitiatingHeapOccupancyPercent; g1IHOPControl.cpp)",
        minimum=0, maximum=100)
    adaptive_ihop: bool = param(
        True, "G1: adapt the IHOP threshold from the measured marking length and old-gen "
              "allocation rate after three cycles (-XX:±G1UseAdaptiveIHOP, on in HotSpot; "
              "g1IHOPControl.cpp G1AdaptiveIHOPControl)")
    runtime_regions: int = param(
        4, "G1: heap regions the JVM's own objects hold before the program's first "
           "allocation, never free for the program: HotSpot 17 maps CDS's archived heap "
           "objects into 2 archive regions and keeps what its start-up leaves live in 2 old "
           "regions after a System.gc() (-Xlog:gc+heap 'Archive regions: 2->2', 'Old regions: "
           "0->2', at 64 MiB-4 GiB heaps, 1 and 2 MiB regions; JDK 25: no archive regions, "
           "3-4 old). They count in the IHOP occupancy; 0 = an empty heap",
        minimum=0)
    region_mb: int | None = param(
        None, "G1 region size in MiB (-XX:G1HeapRegionSize, a power of two 1..32); absent = "
              "heap / 2048 rounded down to a power of two within 1..32 MiB "
              "(heapRegion.cpp setup_heap_region_size)", minimum=1, maximum=32)
    heap_mb: float = param(
        256.0, "heap size in MiB (-Xms = -Xmx), rounded up to 2 MiB (HeapAlignment)",
        minimum=2)
    young_mb: float | None = param(
        None, "young generation in MiB (-Xmn); absent = heap / (new_ratio + 1), aligned down. "
              "Serial and Parallel only: G1 sizes young itself (5..60 % of the regions) and "
              "ignores young_mb and new_ratio", minimum=0)
    new_ratio: int = param(2, "old : young size ratio when young_mb is absent (-XX:NewRatio)",
                           minimum=1)
    survivor_ratio: int = param(8, "eden : one survivor space (-XX:SurvivorRatio)", minimum=1)
    max_tenuring_threshold: int = param(
        15, "collections an object survives in the young generation before promotion "
            "(-XX:MaxTenuringThreshold; 16 = never by age)", minimum=0, maximum=16)
    target_survivor_ratio: int = param(
        50, "desired % of a survivor space used after a young collection; Serial lowers the "
            "tenuring threshold to keep under it (-XX:TargetSurvivorRatio; Parallel keeps no "
            "age table and ignores it without its adaptive size policy)",
        minimum=0, maximum=100)
    gc_threads: int = param(
        4, "GC worker threads of the parallel collector (-XX:ParallelGCThreads); serial "
           "always uses one", minimum=1)
    compressed_oops: bool = param(
        True, "4-byte references (-XX:+UseCompressedOops, ergonomic below ≈32 GB); "
              "false = 8-byte references")
    compressed_class_pointers: bool = param(
        True, "12-byte object header (-XX:+UseCompressedClassPointers); false = 16 bytes. "
              "Independent of compressed_oops since JDK 15 (JDK-8241825)")
    always_pre_touch: bool = param(
        False, "-XX:+AlwaysPreTouch: every heap page is written at start-up, outside the "
               "run, so no allocation or collection pays a first-touch page fault and the "
               "footprint is the whole heap from the start")
    scalar_replacement: bool = param(
        True, "C2 escape analysis replaces `local` objects by their fields: no heap "
              "allocation (-XX:+EliminateAllocations); false = allocate them normally")


class JVMModel(Model):
    """HotSpot's collectors: Serial or Parallel (young copying, mark-compact old) and G1."""

    name = "jvm"
    Params = Params
    Costs = Costs
    # -Xmx is a hard limit: time-space sweeps bisect it on HotSpot's 2 MiB heap alignment
    heap_param = "heap_mb"
    heap_granule_mb = 2.0

    # -- pricing ----------------------------------------------------------------------------
    def _pause(self, out: Output, at: int, kind: str, fixed: float, work: float,
               serial: float = 0.0) -> float:
        """Price a pause: ``fixed`` + the ``work`` shared among the GC threads + the
        ``serial`` work they cannot share (G1's direct allocations into one old region,
        g1.py). Each thread of the parallel collectors does ``parallel_efficiency`` of a
        Serial thread's work per unit of time, so the unshared work takes serial / efficiency
        and one thread prices both as before. Serial has one thread and adds both."""
        p, c = self.params, self.costs
        if p.collector in ("parallel", "g1"):
            t, eff = p.gc_threads, c.parallel_efficiency
            ns = fixed + t * c.gc_thread_ns + serial / eff + work / (t * eff)
            out.pause(at, ns, kind, cpu_ns=ns * t)
        else:
            ns = fixed + work + serial
            out.pause(at, ns, kind)
        return ns

    def _minor_work(self, w) -> float:
        c = self.costs
        return (w.registers * c.scan_ns_per_slot
                + w.card_table_cards * c.card_table_ns_per_card
                + w.dirty_cards * c.dirty_card_ns
                + w.card_slots * c.scan_ns_per_slot
                + w.copied_objects * c.copy_ns_per_object
                + w.copied_bytes * c.copy_ns_per_byte
                + w.scanned_slots * c.scan_ns_per_slot)

    def _full_work(self, w, registers: int) -> float:
        c = self.costs
        return (registers * c.scan_ns_per_slot
                + w.marked_objects * c.mark_ns_per_object
                + w.marked_slots * c.mark_ns_per_slot
                + w.walked_live * c.forward_ns_per_object
                + w.walked_dead * c.dead_ns_per_object
                + w.marked_objects * c.adjust_ns_per_object
                + w.marked_slots * c.scan_ns_per_slot
                + w.moved_objects * c.copy_ns_per_object
                + w.moved_bytes * c.copy_ns_per_byte)

    # -- collections ------------------------------------------------------------------------
    def _young(self, out, i: int, eden_ids: np.ndarray) -> bool:
        """A young collection before event ``i``; False when the promotion failed."""
        p, heap, st = self.params, self.heap, self.stats
        parallel = p.collector == "parallel"
        old_before = heap.old_top
        pages = heap.touched_pages()
        w = collect_young(heap, eden_ids, depth_first=parallel,
                          target_survivor_ratio=p.target_survivor_ratio,
                          max_tenuring_threshold=p.max_tenuring_threshold,
                          adapt_threshold=not parallel)
        faults = heap.touched_pages() - pages
        st["page_faults"] += faults
        pause_ns = self._pause(out, i, "minor", self.costs.young_pause_ns,
                               self._minor_work(w) + faults * self.costs.page_fault_ns)
        out.collection("minor", max(i - 1, 0), w.reclaimed)
        st["minor_gcs"] += 1
        st["copied_objects"] += w.copied_objects
        st["survivor_copied_bytes"] += w.survived_bytes
        st["dirty_cards_scanned"] += w.dirty_cards
        st["card_slots_scanned"] += w.card_slots
        if w.failed:
            st["promotion_failures"] += 1
            return False
        st["promoted_bytes"] += w.promoted_bytes
        st["premature_promoted_bytes"] += w.premature_bytes
        self.policy.sample_after_young(heap.old_top - old_before)
        self.eden.almost_full = False           # SerialHeap::gc_epilogue: eden is empty
        if self.asp is not None:
            self._adapt(i, pause_ns, w)
        return True

    def _adapt(self, i: int, pause_ns: float, w) -> None:
        """Parallel's adaptive size policy after a successful scavenge (asp.py): the new eden
        and survivor sizes take effect for the next cycle, and the tenuring threshold."""
        asp, heap, st = self.asp, self.heap, self.stats
        interval = float(self.clock[i] - self.clock[self.last_pause_end])
        self.last_pause_end = i
        asp.minor_collection_end(pause_ns, interval, w.survived_bytes, w.promoted_bytes,
                                 w.premature_bytes > 0, heap.from_used)
        heap.threshold = asp.threshold
        if (asp.eden, asp.survivor) != (heap.sizes.eden, heap.sizes.survivor):
            sizes = replace(heap.sizes, eden=asp.eden, survivor=asp.survivor)
            heap.sizes = self.policy.sizes = sizes
            self.eden.eden_cap = sizes.eden
            self.eden.desired = sizes.tlab_size()
        st["eden_bytes_last"] = asp.eden
        st["survivor_bytes_last"] = asp.survivor
        st["asp_resizes"] = asp.resizes

    def _full(self, out, i: int, eden_ids: np.ndarray, maximal: bool) -> None:
        p, heap, st = self.params, self.heap, self.stats
        st["full_gcs"] += 1
        # DeadSpacer: Serial only, not every MarkSweepAlwaysCompactCount-th, not last-ditch
        dead_wood = (p.collector == "serial" and not maximal
                     and st["full_gcs"] % 4 != 0)
        pages = heap.touched_pages()
        w = collect_full(heap, eden_ids, dead_wood)
        faults = heap.touched_pages() - pages
        st["page_faults"] += faults
        ns = self._pause(out, i, "full", self.costs.full_pause_ns,
                    self._full_work(w, int(heap.regs.size))
                    + faults * self.costs.page_fault_ns)
        out.collection("full", max(i - 1, 0), w.reclaimed)
        st["marked_objects"] += w.marked_objects
        st["compacted_bytes"] += w.moved_bytes
        st["dead_wood_bytes_last_full"] = w.dead_wood_bytes
        st["promoted_bytes"] += w.promoted_bytes
        self.policy.sample_after_full(w.old_growth)
        if self.asp is not None:
            # AdaptiveSizePolicy::major_collection_end: the major GC cost
            self.asp.major_collection_end(ns, float(self.clock[i] - self.clock[self.last_pause_end]))
            self.last_pause_end = i
        # SerialHeap::gc_epilogue: a full collection that leaves eden occupied means the
        # heap is almost full; allocations outside TLABs then try the old generation
        self.eden.almost_full = w.spilled_bytes > 0

    def _collect(self, out, k: int, i: int, attempt: int, eden_ids: np.ndarray) -> bool:
        """The heap's response to a failed allocation of heap object ``k`` at event ``i``,
        escalating with ``attempt`` (policy.py). Returns whether the retry may use the old
        generation for any size; raises OutOfMemory when the escalation is exhausted."""
        heap, policy, eden = self.heap, self.policy, self.eden
        s = int(self.hsize[k])
        if policy.serial:
            if attempt == 0:
                # SerialHeap::satisfy_failed_allocation → collect_at_safepoint
                ok = False
                if policy.young_first(s) and policy.young_gc_safe(
                        heap.old_free, heap.young_used(eden.eden_used)):
                    ok = self._young(out, i, eden_ids)
                if not ok:
                    self._full(out, i, eden_ids, maximal=False)
                return True
            if attempt == 1:
                # "we're really out of memory": a fully compacting full collection
                self._full(out, i, eden_ids, maximal=True)
                return True
            self._oom(k, i, s)
        # Parallel: ParallelScavengeHeap::failed_mem_allocate
        if attempt == 0:
            self._full_at_attempt0 = False
            ok = False
            if policy.young_gc_safe(heap.old_free, heap.young_used(eden.eden_used)):
                ok = self._young(out, i, eden_ids)
            # a successful scavenge is not followed by a full collection: HotSpot 17.0.15 and
            # 25.0.2 never call PSAdaptiveSizePolicy::should_full_GC after one (policy.py)
            if not ok:
                self._full(out, i, eden_ids, maximal=False)
                self._full_at_attempt0 = True
            return self._full_at_attempt0
        if attempt == 1:
            self._full(out, i, eden_ids, maximal=self._full_at_attempt0)
            return True
        if attempt == 2 and not self._full_at_attempt0:
            self._full(out, i, eden_ids, maximal=True)
            return True
        self._oom(k, i, s)

    def _oom(self, k: int, i: int, s: int):
        heap = self.heap
        raise OutOfMemory(
            f"Java heap space: an object of {s} bytes (object {int(self.hid[k])}) fits "
            f"neither eden ({heap.sizes.eden - heap.eden_spill} of {heap.sizes.eden} bytes "
            f"free) nor the old generation ({heap.old_free} of {heap.sizes.old} bytes free) "
            f"after a full collection", index=i)

    def _epsilon_oom(self, k: int, i: int):
        s = int(self.hsize[k])
        free = self.eden.eden_free + self.eden.tlab_free
        raise OutOfMemory(
            f"Java heap space (Epsilon never collects): an object of {s} bytes (object "
            f"{int(self.hid[k])}) after {int(self.eden.cum0[k])} bytes allocated does not fit "
            f"the {self.heap.sizes.heap}-byte heap ({free} bytes free in the heap and the "
            f"current TLAB)", index=i)

    # -- replay -----------------------------------------------------------------------------
    def run(self, trace: Trace, out: Output) -> None:
        p, c = self.params, self.costs
        layout = Layout.for_flags(p.compressed_oops, p.compressed_class_pointers)
        obj_size = layout.object_size(trace.obj_size, trace.obj_nslots).astype(np.int64)
        g1 = p.collector == "g1"
        if g1:
            heap_bytes = align_up(int(round(p.heap_mb * MiB)), HEAP_ALIGNMENT)
            g1policy = G1Policy(p, heap_bytes)
            sizes = g1_sizes(Sizes.compute("serial", p.heap_mb, None, p.new_ratio,
                                           p.survivor_ratio), g1policy)
            heap = G1Heap(trace, sizes, layout, obj_size)
        else:
            asp = p.collector == "parallel" and p.adaptive_size_policy
            sizes = Sizes.compute(p.collector, p.heap_mb, p.young_mb, p.new_ratio,
                                  AdaptiveSizePolicy.initial_survivor_ratio(p.survivor_ratio) - 2
                                  if asp else p.survivor_ratio)
            heap = Heap(trace, sizes, layout, obj_size)
        if p.always_pre_touch:
            heap.pre_touch()
        local = trace.obj_local & p.scalar_replacement
        heap.gen_np[local] = LOCAL
        hid = np.flatnonzero(~local).astype(np.int64)
        hsize = obj_size[hid]
        alloc_event = trace.obj_alloc_at[hid]
        policy = g1policy if g1 else Policy(p.collector, sizes, p.max_tenuring_threshold)
        heap.threshold = policy.initial_threshold
        self.asp = None
        if not g1 and asp:
            self.asp = AdaptiveSizePolicy(sizes, p.survivor_ratio, p.max_tenuring_threshold,
                                          p.max_gc_pause_ms)
            heap.threshold = self.asp.threshold
            self.clock = mutator_clock(trace, out.mutator, c, obj_size,
                                       trace.obj_local & p.scalar_replacement)
            self.last_pause_end = 0
        eden = EdenAllocator(heap, policy, hid, hsize, alloc_event, out)
        muts = Mutations(trace, heap)
        self.trace, self.heap, self.policy, self.eden = trace, heap, policy, eden
        self.hid, self.hsize = hid, hsize
        # the counters live in out.stats from the start, so an OutOfMemory cell keeps them
        self.stats = st = out.stats
        self.out_ref = out
        st.update({k: 0 for k in (
            "minor_gcs", "full_gcs", "promotion_failures", "copied_objects",
            "survivor_copied_bytes", "promoted_bytes", "premature_promoted_bytes",
            "dirty_cards_scanned", "card_slots_scanned", "marked_objects", "compacted_bytes",
            "dead_wood_bytes_last_full", "page_faults")})
        if g1:
            st.update({k: 0 for k in (
                "mixed_gcs", "evacuation_failures", "concurrent_start_gcs", "concurrent_cycles",
                "remark_pauses", "old_cset_regions", "mixed_copied_bytes",
                "humongous_eagerly_reclaimed", "refined_cards")})
            # the region size as resolved, under the parameter's name (the twin tables
            # compare it with HotSpot's G1HeapRegionSize)
            st["region_mb"] = g1policy.R // MiB
            st["max_gc_pause_ms"] = int(g1policy.pause_goal_ms)
            st.update({"heap_bytes": sizes.heap, "regions": g1policy.n,
                       "humongous_threshold_bytes": g1policy.humongous_bytes})
            heap.report_footprint(out, 0)
            self._run_g1(trace, out, heap, g1policy, hid, hsize, alloc_event, local)
            return
        # the young generation as resolved from the flags, under the parameter's name (the
        # twin tables compare it with HotSpot's MaxNewSize)
        st["young_mb"] = sizes.young / 2**20
        st.update({"heap_bytes": sizes.heap, "young_bytes": sizes.young,
                   "eden_bytes": sizes.eden, "survivor_bytes": sizes.survivor,
                   "old_bytes": sizes.old, "tlab_bytes": sizes.tlab_size()})
        heap.report_footprint(out, 0)

        K = hid.size
        k = 0
        cycle_start = 0
        attempt = 0
        retry = False
        last_gc = -1                # heap object whose allocation failed last
        while True:
            k_new = eden.fill(k, retry)
            if k_new == K:
                break
            if p.collector == "epsilon":
                self._epsilon_oom(k_new, int(alloc_event[k_new]))
            # the same object failing again right after a collection escalates
            attempt = attempt + 1 if k_new == last_gc else 0
            k = last_gc = k_new
            i = int(alloc_event[k])
            muts.apply(heap, i)
            retry = self._collect(out, k, i, attempt, hid[cycle_start:k])
            cycle_start = k
            eden.reset(heap.eden_spill)
            heap.report_footprint(out, i)

        self._mutator_costs(trace, out, eden, hsize, alloc_event, local)

    def _run_g1(self, trace, out, heap, policy, hid, hsize, alloc_event, local) -> None:
        """The replay under G1 (g1.py): from one allocation failure to the next, as above."""
        eden, muts = self.eden, Mutations(trace, heap)
        run = G1Run(self, out, heap, policy, eden, muts, hid, hsize, alloc_event)
        run.clock = mutator_clock(trace, out.mutator, self.costs, heap.size, local)
        eden.humongous = run.allocate_humongous
        eden.tlab_cap = policy.humongous_bytes
        run.after_collection()
        st = out.stats
        st["first_eden_regions"] = eden.eden_cap // policy.R
        K = hid.size
        k = cycle_start = attempt = 0
        last_gc = -1
        while True:
            k_new = eden.fill(k)
            if k_new == K:
                break
            attempt = attempt + 1 if k_new == last_gc else 0
            k = last_gc = k_new
            i = int(alloc_event[k])
            self._g1_apply(muts, heap, i)
            run.collect(k, i, attempt, hid[cycle_start:k])
            cycle_start = k
            heap.report_footprint(out, i)
        self._g1_apply(muts, heap, trace.events)
        st["tenuring_threshold_last"] = int(heap.threshold)
        self._mutator_costs(trace, out, eden, hsize, alloc_event, local)

    def _g1_apply(self, muts, heap, end: int) -> None:
        """Apply events up to ``end``; the old cards they dirty are enqueued for concurrent
        refinement (g1BarrierSet.inline.hpp ``G1BarrierSet::write_ref_field_post``:
        a card already dirty is not enqueued again), priced as concurrent CPU."""
        before = heap.dirty.size
        muts.apply(heap, end)
        new = max(int(heap.dirty.size) - int(before), 0)
        self.stats["refined_cards"] += new
        self.out_ref.concurrent_ns += new * self.costs.g1_refine_ns_per_card

    def _mutator_costs(self, trace, out, eden, hsize, alloc_event, local) -> None:
        p, c, st = self.params, self.costs, self.stats
        # -- mutator costs: allocation paths, card marks --
        mm = np.zeros(trace.events)
        mm[alloc_event] = c.tlab_alloc_ns + c.zero_ns_per_byte * hsize
        for ks, ns in ((eden.refills, c.tlab_refill_ns), (eden.shared, c.shared_alloc_ns),
                       (eden.old, c.old_alloc_ns)):
            if ks:
                np.add.at(mm, alloc_event[np.asarray(ks, dtype=np.int64)], ns)
        if eden.faults:
            fk, fn = np.asarray(eden.faults, dtype=np.int64).T
            np.add.at(mm, alloc_event[fk], fn * c.page_fault_ns)
            st["page_faults"] += int(fn.sum())
        # a store into a scalar-replaced object is a local variable write: no barrier; Epsilon
        # has none at all (EpsilonBarrierSet)
        stores = np.flatnonzero((trace.op == STORE) & (trace.y >= 0))
        stores = stores[~local[trace.x[stores]]]
        if p.collector == "g1":
            mm[stores] += c.g1_barrier_ns
        elif p.collector != "epsilon":
            mm[stores] += c.card_mark_ns
        out.mm_ns = mm
        out.allocated_bytes = int(hsize.sum())
        st.update({
            "tenuring_threshold": int(self.heap.threshold),
            "tlab_refills": len(eden.refills),
            "shared_eden_allocs": len(eden.shared),
            "old_direct_allocs": len(eden.old),
            "tlab_waste_bytes": int(eden.tlab_waste),
            "scalar_replaced": int(np.count_nonzero(local)),
            "card_marks": int(stores.size) if p.collector != "epsilon" else 0,
            "old_used_bytes": self.heap.old_top,
        })

    def held(self) -> tuple[np.ndarray, np.ndarray]:
        """The final full collection: every heap object reachable from the final registers
        stays (Lisp-2 compaction keeps exactly the marked objects)."""
        g = self.heap.gen_np
        in_heap = (g == EDEN) | (g == SURV) | (g == OLD)
        ids = np.flatnonzero(in_heap & self.trace.reachable_at_end())
        return ids.astype(np.int64), self.heap.size[ids]
