"""Parallel's adaptive size policy (``-XX:+UseAdaptiveSizePolicy``, HotSpot's default).

What HotSpot 17 does after every successful scavenge (gc/parallel/psScavenge.cpp
``PSScavenge::invoke_no_policy``), in this order, and the model with it:

1. ``AdaptiveSizePolicy::minor_collection_end`` (gc/shared/adaptiveSizePolicy.cpp): the pause
   is sampled into ``_avg_minor_pause`` and, with the mutator time since the previous pause,
   the minor GC cost = pause / (mutator interval + pause) into ``_avg_minor_gc_cost``. The
   young policy is *ready* after ``AdaptiveSizePolicyReadyThreshold`` = 5 such samples.
2. ``PSAdaptiveSizePolicy::update_averages``: ``_avg_survived`` samples the bytes in the
   to-space — plus the promoted bytes when the to-space overflowed — and ``_avg_promoted``
   the promoted bytes (``AdaptivePaddedAverage`` with ``SurvivorPadding`` 3 and
   ``AdaptivePaddedNoZeroDevAverage`` with ``PromotedPadding`` 3, weight
   ``AdaptiveSizePolicyWeight`` 10; gc/shared/gcUtil.cpp).
3. ``PSAdaptiveSizePolicy::compute_eden_space_size``: first the pause goal — when
   ``max_gc_pause_ms`` is set and the padded average minor pause exceeds it, eden shrinks by
   20 % / 4 of itself, aligned down (``adjust_eden_for_minor_pause_time``); no pause goal is
   set by default (``MaxGCPauseMillis`` and ``MaxGCMinorPauseMillis`` are max_uintx for
   Parallel), and then the throughput goal decides: while the mutator's share 1 − (minor + major GC cost) is below
   1 − 1 / (1 + ``GCTimeRatio`` 99), eden grows by (minor cost / GC cost) ×
   (``YoungGenerationSizeIncrement`` 20 % + a supplement starting at
   ``YoungGenerationSizeSupplement`` 80 % and halved every ``YoungGenerationSizeSupplementDecay``
   8 minor collections once ready) of itself (``adjust_eden_for_throughput``); otherwise, once
   ready, it shrinks for footprint by 20 % / ``AdaptiveSizeDecrementScaleFactor`` 4 of itself,
   scaled by eden's share of eden + the promotion size (``adjust_eden_for_footprint``). It is
   aligned to the 512 KiB space alignment and held within the young generation less both
   survivor spaces; a grow that hits the limit keeps at least the current eden.
4. ``compute_survivor_space_size_and_threshold`` (only once ready): the survivor target is
   the padded average survived, aligned up, at most ``survivor_limit`` = young /
   ``MinSurvivorRatio``; the tenuring threshold (starting at ``InitialTenuringThreshold`` 7)
   steps down by one on survivor overflow, on hitting the survivor limit, or when the minor
   GC cost exceeds the major one × (1 + ``ThresholdTolerance`` 10 %), and up by one when the
   major cost exceeds the minor one so.
5. ``ParallelScavengeHeap::resize_young_gen`` → ``PSYoungGen::resize_spaces``: with -Xms =
   -Xmx the young generation keeps its size, so eden and the survivor spaces share it: the
   survivor spaces take the survivor target (never less than the from-space holds), eden the
   rest up to the requested eden.

The initial layout (heap.py) uses ``InitialSurvivorRatio`` 8 and the limit ``MinSurvivorRatio``
3; when ``-XX:SurvivorRatio`` is given both become SurvivorRatio + 2
(parallelArguments.cpp, CR 6362902), so the model uses the defaults when ``survivor_ratio`` is
HotSpot's default 8 and SurvivorRatio + 2 otherwise — and jvm-native passes the flag only then.

Simplifications: the mutator time between pauses is the trace's own mutator costs plus the
allocation fast path and barrier (the slow paths and first-touch faults are left out); a full
collection samples the major GC cost but resizes nothing (``PSParallelCompact`` also resizes
both generations, which -Xms = -Xmx leaves no room for except eden's share); the decaying
major-cost adjustment (``UseAdaptiveSizeDecayMajorGCCost``) and the GC overhead limit are left
out. This module decides sizes; it does not collect.
"""
from __future__ import annotations

import numpy as np

from .heap import align_down, align_up

