"""The engine's and the trace's whole-trace passes give the same values however they are cut
into chunks (issue 10, item 6: at 10⁸ events they walk the trace a piece at a time)."""
from __future__ import annotations

import numpy as np
import pytest

import memcompare
import memcompare.trace
from memcompare.engine import replay
from memcompare.model import Output
from memcompare.params import NoParams
from memcompare.costs import MutatorCosts
from memcompare.traceio import parse_text
from test_engine import TIMED      # the same seven-event trace with work

END_STATE = """\
alloc 0 8 2
alloc 1 8 0
store 0 0 1
alloc 2 8 1
store 0 1 2
store 0 0 -
move 1 2
store 2 0 0
clear 2
work 10
alloc 3 8 0
clear 3
"""
# e0 r0 = object 0 (2 slots, flat slots 0-1); e1 r1 = object 1 (none); e2 0.s0 = 1;
# e3 r2 = object 2 (1 slot, flat slot 2); e4 0.s1 = 2; e5 0.s0 = null; e6 r1 = r2 (object 2);
# e7 2.s0 = 0; e8 r2 cleared; e10 r3 = object 3, e11 cleared. At the end: r0 = 0, r1 = 2,
# r2 = r3 = empty; slots 0.s0 = null, 0.s1 = 2, 2.s0 = 0; reachable: objects 0 and 2.

CHUNKS = [1, 2, 3, 5, 1 << 20]


@pytest.mark.parametrize("chunk", CHUNKS)
def test_end_state_is_the_same_whatever_the_chunk(monkeypatch, chunk):
    monkeypatch.setattr(memcompare.trace, "CHUNK_EVENTS", chunk)
    t = parse_text(END_STATE)
    assert t.final_registers().tolist() == [0, 2, -1, -1]
    assert t.final_slots().tolist() == [-1, 2, 0]
    assert t.reachable_at_end().tolist() == [True, False, True, False]


@pytest.mark.parametrize("chunk", CHUNKS)
def test_a_register_written_only_early_keeps_its_value_across_chunks(monkeypatch, chunk):
    # r0 is written at e0 only; r1 is rewritten until the end: a walk from the end must not
    # stop before it has found r0's write
    monkeypatch.setattr(memcompare.trace, "CHUNK_EVENTS", chunk)
    t = parse_text("alloc 0 8 0\n" + "alloc 1 8 0\nclear 1\n" * 4 + "alloc 1 8 0\n")
    assert t.final_registers().tolist() == [0, 5]




class Toy(memcompare.Model):
    """Fixed costs, as tests/test_engine.py's hand-timed model: 10 ns per ALLOC, a 5 ns stall
    per FREE, a 100 ns pause before e3."""

    name = "toy-scale"

    def run(self, trace, out: Output) -> None:
        op = trace.op
        out.mm_ns = np.where(op == memcompare.trace.ALLOC, 10.0, 0.0)
        out.free_ns = np.where(op == memcompare.trace.FREE, 5.0, 0.0)
        out.pause(3, 100.0, "minor")
        out.footprint(0, 64)
        frees = np.flatnonzero(op == memcompare.trace.FREE)
        out.reclaimed_ids = trace.x[frees]
        out.reclaimed_at = frees

    def held(self):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)


@pytest.mark.parametrize("segment", [1, 2, 5, 1 << 20])
def test_mutator_costs_and_timeline_are_the_same_whatever_the_segment(monkeypatch, segment):
    from memcompare import engine
    monkeypatch.setattr(engine, "SEGMENT_EVENTS", segment)
    trace = parse_text(TIMED)
    # costs.py: alloc 1 ns, work its ns, free 0
    assert engine._mutator_costs(trace, MutatorCosts()).tolist() == [
        1.0, 1000.0, 1.0, 1000.0, 0.0, 0.0, 1000.0]
    assert engine._mutator_costs(trace, MutatorCosts(work_scale=2.0)).tolist() == [
        1.0, 2000.0, 1.0, 2000.0, 0.0, 0.0, 2000.0]
    # e0 11; e1 1011; e2 1022; e3: pause 100, then 1000 -> 2122; e4, e5 stall 5 each -> 2132;
    # e6 -> 3132. The pause starts at 1022, the two frees' stall (one interval) at 2122.
    result = replay(trace, Toy, NoParams(), NoParams(), check="basic")
    assert result.timeline["wall_ns"] == 3132.0
    assert result.timeline["pauses"] == [[1022.0, 100.0, "minor"]]
    assert result.metrics["max_stall_s"] == pytest.approx(100e-9)
    assert result.metrics["mmu"]["0.001"] == pytest.approx(1 - 110 / 3132)


