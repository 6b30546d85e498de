"""Tests of the semispace model: the kit's conformance suite, then expectations derived by hand.

Every hand-derived test uses 64-byte objects (8-byte header + 56 payload bytes, no slots, or
8 + 40 + 2 × 8 with two slots) so that the numbers can be checked on paper.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import memcompare
from memcompare import Output, Recorder, hookimpl, param
from memcompare.testing import conformance
from memcompare_semispace import Costs, Params, SemispaceModel
from memcompare_semispace.cheney import cheney

# The kit: safety (full re-trace at every collection), determinism, completeness and metric
# sanity on each of its tricky traces (a 200,000-node list, cycles, 0 and 1,000 slots, 64 MiB
# objects, register churn, an empty trace, live data at the end).
test_conformance = conformance("semispace")
# The same with heaps small enough that the tricky traces collect: at 16 MiB the 200,000-node
# list is copied four times; at 1 MiB the cycles and the live-at-end data are collected and
# the list and 64 MiB objects run out ("oom" is accepted: the model has a heap limit).
test_conformance_16mb = conformance("semispace", params={"heap_mb": 16})
test_conformance_1mb = conformance("semispace", params={"heap_mb": 1})

KiB = 1024
OBJ = 64                   # bytes of every object below: 8 header + 56 payload


def replay(trace, **params):
    return memcompare.replay(trace, "semispace", check="full", **params)


def run_model(trace, **params):
    """The model itself, for what the engine does not report (the to-space order)."""
    model = SemispaceModel(Params(**params), Costs())
    out = Output(trace)
    model.run(trace, out)
    return model, out


def steady_state(live: int, garbage: int):
    """``live`` 64-byte objects kept in registers, then ``garbage`` 64-byte objects each
    dropped at once."""
    t = Recorder()
    keep = [t.alloc(56) for _ in range(live)]
    for _ in range(garbage):
        t.drop(t.alloc(56))
    assert len(keep) == live
    return t.build()


# -- collections and copying ---------------------------------------------------------------

def test_collections_and_bytes_copied_follow_from_semispace_live_and_allocated():
    # S = 64 KiB per semispace (heap_mb = 0.125), L = 16 KiB live (256 objects), A = 7,936
    # objects = 496 KiB allocated. The first collection comes when S is full, each later one
    # after S - L more bytes: ceil((A - S) / (S - L)) = ceil(432 KiB / 48 KiB) = 9 collections,
    # each copying L: 9 × 16 KiB = 144 KiB copied.
    trace = steady_state(live=256, garbage=7680)
    r = replay(trace, heap_mb=0.125)
    assert r.status == "ok"
    assert r.stats["semispace_bytes"] == 64 * KiB
    assert r.metrics["gc_counts"] == {"semispace": 9}
    assert r.stats["copied_objects"] == 9 * 256
    assert r.stats["copied_bytes"] == 9 * 16 * KiB
    assert r.metrics["allocated_bytes"] == 7936 * OBJ
    # each pause: 200 µs fixed + 257 registers × 0.5 ns + 256 objects × 5 ns + 16 KiB × 0.5 ns
    assert r.metrics["pause_count"] == 9
    assert r.metrics["pause_max_s"] == pytest.approx(209_600.5e-9)
    assert r.metrics["pause_total_s"] == pytest.approx(9 * 209_600.5e-9)
    assert r.metrics["leaked_bytes"] == 0


def test_one_more_object_means_one_more_collection():
    # 7,937 objects: the last one no longer fits after the 9th collection
    r = replay(steady_state(live=256, garbage=7681), heap_mb=0.125)
    assert r.metrics["gc_count"] == 10


def test_each_collection_reclaims_exactly_the_dropped_objects():
    model, out = run_model(steady_state(live=256, garbage=7680), heap_mb=0.125)
    batches = [ids for _, ids in out.collections]
    assert [len(b) for b in batches] == [768] * 9       # S / 64 - 256 garbage objects each
    # the first collection reclaims objects 256 .. 1023, the second 1024 .. 1791
    assert batches[0].tolist() == list(range(256, 1024))
    assert batches[1].tolist() == list(range(1024, 1792))
    # it happens at the ALLOC of object 1024 (event 256 + 2 × 768 = 1792, as every garbage
    # object is an alloc and a clear): the heap is as event 1791 left it
    assert out.collections[0][0] == 1791
    assert out.pause_at[0] == 1792


def test_nothing_is_collected_while_the_first_half_has_room():
    r = replay(steady_state(live=0, garbage=1024), heap_mb=0.125)    # exactly 64 KiB
    assert r.metrics["gc_count"] == 0
    assert r.metrics["footprint_peak_bytes"] == 64 * KiB


# -- Cheney's breadth-first order ----------------------------------------------------------

def tree_trace(garbage: int):
    """A root r with slots (a, b); a -> (c, d); b -> (e, -); e -> (a, -), a back edge.
    Allocated leaves first, so ids are e=0, d=1, c=2, b=3, a=4, r=5: breadth-first order is
    5 4 3 2 1 0, depth-first would be 5 4 2 1 3 0."""
    t = Recorder()
    e, d, c = t.alloc(40, 2), t.alloc(40, 2), t.alloc(40, 2)
    b, a, r = t.alloc(40, 2), t.alloc(40, 2), t.alloc(40, 2)
    t.store(r, 0, a)
    t.store(r, 1, b)
    t.store(a, 0, c)
    t.store(a, 1, d)
    t.store(b, 0, e)
    t.store(e, 0, a)
    for h in (a, b, c, d, e):
        t.drop(h)
    for _ in range(garbage):
        t.drop(t.alloc(56))
    return t.build()


def test_cheney_copies_breadth_first():
    # 8 KiB semispaces hold 128 objects: 200 garbage objects force collections
    model, out = run_model(tree_trace(garbage=200), heap_mb=1 / 64)
    assert out.gc_counts["semispace"] >= 1
    assert model.last_order == [5, 4, 3, 2, 1, 0]
    # the final collection (held) copies the same way
    ids, nbytes = model.held()
    assert ids.tolist() == [5, 4, 3, 2, 1, 0]
    assert nbytes.tolist() == [OBJ] * 6


def test_cheney_roots_in_register_order_each_copied_once():
    # objects 0..3; 1 -> (2, 0); 3 -> (3) a self-loop; roots r0=3, r1=1, r2=3 (a duplicate)
    base, nslots = [0, 0, 0, 2], [0, 2, 0, 1]
    flat = np.array([2, 0, 3], dtype=np.int64)
    order, scanned = cheney([3, 1, 3], flat, base, nslots, 4)
    assert order == [3, 1, 2, 0]
    assert scanned == 3                  # 3's one slot and 1's two; nothing else has slots


def test_a_long_list_is_copied_without_recursion():
    # 200,000 nodes in a list: Cheney's scan pointer needs no stack
    n = 200_000
    base = list(range(n))
    flat = np.arange(1, n + 1, dtype=np.int64)
    flat[-1] = -1
    order, scanned = cheney([0], flat, base, [1] * n, n)
    assert order == list(range(n))
    assert scanned == n


# -- footprint ----------------------------------------------------------------------------

def test_footprint_is_both_semispaces_once_both_are_touched():
    # the first half fills (64 KiB); the first collection touches 16 KiB of the second; the
    # second collection finds the second half full and copies back into the first
    r = replay(steady_state(live=256, garbage=7680), heap_mb=0.125)
    assert r.metrics["footprint_peak_bytes"] == 2 * 64 * KiB
    assert r.metrics["footprint_mean_bytes"] <= 2 * 64 * KiB


def test_footprint_counts_touched_pages_not_the_reserved_heap():
    t = Recorder()
    keep = t.alloc(100)          # 8 + 100 = 108 bytes, one page touched
    r = replay(t.build(), heap_mb=256)
    assert keep.reg == 0
    assert r.metrics["footprint_peak_bytes"] == 4096
    assert r.metrics["allocated_bytes"] == 112        # 108 rounded up to 8


# -- out of memory ------------------------------------------------------------------------

def live_objects(n: int):
    t = Recorder()
    keep = [t.alloc(56) for _ in range(n)]
    assert len(keep) == n
    return t.build()


def test_live_data_that_fills_a_semispace_exactly_fits():
    r = replay(live_objects(128), heap_mb=1 / 64)        # 128 × 64 B = 8 KiB = S
    assert r.status == "ok"
    assert r.metrics["gc_count"] == 0


def test_oom_when_live_data_exceeds_a_semispace():
    # the 129th object does not fit; the collection copies all 128, and it still does not fit
    r = replay(live_objects(129), heap_mb=1 / 64)
    assert r.status == "oom"
    assert r.oom_at == 128                                # the ALLOC of object 128
    assert "semispace of 8192 bytes exhausted" in r.error
    assert r.stats["copied_bytes"] == 8 * KiB


def test_an_object_larger_than_a_semispace_is_oom():
    t = Recorder()
    t.drop(t.alloc(16))
    t.alloc(8 * KiB)                                      # 8 KiB + 8 header > S = 8 KiB
    r = replay(t.build(), heap_mb=1 / 64)
    assert r.status == "oom"
    assert r.oom_at == 2


# -- collector semantics and costs --------------------------------------------------------

def test_free_is_a_clear_and_the_object_dies_at_the_next_collection():
    t = Recorder()
    t.free(t.alloc(56))                                   # object 0, freed at event 1
    for _ in range(200):
        t.drop(t.alloc(56))
    model, out = run_model(t.build(), heap_mb=1 / 64)
    assert len(out.reclaimed_ids) == 0                    # nothing reclaimed at the FREE
    assert 0 in out.collections[0][1].tolist()


def test_allocation_cost_is_bump_plus_zeroing():
    t = Recorder()
    t.alloc(10, 3)                       # 8 + 10 + 3 × 8 = 42 bytes, aligned to 48
    model, out = run_model(t.build())
    assert out.allocated_bytes == 48
    assert out.mm_ns[0] == pytest.approx(3.0 + 0.05 * 48)


def test_empty_trace():
    r = replay(Recorder().build())
    assert r.status == "ok"
    assert r.metrics["gc_count"] == 0
    assert r.metrics["footprint_peak_bytes"] == 0


# -- the plugin as memcompare sees it ------------------------------------------------------

@dataclass(frozen=True)
class TinyParams(Params):
    heap_mb: float = param(1 / 64, "total heap in MiB (two 8 KiB semispaces)", minimum=0)


class TinySemispace(SemispaceModel):
    """A semispace model with 8 KiB halves, registered only for one test."""

    name = "semispace-tiny"
    Params = TinyParams


class TinyPlugin:
    @hookimpl
    def register_models(self, register):
        register(TinySemispace)


def test_a_variant_registers_through_the_hook(register_plugin):
    plugins = register_plugin(TinyPlugin(), "semispace-tiny")
    assert plugins.model("semispace").cls is SemispaceModel       # the installed entry point
    r = memcompare.replay(steady_state(live=16, garbage=240), "semispace-tiny", check="full")
    # S = 8 KiB = 128 objects, L = 16: ceil((256 - 128) / (128 - 16)) = 2 collections
    assert r.metrics["gc_count"] == 2


def test_params_are_validated_with_their_key_path():
    with pytest.raises(memcompare.errors.ConfigError, match="params.heap_mb"):
        memcompare.replay(Recorder().build(), "semispace", heap_mb="big")
