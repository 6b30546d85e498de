"""The engine: replays one trace under one model and measures it (docs/design.md §4).

Every metric is computed here, from what the model wrote into its :class:`Output`, by the same
code for every model. The engine also runs the safety oracle: always, it checks that no object
is used after the model reclaimed it and that nothing reachable at the end was reclaimed; with
``check="full"`` it also re-traces the heap from the registers at every collection the model
reports (MMTk's sanity collection).

This module must not know about configs, runs, files or reports.
"""
from __future__ import annotations

import gc
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .costs import MutatorCosts
from .errors import OutOfMemory, SafetyError, Unavailable
from .metrics import (MMU_CURVE_WINDOWS, MMU_WINDOWS, envelope, envelope_chunks, merge_stalls,
                      mmu, percentile, step_mean)
from .model import Model, Output
from .trace import ALLOC, CLEAR, FREE, LOAD, MOVE, OP_NAMES, STORE, Trace, reachable

CHECK_LEVELS = ("basic", "full")
#: the memory of the machine a simulated model runs on, in MiB (``[run] machine_mb``): a model
#: whose footprint would pass it ends ``oom``, as the runtime would when the operating system
#: refuses it memory. 64 GiB: a large server's, and far above every built-in config.
DEFAULT_MACHINE_MB = 65536
#: events per segment where the engine walks a trace's columns piece by piece (its
#: temporaries then cost a few MB, not bytes per event)
SEGMENT_EVENTS = 1 << 20
#: the metric keys of docs/design.md §4, in table order
METRIC_KEYS = (
    "wall_time_s", "cpu_time_s", "mm_cpu_fraction", "gc_cpu_fraction", "throughput_ops_per_s",
    "pause_count", "pause_total_s", "pause_max_s", "pause_p50_s", "pause_p95_s", "pause_p99_s",
    "max_stall_s", "mmu", "footprint_peak_bytes", "footprint_mean_bytes", "live_peak_bytes",
    "allocated_bytes", "leaked_bytes", "gc_count", "gc_counts",
)


def default_check() -> str:
    """``MEMCOMPARE_CHECK`` (``basic`` or ``full``); the test suite sets ``full``."""
    level = os.environ.get("MEMCOMPARE_CHECK", "basic")
    return level if level in CHECK_LEVELS else "basic"


@dataclass
class Result:
    """One cell's outcome: ``status`` ok / oom, the metrics, and the timeline plots draw from."""

    status: str
    metrics: dict[str, Any] | None = None
    timeline: dict[str, Any] | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    oom_at: int | None = None
    #: False for measured (native) cells: the same inputs give different numbers each run
    deterministic: bool = True


def replay(trace: Trace, model_cls: type[Model], params: Any, costs: Any, *,
           check: str | None = None, mutator: MutatorCosts | None = None,
           machine_mb: float | None = DEFAULT_MACHINE_MB) -> Result:
    """Replay ``trace`` under a model and measure it. A model's exception propagates.

    ``machine_mb``: the simulated machine's memory; a footprint beyond it ends the cell ``oom``
    at the first event where the model held more (None: no limit)."""
    check = check or default_check()
    if check not in CHECK_LEVELS:
        raise ValueError(f"check must be one of {CHECK_LEVELS}, got {check!r}")
    mutator = mutator or MutatorCosts()
    model = model_cls(params, costs)
    out = Output(trace, mutator)
    if getattr(model_cls, "measured", False):
        return _measured(trace, model, out)
    # The simulator's own structures hold no reference cycles: Python's collector would only
    # slow the replay down ~2× (docs/simulator-speed.md §3).
    was_enabled = gc.isenabled()
    # what every replay's checks need of the trace (cached on it): computed before the model
    # holds its own state, its temporaries (bytes per event) never add to the model's peak
    trace.reachable_at_end()
    gc.disable()
    try:
        try:
            model.run(trace, out)
        except OutOfMemory as e:
            return Result("oom", error=str(e), oom_at=e.index, stats=dict(out.stats))
        held_ids, held_bytes = model.held()
    finally:
        if was_enabled:
            gc.enable()
    beyond = _beyond_machine(trace, out, machine_mb, getattr(model_cls, "name", ""))
    if beyond is not None:
        return beyond
    held_ids = np.asarray(held_ids, dtype=np.int64)
    held_bytes = np.asarray(held_bytes, dtype=np.int64)
    name = getattr(model_cls, "name", model_cls.__name__)
    reclaimed_ids, reclaimed_at = _reclaims(out)
    _check_accounting(trace, name, reclaimed_ids, reclaimed_at, held_ids)
    _check_use_after_reclaim(trace, name, reclaimed_ids, reclaimed_at)
    if check == "full" and out.collections:
        _check_collections(trace, name, out.collections)
    metrics, timeline = measure(trace, out, held_ids, held_bytes, mutator)
    return Result("ok", metrics, timeline, dict(out.stats))


