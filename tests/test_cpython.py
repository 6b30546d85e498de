"""The ``cpython`` model (refcounting, the cyclic collector, pymalloc) against numbers derived by
hand from CPython's rules (docs/runtimes.md §3; Modules/gcmodule.c, Python/gc.c,
Objects/obmalloc.c), worked through in the comments. Constants used throughout:

- an object with slots is a ``__slots__`` instance: 16 (PyGC_Head) + 16 (PyObject) + 8 × (slots +
  ceil(payload / 8)); one without is a ``bytes``: 33 + payload (``object()``, 16, when empty) —
  what ``sys.getsizeof`` reports for the cpython-native twin's objects on 3.11–3.13;
- pymalloc serves 1..512 bytes in 16-byte classes from 16 KiB pools with a 48-byte header:
  ⌊16336 / block⌋ blocks per pool; 63 usable pools per 1 MiB arena; larger requests go to
  glibc, whose first malloc grows the heap by 135168 bytes (test_cpp.py's FIRST_BRK);
- thresholds (700, 10, 10) up to 3.12, (2000, 10, 10) from 3.13. The young count must
  *exceed* threshold 0, and a collection resets it, so with everything kept alive a collection
  comes every threshold0 + 1 tracked allocations; generation 1's count (young collections since
  its last collection) must exceed threshold 1 = 10, so every 12th collection is a generation-1
  one. 3.11 collects inside the allocation (its object not yet tracked); 3.12+ before the next
  event.
"""
from __future__ import annotations

import random

import numpy as np
import pytest

import memcompare
from memcompare import Output, Recorder
from memcompare.errors import ConfigError
from memcompare.testing import conformance
from memcompare_cpp import Costs as CppCosts
from memcompare_cpp import CppModel
from memcompare_cpp import Params as CppParams
from memcompare_cpp.malloc import Arena, request2size
from memcompare_cpython import Costs, CPythonModel, Params
from memcompare_cpython.obmalloc import blocks_per_pool

KiB = 1024
MiB = 1 << 20
FIRST_BRK = 135168              # glibc: page_round(656 + 131072 + 32), see test_cpp.py
COSTS = Costs()


def run(trace, **params):
    """Replay with the model alone (no engine): the model and its Output."""
    model = CPythonModel(Params(**params), Costs())
    out = Output(trace)
    model.run(trace, out)
    return model, out


def footprint_after(out: Output, i: int) -> int:
    at = np.asarray(out.fp_at)
    k = int(np.searchsorted(at, i, side="right")) - 1
    return int(out.fp_bytes[k])


def reclaimed(out: Output) -> dict[int, int]:
    """Object id → event after which refcounting freed it."""
    return dict(zip(np.asarray(out.reclaimed_ids).tolist(), np.asarray(out.reclaimed_at).tolist()))


def perfect_tree(t: Recorder, depth: int, payload: int = 0):
    """A perfect binary tree of containers (two slots each), built children first; returns the
    root's handle, every other node's handle dropped."""
    if depth == 0:
        return t.alloc(payload, 2)
    left, right = perfect_tree(t, depth - 1, payload), perfect_tree(t, depth - 1, payload)
    node = t.alloc(payload, 2)
    t.store(node, 0, left)
    t.store(node, 1, right)
    t.drop(left)
    t.drop(right)
    return node


def kept_alive_chain(t: Recorder, n: int, payload: int = 0):
    """``n`` one-slot containers in a linked list held from its head: all stay alive."""
    head = t.alloc(payload, 1)
    cur = t.copy(head)
    for _ in range(n - 1):
        node = t.alloc(payload, 1)
        t.store(cur, 0, node)
        t.drop(cur)
        cur = node
    return head, cur


# -- layout and pymalloc ----------------------------------------------------------------------

# (payload, slots, bytes held): a bytes object (33 + payload) or a __slots__ instance (32 + 8 per
# slot, the payload in ceil(payload / 8) more), 16-byte classes to 512
LAYOUT = [
    (8, 0, 48),         # bytes(8): 41-byte request → 48-byte block
    (0, 0, 16),         # object(): the bare header, the smallest class
    (15, 0, 48),        # 48 exactly
    (0, 1, 48),         # 32 + 8 = 40 → 48: a container with one slot
    (16, 2, 64),        # a binary-trees node: 32 + 2 × 8 + 2 × 8 = 64
    (9, 1, 64),         # 9 payload bytes take two 8-byte slots: 32 + 8 + 16 = 56 → 64
    (479, 0, 512),      # 512: the largest pymalloc request
    (480, 0, request2size(513)),    # 513: glibc, chunk (513 + 8 + 15) & ~15 = 528
]


@pytest.mark.parametrize("payload,slots,nbytes", LAYOUT)
def test_object_layout_and_size_class(payload, slots, nbytes):
    t = Recorder()
    t.alloc(payload, slots)
    model, out = run(t.build())
    ids, held = model.held()
    assert ids.tolist() == [0] and held.tolist() == [nbytes]
    assert out.allocated_bytes == nbytes
    assert request2size(513) == 528


def test_blocks_per_pool():
    assert blocks_per_pool(1) == 510          # ⌊16336 / 32⌋
    assert blocks_per_pool(0) == 1021         # 16-byte blocks: docs/runtimes.md's 994 + 27
    assert blocks_per_pool(31) == 31          # ⌊16336 / 512⌋
    assert blocks_per_pool(2) == 340          # ⌊16336 / 48⌋
    t = Recorder()
    keep = [t.alloc(8, 0) for _ in range(341)]      # 41-byte requests: 48-byte blocks
    model, _ = run(t.build())
    obm = model.heap.obm
    assert obm.pools_initialised == 2               # 340 fill the first pool, the 341st opens one
    assert obm.pools_in_use() == 2
    assert len(keep) == 341


