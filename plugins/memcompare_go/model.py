"""The ``go`` model: parameters, the lowering pass and the replay loop.

The loop visits only the events the Go runtime acts on — heap ALLOCs and STOREs — with the
mcache fast path inline (docs/simulator-speed.md §6.4) and everything else (span refills,
tiny blocks, large objects, cycle transitions, assists) in heap.py and collector.py. What the
trace fixes in advance is computed with numpy first: every object's size class, span class and
mark cost (sizeclasses.py), the flat slot index of every STORE, the static start time of every
event, the register writes the collector replays at each mark start. The loop keeps the slots
up to date, so that a cycle's snapshot is the heap as of its mark-start event.

Simulated time: an event starts at its static start time (the shared mutator cost table, as the
engine uses it, plus each allocation's mallocgc fast-path cost) plus ``extra``, the running sum
of every dynamic cost put on the mutator's timeline so far (refills, sweeping, assists, write
barriers, pauses). The concurrent mark ends at the first event that starts after the background
workers' share of the mark work is done.
"""
from __future__ import annotations

from dataclasses import dataclass
from array import array
from itertools import chain
from typing import Iterator, Literal

import numpy as np

from memcompare import Model, Output, Trace, param
from memcompare.costs import MutatorCosts
from memcompare.trace import ALLOC, FREE, STORE

from .collector import Collector
from .costs import Costs
from .heap import INF, Heap, Ledger
from .pacer import CPULimiter, Pacer
from .sizeclasses import (KIND_NONE, KIND_TINY, NUM_SIZE_CLASSES, PTR_SIZE, TINY_SIZE,
                          green_tea_class, object_layout, span_nelems)

MiB = 1 << 20
#: cmd/compile/internal/ir/cfg.go MaxImplicitStackVarSize: escape analysis keeps a
#: non-escaping new(T) / make of constant size up to 64 KiB on the stack
MAX_IMPLICIT_STACK_VAR_SIZE = 64 * 1024
#: loop events whose index and start time the marking loop converts at a time
MARK_WINDOW = 2048
#: loop events converted to Python ints at a time: the whole stream as lists would cost
#: ~40 bytes per loop event (a list entry and an int object for each of two columns)
LOOP_CHUNK = 1 << 16


def _narrow(values: np.ndarray) -> np.ndarray:
    """Integer ``values`` as int32 when every one fits, else int64: the same numbers (their
    ``tolist``s are equal), in half the memory when they fit."""
    fits = not values.size or (int(values.min()) >= -2**31 and int(values.max()) < 2**31)
    return values.astype(np.int32 if fits else np.int64, copy=False)


def _check_gogc(v):
    if isinstance(v, int) and v < 1:
        return 'must be an integer >= 1 or "off"'
    return None


@dataclass(frozen=True)
class Params:
    """The Go release, GOGC, GOMEMLIMIT and GOMAXPROCS, the program's globals, and two runtime
    behaviours that can be switched off."""

    version: Literal["1.19", "1.20", "1.22", "1.27"] = param(
        "1.27", 'the Go release whose rules apply: "1.19" (cons/mark smoothed by a PI '
                'controller, measured from the computed trigger; no malloc headers), "1.20" '
                "(the max-of-four cons/mark from the start heap that replaced it, "
                'golang/go#53892; 1.20 and 1.21), "1.22" (1.22-1.25: also the 8-byte malloc '
                'header on pointerful objects over 512 B, allocheaders) or "1.27" (1.26 and '
                "1.27: also the Green Tea collector, the default since Go 1.26 — objects of "
                "16-512 B marked span by span, each such span 128 B of inline mark bits and "
                "its pointer bitmap shorter; mgcmark_greenteagc.go, mheap.go initSpan; the "
                "pacer is 1.22's, mgcpacer.go)")

    gogc: int | Literal["off"] = param(
        100, 'GOGC: heap growth over the marked heap (and roots) before the next cycle, in %; '
             '"off" disables the GOGC goal (runtime/mgcpacer.go readGOGC)', check=_check_gogc)
    gomemlimit_mb: float | None = param(
        None, "GOMEMLIMIT in MiB: a soft limit on the heap's mapped memory; absent = no limit "
              "(mgcpacer.go memoryLimitHeapGoal)", minimum=0)
    gomaxprocs: int = param(
        4, "GOMAXPROCS: Ps for one goroutine; the others run the background mark workers "
           "(25 %: startCycle) and sweeper", minimum=1, maximum=1024)
    idle_mark_workers: bool = param(
        False, "let every P with nothing to run mark at full speed (proc.go findRunnable's "
               "idle GC workers). Off: background marking runs at the 25 % utilisation goal "
               "(startCycle's dedicated and fractional workers), because a one-goroutine "
               "program's spare Ps sleep and nothing wakes them for mark work (mgcpacer.go "
               "enlistWorker: the wakep is disabled, golang/go#19112; measured Go 1.19: idle "
               "marking under a quarter of background marking)")
    globals_kb: float = param(
        220.0, "the program binary's scannable globals (data + bss) in KiB of scan work: a "
               "root every cycle scans and part of the GOGC goal (mgcpacer.go globalsScan); "
               "220 = a Go 1.19 program importing fmt and os (gcpacertrace: 223,376 B)",
        minimum=0)
    escape_analysis: bool = param(
        True, "place `local` objects up to 64 KiB on the goroutine's stack, not in the heap "
              "(cmd/compile escape analysis, MaxImplicitStackVarSize)")


