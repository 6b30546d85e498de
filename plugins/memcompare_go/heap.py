"""Go's heap: pages, spans, mcentral/mcache, sweeping and the scavenger.

What it models, each with its runtime source:

- **Pages** (mheap.go, mpagealloc.go): 8 KiB pages in one address-ordered heap; a span takes the
  lowest-addressed free run that fits (``pageAlloc.alloc`` is first-fit by address); when none
  fits, ``mheap.grow`` maps a new chunk of whole 4 MiB (``pallocChunkPages`` = 512 pages) at the
  end of the heap. Grown memory starts out released (not backed by RAM) and is faulted in when
  a span first uses it (``allocSpan``'s ``sysUsed``).
- **Spans and caches** (mcache.go, mcentral.go): one cached span per span class on the only P;
  a full cached span is swapped in ``mcache.refill`` for one from ``mcentral.cacheSpan`` —
  partially free swept spans first, then unswept ones swept on the spot (at most 100), then a
  fresh span from the heap. Slots are handed out in address order (``nextFreeFast``).
  ``heapLive`` grows by a span's free bytes when it is cached (an overestimate, as in Go).
- **Sweeping** (mgcsweep.go): after mark termination every in-use span is unswept; a span's
  dead slots become reusable only once it is swept. Sweepers: the span's own allocation
  (``cacheSpan``), proportional sweeping at each refill (``deductSweepCredit``, paced by
  ``gcPaceSweeper`` to finish by the next trigger), ``mheap.reclaim`` before taking pages from
  the heap (spans with no marked object, in address order), the background sweeper (``bgsweep``)
  on a spare P, and the allocating goroutine finishing the rest before the next cycle starts.
  A span whose objects all died goes back to the heap's free pages.
- **Scavenger** (mgcscavenge.go): free pages stay backed (in the footprint) until released.
  The background scavenger releases the highest-addressed free pages whenever the retained
  heap exceeds ``gcPaceScavenger``'s goals (1.1 × last in-use heap scaled by the goal ratio;
  95 % of GOMEMLIMIT), at 1 % of GOMAXPROCS' CPU (``scavengePercent``; 10 µs per 4 KiB page,
  ``approxWorkedNSPerPhysicalPage``), off the mutator's core unless GOMAXPROCS=1; an allocation that
  would push mapped memory over GOMEMLIMIT, or a heap growth past the goal, scavenges
  synchronously (``allocSpan``).

Footprint = heap pages in use + free pages not yet released (Go's ``heapInUse + heapFree``, the
heap's share of ``mappedReady``); runtime metadata, stacks and the binary are left out.

- **Zeroing** (mheap.go ``allocNeedsZero``): mallocgc clears an object's memory unless its span
  lies wholly in address space never used before (above the arena's ``zeroedBase``), which the
  kernel hands out zeroed. The model charges zeroing per allocated byte with each allocation
  (model.py) and gives it back for a large object whose pages are fresh; a fresh span of small
  objects is still charged (its objects are priced before the heap is simulated).

Left out: the per-chunk "dense" heuristic that keeps the scavenger off recently packed chunks,
physical pages larger than 4 KiB and huge pages, ``needzero`` for small-object spans on fresh
memory (above), and arena reservation (address space is free). This module knows nothing about marking or time:
the collector tells it which objects died, and it reports costs through the :class:`Ledger`.
"""
from __future__ import annotations

from array import array
from collections import deque

from .sizeclasses import (CLASS_TO_NPAGES, CLASS_TO_SIZE, NUM_SPAN_CLASSES,
                          PAGE_SIZE, TINY_SIZE, TINY_SPAN_CLASS)

PALLOC_CHUNK_PAGES = 512          # mpagealloc.go pallocChunkPages: heap grows in 4 MiB chunks
PHYS_PAGE = 4096                  # physPageSize on x86-64 Linux
PHYS_PER_PAGE = PAGE_SIZE // PHYS_PAGE
SPAN_BUDGET = 100                 # mcentral.cacheSpan spanBudget
SCAVENGE_PERCENT = 1              # mgcscavenge.go scavengePercent
RETAIN_EXTRA_PERCENT = 10         # retainExtraPercent
REDUCE_EXTRA_PERCENT = 5          # reduceExtraPercent
INF = float("inf")