def test_an_arena_goes_back_only_when_empty_and_the_last_empty_one_stays():
    # 512-byte blocks: 31 per pool, 63 pools → 1953 objects fill arena A, the 1954th opens B
    per_arena = 31 * 63
    t = Recorder()
    objs = [t.alloc(479, 0) for _ in range(per_arena + 1)]      # bytes: 33 + 479 = 512
    for h in objs[:per_arena - 1]:            # all of A but one: A has 62 free pools of 63
        t.free(h)
    t.free(objs[per_arena - 1])                # A empty and not last on usable_arenas: unmapped
    t.free(objs[per_arena])                    # B empty but the last: kept (bpo-37257)
    trace = t.build()
    _, out = run(trace)
    first_free = per_arena + 1                 # event index of the first FREE
    # the footprint is the carved pools (16 KiB each): A's 63 and B's one, until A goes; B's
    # carved pool stays resident while B stays mapped
    assert footprint_after(out, first_free - 1) == 64 * 16 * KiB
    assert footprint_after(out, first_free + per_arena - 2) == 64 * 16 * KiB
    assert footprint_after(out, first_free + per_arena - 1) == 16 * KiB
    assert footprint_after(out, trace.events - 1) == 16 * KiB


def test_footprint_is_pymalloc_carved_pools_plus_glibc():
    # an arena maps 1 MiB, but only the pools carved from it are written (allocate_from_new_pool
    # "Carve off a new pool"): one object, one 16 KiB pool
    t = Recorder()
    t.alloc(8, 0)                              # pymalloc: one arena, one pool
    t.alloc(1000, 0)                           # 1033 bytes: glibc's first sbrk
    _, out = run(t.build())
    assert footprint_after(out, 0) == 16 * KiB
    assert footprint_after(out, 1) == 16 * KiB + FIRST_BRK


def test_footprint_grows_by_a_pool_per_size_class_and_when_a_pool_fills():
    # 41-byte requests (48-byte blocks, 340 per pool) and 8-byte ones (16-byte blocks, 1021 per
    # pool): 341 of the first need two pools, one of the second a third — 48 KiB in one arena
    t = Recorder()
    keep = [t.alloc(8, 0) for _ in range(341)]
    keep.append(t.alloc(0, 0))                 # object(): 16 bytes, its own size class
    _, out = run(t.build())
    assert footprint_after(out, 339) == 16 * KiB
    assert footprint_after(out, 340) == 32 * KiB
    assert footprint_after(out, 341) == 48 * KiB


# -- reference counting -----------------------------------------------------------------------

def test_refcount_frees_each_object_when_its_last_reference_goes():
    t = Recorder()
    root = t.alloc(0, 2)                       # object 0
    a = t.alloc(0, 1)                          # 1
    b = t.alloc(0, 0)                          # 2
    c = t.alloc(0, 0)                          # 3
    t.store(root, 0, a)
    t.store(root, 1, b)
    t.store(a, 0, c)
    t.drop(b)
    t.drop(c)                                  # event 8
    t.drop(root)                               # event 9: root dies and b with it; a is held
    t.store(a, 0, None)                        # event 10: the slot held c's last reference
    t.drop(a)                                  # event 11
    trace = t.build()
    _, out = run(trace)
    assert reclaimed(out) == {0: 9, 2: 9, 3: 10, 1: 11}
    gc_ns = np.asarray(out.gc_ns)
    # each deallocation: tp_dealloc 10 + pymalloc_free 5 + 0.5 per slot's Py_XDECREF; root and
    # a share a 48-byte pool, b and c a 16-byte one, and a pool's last block going back costs
    # insert_to_freepool's 20 (the arena, the only one, is kept)
    assert gc_ns[9] == pytest.approx((10 + 5 + 2 * 0.5) + (10 + 5))
    assert gc_ns[10] == pytest.approx(10 + 5 + 20)
    assert gc_ns[11] == pytest.approx(10 + 5 + 0.5 + 20)
    # refcount updates are the mutator's: store 0 → slot of root takes a (+1), drop (−1) ...
    assert np.asarray(out.mm_ns)[4] == pytest.approx(0.5)       # store: +1, old slot null
    assert np.asarray(out.mm_ns)[10] == pytest.approx(0.5)      # store None: −1 only


def test_move_onto_itself_changes_nothing():
    trace = memcompare.trace.build([0, 3, 4], [0, 0, 0], [8, 0, 0], [0, 0, 0])
    _, out = run(trace)                        # alloc r0; move r0 r0; clear r0
    assert reclaimed(out) == {0: 2}


@pytest.mark.parametrize("gc_enabled", [False, True])
def test_one_clear_of_a_100000_node_list_is_one_stall_freeing_every_node(gc_enabled):
    n = 100_000
    t = Recorder()
    head, tail = kept_alive_chain(t, n)
    t.drop(tail)
    t.drop(head)
    trace = t.build()
    clear_at = trace.events - 1
    costs = {"pool_free_ns": 0, "munmap_ns": 0}
    r = memcompare.replay(trace, "cpython", gc_enabled=gc_enabled, costs=costs)
    out = Output(trace)
    CPythonModel(Params(gc_enabled=gc_enabled), Costs(**costs)).run(trace, out)
    # a worklist, not recursion: every node freed at the one CLEAR
    assert set(reclaimed(out).values()) == {clear_at} and len(reclaimed(out)) == n
    # one node: tp_dealloc 10 + pymalloc_free 5 + one slot's Py_XDECREF 0.5
    cascade = n * (10 + 5 + 0.5)
    assert np.asarray(out.gc_ns)[clear_at] == pytest.approx(cascade)
    assert r.metrics["leaked_bytes"] == 0
    if not gc_enabled:                          # nothing else ever stalls
        assert r.metrics["max_stall_s"] == pytest.approx(cascade / 1e9)
        assert r.metrics["pause_count"] == 0