class _Lowered:
    """Everything the trace fixes before the replay starts (numpy, once per run)."""

    def __init__(self, trace: Trace, p: Params, c: Costs, mutator: MutatorCosts):
        n = trace.events
        m = trace.objects
        self.events = n
        self.objects = m
        self.registers = trace.registers
        op, a = trace.op, trace.a
        nslots = trace.obj_nslots
        nbytes = trace.obj_bytes
        local = trace.obj_local
        on_stack = (local & (nbytes <= MAX_IMPLICIT_STACK_VAR_SIZE)
                    if p.escape_analysis else np.zeros(m, dtype=bool))
        kind, hbytes, header = object_layout(trace.obj_size, nslots, on_stack,
                                             headers=p.version in ("1.22", "1.27"))
        self.kind = kind
        self.hbytes = hbytes
        self.header = header
        self.on_stack = on_stack
        heap = kind != KIND_NONE
        self.heap = heap
        self.tiny = kind == KIND_TINY
        self.has_tiny = bool(self.tiny.any())
        self.heap_ids = np.flatnonzero(heap).astype(np.int64)
        self.hbytes_nontiny = np.where(self.tiny, 0, hbytes)
        self.obj_alloc_at = trace.obj_alloc_at
        # mark cost of each object: find and mark it, scan its slots; an object on the stack
        # is scanned as part of the stack frame; zerobase is not in the heap
        mcost = np.where(heap, c.mark_object_ns, 0.0) + c.mark_slot_ns * nslots
        # Green Tea (Go 1.26+, mgcmark_greenteagc.go): an object of a 16-512-byte class is
        # marked through its span's inline mark bits (tryDeferToSpanScan). A pointer-free one
        # (a tiny block's too) is done there; a pointerful one is scanned when its span is
        # (scanSpan), with every other object of the span marked by then: that part depends
        # on which objects share a span, so the collector adds it per cycle (gt_scan)
        self.green_tea = p.version == "1.27"
        self.gt_scan = None
        if self.green_tea:
            sc = np.where(kind >= 2, kind >> 1, 0)
            gt_class = np.asarray([green_tea_class(k) for k in range(NUM_SIZE_CLASSES)])
            in_gt = (kind == KIND_TINY) | gt_class[sc]
            mcost = np.where(in_gt & (nslots == 0), c.span_mark_object_ns, mcost)
            self.gt_scan = in_gt & (nslots > 0)
            mcost = np.where(self.gt_scan, c.mark_slot_ns * nslots, mcost)
        self.nelems = span_nelems(self.green_tea)
        self.mcost = mcost
        # Go's scan work of an object: bytes up to its last pointer (pointers laid out first,
        # after the malloc header); pointer-free objects are marked without being scanned
        self.scan_bytes = np.where(heap & (nslots > 0), header + PTR_SIZE * nslots, 0)
        self.scan_bytes = self.scan_bytes.astype(np.int64)
        # heapScan grows by each pointerful allocation's scan size (mallocgc: scanAlloc)
        self.cum_scan = np.concatenate([[0], np.cumsum(self.scan_bytes)])
        # the heap's slots, kept current by the loop; object -> first slot, slot count
        self.slots = [-1] * int(nslots.sum())
        # the event columns the collector reads segment by segment at each mark start
        self.op, self.a, self.x, self.z = op, a, trace.x, trace.z
        st_ev = np.flatnonzero(op == STORE)
        self.st_ev = _narrow(st_ev)
        self.st_x = trace.x[st_ev]
        self.st_flat = _narrow(trace.obj_slot_base[self.st_x] + trace.b[st_ev]) \
            if st_ev.size else np.zeros(0, dtype=np.int64)
        self.st_y = trace.y[st_ev]
        self.base_np = trace.obj_slot_base
        self.nslots_np = nslots
        # bytes of stack-allocated objects live after each event (their frames)
        st = np.flatnonzero(on_stack)
        self.local_bytes = None
        if st.size:
            delta = np.zeros(n, dtype=np.int64)
            delta[trace.obj_alloc_at[st]] += nbytes[st]
            freed = st[trace.obj_free_at[st] >= 0]
            delta[trace.obj_free_at[freed]] -= nbytes[freed]
            self.local_bytes = np.cumsum(delta)
        # the mallocgc fast path, static per allocation: per object (the per-event array,
        # zero but at ALLOCs, is built once the loop is done: mm_static)
        zbytes = np.where(self.tiny, nbytes, hbytes)
        ocost = np.where(heap, c.alloc_ns + c.alloc_ns_per_byte * zbytes, 0.0)
        ocost = np.where((nbytes == 0) & ~on_stack, c.alloc_ns, ocost)   # mallocgc(0): zerobase
        self.ocost = ocost
        # each event's static cost, summed in place into its end time: event i starts at the
        # end of event i - 1
        static = mutator.per_event(op, a, trace.b, trace.c)
        static[trace.obj_alloc_at] += ocost
        np.cumsum(static, out=static)
        self.t_last = float(static[-1]) if n else 0.0
        self.t0 = np.empty(n)
        if n:
            self.t0[0] = 0.0
            self.t0[1:] = static[:-1]
        del static
        # the loop's stream: heap ALLOCs (object id, kind) and STOREs (~flat slot, value)
        sel = op == STORE
        sel[trace.obj_alloc_at[heap]] = True
        loop = np.flatnonzero(sel)
        del sel
        x = trace.x[loop]
        la = op[loop] == ALLOC
        flat = trace.obj_slot_base[np.where(la, 0, x)] + trace.b[loop]
        # kept as numpy (int32 where the trace's counts allow), made Python ints a chunk at a
        # time as the loop reaches them (stream())
        self.loop_a = _narrow(np.where(la, x, -1 - flat))
        del flat
        self.loop_b = _narrow(np.where(la, kind[x], trace.y[loop]))
        del x, la
        # the event index and static start time of each loop event: read by position only
        # where the loop needs them (slow paths, and window by window while marking), so most
        # loop events never become Python objects
        self.loop_ev = _narrow(loop)
        self.loop_t = self.t0[loop]
        del loop
        self._base = self._nslots = None
        self._obj_slot_base = trace.obj_slot_base

    def stream(self) -> Iterator[tuple[int, int, int]]:
        """(position, a, b) of each loop event in order, converted a chunk at a time."""
        la, lb = self.loop_a, self.loop_b
        return chain.from_iterable(
            zip(range(lo, min(lo + LOOP_CHUNK, la.size)), la[lo:lo + LOOP_CHUNK].tolist(),
                lb[lo:lo + LOOP_CHUNK].tolist())
            for lo in range(0, la.size, LOOP_CHUNK))

    @property
    def mm_static(self) -> np.ndarray:
        """The mallocgc fast path's cost at each event (at ALLOCs; zero elsewhere)."""
        mm = np.zeros(self.events)
        mm[self.obj_alloc_at] = self.ocost
        return mm

    def release(self) -> None:
        """Drop what only the replay loop and the collector read, one or more entries per
        event or slot, once they are done (held() and the outputs need none of it)."""
        for name in ("loop_a", "loop_b", "loop_ev", "loop_t", "t0", "st_ev", "st_x", "st_flat",
                     "st_y", "slots", "op", "a", "x", "z", "local_bytes", "_base", "_nslots",
                     "cum_scan", "scan_bytes", "mcost", "gt_scan"):
            setattr(self, name, None)

    # the heap's shape as Python lists, for the collector's marking; built at the first cycle
    @property
    def base(self) -> list[int]:
        if self._base is None:
            self._base = self._obj_slot_base.tolist()
        return self._base

    @property
    def nslots(self) -> list[int]:
        if self._nslots is None:
            self._nslots = self.nslots_np.tolist()
        return self._nslots


