"""The engine's measurements and its safety oracle, against numbers derived by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

import memcompare
from memcompare import Model, Output
from memcompare.engine import METRIC_KEYS, replay
from memcompare.errors import SafetyError
from memcompare import metrics
from memcompare.metrics import mmu, stall_intervals
from memcompare.params import NoParams
from memcompare.trace import FREE


def text_trace(text: str):
    from memcompare.traceio import parse_text
    return parse_text(text, source="t.mctrace.txt")


TIMED = """\
alloc 0 16 0
work 1000
alloc 1 16 0
work 1000
free 0
free 1
work 1000
"""


class Toy(Model):
    """Reports fixed costs so that every metric can be derived by hand."""

    name = "toy"

    def run(self, trace, out: Output) -> None:
        mm = out.new_costs()
        free = out.new_costs()
        for i, o in enumerate(trace.op.tolist()):
            if o == 0:
                mm[i] = 10.0
            elif o == FREE:
                free[i] = 5.0
        out.mm_ns, out.free_ns = mm, free
        out.pause(3, 100.0, "minor")
        out.collection("minor", 2, [])
        out.footprint(0, 64)
        out.footprint(2, 128)
        out.footprint(5, 0)
        out.allocated_bytes = 64
        frees = np.flatnonzero(trace.op == FREE)
        out.reclaimed_ids = trace.x[frees]
        out.reclaimed_at = frees

    def held(self):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)


def test_every_metric_of_a_hand_timed_trace():
    # Mutator costs (memcompare/costs.py): alloc 1 ns, work = its ns, free 0.
    # e0 alloc 1+10 -> 11; e1 +1000 -> 1011; e2 +11 -> 1022; e3 pause 100 then 1000 -> 2122;
    # e4 free stall 5 -> 2127; e5 free stall 5 -> 2132 (one stall with e4); e6 +1000 -> 3132.
    m = replay(text_trace(TIMED), Toy, NoParams(), NoParams(), check="full").metrics
    assert set(METRIC_KEYS) <= set(m)
    wall = 3132e-9
    assert m["wall_time_s"] == pytest.approx(wall)
    assert m["cpu_time_s"] == pytest.approx(wall)
    assert m["mm_cpu_fraction"] == pytest.approx((20 + 10 + 100) / 3132)
    assert m["gc_cpu_fraction"] == pytest.approx(100 / 3132)
    assert m["throughput_ops_per_s"] == pytest.approx(5 / wall)    # FREEs do not count
    assert m["pause_count"] == 1
    assert m["pause_max_s"] == m["pause_p50_s"] == m["pause_p99_s"] == pytest.approx(100e-9)
    assert m["max_stall_s"] == pytest.approx(100e-9)                 # the 2 frees: 10 ns
    # every window is wider than the run: the whole run, 110 ns stalled of 3132
    assert m["mmu"] == {k: pytest.approx(1 - 110 / 3132) for k in ("0.001", "0.01", "0.1")}
    assert m["footprint_peak_bytes"] == 128
    # 64 B from t=0 (e0 progresses at 0), 128 B from e2 (1011), 0 from e5 (2132)
    assert m["footprint_mean_bytes"] == pytest.approx((64 * 1011 + 128 * 1121) / 3132)
    assert m["live_peak_bytes"] == 32
    assert m["leaked_bytes"] == 0
    assert m["gc_count"] == 1 and m["gc_counts"] == {"minor": 1}


def test_stall_intervals_merge_only_without_progress_between():
    stall = np.array([0.0, 5, 5, 0, 7])
    progress = np.array([1.0, 0, 2, 1, 1])
    t_start = np.concatenate(([0.0], np.cumsum(stall + progress)[:-1]))
    start, dur = stall_intervals(stall, progress, t_start)
    # timeline: p1 | s5 p0 s5 p2 | p1 | s7 p1 -> stalls [1, 10] and [14, 7]
    assert start.tolist() == [1.0, 14.0]
    assert dur.tolist() == [10.0, 7.0]


def test_mmu_of_one_half_millisecond_pause_in_a_second():
    start, dur = np.array([0.5e9]), np.array([0.5e6])
    u = mmu(start, dur, 1e9 + 0.5e6)
    assert u["0.001"] == pytest.approx(0.5)
    assert u["0.01"] == pytest.approx(0.95)
    assert u["0.1"] == pytest.approx(0.995)


def test_mmu_window_covering_two_pauses():
    # two 1 ms pauses 2 ms apart: a 10 ms window holds both -> 0.8; 1 ms window -> 0
    start, dur = np.array([10e6, 13e6]), np.array([1e6, 1e6])
    u = mmu(start, dur, 100e6)
    assert u["0.001"] == pytest.approx(0.0)
    assert u["0.01"] == pytest.approx(0.8)
    assert u["0.1"] == pytest.approx(0.98)



def test_mmu_windows_clipped_by_the_run():
    # stalls 1-2 ms and 8.5-10 ms in a 10 ms run. A 9 ms window starting at the second stall
    # is clipped to [1, 10] ms (2.5 ms stalled), one ending at the first stall's end to [0, 9]
    # (1.5 ms): 1 - 2.5/9. Windows of 0.1 s and 1 s are the whole run: 1 - 2.5/10.
    start, dur = np.array([1e6, 8.5e6]), np.array([1e6, 1.5e6])
    u = mmu(start, dur, 10e6, ("0.009", "0.1", "1"))
    assert u["0.009"] == pytest.approx(1 - 2.5 / 9)
    assert u["0.1"] == u["1"] == pytest.approx(0.75)


def test_mmu_of_ordered_stalls_has_the_bits_of_every_window_evaluated():
    # with the stalls in order, the windows a bound of the run clips are evaluated once, and
    # only the blocks of windows whose bound reaches the best one's stall: the same bits as
    # evaluating every candidate window (metrics._worst_any)
    rng = np.random.default_rng(7)
    durs = rng.uniform(0.5, 3e4, 5000)
    starts = np.cumsum(rng.exponential(2e4, durs.size) + durs) - durs
    total = float(starts[-1] + durs[-1]) * 1.0001
    ends = starts + durs
    cum = np.concatenate(([0.0], np.cumsum(durs)))
    knots_t = np.ravel(np.column_stack((starts, ends)))
    knots_s = np.ravel(np.column_stack((cum[:-1], cum[1:])))
    for w in (1e4, 1e6, total / 3, total * 0.999, total):
        args = (w, total, starts, ends, cum, knots_t, knots_s)
        # windows clipped at both ends, and not clipped, for each width but the smallest
        assert metrics._worst_ordered(*args) == metrics._worst_any(*args)
        assert repr(metrics._worst_ordered(*args)) == repr(metrics._worst_any(*args))


# -- the safety oracle ------------------------------------------------------------------------

CHAIN = """\
alloc 0 8 1      # e0: object 0
alloc 1 8 0      # e1: object 1
store 0 0 1      # e2: o0.slot0 = o1
clear 1          # e3: o1 now reachable only through o0
work 10          # e4
load 2 0 0       # e5: touches o1 again
clear 2          # e6
store 0 0 -     # e7: o1 unreachable from here on
work 10          # e8
free 0           # e9
"""


class EarlyReclaimer(Model):
    """Broken on purpose: collects object 1 after event 4, while object 0 still points to it."""

    name = "early"
    at = 4

    def run(self, trace, out):
        out.collection("broken", self.at, [1])
        out.reclaimed_ids = [0]
        out.reclaimed_at = [9]

    def held(self):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)


def test_use_after_reclaim_is_caught_with_object_and_event():
    with pytest.raises(SafetyError) as e:
        replay(text_trace(CHAIN), EarlyReclaimer, NoParams(), NoParams(), check="basic")
    assert e.value.object_id == 1
    assert e.value.index == 5          # the load of event 5 uses it
    assert "object 1" in str(e.value) and "event 5" in str(e.value)


class QuietReclaimer(EarlyReclaimer):
    """Reclaims object 1 after event 6: reachable then (o0.slot0), but never touched again
    except by the overwrite at event 7 — which the always-on check sees as a use."""

    name = "quiet"
    at = 6


def test_reclaiming_an_object_whose_slot_is_overwritten_later_is_caught():
    with pytest.raises(SafetyError) as e:
        replay(text_trace(CHAIN), QuietReclaimer, NoParams(), NoParams(), check="basic")
    assert (e.value.object_id, e.value.index) == (1, 7)


UNTOUCHED = """\
alloc 0 8 1      # e0: object 0
alloc 1 8 0      # e1: object 1
store 0 0 1      # e2
clear 1          # e3: o1 reachable through o0 until o0 goes at e5
work 10          # e4
free 0           # e5
"""


class SilentReclaimer(Model):
    """Reclaims object 1 after event 3 although o0 refers to it; no later event names o1."""

    name = "silent"

    def run(self, trace, out):
        out.collection("broken", 3, [1])
        out.collection("ok", 5, [0])

    def held(self):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)


def test_only_the_full_retrace_catches_an_early_reclaim_nobody_touches():
    t = text_trace(UNTOUCHED)
    assert replay(t, SilentReclaimer, NoParams(), NoParams(), check="basic").status == "ok"
    with pytest.raises(SafetyError) as e:
        replay(t, SilentReclaimer, NoParams(), NoParams(), check="full")
    assert (e.value.object_id, e.value.index) == (1, 3)
    assert "reachable" in str(e.value)


class Forgetful(Model):
    """Reclaims object 0 although it is still in a register at the end."""

    name = "forgetful"

    def run(self, trace, out):
        out.collection("broken", trace.events - 1, [0])

    def held(self):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)


def test_reclaiming_what_is_reachable_at_the_end_is_caught():
    t = text_trace("alloc 0 8 0\nwork 5\n")
    with pytest.raises(SafetyError) as e:
        replay(t, Forgetful, NoParams(), NoParams(), check="basic")
    assert e.value.object_id == 0


# -- nogc -------------------------------------------------------------------------------------

def test_nogc_footprint_peak_is_everything_allocated():
    # payloads 16+8, 100, 40 -> 24, 100 -> 104 (8-aligned), 40: 168 bytes with no header
    t = text_trace("alloc 0 16 1\nalloc 1 100 0\nstore 0 0 1\nclear 1\nalloc 2 40 0\n"
                   "free 2\nfree 0\n")
    m = memcompare.replay(t, "nogc").metrics
    assert m["allocated_bytes"] == 24 + 104 + 40
    assert m["footprint_peak_bytes"] == m["allocated_bytes"]
    # it never reclaims: every object unreachable at the end is still held
    assert m["leaked_bytes"] == m["allocated_bytes"]
    assert m["gc_count"] == 0


def test_nogc_runs_out_of_a_too_small_heap():
    # 1 KiB heap, 600-byte objects: the second allocation (event 2) does not fit
    t = text_trace("alloc 0 600 0\nclear 0\nalloc 0 600 0\nclear 0\n")
    r = memcompare.replay(t, "nogc", heap_mb=1 / 1024)
    assert r.status == "oom"
    assert r.oom_at == 2
    assert r.metrics is None
    assert memcompare.replay(t, "nogc", heap_mb=2 / 1024).status == "ok"


def test_same_inputs_give_identical_metrics():
    t = text_trace(TIMED)
    a = replay(t, Toy, NoParams(), NoParams()).metrics
    b = replay(text_trace(TIMED), Toy, NoParams(), NoParams()).metrics
    assert repr(a) == repr(b)
    assert math.isfinite(a["wall_time_s"])


@pytest.mark.parametrize("model", ["cpp", "jvm", "cpython", "nogc", "go"])
def test_every_model_charges_the_mutators_per_byte_allocation_cost(model):
    """alloc_ns_per_byte: each ALLOC's payload + 8 × slots bytes at that price, on the
    mutator's timeline. 100 objects of 40 + 8 × 2 = 56 bytes at 1 ns/B = 5.6 µs more."""
    t = memcompare.Recorder()
    hs = [t.alloc(40, 2) for _ in range(100)]
    for h in hs:
        t.free(h)
    trace = t.build()
    base = memcompare.replay(trace, model).metrics["wall_time_s"]
    more = memcompare.replay(trace, model, mutator_costs={"alloc_ns_per_byte": 1.0})
    assert more.metrics["wall_time_s"] - base == pytest.approx(100 * 56e-9, rel=1e-9)