# -- the cyclic collector ---------------------------------------------------------------------

def two_node_cycle(t: Recorder):
    a = t.alloc(0, 2)
    b = t.alloc(0, 2)
    t.store(a, 0, b)
    t.store(b, 0, a)
    return a, b


def test_a_dead_cycle_survives_refcounting_and_the_next_young_collection_frees_it():
    # thresholds (10, 10, 10): the 11th tracked allocation triggers (count 11 > 10)
    t = Recorder()
    a, b = two_node_cycle(t)                   # objects 0, 1: count 2
    t.drop(a)
    t.drop(b)                                  # dead, but each still holds the other
    keep = [t.alloc(0, 1) for _ in range(9)]   # count 11 at the 9th: collect before next event
    t.work(100)
    trace = t.build()
    model, out = run(trace, thresholds=(10, 10, 10))
    assert reclaimed(out) == {}
    assert [k for k in out.gc_counts] == ["gen0"] and out.gc_counts["gen0"] == 1
    last_alloc = int(trace.obj_alloc_at[-1])
    (at, freed), = out.collections
    assert at == last_alloc and sorted(freed.tolist()) == [0, 1]
    assert out.pause_at == [last_alloc + 1]
    # the pause: fixed 1000 + 9 survivors × 50 + 2 garbage × 135
    assert out.pause_ns[0] == pytest.approx(1000 + 9 * 50 + 2 * 135)
    assert len(keep) == 9


def test_a_cycle_promoted_to_generation_1_waits_for_a_generation_1_collection():
    # collection #1 (gen0) promotes the still-live cycle; it dies; #2..#11 are gen0 (count1
    # goes to 11), #12 collects generation 1 (11 > 10) and frees it
    t = Recorder()
    a, b = two_node_cycle(t)
    keep = [t.alloc(0, 1) for _ in range(9)]   # → collection #1 with the cycle alive
    t.drop(a)
    t.drop(b)
    keep += [t.alloc(0, 1) for _ in range(11 * 11)]
    t.work(100)
    _, out = run(t.build(), thresholds=(10, 10, 10))
    batches = [sorted(ids.tolist()) for _, ids in out.collections]
    assert out.pause_kind == ["gen0"] * 11 + ["gen1"]
    assert batches == [[]] * 11 + [[0, 1]]
    assert len(keep) == 130


def test_what_only_a_dead_cycle_refers_to_goes_with_it_in_the_same_collection():
    t = Recorder()
    a, b = two_node_cycle(t)
    leaf = t.alloc(64, 0)                      # untracked (no slot): refcounting frees it
    t.store(a, 1, leaf)
    t.drop(leaf)
    t.drop(a)
    t.drop(b)
    keep = [t.alloc(0, 1) for _ in range(9)]
    t.work(100)
    _, out = run(t.build(), thresholds=(10, 10, 10))
    (_, freed), = out.collections
    assert sorted(freed.tolist()) == [0, 1, 2]
    assert reclaimed(out) == {}
    assert len(keep) == 9


# -- 3.14.0-3.14.4: the incremental collector (incremental.py) -----------------------------------
# Every automatic collection is gc_collect_increment. With thresholds (4, 2, 0): the 5th net
# tracked allocation triggers; scale = max(old[0].threshold, 2) = 2, so heap_fraction =
# min(heap_size // 10 // 2, young.count * 3 // 2), which is 0 below 20 live containers.

def test_3_14_0s_first_collection_only_marks_and_the_next_increment_frees_the_young_cycle():
    t = Recorder()
    a, b = two_node_cycle(t)                   # objects 0, 1: young count 2
    t.drop(a)
    t.drop(b)                                  # dead, each holding the other
    keep = [t.alloc(0, 1) for _ in range(3)]   # objects 2..4: count 5 > 4
    # collection 1, MARK phase: work_to_do = 0 + 5 + 0; mark_at_start moves the 3 objects the
    # registers hold to the visited space and collects nothing; work_to_do -= 2 × 3 → -1
    keep += [t.alloc(0, 1) for _ in range(5)]  # objects 5..9: count 5 > 4 again
    # collection 2, an increment: work_to_do = -1 + 5 + 0 = 4; mark_stacks moves 5..9 (young,
    # in registers) → 2 left; the increment is the rest of the young generation, the cycle
    # (size 2, not below 2 → no old object joins), and frees it
    t.work(100)
    trace = t.build()
    model, out = run(trace, version="3.14.0", thresholds=(4, 2, 0))
    assert out.pause_kind == ["mark", "increment"]
    assert [sorted(ids.tolist()) for _, ids in out.collections] == [[], [0, 1]]
    # mark: fixed 1000 + 3 marked × 30; increment: 1000 + 5 marked × 30 + 0 survivors + 2
    # garbage × 135
    assert out.pause_ns == [pytest.approx(1000 + 3 * 30), pytest.approx(1000 + 5 * 30 + 2 * 135)]
    st = out.stats
    assert (st["gc_marks"], st["gc_increments"], st["gc_marked"]) == (1, 1, 8)
    # the pending space was empty, so the increment completed a scavenge: the 8 visited
    # objects became the pending space, work_to_do 0, phase MARK
    assert st["gc_scavenges"] == 1 and model.collector.marking
    assert sorted(model.collector.pending.tolist()) == list(range(2, 10))
    # 3.14.5+ (3.13's collector) frees the cycle in the first young collection
    _, gen = run(trace, version="3.14", thresholds=(4, 2, 0))
    assert gen.pause_kind[0] == "gen0"
    assert sorted(gen.collections[0][1].tolist()) == [0, 1]
    assert len(keep) == 8