def _beyond_machine(trace: Trace, out: Output, machine_mb: float | None, name: str
                    ) -> Result | None:
    """``oom`` if the model's footprint ever passed the machine's memory, else None.

    Checked once here, from the footprint every model reports, rather than in each model: the
    operating system refuses the memory whatever the runtime (Go throws "runtime: out of
    memory", the JVM OutOfMemoryError, glibc's malloc returns NULL and ``new`` throws
    std::bad_alloc, CPython raises MemoryError)."""
    if machine_mb is None or len(out.fp_bytes) == 0:
        return None
    limit = machine_mb * (1 << 20)
    # kept converted: the measurement reads the same column next
    out.fp_bytes = fp_bytes = _ints(out.fp_bytes)
    over = np.flatnonzero(fp_bytes > limit)
    if not over.size:
        return None
    fp_at = np.asarray(out.fp_at, dtype=np.int64)
    first = over[np.argmin(fp_at[over])]        # the earliest event at which it held too much
    at, held = int(fp_at[first]), int(fp_bytes[first])
    return Result("oom", error=f"model {name!r} needs {held / (1 << 20):.1f} MiB at event {at}, "
                               f"more than the machine's {machine_mb:g} MiB (run.machine_mb)",
                  oom_at=at, stats=dict(out.stats))


def _measured(trace: Trace, model: Model, out: Output) -> Result:
    """A model that runs the real runtime: its measured metrics, nothing simulated."""
    try:
        model.run(trace, out)
    except Unavailable as e:
        return Result("unavailable", error=str(e), deterministic=False)
    except OutOfMemory as e:        # the runtime itself ran out (its own message)
        return Result("oom", error=str(e), oom_at=e.index if e.index >= 0 else None,
                      stats=dict(out.stats), deterministic=False)
    if out.measured is None:
        raise ValueError(f"measured model {type(model).__name__} set no out.measured")
    metrics = dict(out.measured)
    metrics.setdefault("live_peak_bytes", trace.live_peak_bytes)
    return Result("ok", metrics, out.timeline, dict(out.stats), deterministic=False)


# -- measurement ------------------------------------------------------------------------------

def prepare(trace: Trace) -> None:
    """Compute what every replay of ``trace`` needs, once (before a process pool forks)."""
    trace.live_peak_bytes
    trace.reachable_at_end()
    _last_touch(trace)


def _ints(values) -> np.ndarray:
    """A model's list of integers (or array) as int64."""
    if isinstance(values, list):        # fromiter reads a list ~1.2x faster, the same values
        return np.fromiter(values, np.int64, count=len(values))
    return np.asarray(values, dtype=np.int64)


def _per_event(values, n: int, what: str) -> np.ndarray:
    if values is None:
        return np.zeros(n)
    if isinstance(values, list):        # fromiter reads a list of floats ~2x faster
        arr = np.fromiter(values, np.float64, count=len(values))
    else:
        arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"Output.{what} must have one entry per event ({n}), got {arr.shape}")
    return arr


def _take(out: Output, name: str, n: int) -> np.ndarray | None:
    """The model's per-event cost column ``name`` as a float array the engine may write in
    place, dropped from ``out`` (one such column alive at a time: issue 10's memory at 10⁸
    events); None when the model set none. The model's own array when nothing else holds it
    (its pages are then reused for the timeline rather than fresh ones faulted in: at 10⁸
    events every fresh array of one float per event costs 800 MB of first touches), else a
    copy."""
    col = getattr(out, name)
    if col is None:
        return None
    values = _per_event(col, n, name)
    setattr(out, name, None)
    if values is col:
        del col
        # held here and as getrefcount's argument only: no one else sees it change
        if not (values.flags.writeable and values.flags.c_contiguous and values.flags.owndata
                and sys.getrefcount(values) <= 2):
            values = values.copy()
    return values


