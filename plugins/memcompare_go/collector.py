"""One Go GC cycle after another: sweep termination, concurrent mark, mark termination.

The cycle (runtime/mgc.go header comment, ``gcStart``, ``gcMarkDone``, ``gcMarkTermination``):

1. **Start** (``gcStart``): once ``heapLive`` reaches the pacer's trigger at a span refill or
   large allocation, the allocating goroutine first sweeps every span still unswept, then the
   world stops (*sweep termination*: a fixed cost per pause and per P, plus the scan of the
   goroutine's stack — 8 bytes per live register — which suspends the only goroutine), the
   write barrier is switched on and marking starts after the allocating event.
2. **Mark** (concurrent): Go's hybrid write barrier (shade both the overwritten and the new
   pointer) plus allocate-black retains exactly the objects reachable when marking started plus
   everything allocated since: snapshot-at-the-beginning. So the marked set is computed once,
   from the registers and slots as of the mark-start event (``mark_snapshot``), and the mark's
   *duration* is its work (``mark_object_ns`` per object, ``mark_slot_ns`` per slot, and the
   program's globals at ``mark_slot_ns`` per 8 bytes: markroot's data and bss jobs) divided by
   the background workers' speed, after ``mark_start_ns`` (an idle M woken for the worker, and
   gcMarkDone's ragged barriers): ``startCycle``'s dedicated and fractional workers, 25 % of
   GOMAXPROCS (idle-priority workers on every idle P only with ``idle_mark_workers``: a
   one-goroutine program's spare Ps sleep, and mgcpacer.go ``enlistWorker`` never wakes them).
   With GOMAXPROCS=1 there is no spare P: the fractional worker runs only when the P schedules,
   which a goroutine that never blocks does when sysmon preempts it (proc.go
   ``forcePreemptNS``, 10 ms); from then it takes 25 % of the mutator's own core, charged to
   its timeline. Until then the assists, paced to finish by the goal, do all the marking. Every STORE while marking pays the write barrier. An allocation that outruns the
   pacer's assist ratio pays off its debt by marking itself (``gcAssistAlloc``: steal background
   credit first, at least ``gcOverAssistWork``), on the mutator's timeline.
3. **Mark termination** (``gcMarkTermination``): the world stops again; the objects allocated
   before the mark that the snapshot did not reach are reclaimed (``Output.collection``), the
   pacer computes the next goal and trigger, and every span becomes unswept (heap.py sweeps).

This module decides *what* is reclaimed and *when*; pages, spans and sweeping are heap.py's,
pacing numbers are pacer.py's. It must not compute any metric.
"""
from __future__ import annotations

import numpy as np

from memcompare.trace import ALLOC, CLEAR, FREE, LOAD, MOVE

from .heap import INF
from .pacer import GC_BACKGROUND_UTILIZATION, mark_workers
from .sizeclasses import PAGE_SIZE, PTR_SIZE, TINY_SIZE

#: proc.go forcePreemptNS: sysmon (retake) preempts a goroutine that has run for 10 ms
FORCE_PREEMPT_NS = 10_000_000


def mark_snapshot(roots: list[int], slots: list[int], base: list[int], nslots: list[int],
                  markbits: bytearray) -> list[int]:
    """Objects reachable from ``roots`` through ``slots``, in marking order (a worklist, not a
    numpy frontier: long chains would cost one numpy call per link). Sets ``markbits``."""
    stack = list(roots)
    marked: list[int] = []
    push = stack.extend
    pop = stack.pop
    add = marked.append
    mb = markbits
    while stack:
        o = pop()
        if o < 0 or mb[o]:
            continue
        mb[o] = 1
        add(o)
        n = nslots[o]
        if n:
            b = base[o]
            push(slots[b:b + n])
    return marked


_WRITES_REGISTER = np.zeros(7, dtype=bool)
_WRITES_REGISTER[[ALLOC, LOAD, MOVE, CLEAR, FREE]] = True
_CLEARS_REGISTER = np.zeros(7, dtype=bool)
_CLEARS_REGISTER[[CLEAR, FREE]] = True