def test_measure_consumes_the_per_event_arrays_and_times_pauses_by_hand():
    # the engine drops each per-event array once summed into the timeline (a 10^8-event replay
    # could not hold them all); the pause at e3 starts when e2 ends: 11 + 1000 + 11 = 1022 ns
    from memcompare.costs import MutatorCosts
    from memcompare.engine import measure
    trace = text_trace(TIMED)
    out = Output(trace)
    Toy(NoParams(), NoParams()).run(trace, out)
    m, timeline = measure(trace, out, np.zeros(0, np.int64), np.zeros(0, np.int64),
                          MutatorCosts())
    assert out.mm_ns is None and out.free_ns is None and out.gc_ns is None
    assert timeline["pauses"] == [[1022.0, 100.0, "minor"]]
    assert timeline["wall_ns"] == 3132.0
    assert m["mm_cpu_fraction"] == pytest.approx((20 + 10 + 100) / 3132)



def test_measure_rejects_footprint_columns_of_different_lengths():
    from memcompare.costs import MutatorCosts
    from memcompare.engine import measure
    trace = text_trace(TIMED)
    out = Output(trace)
    Toy(NoParams(), NoParams()).run(trace, out)
    out.fp_bytes.append(64)             # a model that appended to one column only
    with pytest.raises(ValueError, match="fp_at and fp_bytes differ in length"):
        measure(trace, out, np.zeros(0, np.int64), np.zeros(0, np.int64), MutatorCosts())

@pytest.mark.parametrize("segment", [1, 2, 5, 1 << 20])
def test_last_touch_is_the_same_whatever_the_segment(monkeypatch, segment):
    # object 0 is last named by `free 0` (e4), object 1 by `free 1` (e5)
    from memcompare import engine
    monkeypatch.setattr(engine, "SEGMENT_EVENTS", segment)
    assert engine._last_touch(text_trace(TIMED)).tolist() == [4, 5]


def test_envelope_keeps_each_buckets_peak_and_the_final_value():
    from memcompare.metrics import envelope
    times = np.arange(1000, dtype=np.float64)
    values = np.zeros(1000, dtype=np.int64)
    values[500] = 7                            # a one-point peak survives down-sampling
    values[990:999] = 5                        # the last bucket's maximum ...
    values[999] = 1                            # ... is not what the run ends with
    env = envelope(times, values, 1000.0, points=100)
    assert max(b for _, b in env) == 7
    assert env[-2] == [990.0, 5] and env[-1] == [999.0, 1]
    assert envelope(times[:10], values[:10], 10.0, points=100)[-1] == [9.0, 0]