class GoModel(Model):
    """Go's concurrent mark-sweep: size classes, pacer (GOGC/GOMEMLIMIT), assists, scavenger.

    ``local`` objects: Go's escape analysis puts a non-escaping ``new(T)``/``make`` of constant
    size up to 64 KiB on the goroutine stack (cmd/compile/internal/ir/cfg.go
    ``MaxImplicitStackVarSize``); the trace promises exactly that (never stored into a slot,
    dead at its FREE), so such objects take no heap memory and no allocation cost, count into
    the stack bytes of the heap goal, are scanned with the stack, and are gone at their FREE.
    Larger ones, or all of them with ``escape_analysis = false``, are heap objects.
    GOMEMLIMIT is a soft limit: the model never runs out of memory; a limit below the live
    heap makes the collector run back to back, with the mutator assisting, as Go does.
    """

    name = "go"
    Params = Params
    Costs = Costs

    def run(self, trace: Trace, out: Output) -> None:
        p, c = self.params, self.costs
        lw = _Lowered(trace, p, c, out.mutator)
        self._lw = lw
        gogc = -1 if p.gogc == "off" else int(p.gogc)
        limit = INF if p.gomemlimit_mb is None else int(p.gomemlimit_mb * MiB)
        led = Ledger()
        n_tiny = int(np.count_nonzero(lw.tiny))
        heap = Heap(c, p.gomaxprocs, lw.objects, n_tiny, led, out, lw.nelems)
        # the globals are scanned word by word (markroot's scanblock), as pointer slots are
        globals_bytes = int(p.globals_kb * 1024) // PTR_SIZE * PTR_SIZE
        pacer = Pacer(gogc, limit, p.gomaxprocs, p.version, globals_bytes)
        limiter = CPULimiter(p.gomaxprocs)
        heap.pacer = pacer
        heap.limiter = limiter
        heap.memory_limit = limit
        col = Collector(lw, heap, pacer, limiter, led, p, c, out)
        self._heap, self._col = heap, col
        out.footprint(0, 0)
        heap.last_fp = 0

        wb_at, last = self._loop(lw, heap, col, led, c.write_barrier_ns)
        col.finish(last)
        # the per-event and per-slot state of the loop and the collector is no longer needed:
        # free it before the outputs take their one float per event each
        lw.release()
        col.release()
        heap.release()
        n = lw.events
        mm = lw.mm_static
        if led.mm_at:
            np.add.at(mm, np.asarray(led.mm_at, dtype=np.int64), np.asarray(led.mm_ns))
        if wb_at:
            mm[np.frombuffer(wb_at, dtype=np.int64)] += c.write_barrier_ns
        gcv = np.zeros(n)
        if led.gc_at:
            np.add.at(gcv, np.asarray(led.gc_at, dtype=np.int64), np.asarray(led.gc_ns))
        out.mm_ns = mm
        out.gc_ns = gcv
        out.concurrent_ns = led.concurrent
        out.allocated_bytes = int(lw.hbytes_nontiny[lw.heap].sum()) + TINY_SIZE * heap.nblocks
        # stack-allocated objects die with their frame, at their FREE
        frees = np.flatnonzero(trace.op == FREE)
        fo = trace.x[frees]
        st = lw.on_stack[fo]
        out.reclaimed_ids = fo[st]
        out.reclaimed_at = frees[st]
        self._stack_freed = np.zeros(lw.objects, dtype=bool)
        self._stack_freed[fo[st]] = True
        self._reach_end = trace.reachable_at_end
        out.stats.update(self._stats(heap, col, pacer, limiter, len(wb_at), lw))

    def _loop(self, lw: _Lowered, heap: Heap, col: Collector, led: Ledger,
              wb: float) -> tuple[array, int]:
        """One pass over heap ALLOCs and STOREs; returns the STOREs that paid a barrier and
        the last event seen while marking.

        Two loops take turns over one iterator: between cycles a STORE only updates its slot
        and an ALLOC takes the mcache fast path, and the event's index and start time are
        read only on a slow path; while a cycle marks, every event needs both (termination
        time, barriers, assists), read window by window."""
        slots = lw.slots
        hbn = lw.hbytes
        hb = hbn.tolist() if lw.has_tiny else None
        cspan, cfree, cpos, cobjs = heap.cspan, heap.cfree, heap.cpos, heap.cobjs
        cend = heap.cend
        ospan = heap.ospan
        refill = heap.refill
        evn, tn = lw.loop_ev, lw.loop_t
        wb_at = array("q")             # 8 bytes per barrier, no int object kept
        wb_add = wb_at.append
        extra = 0.0
        marking = False
        frac = col.frac
        t_end = INF
        credit = 0.0
        mlast = -1
        it = lw.stream()
        while True:
            # -- between cycles --
            for k, a, b in it:
                if a < 0:
                    slots[~a] = b               # STORE: the slot changes, no barrier
                    continue
                # ALLOC of heap object a, kind b
                if b >= 2:
                    # mcache fast path: the next free slot of the cached span of this class
                    q = cpos[b]
                    if q < cend[b]:
                        cobjs[b][cfree[b][q]] = a
                        cpos[b] = q + 1
                        ospan[a] = cspan[b]
                        continue
                    i = int(evn[k])
                    led.extra = extra
                    refill(b, i, float(tn[k]) + extra)
                    cobjs[b][cfree[b][0]] = a
                    cpos[b] = 1
                    ospan[a] = cspan[b]
                elif b == KIND_TINY:
                    i = int(evn[k])
                    led.extra = extra
                    if not heap.alloc_tiny(a, hb[a], i, float(tn[k]) + extra):
                        continue
                else:
                    i = int(evn[k])
                    led.extra = extra
                    heap.alloc_large(a, -b, i, float(tn[k]) + extra)
                # a span came from mcentral or the heap: maybe start a cycle (mallocgc's
                # checkGCTrigger)
                col.after_span(i)
                extra = led.extra
                if col.marking:
                    credit = 0.0
                    t_end = col.t_end
                    mlast = i
                    marking = True
                    break
            else:
                break
            # -- a cycle is marking --
            if hb is None:
                hb = hbn.tolist()
            lo = hi = 0
            EV = TT = None
            for k, a, b in it:
                if k >= hi:
                    lo, hi = k, k + MARK_WINDOW
                    EV = evn[lo:hi].tolist()
                    TT = tn[lo:hi].tolist()
                i = EV[k - lo]
                T = TT[k - lo]
                if a < 0:
                    slots[~a] = b           # STORE: the slot changes
                t = T + extra
                if t >= t_end:
                    led.extra = extra
                    col.terminate_timed(i, mlast)
                    extra = led.extra
                    marking = False
                elif frac:
                    led.extra = extra
                    col.p1_tick(i, t)
                    extra = led.extra
                    t_end = col.t_end
                if a < 0:
                    # STORE while marking: the hybrid write barrier runs
                    if not marking:
                        break
                    extra += wb
                    wb_add(i)
                    mlast = i
                    continue
                # ALLOC of heap object a, kind b
                if marking:
                    # deductAssistCredit: allocating while marking runs up assist debt
                    credit -= hb[a]
                    if credit < 0:
                        led.extra = extra
                        credit = col.assist(i, T + extra, credit)
                        extra = led.extra
                        marking = col.marking
                        t_end = col.t_end
                    mlast = i
                if b >= 2:
                    q = cpos[b]
                    if q < cend[b]:
                        cobjs[b][cfree[b][q]] = a
                        cpos[b] = q + 1
                        ospan[a] = cspan[b]
                        if marking:
                            continue
                        break
                    led.extra = extra
                    refill(b, i, T + extra)
                    cobjs[b][cfree[b][0]] = a
                    cpos[b] = 1
                    ospan[a] = cspan[b]
                elif b == KIND_TINY:
                    led.extra = extra
                    if not heap.alloc_tiny(a, hb[a], i, T + extra):
                        if marking:
                            continue
                        break
                else:
                    led.extra = extra
                    heap.alloc_large(a, -b, i, T + extra)
                # a span came from mcentral or the heap: maybe revise the assist ratio, or
                # start a cycle (mallocgc's checkGCTrigger)
                col.after_span(i)
                extra = led.extra
                if col.marking and not marking:
                    credit = 0.0
                    t_end = col.t_end
                    mlast = i
                marking = col.marking
                if not marking:
                    break
            else:
                break
        led.extra = extra
        return wb_at, mlast

    def held(self) -> tuple[np.ndarray, np.ndarray]:
        """The final collection (runtime.GC: finish any cycle, then a full one from the final
        registers): heap objects reachable at the end, plus dead tiny objects that share a
        16-byte block with a live one. The block being filled is not kept: each cycle's mark
        termination releases it (mcache.prepareForSweep -> releaseAll sets c.tiny = 0,
        runtime/mcache.go), so the next full cycle frees it once its objects are dead."""
        lw, col, heap = self._lw, self._col, self._heap
        reach = self._reach_end()
        resident = lw.heap & ~col.reclaimed
        keep = resident & reach
        if lw.has_tiny:
            tb = np.frombuffer(heap.tblock, dtype=np.int64)
            rt = np.flatnonzero(resident & lw.tiny)
            live = np.unique(tb[rt[reach[rt]]])
            keep[rt[np.isin(tb[rt], live)]] = True
        ids = np.flatnonzero(keep)
        # stack objects the trace never frees stay in their frame: held, in no heap bytes
        never = np.flatnonzero(lw.on_stack & ~self._stack_freed)
        ids = np.concatenate([ids, never])
        nbytes = np.concatenate([lw.hbytes[ids[:ids.size - never.size]],
                                 np.zeros(never.size, dtype=np.int64)])
        return ids, nbytes

    @staticmethod
    def _stats(heap: Heap, col: Collector, pacer: Pacer, limiter: CPULimiter, wbs: int,
               lw: _Lowered) -> dict:
        stats = {
            "cycles": col.cycles,
            "objects_marked": col.marked_objects,
            "objects_reclaimed": col.reclaimed_objects,
            "mark_work_ns": col.mark_work_ns,
            "background_mark_ns": col.bg_mark_ns,
            "fractional_mark_ns": col.frac_ns_total,
            "assists": col.assists,
            "assist_ns": col.assist_ns_total,
            "write_barriers": wbs,
            "background_sweep_ns": heap.bg_sweep_ns,
            "mutator_sweep_ns": heap.mut_sweep_ns,
            "spans_swept": heap.swept_spans,
            "spans_allocated": heap.spans_allocated,
            "heap_grows": heap.grows,
            "pages_faulted_in": heap.pages_faulted,
            "zeroing_skipped_bytes": heap.zeroing_skipped_bytes,
            "pages_released": heap.released_pages,
            "scavenge_ns": heap.scavenge_ns_total,
            "tiny_blocks": heap.nblocks,
            "stack_objects": int(np.count_nonzero(lw.on_stack)),
            "heap_marked_bytes": int(pacer.heap_marked),
            "peak_heap_goal_bytes": float(col.peak_goal),
            "cons_mark": pacer.cons_mark,
            "cpu_limiter_overflow_ns": limiter.overflow,
            "heap_pages_mapped": heap.total_pages,
            "incremental_snapshots": col.incremental_snapshots,
        }
        if lw.green_tea:
            stats["span_scans"] = col.span_scans
            stats["span_scans_one_mark"] = col.span_scans_one
        return {k: (int(v) if isinstance(v, (int, np.integer)) else float(v))
                for k, v in stats.items()}