def _increment_setup():
    """Objects: 0-1 a dead cycle A; 2 k, kept in a register, whose slot holds 3 (x, dropped);
    4-5 a dead cycle B; 6-7 a dead young cycle Y; 8 z, young, kept. No collection runs during
    the replay (threshold 1000); the test then sets the state an increment starts from."""
    t = Recorder()
    a0, a1 = two_node_cycle(t)
    k = t.alloc(0, 1)
    x = t.alloc(0, 1)
    t.store(k, 0, x)
    t.drop(x)
    b0, b1 = two_node_cycle(t)
    y0, y1 = two_node_cycle(t)
    for h in (a0, a1, b0, b1, y0, y1):
        t.drop(h)
    z = t.alloc(0, 1)
    t.work(100)
    trace = t.build()
    model, out = run(trace, version="3.14.0", thresholds=(1000, 2, 0))
    assert out.pause_kind == []
    col = model.collector
    # as if 0..5 had survived a cycle and the scavenge had made them the pending space, in
    # this order, and 6..8 were allocated since
    col.space[:6] = 2                          # PENDING
    col.set_pending(np.arange(6, dtype=np.int64))
    col.young_start = 6
    col.marking = False
    return trace, model, (k, z)


@pytest.mark.parametrize("work, examined, survivors_pending", [
    # work_to_do 3 (+ young count 3 - 3 marked): the young part is Y (2 < 3), so the pending
    # head 0 joins with what it reaches, 1 (size 4): A and Y are examined, B waits
    (3, [0, 1, 6, 7], [4, 5]),
    # work_to_do 5: after A (size 4 < 5) the next pending head is 4 — 2 and 3 are no longer
    # pending, mark_stacks moved k and what it reaches to the visited space — and B joins
    (5, [0, 1, 4, 5, 6, 7], []),
])
def test_one_3_14_0_increment_examines_young_then_pending_heads_until_work_to_do(
        work, examined, survivors_pending):
    trace, model, _ = _increment_setup()
    col = model.collector
    col.work_to_do = work
    # heap_size 9 → heap_fraction 0; young.count 3: work_to_do += 3; mark_stacks marks k (2),
    # x (3, through k's slot) and z (8): -3
    kind, ns, freed = col.automatic(3, trace.objects, trace.events)
    assert kind == "increment"
    assert sorted(freed) == examined           # every object examined was garbage
    assert col.examined == len(examined)
    assert col.marked == 3
    # fixed 1000 + 3 marked × 30 + 0 survivors + garbage × 135
    assert ns == pytest.approx(1000 + 3 * 30 + len(examined) * 135)
    if survivors_pending:
        # work_to_do: 3 + 3 - 3 - 4 examined + 5 // 20 = -1; B still pending: no scavenge
        assert col.work_to_do == -1 and not col.marking
        assert [o for o in col.pending.tolist() if col.space[o] == 2] == survivors_pending
    else:
        # the pending space ran out: completed_scavenge, visited (k, x, z) → pending
        assert col.work_to_do == 0 and col.marking
        assert sorted(col.pending.tolist()) == [2, 3, 8]


@pytest.mark.parametrize("young, fraction, cycles_taken, work_after", [
    # heap_size 460 → 460 // 10 // 2 = 23, capped at 5 * 3 // 2 = 7: work_to_do 0 + 5 + 7 = 12
    # takes 6 cycles (12 objects); then + (460 - 12) // 20 = 22 - 12 examined
    (5, 7, 6, 12 + 22 - 12),
    # young.count 20: the cap 30 does not bite, 23: work_to_do 43 takes 22 cycles (44 objects),
    # then + (460 - 44) // 20 = 20 - 44
    (20, 23, 22, 43 + 20 - 44),
])
def test_3_14_0_work_to_do_is_young_plus_a_tenth_of_the_heap_over_the_scale(
        young, fraction, cycles_taken, work_after):
    # 400 kept containers (a chain held from one register), visited already; then 30 dead
    # two-object cycles, pending in allocation order; nothing young, nothing to mark
    t = Recorder()
    _, tail = kept_alive_chain(t, 400)
    t.drop(tail)
    for _ in range(30):
        a, b = two_node_cycle(t)
        t.drop(a)
        t.drop(b)
    trace = t.build()
    model, _ = run(trace, version="3.14.0", thresholds=(100000, 2, 0))
    col = model.collector
    col.space[:400] = 1                        # VISITED
    col.space[400:] = 2                        # PENDING
    col.set_pending(np.arange(400, 460, dtype=np.int64))
    col.young_start = trace.objects
    col.marking = False
    kind, _, freed = col.automatic(young, trace.objects, trace.events)
    assert kind == "increment" and col.marked == 0
    assert sorted(freed) == list(range(400, 400 + 2 * cycles_taken))
    assert col.work_to_do == work_after and not col.marking


