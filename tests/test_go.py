"""The ``go`` model against numbers derived by hand from the Go runtime's rules.

Constants used throughout (docs/runtimes.md §1, golang/go runtime sources):

- object = payload + 8 × slots; pointerful objects over 512 bytes get an 8-byte malloc header;
  the size class is the smallest of sizeclasses.go's 67 classes that fits;
- pages are 8 KiB; an object over 32760 bytes (maxSmallSize − mallocHeaderSize) gets its own
  run of whole pages; pointer-free objects under 16 bytes share 16-byte tiny blocks;
- heap goal = marked + (marked + 8 × live registers) × GOGC/100, at least 4 MiB × GOGC/100;
  the trigger lies 45/64..61/64 of the way from the marked heap to the goal;
- with the default cost table a stop-the-world pause is 10 µs + 1 µs per P other than the
  one stopping the world (proc.go stopTheWorldWithSema), the sweep termination pause adds
  0.5 ns per live register (the goroutine's stack scan).

Scenarios: "garbage" allocates 1 KiB pointer-free objects (size class 1024, 8 per span) and
drops each at once; "live list" keeps a linked list of 512-byte nodes (504 bytes + 1 slot: size
class 512, no header).
"""
from __future__ import annotations

import numpy as np
import pytest

import memcompare
from memcompare import Output, Recorder
from memcompare import params as P
from memcompare.errors import ConfigError
from memcompare.trace import ALLOC, STORE
from memcompare_go import Costs, GoModel, Params
from memcompare_go.heap import Heap, Ledger
from memcompare_go.pacer import INF, CPULimiter, Pacer, mark_workers
from memcompare_go.sizeclasses import (CLASS_TO_NELEMS, CLASS_TO_NPAGES, CLASS_TO_SIZE,
                                       object_layout, span_nelems)

KiB = 1 << 10
MiB = 1 << 20
#: the rule set the hand derivations below follow unless a test names another: Go 1.22's
#: (Go 1.27's Green Tea changes span capacities and mark costs: its own tests at the end)
V = "1.22"


def run(trace, costs=None, **params):
    """Replay with the model alone (no engine): the model, its Output."""
    params.setdefault("version", V)
    model = GoModel(P.build(Params, params), P.build(Costs, costs or {}))
    out = Output(trace)
    model.run(trace, out)
    return model, out


