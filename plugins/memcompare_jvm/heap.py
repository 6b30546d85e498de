"""Generation sizing and the heap's state: eden, two survivor spaces, the old generation.

Sizing follows HotSpot's flag processing with ``-Xms`` = ``-Xmx`` (so no generation ever
resizes), for the Serial and the Parallel collector:

- the heap is ``-Xmx`` rounded up to ``HeapAlignment`` = card size × page size = 512 × 4 KiB
  = 2 MiB (``CardTable::ct_max_alignment_constraint``, used by ``compute_heap_alignment``);
- generations are multiples of ``GenAlignment``: 64 KiB for Serial (``Generation::GenGrain``
  = 1 << 16, ``GenArguments::initialize_alignments``) and 512 KiB for Parallel
  (``default_gen_alignment`` = 64 K words, gc/parallel/parallelArguments.cpp);
- young = ``-Xmn`` when given (``NewSize`` = ``MaxNewSize``, bounded to heap − GenAlignment and
  aligned down, ``GenArguments::initialize_heap_flags_and_sizes``), else
  ``align_down(heap / (NewRatio + 1), GenAlignment)`` (``GenArguments::scale_by_NewRatio_aligned``)
  but at least the default ``NewSize`` (``ScaleForWordSize(1 M)`` aligned down), and at least
  three alignments (eden + two survivors, ``young_gen_size_lower_bound``);
- one survivor = ``align_down(young / (SurvivorRatio + 2), GenAlignment)``, at least one
  alignment (Serial ``DefNewGeneration::compute_survivor_size``; Parallel
  ``PSYoungGen::compute_initial_space_boundaries`` with ``InitialSurvivorRatio`` =
  ``SurvivorRatio + 2``, which ``ParallelArguments::initialize`` sets whenever
  ``-XX:SurvivorRatio`` is given); eden = young − 2 × survivor; old = heap − young.

Epsilon (``collector = "epsilon"``, JEP 318) has no generations: the whole heap is one space
that the model keeps as "eden" with no survivors and no old generation. Its heap is ``-Xmx``
rounded up to its ``HeapAlignment`` = the page size, 4 KiB
(``EpsilonArguments::initialize_alignments``, gc/epsilon/epsilonArguments.cpp).

Worked example (docs/runtimes.md §2.1, JDK 17 Serial ``-Xmx64m -Xms64m``): young 21 824 K
= eden 17 472 K + 2 × 2 176 K, tenured 43 712 K.

The state below is what the collectors (young.py, full.py), the barrier (barrier.py) and the
allocator (tlab.py) share: one entry per object id for generation, age, address and size,
the slots and registers as of the last collection, and the old generation's bookkeeping. This
module must not decide when to collect.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KiB = 1024
MiB = 1024 * KiB
HEAP_WORD = 8
#: x86-64 Linux page
PAGE = 4096
#: card size (GCCardSizeInBytes default 512; gc_globals.hpp)
CARD_SHIFT = 9
CARD = 1 << CARD_SHIFT
#: HeapAlignment = CardTable::ct_max_alignment_constraint() = card size × page size
HEAP_ALIGNMENT = CARD * PAGE
#: Serial: Generation::GenGrain = 1 << 16 (gc/serial/generation.hpp)
SERIAL_GEN_ALIGNMENT = 64 * KiB
#: Parallel: default_gen_alignment() = 64 K heap words (gc/parallel/parallelArguments.cpp)
PARALLEL_GEN_ALIGNMENT = 64 * KiB * HEAP_WORD
#: EpsilonMaxTLABSize = 4 MiB (gc/epsilon/epsilon_globals.hpp): Epsilon's TLAB cap
EPSILON_MAX_TLAB = 4 * MiB
#: NewSize default = ScaleForWordSize(1 M) = 1 M × 13 / 10 aligned down to a heap word
DEFAULT_NEW_SIZE = (MiB * 13 // 10) // HEAP_WORD * HEAP_WORD
#: markWord::max_age: the 4-bit age field saturates at 15
MAX_AGE = 15
#: AgeTable::table_size = markWord::max_age + 1
AGE_TABLE_SIZE = MAX_AGE + 1

# -- object states (one byte per object id) --
NONE = 0       # not allocated yet
EDEN = 1
SURV = 2       # in the from-space (or left in young by a full collection)
OLD = 3
DEAD = 4       # reclaimed
LOCAL = 5      # scalar-replaced: never in the heap
TO = 6         # copied to the to-space during the current minor collection


def align_down(x: int, a: int) -> int:
    return x // a * a


def align_up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def page_round(x: int) -> int:
    return align_up(x, PAGE)


@dataclass(frozen=True)
class Sizes:
    """The fixed generation sizes, in bytes."""

    heap: int
    young: int
    eden: int
    survivor: int
    old: int
    alignment: int
    #: the heap's own cap on a TLAB (Epsilon's EpsilonMaxTLABSize); None = no cap below eden
    max_tlab: int | None = None

    @classmethod
    def compute(cls, collector: str, heap_mb: float, young_mb: float | None, new_ratio: int,
                survivor_ratio: int) -> "Sizes":
        if collector == "epsilon":
            heap = align_up(int(round(heap_mb * MiB)), PAGE)
            return cls(heap, heap, heap, 0, 0, PAGE, EPSILON_MAX_TLAB)
        align = SERIAL_GEN_ALIGNMENT if collector == "serial" else PARALLEL_GEN_ALIGNMENT
        # GenArguments::initialize_heap_flags_and_sizes: young must hold eden + 2 survivors,
        # old at least one alignment; MaxHeapSize is raised to fit both
        young_min = 3 * align
        heap = align_up(int(round(heap_mb * MiB)), HEAP_ALIGNMENT)
        heap = max(heap, align_up(young_min + align, HEAP_ALIGNMENT))
        if young_mb is not None:
            # -Xmn sets NewSize = MaxNewSize; both are bounded to leave one alignment of old
            # and aligned down ("We will silently increase NewSize if the user specified a
            # smaller or unaligned value")
            want = int(round(young_mb * MiB))
            young = max(young_min, align_down(min(want, heap - align), align))
        else:
            # GenArguments::initialize_size_info: MaxNewSize from NewRatio, clamped below by
            # the (aligned) default NewSize; -Xms = -Xmx makes it the initial size too
            new_size = max(young_min, align_down(min(DEFAULT_NEW_SIZE, heap - align), align))
            by_ratio = heap // (new_ratio + 1)
            by_ratio = align_down(by_ratio, align) if by_ratio > align else align
            young = max(by_ratio, new_size)
        n = young // (survivor_ratio + 2)
        survivor = align_down(n, align) if n > align else align
        eden = young - 2 * survivor
        return cls(heap, young, eden, survivor, heap - young, align)

    def tlab_size(self) -> int:
        """A thread's desired TLAB: eden / (threads × target refills), in bytes.

        ``ThreadLocalAllocBuffer::initial_desired_size``: eden words / (1 allocating thread ×
        ``_target_refills`` = 100 / (2 × TLABWasteTargetPercent 1) = 50), at least
        ``MinTLABSize`` = 2 KiB. ``resize()`` after each collection recomputes it from the
        thread's share of eden allocation, which is 1 for the trace's single thread, so the
        size stays the same. ``ThreadLocalAllocBuffer::max_size`` caps it: for Epsilon at
        ``EpsilonMaxTLABSize`` (``EpsilonHeap::initialize``). Epsilon's elastic TLABs
        (``EpsilonHeap::allocate_new_tlab``: the first TLAB is the minimum size and each next
        one grows × ``EpsilonTLABElasticity`` 1.1 until it reaches the desired size) are not
        modelled: they change only the number of refills and the ≤ 1/64 TLAB tails wasted
        while growing.
        """
        words = (self.eden // HEAP_WORD) // 50
        size = max(words * HEAP_WORD, 2 * KiB)
        return min(size, self.max_tlab) if self.max_tlab is not None else size


class Growable:
    """An int64 array appended to in chunks, with amortised O(1) appends."""

    def __init__(self, capacity: int = 64):
        self.buf = np.empty(max(capacity, 16), dtype=np.int64)
        self.n = 0

    def extend(self, values) -> None:
        values = np.asarray(values, dtype=np.int64)
        need = self.n + values.size
        if need > self.buf.size:
            new = np.empty(max(need, 2 * self.buf.size), dtype=np.int64)
            new[:self.n] = self.buf[:self.n]
            self.buf = new
        self.buf[self.n:need] = values
        self.n = need

    def reset(self, values) -> None:
        self.n = 0
        self.extend(values)

    def view(self) -> np.ndarray:
        return self.buf[:self.n]


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + c)`` for each start and count (vectorised)."""
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    ends = np.cumsum(counts)
    return np.repeat(starts - ends + counts, counts) + np.arange(total, dtype=np.int64)