def test_70000_live_objects_collect_every_threshold0_plus_1_allocations():
    t = Recorder()
    head, tail = kept_alive_chain(t, 70_000)
    trace = t.build()
    # 3.11: ⌊70000 / 701⌋ = 99 collections; every 12th is generation 1: 12, 24, ..., 96 → 8
    _, out11 = run(trace, version="3.11")
    assert dict(out11.gc_counts) == {"gen0": 91, "gen1": 8}
    # 3.13: ⌊70000 / 2001⌋ = 34; generation 1 at the 12th and 24th
    _, out13 = run(trace, version="3.13")
    assert dict(out13.gc_counts) == {"gen0": 32, "gen1": 2}
    # where: 3.11 inside the 701st allocation (object 700), 3.13 right after the 2001st
    alloc_at = trace.obj_alloc_at
    assert out11.pause_at[0] == alloc_at[700]
    assert out13.pause_at[0] == alloc_at[2000] + 1
    # what: 3.11's first collection sees the 700 tracked before; the 701st is not yet tracked
    # and counts for nothing after the reset, so later ones see 701. 3.13 sees 2001 each time.
    assert out11.pause_ns[0] == pytest.approx(1000 + 700 * 50)
    assert out11.pause_ns[1] == pytest.approx(1000 + 701 * 50)
    assert out13.pause_ns[0] == pytest.approx(1000 + 2001 * 50)
    # 3.14 (3.14.5+) is 3.13's collector again
    _, out14 = run(trace, version="3.14")
    assert out14.pause_at == out13.pause_at and out14.pause_kind == out13.pause_kind


def test_runs_of_allocations_fill_pools_and_collect_as_one_at_a_time():
    # The loop takes a run of same-class allocations a pool's worth at a time: 700 one-slot
    # containers (48-byte blocks, 340 a pool), an object() (16 bytes: another class), 700 more,
    # all kept. 48-byte pools: ceil(1400 / 340) = 5; 16-byte: 1 → 6 pools, 96 KiB. Thresholds
    # (300, 10, 10), 3.13: a collection right after each 301st container since the last, i.e.
    # containers #301, #602, #903, #1204 — ids 300, 601, 903, 1204 (id 700 is the object())
    t = Recorder()
    keep = [t.alloc(0, 1) for _ in range(700)]
    keep.append(t.alloc(0, 0))
    keep += [t.alloc(0, 1) for _ in range(700)]
    t.work(10)
    trace = t.build()
    _, out = run(trace, thresholds=(300, 10, 10))
    assert out.stats["pools_initialised"] == 6
    assert footprint_after(out, trace.events - 1) == 6 * 16 * KiB
    assert footprint_after(out, int(trace.obj_alloc_at[339])) == 16 * KiB
    assert footprint_after(out, int(trace.obj_alloc_at[340])) == 32 * KiB
    assert dict(out.gc_counts) == {"gen0": 4}
    alloc_at = trace.obj_alloc_at
    assert out.pause_at == [int(alloc_at[i]) + 1 for i in (300, 601, 903, 1204)]
    assert reclaimed(out) == {} and len(keep) == 1401


def test_a_collection_reaches_a_long_chain_and_a_deep_tree_and_frees_only_the_dead_cycle():
    # move_unreachable by levels, by sweeps over every edge and one object at a time: a
    # 3000-node chain held from its head (one object a level), a 1023-node tree held from its
    # root (levels doubling), and a dead 2-cycle. Threshold 4024: the one collection comes
    # right after the 4025th container, the tree's root, and examines all 4025.
    t = Recorder()
    a, b = two_node_cycle(t)
    t.drop(a)
    t.drop(b)
    head, tail = kept_alive_chain(t, 3000)

    root = perfect_tree(t, 9)
    t.work(10)
    trace = t.build()
    _, out = run(trace, thresholds=(4024, 10, 10))
    assert dict(out.gc_counts) == {"gen0": 1}
    (at, freed), = out.collections
    assert sorted(freed.tolist()) == [0, 1]
    assert out.stats["gc_examined"] == 4025 and out.stats["gc_collected"] == 2
    # the pause: fixed 1000 + 4023 survivors × 50 + 2 garbage × 135
    assert out.pause_ns[0] == pytest.approx(1000 + 4023 * 50 + 2 * 135)
    assert root is not None and head is not None and tail is not None


def test_trees_dying_young_collect_once_per_tree_at_2000_and_twice_at_700():
    # a kept tree of 8,191 containers, then 20 trees of 2,047 built and dropped one at a time
    # (issue 9's question: does 3.13 gate or scale young collections? Python/gc.c does not: the
    # count and the 25 % rule are 3.12's, with threshold 2000). A dropped tree's deallocations
    # bring the count back to 0 (PyObject_GC_Del, never below 0).
    t = Recorder()

    keep = perfect_tree(t, 12, payload=8)
    for _ in range(20):
        t.drop(perfect_tree(t, 10, payload=8))
    t.work(10)
    trace = t.build()
    # 3.13: ⌊8191 / 2001⌋ = 4 while the kept tree grows (187 left over), then each dropped tree
    # crosses 2000 once (187 + 2047 and 0 + 2047 > 2000): 24, generation 1 at the 12th and 24th
    _, out13 = run(trace, version="3.13")
    assert dict(out13.gc_counts) == {"gen0": 22, "gen1": 2}
    # 3.12: ⌊8191 / 701⌋ = 11 (480 left over); the first dropped tree crosses 700 after 221,
    # 922 and 1623 allocations (3), every later one after 701 and 1402 (2): 11 + 3 + 19 × 2 = 52,
    # every 12th a generation-1 one
    _, out12 = run(trace, version="3.12")
    assert dict(out12.gc_counts) == {"gen0": 48, "gen1": 4}
    _, out14 = run(trace, version="3.14")
    assert out14.pause_kind == out13.pause_kind
    assert keep is not None