#: gc_globals.hpp defaults
ADAPTIVE_SIZE_POLICY_WEIGHT = 10
SURVIVOR_PADDING = 3
PAUSE_PADDING = 1
READY_THRESHOLD = 5                     # AdaptiveSizePolicyReadyThreshold
GC_TIME_RATIO = 99
YOUNG_GEN_SIZE_INCREMENT = 20
YOUNG_GEN_SIZE_SUPPLEMENT = 80
YOUNG_GEN_SIZE_SUPPLEMENT_DECAY = 8
DECREMENT_SCALE_FACTOR = 4              # AdaptiveSizeDecrementScaleFactor
THRESHOLD_TOLERANCE = 10
INITIAL_TENURING_THRESHOLD = 7
INITIAL_SURVIVOR_RATIO = 8
MIN_SURVIVOR_RATIO = 3
DEFAULT_SURVIVOR_RATIO = 8
_F = np.float32


class WeightedAverage:
    """``AdaptiveWeightedAverage`` (gcUtil.cpp), in float32: the first samples weigh
    100 / count until that falls to ``weight``."""

    OLD_THRESHOLD = 100

    def __init__(self, weight: int = ADAPTIVE_SIZE_POLICY_WEIGHT):
        self.weight = weight
        self.count = 0
        self.is_old = False
        self.average = _F(0.0)

    def _adaptive(self, sample, average):
        count_weight = 0 if self.is_old else self.OLD_THRESHOLD // self.count
        w = _F(max(self.weight, count_weight))
        return _F((_F(100.0) - w) * average / _F(100.0) + w * sample / _F(100.0))

    def sample(self, value: float) -> None:
        self.count += 1
        if not self.is_old and self.count > self.OLD_THRESHOLD:
            self.is_old = True
        self.average = self._adaptive(_F(value), self.average)


class PaddedAverage(WeightedAverage):
    """``AdaptivePaddedAverage``: the average plus ``padding`` deviations (zeros included)."""

    def __init__(self, weight: int, padding: int):
        super().__init__(weight)
        self.padding = padding
        self.deviation = _F(0.0)
        self.padded = _F(0.0)

    def sample(self, value: float) -> None:
        super().sample(value)
        s = _F(value)
        self.deviation = self._adaptive(_F(abs(s - self.average)), self.deviation)
        self.padded = _F(self.average + _F(self.padding) * self.deviation)