def _mutator_costs(trace: Trace, mutator: MutatorCosts, into: np.ndarray | None = None
                   ) -> np.ndarray:
    """The mutator's cost of every event (:meth:`MutatorCosts.per_event`), a segment of
    :data:`SEGMENT_EVENTS` at a time: the same values (it is elementwise), but its temporaries
    (a gather and masks per event) stay a few MB at any trace length, rather than several
    arrays of bytes per event each faulted in fresh. Into a new array, or added into ``into``
    (the model's own costs: ``into + cost`` is ``cost + into`` to the bit)."""
    n = trace.events
    cost = np.empty(n) if into is None else into
    op = trace.op
    # the operands a segment at a time (Trace.segment): the same values as Trace.a/b/c,
    # without a whole-trace int32 copy of each narrow column (12 bytes per event of fresh
    # memory at 10⁸ events, kept with the trace)
    for lo in range(0, n, SEGMENT_EVENTS):
        hi = min(lo + SEGMENT_EVENTS, n)
        part = mutator.per_event(op[lo:hi], trace.segment("a", lo, hi),
                                 trace.segment("b", lo, hi), trace.segment("c", lo, hi))
        if into is None:
            cost[lo:hi] = part
        else:
            cost[lo:hi] += part
    return cost


def _stalled_times(stall: np.ndarray, progress: np.ndarray):
    """Every event's progress time, the run's wall time and the stall intervals, from each
    event's stall and progress costs (both arrays are reused: ``stall`` becomes the progress
    times). Returns (wall_ns, t_progress, stalled events, their start times, the merged
    intervals' starts and durations)."""
    n = stall.size
    stalled = np.flatnonzero(stall != 0)    # of the bools: 4x faster than of the floats
    s_st = stall[stalled]
    # one sequential cumsum gives every event's end; its stall segment comes first. In the
    # stall array's own memory: its nonzero entries are kept above, and a fresh array of one
    # float per event would cost its pages (8 bytes per event) and their faults
    t = stall
    del stall
    t += progress
    np.cumsum(t, out=t)
    wall_ns = float(t[-1]) if n else 0.0
    start_st = t[stalled]               # (end - stall) - progress, in place: the same bits
    start_st -= s_st
    start_st -= progress[stalled]
    positive = s_st > 0
    if positive.all():                  # no negative stall: no copies of one per stall
        st_start, st_dur = merge_stalls(stalled, s_st, progress, start_st)
    else:
        st_start, st_dur = merge_stalls(stalled[positive], s_st[positive], progress,
                                        start_st[positive])
    del positive
    t -= progress
    t[stalled] = start_st + s_st        # t: when event i makes progress, after its stall
    return wall_ns, t, stalled, start_st, st_start, st_dur


def _unstalled_times(progress: np.ndarray) -> tuple[float, np.ndarray]:
    """:func:`_stalled_times` of a run with no stall at all: the wall time and every event's
    progress time, in ``progress``'s own memory (no array of one float per event more), a
    segment at a time. The same bits: the ends are the sequential sum of (0.0 + progress), the
    segment's first sum starting from the previous end; 0.0 + x is x but for -0.0, which adds
    as +0.0 to a sum that is never -0.0."""
    n = progress.size
    buf = np.empty(min(n, SEGMENT_EVENTS) + 1)
    end = 0.0
    for lo in range(0, n, SEGMENT_EVENTS):
        seg = progress[lo:lo + SEGMENT_EVENTS]
        part = buf[:seg.size + 1]
        part[0] = end
        part[1:] = seg
        np.cumsum(part, out=part)
        end = float(part[-1])
        np.subtract(part[1:], seg, out=seg)     # when event i makes progress: end - progress
    return (end if n else 0.0), progress


