"""G1 (``collector = "g1"``): HotSpot 17's Garbage-First collector over the shared heap state.

Every rule names the HotSpot 17 file it follows (src/hotspot/share/gc/g1/):

- **Regions** (heapRegion.cpp ``HeapRegion::setup_heap_region_size``, heapRegionBounds.hpp):
  without ``-XX:G1HeapRegionSize`` a region is ``max(heap / TARGET_REGION_NUMBER 2048,
  MIN_REGION_SIZE 1 MiB)`` rounded down to a power of two and clamped to 1..32 MiB.
- **The JVM's own regions** (``runtime_regions``, default 4): before the program allocates,
  HotSpot 17 has mapped CDS's archived heap objects into 2 archive regions
  (``G1ArchiveAllocator``, g1CollectedHeap.cpp ``alloc_archive_regions``) and holds what its
  start-up leaves live in old regions, 2 after the replayer's ``System.gc()`` at 64 MiB–4 GiB
  (-Xlog:gc+heap "Archive regions: 2->2", "Old regions: 0->2"; 1 at 4 MiB). They are never
  free for eden, survivors or promotion, and count in the IHOP occupancy
  (``non_young_capacity_bytes``: old, humongous and archive regions). With them the first
  eden at 256 MiB when only the space check decides is HotSpot's 119 regions (252 free), not
  121.
- **Humongous objects** (g1CollectedHeap.hpp ``is_humongous``: ``word_size >
  _humongous_object_threshold_in_words`` = half a region, ``humongous_threshold_for``): an
  object larger than half a region is allocated outside eden in its own contiguous regions
  (``G1CollectedHeap::humongous_obj_allocate``). Before it, ``attempt_allocation_humongous``
  asks ``need_to_start_conc_mark``: above the IHOP threshold the allocation first runs a young
  collection that starts concurrent marking. A dead humongous ``byte[]`` (no reference slots:
  a type array) that nothing refers to is reclaimed at the next young collection
  (``G1EagerReclaimHumongousObjects``, g1YoungCollector.cpp: in JDK 17 only type arrays are
  candidates); the others at remark or in a full collection.
- **Young sizing** (g1YoungGenSizer.cpp, g1Policy.cpp as of JDK 17: ``young_list_target_
  lengths``, ``calculate_young_list_target_length``): young is ``G1NewSizePercent`` 5 % ..
  ``G1MaxNewSizePercent`` 60 % of the regions, the maximum capped by the free regions less the
  ``G1ReservePercent`` 10 % reserve (the minimum wins a clash). In the young-only phase the
  young length is the largest that G1's pause prediction fits in ``MaxGCPauseMillis`` (binary
  search with ``G1YoungLengthPredictor::will_fit``: base time + young other time + predicted
  eden copy time ≤ the goal, and the expected copy × 2.2 safety factor fits the free regions
  *less the reserve*); the base time includes the survivor regions' own predicted evacuation
  (``predict_survivor_regions_evac_time``). Between the "Prepare Mixed" collection and the end
  of the mixed ones the target is the minimum ("do the next GC as soon as possible"). The MMU
  term (``calculate_young_list_desired_min_length``) is 0 with the default
  ``GCPauseIntervalMillis`` = goal + 1 ms and is left out.
- **Predictions** (g1Analytics.cpp, g1Predictions.hpp, utilities/numberSeq.cpp): each sequence
  is a decaying average (α = 0.7) with a decaying variance; a prediction is the average plus
  ``G1ConfidencePercent`` 50 % × the deviation, where with fewer than 5 samples the deviation
  is at least average × (5 − n) / 2. The sequences are seeded with g1Analytics.cpp's defaults
  for ``ParallelGCThreads`` (constant other 5 ms, young other per region 0.3/0.2/0.2/0.15/..
  ms, copy 0.00006/0.00003/0.00003/0.000015/.. ms per byte) and fed after every collection
  with the model's own simulated times, so the young length adapts to the model's costs as
  HotSpot's adapts to measured ones. The copy sample is the copy phase's time per copied byte
  (``record_collection_pause_end``: average ``ObjCopy`` time over ``MergePSSCopiedBytes``),
  which includes the first-write page faults of the survivor and old regions the workers copy
  into (the heap is committed without ``AlwaysPreTouch``); while marking or rebuilding runs, the copy cost goes to
  its own unseeded sequence and is predicted as 1.1 × the young-only one until that has 3
  samples (``predict_object_copy_time_ms_during_cm``). Eden survival is predicted per region age
  (g1SurvRateGroup.cpp: age 0 = the region allocated last; the first predictor is seeded with
  ``InitialSurvivorRate`` 0.4 and the prediction for n regions starts as 0.4 × (n + 1); a new
  age gets an empty predictor, so ages first seen dying predict no survival; ages beyond the
  predictors take the last prediction; after a young-only collection outside marking the
  ages beyond its regions take its oldest region's rate, ``fill_in_last_surv_rates``).
  Survivor regions have their own group (``_survivor_surv_rate_group``), reset by a full
  collection. With these rules the first young length is 13
  regions with 4 GC threads and 6 with 2 on a 64 MiB heap — HotSpot 17's own (-Xlog:gc+heap).
- **Survivors and tenuring** (g1Policy.cpp ``update_survivors_policy``): at most
  ceil(young target / ``SurvivorRatio``) survivor regions; the tenuring threshold from the age
  table for ``TargetSurvivorRatio`` % of them (young.py); an object that finds no survivor room
  is promoted, one that finds no free region fails evacuation and a full collection follows.
- **IHOP and concurrent marking** (g1IHOPControl.cpp ``G1StaticIHOPControl``, g1Policy.cpp
  ``need_to_start_conc_mark``): when old + humongous occupancy exceeds
  ``InitiatingHeapOccupancyPercent`` 45 % of the heap at the end of a young collection (or
  with a humongous allocation), the next young collection is a *concurrent start*. Marking
  runs concurrently from a snapshot at its start (SATB: what was unreachable then is dead;
  what reached the old generation since is live), its CPU concurrent work; the model ends it
  at the first collection request after its work is done with the Remark pause, where
  completely empty old regions and dead humongous objects are freed (g1ConcurrentMark.cpp
  ``remark``); the remembered sets of the old regions below ``G1MixedGCLiveThresholdPercent``
  are then rebuilt concurrently (their live objects at the marking costs), and the Cleanup
  pause, which chooses the mixed candidates, comes at the first collection request after
  that (g1ConcurrentMarkThread.cpp's phase order).
- **IHOP** (g1IHOPControl.cpp ``G1AdaptiveIHOPControl``, on by default as
  ``-XX:+G1UseAdaptiveIHOP``; ``adaptive_ihop = false`` is ``G1StaticIHOPControl``): after 3
  marking lengths (mutator time from the concurrent start to the first mixed collection,
  ``G1ConcurrentStartToMixedTimeTracker``) and 3 old-generation allocation rates (promotions
  and new humongous regions per mutator second, ``G1OldGenAllocationTracker``), both
  sequences with alpha 0.05, the threshold is the heap less ``G1ReservePercent`` +
  ``G1HeapWastePercent`` less predicted length × rate and the last unrestrained young length.
- **Mixed collections** (g1CollectionSetChooser.cpp, g1CollectionSet.cpp
  ``finalize_old_part``, g1Policy.cpp ``next_gc_should_be_mixed``, JDK 17): old regions whose
  live bytes are below ``G1MixedGCLiveThresholdPercent`` 85 % of a region are candidates, the
  most reclaimable (capacity less live bytes) first; ``prune`` drops the least reclaimable
  while together they stay within ``G1HeapWastePercent`` 5 % of the heap; if any are left the
  next young collection is the last young-only one ("Prepare Mixed") and mixed collections
  follow, each adding at least ceil(candidates / ``G1MixedGCCountTarget`` 8) and at most
  ``G1OldCSetRegionThresholdPercent`` 10 % of the regions while the predicted pause fits,
  until no candidate is left.
- **Remembered sets and the post-write barrier** (g1BarrierSet.inline.hpp,
  g1BarrierSetAssembler_x86.cpp ``g1_write_barrier_post``): every non-null reference store
  runs the barrier's filters; a store into an old object dirties and enqueues its card, which
  concurrent refinement (g1ConcurrentRefine.cpp) adds to the remembered set of the region it
  points into — priced per card as concurrent CPU. A young collection's roots are those
  cards (barrier.py) and the registers.
- **Full collection** (g1FullCollector.cpp): evacuation failure or an allocation that fails
  after a young collection runs a parallel full compaction of the whole heap (full.py); all
  live objects end in old regions.

Simplifications: one allocating thread; regions are renumbered when some are freed (which
changes no figure the model reports); promotions and PLABs do not leave region tails; a full
collection compacts humongous objects like others; marking lasts its work (the snapshot's
live objects and slots at the full collection's marking costs, over ``ConcGCThreads``) of
mutator time and ends at the first collection request after that; a mixed collection
evacuates what is reachable from the registers (remembered-set entries from dead old objects
keep a little more alive in HotSpot); the old-generation allocation the IHOP control sees is
the promotions through old PLABs, objects under 10 % of an 8 KiB PLAB (OldPLABSize; PLAB
resizing by G1EvacStats is not modelled, nor an object that fits the rest of a current
PLAB); no root-region scan, no
SATB pre-barrier cost, no periodic or preventive collections. Footprint: the sum of the peak bytes each kind
of region (eden, survivor, old and humongous) has held, at most the heap.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .full import collect_full, mark
from .heap import CARD_SHIFT, DEAD, EDEN, OLD, PAGE, SURV, Heap, MiB, page_round, ranges
from .young import collect_young, register_roots

#: heapRegionBounds.hpp: MIN_REGION_SIZE, MAX_REGION_SIZE, TARGET_REGION_NUMBER
MIN_REGION = 1 * MiB
MAX_REGION = 32 * MiB
TARGET_REGION_NUMBER = 2048
#: g1_globals.hpp
G1_NEW_SIZE_PERCENT = 5
G1_MAX_NEW_SIZE_PERCENT = 60
G1_RESERVE_PERCENT = 10
G1_CONFIDENCE_PERCENT = 50
G1_MIXED_GC_LIVE_THRESHOLD_PERCENT = 85
G1_HEAP_WASTE_PERCENT = 5
G1_MIXED_GC_COUNT_TARGET = 8
G1_OLD_CSET_REGION_THRESHOLD_PERCENT = 10
#: gc_globals.hpp / g1Policy: InitialSurvivorRate 0.4; TargetPLABWastePct 10
INITIAL_SURVIVOR_RATE = 0.4
TARGET_PLAB_WASTE_PCT = 10
#: gc_globals.hpp OldPLABSize (1024 words) and ParallelGCBufferWastePct (10): what the IHOP
#: control sees of a promotion (see G1Run.young)
OLD_PLAB_BYTES = 1024 * 8
PARALLEL_GC_BUFFER_WASTE_PCT = 10
#: numberSeq.hpp DEFAULT_ALPHA_VALUE
ALPHA = 0.7
#: g1IHOPControl.cpp: G1AdaptiveIHOPControl's sequences are TruncatedSeq(10, 0.05);
#: g1_globals.hpp G1AdaptiveIHOPNumInitialSamples
IHOP_ALPHA = 0.05
IHOP_INITIAL_SAMPLES = 3
#: g1Analytics.cpp defaults, indexed by min(ParallelGCThreads - 1, 7)
CONSTANT_OTHER_MS = [5.0] * 8
YOUNG_OTHER_PER_REGION_MS = [0.3, 0.2, 0.2, 0.15, 0.15, 0.12, 0.12, 0.1]
NON_YOUNG_OTHER_PER_REGION_MS = [1.0, 0.7, 0.7, 0.5, 0.5, 0.42, 0.42, 0.30]
COST_PER_BYTE_MS = [0.00006, 0.00003, 0.00003, 0.000015, 0.000015, 0.00001, 0.00001, 0.000009]
COST_PER_CARD_MS = [0.015, 0.01, 0.01, 0.008, 0.008, 0.0055, 0.0055, 0.005]


def region_size(heap_bytes: int, explicit_mb: int | None = None) -> int:
    """``HeapRegion::setup_heap_region_size`` (JDK 17: from the maximum heap size)."""
    if explicit_mb is not None:
        size = explicit_mb * MiB
    else:
        size = max(heap_bytes // TARGET_REGION_NUMBER, MIN_REGION)
    size = 1 << (int(size).bit_length() - 1)          # log2i: round down to a power of two
    return min(max(size, MIN_REGION), MAX_REGION)


def humongous_threshold(region: int) -> int:
    """Bytes above which an object is humongous: half a region (``humongous_threshold_for``)."""
    return region // 2


class Seq:
    """``TruncatedSeq``'s decaying average and variance (numberSeq.cpp ``AbsSeq::add``) and
    ``G1Predictions::predict`` (g1Predictions.hpp)."""

    def __init__(self, first: float | None = None, alpha: float = ALPHA):
        self.alpha = alpha
        self.num = 0
        self.davg = 0.0
        self.dvar = 0.0
        self.last = 0.0
        if first is not None:
            self.add(first)

    def add(self, v: float) -> None:
        self.last = v
        if self.num == 0:
            self.davg, self.dvar = v, 0.0
        else:
            a = self.alpha
            self.davg = (1.0 - a) * v + a * self.davg
            diff = v - self.davg
            self.dvar = (1.0 - a) * diff * diff + a * self.dvar
        self.num += 1

    def predict(self) -> float:
        sd = math.sqrt(self.dvar)
        if self.num < 5:
            sd = max(self.davg * (5 - self.num) / 2.0, sd)
        return max(self.davg + G1_CONFIDENCE_PERCENT / 100.0 * sd, 0.0)


def prune_candidates(reclaimable: list[int], heap_bytes: int) -> int:
    """``G1CollectionSetChooser::prune`` (JDK 17) on candidates sorted most reclaimable first:
    how many are kept. Only when there are more than the minimum old regions of a mixed
    collection (ceil(n / ``G1MixedGCCountTarget``)): from the least reclaimable end, regions
    are dropped while their reclaimable bytes together stay within ``G1HeapWastePercent`` of
    the heap, until more than n − that minimum have been dropped (``G1PruneRegionClosure``)."""
    n = len(reclaimable)
    min_old = -(-n // G1_MIXED_GC_COUNT_TARGET)
    if min_old >= n:
        return n
    max_pruned, allowed = n - min_old, heap_bytes * G1_HEAP_WASTE_PERCENT // 100
    pruned = wasted = 0
    for r in reversed(reclaimable):
        if pruned > max_pruned or wasted + r > allowed:
            break
        wasted += r
        pruned += 1
    return n - pruned


class SurvRateGroup:
    """``G1SurvRateGroup`` (g1SurvRateGroup.cpp): one survival predictor per region age (age 0
    = the region added last), seeded by ``reset`` with ``InitialSurvivorRate`` 0.4."""

    def __init__(self):
        self.preds: list[Seq] = [Seq(INITIAL_SURVIVOR_RATE)]
        self.accum = [INITIAL_SURVIVOR_RATE]
        self.last_pred = INITIAL_SURVIVOR_RATE

    def record(self, rates: list[float], update: bool) -> None:
        """One collection's survival rates by age: ``stop_adding_regions`` adds an empty
        predictor per new age, ``record_surviving_words`` a sample per region, then
        ``all_surviving_words_recorded``: with ``update`` (``should_update_surv_rate_group_
        predictors``: a young-only collection outside marking) the ages beyond this
        collection's regions get the oldest region's rate (``fill_in_last_surv_rates``);
        ``finalize_predictions`` always."""
        while len(self.preds) < len(rates):
            self.preds.append(Seq())
        for age, r in enumerate(rates):
            self.preds[age].add(r)
        if update and rates:
            for seq in self.preds[len(rates):]:
                seq.add(self.preds[len(rates) - 1].last)
        acc = 0.0
        self.accum = []
        pred = 0.0
        for seq in self.preds:
            pred = min(seq.predict(), 1.0)               # predict_in_unit_interval
            acc += pred
            self.accum.append(acc)
        self.last_pred = pred

    def accum_pred(self, n: int) -> float:
        """``accum_surv_rate_pred(n)`` as ``predict_eden_copy_time_ms(n)`` calls it: the ages up
        to n inclusive, beyond the predictors at the last prediction."""
        if n < len(self.accum):
            return self.accum[n]
        return self.accum[-1] + (n - len(self.accum) + 1) * self.last_pred

    def pred(self, age: int) -> float:
        """``surv_rate_pred``: the predictor of ``age`` (the last one beyond them)."""
        seq = self.preds[min(age, len(self.preds) - 1)]
        return min(seq.predict(), 1.0) if seq.num else 0.0


class Analytics:
    """The sequences G1Policy predicts pauses from (g1Analytics.cpp), in milliseconds."""

    def __init__(self, threads: int):
        i = min(threads - 1, 7)
        self.constant_other = Seq(CONSTANT_OTHER_MS[i])
        self.young_other = Seq(YOUNG_OTHER_PER_REGION_MS[i])
        self.non_young_other = Seq(NON_YOUNG_OTHER_PER_REGION_MS[i])
        self.cost_per_byte = Seq(COST_PER_BYTE_MS[i])
        # _cost_per_byte_ms_during_cm_seq: not seeded; fed while marking or rebuilding
        self.cost_per_byte_cm = Seq()
        self.cost_per_card = Seq(COST_PER_CARD_MS[i])
        self.cards = Seq(0.0)
        self.eden = SurvRateGroup()          # _eden_surv_rate_group
        self.survivor = SurvRateGroup()      # _survivor_surv_rate_group

    def copy_ms(self, nbytes: float, marking: bool) -> float:
        """``predict_object_copy_time_ms``: while marking, 1.1 × the young-only cost per byte
        until the during-marking sequence has 3 samples (``enough_samples_available``), then
        that sequence."""
        if marking:
            if self.cost_per_byte_cm.num < 3:
                return 1.1 * nbytes * self.cost_per_byte.predict()
            return nbytes * self.cost_per_byte_cm.predict()
        return nbytes * self.cost_per_byte.predict()

    def report_cost_per_byte(self, v: float, marking: bool) -> None:
        """``report_cost_per_byte_ms(cost, mark_or_rebuild_in_progress)``."""
        (self.cost_per_byte_cm if marking else self.cost_per_byte).add(v)

    def record_survival(self, rates: list[float], update: bool = True) -> None:
        """One collection's eden survival rates by age (0 = the region allocated last)."""
        self.eden.record(rates, update)

    def accum_surv_rate(self, n: int) -> float:
        return self.eden.accum_pred(n)

    def base_time_ms(self, survivor_used: list[int] = (), marking: bool = False) -> float:
        """``predict_base_elapsed_time_ms``: card scanning for the predicted cards + constant
        other + ``predict_survivor_regions_evac_time``: each survivor region (``used`` bytes,
        the one filled last at age 0) costs its young other time and the copy of ``used`` ×
        its age's predicted survival (``predict_region_total_time_ms``)."""
        t = self.cards.predict() * self.cost_per_card.predict() + self.constant_other.predict()
        n = len(survivor_used)
        for k, used in enumerate(survivor_used):
            t += self.young_other.predict() + self.copy_ms(
                used * self.survivor.pred(n - 1 - k), marking)
        return t