def test_the_resolved_settings_are_in_the_stats():
    t = Recorder()
    t.alloc(0, 1)
    _, out = run(t.build(), version="3.12")
    assert out.stats["version"] == "3.12" and out.stats["thresholds"] == [700, 10, 10]
    _, out = run(t.build(), version="3.13")
    assert out.stats["thresholds"] == [2000, 10, 10]
    _, out = run(t.build(), version="3.13", thresholds=(5, 6, 7))
    assert out.stats["thresholds"] == [5, 6, 7]


def text_trace(text: str):
    lines = [ln.split() for ln in text.strip().splitlines()]
    codes = {"alloc": 0, "load": 1, "store": 2, "move": 3, "clear": 4, "free": 5, "work": 6}
    cols = [[int(ln[k]) if len(ln) > k else 0 for ln in lines] for k in (1, 2, 3)]
    return memcompare.trace.build([codes[ln[0]] for ln in lines], *cols)


def test_an_allocation_over_the_threshold_collects_before_or_after_its_register_write():
    # t0 = 1: the 2nd tracked allocation (C, count 2 > 1) starts a collection; it also drops
    # A (untracked, no slot) from r0. 3.11 collects inside the allocation: C is not tracked yet,
    # B alone is examined, A still held. 3.13 collects before the next event: A is gone, B and
    # C are examined.
    trace = text_trace("""
        alloc 0 8 0
        alloc 1 0 1
        alloc 0 0 1
        work 10
    """)
    _, out11 = run(trace, version="3.11", thresholds=(1, 10, 10))
    _, out13 = run(trace, version="3.13", thresholds=(1, 10, 10))
    assert out11.pause_at == [2] and out11.pause_ns == [pytest.approx(1000 + 1 * 50)]
    assert out13.pause_at == [3] and out13.pause_ns == [pytest.approx(1000 + 2 * 50)]
    assert reclaimed(out11) == reclaimed(out13) == {0: 2}


def test_a_scheduled_collection_finds_nothing_to_do_when_the_write_freed_a_container():
    # the 2nd allocation (count 2 > 1) overwrites r0, whose container dies: PyObject_GC_Del
    # brings the count back to 1, so when the eval breaker runs gc_select_generation there is
    # no generation over its threshold (3.13); 3.11 collected before the write could free it
    trace = text_trace("""
        alloc 0 0 1
        alloc 0 0 1
        work 10
    """)
    _, out13 = run(trace, version="3.13", thresholds=(1, 10, 10))
    _, out11 = run(trace, version="3.11", thresholds=(1, 10, 10))
    assert out13.pause_at == [] and reclaimed(out13) == {0: 1}
    assert out11.pause_at == [1] and reclaimed(out11) == {0: 1}
    assert out11.collections[0][1].size == 0


def test_allocated_bytes_count_a_freed_glibc_chunk():
    # two bytes(480) objects, one freed before the other is made: 513 bytes each, over 512, so
    # glibc's: chunk (513 + 8 + 15) & ~15 = 528 each, both allocated, one held at the end
    t = Recorder()
    a = t.alloc(480, 0)
    t.free(a)
    t.alloc(480, 0)
    model, out = run(t.build())
    ids, held = model.held()
    assert ids.tolist() == [1] and held.tolist() == [528]
    assert out.allocated_bytes == 2 * 528


def test_local_objects_are_ordinary_heap_objects():
    t = Recorder()
    h = t.alloc(8, 0, local=True)             # CPython has no escape analysis
    t.free(h)
    _, out = run(t.build())
    assert out.allocated_bytes == 48 and reclaimed(out) == {0: 1}     # bytes(8): 41 → 48


def test_the_oldest_generation_waits_until_25_percent_of_it_is_pending():
    # thresholds (10, 0, 0), all kept alive, 11 objects per young collection:
    #  #1 gen0 · #2 gen1 (pending 22) · #3 gen2: 22 >= 0 // 4 → total 33
    #  #4 gen0 · #5 gen1 (22) · #6 gen2: 22 >= 33 // 4 = 8 → total 66
    #  #7 gen0 · #8 gen1 (22) · #9 gen2: 22 >= 66 // 4 = 16 → total 99
    #  #10 gen0 · #11 gen1 (22) · #12: 22 < 99 // 4 = 24, so not gen2; count1 is 0 → gen0
    #  #13: still 22 < 24 → gen1 (pending 44) · #14: 44 >= 24 → gen2, total 154
    t = Recorder()
    kept_alive_chain(t, 14 * 11)
    t.work(100)
    model, out = run(t.build(), thresholds=(10, 0, 0))
    assert out.pause_kind == ["gen0", "gen1", "gen2"] * 3 + ["gen0", "gen1", "gen0", "gen1",
                                                              "gen2"]
    assert model.collector.full_deferred == 2
    assert model.collector.long_lived_total == 154


def test_with_the_collector_off_cyclic_garbage_leaks_exactly_its_cycles():
    trace = memcompare.record("cyclic-garbage", structures=200)
    # every structure is a cycle (lists of >= 2 nodes, rings): no node is ever freed. A node is
    # 16 + 16 + 2 slots × 8 + 32 payload bytes in 4 slots × 8 = 80 bytes, an 80-byte block
    off = memcompare.replay(trace, "cpython", gc_enabled=False)
    assert off.metrics["leaked_bytes"] == 80 * trace.objects
    assert off.metrics["gc_count"] == 0
    zero = memcompare.replay(trace, "cpython", thresholds=(0, 10, 10))   # gc.set_threshold(0)
    assert zero.metrics["leaked_bytes"] == 80 * trace.objects
    on = memcompare.replay(trace, "cpython")
    assert on.metrics["leaked_bytes"] == 0