def measure(trace: Trace, out: Output, held_ids: np.ndarray, held_bytes: np.ndarray,
            mutator: MutatorCosts) -> tuple[dict[str, Any], dict[str, Any]]:
    """The metrics and timeline of a finished replay.

    Consumes the model's per-event arrays: ``out.mm_ns``, ``out.free_ns`` and ``out.gc_ns`` are
    None afterwards. The timeline is built in them (the stalls in ``free_ns``, else ``gc_ns``;
    the progress costs in ``mm_ns``) when the model keeps no reference to them, so that at most
    two arrays of one float per event are alive at once, and none is fresh memory beyond the
    model's own (a 10^8-event replay: 1.6 GB)."""
    n = trace.events
    # numpy's pairwise sum has a fixed order for a given length: the same bits everywhere
    # in place where possible: every temporary of a few million floats costs its page faults
    p_at = np.asarray(out.pause_at, dtype=np.int64)
    p_ns = np.asarray(out.pause_ns, dtype=np.float64)
    if p_at.size and (p_at.min() < 0 or p_at.max() >= max(n, 1)):
        raise ValueError(f"a pause was reported at event {int(p_at.max())}, outside 0..{n - 1}")
    # stall[i] = ((0 + the pauses before event i, in report order) + free_ns[i]) + gc_ns[i],
    # built in the model's own free_ns (else gc_ns) array: x + 0.0 is 0.0 + x to the bit (it
    # turns -0.0 into +0.0), and the pauses' sum, never -0.0, is added in front
    free = _take(out, "free_ns", n)
    free_total = float(free.sum()) if free is not None else 0.0
    gc_mut = _take(out, "gc_ns", n)
    gc_mut_total = float(gc_mut.sum()) if gc_mut is not None else 0.0
    if free is not None or gc_mut is not None:
        stall = free if free is not None else gc_mut
        stall += 0.0
    elif p_at.size:
        stall = np.zeros(n)
    else:
        stall = None                    # no pause, no delete, no collector work: no stall
    if p_at.size:
        # several pauses before one event happen one after the other; add them in report order
        at, which = np.unique(p_at, return_inverse=True)
        paused = np.zeros(at.size)
        np.add.at(paused, which, p_ns)
        stall[at] = paused + stall[at]
    if free is not None and gc_mut is not None:
        stall += gc_mut
    del free, gc_mut
    mm = _take(out, "mm_ns", n)
    mm_total = float(mm.sum()) if mm is not None else 0.0
    progress = _mutator_costs(trace, mutator, into=mm)
    del mm
    # event i starts at (end - stall) - progress and makes progress from start + stall. Where
    # stall[i] is zero it is +0.0 (zeros plus costs), and no end is -0.0 (a sum of terms none of
    # which is): start and progress time are then both end - progress, to the bit. So one pass
    # over every event, and the three steps only where a stall is.
    if stall is None:
        wall_ns, t_progress = _unstalled_times(progress)
        del progress
        stalled = np.zeros(0, dtype=np.int64)
        start_st = st_start = st_dur = np.zeros(0)
    else:
        wall_ns, t_progress, stalled, start_st, st_start, st_dur = _stalled_times(stall,
                                                                                  progress)
        del stall, progress
    if p_at.size:                       # when each pause's event starts (its stall first)
        k = np.minimum(np.searchsorted(stalled, p_at), max(stalled.size - 1, 0))
        hit = stalled[k] == p_at if stalled.size else np.zeros(p_at.size, bool)
        pause_start = np.where(hit, start_st[k] if stalled.size else 0.0, t_progress[p_at])
    else:
        pause_start = np.zeros(0)

    pause_total = math.fsum(out.pause_ns)
    pause_cpu = math.fsum(out.pause_cpu_ns)
    cpu_ns = wall_ns + out.concurrent_ns + (pause_cpu - pause_total)
    gc_cpu = pause_cpu + gc_mut_total + out.concurrent_ns
    mm_cpu = gc_cpu + mm_total + free_total

    ops = int(n - int(np.count_nonzero(trace.op == FREE)))

    fp_at = _ints(out.fp_at)
    fp_bytes = _ints(out.fp_bytes)
    if fp_at.shape != fp_bytes.shape:
        raise ValueError("Output.fp_at and fp_bytes differ in length")
    if fp_at.size:
        if not bool((fp_at[1:] >= fp_at[:-1]).all()):  # in order already: the sort is the identity
            order = np.argsort(fp_at, kind="stable")
            fp_at, fp_bytes = fp_at[order], fp_bytes[order]
        fp_t = t_progress[np.clip(fp_at, 0, max(n - 1, 0))] if n else np.zeros(fp_at.size)
    else:
        fp_t = np.zeros(1)
        fp_bytes = np.zeros(1, dtype=np.int64)
    fp_peak = int(fp_bytes.max())
    fp_mean = step_mean(fp_t, fp_bytes.astype(np.float64), wall_ns)

    unreachable_held = ~trace.reachable_at_end()[held_ids] if held_ids.size else np.zeros(0, bool)
    leaked = int(held_bytes[unreachable_held].sum()) if held_ids.size else 0

    pauses_s = p_ns / 1e9
    curve = mmu(st_start, st_dur, wall_ns, MMU_CURVE_WINDOWS)
    metrics: dict[str, Any] = {
        "wall_time_s": wall_ns / 1e9,
        "cpu_time_s": cpu_ns / 1e9,
        "mm_cpu_fraction": mm_cpu / cpu_ns if cpu_ns > 0 else 0.0,
        "gc_cpu_fraction": gc_cpu / cpu_ns if cpu_ns > 0 else 0.0,
        "throughput_ops_per_s": ops / (wall_ns / 1e9) if wall_ns > 0 else 0.0,
        "pause_count": int(p_ns.size),
        "pause_total_s": pause_total / 1e9,
        "pause_max_s": float(pauses_s.max()) if pauses_s.size else 0.0,
        "pause_p50_s": percentile(pauses_s, 50),
        "pause_p95_s": percentile(pauses_s, 95),
        "pause_p99_s": percentile(pauses_s, 99),
        "max_stall_s": float(st_dur.max()) / 1e9 if st_dur.size else 0.0,
        "mmu": {k: curve[k] for k in MMU_WINDOWS},
        "footprint_peak_bytes": fp_peak,
        "footprint_mean_bytes": fp_mean,
        "live_peak_bytes": trace.live_peak_bytes,
        "allocated_bytes": int(out.allocated_bytes),
        "leaked_bytes": leaked,
        "gc_count": int(sum(out.gc_counts.values())),
        "gc_counts": dict(sorted(out.gc_counts.items())),
    }
    pauses = []
    offset: dict[int, float] = {}          # several pauses before one event run back to back
    for a, s0, d, k in zip(out.pause_at, pause_start.tolist(), out.pause_ns, out.pause_kind):
        ts = s0 + offset.get(a, 0.0)
        offset[a] = offset.get(a, 0.0) + d
        pauses.append([ts, float(d), k])
    timeline = {
        "wall_ns": wall_ns,
        "footprint": envelope(fp_t, fp_bytes, wall_ns),
        # the trace's own live-bytes curve, read a chunk at a time (never one array of it)
        "live": envelope_chunks(t_progress, trace.live_chunks(), wall_ns) if n else [],
        "pauses": pauses,
        "mmu": [[float(k), curve[k]] for k in MMU_CURVE_WINDOWS],
    }
    return metrics, timeline