class G1Policy:
    """Sizing and triggers of G1 (g1Policy.cpp) for one heap of ``n`` regions."""

    serial = False
    epsilon = False

    def __init__(self, p, heap_bytes: int):
        self.R = region_size(heap_bytes, p.region_mb)
        self.n = heap_bytes // self.R
        # the JVM's own regions (CDS archive regions, start-up objects): occupied from the
        # start, old for the IHOP occupancy (non_young_capacity_bytes counts archive regions)
        self.runtime = min(p.runtime_regions, self.n - 1)
        self.humongous_bytes = humongous_threshold(self.R)
        self.min_young = max(1, self.n * G1_NEW_SIZE_PERCENT // 100)
        self.max_young = max(1, self.n * G1_MAX_NEW_SIZE_PERCENT // 100)
        self.reserve = math.ceil(self.n * G1_RESERVE_PERCENT / 100)
        # g1Arguments.cpp: "The default pause time target in G1 is 200ms"
        self.pause_goal_ms = float(p.max_gc_pause_ms if p.max_gc_pause_ms is not None else 200)
        self.ihop_bytes = int(p.ihop_percent * self.n * self.R / 100.0)
        self.adaptive_ihop = p.adaptive_ihop
        self.marking_times = Seq(alpha=IHOP_ALPHA)     # s of mutator time, start -> mixed
        self.alloc_rates = Seq(alpha=IHOP_ALPHA)       # old-gen bytes per s of mutator time
        self.unrestrained_young = 0                    # regions (young_list_target_lengths)
        self.survivor_ratio = p.survivor_ratio
        self.analytics = Analytics(p.gc_threads)
        self.initial_threshold = p.max_tenuring_threshold
        self.avg_promoted = None

    # -- IHOP ---------------------------------------------------------------------------------
    def ihop_threshold(self) -> int:
        """``get_conc_mark_start_threshold``: static, the ``InitiatingHeapOccupancyPercent`` of
        the heap; adaptive (``G1AdaptiveIHOPControl``) once it has 3 marking lengths and 3
        allocation rates: the heap less ``G1ReservePercent`` + ``G1HeapWastePercent``
        (``actual_target_threshold``) less what is predicted to be needed during marking —
        predicted marking length × predicted old-gen allocation rate + the last unrestrained
        young length."""
        p = self
        if not (self.adaptive_ihop and p.marking_times.num >= IHOP_INITIAL_SAMPLES
                and p.alloc_rates.num >= IHOP_INITIAL_SAMPLES):
            return self.ihop_bytes
        heap = self.n * self.R
        internal = int(min(heap * (100.0 - G1_RESERVE_PERCENT - G1_HEAP_WASTE_PERCENT) / 100.0,
                           heap * (100.0 - G1_HEAP_WASTE_PERCENT) / 100.0))
        need = int(p.marking_times.predict() * p.alloc_rates.predict()) \
            + self.unrestrained_young * self.R
        return internal - need if need < internal else 0

    # -- tlab.py's questions ------------------------------------------------------------------
    def old_takes_outside_tlab(self, size: int, almost_full: bool) -> bool:
        return False            # G1 allocates mutator objects in eden or humongous regions only

    def humongous(self, size: int) -> bool:
        return size > self.humongous_bytes

    # -- young length ---------------------------------------------------------------------------
    def _will_fit(self, eden: int, base_ms: float, free: int, marking: bool) -> bool:
        """``G1YoungLengthPredictor::will_fit`` (``free``: the free regions less the reserve)."""
        if eden >= free:
            return False
        a = self.analytics
        copy_bytes = int(a.accum_surv_rate(eden) * self.R)
        t = base_ms + a.copy_ms(copy_bytes, marking) + eden * a.young_other.predict()
        if t > self.pause_goal_ms:
            return False
        safety = (100.0 / G1_CONFIDENCE_PERCENT) * (100 + TARGET_PLAB_WASTE_PCT) / 100.0
        return int(safety * copy_bytes) <= (free - eden) * self.R

    def eden_by_pause(self, lo: int, hi: int, free: int, base_ms: float,
                      marking: bool = False) -> int:
        """The binary search of ``calculate_young_list_target_length``: the longest eden in
        [lo, hi] that fits (lo if even lo does not)."""
        if not self._will_fit(lo, base_ms, free, marking):
            return lo
        if self._will_fit(hi, base_ms, free, marking):
            return hi
        diff = (hi - lo) // 2
        while diff > 0:
            mid = lo + diff
            if self._will_fit(mid, base_ms, free, marking):
                lo = mid
            else:
                hi = mid
            diff = (hi - lo) // 2
        return lo

    def young_target(self, survivors: int, free: int, *, young_only: bool = True,
                     marking: bool = False, survivor_used: list[int] = ()) -> int:
        """JDK 17's ``G1Policy::young_list_target_lengths`` right after a collection (the
        survivor regions are the young regions already allocated, eden is empty); ``free`` =
        the free regions at the end of the collection. The desired minimum is
        ``G1NewSizePercent`` of the heap, at least the survivors + 1 eden region (the MMU term
        of ``calculate_young_list_desired_min_length`` is 0 with the default
        ``GCPauseIntervalMillis``); the maximum ``G1MaxNewSizePercent``, capped by the free
        regions less the ``G1ReservePercent`` reserve, the minimum winning a clash. Only in
        the young-only phase does the pause prediction choose within them
        (``calculate_young_list_target_length``, whose ``will_fit`` counts the free regions
        less the reserve too); before and between mixed collections the target is the
        minimum ("do the next GC as soon as possible")."""
        base_min = survivors
        desired_min = max(self.min_young, base_min + 1)
        desired_max = self.max_young
        target = 0
        if young_only:
            if desired_max <= desired_min:
                target = desired_min
            else:
                base_free = free - self.reserve if free > self.reserve else 0
                base_ms = self.analytics.base_time_ms(survivor_used, marking)
                target = base_min + self.eden_by_pause(desired_min - base_min,
                                                       desired_max - base_min,
                                                       base_free, base_ms, marking)
        # the length before the reserve and the bounds: the IHOP control's young size
        self.unrestrained_young = target
        absolute_max = free - self.reserve if free > self.reserve else 0
        desired_max = min(desired_max, absolute_max)
        target = min(target, desired_max)
        return max(target, desired_min)

    def max_survivor_regions(self, young_target: int, free: int) -> int:
        """``update_survivors_policy``."""
        return min(math.ceil(young_target / self.survivor_ratio), free)


class G1Heap(Heap):
    """The shared heap state with G1's footprint: per kind of region, the peak bytes held."""

    def touched_pages(self) -> int:
        return min(sum(page_round(v) for v in self.hwm.values()), self.sizes.heap) // PAGE

    def footprint(self) -> int:
        heap = min(sum(page_round(v) for v in self.hwm.values()), self.sizes.heap)
        return heap + page_round((heap + 511) // 512)


def g1_sizes(base, policy: G1Policy):
    """The layout Sizes for G1: the heap as whole regions; eden, survivor and old capacities
    change per cycle (set by the driver)."""
    heap = policy.n * policy.R
    return replace(base, heap=heap, young=0, eden=policy.R, survivor=policy.R,
                   old=heap, alignment=policy.R, max_tlab=policy.humongous_bytes)


class G1Run:
    """The replay driver of the ``jvm`` model under G1; model.py hands it the prepared state."""

    def __init__(self, model, out, heap: G1Heap, policy: G1Policy, eden, muts, hid, hsize,
                 alloc_event):
        self.m, self.out, self.heap, self.policy = model, out, heap, policy
        self.eden, self.muts = eden, muts
        self.hid, self.hsize, self.alloc_event = hid, hsize, alloc_event
        self.R = policy.R
        self.st = out.stats
        self.marking = False          # concurrent marking in progress
        self.rebuilding = False       # between Remark and Cleanup (rebuilding remembered sets)
        self.mk = None                # Remark's liveness, for Cleanup
        self.conc_start_next = False  # the next young collection starts marking
        self.mixed_phase = False      # candidates chosen, mixed collections to come
        self.prepare_mixed = False    # the next collection is the last young-only one
        self.candidates: list[np.ndarray] = []   # object ids of each candidate region
        self.candidates_at_marking = 0
        self.surv_regions = 0
        self.target = 0
        self.cards = 0
        self.humongous_ids: list[int] = []
        # the IHOP control's inputs (g1Policy.cpp update_ihop_prediction): the event of the
        # last pause, the humongous regions after it, the concurrent start's end
        self.last_gc_i = 0
        self.hum_regions_after_gc = 0
        self.cs_end_i: int | None = None

    # -- regions --------------------------------------------------------------------------------
    def old_regions(self) -> int:
        return -(-self.heap.old_top // self.R)

    def eden_regions_used(self) -> int:
        return -(-self.eden.eden_used // self.R)

    def free_regions(self) -> int:
        return (self.policy.n - self.policy.runtime - self.old_regions() - self.surv_regions
                - self.eden_regions_used())

    def set_eden(self, regions: int) -> None:
        e = self.eden
        e.eden_cap = regions * self.R
        # G1CollectedHeap::tlab_capacity = eden target; ThreadLocalAllocBuffer::resize
        e.desired = max(min((e.eden_cap // 8) // 50 * 8, self.policy.humongous_bytes), 2048)
        e.reset(0)

    def after_collection(self) -> None:
        """The young target for the next cycle (``update_young_list_max_and_target_length``
        at the end of ``record_collection_pause_end``): young-only unless mixed collections
        are to come, with the during-marking copy cost while marking runs, and the survivor
        regions (full regions and the last one's remainder) priced in the base time."""
        p = self.policy
        free = p.n - p.runtime - self.old_regions() - self.surv_regions
        used = self.heap.from_used
        surv_used = [min(self.R, used - k * self.R) for k in range(self.surv_regions)]
        self.target = p.young_target(self.surv_regions, free, young_only=not self.mixed_phase,
                                     marking=self.marking, survivor_used=surv_used)
        self.max_surv = p.max_survivor_regions(self.target, free)
        # eden takes free regions only: with none left the next allocation fails, and the
        # collections escalate to a full one and OutOfMemoryError
        self.set_eden(min(max(self.target - self.surv_regions, 1), max(free, 0)))

    def drop(self, regions_mask: np.ndarray | None, drop_ids: np.ndarray) -> None:
        """Free whole old regions (``regions_mask`` by current region index) and the objects
        ``drop_ids`` (humongous), renumbering the regions left; the objects keep their offset
        inside their region."""
        heap, R = self.heap, self.R
        ids = heap.old_ids.view().copy()
        if ids.size == 0:
            return
        addr = heap.addr[ids]
        reg = addr // R
        keep = np.ones(ids.size, dtype=bool)
        if regions_mask is not None:
            keep &= ~regions_mask[reg]
        if drop_ids.size:
            keep &= ~np.isin(ids, drop_ids)
        # every region a kept object spans (a humongous object's continuation regions too)
        rk = reg[keep]
        end_reg = (addr[keep] + heap.size[ids[keep]] - 1) // R
        kept_regions = np.unique(ranges(rk, end_reg - rk + 1))
        top_reg = (heap.old_top - 1) // R if heap.old_top else -1
        rank = np.full(max(int(end_reg.max()) if rk.size else 0, int(reg.max()), top_reg) + 2,
                       -1, dtype=np.int64)
        rank[kept_regions] = np.arange(kept_regions.size)
        if keep.any():
            ka = addr[keep]
            ends = ka + heap.size[ids[keep]]
            j = int(np.argmax(ends))
            last = int(ka[j] // R)
            # the end of the last object, in its region's new place
            top = int(rank[last]) * R + int(ends[j] - last * R)
            if top_reg < 0 or rank[top_reg] < 0:
                top = -(-top // R) * R          # the allocation region was freed
        else:
            top = 0
        new_addr = rank[reg[keep]] * R + addr[keep] % R
        hw = heap.hwm["old"]
        heap.rebuild_old(ids[keep], new_addr, top)
        heap.hwm["old"] = max(hw, top)
        self.remset()

    def remset(self) -> None:
        """The old cards that refer into the young generation, recomputed after the old
        regions moved (the card numbers of the mutator's dirty cards are addresses)."""
        heap = self.heap
        vals = heap.flat[heap.old_slot_fidx.view()]
        hit = vals >= 0
        g = heap.gen_np[vals[hit]]
        hit[hit] = (g == EDEN) | (g == SURV)
        heap.dirty = np.unique(heap.old_slot_addr.view()[hit] >> CARD_SHIFT)

    def place_humongous(self, oid: int) -> None:
        heap, R = self.heap, self.R
        heap.old_top = -(-heap.old_top // R) * R
        heap.append_old(np.array([oid], dtype=np.int64))
        heap.old_top = -(-heap.old_top // R) * R
        heap.hwm["old"] = max(heap.hwm["old"], heap.old_top)
        self.humongous_ids.append(oid)

    # -- tlab.py's humongous path -----------------------------------------------------------
    def allocate_humongous(self, k: int) -> bool:
        """``G1CollectedHeap::attempt_allocation_humongous`` for heap object ``k``: False when
        a collection must run first (marking to start, or no room)."""
        s = int(self.hsize[k])
        p = self.policy
        if (not self.marking and not self.mixed_phase and not self.prepare_mixed
                and (p.runtime + self.old_regions()) * self.R + s > p.ihop_threshold()
                and not self.conc_start_next):
            # need_to_start_conc_mark("concurrent humongous allocation"): a young collection
            # with concurrent start first
            self.conc_start_next = True
            self.humongous_gc = True
            return False
        need = -(-s // self.R)
        if need > self.free_regions():
            return False
        self.place_humongous(int(self.hid[k]))
        # eden cannot take regions the humongous object took
        e = self.eden
        room = (self.free_regions()) * self.R
        if e.eden_free > room:
            cut = e.eden_free - room
            e.eden_free -= cut
            e.eden_cap -= cut
        return True

    # -- collections ------------------------------------------------------------------------------
    def young(self, i: int, eden_ids: np.ndarray, mixed: bool) -> bool:
        m, heap, p, st, out = self.m, self.heap, self.policy, self.st, self.out
        R = self.R
        # capacities for this evacuation: survivor regions, and free regions for promotion
        free = self.free_regions()
        heap.sizes = replace(heap.sizes, survivor=self.max_surv * R,
                             old=heap.old_top + max(free - self.max_surv, 0) * R)
        eden_regions = self.eden_regions_used()
        young_regions = eden_regions + self.surv_regions
        pages = heap.touched_pages()
        eden_live = eden_ids[heap.gen_np[eden_ids] == EDEN] if eden_ids.size else eden_ids
        surv_before = heap.surv.copy()         # the survivor regions' objects, in copy order
        marking = self.marking                 # mark_or_rebuild_in_progress during this pause
        w = collect_young(heap, eden_ids, depth_first=True,
                          target_survivor_ratio=m.params.target_survivor_ratio,
                          max_tenuring_threshold=m.params.max_tenuring_threshold,
                          adapt_threshold=True)
        if w.failed:
            st["evacuation_failures"] += 1
            return False
        faults = heap.touched_pages() - pages
        st["page_faults"] += faults
        c = m.costs
        w.card_table_cards = 0                      # G1 merges remembered sets instead
        reclaimed = [w.reclaimed]
        # eager reclaim of dead humongous type arrays nobody refers to
        hum = self.eager_reclaim()
        if hum.size:
            reclaimed.append(hum)
        old_cset = 0
        old_copy = 0.0
        if mixed:
            old_cset, old_copy, dead = self.evacuate_old(i)
            reclaimed.append(dead)
        threads, eff = m.params.gc_threads, c.parallel_efficiency
        # An object promoted to old whose size is ParallelGCBufferWastePct of the old PLAB or
        # more is allocated directly (G1PLABAllocator::allocate_direct_or_new_plab ->
        # G1Allocator::old_attempt_allocation): every worker bumps the top of the one old GC
        # alloc region with a CAS, so their objects interleave in the same cache lines and
        # first-written pages, and the copying of these objects gains nothing from more
        # threads. Measured: HotSpot 17, G1, 256 MiB, message-buffer 200k/20k (83 % of the
        # copied bytes are 1 KiB messages promoted directly), Object Copy's critical path
        # per copied byte (-Xlog:gc*=debug: the slowest worker's time over the PLAB and
        # direct-allocation bytes) 0.60-0.95 ns/B with 1 worker, 0.51-0.70 with 2, 0.50-0.63
        # with 4; 0.20-0.25 with 1 and 0.18-0.39 with 2 under AlwaysPreTouch. Two C threads
        # copying 1 KiB objects interleaved into one fresh mapping: 0.41-0.44 ns/B, one
        # thread 0.44-0.56, each thread its own half 0.23-0.25 (docs/native-jvm.md).
        # The old generation's allocation the IHOP control learns from is what went through
        # old PLABs: G1CollectedHeap::record_obj_copy_mem_stats adds _old_evac_stats.allocated()
        # (PLABs handed out) to G1OldGenAllocationTracker, and an object copied directly into
        # an old region (_direct_allocated) is not in it. G1PLABAllocator::
        # allocate_direct_or_new_plab takes a new PLAB only while the object is under
        # ParallelGCBufferWastePct of the PLAB (may_throw_away_buffer); a larger one is
        # allocated directly (g1Allocator.cpp). With the PLAB at OldPLABSize (8 KiB; its
        # resizing, G1EvacStats, is not modelled) objects of 820 bytes or more, such as
        # message-buffer's 1 KiB messages, promote unseen — HotSpot 17's -Xlog:gc+ihop shows
        # a "recent allocation size" of 2 KiB for a collection that promoted 8 MB of them.
        direct_n = direct_b = 0
        if w.promoted:
            sz = heap.size[np.asarray(w.promoted, dtype=np.int64)]
            small = sz * 100 < OLD_PLAB_BYTES * PARALLEL_GC_BUFFER_WASTE_PCT
            self.plab_promoted = int(sz[small].sum())
            direct_n = int(small.size - np.count_nonzero(small))
            direct_b = int(sz.sum()) - self.plab_promoted
        else:
            self.plab_promoted = 0
        copy_ns = (w.copied_objects * c.copy_ns_per_object + w.copied_bytes * c.copy_ns_per_byte
                   + w.scanned_slots * c.scan_ns_per_slot) + old_copy
        # the direct copies' share of the first-write faults: by bytes
        direct_faults = faults * direct_b / w.copied_bytes if w.copied_bytes else 0.0
        serial = (direct_n * c.copy_ns_per_object + direct_b * c.copy_ns_per_byte
                  + direct_faults * c.page_fault_ns)
        card_ns = w.dirty_cards * c.dirty_card_ns + w.card_slots * c.scan_ns_per_slot
        work = (copy_ns + card_ns + w.registers * c.scan_ns_per_slot
                + young_regions * c.g1_region_ns + old_cset * c.g1_old_region_ns
                + faults * c.page_fault_ns) - serial
        kind = "mixed" if mixed else "minor"
        ns = m._pause(out, i, kind, c.young_pause_ns, work, serial)
        out.collection(kind, max(i - 1, 0), np.concatenate(reclaimed))
        st["minor_gcs" if not mixed else "mixed_gcs"] += 1
        st["copied_objects"] += w.copied_objects
        st["survivor_copied_bytes"] += w.survived_bytes
        st["promoted_bytes"] += w.promoted_bytes
        st["premature_promoted_bytes"] += w.premature_bytes
        st["dirty_cards_scanned"] += w.dirty_cards
        st["card_slots_scanned"] += w.card_slots
        st["old_cset_regions"] += old_cset
        self.surv_regions = -(-heap.from_used // R)
        heap.sizes = replace(heap.sizes, survivor=self.max_surv * R)
        # -- analytics (G1Policy::record_young_collection_end) --
        a = p.analytics
        par = threads * eff * 1e6                     # ns of work -> ms of pause
        # the sample is the copy phase's time per copied byte (record_collection_pause_end:
        # average ObjCopy time over MergePSSCopiedBytes), and the copying workers take the
        # first-write faults of the survivor and old regions they copy into (-Xms = -Xmx
        # commits the heap without AlwaysPreTouch): HotSpot 17 on message-buffer, 256 MiB,
        # 4 workers, promoting into never-written old regions: Object Copy 25.3 ms summed
        # over the workers for 13,072,072 copied bytes (-Xlog:gc+phases=debug, GC(1))
        if w.copied_bytes:
            shared = copy_ns + faults * c.page_fault_ns - serial
            a.report_cost_per_byte((serial + shared / threads) / (eff * 1e6)
                                   / (w.copied_bytes + 0.0), marking)
        a.constant_other.add(c.young_pause_ns / 1e6)
        if young_regions:
            a.young_other.add(c.g1_region_ns / par)
        if w.dirty_cards:
            a.cost_per_card.add(card_ns / par / w.dirty_cards)
        a.cards.add(float(w.dirty_cards))
        # cset_regions_freed: the predictors beyond this collection's regions take its oldest
        # region's rate only in a young-only collection outside marking
        update = not mixed and not marking
        if eden_live.size and eden_regions:
            sz = heap.size[eden_live]
            reg = (np.cumsum(sz) - sz) // R
            survived = np.bincount(reg, weights=np.where(heap.gen_np[eden_live] != DEAD, sz, 0),
                                   minlength=eden_regions)[:eden_regions]
            # the youngest region (allocated last) has age 0
            a.record_survival([b / R for b in survived[::-1].tolist()], update)
        if surv_before.size:
            # the survivor regions' own group (``_survivor_surv_rate_group``), same rule
            a.survivor.record(self.region_survival(surv_before), update)
        st["last_young_pause_ms"] = ns / 1e6
        return True

    def region_survival(self, ids: np.ndarray) -> list[float]:
        """Survival rate per region of objects laid out in ``ids`` order from a region
        boundary, by age (0 = the region filled last), after a collection."""
        heap, R = self.heap, self.R
        sz = heap.size[ids]
        reg = (np.cumsum(sz) - sz) // R
        n = int(reg[-1]) + 1
        survived = np.bincount(reg, weights=np.where(heap.gen_np[ids] != DEAD, sz, 0),
                               minlength=n)[:n]
        return [b / R for b in survived[::-1].tolist()]

    def eager_reclaim(self) -> np.ndarray:
        """Dead humongous type arrays (no slots) that no old object, survivor or register
        refers to (``G1EagerReclaimHumongousObjects``)."""
        heap = self.heap
        cand = [h for h in self.humongous_ids if heap.nslots_l[h] == 0 and heap.gen[h] == OLD]
        if not cand:
            return np.empty(0, dtype=np.int64)
        refs = [heap.regs, heap.flat[heap.old_slot_fidx.view()]]
        if heap.surv.size:
            refs.append(heap.flat[ranges(heap.slot_base[heap.surv], heap.nslots[heap.surv])])
        referenced = np.unique(np.concatenate(refs))
        c = np.array(cand, dtype=np.int64)
        dead = c[~np.isin(c, referenced)]
        if dead.size:
            self.drop(None, dead)
            heap.gen_np[dead] = DEAD
            live = set(self.humongous_ids) - set(dead.tolist())
            self.humongous_ids = [h for h in self.humongous_ids if h in live]
            self.st["humongous_eagerly_reclaimed"] += int(dead.size)
        return dead

    def evacuate_old(self, i: int) -> tuple[int, float, np.ndarray]:
        """The old part of a mixed collection: choose candidate regions
        (``G1CollectionSet::finalize_old_part``), evacuate their reachable objects to new old
        regions, free them. Returns (regions, copy work ns, reclaimed ids)."""
        heap, p, c, R = self.heap, self.policy, self.m.costs, self.R
        a = p.analytics
        min_old = -(-self.candidates_at_marking // G1_MIXED_GC_COUNT_TARGET)
        max_old = -(-p.n * G1_OLD_CSET_REGION_THRESHOLD_PERCENT // 100)
        mk = mark(heap, register_roots(heap))
        budget = p.pause_goal_ms - a.base_time_ms()
        chosen: list[np.ndarray] = []
        while self.candidates and len(chosen) < max_old:
            ids = self.candidates[0]
            ids = ids[heap.gen_np[ids] == OLD]
            live_b = int(heap.size[ids[mk[ids]]].sum()) if ids.size else 0
            t = a.non_young_other.predict() + live_b * a.cost_per_byte.predict()
            if len(chosen) >= min_old and t > budget:
                break
            budget -= t
            chosen.append(ids)
            self.candidates.pop(0)
        if not chosen:
            return 0, 0.0, np.empty(0, dtype=np.int64)
        ids = np.concatenate(chosen)
        regs = np.unique(heap.addr[ids] // R) if ids.size else np.empty(0, dtype=np.int64)
        live = ids[mk[ids]]
        dead = ids[~mk[ids]]
        mask = np.zeros(max(self.old_regions(), 1) + 1, dtype=bool)
        mask[regs] = True
        self.drop(mask, np.empty(0, dtype=np.int64))
        heap.gen_np[dead] = DEAD
        # live objects are copied to the top of the old regions, in address order
        heap.append_old(live)
        moved = int(heap.size[live].sum())
        self.st["mixed_copied_bytes"] += moved
        work = live.size * c.copy_ns_per_object + moved * c.copy_ns_per_byte \
            + int(heap.nslots[live].sum()) * c.scan_ns_per_slot
        # the moved objects' slots that point into the survivors dirty their new cards
        self.remset()
        # next_gc_should_be_mixed("continue mixed GCs"): while candidates are left
        if not self.candidates:
            self.mixed_phase = False
        return int(regs.size), work, dead

    def start_marking(self) -> None:
        """After the concurrent-start pause: the snapshot-at-the-beginning (SATB) marking
        finds what was reachable now; objects that reach the old generation later lie above
        the region's top-at-mark-start and count as live (g1ConcurrentMark.cpp)."""
        heap = self.heap
        self.marking = True
        self.conc_start_next = False
        self.st["concurrent_cycles"] += 1
        self.snap_live = mark(heap, register_roots(heap))
        self.snap_old = heap.gen_np == OLD
        # how long marking takes: the snapshot's live objects and their slots on the
        # concurrent threads, ConcGCThreads = max((ParallelGCThreads + 2) / 4, 1)
        # (G1ConcurrentMark::scale_concurrent_worker_threads); it advances only while the
        # mutator runs (concurrent threads yield to every pause, SuspendibleThreadSet)
        c = self.m.costs
        live = np.flatnonzero(self.snap_live)
        threads = max((self.m.params.gc_threads + 2) // 4, 1)
        self.mark_ns = (live.size * c.mark_ns_per_object
                        + int(heap.nslots[live].sum()) * c.mark_ns_per_slot) / threads
        self.mark_start = self.at

    def remark(self, i: int) -> None:
        """The Remark pause (g1ConcurrentMark.cpp ``G1ConcurrentMark::remark``): marking ends,
        completely empty old regions and dead humongous objects are freed at once
        (``G1UpdateRemSetTrackingBeforeRebuildTask``), and the remembered sets of the old
        regions that may become mixed candidates — live bytes below
        ``G1MixedGCLiveThresholdPercent`` (g1RemSetTrackingPolicy.cpp ``update_before_
        rebuild``) — are rebuilt concurrently next (g1ConcurrentMarkThread.cpp: Concurrent
        Rebuild Remembered Sets, then the Cleanup pause); marking counts as in progress
        (``mark_or_rebuild_in_progress``) until Cleanup."""
        m, heap, out, c, R = self.m, self.heap, self.out, self.m.costs, self.R
        # SATB: dead = old at the snapshot and unreachable then (it cannot become reachable)
        mk = self.snap_live | ~self.snap_old
        self.snap_live = self.snap_old = None
        self.mk = mk
        ids = heap.old_ids.view().copy()
        live = mk[ids]
        # the concurrent mark's work on other cores (G1ConcurrentMark)
        out.concurrent_ns += self.mark_ns * max((self.m.params.gc_threads + 2) // 4, 1)
        m._pause(out, i, "remark", c.g1_remark_pause_ns, 0.0)
        self.st["remark_pauses"] += 1
        reg = heap.addr[ids] // R
        nreg = self.old_regions() + 1
        live_bytes = np.bincount(reg, weights=np.where(live, heap.size[ids], 0), minlength=nreg)
        hum = np.isin(ids, np.array(self.humongous_ids, dtype=np.int64))
        hum_regions = np.zeros(nreg, dtype=bool)
        hum_regions[reg[hum]] = True
        empty = (live_bytes == 0) & ~hum_regions
        used = np.zeros(nreg, dtype=bool)
        used[reg] = True
        empty &= used
        dead_hum = ids[hum & ~live]
        freed = ids[(empty[reg] & ~hum) | (hum & ~live)]
        # the rebuild: every live object of the regions below the threshold is scanned (its
        # slots too) on the concurrent threads, at the marking costs (G1RebuildRemSetTask)
        low = (live_bytes < R * G1_MIXED_GC_LIVE_THRESHOLD_PERCENT / 100) & ~hum_regions & used
        scan = ids[live & low[reg] & ~hum]
        threads = max((self.m.params.gc_threads + 2) // 4, 1)
        self.rebuild_ns = (scan.size * c.mark_ns_per_object
                           + int(heap.nslots[scan].sum()) * c.mark_ns_per_slot) / threads
        self.rebuilding = True
        self.rebuild_start = i
        if freed.size:
            self.drop(empty, dead_hum)
            heap.gen_np[freed] = DEAD
            if dead_hum.size:
                gone = set(dead_hum.tolist())
                self.humongous_ids = [h for h in self.humongous_ids if h not in gone]
            # reclaimed at the remark pause: the safety oracle checks them; not a collection
            out.collections.append((max(i - 1, 0), freed))

    def cleanup(self, i: int) -> None:
        """The Cleanup pause after the rebuild (``G1ConcurrentMark::cleanup``,
        ``G1Policy::record_concurrent_mark_cleanup_end``): mixed candidates chosen
        (g1CollectionSetChooser.cpp) from Remark's liveness; marking is over."""
        m, heap, out, c, R = self.m, self.heap, self.out, self.m.costs, self.R
        self.marking = self.rebuilding = False
        mk, self.mk = self.mk, None
        out.concurrent_ns += self.rebuild_ns * max((self.m.params.gc_threads + 2) // 4, 1)
        m._pause(out, i, "cleanup", c.g1_cleanup_pause_ns, 0.0)
        # candidates: non-humongous old regions below the live threshold, most garbage first
        ids = heap.old_ids.view().copy()
        if ids.size == 0:
            self.cs_end_i = None
            return
        reg = heap.addr[ids] // R
        hum = np.isin(ids, np.array(self.humongous_ids, dtype=np.int64))
        nreg = int(reg.max()) + 1
        live = mk[ids]
        used_b = np.bincount(reg, weights=heap.size[ids], minlength=nreg)
        live_b = np.bincount(reg, weights=np.where(live, heap.size[ids], 0), minlength=nreg)
        hum_r = np.zeros(nreg, dtype=bool)
        hum_r[reg[hum]] = True
        top_r = (heap.old_top - 1) // R
        ok = (~hum_r) & (live_b < R * G1_MIXED_GC_LIVE_THRESHOLD_PERCENT / 100) & (used_b > 0)
        if 0 <= top_r < nreg:
            ok[top_r] = False                      # the current allocation region
        # HeapRegion::reclaimable_bytes: the region's capacity less its live bytes; the most
        # reclaimable first (G1CollectionSetChooser orders by reclaimable bytes per predicted
        # time, which for equal regions is this order)
        reclaim = R - live_b
        regs = np.flatnonzero(ok)
        regs = regs[np.argsort(-reclaim[regs], kind="stable")]
        # G1CollectionSetChooser::prune (JDK 17): from the least reclaimable end, drop
        # regions while their reclaimable bytes together stay within G1HeapWastePercent of
        # the heap, at most (candidates − the minimum old regions per mixed collection) + 1
        # of them (G1PruneRegionClosure stops once it has pruned more than that)
        regs = regs[:prune_candidates(reclaim[regs].astype(np.int64).tolist(),
                                      self.policy.n * R)]
        order = np.argsort(reg, kind="stable")
        starts = np.searchsorted(reg[order], regs)
        ends = np.searchsorted(reg[order], regs, side="right")
        self.candidates = [ids[order[s:e]] for s, e in zip(starts.tolist(), ends.tolist())]
        self.candidates_at_marking = len(self.candidates)
        # record_concurrent_mark_cleanup_end / next_gc_should_be_mixed (JDK 17): mixed
        # collections follow whenever candidates are left after pruning
        if self.candidates:
            self.prepare_mixed = True
        else:
            self.cs_end_i = None               # no mixed collections: no marking length

    def full(self, i: int, eden_ids: np.ndarray) -> None:
        m, heap, p, st, out = self.m, self.heap, self.policy, self.st, self.out
        st["full_gcs"] += 1
        # everything live compacts into the heap's regions (it was all in them) but the
        # JVM's own, which stay where they are (archive regions are never compacted)
        heap.sizes = replace(heap.sizes, old=(p.n - p.runtime) * self.R, eden=0, survivor=0)
        pages = heap.touched_pages()
        w = collect_full(heap, eden_ids, dead_wood=False)
        faults = heap.touched_pages() - pages
        st["page_faults"] += faults
        m._pause(out, i, "full", m.costs.full_pause_ns,
                 m._full_work(w, int(heap.regs.size)) + faults * m.costs.page_fault_ns)
        out.collection("full", max(i - 1, 0), w.reclaimed)
        st["marked_objects"] += w.marked_objects
        st["compacted_bytes"] += w.moved_bytes
        gone = set(w.reclaimed.tolist())
        self.humongous_ids = [h for h in self.humongous_ids if h not in gone]
        # G1FullCollector: everything live is compacted into old regions; marking, mixed
        # candidates and the young sizing start over (record_full_collection_end)
        self.marking = self.mixed_phase = self.prepare_mixed = self.conc_start_next = False
        self.rebuilding, self.mk = False, None
        self.candidates = []
        self.surv_regions = 0
        p.analytics.survivor = SurvRateGroup()          # _survivor_surv_rate_group->reset()
        heap.surv = np.empty(0, dtype=np.int64)
        heap.from_used = 0
        heap.eden_spill = 0
        heap.dirty = np.empty(0, dtype=np.int64)

    # -- the loop --------------------------------------------------------------------------------
    def collect(self, k: int, i: int, attempt: int, eden_ids: np.ndarray) -> None:
        """The response to a failed allocation of heap object ``k`` at event ``i``."""
        p = self.policy
        s = int(self.hsize[k])
        if attempt >= 3:
            self.m._oom(k, i, s)
        if attempt >= 1 and not getattr(self, "humongous_gc", False):
            self.full(i, eden_ids)
            self.after_collection()
            return
        self.humongous_gc = False
        self.at = i
        if (self.marking and not self.rebuilding
                and self.clock[i] - self.clock[self.mark_start] >= self.mark_ns):
            self.remark(i)
        if self.rebuilding and self.clock[i] - self.clock[self.rebuild_start] >= self.rebuild_ns:
            self.cleanup(i)
        mixed = self.mixed_phase
        if self.prepare_mixed:
            self.prepare_mixed = False
            self.mixed_phase = True            # this one is young-only; mixed ones follow
        conc_start = self.conc_start_next and not self.marking
        if conc_start:
            self.st["concurrent_start_gcs"] += 1
        self.plab_promoted = 0
        ok = self.young(i, eden_ids, mixed)
        if not ok:
            self.full(i, eden_ids)
            self.cs_end_i = None               # abort_time_to_mixed_tracking
        elif conc_start:
            self.start_marking()
        # maybe_start_marking: IHOP at the end of a young collection
        if (ok and not self.marking and not self.mixed_phase and not self.prepare_mixed
                and (p.runtime + self.old_regions()) * self.R > p.ihop_threshold()):
            self.conc_start_next = True
        self.after_collection()
        if ok:
            self.update_ihop(i, mixed, conc_start, self.plab_promoted)
        self.last_gc_i = i

    def update_ihop(self, i: int, mixed: bool, conc_start: bool, promoted: int) -> None:
        """``update_ihop_prediction`` after a young or mixed collection: a young-only one
        reports the old generation's growth (promotions and new humongous regions,
        ``G1OldGenAllocationTracker``) over the mutator time since the last pause, and the
        unrestrained young length; the first mixed one the mutator time since the concurrent
        start ended (``G1ConcurrentStartToMixedTimeTracker``: pauses excluded, which the
        mutator clock is by construction)."""
        p, R = self.policy, self.R
        hum = sum(-(-int(self.heap.size[h]) // R) for h in self.humongous_ids)
        growth = promoted + max(hum - self.hum_regions_after_gc, 0) * R
        self.hum_regions_after_gc = hum
        mutator_s = float(self.clock[i] - self.clock[self.last_gc_i]) / 1e9
        if mixed:
            if self.cs_end_i is not None:
                t = float(self.clock[i] - self.clock[self.cs_end_i]) / 1e9
                if t > 1e-6:
                    p.marking_times.add(t)
                self.cs_end_i = None
        elif mutator_s > 1e-6:
            p.alloc_rates.add(growth / mutator_s)
        if conc_start:
            self.cs_end_i = i