#: read-only free-slot lists of fresh spans, shared: a fresh span hands out slots 0, 1, 2, ...
_RANGES: dict[int, list[int]] = {}


def _fresh(nelems: int) -> list[int]:
    r = _RANGES.get(nelems)
    if r is None:
        r = _RANGES[nelems] = list(range(nelems))
    return r


class Ledger:
    """Where simulated time goes: per-event costs on the mutator's timeline and concurrent CPU.

    ``extra`` is the running sum of every dynamic cost put on the mutator's timeline so far
    (the replay loop adds it to the static start time of each event).
    """

    def __init__(self) -> None:
        self.extra = 0.0
        self.mm_at: list[int] = []
        self.mm_ns: list[float] = []
        self.gc_at: list[int] = []
        self.gc_ns: list[float] = []
        self.concurrent = 0.0

    def mm(self, i: int, ns: float) -> None:
        """Allocation-path work at event ``i`` (refills, span setup, faults, scavenging)."""
        if ns:
            self.mm_at.append(i)
            self.mm_ns.append(ns)
            self.extra += ns

    def gc(self, i: int, ns: float) -> None:
        """Collector work the mutator does at event ``i`` (sweeping, assists)."""
        if ns:
            self.gc_at.append(i)
            self.gc_ns.append(ns)
            self.extra += ns