# -- safety oracle ----------------------------------------------------------------------------

def _reclaims(out: Output) -> tuple[np.ndarray, np.ndarray]:
    ids = [np.asarray(out.reclaimed_ids, dtype=np.int64)]
    at = [np.asarray(out.reclaimed_at, dtype=np.int64)]
    if ids[0].shape != at[0].shape:
        raise ValueError("Output.reclaimed_ids and reclaimed_at differ in length")
    for a, batch in out.collections:
        ids.append(batch)
        at.append(np.full(batch.shape[0], a, dtype=np.int64))
    if len(ids) == 1:       # no collections (a manual heap): no copy of a column per object
        return ids[0], at[0]
    return np.concatenate(ids), np.concatenate(at)


def _check_accounting(trace: Trace, model: str, ids: np.ndarray, at: np.ndarray,
                      held: np.ndarray) -> None:
    """Every object is reclaimed once or held at the end; nothing reachable at the end is gone."""
    m = trace.objects
    for what, arr in (("reclaimed", ids), ("held", held)):
        if arr.size and (arr.min() < 0 or arr.max() >= m):
            bad = int(arr[(arr < 0) | (arr >= m)][0])
            raise SafetyError(f"model {model!r} reports {what} object {bad}, but the trace has "
                              f"objects 0..{m - 1}", object_id=bad, index=-1)
    count = np.bincount(ids, minlength=m) if ids.size else np.zeros(m, dtype=np.int64)
    if count.size and count.max() > 1:
        o = int(np.argmax(count > 1))
        first = int(at[ids == o].min())
        raise SafetyError(f"model {model!r} reclaimed object {o} twice (first after event "
                          f"{first})", object_id=o, index=first)
    reach = trace.reachable_at_end()
    gone = reach & (count > 0)
    if gone.any():
        o = int(np.argmax(gone))
        a = int(at[ids == o][0])
        raise SafetyError(f"model {model!r} reclaimed object {o} after event {a}, but it is "
                          f"still reachable at the end of the trace", object_id=o, index=a)


