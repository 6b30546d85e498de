"""When to collect, and what: the triggers of HotSpot's Serial and Parallel heaps.

An allocation that eden cannot take (tlab.py) fails over to the heap's slow path, which this
module decides:

Serial (gc/serial/serialHeap.cpp, current mainline):

- ``mem_allocate_cas_noexpand``: an allocation outside a TLAB that eden cannot take goes to
  the old generation if it is larger than eden (``size > eden capacity``) or the heap is
  "almost full" (a full collection left objects in eden);
- ``satisfy_failed_allocation``: a young collection if the object could fit eden, else a full
  one; ``do_young_collection`` first asks ``is_young_gc_safe``: to-space empty and
  ``TenuredGeneration::promotion_attempt_is_safe(young used)`` = old free ≥ the padded average
  of promoted bytes, or old free ≥ young used. If unsafe, or the promotion fails, the young
  collection is upgraded to a full one (``collect_at_safepoint``). Then the object is retried in
  eden and, failing that, in the old generation; still failing: one more full collection with
  full compaction (``MarkSweepAlwaysCompactCount`` = 1), a last retry, then OutOfMemoryError.

Parallel (gc/parallel/parallelScavengeHeap.cpp, psScavenge.cpp):

- ``mem_allocate_old_gen``: an object eden cannot take goes to the old generation when it is
  at least half of eden (``should_alloc_in_eden``: ``size < eden words / 2``);
- ``failed_mem_allocate``: ``PSScavenge::invoke`` — skipped for a full collection when
  ``should_attempt_scavenge`` finds min(padded average promoted, young used) ≥ old free,
  and followed by a full collection when the scavenge failed; then young, a full collection
  if none ran yet, young, old, a maximal full collection, young, old, then OutOfMemoryError.
  A successful scavenge is never followed by a full collection: the jdk17u sources read here
  still call ``PSAdaptiveSizePolicy::should_full_GC`` after one, but the runtimes the twin
  runs (HotSpot 17.0.15, Debian, and 25.0.2) do not — with ``-Xlog:all=trace`` neither logs
  its "Full/No full after scavenge" line, and on message-buffer (200 000 / 20 000) at 64 MiB,
  -XX:-UseAdaptiveSizePolicy, HotSpot 17 runs 6 scavenges and 5 full collections, each full
  one alone after "Skip scavenge" (mainline psScavenge.cpp has no such call either).

The padded average is ``AdaptivePaddedNoZeroDevAverage(AdaptiveSizePolicyWeight = 10,
PromotedPadding = 3)`` (gc/shared/gcUtil.cpp), in float32 as HotSpot computes it; Serial samples
it after every successful young and every full collection (``update_promote_stats``),
Parallel after every successful scavenge (``update_averages``).

Parallel's adaptive size policy (``UseAdaptiveSizePolicy``, resizing eden and the survivors
and stepping the tenuring threshold) is asp.py, called by model.py after each scavenge; not
modelled: Parallel's GC overhead limit and its "death march" retries. G1's triggers are in
g1.py.
"""
from __future__ import annotations

import numpy as np

from .heap import HEAP_WORD

#: gc_globals.hpp: AdaptiveSizePolicyWeight = 10, PromotedPadding = 3
ADAPTIVE_SIZE_POLICY_WEIGHT = 10
PROMOTED_PADDING = 3
_F = np.float32


class PaddedNoZeroDevAverage:
    """HotSpot's ``AdaptivePaddedNoZeroDevAverage`` (gc/shared/gcUtil.cpp), in float32.

    The first samples get weight 100 / count (so the first is taken whole) until the weight
    reaches ``weight`` or 100 samples have been seen (``compute_adaptive_average``); a zero
    sample leaves the deviation alone.
    """

    OLD_THRESHOLD = 100

    def __init__(self, weight: int = ADAPTIVE_SIZE_POLICY_WEIGHT,
                 padding: int = PROMOTED_PADDING):
        self.weight = weight
        self.padding = padding
        self.count = 0
        self.is_old = False
        self.average = _F(0.0)
        self.deviation = _F(0.0)
        self.padded = _F(0.0)

    def _adaptive(self, sample, average):
        count_weight = 0 if self.is_old else self.OLD_THRESHOLD // self.count
        w = _F(max(self.weight, count_weight))
        return (_F(100.0) - w) * average / _F(100.0) + w * sample / _F(100.0)

    def sample(self, value: int) -> None:
        self.count += 1
        if not self.is_old and self.count > self.OLD_THRESHOLD:
            self.is_old = True
        s = _F(value)
        self.average = _F(self._adaptive(s, self.average))
        if value != 0:
            self.deviation = _F(self._adaptive(_F(abs(s - self.average)), self.deviation))
        self.padded = _F(self.average + _F(self.padding) * self.deviation)

    @property
    def padded_bytes(self) -> int:
        """``(size_t) padded_average()``."""
        return int(self.padded)


class Policy:
    """The triggers of one collector; ``serial`` or ``parallel``."""

    def __init__(self, collector: str, sizes, max_tenuring_threshold: int):
        self.serial = collector == "serial"
        self.epsilon = collector == "epsilon"
        self.sizes = sizes
        self.avg_promoted = PaddedNoZeroDevAverage()
        # Serial: DefNewGeneration's _tenuring_threshold starts at MaxTenuringThreshold.
        # Parallel without the adaptive size policy: PSScavenge::initialize sets
        # MaxTenuringThreshold and nothing changes it (psScavenge.cpp, invoke_no_policy);
        # with it, asp.py starts at InitialTenuringThreshold and steps it
        self.initial_threshold = max_tenuring_threshold

    def old_takes_outside_tlab(self, size: int, almost_full: bool) -> bool:
        """May an allocation that eden cannot take go straight to the old generation?"""
        if self.epsilon:
            return False            # one space: EpsilonHeap::allocate_work fails instead
        if self.serial:
            # SerialHeap::mem_allocate_cas_noexpand
            return size > self.sizes.eden or almost_full
        # ParallelScavengeHeap::should_alloc_in_eden: size < eden words / 2, in words
        return size // HEAP_WORD >= (self.sizes.eden // HEAP_WORD) // 2

    def humongous(self, size: int) -> bool:
        """Only G1 has humongous objects (g1.py)."""
        return False

    def young_first(self, size: int) -> bool:
        """Serial ``satisfy_failed_allocation``: a young collection only if the object fits
        eden at all; Parallel always scavenges first (``failed_mem_allocate``)."""
        return size <= self.sizes.eden if self.serial else True

    def young_gc_safe(self, old_free: int, young_used: int) -> bool:
        if self.serial:
            # TenuredGeneration::promotion_attempt_is_safe (no uncommitted old: -Xms = -Xmx)
            return old_free >= self.avg_promoted.padded_bytes or old_free >= young_used
        # PSScavenge::should_attempt_scavenge
        return min(self.avg_promoted.padded_bytes, young_used) < old_free

    def sample_after_young(self, promoted: int) -> None:
        # Serial TenuredGeneration::update_promote_stats; Parallel update_averages
        self.avg_promoted.sample(promoted)

    def sample_after_full(self, promoted: int) -> None:
        # Serial only: SerialHeap::do_full_collection calls update_promote_stats too
        if self.serial:
            self.avg_promoted.sample(promoted)