class Heap:
    """Everything the collectors know about the heap, indexed by object id.

    ``gen`` and ``age`` are bytearrays (fast to index one object at a time in the copy loop)
    with numpy views ``gen_np`` and ``age_np`` over the same memory (for vectorised updates).
    ``flat`` and ``regs`` hold slot and register values as of ``pos`` (the next event not yet
    applied; see barrier.py for how a segment of events is applied).
    """

    def __init__(self, trace, sizes: Sizes, layout, obj_size: np.ndarray):
        n = trace.objects
        self.n = n
        self.sizes = sizes
        self.layout = layout
        self.gen = bytearray(n)
        self.gen_np = np.frombuffer(self.gen, dtype=np.uint8)
        self.age = bytearray(n)
        self.age_np = np.frombuffer(self.age, dtype=np.uint8)
        self.addr = np.zeros(n, dtype=np.int64)          # old objects: byte offset in old
        self.size = obj_size                             # Java object size, bytes
        # the per-object tables the copy loops index one object at a time: memoryviews over
        # the arrays (an int per read), not lists of Python ints (~36 bytes per object each:
        # 3 GB at 10⁸ events for the five tables of heap.py and tlab.py)
        self.size_l = memoryview(np.ascontiguousarray(obj_size, dtype=np.int64))
        self.nslots = trace.obj_nslots.astype(np.int64)
        self.nslots_l = memoryview(self.nslots)
        self.slot_base = trace.obj_slot_base.astype(np.int64)
        self.slot_base_l = memoryview(self.slot_base)
        self.slot_off = layout.slot_offset(trace.obj_size)
        self.flat = np.full(int(self.nslots.sum()), -1, dtype=np.int64)
        self.regs = np.full(max(trace.registers, 1), -1, dtype=np.int64)
        self.pos = 0
        # -- old generation: bump allocation, objects in address order, their slots' addresses
        # for the card table; dead objects stay until a full collection compacts them away --
        self.old_top = 0
        self.old_ids = Growable()
        self.old_slot_addr = Growable()
        self.old_slot_fidx = Growable()
        self.dirty = np.empty(0, dtype=np.int64)          # sorted dirty card numbers
        # -- young generation --
        self.surv = np.empty(0, dtype=np.int64)           # from-space objects, in copy order
        self.from_used = 0                                # bytes in the from-space
        self.eden_spill = 0                               # bytes a full collection left in eden
        self.to_index = 1                                 # which survivor space is "to"
        self.threshold = 0                                # tenuring threshold (policy sets it)
        # -- high-water marks of touched memory, per space --
        self.hwm = {"eden": 0, "s0": 0, "s1": 0, "old": 0}
        self.fp_last = -1

    # -- old generation -------------------------------------------------------------------
    @property
    def old_free(self) -> int:
        return self.sizes.old - self.old_top

    def append_old(self, ids: np.ndarray) -> None:
        """Place ``ids`` (in this order) at the old generation's top: addresses, the old
        object list, and their slots' addresses for the card table."""
        if ids.size == 0:
            return
        sz = self.size[ids]
        starts = self.old_top + np.cumsum(sz) - sz
        self.addr[ids] = starts
        self.old_top += int(sz.sum())
        self.old_ids.extend(ids)
        self.gen_np[ids] = OLD
        self._append_slots(ids)
        self.hwm["old"] = max(self.hwm["old"], self.old_top)

    def _append_slots(self, ids: np.ndarray) -> None:
        cnt = self.nslots[ids]
        if not cnt.any():
            return
        has = cnt > 0
        ids, cnt = ids[has], cnt[has]
        k = ranges(np.zeros(ids.size, dtype=np.int64), cnt)
        owner = np.repeat(ids, cnt)
        self.old_slot_addr.extend(self.addr[owner] + self.slot_off[owner]
                                  + k * self.layout.ref_size)
        self.old_slot_fidx.extend(self.slot_base[owner] + k)

    def rebuild_old(self, ids: np.ndarray, addrs: np.ndarray, top: int) -> None:
        """After a compaction: the old generation holds ``ids`` at ``addrs`` (ascending)."""
        self.addr[ids] = addrs
        self.old_top = top
        self.old_ids.reset(ids)
        self.old_slot_addr.reset(np.empty(0, dtype=np.int64))
        self.old_slot_fidx.reset(np.empty(0, dtype=np.int64))
        self._append_slots(ids)
        self.hwm["old"] = max(self.hwm["old"], self.old_top)

    # -- young generation -----------------------------------------------------------------
    def young_used(self, eden_used: int) -> int:
        """``DefNewGeneration::used()``: eden + from-space."""
        return eden_used + self.from_used

    def to_space(self) -> str:
        return "s1" if self.to_index else "s0"

    def from_space(self) -> str:
        return "s0" if self.to_index else "s1"

    # -- footprint and first touch ----------------------------------------------------------
    def pre_touch(self) -> None:
        """-XX:+AlwaysPreTouch: every page of every space is written at start-up (the heap's
        virtual spaces are committed with pretouch, ``os::pretouch_memory``), so each space's
        touched memory is its whole size from the first event on."""
        s = self.sizes
        self.hwm = {"eden": s.eden, "s0": s.survivor, "s1": s.survivor, "old": s.old}

    def touched_pages(self) -> int:
        """4 KiB pages of the heap written so far in the process: a page is faulted in (and
        zeroed by the kernel) at its first write and stays resident (-Xms = -Xmx)."""
        return sum(page_round(v) // PAGE for v in self.hwm.values())

    def footprint(self) -> int:
        """Resident bytes: each space's touched pages (a space's pages stay resident once
        written: -Xms = -Xmx never uncommits) plus the card table's pages for that much heap
        (one byte per 512-byte card, ``CardTable``)."""
        h = self.hwm
        heap = page_round(h["eden"]) + page_round(h["s0"]) + page_round(h["s1"]) \
            + page_round(h["old"])
        return heap + page_round((h["eden"] + h["s0"] + h["s1"] + h["old"] + CARD - 1) // CARD)

    def report_footprint(self, out, at: int) -> None:
        fp = self.footprint()
        if fp != self.fp_last:
            out.footprint(at, fp)
            self.fp_last = fp