def _last_touch(trace: Trace) -> np.ndarray:
    """The last event that names each object (as x, y or z), computed once per trace."""
    cache = trace._cache
    if "last_touch" not in cache:
        last = np.full(trace.objects, -1, dtype=np.int64)
        x, y, z = trace.x, trace.y, trace.z
        # a segment of events at a time: a temporary per event would cost 8 bytes each
        for lo in range(0, trace.events, SEGMENT_EVENTS):
            hi = min(lo + SEGMENT_EVENTS, trace.events)
            idx = np.arange(lo, hi, dtype=np.int64)
            for col in (x, y, z):
                seg = col[lo:hi]
                has = seg >= 0
                np.maximum.at(last, seg[has], idx[has])
        cache["last_touch"] = last
    return cache["last_touch"]


def _check_use_after_reclaim(trace: Trace, model: str, ids: np.ndarray, at: np.ndarray) -> None:
    if not ids.size:
        return
    late = _last_touch(trace)[ids] > at
    if not late.any():
        return
    k = int(np.argmax(late))
    o, a = int(ids[k]), int(at[k])
    idx = np.arange(trace.events)
    uses = np.flatnonzero(((trace.x == o) | (trace.y == o) | (trace.z == o)) & (idx > a))
    i = int(uses[0])
    raise SafetyError(f"model {model!r} reclaimed object {o} after event {a}, but event {i} "
                      f"({OP_NAMES[trace.op[i]]}) still uses it", object_id=o, index=i)


class _Shadow:
    """The heap as the trace defines it, advanced event by event: registers and slots.

    Collector semantics: FREE only clears its register (docs/design.md §3), so what is reachable is
    decided by the registers and slots alone.
    """

    def __init__(self, trace: Trace):
        self.trace = trace
        self.pos = 0
        self.regs = [-1] * max(trace.registers, 1)
        self.slots = [-1] * int(trace.obj_nslots.sum())
        self.base = trace.obj_slot_base.tolist()
        self.op = trace.op.tolist()
        self.a = trace.a.tolist()
        self.b = trace.b.tolist()
        self.x = trace.x.tolist()
        self.y = trace.y.tolist()

    def advance(self, through: int) -> None:
        regs, slots, base = self.regs, self.slots, self.base
        op, a, b, x, y = self.op, self.a, self.b, self.x, self.y
        for i in range(self.pos, through + 1):
            o = op[i]
            if o == STORE:
                slots[base[x[i]] + b[i]] = y[i]
            elif o == ALLOC or o == LOAD or o == MOVE:
                regs[a[i]] = x[i]
            elif o == CLEAR or o == FREE:
                regs[a[i]] = -1
        self.pos = max(self.pos, through + 1)

    def reachable(self) -> np.ndarray:
        t = self.trace
        return reachable(np.asarray(self.regs), np.asarray(self.slots, dtype=np.int64),
                         t.obj_slot_base, t.obj_nslots, t.objects)


def _check_collections(trace: Trace, model: str, collections) -> None:
    shadow = _Shadow(trace)
    for at, batch in sorted(collections, key=lambda c: c[0]):
        if not batch.size:
            continue
        shadow.advance(at)
        live = shadow.reachable()
        bad = batch[live[batch]]
        if bad.size:
            o = int(bad[0])
            raise SafetyError(f"model {model!r} reclaimed object {o} in a collection after event "
                              f"{at}, but the full re-trace finds it reachable from the registers "
                              f"then", object_id=o, index=at)