class Heap:
    """The page heap, spans, mcentral lists and the single P's mcache."""

    def __init__(self, costs, procs: int, n_obj: int, n_tiny: int, ledger: Ledger,
                 out, nelems: tuple[int, ...]) -> None:
        n_ids = n_obj + n_tiny          # objects, then one pseudo id per possible tiny block
        self.nelems = nelems            # objects per span of each span class (span_nelems)
        self.c = costs
        self.procs = procs
        self.ledger = ledger
        self.out = out
        # -- pages --
        self.run_start: list[int] = []      # free runs, sorted by address
        self.run_len: list[int] = []
        self.released = bytearray()         # per page: 1 = not backed by RAM
        self.total_pages = 0
        self.inuse_pages = 0
        self.free_ready = 0                 # free pages still backed (heapFree / 8 KiB)
        self.last_fp = -1
        # -- spans (ids recycled, like mspan structs from fixalloc) --
        self.sp_class: list[int] = []
        self.sp_start: list[int] = []
        self.sp_npages: list[int] = []
        self.sp_nelems: list[int] = []
        self.sp_elem: list[int] = []
        self.sp_objs: list[list[int]] = []
        self.sp_nalloc: list[int] = []
        self.sp_gen: list[int] = []
        self.sp_inuse: list[bool] = []
        self.sp_dead: list[int] = []
        self.free_ids: list[int] = []
        # -- mcentral: per span class, swept and unswept, partial and full (spanSet FIFOs) --
        k = NUM_SPAN_CLASSES
        self.pswept = [deque() for _ in range(k)]
        self.fswept = [deque() for _ in range(k)]
        self.punswept = [deque() for _ in range(k)]
        self.funswept = [deque() for _ in range(k)]
        # -- mcache of the one P: cached span, its free slots, next position --
        self.cspan = [-1] * k
        self.cfree: list[list[int]] = [[] for _ in range(k)]
        self.cpos = [0] * k
        self.cend = [0] * k                 # len(cfree[spc]), read by the loop's fast path
        self.cobjs: list[list[int]] = [[] for _ in range(k)]
        # -- objects: span of each object / tiny block, dead flags (one spare entry: slot
        #    value -1 indexes it, so "dead[-1]" reads a permanent 0) --
        self.n_obj = n_obj
        self.ospan = array("q", bytes(8 * n_ids))
        self.dead = bytearray(n_ids + 1)
        self.tblock = array("q", bytes(8 * n_obj))   # each tiny object's block (pseudo id)
        self.tiny_block = -1                         # mcache.tiny: the block being filled
        self.tiny_off = 0                            # mcache.tinyoffset
        self.nblocks = 0
        # -- accounting (mgcpacer.go / mstats.go names) --
        self.heap_alloc = 0                 # bytes in allocated slots, as totalAlloc-totalFree
        self.sweepgen = 0
        self.sweep_done = True
        self.out_of_order = 0               # spans reclaim swept, left in unswept lists
        self.sweep_class = 0                # nextSpanForSweep's position (spc*2 + full)
        self.pages_swept = 0
        self.pages_swept_basis = 0
        self.sweep_pages_per_byte = 0.0
        self.sweep_live_basis = 0
        self.reclaim_list: list[int] = []
        self.reclaim_pos = 0
        self.bg_sweep_clock = 0.0
        self.scav_gc_goal = INF
        self.scav_limit_goal = INF
        self.scav_clock = 0.0
        self.scav_carry = 0.0
        self.memory_limit = INF
        self.pacer = None                   # the collector's Pacer: heapLive lives there
        self.limiter = None                 # the collector's CPULimiter
        # -- stats --
        self.spans_allocated = 0
        self.grows = 0
        self.pages_faulted = 0
        #: mheap's zeroedBase (one for the whole heap): pages at or above it were never used
        self.zeroed_base = 0
        self.fresh_pages = 0
        self.zeroing_skipped_bytes = 0
        self.released_pages = 0
        self.swept_spans = 0
        self.bg_sweep_ns = 0.0
        self.mut_sweep_ns = 0.0
        self.scavenge_ns_total = 0.0

    def release(self) -> None:
        """Drop the per-object and per-slot state once the replay is done (held() reads only
        ``tblock``)."""
        self.ospan = self.dead = self.sp_objs = self.cobjs = self.cfree = None

    # -- footprint --------------------------------------------------------------------------
    @property
    def mapped_ready(self) -> int:
        return (self.inuse_pages + self.free_ready) * PAGE_SIZE

    @property
    def heap_free(self) -> int:
        return self.free_ready * PAGE_SIZE

    def footprint(self, i: int) -> None:
        fp = self.mapped_ready
        if fp != self.last_fp:
            self.last_fp = fp
            self.out.footprint(i, fp)

    # -- page allocator ------------------------------------------------------------------------
    def _find(self, npages: int) -> int:
        """First fit by address (pageAlloc.find); -1 when no free run is long enough."""
        rl = self.run_len
        for k in range(len(rl)):
            if rl[k] >= npages:
                s = self.run_start[k]
                if rl[k] == npages:
                    del self.run_start[k]
                    del rl[k]
                else:
                    self.run_start[k] = s + npages
                    rl[k] -= npages
                return s
        return -1

    def _free_run(self, s: int, n: int) -> None:
        """Return pages [s, s+n) to the free runs, merging neighbours."""
        from bisect import bisect_left
        rs, rl = self.run_start, self.run_len
        k = bisect_left(rs, s)
        if k > 0 and rs[k - 1] + rl[k - 1] == s:
            k -= 1
            rl[k] += n
        else:
            rs.insert(k, s)
            rl.insert(k, n)
        if k + 1 < len(rs) and rs[k] + rl[k] == rs[k + 1]:
            rl[k] += rl[k + 1]
            del rs[k + 1]
            del rl[k + 1]

    def _grow(self, npages: int, i: int) -> int:
        """mheap.grow: map whole 4 MiB chunks at the end of the heap, released until used."""
        ask = -(-npages // PALLOC_CHUNK_PAGES) * PALLOC_CHUNK_PAGES
        s = self.total_pages
        self.total_pages += ask
        self.released.extend(b"\x01" * ask)
        self._free_run(s, ask)
        self.grows += 1
        self.ledger.mm(i, self.c.grow_ns)
        return ask

    def scavenge(self, npages: int) -> int:
        """pageAlloc.scavenge: release up to ``npages`` free backed pages, highest first."""
        done = 0
        rel = self.released
        rs, rl = self.run_start, self.run_len
        k = len(rs) - 1
        while done < npages and k >= 0:
            s, e = rs[k], rs[k] + rl[k]
            top = rel.rfind(b"\x00", s, e)
            while top >= 0 and done < npages:
                lo = rel.rfind(b"\x01", s, top) + 1
                lo = max(lo, s, top + 1 - (npages - done))
                n = top + 1 - lo
                rel[lo:top + 1] = b"\x01" * n
                done += n
                top = rel.rfind(b"\x00", s, lo)
            k -= 1
        self.free_ready -= done
        self.released_pages += done
        return done

    def alloc_span(self, npages: int, spc: int, nelems: int, elem: int, i: int) -> int:
        """mheap.allocSpan: reclaim, find pages (growing the heap), scavenge if needed, back
        released pages with RAM, and set up the span. Returns the span id."""
        led = self.ledger
        if not self.sweep_done:
            self.reclaim(npages, i)
        led.mm(i, self.c.span_alloc_ns)
        growth = 0
        s = self._find(npages)
        if s < 0:
            growth = self._grow(npages, i)
            s = self._find(npages)
        scav = self.released.count(1, s, s + npages)
        # allocNeedsZero: pages above zeroedBase have never been used, so they are still zero
        self.fresh_pages = max(0, s + npages - max(s, self.zeroed_base))
        self.zeroed_base = max(self.zeroed_base, s + npages)
        # allocSpan: scavenge to stay under the memory limit by what we are about to page in
        # (forced), and after a heap growth down to the scavenger's goal
        todo = 0
        if scav and self.memory_limit != INF and not self.limiter.enabled:
            over = (scav * PAGE_SIZE + self.mapped_ready) - self.memory_limit
            if over > 0:
                todo = over
        if growth and self.scav_gc_goal != INF:
            retained = self.mapped_ready
            if retained + growth * PAGE_SIZE > self.scav_gc_goal:
                todo = max(todo, min(growth * PAGE_SIZE,
                                     retained + growth * PAGE_SIZE - self.scav_gc_goal))
        if todo:
            n = self.scavenge(-(-int(todo) // PAGE_SIZE))
            ns = n * PHYS_PER_PAGE * self.c.scavenge_ns
            self.scavenge_ns_total += ns
            led.mm(i, ns)
        if scav:
            self.released[s:s + npages] = bytes(npages)
            self.pages_faulted += scav
            led.mm(i, scav * PHYS_PER_PAGE * self.c.page_fault_ns)
        self.free_ready -= npages - scav
        self.inuse_pages += npages
        if self.free_ids:
            sp = self.free_ids.pop()
            self.sp_class[sp] = spc
            self.sp_start[sp] = s
            self.sp_npages[sp] = npages
            self.sp_nelems[sp] = nelems
            self.sp_elem[sp] = elem
            self.sp_objs[sp] = [-1] * nelems
            self.sp_nalloc[sp] = 0
            self.sp_gen[sp] = self.sweepgen
            self.sp_inuse[sp] = True
            self.sp_dead[sp] = 0
        else:
            sp = len(self.sp_class)
            self.sp_class.append(spc)
            self.sp_start.append(s)
            self.sp_npages.append(npages)
            self.sp_nelems.append(nelems)
            self.sp_elem.append(elem)
            self.sp_objs.append([-1] * nelems)
            self.sp_nalloc.append(0)
            self.sp_gen.append(self.sweepgen)
            self.sp_inuse.append(True)
            self.sp_dead.append(0)
        self.spans_allocated += 1
        self.footprint(i)
        return sp

    def free_span(self, sp: int) -> None:
        """mheap.freeSpan: the span's pages become free (still backed) heap pages."""
        n = self.sp_npages[sp]
        self.inuse_pages -= n
        self.free_ready += n
        self._free_run(self.sp_start[sp], n)
        self.sp_inuse[sp] = False
        self.sp_objs[sp] = []
        self.free_ids.append(sp)

    # -- small objects: mcache / mcentral -------------------------------------------------------
    def refill(self, spc: int, i: int, t: float) -> None:
        """mcache.refill: uncache the full span, cache one with free slots, count its free
        bytes into heapLive."""
        self.background(i, t)
        old = self.cspan[spc]
        if old >= 0:
            self._uncache(spc, old, stale=False)
        self.ledger.mm(i, self.c.refill_ns)
        sp = self._cache_span(spc, i)
        objs = self.sp_objs[sp]
        nelems = self.sp_nelems[sp]
        if self.sp_nalloc[sp] == 0:
            free = _fresh(nelems)
        else:
            free = [k for k, o in enumerate(objs) if o < 0]
        self.cspan[spc] = sp
        self.cfree[spc] = free
        self.cend[spc] = len(free)
        self.cpos[spc] = 0
        self.cobjs[spc] = objs
        used = nelems - len(free)
        self.sp_nalloc[sp] = used
        self.pacer.heap_live += self.sp_npages[sp] * PAGE_SIZE - used * self.sp_elem[sp]

    def _uncache(self, spc: int, sp: int, stale: bool) -> None:
        """mcentral.uncacheSpan: count what was allocated; a stale span (cached before the
        sweep generation moved) is swept now, others go back to the swept lists."""
        p = self.cpos[spc]
        self.sp_nalloc[sp] += p
        self.heap_alloc += p * self.sp_elem[sp]
        self.cspan[spc] = -1
        self.cfree[spc] = []
        self.cend[spc] = 0
        self.cpos[spc] = 0
        self.cobjs[spc] = []
        if stale:
            return
        if self.sp_nalloc[sp] < self.sp_nelems[sp]:
            self.pswept[spc].append(sp)
        else:
            self.fswept[spc].append(sp)

    def _cache_span(self, spc: int, i: int) -> int:
        """mcentral.cacheSpan: a swept partial span, else sweep unswept ones of this class
        (at most spanBudget), else a fresh span from the heap."""
        npages = CLASS_TO_NPAGES[spc >> 1]
        self.deduct_sweep_credit(npages * PAGE_SIZE, 0, i)
        ps = self.pswept[spc]
        gen = self.sweepgen
        spgen = self.sp_gen
        if ps:
            return ps.popleft()
        if not self.sweep_done:
            budget = SPAN_BUDGET
            pu = self.punswept[spc]
            while budget >= 0 and pu:
                sp = pu.popleft()
                budget -= 1
                if spgen[sp] == gen:
                    continue                # already swept by someone else
                self.sweep(sp, True, i, mutator=True)
                return sp
            fu = self.funswept[spc]
            while budget >= 0 and fu:
                sp = fu.popleft()
                budget -= 1
                if spgen[sp] == gen:
                    continue
                self.sweep(sp, True, i, mutator=True)
                if self.sp_nalloc[sp] < self.sp_nelems[sp]:
                    return sp
                self.fswept[spc].append(sp)
        sc = spc >> 1
        return self.alloc_span(npages, spc, self.nelems[spc], CLASS_TO_SIZE[sc], i)

    def alloc_tiny(self, o: int, size: int, i: int, t: float) -> bool:
        """mallocgcTiny: pack a pointer-free object under 16 bytes into the current 16-byte
        block (aligned to 8, 4 or 2 by its size), or start a new block. True when the new
        block needed a span refill."""
        off = self.tiny_off
        if size & 7 == 0:
            off = (off + 7) & ~7
        elif size & 3 == 0:
            off = (off + 3) & ~3
        elif size & 1 == 0:
            off = (off + 1) & ~1
        if self.tiny_block >= 0 and off + size <= TINY_SIZE:
            self.tblock[o] = self.tiny_block
            self.tiny_off = off + size
            return False
        b = self.n_obj + self.nblocks
        self.nblocks += 1
        spc = TINY_SPAN_CLASS
        refilled = False
        if self.cpos[spc] >= len(self.cfree[spc]):
            self.refill(spc, i, t)
            refilled = True
        p = self.cpos[spc]
        self.cobjs[spc][self.cfree[spc][p]] = b
        self.cpos[spc] = p + 1
        self.ospan[b] = self.cspan[spc]
        self.tblock[o] = b
        # keep whichever block has more room left
        if size < self.tiny_off or self.tiny_block < 0:
            self.tiny_block = b
            self.tiny_off = size
        return refilled

    def alloc_large(self, o: int, npages: int, i: int, t: float) -> int:
        """mcache.allocLarge: its own span of whole pages, counted whole into heapLive."""
        self.background(i, t)
        self.deduct_sweep_credit(npages * PAGE_SIZE, npages, i)
        sp = self.alloc_span(npages, 0, 1, npages * PAGE_SIZE, i)
        if self.fresh_pages:
            # mallocgc: needzero is false for a span wholly in fresh memory; the part that is
            # fresh needs no clearing (model.py charged the whole object's zeroing)
            skipped = self.fresh_pages * PAGE_SIZE
            self.zeroing_skipped_bytes += skipped
            self.ledger.mm(i, -skipped * self.c.alloc_ns_per_byte)
        self.sp_objs[sp][0] = o
        self.sp_nalloc[sp] = 1
        self.ospan[o] = sp
        self.heap_alloc += npages * PAGE_SIZE
        self.pacer.heap_live += npages * PAGE_SIZE
        self.fswept[0].append(sp)
        return sp

    # -- sweeping --------------------------------------------------------------------------------
    def _charge_sweep(self, ns: float, i: int, mutator: bool) -> None:
        """Sweeping by the allocating goroutine is collector work on its timeline; the
        background sweeper's runs on a spare P (with GOMAXPROCS=1 it has none)."""
        if not ns:
            return
        if mutator:
            self.mut_sweep_ns += ns
            self.ledger.gc(i, ns)
        else:
            self.bg_sweep_ns += ns
            if self.procs > 1:
                self.ledger.concurrent += ns
            else:
                self.ledger.gc(i, ns)

    def _sweep_span(self, sp: int, preserve: bool) -> float:
        """mspan.sweep: free the dead slots; an emptied span goes back to the heap unless the
        caller keeps it (``preserve``). Returns its cost."""
        nelems = self.sp_nelems[sp]
        self.swept_spans += 1
        self.sp_gen[sp] = self.sweepgen
        self.pages_swept += self.sp_npages[sp]
        dc = self.sp_dead[sp]
        if dc:
            self.sp_dead[sp] = 0
            dead = self.dead
            objs = self.sp_objs[sp]
            objs[:] = [-1 if dead[o] else o for o in objs]
            self.sp_nalloc[sp] -= dc
            self.heap_alloc -= dc * self.sp_elem[sp]
        if not preserve:
            nalloc = self.sp_nalloc[sp]
            spc = self.sp_class[sp]
            if nalloc == 0:
                self.free_span(sp)
            elif nalloc < nelems:
                self.pswept[spc].append(sp)
            else:
                self.fswept[spc].append(sp)
        return self.c.sweep_span_ns + self.c.sweep_object_ns * nelems

    def sweep(self, sp: int, preserve: bool, i: int, mutator: bool) -> None:
        """Sweep one span taken off its list (for allocation, or at the mcache flush)."""
        self._charge_sweep(self._sweep_span(sp, preserve), i, mutator)

    def sweep_some(self, i: int, mutator: bool, max_pages: float = INF,
                   max_ns: float = INF) -> bool:
        """sweepone, repeatedly: sweep unswept spans in sweep-class order (span class, partial
        before full: mheap.nextSpanForSweep) until ``max_pages`` pages or ``max_ns`` of work
        are done. Spans in which nothing died are only refiled. False once sweeping is done."""
        k = self.sweep_class
        gen = self.sweepgen
        spgen, spdead, npg = self.sp_gen, self.sp_dead, self.sp_npages
        nel, nal = self.sp_nelems, self.sp_nalloc
        span_ns, obj_ns = self.c.sweep_span_ns, self.c.sweep_object_ns
        bounded = max_pages != INF or max_ns != INF
        last = 2 * NUM_SPAN_CLASSES
        pages = 0
        ns = 0.0
        slots = 0
        spans = 0
        while k < last:
            spc = k >> 1
            q = (self.funswept if k & 1 else self.punswept)[spc]
            if q and (not bounded or spc >= 2):
                # a whole queue at once when nothing in it died and it fits the budget:
                # an unswept span is not cached, so it is as partial or full as when it was
                # filed, and the queue moves to the matching swept list (the spans'
                # generation can stay behind: nothing reads it once the queue is gone)
                items = [sp for sp in q if spgen[sp] != gen] if self.out_of_order else list(q)
                full = k & 1
                if spc >= 2:
                    cnt = len(items)
                    q_pages = cnt * CLASS_TO_NPAGES[spc >> 1]
                    q_slots = cnt * self.nelems[spc]
                else:
                    q_pages = sum([npg[sp] for sp in items])
                    q_slots = len(items)
                fits = (not bounded or (pages + q_pages <= max_pages and ns + span_ns
                                        * (spans + len(items)) + obj_ns * (slots + q_slots)
                                        <= max_ns))
                if fits and not any([spdead[sp] for sp in items]):
                    q.clear()
                    (self.fswept if full else self.pswept)[spc].extend(items)
                    spans += len(items)
                    slots += q_slots
                    pages += q_pages
                    k += 1
                    continue
            if q and not bounded:
                q.clear()
                ps, fs = self.pswept[spc], self.fswept[spc]
                for sp in items:
                    pages += npg[sp]
                    if spdead[sp]:
                        ns += self._sweep_span(sp, False)
                        self.pages_swept -= npg[sp]
                        continue
                    n = nel[sp]
                    spans += 1
                    slots += n
                    (fs if full else ps).append(sp)
            elif q:
                ps, fs = self.pswept[spc], self.fswept[spc]
                stop = False
                while q:
                    if bounded and (pages >= max_pages or ns + span_ns * spans
                                    + obj_ns * slots >= max_ns):
                        stop = True
                        break
                    sp = q.popleft()
                    if spgen[sp] == gen:
                        continue            # swept already (cacheSpan, reclaim)
                    pages += npg[sp]
                    if spdead[sp]:
                        ns += self._sweep_span(sp, False)
                        self.pages_swept -= npg[sp]
                        continue
                    n = nel[sp]
                    spgen[sp] = gen
                    spans += 1
                    slots += n
                    if nal[sp] < n:
                        ps.append(sp)
                    else:
                        fs.append(sp)
                if stop:
                    break
            k += 1
        self.sweep_class = k
        self.pages_swept += pages
        self.swept_spans += spans
        ns += span_ns * spans + obj_ns * slots
        more = True
        if k >= last:
            self.finish_sweep()
            more = False
        self._charge_sweep(ns, i, mutator)
        self._swept_ns = ns
        return more

    def sweep_one(self, i: int, mutator: bool) -> bool:
        """sweepone: sweep the next unswept span; False when sweeping is done."""
        return self.sweep_some(i, mutator, max_pages=1)

    def finish_sweep(self) -> None:
        self.sweep_done = True
        self.sweep_pages_per_byte = 0.0

    def deduct_sweep_credit(self, span_bytes: int, caller_pages: int, i: int) -> None:
        """deductSweepCredit: proportional sweep, so sweeping ends by the next trigger."""
        if self.sweep_pages_per_byte == 0:
            return
        live = self.pacer.heap_live
        new_live = span_bytes + max(0, live - self.sweep_live_basis)
        target = int(self.sweep_pages_per_byte * new_live) - caller_pages
        owed = target - (self.pages_swept - self.pages_swept_basis)
        if owed > 0:
            self.sweep_some(i, True, max_pages=owed)

    def reclaim(self, npages: int, i: int) -> None:
        """mheap.reclaim: sweep spans with no marked object, by address, until ``npages``
        pages went back to the heap."""
        lst = self.reclaim_list
        gen = self.sweepgen
        freed = 0
        ns = 0.0
        while freed < npages and self.reclaim_pos < len(lst):
            sp = lst[self.reclaim_pos]
            self.reclaim_pos += 1
            if self.sp_gen[sp] == gen or not self.sp_inuse[sp]:
                continue
            n = self.sp_npages[sp]
            self.out_of_order += 1
            ns += self._sweep_span(sp, False)
            if not self.sp_inuse[sp]:
                freed += n
        self._charge_sweep(ns, i, True)

    def finish_sweeping(self, i: int, t: float) -> None:
        """gcStart: the allocating goroutine sweeps whatever is left before the cycle."""
        self.background(i, t)
        if not self.sweep_done:
            self.sweep_some(i, True)

    def start_sweep(self, dead_per_span, i: int, t: float) -> None:
        """gcSweep + the mcache flush after mark termination: every in-use span becomes
        unswept (the sweep generation moves); ``dead_per_span`` gives (span, objects that
        died). The cached spans are stale: their P sweeps them right away (uncacheSpan), and
        the tiny block is dropped (mcache.releaseAll)."""
        self.sweepgen += 1
        for spc in range(NUM_SPAN_CLASSES):
            if self.pswept[spc] or self.fswept[spc]:
                self.punswept[spc], self.pswept[spc] = self.pswept[spc], self.punswept[spc]
                self.funswept[spc], self.fswept[spc] = self.fswept[spc], self.funswept[spc]
        stale = []
        for spc in range(NUM_SPAN_CLASSES):
            sp = self.cspan[spc]
            if sp >= 0:
                self._uncache(spc, sp, stale=True)
                stale.append(sp)
        self.tiny_block = -1
        self.tiny_off = 0
        # mheap.reclaim's candidates: spans with no marked object, in address order
        reclaim = []
        for sp, n in dead_per_span:
            self.sp_dead[sp] = n
            if n == self.sp_nalloc[sp]:
                reclaim.append(sp)
        start = self.sp_start
        reclaim.sort(key=lambda sp: start[sp])
        self.sweep_done = False
        self.out_of_order = 0
        self.sweep_class = 0
        self.pages_swept = 0
        self.pages_swept_basis = 0
        self.reclaim_list = reclaim
        self.reclaim_pos = 0
        self.bg_sweep_clock = t
        for sp in stale:
            self.sweep(sp, False, i, mutator=True)

    def pace_sweeper(self, trigger: float, heap_live: int) -> None:
        """gcPaceSweeper: pages to sweep per byte allocated until the next trigger."""
        if self.sweep_done:
            self.sweep_pages_per_byte = 0.0
            return
        distance = trigger - heap_live - 1024 * 1024
        if distance < PAGE_SIZE:
            distance = PAGE_SIZE
        pages = self.inuse_pages - self.pages_swept
        if pages <= 0 or distance == INF:
            self.sweep_pages_per_byte = 0.0
            return
        self.sweep_pages_per_byte = pages / distance
        self.sweep_live_basis = heap_live
        self.pages_swept_basis = self.pages_swept

    # -- background goroutines ---------------------------------------------------------------
    def background(self, i: int, t: float) -> None:
        """Let the background sweeper and scavenger catch up to time ``t``."""
        if not self.sweep_done and self.procs > 1:
            # bgsweep on a spare P sweeps at full speed (goschedIfBusy only yields when no
            # P is idle); with GOMAXPROCS=1 it only runs when the program blocks: never here
            if self.bg_sweep_clock < t:
                self.sweep_some(i, False, max_ns=t - self.bg_sweep_clock)
                self.bg_sweep_clock += self._swept_ns
        self.scavenge_background(i, t)

    def pace_scavenger(self, heap_goal: float, last_heap_goal: float,
                       last_heap_inuse: int) -> None:
        """gcPaceScavenger: the retained-memory goals of the background scavenger."""
        ready = self.mapped_ready
        if self.memory_limit != INF:
            goal = self.memory_limit * (100 - REDUCE_EXTRA_PERCENT) / 100
            self.scav_limit_goal = INF if ready <= goal else goal
        if last_heap_goal == 0 or heap_goal == INF:
            self.scav_gc_goal = INF
            return
        goal = last_heap_inuse * (heap_goal / last_heap_goal)
        goal += goal / (100 / RETAIN_EXTRA_PERCENT)
        goal = -(-int(goal) // PHYS_PAGE) * PHYS_PAGE
        if ready <= goal or ready - goal < PHYS_PAGE:
            self.scav_gc_goal = INF
        else:
            self.scav_gc_goal = goal

    def scavenge_background(self, i: int, t: float) -> None:
        """bgscavenge: release pages toward the goals at scavengePercent of GOMAXPROCS."""
        ready = self.mapped_ready
        excess = max(ready - self.scav_gc_goal, ready - self.scav_limit_goal)
        if excess <= 0 or not self.free_ready:
            self.scav_clock = t
            self.scav_carry = 0.0
            return
        budget = (t - self.scav_clock) * SCAVENGE_PERCENT / 100 * self.procs + self.scav_carry
        self.scav_clock = t
        page_ns = PHYS_PER_PAGE * self.c.scavenge_ns
        n = int(budget // page_ns) if page_ns > 0 else self.free_ready
        want = -(-int(excess) // PAGE_SIZE)
        n = min(n, want)
        if n <= 0:
            self.scav_carry = budget
            return
        done = self.scavenge(n)
        ns = done * page_ns
        self.scav_carry = budget - ns if done == n else 0.0
        self.scavenge_ns_total += ns
        if self.procs > 1:
            self.ledger.concurrent += ns
        else:
            self.ledger.mm(i, ns)
        self.footprint(i)
