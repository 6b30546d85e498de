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
def test_cpp_replays_the_same_whatever_the_stream_chunk(monkeypatch, chunk):
    # the glibc loop takes its ALLOC/FREE stream a chunk at a time; the tcache, fastbins and
    # bins carry over from one chunk to the next, so every figure is the one-chunk replay's
    import memcompare_cpp.model as cpp
    trace = memcompare.record("fragmentation", rounds=2, count=200)
    whole = memcompare.replay(trace, "cpp")
    monkeypatch.setattr(cpp, "STREAM_CHUNK", chunk)
    cut = memcompare.replay(trace, "cpp")
    assert cut.metrics == whole.metrics and cut.stats == whole.stats
    assert whole.stats["tcache_hits"] > 0 and whole.stats["mallocs"] > whole.stats["tcache_hits"]