class AdaptiveSizePolicy:
    """Eden, survivor and tenuring decisions of ``PSAdaptiveSizePolicy`` for a young
    generation of fixed size (-Xms = -Xmx)."""

    def __init__(self, sizes, survivor_ratio: int, max_tenuring_threshold: int,
                 pause_goal_ms: int | None = None):
        self.align = sizes.alignment
        self.young = sizes.young
        self.eden = sizes.eden
        self.survivor = sizes.survivor
        min_ratio = (MIN_SURVIVOR_RATIO if survivor_ratio == DEFAULT_SURVIVOR_RATIO
                     else survivor_ratio + 2)
        # PSAdaptiveSizePolicy::max_survivor_size
        self.survivor_limit = max(align_down(self.young // min_ratio, self.align), self.align)
        self.max_tenuring = max_tenuring_threshold
        # PSScavenge::initialize: InitialTenuringThreshold with the policy on, within the max
        self.threshold = min(INITIAL_TENURING_THRESHOLD, max_tenuring_threshold)
        self.avg_minor_pause = PaddedAverage(ADAPTIVE_SIZE_POLICY_WEIGHT, PAUSE_PADDING)
        self.avg_minor_gc_cost = WeightedAverage()
        self.avg_major_gc_cost = WeightedAverage()
        self.avg_survived = PaddedAverage(ADAPTIVE_SIZE_POLICY_WEIGHT, SURVIVOR_PADDING)
        self.supplement = YOUNG_GEN_SIZE_SUPPLEMENT
        # PSAdaptiveSizePolicy's initial promo size: the old generation, at most the young
        self.promo_size = min(sizes.old, sizes.young)
        self.ready = False
        self.throughput_goal = 1.0 - 1.0 / (1.0 + GC_TIME_RATIO)
        # gc_pause_goal_sec: MaxGCPauseMillis, unset (no goal) by default for Parallel
        self.pause_goal_s = None if pause_goal_ms is None else pause_goal_ms / 1000.0
        self.resizes = 0

    @staticmethod
    def initial_survivor_ratio(survivor_ratio: int) -> int:
        """``InitialSurvivorRatio`` as ParallelArguments leaves it (module docstring)."""
        return (INITIAL_SURVIVOR_RATIO if survivor_ratio == DEFAULT_SURVIVOR_RATIO
                else survivor_ratio + 2)

    def gc_cost(self) -> float:
        return max(float(self.avg_minor_gc_cost.average) + float(self.avg_major_gc_cost.average),
                   0.0)

    def major_collection_end(self, pause_ns: float, interval_ns: float) -> None:
        if interval_ns > 0 and pause_ns > 0:
            self.avg_major_gc_cost.sample(pause_ns / (interval_ns + pause_ns))

    def minor_collection_end(self, pause_ns: float, interval_ns: float, survived: int,
                             promoted: int, overflow: bool, from_used: int) -> None:
        """Steps 1 to 5 of the module docstring after one successful scavenge."""
        # 1. minor_collection_end
        self.avg_minor_pause.sample(pause_ns / 1e9)
        if interval_ns > 0 and pause_ns > 0:
            self.avg_minor_gc_cost.sample(pause_ns / (interval_ns + pause_ns))
        self.ready = self.avg_minor_gc_cost.count >= READY_THRESHOLD
        # AdaptiveSizePolicy::decay_supplemental_growth (minor)
        n = self.avg_minor_pause.count
        if n >= READY_THRESHOLD and n % YOUNG_GEN_SIZE_SUPPLEMENT_DECAY == 0:
            self.supplement >>= 1
        # 2. update_averages
        self.avg_survived.sample(survived + promoted if overflow else survived)
        # 3. compute_eden_space_size
        desired = self.eden
        eden_limit = self.young - 2 * self.survivor
        minor = float(self.avg_minor_gc_cost.average)
        mutator = 1.0 - self.gc_cost()
        if (self.pause_goal_s is not None
                and float(self.avg_minor_pause.padded) > self.pause_goal_s):
            # adjust_eden_for_pause_time → adjust_eden_for_minor_pause_time: shrink eden by
            # eden_decrement_aligned_down (20 % / AdaptiveSizeDecrementScaleFactor 4); the
            # pause-versus-eden estimator's slope is taken as positive (a smaller eden gives
            # a shorter pause, which holds for copying collections)
            desired -= align_down(desired // 100 * YOUNG_GEN_SIZE_INCREMENT
                                  // DECREMENT_SCALE_FACTOR, self.align)
        elif mutator < self.throughput_goal:
            gc = self.gc_cost()
            if gc > 0:
                inc = align_up(desired // 100 * (YOUNG_GEN_SIZE_INCREMENT + self.supplement),
                               self.align)
                desired += int(minor / gc * inc)
        elif self.ready:
            change = desired // 100 * YOUNG_GEN_SIZE_INCREMENT // DECREMENT_SCALE_FACTOR
            change = int(change * (desired / (desired + self.promo_size)))
            desired -= change
        desired = max(align_up(desired, self.align), self.align)
        eden_limit = align_down(eden_limit, self.align)
        if desired > eden_limit:
            desired = max(eden_limit, self.eden)
        # 4. compute_survivor_space_size_and_threshold
        target = self.survivor
        if self.ready:
            decr = incr = False
            if overflow:
                decr = True
            else:
                major = float(self.avg_major_gc_cost.average)
                tol = 1.0 + THRESHOLD_TOLERANCE / 100.0
                if minor > major * tol:
                    decr = True
                elif major > minor * tol:
                    incr = True
            target = max(align_up(int(self.avg_survived.padded), self.align), self.align)
            if target > self.survivor_limit:
                target = self.survivor_limit
                decr = True
            if decr:
                if self.threshold > 1:
                    self.threshold -= 1
            elif incr and self.threshold < self.max_tenuring:
                self.threshold += 1
        # 5. PSYoungGen::resize_spaces within the fixed young generation
        survivor = max(target, align_up(from_used, self.align), self.align)
        survivor = min(survivor, align_down((self.young - self.align) // 2, self.align))
        eden = min(desired, self.young - 2 * survivor)
        if (eden, survivor) != (self.eden, self.survivor):
            self.resizes += 1
        self.eden, self.survivor = eden, survivor


def mutator_clock(trace, mutator, costs, obj_size: np.ndarray, local: np.ndarray
                  ) -> np.ndarray:
    """Cumulative simulated mutator ns before each event: the program's own costs plus the
    TLAB fast path, zeroing and the card mark (the policy's interval between pauses)."""
    from memcompare.trace import STORE
    ns = mutator.per_event(trace.op, trace.a, trace.b, trace.c).astype(np.float64)
    heap_objs = np.flatnonzero(~local)
    np.add.at(ns, trace.obj_alloc_at[heap_objs],
              costs.tlab_alloc_ns + costs.zero_ns_per_byte * obj_size[heap_objs])
    stores = (trace.op == STORE) & (trace.y >= 0)
    ns[stores] += costs.card_mark_ns
    return np.concatenate(([0.0], np.cumsum(ns)))

