"""mimalloc as the free-threaded build (3.13t/3.14t) uses it for every object: size-class
pages inside 32 MiB segments.

Sources: CPython's vendored mimalloc, Include/internal/mimalloc/mimalloc/types.h (64-bit):
64 KiB slices (``MI_SEGMENT_SLICE_SHIFT`` 13 + 3), 32 MiB segments (``MI_SEGMENT_SHIFT`` 9 +
16, 512 slices), small pages of one slice for blocks up to ``MI_SMALL_OBJ_SIZE_MAX`` = 16 KiB,
medium pages of 512 KiB (8 slices) up to ``MI_MEDIUM_OBJ_SIZE_MAX`` = 128 KiB, larger blocks
one per page of as many slices as they need (up to ``MI_LARGE_OBJ_SIZE_MAX`` = 16 MiB; a huge
block gets a segment of its own), memory committed per slice (``MI_COMMIT_SIZE`` 64 KiB);
Objects/mimalloc/page-queue.c ``mi_bin``: 1..8 words exact, then four bins per power of two
(12.5 % spacing), each bin's blocks the largest size it takes. The rules, as coded below:

- an allocation takes a block from the first page of its bin's queue; a page that fills leaves
  the queue (``mi_page_to_full``); a page that gets a block back while full goes to the queue's
  end (``_mi_page_unfull`` → ``mi_page_queue_enqueue_from``); with no page left a fresh page is
  made and pushed at the front (``mi_page_fresh``, ``mi_page_queue_push``), its slices taken
  from the first segment with room, or a new segment (``mi_segment_alloc``);
- a page whose last block is freed is *retired* if it is its bin's only page — kept for reuse
  (``_mi_page_retire``; mimalloc frees it only after ``MI_RETIRE_CYCLES`` more allocations
  elsewhere, which this model leaves out: it stays) — and otherwise freed back to its segment
  (``_mi_page_free``); its slices stay committed until they are purged
  (``mi_option_purge_delay``, 10 ms of real time after the free) and a later page reuses them
  without faulting them in again; a segment with no page left is freed (``mi_segment_free``)
  with everything it had committed.

Footprint: what is committed — the slices each segment has committed (its pages', and freed
pages' not yet purged) plus its own info slice (``mi_segment_t`` with 513 ``mi_page_t`` of 12
words each in this build ≈ 49 KiB: one slice).

Simplified: a segment's free slices are a count (mimalloc keeps spans, and a page needs
contiguous ones); freed slices are never purged while their segment lives (the purge delay is
longer than a trace's replay takes at this scale: an assumption); the retire delay and
abandoned segments (other threads) are left out.

This module keeps the allocator's state and prices its slow paths; it decides nothing else.
"""
from __future__ import annotations

from typing import Callable

SLICE = 64 * 1024                       # MI_SEGMENT_SLICE_SIZE
SEGMENT_SLICES = 512                    # MI_SLICES_PER_SEGMENT: 32 MiB / 64 KiB
SEGMENT_INFO_SLICES = 1                 # sizeof(mi_segment_t) ≈ 513 × 96 + header < 64 KiB
SMALL_OBJ_MAX = 16 * 1024               # MI_SMALL_OBJ_SIZE_MAX = MI_SMALL_PAGE_SIZE / 4
MEDIUM_OBJ_MAX = 128 * 1024             # MI_MEDIUM_OBJ_SIZE_MAX = MI_MEDIUM_PAGE_SIZE / 4
MEDIUM_PAGE_SLICES = 8                  # MI_MEDIUM_PAGE_SIZE 512 KiB
LARGE_OBJ_MAX = 16 * 1024 * 1024        # MI_LARGE_OBJ_SIZE_MAX = MI_SEGMENT_SIZE / 2
WORD = 8


def mi_bin(size: int) -> int:
    """page-queue.c ``mi_bin``: the bin (size class) of a request of ``size`` bytes."""
    wsize = (size + WORD - 1) // WORD
    if wsize <= 1:
        return 1
    if wsize <= 8:
        return wsize
    wsize -= 1
    b = wsize.bit_length() - 1                          # mi_bsr
    return ((b << 2) + ((wsize >> (b - 2)) & 0x03)) - 3