def test_nogc_footprint_is_every_allocation_so_far():
    # nogc's footprint columns are arrays: 0 at e0, then the bump pointer after each ALLOC
    # (16 bytes each, 8-byte aligned)
    trace = parse_text(TIMED)
    m = memcompare.replay(trace, "nogc").metrics
    assert m["footprint_peak_bytes"] == 32
    # an ALLOC costs the program 1 ns and nogc 3 + 0.05 × 16 = 3.8 ns: e0 ends at 4.8, e2
    # makes progress from 1004.8, the run takes 2 × 4.8 + 3000 = 3009.6 ns; 16 bytes until
    # 1004.8, 32 after
    assert m["wall_time_s"] == pytest.approx(3009.6e-9)
    assert m["footprint_mean_bytes"] == pytest.approx((16 * 1004.8 + 32 * 2004.8) / 3009.6)


@pytest.mark.parametrize("chunk", [1, 3])
@pytest.mark.parametrize("lower", [1, 7, 1 << 20])
def test_cpp_replays_the_same_whatever_the_stream_chunk(monkeypatch, chunk, lower):
    # the glibc loop takes its ALLOC/FREE stream a chunk at a time, lowered (chunk sizes, the
    # stream, the cost columns) a chunk of events or objects at a time; the tcache, fastbins
    # and bins carry over from one chunk to the next, so every figure is the one-chunk replay's
    import memcompare_cpp.model as cpp
    trace = memcompare.record("fragmentation", rounds=2, count=200)
    whole = memcompare.replay(trace, "cpp")
    monkeypatch.setattr(cpp, "STREAM_CHUNK", chunk)
    monkeypatch.setattr(cpp, "LOWER_CHUNK", lower)
    cut = memcompare.replay(trace, "cpp")
    assert cut.metrics == whole.metrics and cut.stats == whole.stats
    assert cut.timeline == whole.timeline
    assert whole.stats["tcache_hits"] > 0 and whole.stats["mallocs"] > whole.stats["tcache_hits"]


@pytest.mark.parametrize("chunk", CHUNKS)
def test_live_curve_and_peak_by_hand_whatever_the_chunk(monkeypatch, chunk):
    # END_STATE's objects: 0 is 8 + 2 × 8 = 24 bytes, 1 is 8, 2 is 16, 3 is 8; nothing is
    # freed (FREE is the only death), so the curve rises at each ALLOC: e0 24, e1 32, e3 48,
    # e10 56
    monkeypatch.setattr(memcompare.trace, "CHUNK_EVENTS", chunk)
    t = parse_text(END_STATE)
    assert t.live_peak_bytes == 56
    assert t.live_curve.tolist() == [24, 32, 32, 48, 48, 48, 48, 48, 48, 48, 56, 56]
    got = np.concatenate([part.copy() for _, part in parse_text(END_STATE).live_chunks()])
    assert got.tolist() == t.live_curve.tolist()
    # TIMED: two 16-byte objects, freed at e4 and e5
    assert [int(v) for _, p in parse_text(TIMED).live_chunks() for v in p] == [
        16, 16, 32, 32, 16, 0, 0]


@pytest.mark.parametrize("cut", [1, 2, 3, 7, 64, 1000])
def test_envelope_from_chunks_is_the_envelope(cut):
    from memcompare.metrics import envelope, envelope_chunks
    rng = np.random.default_rng(cut)
    for n in (10, 499, 500, 501, 2000):
        times = np.cumsum(rng.integers(0, 5, n)).astype(np.float64)
        values = rng.integers(0, 1000, n)
        chunks = ((lo, values[lo:lo + cut]) for lo in range(0, n, cut))
        assert envelope_chunks(times, chunks, float(times[-1]) + 3, 50 if n > 100 else 500) == \
            envelope(times, values, float(times[-1]) + 3, 50 if n > 100 else 500)
    # by hand: four points in two buckets of width 2: peaks 5 (t 0-1) and 9 (t 2-3), and the
    # final value 1 after them
    times = np.array([0.0, 1.0, 2.0, 3.0])
    chunks = iter([(0, np.array([5, 2, 9])), (3, np.array([1]))])
    assert envelope_chunks(times, chunks, 4.0, 2) == [[0.0, 5], [2.0, 9], [3.0, 1]]