def _last_write(target: np.ndarray, value: np.ndarray, size: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """For writes in event order to targets ``0..size-1``, the last value written to each
    target written: ``maximum.at`` keeps each target's last position (linear in ``size``),
    or a sort when the writes are few next to the targets."""
    if target.size * 16 < size:
        target, value = target[::-1], value[::-1]
        unique, first = np.unique(target, return_index=True)
        return unique, value[first]
    last = np.full(size, -1, dtype=np.int64)
    np.maximum.at(last, target, np.arange(target.size, dtype=np.int64))
    hit = np.flatnonzero(last >= 0)
    return hit, value[last[hit]]


class Collector:
    """The GC state machine of the replay: when cycles start and end, what they reclaim."""

    def __init__(self, lowered, heap, pacer, limiter, ledger, params, costs, out):
        self.lw = lowered
        self.heap = heap
        self.pacer = pacer
        self.limiter = limiter
        self.ledger = ledger
        self.c = costs
        self.out = out
        self.procs = procs = params.gomaxprocs
        self.events = lowered.events
        self.t0 = lowered.t0
        # background mark speed in CPUs (mgcpacer.go startCycle, proc.go findRunnable)
        dedicated, fractional = mark_workers(procs)
        self.nominal = procs * GC_BACKGROUND_UTILIZATION
        if procs == 1:
            self.rate = self.nominal        # the fractional worker on the mutator's own core
        else:
            spare = procs - 1 - dedicated
            self.rate = dedicated + (spare if params.idle_mark_workers
                                     else fractional * procs)
        self.frac = procs == 1
        # when the background workers start marking. GOMAXPROCS=1: the fractional worker runs
        # only when the P schedules (proc.go findRunnableGCWorker, from schedule), and a
        # goroutine that never blocks reaches schedule only when sysmon preempts it after
        # forcePreemptNS; until then assists do all the marking (gcAssistAlloc). More Ps: an
        # idle M must be woken and find the worker first (costs.mark_start_ns).
        self.delay = float(FORCE_PREEMPT_NS) if procs == 1 else costs.mark_start_ns
        self.idle_rate = max(0.0, self.rate - self.nominal) if procs > 1 else 0.0
        m = lowered.objects
        self.markbits = bytearray(m)
        self.regs = np.full(max(lowered.registers, 1), -1, dtype=np.int64)
        self.rw_k = 0
        self.surv = np.zeros(0, dtype=np.int64)   # heap objects that survived the last cycle
        self.next_lo = 0                          # ... and ids from here on joined the heap
        self.term_lo = 0                          # first id allocated after the last cycle
        self.reclaimed = np.zeros(m, dtype=bool)
        self.prev_marked = None                   # the last snapshot, for _snapshot
        self.prev_bytes = bytearray(m)            # ... as a mask (Python-indexable view)
        self.prev_mask = np.frombuffer(self.prev_bytes, dtype=bool)
        self.prev_event = -1
        self.incremental_snapshots = 0
        self.slots_np = np.full(len(lowered.slots), -1, dtype=np.int64)
        self.st_k = 0
        # cycle state
        self.marking = False
        self.t_end = INF
        self.credit = 0.0
        self.cycles = 0
        # stats
        self.marked_objects = 0
        self.mark_work_ns = 0.0
        self.bg_mark_ns = 0.0
        self.assist_ns_total = 0.0
        self.assists = 0
        self.frac_ns_total = 0.0
        self.reclaimed_objects = 0
        self.peak_goal = 0.0
        self.span_scans = 0           # Green Tea: span visits, and those of one object
        self.span_scans_one = 0

    # -- helpers ------------------------------------------------------------------------------
    def _trigger(self):
        h = self.heap
        return self.pacer.trigger(h.mapped_ready, h.heap_free, h.heap_alloc)

    def _bg_done(self, t: float) -> float:
        """Background mark work done by wall time ``t``. With GOMAXPROCS=1 the fractional
        worker has had a quarter of the wall clock: a third of the mutator's own time since
        the mark started (the wall clock less the worker's slices already inserted)."""
        if self.frac:
            m = max(t - self.t_s - self.delay - self.frac_done, 0.0)
            return min(m / 3.0, self.work - self.assist_done)
        return min(self.rate * max(t - self.t_s - self.delay, 0.0), self.work - self.assist_done)

    def _set_end(self) -> None:
        """When the background workers will have done what the assists left of the mark."""
        left = max(self.work - self.assist_done, 0.0)
        if self.frac:
            # the mutator's own time reaches 3 × what is left; the wall clock also holds
            # the worker's slices inserted so far
            self.t_end = self.t_s + self.delay + self.frac_done + 3.0 * left
        else:
            self.t_end = self.t_s + self.delay + left / self.rate

    def _registers_after(self, i: int) -> np.ndarray:
        """The registers after event ``i``: last writer wins over the events since the
        previous mark start (every op but STORE and WORK writes register ``a``: the object
        for ALLOC, LOAD and MOVE, null for CLEAR and FREE)."""
        lw = self.lw
        lo = self.rw_k
        if i + 1 > lo:
            op = lw.op[lo:i + 1]
            w = np.flatnonzero(_WRITES_REGISTER[op])
            if w.size:
                val = np.where(_CLEARS_REGISTER[op[w]], -1, lw.x[lo:i + 1][w])
                tgt, val = _last_write(lw.a[lo:i + 1][w], val, self.regs.size)
                self.regs[tgt] = val
            self.rw_k = i + 1
        return self.regs

    def _snapshot(self, i: int, roots: np.ndarray) -> np.ndarray:
        """The objects reachable after event ``i`` (markbits set for each).

        Incremental when it is cheaper, with the same result as a full trace: of the previous
        snapshot M, only objects reachable from what lost a reference since (a register or
        slot that held an object of M was overwritten or cleared) may have died — every
        other object of M keeps its old path intact. Those (C, found by tracing the current
        heap from the dropped objects within M) are left unmarked; everything else in M is
        marked up front, and the trace starts from the registers and the slots of marked
        objects written since, stopping at marked objects. This costs the changes instead
        of the heap: back-to-back cycles under a tight GOMEMLIMIT would otherwise re-trace
        the whole heap at every span refill.
        """
        lw = self.lw
        prev = self.prev_marked
        mbv = np.frombuffer(self.markbits, dtype=np.uint8)
        slots = lw.slots
        if prev is not None and prev.size:
            lo = self.prev_event + 1
            # what lost a reference: an overwritten register or slot (z), a cleared one (x)
            op = lw.op[lo:i + 1]
            dropped = np.where(_CLEARS_REGISTER[op], lw.x[lo:i + 1], lw.z[lo:i + 1])
            dropped = np.unique(dropped[dropped >= 0])
            dropped = dropped[self.prev_mask[dropped]]
            suspect = self._closure(dropped.tolist(), prev.size // 2)
            if suspect is not None:
                mbv[prev] = 1
                k0, k1 = np.searchsorted(lw.st_ev, [lo, i + 1])
                starts = roots.tolist()
                if suspect:
                    sus = np.fromiter(suspect, dtype=np.int64, count=len(suspect))
                    mbv[sus] = 0
                    kept = prev[mbv[prev] == 1]
                    # a suspect may still hang off a kept object by an unchanged slot
                    vals = self._slot_values(kept, i)
                    smask = np.zeros(self.lw.objects + 1, dtype=bool)
                    smask[sus] = True
                    starts += vals[smask[vals]].tolist()
                else:
                    kept = prev
                # and new objects hang off kept objects only by slots written since
                flat = lw.st_flat[k0:k1][mbv[lw.st_x[k0:k1]] == 1]
                starts += [slots[f] for f in flat.tolist()]
                new = mark_snapshot(starts, slots, lw.base, lw.nslots, self.markbits)
                marked = np.concatenate([kept, np.asarray(new, dtype=np.int64)])
                self.incremental_snapshots += 1
                self._remember(i, marked)
                return marked
        marked = np.asarray(mark_snapshot(roots.tolist(), slots, lw.base, lw.nslots,
                                          self.markbits), dtype=np.int64)
        self._remember(i, marked)
        return marked

    def _slot_values(self, objs: np.ndarray, i: int) -> np.ndarray:
        """The current values of every slot of ``objs`` (numpy mirror of the slots, brought
        up to event ``i`` by the stores since the last call, last writer winning)."""
        lw = self.lw
        k1 = int(np.searchsorted(lw.st_ev, i, side="right"))
        if k1 > self.st_k:
            tgt, val = _last_write(lw.st_flat[self.st_k:k1], lw.st_y[self.st_k:k1],
                                   self.slots_np.size)
            self.slots_np[tgt] = val
            self.st_k = k1
        ns = lw.nslots_np[objs]
        has = ns > 0
        objs, ns = objs[has], ns[has]
        if not objs.size:
            return np.zeros(0, dtype=np.int64)
        ends = np.cumsum(ns)
        pos = np.repeat(lw.base_np[objs] - (ends - ns), ns) + np.arange(int(ends[-1]))
        return self.slots_np[pos]

    def _closure(self, start: list[int], limit: int):
        """Objects of the previous snapshot reachable from ``start`` through it, or None when
        more than ``limit`` (a full trace is then cheaper)."""
        pm = self.prev_bytes
        slots, base, nsl = self.lw.slots, self.lw.base, self.lw.nslots
        seen: set[int] = set()
        stack = start
        while stack:
            o = stack.pop()
            if o < 0 or not pm[o] or o in seen:
                continue
            seen.add(o)
            if len(seen) > limit:
                return None
            n = nsl[o]
            if n:
                b = base[o]
                stack.extend(slots[b:b + n])
        return seen

    def _remember(self, i: int, marked: np.ndarray) -> None:
        if self.prev_marked is not None:
            self.prev_mask[self.prev_marked] = False
        self.prev_mask[marked] = True
        self.prev_marked = marked
        self.prev_event = i

    # -- after a span was taken from the heap ---------------------------------------------------
    def after_span(self, i: int) -> None:
        """mallocgc's checkGCTrigger after a refill or large allocation: start a cycle when
        heapLive reached the trigger; while marking, ``update`` revises the assist ratio."""
        if self.marking:
            t = self.t0[i] + self.ledger.extra
            _, goal = self._trigger()
            self.pacer.revise((self._bg_done(t) + self.assist_done) / self.ns_per_byte, goal)
            return
        trig, goal = self._trigger()
        if self.pacer.heap_live >= trig:
            self.start(i)

    # -- 1. sweep termination and mark start -------------------------------------------------------
    def start(self, i: int) -> None:
        """gcStart after the allocation at event ``i``."""
        led, heap, pacer, lw, c = self.ledger, self.heap, self.pacer, self.lw, self.c
        heap.finish_sweeping(i, self.t0[i] + led.extra)
        if i + 1 >= self.events:
            return                          # the program ends with this allocation
        j = i + 1
        first_s = int(np.searchsorted(lw.obj_alloc_at, j))     # objects allocated so far
        regs = self._registers_after(i)
        roots = regs[regs >= 0]
        nregs = int(roots.size)
        stack_bytes = PTR_SIZE * nregs + (int(lw.local_bytes[i])
                                          if lw.local_bytes is not None else 0)
        stack_work = c.mark_slot_ns * nregs
        # the world stops: fixed cost, each P but the one stopping it (proc.go
        # stopTheWorldWithSema: the caller's P stops itself, the others are preempted or taken
        # idle), and the goroutine's stack scan (mgcmark.go scanstack suspends the goroutine
        # while its frames are scanned)
        pause = c.stw_ns + c.stw_per_proc_ns * (self.procs - 1) + stack_work
        t_pause = self.t0[j] + led.extra
        self.out.pause(j, pause, "sweep termination")
        self.limiter.update(t_pause, False, 0.0)
        self.limiter.pause(t_pause, pause)
        led.extra += pause
        self.t_s = self.t0[j] + led.extra
        self.mark_event = j
        # startCycle: this cycle's scannable heap is the last marked heap plus what was
        # allocated since the last mark termination (scan work bytes, as Go counts them)
        heap_scan = pacer.last_heap_scan + float(lw.cum_scan[first_s]
                                                 - lw.cum_scan[self.term_lo])
        trig, _ = self._trigger()
        pacer.start_cycle(heap_scan, stack_bytes, stack_bytes, trig)
        _, goal = self._trigger()           # heapGoalInternal now sees `triggered`
        pacer.heap_goal_now = goal
        self.peak_goal = max(self.peak_goal, goal)
        # the snapshot: everything reachable now is marked; gcMarkTinyAllocs blackens the
        # tiny block being filled
        self.marked = self._snapshot(i, roots)
        self.tiny_block_at_start = heap.tiny_block
        self.first_s = first_s
        heap_work = float(lw.mcost[self.marked].sum()) if self.marked.size else 0.0
        if lw.gt_scan is not None and self.marked.size:
            heap_work += self._span_scans(self.marked)
        # the globals are root jobs of the concurrent mark (markroot: data and bss), scanned
        # word by word like pointer slots
        work = heap_work + c.mark_slot_ns * pacer.globals_bytes / PTR_SIZE
        # Go's scan work is bytes up to an object's last pointer (scanobject); the pacer
        # counts in those bytes, the marking here in nanoseconds: this cycle's exchange rate
        self.heap_scan_bytes = int(lw.scan_bytes[self.marked].sum()) if self.marked.size else 0
        self.scan_bytes = self.heap_scan_bytes + stack_bytes + pacer.globals_bytes
        if self.scan_bytes > 0 and work + stack_work > 0:
            self.ns_per_byte = (work + stack_work) / self.scan_bytes
        else:
            self.ns_per_byte = c.mark_slot_ns / PTR_SIZE
        self.heap_work = heap_work
        self.work = work
        self.stack_work = stack_work
        self.assist_done = 0.0
        self.stolen = 0.0
        self.assist_time = 0.0
        self.frac_done = 0.0
        self.frac_last = self.t_s
        self.credit = 0.0
        self.marking = True
        self._set_end()
        pacer.revise(0.0, goal)
        self.cycles += 1

    def _span_scans(self, marked: np.ndarray) -> float:
        """Green Tea's span visits (mgcmark_greenteagc.go ``scanSpan``): the pointerful marked
        objects of 16-512-byte classes, grouped by span. A span with one of them takes the
        spanScanOneMark fast track, an object-by-object scan (mark_object_ns); one with k >= 2
        is visited once and scans them together (span_scan_ns + k × span_mark_object_ns): the
        queue is FIFO so that marks accumulate on a span while it waits, and the model lets
        every mark of the cycle accumulate (the best case of that batching). Their slots are
        in the objects' static cost."""
        c = self.c
        ms = marked[self.lw.gt_scan[marked]]
        if not ms.size:
            return 0.0
        ospan = np.frombuffer(self.heap.ospan, dtype=np.int64)
        _, cnt = np.unique(ospan[ms], return_counts=True)
        one = int(np.count_nonzero(cnt == 1))
        many = cnt[cnt > 1]
        self.span_scans += int(cnt.size)
        self.span_scans_one += one
        return (c.mark_object_ns * one + c.span_scan_ns * int(many.size)
                + c.span_mark_object_ns * int(many.sum()))

    # -- 2. the concurrent mark -------------------------------------------------------------------
    def p1_tick(self, i: int, t: float) -> None:
        """GOMAXPROCS=1: the fractional worker takes 25 % of the wall clock on the mutator's
        core; insert its slices since the last tick (a third of the mutator's own time) as
        collector work on the mutator's timeline at this event."""
        f = self._bg_done(t) - self.frac_done
        if f > 0:
            self.frac_done += f
            self.frac_ns_total += f
            self.ledger.gc(i, f)
            self._set_end()

    def assist(self, i: int, t: float, credit: float) -> float:
        """gcAssistAlloc: the allocating goroutine is in debt; steal background credit, else
        mark itself. Returns the new credit (bytes)."""
        pacer, led = self.pacer, self.ledger
        self.limiter.update(t, True, 0.0)
        if self.limiter.enabled:
            return credit                   # the CPU limiter turns assists off
        # the pacer's ratios are in scan-work bytes per heap byte; marking here is in ns
        k = self.ns_per_byte
        debt = -credit
        work = pacer.assist_work_per_byte * debt
        if work < pacer.over_assist:
            work = pacer.over_assist
            debt = pacer.assist_bytes_per_work * work
        work *= k
        bg = self._bg_done(t)
        avail = bg - self.stolen
        if avail > 0:
            if avail < work:
                self.stolen += avail
                credit += pacer.assist_bytes_per_work * avail / k
                work -= avail
            else:
                self.stolen += work
                return credit + debt
        # gcDrainN: mark until the debt is paid or no work is left; the background workers
        # keep marking meanwhile (on the mutator's own core with GOMAXPROCS=1 they do not)
        remaining = max(self.work - bg - self.assist_done, 0.0)
        alone = self.frac or t < self.t_s + self.delay     # no background worker yet
        do = min(work, remaining if alone else remaining / (1.0 + self.rate))
        if do > 0:
            self.assist_done += do
            self.assist_time += do
            self.assist_ns_total += do
            self.assists += 1
            credit += pacer.assist_bytes_per_work * do / k
            led.gc(i, do)
            self.limiter.update(t + do, True, do)
            self._set_end()
        if self.assist_done + self._bg_done(t + do) >= self.work * (1 - 1e-12):
            self.terminate(i)               # this assist finished the mark: gcMarkDone
        return credit

    def terminate_timed(self, i: int, last: int) -> None:
        """The background workers finished at ``t_end``: mark termination stops the world
        before the first event that starts after it (and after the last one seen marking)."""
        j = int(np.searchsorted(self.t0, self.t_end - self.ledger.extra, side="left"))
        j = min(max(j, self.mark_event, last + 1), i)
        self._terminate_workers_done(j)

    def _terminate_workers_done(self, j: int) -> None:
        if self.frac:
            # the fractional worker's last slices, not yet on the mutator's timeline
            rest = self.work - self.assist_done - self.frac_done
            if rest > 0:
                self.frac_done += rest
                self.frac_ns_total += rest
                self.ledger.gc(j, rest)
        self.terminate(j)

    # -- 3. mark termination ----------------------------------------------------------------------
    def terminate(self, j: int) -> None:
        """gcMarkTermination before event ``j``: reclaim, pace the next cycle, start sweeping."""
        led, heap, pacer, lw, c = self.ledger, self.heap, self.pacer, self.lw, self.c
        t_now = self.t0[j] + led.extra
        duration = max(t_now - self.t_s, 0.0)
        bg = self.work - self.assist_done
        if self.frac:
            bg = self.frac_done
        else:
            led.concurrent += max(bg, 0.0)
        self.bg_mark_ns += max(bg, 0.0)
        self.mark_work_ns += self.work
        self.limiter.update(t_now, True, 0.0)
        pause = c.stw_ns + c.stw_per_proc_ns * (self.procs - 1)
        self.out.pause(j, pause, "mark termination")
        self.limiter.pause(t_now, pause)
        led.extra += pause
        self.marking = False
        self.t_end = INF

        # what the snapshot did not reach, among objects allocated before the mark
        lo, hi = np.searchsorted(lw.heap_ids, [self.next_lo, self.first_s])
        cand = np.concatenate([self.surv, lw.heap_ids[lo:hi]])
        mbv = np.frombuffer(self.markbits, dtype=np.uint8)
        keep = mbv[cand].astype(bool)
        dead_blocks = np.zeros(0, dtype=np.int64)
        if lw.has_tiny:
            tmask = lw.tiny[cand]
            if tmask.any():
                tb = np.frombuffer(heap.tblock, dtype=np.int64)[cand[tmask]]
                live = np.unique(tb[keep[tmask]])
                if self.tiny_block_at_start >= 0:
                    live = np.union1d(live, [self.tiny_block_at_start])
                keep_t = np.isin(tb, live)
                keep[np.flatnonzero(tmask)] = keep_t
                dead_blocks = np.unique(tb[~keep_t])
        rec = cand[~keep]
        self.surv = cand[keep]
        self.next_lo = self.first_s
        if self.marked.size:
            mbv[self.marked] = 0
        self.out.collection("gc", j - 1, rec)
        self.reclaimed[rec] = True
        self.reclaimed_objects += int(rec.size)
        # sweeping frees a dead object's slot (a dead tiny block's) when its span is swept
        deadv = np.frombuffer(heap.dead, dtype=np.uint8)
        nontiny = rec[~lw.tiny[rec]] if lw.has_tiny else rec
        deadv[nontiny] = 1
        deadv[dead_blocks] = 1
        ospan = np.frombuffer(heap.ospan, dtype=np.int64)
        spans = np.concatenate([ospan[nontiny], ospan[dead_blocks]])
        sp, cnt = np.unique(spans, return_counts=True)

        # resetLive: heapMarked = everything marked, allocated-black objects included
        first_now = int(np.searchsorted(lw.obj_alloc_at, j))     # objects before event j
        lo2, hi2 = np.searchsorted(lw.heap_ids, [self.first_s, first_now])
        resident = np.concatenate([self.surv, lw.heap_ids[lo2:hi2]])
        marked_bytes = int(lw.hbytes_nontiny[resident].sum())
        if lw.has_tiny:
            rt = resident[lw.tiny[resident]]
            if rt.size:
                tb = np.frombuffer(heap.tblock, dtype=np.int64)[rt]
                marked_bytes += TINY_SIZE * int(np.unique(tb).size)
        self.marked_objects += int(self.marked.size)
        pacer.end_cycle(duration, self.assist_time,
                        self.idle_rate * max(duration - self.delay, 0.0),
                        float(self.scan_bytes))
        # resetLive: heapScan = lastHeapScan = the heap scan work done (allocated-black objects
        # were never scanned, and only count again once allocated after the cycle)
        pacer.reset_live(marked_bytes, float(self.heap_scan_bytes))
        self.term_lo = first_now
        last_inuse = heap.inuse_pages * PAGE_SIZE
        heap.start_sweep(zip(sp.tolist(), cnt.tolist()), j, t_now + pause)
        pacer.commit(sweep_done=heap.sweep_done)
        trig, goal = self._trigger()
        heap.pace_sweeper(trig, pacer.heap_live)
        heap.pace_scavenger(goal, pacer.last_heap_goal, last_inuse)
        heap.footprint(j)

    def release(self) -> None:
        """Drop the per-event and per-slot state once the replay is done (held() reads only
        ``reclaimed``)."""
        self.t0 = self.slots_np = self.prev_marked = self.markbits = None
        self.prev_bytes = self.prev_mask = self.marked = self.surv = None

    def finish(self, last: int) -> None:
        """After the last heap event: a mark still running ends at its time if that comes
        before the trace does; otherwise count the background work done so far."""
        if not self.marking:
            return
        j = int(np.searchsorted(self.t0, self.t_end - self.ledger.extra, side="left"))
        if j < self.events:
            self._terminate_workers_done(max(j, self.mark_event, last + 1))
            return
        t_last = self.lw.t_last + self.ledger.extra
        bg = self._bg_done(t_last)
        self.bg_mark_ns += bg
        if self.frac:
            self.frac_ns_total += bg - self.frac_done
            self.ledger.gc(self.events - 1, bg - self.frac_done)
        else:
            self.ledger.concurrent += bg