def test_thresholds_must_be_three():
    with pytest.raises(ConfigError, match="thresholds"):
        memcompare.replay(memcompare.record("binary-trees", min_depth=2, max_depth=2),
                          "cpython", thresholds=[700, 10])


# -- every workload, under the full safety check (conftest) -----------------------------------

WORKLOADS = {
    "binary-trees": {"max_depth": 6},
    "message-buffer": {"messages": 3000, "window": 300},
    "lru-cache": {"operations": 2000, "capacity": 300, "key_space": 600},
    "queue-churn": {"steps": 4000},
    "cyclic-garbage": {"structures": 300},
    "fragmentation": {"rounds": 2},
    "large-objects": {"steps": 2000},
}
SETTINGS = [{}, {"version": "3.11"}, {"thresholds": (50, 3, 3)}, {"version": "3.14.0"},
            {"version": "3.14.0", "thresholds": (50, 3, 0)}, {"build": "free-threaded"},
            {"build": "free-threaded", "thresholds": (50, 3, 3)}]


@pytest.fixture(scope="module")
def traces():
    return {w: memcompare.record(w, **p) for w, p in WORKLOADS.items()}


@pytest.mark.parametrize("params", SETTINGS, ids=lambda p: ",".join(map(str, p.values())) or
                         "default")
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_every_workload_is_safe_and_leaks_nothing(workload, params, traces):
    trace = traces[workload]
    r = memcompare.replay(trace, "cpython", **params)
    assert r.status == "ok", r.error
    m = r.metrics
    assert m["leaked_bytes"] == 0
    assert m["gc_count"] == m["pause_count"] == sum(m["gc_counts"].values())
    # refcounting frees an object at its FREE at the earliest (a FREE clears the last
    # reference), and every object is bigger here than its payload and slots
    assert m["footprint_peak_bytes"] >= m["live_peak_bytes"]
    again = memcompare.replay(memcompare.record(workload, **WORKLOADS[workload]), "cpython",
                              **params)
    assert repr(again.metrics) == repr(m)


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_with_the_collector_off_only_cycles_leak(workload, traces):
    trace = traces[workload]
    r = memcompare.replay(trace, "cpython", gc_enabled=False)
    assert r.status == "ok", r.error
    leaked = r.metrics["leaked_bytes"]
    if workload == "cyclic-garbage":
        assert leaked == 80 * trace.objects
    elif workload == "lru-cache":
        # the recency list is doubly linked: its 300 entries (16 + 16 + 4 × 8 + the 16-byte key
        # in 2 × 8 = 80 bytes each) and their values outlive the cache's deletion
        assert leaked >= 300 * 80
    else:
        assert leaked == 0                     # no cycles: refcounting frees everything


def test_the_shared_glibc_entry_points_take_the_cpp_loops_paths():
    # Arena.libc_malloc / libc_free (used for requests over 512 bytes) against the cpp model's
    # inlined tcache paths: the same chunks at the same addresses for the same calls
    rng = random.Random(7)
    t = Recorder()
    live = []
    for _ in range(3000):
        if live and rng.random() < 0.45:
            t.free(live.pop(rng.randrange(len(live))))
        else:
            live.append(t.alloc(rng.choice([8, 40, 100, 600, 1000, 5000, 200_000]), 0))
    trace = t.build()
    cpp = CppModel(CppParams(), CppCosts())
    cpp.run(trace, Output(trace))
    arena = Arena(CppParams(), CppCosts(), [], [])
    addr, size = {}, {}
    for i in np.flatnonzero((trace.op == 0) | (trace.op == 5)).tolist():
        o = int(trace.x[i])
        if trace.op[i] == 0:
            addr[o], size[o], _ = arena.libc_malloc(int(trace.obj_bytes[o]), i)
        else:
            arena.libc_free(addr[o], size[o], i)
    assert [addr[o] for o in range(trace.objects)] == cpp.addresses
    assert [size[o] for o in range(trace.objects)] == cpp.chunk_sizes


# the plugin author's kit, for each collector setting besides the default (test_conformance.py)
test_cpython_3_14_0_conformance = conformance("cpython", params={"version": "3.14.0"})
test_cpython_free_threaded_conformance = conformance("cpython", params={"build": "free-threaded"})


# -- the free-threaded build (3.13t/3.14t) ----------------------------------------------------------
# (payload, slots, request): PyObject is 32 bytes (ob_tid 8, ob_flags 2, ob_mutex 1, ob_gc_bits 1,
# ob_ref_local 4, ob_ref_shared 8, ob_type 8) and there is no PyGC_Head: a container is 32 + 8 per
# slot and per payload word, as in the default build (16 + 16); a bytes 32 + 8 + 8 + size + 1
FT_LAYOUT = [(16, 2, 32 + 2 * 8 + 2 * 8), (0, 1, 40), (9, 1, 32 + 8 + 16), (8, 0, 57),
             (0, 0, 32), (1024, 0, 1073)]


@pytest.mark.parametrize("payload, slots, nbytes", FT_LAYOUT)
def test_free_threaded_object_sizes(payload, slots, nbytes):
    from memcompare_cpython import layout
    got = layout.object_bytes(np.array([payload]), np.array([slots]), free_threaded=True)
    assert int(got[0]) == nbytes