def test_nothing_is_reachable_when_every_register_is_empty():
    # object 0's slot holds object 1, but no register holds either at the end
    t = parse_text("alloc 0 8 1\nalloc 1 8 0\nstore 0 0 1\nclear 1\nclear 0\n")
    assert t.reachable_at_end().tolist() == [False, False]
    # ... and from a register that holds object 0, both are
    t = parse_text("alloc 0 8 1\nalloc 1 8 0\nstore 0 0 1\nclear 1\n")
    assert t.reachable_at_end().tolist() == [True, True]


class Kept(Toy):
    """Toy, keeping its own cost columns (as a model that reads them afterwards might)."""

    name = "toy-kept"

    def run(self, trace, out: Output) -> None:
        super().run(trace, out)
        # float arrays, as most models hand them (a list is always copied)
        out.mm_ns = np.asarray(out.mm_ns, dtype=np.float64)
        out.free_ns = np.asarray(out.free_ns, dtype=np.float64)
        self.kept = (out.mm_ns, out.free_ns)


def test_the_engine_builds_its_timeline_in_a_models_arrays_only_when_no_one_else_holds_them():
    trace = parse_text(TIMED)
    model = {}

    class Spy(Kept):
        def __init__(self, *a):
            super().__init__(*a)
            model["it"] = self

    result = replay(trace, Spy, NoParams(), NoParams(), check="basic")
    mm, fr = model["it"].kept
    # unchanged: 10 ns per ALLOC, 5 per FREE, not the timeline's sums
    assert mm.tolist() == [10.0, 0, 10.0, 0, 0, 0, 0]
    assert fr.tolist() == [0, 0, 0, 0, 5.0, 5.0, 0]
    assert result.timeline["wall_ns"] == 3132.0      # as Toy's (test above)


class Stacked(memcompare.Model):
    """A pause, a delete and collector work at the same event (e2), in amounts whose sum
    depends on the order of the additions: (0.1 + 0.2) + 0.3 is 0.6000000000000001, 0.1 +
    (0.2 + 0.3) is 0.6."""

    name = "toy-stacked"

    def run(self, trace, out: Output) -> None:
        n = trace.events
        out.free_ns = np.zeros(n)
        out.free_ns[2] = 0.2
        out.gc_ns = np.zeros(n)
        out.gc_ns[2] = 0.3
        out.pause(2, 0.1, "minor")
        out.footprint(0, 0)
        frees = np.flatnonzero(trace.op == memcompare.trace.FREE)
        out.reclaimed_ids = trace.x[frees]
        out.reclaimed_at = frees

    def held(self):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)


def test_a_stall_adds_the_pauses_then_the_delete_then_the_collector_work():
    # docs/design.md §4: pauses first, then free_ns, then gc_ns, in that order to the bit
    result = replay(parse_text(TIMED), Stacked, NoParams(), NoParams(), check="basic")
    assert (0.1 + 0.2) + 0.3 != 0.1 + (0.2 + 0.3)
    assert result.metrics["max_stall_s"] == ((0.1 + 0.2) + 0.3) / 1e9


@pytest.mark.parametrize("chunk", CHUNKS)
def test_object_tables_by_hand_whatever_the_chunk(monkeypatch, chunk):
    # END_STATE allocates objects 0-3 at e0, e1, e3 and e10, with 2, 0, 1 and 0 slots; it
    # frees none. TIMED frees object 0 at e4 and object 1 at e5.
    monkeypatch.setattr(memcompare.trace, "CHUNK_EVENTS", chunk)
    t = parse_text(END_STATE)
    assert t.obj_alloc_at.tolist() == [0, 1, 3, 10]
    assert t.obj_size.tolist() == [8, 8, 8, 8]
    assert t.obj_nslots.tolist() == [2, 0, 1, 0]
    assert t.obj_slot_base.tolist() == [0, 2, 2, 3]
    assert t.obj_free_at.tolist() == [-1, -1, -1, -1]
    assert t.obj_local.tolist() == [False] * 4
    t = parse_text(TIMED)
    assert t.obj_alloc_at.tolist() == [0, 2] and t.obj_free_at.tolist() == [4, 5]