def garbage(t: Recorder, nbytes: int, size: int = 1024, work: int = 0) -> None:
    for _ in range(nbytes // size):
        g = t.alloc(size)
        if work:
            t.work(work)
        t.drop(g)


def live_list(t: Recorder, nbytes: int, node: int = 512):
    """A linked list of ``nbytes`` in ``node``-byte nodes (payload + one slot); the head's
    handle is returned."""
    head = t.alloc(node - 8, 1)
    cur = t.copy(head)
    for _ in range(nbytes // node - 1):
        n = t.alloc(node - 8, 1)
        t.store(cur, 0, n)
        t.drop(cur)
        cur = n
    t.drop(cur)
    return head


def first_garbage_event(trace) -> int:
    return int(np.flatnonzero((trace.op == ALLOC) & (trace.b == 1024) & (trace.c == 0))[0])


# -- object layout ------------------------------------------------------------------------------

LAYOUTS = [
    # (payload, slots, heap bytes, what)
    (8, 0, 8, "tiny: pointer-free and under 16 bytes, 8 bytes of a shared block"),
    (15, 0, 15, "tiny"),
    (16, 0, 16, "size class 16 (2), not tiny: 16 is not under 16"),
    (0, 1, 8, "one pointer: size class 8, never tiny"),
    (8, 2, 24, "a binary-trees node: 8 + 2 × 8 = 24, size class 24"),
    (25, 0, 32, "25 rounds up to 32"),
    (496, 2, 512, "512 with pointers: no malloc header (minSizeForMallocHeader is exclusive)"),
    (497, 2, 576, "513 with pointers: + 8-byte header = 521 → 576"),
    (570, 0, 576, "570 pointer-free → 576"),
    (562, 1, 640, "570 with a pointer: + 8 = 578 → 640"),
    (1016, 1, 1152, "1024 with a pointer: + 8 = 1032 → 1152"),
    (32760, 0, 32768, "the largest small object: size class 32768"),
    (32761, 0, 32768, "over 32768 − 8: large, its own run of ceil(32761 / 8192) = 4 pages"),
    (32768, 0, 32768, "32 KiB exactly: large, 4 pages"),
    (33 * KiB, 0, 40960, "33 KiB: its own 5-page run, 40 KiB"),
    (0, 0, 0, "size 0: mallocgc returns &zerobase, no heap memory"),
]


@pytest.mark.parametrize("payload,slots,nbytes,what", LAYOUTS)
def test_object_layout(payload, slots, nbytes, what):
    kind, heap_bytes, _ = object_layout(np.array([payload]), np.array([slots]),
                                        np.array([False]))
    assert int(heap_bytes[0]) == nbytes, what
    if payload + 8 * slots > 32760:
        assert int(kind[0]) == -(nbytes // 8192), "a large object: its own page run"
    elif 0 < payload + 8 * slots:
        assert int(kind[0]) >= 1, "a tiny or small object"


def test_size_class_table_is_sizeclasses_go():
    # spot checks of the table comment in sizeclasses.go: class, bytes/obj, bytes/span, objects
    for cls, size, span, objs in [(1, 8, 8192, 1024), (3, 24, 8192, 341), (35, 1408, 16384, 11),
                                  (49, 6784, 40960, 6), (65, 27264, 81920, 3),
                                  (67, 32768, 32768, 1)]:
        assert CLASS_TO_SIZE[cls] == size
        assert CLASS_TO_NPAGES[cls] * 8192 == span
        assert CLASS_TO_NELEMS[cls] == objs
    assert len(CLASS_TO_SIZE) == 68          # class 0 (large) + 67 size classes


@pytest.mark.parametrize("sizes,blocks", [
    ([8, 8], 1),          # two 8-byte objects share one 16-byte block
    ([8, 8, 8], 2),       # the third starts a second block
    ([12, 4], 1),         # 12 at offset 0, 4 aligned to 4 at offset 12
    ([12, 8, 8], 2),      # 8 aligns to 16: new block, which keeps more room and becomes current
])
def test_tiny_allocator_packs_pointer_free_objects(sizes, blocks):
    t = Recorder()
    held = [t.alloc(s) for s in sizes]
    for h in held:
        t.drop(h)
    model, out = run(t.build())
    assert out.stats["tiny_blocks"] == blocks
    assert out.allocated_bytes == 16 * blocks
    assert max(out.fp_bytes) == 8192          # one page of the 16-byte noscan span class


def test_tiny_block_lives_while_any_object_in_it_lives():
    # a and b share a block; a dies, b lives: the final collection keeps the block, so a's
    # 8 bytes are held although unreachable — Go's tiny allocator's retention
    t = Recorder()
    a = t.alloc(8)
    b = t.alloc(8)
    t.drop(a)
    trace = t.build()
    r = memcompare.replay(trace, "go", version=V)
    assert r.metrics["leaked_bytes"] == 8
    assert r.metrics["allocated_bytes"] == 16


def test_large_object_gets_its_own_page_run():
    t = Recorder()
    t.drop(t.alloc(33 * KiB))
    model, out = run(t.build())
    assert out.allocated_bytes == 5 * 8192
    assert max(out.fp_bytes) == 5 * 8192      # the run is all the heap holds
    assert out.stats["heap_pages_mapped"] == 512   # mheap.grow maps a whole 4 MiB chunk


def test_small_objects_fill_spans_before_taking_pages():
    # 341 objects of 24 bytes fill one 8 KiB span of class 24; the 342nd needs a second
    t = Recorder()
    for _ in range(341):
        t.drop(t.alloc(8, 2))
    model, out = run(t.build())
    assert max(out.fp_bytes) == 8192
    t.drop(t.alloc(8, 2))
    model, out = run(t.build())
    assert max(out.fp_bytes) == 2 * 8192


# -- pacer --------------------------------------------------------------------------------------

@pytest.mark.parametrize("procs,dedicated,fractional", [
    (1, 0, 0.25), (2, 0, 0.25), (3, 0, 0.25),   # rounding off by > 30 %: fractional only
    (4, 1, 0.0), (8, 2, 0.0),
    (6, 1, 0.5 / 6),                            # 1.5 rounds to 2, 33 % off: 1 + fractional
])
def test_mark_workers_are_25_percent_of_gomaxprocs(procs, dedicated, fractional):
    assert mark_workers(procs) == (dedicated, pytest.approx(fractional))


def test_first_trigger_is_61_64_of_the_minimum_heap():
    # nothing marked yet, no cons/mark estimate: goal = heapMinimum = 4 MiB × GOGC/100, and a
    # zero runway puts the trigger at the 61/64 bound
    for gogc, goal in [(100, 4 * MiB), (200, 8 * MiB), (50, 2 * MiB)]:
        p = Pacer(gogc, INF, 4)
        assert p.trigger(0, 0, 0) == (goal // 64 * 61, goal)


def test_heap_goal_counts_marked_heap_and_stack():
    p = Pacer(100, INF, 4)
    p.heap_marked = 10 * MiB
    p.last_stack_bytes = 8 * 100          # 100 live registers
    p.commit(sweep_done=True)
    assert p.trigger(0, 0, 0)[1] == 10 * MiB + (10 * MiB + 800)


def test_trigger_bounds():
    p = Pacer(100, INF, 4)
    p.heap_marked = 10 * MiB
    p.commit(sweep_done=True)             # goal 20 MiB
    goal = 20 * MiB
    assert p.trigger(0, 0, 0)[0] == (goal - 10 * MiB) // 64 * 61 + 10 * MiB   # runway 0
    p.runway = 100 * MiB                  # runway beyond the goal: the 45/64 bound
    assert p.trigger(0, 0, 0)[0] == (goal - 10 * MiB) // 64 * 45 + 10 * MiB
    # large heaps: the upper bound is goal − 4 MiB when that is above 61/64 of the way
    p.heap_marked = 100 * MiB
    p.runway = 0
    p.commit(sweep_done=True)             # goal 200 MiB; 61/64 of the way = 195.3 MiB
    assert p.trigger(0, 0, 0) == (196 * MiB, 200 * MiB)


def test_memory_limit_goal_keeps_headroom():
    p = Pacer(100, 64 * MiB, 4)
    # goal = limit − (limit // 100 × 3) (3 % is above the 1 MiB minimum headroom)
    assert p.memory_limit_heap_goal(0, 0, 0) == 64 * MiB - 64 * MiB // 100 * 3
    small = Pacer(100, 8 * MiB, 4)
    assert small.memory_limit_heap_goal(0, 0, 0) == 7 * MiB      # 1 MiB minimum headroom
    small.heap_marked = 9 * MiB           # never below the marked heap
    assert small.memory_limit_heap_goal(0, 0, 0) == 9 * MiB
    # mapped memory that is not heap objects (here: 2 MiB of span waste) comes off the goal
    assert small.memory_limit_heap_goal(4 * MiB, 0, 2 * MiB) == 9 * MiB   # floored again
    small.heap_marked = 0
    assert small.memory_limit_heap_goal(4 * MiB, 0, 2 * MiB) == 5 * MiB


def test_cpu_limiter_is_a_leaky_bucket_of_one_second_per_p():
    lim = CPULimiter(1)
    lim.accumulate(0.0, 0.9e9)
    assert not lim.enabled
    lim.accumulate(0.0, 0.2e9)            # 1.1 s of GC time > 1 s capacity: limiting
    assert lim.enabled and lim.overflow == pytest.approx(0.1e9)
    lim.accumulate(0.5e9, 0.0)            # mutator time drains it
    assert not lim.enabled
    four = CPULimiter(4)
    four.pause(0.0, 1e9)                  # a stop-the-world second counts all 4 Ps as GC
    assert four.enabled


# -- collections --------------------------------------------------------------------------------

def test_no_live_data_collects_every_4_mib_and_doubling_gogc_halves_the_count():
    # 32 MiB of garbage; the goal is the minimum heap 4 MiB × GOGC/100, the trigger 45/64 to
    # 61/64 of it: GOGC=100 collects 32 / 4 = 8 to 32 / 2.8 = 11 times
    t = Recorder()
    garbage(t, 32 * MiB)
    trace = t.build()
    counts = {}
    for gogc in (50, 100, 200):
        r = memcompare.replay(trace, "go", version=V, gogc=gogc)
        counts[gogc] = r.metrics["gc_count"]
    assert 8 <= counts[100] <= 11
    assert 16 <= counts[50] <= 22
    assert 4 <= counts[200] <= 5
    assert counts[50] > counts[100] > counts[200]


@pytest.mark.parametrize("procs", [1, 2, 4])
def test_steady_live_heap_collects_about_every_live_heap_allocated(procs):
    # 8 MiB live, then 48 MiB of garbage. What a mark allocates is allocated black, so the
    # marked heap M is the 8 MiB plus at most what the mark allocated: the trigger is no
    # lower than 45/64 of the way to the goal and the assists finish the mark by the goal,
    # so M <= 8 MiB + 19/64 × (M + 220 KiB of globals): M <= (8 MiB + 19/64 × 220 KiB) × 64/45
    # = 11.47 MiB; the goal is M + M + 220 KiB (+ the 8-byte stack). A cycle allocates between
    # 45/64 × 8.2 MiB and 11.7 MiB: 48 / 11.7 = 4.1 to 48 / 5.8 = 8.3 collections
    t = Recorder()
    head = live_list(t, 8 * MiB)
    garbage(t, 48 * MiB)
    t.drop(head)
    trace = t.build()
    start = first_garbage_event(trace)
    model, out = run(trace, gomaxprocs=procs)
    during = sum(1 for at, _ in out.collections if at >= start)
    assert 4 <= during <= 9
    marked = out.stats["heap_marked_bytes"]
    assert 8 * MiB <= marked <= 11.47 * MiB
    assert out.stats["peak_heap_goal_bytes"] <= 2 * 11.47 * MiB + 220 * KiB + 8
    assert max(out.fp_bytes) <= out.stats["peak_heap_goal_bytes"]


def test_gogc_off_never_collects():
    t = Recorder()
    garbage(t, 16 * MiB)
    r = memcompare.replay(t.build(), "go", version=V, gogc="off")
    assert r.metrics["gc_count"] == 0 and r.metrics["pause_count"] == 0
    assert r.metrics["footprint_peak_bytes"] == 16 * MiB      # every page it ever allocated
    assert r.metrics["allocated_bytes"] == 16 * MiB


def _limit_trace():
    t = Recorder()
    head = live_list(t, 8 * MiB)
    garbage(t, 48 * MiB)
    t.drop(head)
    return t.build()


def test_memory_limit_below_the_gogc_goal_caps_the_heap():
    # GOGC's goal is 16 MiB; GOMEMLIMIT=12 MiB gives a goal of 12 − 1 MiB headroom (3 % of
    # 12 MiB is under the 1 MiB minimum) minus span waste: the footprint stays under the limit
    trace = _limit_trace()
    free = memcompare.replay(trace, "go", version=V)
    capped = memcompare.replay(trace, "go", version=V, gomemlimit_mb=12)
    assert free.metrics["footprint_peak_bytes"] > 12 * MiB
    assert capped.metrics["footprint_peak_bytes"] <= 12 * MiB
    assert capped.stats["peak_heap_goal_bytes"] <= 11 * MiB
    assert capped.metrics["gc_count"] > 2 * free.metrics["gc_count"]
    assert capped.metrics["gc_cpu_fraction"] > free.metrics["gc_cpu_fraction"]


def test_memory_limit_below_the_live_heap_slows_the_program_down():
    # 2 MiB live under a 1 MiB limit: the goal is the marked heap itself, so a cycle starts
    # at nearly every span refill — the program is slower, but it finishes (no OOM)
    t = Recorder()
    head = live_list(t, 2 * MiB)
    garbage(t, 2 * MiB)
    t.drop(head)
    trace = t.build()
    free = memcompare.replay(trace, "go", version=V)
    capped = memcompare.replay(trace, "go", version=V, gomemlimit_mb=1)
    assert capped.status == "ok"
    assert capped.metrics["gc_count"] > 10 * max(free.metrics["gc_count"], 1)
    assert capped.metrics["wall_time_s"] > 2 * free.metrics["wall_time_s"]
    assert capped.metrics["gc_cpu_fraction"] > 0.5


def test_two_pauses_per_cycle_fixed_plus_stack_scan():
    # during the garbage phase one register holds the object just allocated when a cycle
    # starts: sweep termination = 40 µs + (4 − 1) × 1 µs + 1 × 0.5 ns, mark termination =
    # 43 µs (the P that stops the world is not preempted)
    t = Recorder()
    garbage(t, 16 * MiB)
    model, out = run(t.build(), costs={"stw_ns": 40000.0})
    n = sum(out.gc_counts.values())
    assert n == 4
    kinds = out.pause_kind
    assert kinds == ["sweep termination", "mark termination"] * n
    assert out.pause_ns[0::2] == [43000.5] * n
    assert out.pause_ns[1::2] == [43000.0] * n


def test_narrow_keeps_values_and_halves_them_when_they_fit():
    from memcompare_go.model import _narrow
    small = np.array([-2**31, -1, 0, 2**31 - 1], dtype=np.int64)
    assert _narrow(small).dtype == np.int32 and _narrow(small).tolist() == small.tolist()
    for big in ([0, 2**31], [-2**31 - 1]):
        wide = np.array(big, dtype=np.int64)
        assert _narrow(wide).dtype == np.int64 and _narrow(wide).tolist() == big
    assert _narrow(np.zeros(0, dtype=np.int64)).size == 0


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_the_loop_reads_its_stream_in_chunks_without_changing_the_replay(monkeypatch, chunk):
    # the loop stream becomes Python ints a chunk at a time (memory); cycles start and end,
    # and barriers fall, across chunk and marking-window boundaries
    import memcompare_go.model as gm
    t = Recorder()
    head = live_list(t, 6 * MiB, node=64)
    garbage(t, 6 * MiB, size=48)
    t.drop(head)
    trace = t.build()
    _, ref = run(trace, gomaxprocs=1)
    monkeypatch.setattr(gm, "LOOP_CHUNK", chunk)
    monkeypatch.setattr(gm, "MARK_WINDOW", 5)
    _, out = run(trace, gomaxprocs=1)
    assert ref.stats["cycles"] >= 2 and ref.stats["write_barriers"] > 0
    assert out.stats == ref.stats
    assert out.pause_at == ref.pause_at and out.pause_ns == ref.pause_ns
    assert np.array_equal(out.mm_ns, ref.mm_ns) and np.array_equal(out.gc_ns, ref.gc_ns)
    assert out.fp_at == ref.fp_at and out.fp_bytes == ref.fp_bytes


def test_write_barrier_only_on_stores_while_marking():
    # a list built while cycles run: a STORE pays 1000 ns exactly when it falls between a
    # sweep-termination pause and the next mark-termination pause
    t = Recorder()
    head = live_list(t, 16 * MiB, node=64)
    t.drop(head)
    trace = t.build()
    model, out = run(trace, costs={"write_barrier_ns": 1000.0}, gomaxprocs=1)
    mm = np.asarray(out.mm_ns)
    stores = np.flatnonzero(trace.op == STORE)
    others = np.flatnonzero((trace.op != STORE) & (trace.op != ALLOC))
    marking = np.zeros(trace.events, dtype=bool)
    at = out.pause_at
    for k in range(0, len(at), 2):
        end = at[k + 1] if k + 1 < len(at) else trace.events
        marking[at[k]:end] = True
    paid = mm[stores] == 1000.0
    assert paid.sum() == out.stats["write_barriers"] > 0
    assert np.array_equal(paid, marking[stores])
    assert set(np.unique(mm[stores])) <= {0.0, 1000.0}
    assert not mm[others].any()


def test_background_marking_makes_cpu_exceed_wall_with_gomaxprocs_4():
    t = Recorder()
    head = live_list(t, 4 * MiB)
    garbage(t, 16 * MiB)
    t.drop(head)
    trace = t.build()
    four = memcompare.replay(trace, "go", version=V, gomaxprocs=4)
    one = memcompare.replay(trace, "go", version=V, gomaxprocs=1)
    assert four.metrics["cpu_time_s"] > four.metrics["wall_time_s"]
    # with one P everything runs on the mutator's own core; its goroutine never reaches the
    # scheduler within a mark (sysmon preempts after 10 ms), so the fractional worker never
    # runs and the assists do all the marking
    assert one.metrics["cpu_time_s"] == pytest.approx(one.metrics["wall_time_s"])
    assert one.stats["fractional_mark_ns"] == 0
    assert one.stats["background_mark_ns"] == 0
    assert one.stats["assist_ns"] == pytest.approx(one.stats["mark_work_ns"])
    assert one.metrics["wall_time_s"] > four.metrics["wall_time_s"]


def test_assists_when_allocation_outruns_marking():
    # marking 1000× slower than by default: the background worker cannot keep up, the
    # allocating goroutine assists, on its own timeline (gc_ns at ALLOC events only)
    t = Recorder()
    head = live_list(t, 4 * MiB)
    garbage(t, 16 * MiB)
    t.drop(head)
    trace = t.build()
    model, out = run(trace, costs={"mark_object_ns": 20000.0})
    gcv = np.asarray(out.gc_ns)
    assert out.stats["assists"] > 0
    assert out.stats["assist_ns"] > out.stats["background_mark_ns"] / 10
    assist_events = np.flatnonzero(gcv)
    assert (trace.op[assist_events] == ALLOC).all()


def test_freed_slots_are_reused_only_after_their_span_is_swept():
    class Footprint:
        def footprint(self, at, nbytes):
            pass

    c = Costs()
    led = Ledger()
    heap = Heap(c, 1, 32, 0, led, Footprint(), span_nelems(False))
    heap.pacer = Pacer(100, INF, 1)
    heap.limiter = CPULimiter(1)
    spc = 32 << 1 | 1                     # size class 1024, noscan: 8 objects per span

    def alloc(o):
        if heap.cpos[spc] >= len(heap.cfree[spc]):
            heap.refill(spc, 0, 0.0)
        q = heap.cpos[spc]
        heap.cobjs[spc][heap.cfree[spc][q]] = o
        heap.cpos[spc] = q + 1
        heap.ospan[o] = heap.cspan[spc]
        return heap.cspan[spc], heap.cfree[spc][q]

    first = [alloc(o) for o in range(8)]       # fills span A
    a = first[0][0]
    b, slot = alloc(8)                          # span B, slot 0
    assert b != a and slot == 0
    # a cycle finds objects 0..3 dead: A becomes unswept; the cached B is swept at the flush
    for o in range(4):
        heap.dead[o] = 1
    heap.start_sweep([(a, 4)], 0, 0.0)
    assert heap.sp_objs[a][:4] == [0, 1, 2, 3]  # not reusable yet
    placed = [alloc(o) for o in range(9, 16)]   # B's 7 free slots come first
    assert all(sp == b for sp, _ in placed)
    sweeps = len(led.gc_at)
    sp, slot = alloc(16)                        # only now is A swept, by this allocation
    assert (sp, slot) == (a, 0)
    assert heap.sp_gen[a] == heap.sweepgen and len(led.gc_at) > sweeps


def test_scavenger_returns_free_pages_at_1_percent_of_cpu():
    # 16 MiB live is dropped; a cycle during the next 40 MiB of garbage finds it dead and the
    # heap is mostly free pages. 2048 steps of 100 µs follow (204.8 ms): the background scavenger releases 8 KiB pages
    # (2 × 10 µs each) with 1 % of GOMAXPROCS' CPU: 0.04 × 204.8 ms / 20 µs ≈ 410 pages with
    # 4 Ps, ≈ 102 with 1
    t = Recorder()
    head = live_list(t, 16 * MiB)
    t.drop(head)
    garbage(t, 40 * MiB)
    garbage(t, 2 * MiB, work=100_000)
    trace = t.build()
    for procs, lo, hi in [(4, 390, 440), (1, 97, 112)]:
        model, out = run(trace, gomaxprocs=procs)
        released = out.stats["pages_released"]
        assert lo <= released <= hi
        assert out.fp_bytes[-1] <= max(out.fp_bytes) - (released - 64) * 8192


# -- stack allocation, determinism, parameters ---------------------------------------------------

def test_local_objects_live_on_the_stack():
    t = Recorder()
    for _ in range(10):
        h = t.alloc(100, local=True)
        t.free(h)
    big = t.alloc(65 * KiB, local=True)     # over 64 KiB: escapes to the heap
    t.free(big)
    trace = t.build()
    r = memcompare.replay(trace, "go", version=V)
    assert r.metrics["allocated_bytes"] == 9 * 8192   # only the 65 KiB object: 9 pages
    model, out = run(trace)
    assert len(out.reclaimed_ids) == 10               # gone at their FREE
    r = memcompare.replay(trace, "go", version=V, escape_analysis=False)
    assert r.metrics["allocated_bytes"] == 10 * 112 + 9 * 8192   # 100 bytes → class 112


def test_replay_is_deterministic():
    trace = memcompare.record("lru-cache", operations=2000)
    a = memcompare.replay(trace, "go", version=V, gogc=25)
    b = memcompare.replay(trace, "go", version=V, gogc=25)
    assert repr(a.metrics) == repr(b.metrics)


def test_params():
    assert P.build(Params, {"gogc": "off"}).gogc == "off"
    assert P.build(Params, {}).gogc == 100
    with pytest.raises(ConfigError, match="gogc"):
        P.build(Params, {"gogc": 0})
    with pytest.raises(ConfigError, match="gogc"):
        P.build(Params, {"gogc": "fast"})
    with pytest.raises(ConfigError, match="gomaxprocs"):
        P.build(Params, {"gomaxprocs": 0})
    assert P.build(Costs, {"mark_object_ns": 30}).mark_object_ns == 30.0


# -- every workload, safety checked in full (conftest) --------------------------------------------

WORKLOADS = [
    ("binary-trees", {"max_depth": 8}),
    ("message-buffer", {"messages": 8000, "window": 1000}),
    ("lru-cache", {"operations": 3000}),
    ("queue-churn", {}),
    ("cyclic-garbage", {"structures": 800}),
    ("fragmentation", {"rounds": 4}),
    ("large-objects", {"steps": 4000}),
]


@pytest.fixture(scope="module")
def traces():
    return {name: memcompare.record(name, **params) for name, params in WORKLOADS}


@pytest.mark.parametrize("params", [{}, {"gogc": 10}, {"gogc": 25, "gomaxprocs": 1},
                                    {"gomemlimit_mb": 2}],
                         ids=["default", "gogc10", "gogc25-p1", "limit2mib"])
@pytest.mark.parametrize("workload", [w for w, _ in WORKLOADS])
def test_workloads_are_safe_and_leak_nothing(traces, workload, params):
    r = memcompare.replay(traces[workload], "go", version=V, **params)
    assert r.status == "ok"
    assert r.metrics["leaked_bytes"] == 0
    # two pauses per finished cycle, and one more if the trace ends while a cycle marks
    assert r.metrics["pause_count"] - 2 * r.metrics["gc_count"] in (0, 1)
    assert r.metrics["allocated_bytes"] > 0


def _mark_then_compute(works: int = 300):
    # a 1000-node list (512-byte nodes: 16 per span), then one 4 MiB object takes heapLive
    # past the first trigger (61/64 × 4 MiB): the cycle starts right after that allocation,
    # with 2 live registers (list head, big object); then only computation follows
    t = Recorder()
    head = live_list(t, 1000 * 512)
    big = t.alloc(4 * MiB)
    t.drop(big)
    for _ in range(works):
        t.work(1000)
    t.drop(head)
    return t.build()


def _mark_events(trace, **params) -> int:
    model, out = run(trace, **params)
    assert out.stats["cycles"] == 1 and out.stats["objects_marked"] == 1001
    s, e = out.pause_at
    return e - s


@pytest.mark.parametrize("procs,startup,events", [
    # no start latency: 4 Ps = 1 dedicated worker, 20520 ns: k = 22; 2 Ps = a fractional
    # worker at 25 % of each P, 0.5 CPU, 41040 ns: k = 43; 8 Ps = 2 dedicated workers,
    # 10260 ns: k = 12
    (4, 0.0, 22), (2, 0.0, 43), (8, 0.0, 12),
    # the default 200 µs before the worker marks: 4 Ps end at 220520 ns: k = 222
    (4, 200000.0, 222),
])
def test_background_marking_runs_at_a_quarter_of_gomaxprocs(procs, startup, events):
    # The rule GOMAXPROCS used to get wrong: background marking runs at startCycle's 25 %
    # utilisation goal (mgcpacer.go: dedicated = round(GOMAXPROCS / 4), a fractional worker
    # when that is more than 30 % off), not with every idle P marking at full speed — a
    # one-goroutine program's spare Ps sleep, and enlistWorker never wakes them.
    # Mark work = 1001 objects × 20 ns + 1000 slots × 0.5 ns = 20520 ns (no globals). The
    # event after the pause is the CLEAR (0.3 ns), then 1000-ns WORKs: the k-th event after
    # the pause starts 0.3 + (k − 1) × 1000 ns in; the mark ends at the first one at or after
    # mark_start_ns + 20520 ns / workers' CPUs
    trace = _mark_then_compute()
    assert _mark_events(trace, costs={"mark_start_ns": startup}, gomaxprocs=procs,
                        globals_kb=0) == events


def test_mark_ends_where_the_mutator_timeline_passes_the_mark_work():
    trace = _mark_then_compute()
    model, out = run(trace, costs={"mark_start_ns": 0.0}, globals_kb=0)
    assert out.stats["mark_work_ns"] == 20520.0
    # 10 µs + 3 other Ps × 1 µs (+ 1 ns: two live registers' stack scan at sweep termination)
    assert out.pause_ns == [13001.0, 13000.0]
    assert out.concurrent_ns >= 20520.0            # the workers' marking, off the timeline
    # idle workers on (every idle P marks): 1 dedicated + 2 idle Ps, 6840 ns: k = 8
    assert _mark_events(trace, costs={"mark_start_ns": 0.0}, globals_kb=0,
                        idle_mark_workers=True) == 8
    # 64 KiB of globals are scanned too: 8192 words × 0.5 ns = 4096 ns more, 24616 ns: k = 26
    model, out = run(trace, costs={"mark_start_ns": 0.0}, globals_kb=64)
    assert out.stats["mark_work_ns"] == 20520.0 + 4096.0
    s, e = out.pause_at
    assert e - s == 26


def test_one_p_marks_in_the_fractional_worker_only_after_sysmon_preempts():
    # GOMAXPROCS=1: the fractional worker runs only when the P schedules, and a goroutine
    # that never blocks is preempted by sysmon after forcePreemptNS = 10 ms; then the worker
    # gets a quarter of the wall clock, so the mark ends when the mutator's own time past
    # those 10 ms reaches 3 × 20520 = 61560 ns: 10061560 ns, k = 10063. Its 20520 ns are
    # collector time on the mutator's timeline, charged where the mark ends
    trace = _mark_then_compute(works=10100)
    model, out = run(trace, gomaxprocs=1, globals_kb=0)
    s, e = out.pause_at
    assert e - s == 10063
    # one P: no other P to stop, 10 µs (+ 1 ns of stack scan)
    assert out.pause_ns == [10001.0, 10000.0]
    assert out.stats["fractional_mark_ns"] == 20520.0
    assert out.gc_ns[e] >= 20520.0


# -- versions -----------------------------------------------------------------------------------

@pytest.mark.parametrize("payload,slots,v119,v122", [
    # 1024 bytes with a pointer: Go 1.22 adds the 8-byte malloc header (1032 → 1152),
    # Go 1.19 keeps pointer bits in the heap bitmap (1024 → size class 1024)
    (1016, 1, 1024, 1152),
    # 32768 bytes with a pointer: small in Go 1.19 (maxSmallSize), large in Go 1.22
    # (over maxSmallSize − mallocHeaderSize) — the same 32 KiB either way
    (32760, 1, 32768, 32768),
    (496, 2, 512, 512),          # 512 bytes: no header in either
])
def test_malloc_header_is_go_1_22_only(payload, slots, v119, v122):
    for headers, nbytes in ((False, v119), (True, v122)):
        kind, heap_bytes, header = object_layout(np.array([payload]), np.array([slots]),
                                                 np.array([False]), headers=headers)
        assert int(heap_bytes[0]) == nbytes
    kind, _, _ = object_layout(np.array([32760]), np.array([1]), np.array([False]),
                               headers=False)
    assert int(kind[0]) == 67 * 2        # size class 67, scan span class
    t = Recorder()
    t.alloc(1016, 1)
    trace = t.build()
    assert memcompare.replay(trace, "go", version="1.19").metrics["allocated_bytes"] == 1024
    assert memcompare.replay(trace, "go", version="1.20").metrics["allocated_bytes"] == 1024
    assert memcompare.replay(trace, "go", version="1.22").metrics["allocated_bytes"] == 1152


def test_heap_goal_counts_the_globals():
    # commit: goal = heapMarked + (heapMarked + lastStackScan + globalsScan) × GOGC/100
    p = Pacer(100, INF, 1, "1.19", globals_bytes=220 * KiB)
    p.heap_marked = 8 * MiB
    p.last_stack_bytes = 8
    p.commit(sweep_done=True)
    assert p.gc_percent_heap_goal == 16 * MiB + 8 + 220 * KiB
    p = Pacer(50, INF, 1, "1.19", globals_bytes=220 * KiB)
    p.heap_marked = 8 * MiB
    p.commit(sweep_done=True)
    assert p.gc_percent_heap_goal == 12 * MiB + 110 * KiB


@pytest.mark.parametrize("version,estimates", [
    # Go 1.19's PI controller (kp 0.9, ti 4) from 0 toward a steady measurement of 2:
    # 0.9 × 2 = 1.8 (integral 0.225 × 2 = 0.45); 0.9 × 0.2 + 0.45 = 0.63 (integral
    # 0.45 + 0.225 × 0.2 = 0.495); 0.9 × 1.37 + 0.495 = 1.728
    ("1.19", [1.8, 0.63, 1.728]),
    # later: the maximum of the measurement and the last four
    ("1.20", [2.0, 2.0, 2.0]),
    ("1.22", [2.0, 2.0, 2.0]),
])
def test_cons_mark_estimate_per_version(version, estimates):
    # one cycle: 6 MiB allocated during the mark against 1 MiB-ns of scan work, background
    # utilisation only (u = 0.25): cons/mark = 6 MiB × 0.25 / (1 MiB × 0.75) = 2
    p = Pacer(100, INF, 4, version)
    got = []
    for _ in estimates:
        p.triggered = 10 * MiB
        p.heap_live = 16 * MiB
        p.end_cycle(1e6, 0.0, 0.0, float(MiB))
        got.append(p.cons_mark)
    assert got == pytest.approx(estimates)


def test_triggered_is_the_computed_trigger_in_go_1_19():
    # Go 1.19 startCycle: c.triggered = the trigger() it computed; later: heapLive at gcStart
    for version, expect in (("1.19", 15 * MiB), ("1.22", 15 * MiB + 300 * KiB)):
        p = Pacer(100, INF, 4, version)
        p.heap_live = 15 * MiB + 300 * KiB
        p.start_cycle(0.0, 0.0, 0, 15 * MiB)
        assert p.triggered == expect


def test_negative_cons_mark_puts_the_trigger_at_its_lower_bound():
    # GOMAXPROCS=1, assists doing all the marking: utilisation = 0.25 + assist time / mark
    # time > 1, so endCycle's cons/mark is negative: 3 MiB × 1.25 / (1 MiB × (1 − 1.25)) = −15.
    # The PI controller's first step gives 0.9 × −15 = −13.5; commit's uint64(runway) wraps,
    # runway > goal, and the trigger is the lower bound: 8 MiB + (8 MiB / 64) × 45 = 13.625 MiB
    p = Pacer(100, INF, 1, "1.19")
    p.triggered = 10 * MiB
    p.heap_live = 13 * MiB
    p.end_cycle(1e6, 1e6, 0.0, float(MiB))
    assert p.cons_mark == pytest.approx(-13.5)
    p.heap_marked = p.heap_live = 8 * MiB
    p.last_heap_scan = float(MiB)
    p.commit(sweep_done=True)
    trig, goal = p.trigger(0, 0, 0)
    assert goal == 16 * MiB
    assert trig == 8 * MiB + (8 * MiB // 64) * 45


def test_a_large_object_on_fresh_pages_is_not_cleared():
    # mheap.go allocNeedsZero: a span wholly above the arena's zeroedBase is fresh from the OS,
    # already zero, so mallocgc skips memclr. One 64 KiB object (8 pages) on a new heap: its
    # 65,536 bytes of zeroing are given back, so the per-byte price does not change its cost.
    t = Recorder()
    t.free(t.alloc(65536, 0))
    trace = t.build()
    model, out = run(trace)
    assert out.stats["zeroing_skipped_bytes"] == 65536
    cheap = memcompare.replay(trace, "go", version=V, costs={"alloc_ns_per_byte": 0.0})
    dear = memcompare.replay(trace, "go", version=V, costs={"alloc_ns_per_byte": 1.0})
    assert dear.metrics["wall_time_s"] == pytest.approx(cheap.metrics["wall_time_s"])


# -- Go 1.27: Green Tea (mgcmark_greenteagc.go; mheap.go initSpan) -------------------------------

def test_green_tea_spans_reserve_their_mark_bits_and_pointer_bitmap():
    # 128 bytes of spanInlineMarkBits at the end of each 16..512-byte span, and (pointerful
    # spans up to 512 bytes) the pointer bitmap: one bit per 8-byte word = 8192 / 64 = 128 bytes
    gt = span_nelems(True)
    old = span_nelems(False)
    cls = {s: c for c, s in enumerate(CLASS_TO_SIZE)}
    scan, noscan = (lambda size: cls[size] << 1), (lambda size: cls[size] << 1 | 1)
    assert gt[scan(16)] == (8192 - 128 - 128) // 16 == 496
    assert gt[noscan(16)] == (8192 - 128) // 16 == 504       # also the tiny blocks' spans
    assert gt[scan(512)] == (8192 - 256) // 512 == 15
    assert gt[noscan(512)] == (8192 - 128) // 512 == 15
    assert gt[scan(8)] == (8192 - 128) // 8 == 1008           # under 16 bytes: no mark bits
    assert gt[noscan(8)] == 1024
    assert gt[scan(1024)] == gt[noscan(1024)] == 8            # over 512: nothing reserved
    assert gt[scan(1408)] == 2 * 8192 // 1408 == 11
    # without Green Tea, the sizeclasses.go table's object counts
    assert all(old[c << 1] == old[c << 1 | 1] == CLASS_TO_NELEMS[c] for c in range(1, 68))


def test_green_tea_spans_hold_fewer_objects():
    # 5120 live 16-byte pointerful nodes (8 payload bytes + 1 slot): 10 spans of 512 under Go
    # 1.22's rules, 11 of 496 under Go 1.27's; the same bytes allocated either way
    t = Recorder()
    t.drop(live_list(t, 5120 * 16, node=16))
    trace = t.build()
    _, old = run(trace, version="1.22")
    _, new = run(trace, version="1.27")
    assert old.stats["cycles"] == new.stats["cycles"] == 0    # 80 KiB: under the 4 MiB goal
    assert (old.stats["spans_allocated"], new.stats["spans_allocated"]) == (10, 11)
    assert (max(old.fp_bytes), max(new.fp_bytes)) == (10 * 8192, 11 * 8192)
    assert old.allocated_bytes == new.allocated_bytes == 5120 * 16


def test_green_tea_marks_small_objects_span_by_span():
    # a live list of 1000 24-byte nodes (16 + 1 slot: class 24, pointerful), then 16 MiB of
    # 1 KiB pointer-free garbage: 4 cycles, each marking the 1000 nodes and the one garbage
    # object a register holds, and scanning the 220 KiB of globals (28,160 words × 0.5 ns =
    # 14,080 ns). Go 1.22: 1001 × 20 + 1000 × 0.5 + 14,080 = 34,600 ns per cycle.
    # Go 1.27: the nodes fill 4 spans of (8192 − 256) / 24 = 330 (330, 330, 330, 10): 4 span
    # visits of 20 ns, 1000 × 13 ns, the slots, the 1 KiB object (not a span-marked class:
    # 20 ns) and the globals: 80 + 13,000 + 500 + 20 + 14,080 = 27,680 ns per cycle
    t = Recorder()
    head = live_list(t, 1000 * 24, node=24)
    garbage(t, 16 * MiB)
    t.drop(head)
    trace = t.build()
    _, old = run(trace, version="1.22")
    _, new = run(trace, version="1.27")
    assert old.stats["cycles"] == new.stats["cycles"] == 4
    assert old.stats["objects_marked"] == new.stats["objects_marked"] == 4 * 1001
    assert old.stats["mark_work_ns"] == 4 * 34_600
    assert new.stats["mark_work_ns"] == 4 * 27_680
    assert (new.stats["span_scans"], new.stats["span_scans_one_mark"]) == (16, 0)
    assert "span_scans" not in old.stats
    # a span holding one marked object takes the one-mark fast track (spanScanOneMark): the
    # object-by-object price, 20 ns, not a span visit. 331 nodes: a full span of 330 (one
    # visit) and a span with the last node alone
    t = Recorder()
    head = live_list(t, 331 * 24, node=24)
    garbage(t, 16 * MiB)
    t.drop(head)
    _, one = run(t.build(), version="1.27")
    per = 20 + 330 * 13 + 20 + 331 * 0.5 + 20 + 14_080
    assert one.stats["mark_work_ns"] == pytest.approx(one.stats["cycles"] * per)
    assert one.stats["span_scans_one_mark"] == one.stats["cycles"]


def test_green_tea_pointer_free_small_objects_are_marked_without_a_span_visit():
    # pointer-free 100-byte objects (class 112, a span-marked class): the mark bit is set and
    # the object is done (tryDeferToSpanScan's noscan fast track): 13 ns each, no span visit
    t = Recorder()
    keep = [t.alloc(100) for _ in range(500)]
    garbage(t, 16 * MiB)
    for k in keep:
        t.drop(k)
    _, new = run(t.build(), version="1.27")
    _, old = run(t.build(), version="1.22")
    cycles = new.stats["cycles"]
    assert cycles == old.stats["cycles"] > 0
    assert old.stats["mark_work_ns"] - new.stats["mark_work_ns"] == pytest.approx(
        cycles * 500 * (20 - 13))
    assert new.stats["span_scans"] == 0


def test_default_version_is_go_1_27_with_go_1_22s_layout_and_pacer():
    assert Params().version == "1.27"
    # the same objects and bytes as Go 1.22 (malloc headers included): only span capacities
    # and mark costs differ
    trace = memcompare.record("message-buffer")
    a = memcompare.replay(trace, "go", version="1.22").metrics
    b = memcompare.replay(trace, "go").metrics
    assert a["allocated_bytes"] == b["allocated_bytes"]