def test_mimalloc_bins_and_the_pages_a_free_threaded_replay_commits():
    from memcompare_cpython.mimalloc import BIN_BLOCK, mi_bin
    # page-queue.c mi_bin: exact words to 8 (64 bytes), then 4 bins per power of two
    assert [(mi_bin(n), BIN_BLOCK[mi_bin(n)]) for n in (8, 40, 56, 64, 65, 81, 129, 200)] == \
        [(1, 8), (5, 40), (7, 56), (8, 64), (9, 80), (10, 96), (13, 160), (15, 224)]
    # 1171 live containers of one slot and 16 payload bytes: 32 + 8 × 3 = 56-byte blocks, 65536
    # // 56 = 1170 per 64 KiB page: two pages, plus the segment's info slice = 3 × 64 KiB
    t = Recorder()
    kept_alive_chain(t, 1171, payload=16)
    trace = t.build()
    _, out = run(trace, build="free-threaded", gc_enabled=False)
    assert out.stats["mi_pages_made"] == 2 and out.stats["mi_segments_mapped"] == 1
    assert max(out.fp_bytes) == 3 * 64 * 1024
    assert out.allocated_bytes == 1171 * 56


def test_the_free_threaded_collector_runs_on_512_flushes_over_2000_and_a_quarter_of_the_heap():
    # 14000 containers kept alive: young.count grows by 512 per 512 tracked allocations; a
    # collection needs it > 2000 and > long_lived_total / 4 (the survivors of the last one):
    # at 2048 (long-lived 0), 4096 (512), 6144 (1024), 8192 (1536); then > 2048 → 2560 more
    # (10752), then > 2688 → 3072 more (13824). Each examines every live container.
    t = Recorder()
    kept_alive_chain(t, 14000)
    trace = t.build()
    model, out = run(trace, build="free-threaded")
    at = [2048, 4096, 6144, 8192, 10752, 13824]
    assert out.pause_kind == ["full"] * len(at)
    alloc_at = trace.obj_alloc_at
    assert out.pause_at == [int(alloc_at[n - 1]) + 1 for n in at]
    assert out.stats["gc_examined"] == sum(at)
    assert out.stats["gc_long_lived_total"] == 13824
    # the default build collects every 2001 allocations here (young collections)
    _, default = run(trace)
    assert len(default.pause_kind) == 14000 // 2001


def test_free_threaded_needs_3_13_or_later():
    with pytest.raises(ConfigError, match="no free-threaded build"):
        memcompare.replay(memcompare.record("binary-trees"), "cpython", version="3.12",
                          build="free-threaded")


def _deaths(out: Output) -> dict[int, int]:
    return dict(zip(np.asarray(out.reclaimed_ids).tolist(), np.asarray(out.reclaimed_at).tolist()))


def test_an_object_dies_at_its_last_reference_whether_a_register_or_a_holders_slot():
    """Each object dies at the event that drops its last reference (refcount.py): c2's last
    register goes while h's slot still holds it, so it dies in h's cascade; c1's holder dies
    first, so c1 dies at its own register's drop; c3's slot was overwritten with null before
    its register went."""
    t = Recorder()
    h = t.alloc(0, 3)            # 0: object 0
    c1 = t.alloc(0, 0)           # 1: object 1
    c2 = t.alloc(0, 0)           # 2: object 2
    c3 = t.alloc(0, 0)           # 3: object 3
    t.store(h, 0, c1)            # 4
    t.store(h, 1, c2)            # 5
    t.store(h, 2, c3)            # 6
    t.drop(c2)                   # 7: h.1 still holds object 2
    t.store(h, 2, None)          # 8: object 3's slot reference goes
    t.drop(h)                    # 9: object 0 dies, and object 2 with it; object 1 is held
    t.work(10)                   # 10
    t.drop(c1)                   # 11: object 1 dies
    t.drop(c3)                   # 12: object 3 dies
    _, out = run(t.build())
    assert _deaths(out) == {0: 9, 2: 9, 1: 11, 3: 12}
    assert out.stats["largest_cascade"] == 2


def test_3_12_collection_after_an_allocation_over_a_register_sees_its_last_decref_done():
    """3.12+ collects at the eval breaker after the allocating event, so the object that the
    allocation's register held — its last reference — is freed first, and PyObject_GC_Del
    takes the young count back to the threshold: no collection. 3.11 collects inside the
    allocation, before that drop, and examines it alive."""
    from memcompare.trace import ALLOC, CLEAR, build
    op = [ALLOC, ALLOC, ALLOC, ALLOC, CLEAR, CLEAR, CLEAR]
    a = [0, 1, 2, 1, 0, 1, 2]          # event 3 allocates object 3 over r1's object 1
    b = [8, 8, 8, 8, 0, 0, 0]
    c = [1, 1, 1, 1, 0, 0, 0]          # four containers: the 4th passes threshold 3
    trace = build(op, a, b, c)
    _, out12 = run(trace, version="3.12", thresholds=(3, 10, 10))
    _, out11 = run(trace, version="3.11", thresholds=(3, 10, 10))
    assert out12.pause_at == []
    assert out11.pause_at == [3] and [f.tolist() for _, f in out11.collections] == [[]]
    deaths = {1: 3, 0: 4, 3: 5, 2: 6}
    assert _deaths(out12) == deaths and _deaths(out11) == deaths


def test_young_count_settled_in_one_step_is_the_count_one_decrement_at_a_time():
    # PyObject_GC_Del per container freed: "never below 0" (floor, no wrap), or the
    # free-threaded counter's wrap at its floor; the loop applies k of them at once
    from memcompare_cpython.model import _settle

    def one_at_a_time(young, k, floor, wrap):
        wraps = 0
        for _ in range(k):
            if young > floor:
                young -= 1
            elif wrap:
                young += wrap - 1
                wraps += 1
        return young, wraps
    for floor, wrap in ((0, 0), (-512, 512), (-3, 4), (0, 1)):
        for young in range(floor - 2, floor + 12):
            for k in range(0, 30):
                assert _settle(young, k, floor, wrap) == one_at_a_time(young, k, floor, wrap)