def _bin_blocks() -> dict[int, int]:
    """Each bin's block size: the largest request it takes (``MI_PAGE_QUEUES_EMPTY``)."""
    out: dict[int, int] = {}
    for w in range(1, MEDIUM_OBJ_MAX // WORD + 1):
        out[mi_bin(w * WORD)] = w * WORD
    return out


BIN_BLOCK = _bin_blocks()


def block_size(size: int) -> int:
    """The block a request of ``size`` bytes gets (small and medium), or its page's bytes."""
    if size <= MEDIUM_OBJ_MAX:
        return BIN_BLOCK[mi_bin(size)]
    return -(-size // SLICE) * SLICE


class Mimalloc:
    """Pages per bin, segments of slices. :meth:`malloc` / :meth:`free` return the page an
    object lives in and the cost beyond the fast path; ``on_change(at)`` is called whenever the
    committed bytes change."""

    def __init__(self, costs, on_change: Callable[[int], None]):
        self.c = costs
        self.on_change = on_change
        self.queue: dict[int, list[int]] = {}          # bin → pages with a free block, in order
        # per page: bin (-1: a large page of one block), blocks in use, capacity, slices,
        # segment; free page ids are reused
        self.pbin: list[int] = []
        self.pused: list[int] = []
        self.pcap: list[int] = []
        self.pslices: list[int] = []
        self.pseg: list[int] = []
        self.pfree_ids: list[int] = []
        self.seg_free: list[int] = []                  # free slices per segment (-1: freed)
        self.seg_pages: list[int] = []
        self.seg_cfree: list[int] = []                 # ... of which committed (not purged)
        self.committed = 0                             # bytes
        # -- counters (stats) --
        self.pages_made = 0
        self.pages_freed = 0
        self.segments_mapped = 0
        self.segments_freed = 0
        self.committed_peak = 0

    # -- pages and segments -------------------------------------------------------------------
    def _commit(self, nbytes: int, at: int) -> None:
        self.committed += nbytes
        self.committed_peak = max(self.committed_peak, self.committed)
        self.on_change(at)

    def _new_page(self, bin_: int, slices: int, cap: int, at: int) -> tuple[int, float]:
        """mi_segment_page_alloc: ``slices`` slices from the first segment with room, or a
        new segment (mmap; its info slices committed)."""
        c = self.c
        ns = c.mi_page_ns
        seg = -1
        for s, free in enumerate(self.seg_free):
            if free >= slices:
                seg = s
                break
        if seg < 0:
            seg = len(self.seg_free)
            need = max(slices + SEGMENT_INFO_SLICES, SEGMENT_SLICES)   # a huge one: its own
            self.seg_free.append(need - SEGMENT_INFO_SLICES)
            self.seg_pages.append(0)
            self.seg_cfree.append(0)
            self.segments_mapped += 1
            ns += c.mmap_ns + SEGMENT_INFO_SLICES * (SLICE // 4096) * c.page_fault_ns
            self._commit(SEGMENT_INFO_SLICES * SLICE, at)
        self.seg_free[seg] -= slices
        self.seg_pages[seg] += 1
        reused = min(slices, self.seg_cfree[seg])     # committed slices of freed pages
        self.seg_cfree[seg] -= reused
        fresh = slices - reused
        ns += fresh * (SLICE // 4096) * c.page_fault_ns
        if self.pfree_ids:
            p = self.pfree_ids.pop()
            self.pbin[p], self.pused[p], self.pcap[p] = bin_, 0, cap
            self.pslices[p], self.pseg[p] = slices, seg
        else:
            p = len(self.pbin)
            self.pbin.append(bin_)
            self.pused.append(0)
            self.pcap.append(cap)
            self.pslices.append(slices)
            self.pseg.append(seg)
        self.pages_made += 1
        if fresh:
            self._commit(fresh * SLICE, at)
        return p, ns

    def _free_page(self, p: int, at: int) -> float:
        """_mi_page_free: the page's slices go back to its segment, still committed; a
        segment without pages is freed (munmap) with all it committed."""
        seg = self.pseg[p]
        self.seg_free[seg] += self.pslices[p]
        self.seg_cfree[seg] += self.pslices[p]
        self.seg_pages[seg] -= 1
        self.pfree_ids.append(p)
        self.pages_freed += 1
        if self.seg_pages[seg]:
            return 0.0
        self._commit(-(self.seg_cfree[seg] + SEGMENT_INFO_SLICES) * SLICE, at)
        self.seg_free[seg] = -1
        self.seg_cfree[seg] = 0
        self.segments_freed += 1
        return self.c.munmap_ns

    # -- mi_malloc / mi_free ------------------------------------------------------------------
    def malloc(self, size: int, at: int) -> tuple[int, float]:
        """A block for ``size`` bytes: (page, cost beyond the fast path)."""
        if size > MEDIUM_OBJ_MAX:
            # a large page of one block, as many slices as it needs (a huge one: a segment
            # of its own, which _new_page makes when no segment has the room)
            p, ns = self._new_page(-1, -(-size // SLICE), 1, at)
            self.pused[p] = 1
            return p, ns
        b = mi_bin(size)
        q = self.queue.get(b)
        if q is None:
            q = self.queue[b] = []
        ns = 0.0
        if not q:
            block = BIN_BLOCK[b]
            slices = 1 if block <= SMALL_OBJ_MAX else MEDIUM_PAGE_SLICES
            p, ns = self._new_page(b, slices, slices * SLICE // block, at)
            q.insert(0, p)                             # mi_page_queue_push: at the front
        p = q[0]
        n = self.pused[p] + 1
        self.pused[p] = n
        if n == self.pcap[p]:
            q.pop(0)                                   # mi_page_to_full
        return p, ns

    def free(self, p: int, at: int) -> float:
        """mi_free of a block of page ``p``: the cost beyond the fast path."""
        n = self.pused[p]
        b = self.pbin[p]
        if b < 0:                                      # a large page: freed with its block
            self.pused[p] = 0
            return self._free_page(p, at)
        q = self.queue[b]
        if n == self.pcap[p]:
            q.append(p)                                # _mi_page_unfull: to the queue's end
        n -= 1
        self.pused[p] = n
        if n:
            return 0.0
        if len(q) == 1:
            return 0.0                                 # _mi_page_retire: the bin's only page
        q.remove(p)
        return self._free_page(p, at)

    def stats(self) -> dict[str, int]:
        return {"mi_pages_made": self.pages_made, "mi_pages_freed": self.pages_freed,
                "mi_segments_mapped": self.segments_mapped,
                "mi_segments_freed": self.segments_freed,
                "mi_committed_peak": self.committed_peak}
