"""The ``jvm`` model (HotSpot Serial / Parallel GC) against numbers derived by hand.

Every expectation follows from HotSpot's rules as the model's modules cite them
(docs/runtimes.md §2), worked through in the comments. Constants used throughout:

- ``-Xmx2m`` (Serial): heap 2 MiB; young = the default NewSize floor, 1.25 MiB (NewRatio would
  give align_down(2 MiB / 3, 64 KiB) = 640 KiB, below ScaleForWordSize(1 MiB) aligned down =
  1 310 720); survivor = align_down(1 310 720 / 10, 64 KiB) = 128 KiB; eden = 1 MiB; old =
  768 KiB. TLAB = eden words / 50 = 131 072 / 50 → 2 621 words = 20 968 bytes.
- A *clock* garbage object of one TLAB less the TLAB's 576-byte end reserve (20 392 bytes,
  payload 20 380, no slots; tlab.py) fills eden like a clock: a new TLAB is min(eden free,
  TLAB + object) = 41 360 bytes, of which 40 784 usable hold two of them, so eden
  (1 048 576 = 25 × 41 360 + 14 576) holds 50, and the 51st finds 14 576 bytes: too few for
  a TLAB (object + reserve = 20 968), no room outside one, and a young collection.
- Object size = align8(12 + payload + 4 × slots) with compressed oops and class pointers.
"""
from __future__ import annotations

import numpy as np
import pytest

import memcompare
from memcompare import Output, Recorder
from memcompare.trace import ALLOC
from memcompare_jvm import Costs, JVMModel, Params
from memcompare_jvm.heap import OLD, SURV, Sizes
from memcompare_jvm.layout import Layout
from memcompare_jvm.policy import PaddedNoZeroDevAverage
from memcompare_jvm.young import tenuring_threshold

K = 1024
TLAB2M = 20968                  # the -Xmx2m TLAB
CLOCK = TLAB2M - 576            # the clock's garbage object: a TLAB less its end reserve
CLOCK_PAYLOAD = CLOCK - 12


def run(trace, **params):
    """Replay with the model alone (no engine): the model, its Output."""
    model = JVMModel(Params(**params), Costs())
    out = Output(trace)
    model.run(trace, out)
    return model, out


def garbage(t: Recorder, count: int, payload: int = CLOCK_PAYLOAD) -> None:
    for _ in range(count):
        t.drop(t.alloc(payload))


def linked_list(t: Recorder, count: int, payload: int):
    """``count`` objects of ``payload`` bytes and one slot, each pointing to the previous;
    returns a handle to the last (the head), which keeps them all alive."""
    head = t.alloc(payload, 1)
    for _ in range(count - 1):
        node = t.alloc(payload, 1)
        t.store(node, 0, head)
        t.drop(head)
        head = node
    return head


# -- sizing -----------------------------------------------------------------------------------

@pytest.mark.parametrize("collector,heap_mb,young_mb,young,eden,survivor,old", [
    # docs/runtimes.md §2.1, JDK 17 -XX:+UseSerialGC -Xmx64m: young 21 824 K = eden
    # 17 472 K + 2 × 2 176 K, tenured 43 712 K. 64 MiB / 3 = 21 845.3 K → aligned down to
    # 64 K: 21 824 K; / 10 = 2 182.4 K → 2 176 K
    ("serial", 64, None, 21824 * K, 17472 * K, 2176 * K, 43712 * K),
    # 256 MiB / 3 = 87 381.3 K → 87 360 K; / 10 = 8 736 K → 8 704 K; eden 87 360 − 17 408
    ("serial", 256, None, 87360 * K, 69952 * K, 8704 * K, 174784 * K),
    # Parallel aligns to 512 K: 87 381.3 K → 87 040 K; 8 704 K is 17 × 512 K already
    ("parallel", 256, None, 87040 * K, 69632 * K, 8704 * K, 175104 * K),
    # -Xmn20m: 20 MiB is aligned; survivor 2 MiB, eden 16 MiB
    ("serial", 64, 20, 20 * 1024 * K, 16 * 1024 * K, 2 * 1024 * K, 44 * 1024 * K),
    # -Xmx2m: the NewSize floor of 1.25 MiB wins over NewRatio (module docstring)
    ("serial", 2, None, 1280 * K, 1024 * K, 128 * K, 768 * K),
    # -Xmn larger than the heap is cut to heap − one alignment (a warning in HotSpot)
    ("serial", 8, 100, 8 * 1024 * K - 64 * K, None, None, 64 * K),
])
def test_generation_sizes(collector, heap_mb, young_mb, young, eden, survivor, old):
    s = Sizes.compute(collector, heap_mb, young_mb, 2, 8)
    assert s.young == young and s.old == old and s.heap == young + old
    if eden is not None:
        assert (s.eden, s.survivor) == (eden, survivor)
    assert s.eden + 2 * s.survivor == s.young


def test_heap_is_rounded_up_to_2_mib():
    # HeapAlignment = 512-byte cards × 4 KiB pages = 2 MiB: -Xmx5m reserves 6 MiB
    assert Sizes.compute("serial", 5, None, 2, 8).heap == 6 * 1024 * K


def test_tlab_is_a_fiftieth_of_eden():
    # 16 MiB eden = 2 097 152 words; / 50 = 41 943 words = 335 544 bytes
    assert Sizes.compute("serial", 64, 20, 2, 8).tlab_size() == 335544
    assert Sizes.compute("serial", 2, None, 2, 8).tlab_size() == TLAB2M


# -- object layout ----------------------------------------------------------------------------

@pytest.mark.parametrize("oops,klass,payload,slots,size", [
    (True, True, 16, 2, 40),       # 12 + 16 + 2 × 4 = 36 → 40
    (False, True, 16, 2, 48),      # 12 + 16 + 2 × 8 = 44 → 48 (JDK 15+: independent flags)
    (False, False, 16, 2, 48),     # 16 + 16 + 2 × 8 = 48
    (True, True, 0, 0, 16),        # new Object(): 12 → 16
    (True, True, 4, 0, 16),        # an int field fills the gap after the header
    (True, True, 8, 2, 32),        # a binary-trees node: 12 + 8 + 8 = 28 → 32
    (True, False, 0, 1, 24),       # 16 + 4 = 20 → 24
])
def test_object_size(oops, klass, payload, slots, size):
    assert Layout.for_flags(oops, klass).object_size(payload, slots) == size


def test_allocated_bytes_use_the_java_layout():
    t = Recorder()
    t.alloc(16, 2)
    t.alloc(0)
    trace = t.build()
    assert run(trace)[1].allocated_bytes == 40 + 16
    assert run(trace, compressed_oops=False)[1].allocated_bytes == 48 + 16


# -- allocation and young collections ---------------------------------------------------------

def test_160_mib_of_dead_objects_in_a_16_mib_eden_give_10_minor_collections():
    # -Xmx64m -Xmn20m: eden 16 MiB = 16 777 216, TLAB 335 544 bytes, objects of 10 824 bytes
    # (payload 10 812). A refill takes TLAB + object = 346 368 bytes, of which the last 576
    # are the TLAB's end reserve: 345 792 usable = 31 objects, 10 248 bytes left. That is more
    # than the refill waste limit (335 544 / 64 = 5 242, + 32 per object allocated outside the
    # TLAB), so the next 157 objects go to shared eden (5 242 + 32 × 156 = 10 234 < 10 248),
    # and the 158th retires the TLAB. A round is 346 368 + 157 × 10 824 = 2 045 736 bytes and
    # 188 objects; eden holds 8 rounds (16 365 888), then a last TLAB (31 objects) and 6
    # shared objects in the 64 960 bytes left, leaving 16: 1 541 objects and 9 refills per
    # eden. 15 501 objects collect at objects 1 542, 3 083, ..., 15 411: 10 times, each
    # finding nothing alive; the 91 objects after the last need one more refill.
    t = Recorder()
    garbage(t, 15501, payload=10812)
    trace = t.build()
    model, out = run(trace, heap_mb=64, young_mb=20)
    st = out.stats
    assert out.gc_counts == {"minor": 10}
    assert st["tlab_bytes"] == 335544 and st["tlab_refills"] == 10 * 9 + 1
    assert st["shared_eden_allocs"] == 10 * (8 * 157 + 6) + 60
    assert st["promoted_bytes"] == 0 and st["survivor_copied_bytes"] == 0
    assert [batch.size for _, batch in out.collections] == [1541] * 10
    # each pause is only the fixed cost plus scanning the trace's one register
    assert out.pause_ns == [200_000.5] * 10
    # footprint: eden's touched pages (16 777 200 → 16 MiB) + card table (32 768 cards)
    assert max(out.fp_bytes) == 16 * 1024 * K + 32 * K


def _survivor_clock(n_gcs: int, **params):
    """A 32-byte object kept alive while ``n_gcs`` young collections happen: it is allocated
    first, so eden's first TLAB is TLAB + 32 = 21 000 bytes, 20 424 usable, and holds it plus
    one garbage object; 24 TLABs of two follow, then one of the 34 936 bytes left holds the
    50th: each eden holds 50 garbage objects (module docstring), and 50 × n + 1 garbage
    objects make n collections."""
    t = Recorder()
    keep = t.alloc(16, 1)                           # 12 + 16 + 4 = 32 bytes
    garbage(t, 50 * n_gcs + 1)
    t.drop(keep)
    return run(t.build(), heap_mb=2, **params)


@pytest.mark.parametrize("mtt,n_gcs,promoted", [
    # age after the n-th collection is n; copy_to_survivor_space promotes once
    # age >= threshold, i.e. at collection threshold + 1
    (15, 15, 0), (15, 16, 32),
    (3, 3, 0), (3, 4, 32),
    (0, 1, 32),                                     # AlwaysTenure-like: first collection
])
def test_an_object_is_promoted_when_its_age_reaches_the_threshold(mtt, n_gcs, promoted):
    model, out = _survivor_clock(n_gcs, max_tenuring_threshold=mtt)
    st = out.stats
    assert out.gc_counts == {"minor": n_gcs}
    assert st["promoted_bytes"] == promoted
    # every collection before the promoting one copies it between the survivor spaces
    assert st["survivor_copied_bytes"] == 32 * (n_gcs - (promoted > 0))
    assert model.heap.gen[0] == (OLD if promoted else SURV)
    # 32 live bytes never approach half a survivor space: the threshold stays at the max
    assert st["tenuring_threshold"] == mtt


def _age_one_survivors(nodes: int, clock: int):
    t = Recorder()
    head = linked_list(t, nodes, 1008)              # 12 + 1008 + 4 = 1 024 bytes each
    garbage(t, clock)
    t.drop(head)
    return run(t.build(), heap_mb=2)


def test_threshold_falls_to_1_when_age_1_survivors_exceed_half_a_survivor_space():
    # Desired survivor size = 128 KiB / 8 × 50 % = 8 192 words. 70 live KiB = 8 960 words
    # of age 1 exceed it: AgeTable::compute_tenuring_threshold returns 1. 70 KiB + 60
    # clock objects (1.33 MB) overflow the 1 MiB eden once but not twice.
    model, out = _age_one_survivors(70, 60)
    assert out.gc_counts == {"minor": 1}
    assert out.stats["survivor_copied_bytes"] == 70 * 1024
    assert out.stats["tenuring_threshold"] == 1
    # 60 KiB = 7 680 words do not: the threshold stays 15
    _, out = _age_one_survivors(60, 60)
    assert out.stats["tenuring_threshold"] == 15


def test_with_threshold_1_the_next_collection_promotes_the_age_1_survivors():
    # 70 KiB + 110 clock objects (2.38 MB) collect twice; at the second the 70 objects
    # have age 1 >= threshold 1 and are promoted (not prematurely: they are old enough);
    # the survivor space is then empty and the threshold back at 15
    _, out = _age_one_survivors(70, 110)
    st = out.stats
    assert out.gc_counts == {"minor": 2}
    assert st["promoted_bytes"] == 70 * 1024 and st["premature_promoted_bytes"] == 0
    assert st["tenuring_threshold"] == 15


def test_threshold_from_the_runtimes_md_log():
    # docs/runtimes.md §2.2: "Desired survivor size 1114112 bytes, new threshold 1" with a
    # 2 176 K survivor (-Xmx64m) and 1.27 MB of age-1 objects: 2 228 224 / 8 × 50 % =
    # 139 264 words = 1 114 112 bytes
    ages = [0] * 16
    ages[1] = 1_270_000
    assert tenuring_threshold(ages, 2176 * K, 50, 15) == 1
    ages[1] = 1_114_112                             # exactly the desired size: not above it
    assert tenuring_threshold(ages, 2176 * K, 50, 15) == 15
    assert tenuring_threshold(ages, 2176 * K, 50, 6) == 6


def _overflow_trace():
    """A root R (40 bytes, 2 slots) → X (204 800 B, 1 slot) → X2 (153 600 B), R → Y
    (256 000 B), held across one young collection of a 4 MiB eden with 512 KiB survivors
    (-Xmx16m -Xmn5m for both collectors: 5 MiB / 10 = 512 KiB is aligned for both)."""
    t = Recorder()
    r = t.alloc(16, 2)                              # 12 + 16 + 8 = 36 → 40
    x = t.alloc(204784, 1)                          # 12 + 204 784 + 4 = 204 800
    x2 = t.alloc(153588)                            # 12 + 153 588 = 153 600
    t.store(x, 0, x2)
    t.drop(x2)
    y = t.alloc(255988)                             # 12 + 255 988 = 256 000
    t.store(r, 0, x)
    t.store(r, 1, y)
    t.drop(x)
    t.drop(y)
    # TLAB 83 880 bytes (524 288 words / 50); 50 of them (4.19 MB) plus the 614 KB above
    # overflow the 4 MiB eden once
    garbage(t, 50, payload=83868)
    t.drop(r)
    return t.build()


@pytest.mark.parametrize("collector,survived,premature,where", [
    # Serial, breadth-first: R, X, Y fit (40 + 204 800 + 256 000 = 460 840); X2 would make
    # 614 440 > 524 288 and is promoted prematurely
    ("serial", 460840, 153600, {"X2": OLD, "Y": SURV}),
    # Parallel, depth-first: R, X, then X's child X2 (358 440); Y would make 614 440 and is
    # promoted instead
    ("parallel", 358440, 256000, {"X2": SURV, "Y": OLD}),
])
def test_survivor_overflow_promotes_prematurely_in_copy_order(collector, survived, premature,
                                                              where):
    model, out = run(_overflow_trace(), heap_mb=16, young_mb=5, collector=collector)
    st = out.stats
    assert out.gc_counts == {"minor": 1}
    assert st["survivor_bytes"] == 512 * K
    assert st["survivor_copied_bytes"] == survived
    assert st["premature_promoted_bytes"] == st["promoted_bytes"] == premature
    gen = model.heap.gen
    assert (gen[2], gen[3]) == (where["X2"], where["Y"])    # object ids: R 0, X 1, X2 2, Y 3
    r = memcompare.replay(_overflow_trace(), "jvm", heap_mb=16, young_mb=5,
                          collector=collector)
    assert r.status == "ok" and r.metrics["leaked_bytes"] == 0


# -- card table -------------------------------------------------------------------------------

def _old_to_young(store: bool, drop_old: bool):
    """O (32 B, 1 slot) is promoted by the first collection (MaxTenuringThreshold = 0); then
    a young Y (32 B) is stored into it (or not) and dropped, and a second collection runs.
    Each eden holds 50 clock objects: 60 + 60 of them make exactly 2 collections."""
    t = Recorder()
    o = t.alloc(16, 1)
    garbage(t, 60)
    y = t.alloc(16)
    if store:
        t.store(o, 0, y)
    t.drop(y)
    if drop_old:
        t.drop(o)
    garbage(t, 60)
    if not drop_old:
        t.drop(o)
    return run(t.build(), heap_mb=2, max_tenuring_threshold=0)


def test_an_old_to_young_pointer_keeps_the_young_object_alive_through_the_card_table():
    model, out = _old_to_young(store=True, drop_old=False)
    st = out.stats
    assert out.gc_counts == {"minor": 2}
    # O at the first collection, Y (found through O's dirty card) at the second
    assert st["promoted_bytes"] == 32 + 32
    assert st["dirty_cards_scanned"] == 1 and st["card_slots_scanned"] == 1
    y = 61
    assert model.heap.gen[y] == OLD
    assert not any(y in batch for _, batch in out.collections)


def test_without_the_store_the_young_object_dies():
    model, out = _old_to_young(store=False, drop_old=False)
    assert out.stats["promoted_bytes"] == 32
    assert out.stats["dirty_cards_scanned"] == 0
    assert 61 in out.collections[1][1]


def test_a_dead_old_object_keeps_its_young_referent_alive_until_a_full_collection():
    # O is unreachable at the second collection, but its card is dirty and scanned anyway
    model, out = _old_to_young(store=True, drop_old=True)
    assert out.stats["promoted_bytes"] == 64
    assert model.heap.gen[61] == OLD and model.heap.gen[0] == OLD
    # the final full collection (held) keeps neither
    ids, _ = model.held()
    assert 0 not in ids and 61 not in ids
    trace = model.trace
    r = memcompare.replay(trace, "jvm", heap_mb=2, max_tenuring_threshold=0)
    assert r.status == "ok" and r.metrics["leaked_bytes"] == 0


def test_card_marks_cost_only_non_null_stores():
    t = Recorder()
    a = t.alloc(16, 2)
    b = t.alloc(16)
    t.store(a, 0, b)
    t.store(a, 1, None)
    _, out = run(t.build())
    c = Costs()
    assert out.mm_ns[2] == c.card_mark_ns        # store of b
    assert out.mm_ns[3] == 0.0                   # store of null: C2 elides the barrier
    assert out.stats["card_marks"] == 1


# -- full collections and OutOfMemoryError ----------------------------------------------------

def test_full_collection_when_old_cannot_take_the_expected_promotion():
    # -Xmx2m, MaxTenuringThreshold = 0: every survivor is promoted. Each round holds a
    # 200-object batch B (204 800 B) across one collection, which a 500 000-byte garbage
    # object G triggers: eden then holds [G][B] (≈ 710 KB) and the next G overflows it.
    # Collections 1-3 promote 204 800 bytes each: old holds 614 400 of 786 432 bytes and
    # the padded average of promoted bytes is 204 800 (equal samples, no deviation).
    # Collection 4: old free 172 032 is below both the padded average and young used, so
    # promotion_attempt_is_safe fails and the heap does a full collection instead, which
    # finds only the current batch alive and compacts it into the old generation.
    t = Recorder()
    prev = None
    for _ in range(4):
        garbage(t, 1, payload=500000 - 12)
        if prev is not None:
            t.drop(prev)
        prev = linked_list(t, 200, 1008)
    garbage(t, 1, payload=500000 - 12)
    t.drop(prev)
    trace = t.build()
    model, out = run(trace, heap_mb=2, max_tenuring_threshold=0)
    assert [kind for kind in out.pause_kind] == ["minor", "minor", "minor", "full"]
    st = out.stats
    assert st["promoted_bytes"] == 4 * 204800      # the full collection moved batch 4 too
    assert model.heap.old_top == 204800           # batches 1-3 are gone
    full_reclaimed = out.collections[-1][1]
    assert full_reclaimed.size == 3 * 200 + 1     # batches 1-3 and the dropped G before it
    r = memcompare.replay(trace, "jvm", heap_mb=2, max_tenuring_threshold=0)
    assert r.status == "ok" and r.metrics["leaked_bytes"] == 0


def test_parallel_skips_a_scavenge_that_would_not_fit_and_never_follows_one_with_a_full():
    # Parallel -Xmx8m: young 2.5 MiB = eden 1.5 MiB + 2 × 512 KiB, old 5.5 MiB (5 767 168);
    # MaxTenuringThreshold = 0. As above, each collection promotes one batch, here 640
    # nodes = 655 360 bytes (a 500 000-byte G triggers it: [G][B] ≈ 1.16 MB fits eden, the
    # next G does not); the padded average stays 655 360. Before the 8th scavenge old has
    # 1 179 648 bytes free, more than min(padded average, young used): it scavenges, leaving
    # 524 288. HotSpot 17.0.15 and 25.0.2 run no full collection right after a successful
    # scavenge (with -Xlog:all=trace neither logs PSAdaptiveSizePolicy::should_full_GC's
    # "after scavenge" line, and message-buffer at 64 MiB runs 6 scavenges and 5 full
    # collections, each full one alone: "Skip scavenge ... Pause Full (Ergonomics)"). So
    # the 9th allocation failure finds min(655 360, young used) ≥ 524 288 free:
    # should_attempt_scavenge skips the scavenge and the full collection runs alone,
    # keeping only batch 9.
    t = Recorder()
    prev = None
    for _ in range(9):
        garbage(t, 1, payload=500000 - 12)
        if prev is not None:
            t.drop(prev)
        prev = linked_list(t, 640, 1008)
    garbage(t, 1, payload=500000 - 12)
    trace = t.build()
    model, out = run(trace, heap_mb=8, collector="parallel", max_tenuring_threshold=0)
    assert out.stats["old_bytes"] == 5767168 and out.stats["eden_bytes"] == 1536 * K
    assert out.pause_kind == ["minor"] * 8 + ["full"]
    assert out.pause_at[-1] > out.pause_at[-2]     # its own safepoint, not after a scavenge
    assert model.heap.old_top == 655360


def test_promotion_failure_is_followed_by_a_full_collection():
    # -Xmx4m -Xmn1m: young 1 MiB, survivor align_down(104 857, 64 K) = 64 KiB, eden
    # 896 KiB, old 3 MiB. A 2 500 000-byte object is larger than eden and goes straight to
    # old (645 728 bytes left). 800 live KiB then meet a young collection with nothing
    # promoted so far (padded average 0: "safe"), all of it due for promotion
    # (MaxTenuringThreshold = 0): the promotion fails part-way, and a full collection
    # compacts the 3.3 MB of live data into old (3 MiB) and eden.
    t = Recorder()
    big = t.alloc(2_500_000 - 12)
    head = linked_list(t, 800, 1008)
    garbage(t, 1, payload=200_000 - 12)
    t.drop(head)
    t.drop(big)
    trace = t.build()
    model, out = run(trace, heap_mb=4, young_mb=1, max_tenuring_threshold=0)
    st = out.stats
    assert st["eden_bytes"] == 896 * K and st["old_bytes"] == 3 * 1024 * K
    assert st["old_direct_allocs"] == 1
    assert out.pause_kind == ["minor", "full"]
    assert st["promotion_failures"] == 1
    assert out.collections[0][1].size == 0        # the failed young collection frees nothing
    r = memcompare.replay(trace, "jvm", heap_mb=4, young_mb=1, max_tenuring_threshold=0)
    assert r.status == "ok" and r.metrics["gc_counts"] == {"full": 1, "minor": 1}
    # old takes the big object and as many 1 KiB nodes as fit: 645 728 // 1 024 = 630;
    # the other 170 stay in eden, which makes the heap "almost full"
    assert model.heap.old_top == 2_500_000 + 630 * 1024
    assert model.eden.almost_full


@pytest.mark.parametrize("dead,kinds", [
    # 100 000 dead bytes at the bottom of old are within the dead-wood allowance, so the
    # first full collection leaves them (and L) in place and the object still does not fit;
    # the last-ditch full collection compacts completely and it does
    (100_000, ["minor", "full", "full"]),
    # 200 000 dead bytes exceed the allowance: the first full collection compacts
    (200_000, ["minor", "full"]),
])
def test_serial_full_collection_leaves_dead_wood_up_to_5_percent_of_old(dead, kinds):
    # -Xmx4m -Xmn1m: eden 896 KiB, old 3 MiB; MarkSweepDeadRatio 5 % of 3 145 728 =
    # 157 286 bytes → 19 660 words = 157 280 bytes may stay as fillers. D (dead bytes) and
    # L (1 000 B) are promoted by the first young collection (MaxTenuringThreshold = 0; D's
    # register comes first, so D is at 0 and L right after it); then D dies and an object
    # of 3 MiB − 1 000 bytes, larger than eden, needs all of old but L's 1 000 bytes.
    t = Recorder()
    d = t.alloc(dead - 12)
    live = t.alloc(1000 - 12)
    garbage(t, 60, payload=18344 - 12)            # 1.1 MB: one young collection
    t.drop(d)
    t.alloc(3 * 1024 * K - 1000 - 12)
    trace = t.build()
    model, out = run(trace, heap_mb=4, young_mb=1, max_tenuring_threshold=0)
    assert out.pause_kind == kinds
    assert 0 in out.collections[1][1]             # D is reclaimed even as dead wood
    assert model.heap.addr[1] == 0 and model.heap.addr[62] == 1000


def test_an_object_larger_than_the_heap_is_out_of_memory_at_its_allocation():
    # 1 MiB + 8 bytes exceeds eden (1 MiB) and old (768 KiB): a full collection, a
    # last-ditch full collection, then OutOfMemoryError at that ALLOC (event 1)
    t = Recorder()
    t.alloc(16)
    t.alloc(1024 * K + 8 - 12)
    trace = t.build()
    r = memcompare.replay(trace, "jvm", heap_mb=2)
    assert r.status == "oom" and r.oom_at == 1
    assert r.stats["full_gcs"] == 2
    assert "Java heap space" in r.error


@pytest.mark.parametrize("collector,nodes", [
    # Serial -Xmx2m: old 768 KiB + eden 1 MiB hold 1 792 nodes of 1 KiB; the full
    # collection compacts them into old, then eden (the from-space only ever receives
    # survivors), so the 1 793rd node (index 1 792) has nowhere to go
    ("serial", 1792),
    # Parallel -Xmx2m: young 1.5 MiB (three 512 KiB alignments) = eden 512 KiB + two
    # survivors of 512 KiB, old 512 KiB: at least old + eden hold their 1 024 nodes, and at
    # most old, eden and one survivor space 1 536 (no full collection follows a scavenge, so
    # a survivor space may still hold nodes when the heap runs out)
    ("parallel", (1024, 1536)),
])
def test_live_data_beyond_the_heap_is_out_of_memory(collector, nodes):
    t = Recorder()
    head = linked_list(t, 2000, 1008)             # 1 KiB nodes that never die
    t.drop(head)
    trace = t.build()
    r = memcompare.replay(trace, "jvm", heap_mb=2, collector=collector)
    assert r.status == "oom"
    assert trace.op[r.oom_at] == ALLOC
    at = int(np.searchsorted(trace.obj_alloc_at, r.oom_at))
    if isinstance(nodes, tuple):
        assert nodes[0] <= at <= nodes[1]
    else:
        assert at == nodes
    assert r.stats["full_gcs"] >= 2                # the last two: normal, then last-ditch


# -- the parallel collector -------------------------------------------------------------------

def test_parallel_pauses_divide_the_serial_work_over_the_threads():
    # 100 live 1 KiB nodes (1 slot each) across one young collection, same sizes for both
    # collectors (-Xmx16m -Xmn5m) and no overflow, so both copy the same objects:
    # W = registers × 0.5 + 100 × 5 + 102 400 × 0.105 + 100 slots × 0.5 ns, plus the first
    # touch of the to-space's 102 400 / 4 096 = 25 pages at 2 100 ns each.
    t = Recorder()
    head = linked_list(t, 100, 1008)
    garbage(t, 51, payload=83868)
    t.drop(head)
    trace = t.build()
    work = trace.registers * 0.5 + 100 * 5 + 102400 * 0.105 + 100 * 0.5 + 25 * 2100
    _, serial = run(trace, heap_mb=16, young_mb=5)
    _, par = run(trace, heap_mb=16, young_mb=5, collector="parallel", gc_threads=4)
    assert serial.gc_counts == par.gc_counts == {"minor": 1}
    assert serial.pause_ns == [pytest.approx(200_000 + work)]
    # fixed 0.2 ms + 4 threads × 20 µs, then the work at 4 × 75 % of one thread's speed
    assert par.pause_ns == [pytest.approx(200_000 + 4 * 20_000 + work / (4 * 0.75))]
    assert par.pause_cpu_ns == [pytest.approx(4 * par.pause_ns[0])]
    _, par8 = run(trace, heap_mb=16, young_mb=5, collector="parallel", gc_threads=8)
    assert par8.pause_ns[0] > 200_000 + 8 * 20_000     # never below its fixed costs


def test_parallel_sends_objects_of_half_eden_to_old():
    # Parallel -Xmx16m -Xmn5m: eden 4 MiB; should_alloc_in_eden is size < eden words / 2,
    # so a 2 MiB object that eden cannot take goes to old; Serial only sends objects larger
    # than eden there
    t = Recorder()
    garbage(t, 1, payload=3 * 1024 * K)
    t.drop(t.alloc(2 * 1024 * K - 12))
    trace = t.build()
    _, par = run(trace, heap_mb=16, young_mb=5, collector="parallel")
    _, ser = run(trace, heap_mb=16, young_mb=5)
    assert par.stats["old_direct_allocs"] == 1 and par.gc_counts == {}
    assert ser.stats["old_direct_allocs"] == 0 and ser.gc_counts == {"minor": 1}


# -- policy details ---------------------------------------------------------------------------

def test_padded_average_of_promoted_bytes():
    # gcUtil.cpp: weights 100/1, 100/2, 100/3 for the first samples (above the weight 10);
    # a zero sample leaves the deviation alone; padded = average + 3 × deviation
    a = PaddedNoZeroDevAverage()
    a.sample(1000)
    assert (a.average, a.deviation, a.padded_bytes) == (1000, 0, 1000)
    a.sample(0)                                   # w = 50: average 500, deviation kept
    assert (a.average, a.deviation, a.padded_bytes) == (500, 0, 500)
    a.sample(2000)                                # w = 33: 0.67 × 500 + 0.33 × 2000 = 995
    assert float(a.average) == pytest.approx(995)
    assert float(a.deviation) == pytest.approx(0.33 * 1005)        # |2000 − 995| × 0.33
    assert a.padded_bytes == int(995 + 3 * 0.33 * 1005)            # 1989


def test_local_objects_are_scalar_replaced_and_their_fields_are_roots():
    # A local object holding a young object in its field, across one collection: with
    # scalar replacement it takes no heap and its field keeps the young object alive; without
    # it, it is a 32-byte object like any other
    t = Recorder()
    loc = t.alloc(16, 1, local=True)
    kept = t.alloc(16)                            # 28 → 32 bytes
    t.store(loc, 0, kept)
    t.drop(kept)
    garbage(t, 51)
    t.free(loc)
    trace = t.build()
    model, out = run(trace, heap_mb=2)
    assert out.stats["scalar_replaced"] == 1
    assert out.allocated_bytes == 32 + 51 * CLOCK
    assert out.gc_counts == {"minor": 1} and out.stats["survivor_copied_bytes"] == 32
    model, out = run(trace, heap_mb=2, scalar_replacement=False)
    assert out.allocated_bytes == 32 + 32 + 51 * CLOCK
    assert out.stats["survivor_copied_bytes"] == 64


# -- every workload ---------------------------------------------------------------------------

WORKLOADS = ["binary-trees", "message-buffer", "lru-cache", "queue-churn", "cyclic-garbage",
             "fragmentation", "large-objects"]
_TRACES: dict[str, object] = {}


def _trace(name):
    if name not in _TRACES:
        _TRACES[name] = memcompare.record(name, **({"max_depth": 10} if name == "binary-trees"
                                                  else {}))
    return _TRACES[name]


@pytest.mark.parametrize("collector", ["serial", "parallel"])
@pytest.mark.parametrize("heap_mb", [256, 16])
@pytest.mark.parametrize("name", WORKLOADS)
def test_every_workload_is_safe_and_leaks_nothing(name, heap_mb, collector):
    # the conftest's full check re-traces the heap at every collection
    r = memcompare.replay(_trace(name), "jvm", heap_mb=heap_mb, collector=collector)
    assert r.status == "ok", r.error
    m = r.metrics
    assert m["leaked_bytes"] == 0
    assert m["footprint_peak_bytes"] <= 2 * heap_mb * 1024 * K
    assert m["gc_count"] == r.stats["minor_gcs"] + r.stats["full_gcs"]
    if heap_mb == 16 and name in ("message-buffer", "fragmentation", "large-objects"):
        assert m["gc_count"] > 0                  # the small heap does collect


@pytest.mark.parametrize("params", [{"heap_mb": 4},
                                    {"heap_mb": 8, "collector": "parallel"},
                                    {"heap_mb": 8, "collector": "g1"}])
def test_replay_is_deterministic(params):
    trace = _trace("message-buffer")
    a = memcompare.replay(trace, "jvm", **params)
    b = memcompare.replay(trace, "jvm", **params)
    assert repr(a.metrics) == repr(b.metrics) and a.stats == b.stats


# -- Epsilon, first touch, layout (issue 9) ---------------------------------------------------

EPS_TLAB = 83880        # -Xmx4m Epsilon: desired TLAB = 4 MiB / 8 / 50 = 10 485 words
EPS_OBJ = EPS_TLAB - 576  # a TLAB less its end reserve (tlab.py): two fill a refill exactly


def test_epsilon_runs_out_exactly_when_the_allocated_bytes_exceed_the_heap():
    # Epsilon -Xmx4m: one 4 194 304-byte space, never collected (JEP 318). Objects of 83 304
    # bytes (= align8(12 + 83 292)) go two per TLAB (min(free, TLAB + object) = 167 184, less
    # the 576-byte reserve = 2 × 83 304), so 25 TLABs hold 50 objects = 4 165 200 bytes; the
    # 51st (4 248 504 bytes in all > 4 194 304) finds 14 704 bytes: OutOfMemoryError.
    t = Recorder()
    garbage(t, 50, payload=EPS_OBJ - 12)
    ok = t.build()
    _, out = run(ok, collector="epsilon", heap_mb=4)
    assert out.gc_counts == {} and out.pause_ns == []
    assert out.allocated_bytes == 50 * EPS_OBJ <= 4 * 1024 * K < 51 * EPS_OBJ
    t = Recorder()
    garbage(t, 51, payload=EPS_OBJ - 12)
    trace = t.build()
    r = memcompare.replay(trace, "jvm", collector="epsilon", heap_mb=4)
    assert r.status == "oom"
    assert r.oom_at == int(trace.obj_alloc_at[50])


def test_epsilon_has_no_card_marking_barrier():
    # 100 stores of a non-null reference: Serial pays 100 card marks of 0.5 ns, Epsilon none
    t = Recorder()
    a, b = t.alloc(16, 1), t.alloc(16, 0)
    for _ in range(100):
        t.store(a, 0, b)
    trace = t.build()
    _, ser = run(trace, always_pre_touch=True)
    _, eps = run(trace, collector="epsilon", heap_mb=4, always_pre_touch=True)
    assert ser.mm_ns.sum() - eps.mm_ns.sum() == pytest.approx(100 * 0.5)


def test_filling_eden_once_costs_its_pages_in_first_touch():
    # -Xmx2m: eden 1 MiB = 256 pages of 4 KiB. The 50 clock objects fill 25 TLABs of 41 360
    # bytes (module docstring) and write all of them but the last TLAB's 576-byte reserve:
    # 1 033 424 bytes = 253 pages (252.3); no collection yet. Cold, each page costs
    # page_fault_ns = 2 100 ns in the allocation that first writes it; pre-touched, none.
    t = Recorder()
    garbage(t, 50)
    trace = t.build()
    _, cold = run(trace, heap_mb=2)
    _, warm = run(trace, heap_mb=2, always_pre_touch=True)
    assert cold.gc_counts == warm.gc_counts == {}
    assert cold.stats["page_faults"] == 253 and warm.stats["page_faults"] == 0
    assert cold.mm_ns.sum() - warm.mm_ns.sum() == pytest.approx(253 * 2100)


def test_a_young_collection_pays_the_pages_its_copy_writes_first():
    # -Xmx16m -Xmn5m: 100 live 1 KiB nodes (1 008 + 12 + 4 = 1 024 bytes) survive one young
    # collection into an untouched to-space: 102 400 bytes = 25 pages, 52 500 ns more cold.
    t = Recorder()
    head = linked_list(t, 100, 1008)
    garbage(t, 51, payload=83868)
    t.drop(head)
    trace = t.build()
    _, cold = run(trace, heap_mb=16, young_mb=5)
    _, warm = run(trace, heap_mb=16, young_mb=5, always_pre_touch=True)
    assert cold.gc_counts == warm.gc_counts == {"minor": 1}
    assert cold.pause_ns[0] - warm.pause_ns[0] == pytest.approx(25 * 2100)


def test_always_pre_touch_footprint_is_the_whole_heap_from_the_start():
    # -Xmx2m pre-touched: eden 1 MiB + 2 × 128 KiB + old 768 KiB = 2 MiB of pages, plus the
    # card table's 2 MiB / 512 = 4 096 bytes = one page
    t = Recorder()
    t.drop(t.alloc(16))
    r = memcompare.replay(t.build(), "jvm", heap_mb=2, always_pre_touch=True)
    assert r.metrics["footprint_peak_bytes"] == 2 * 1024 * K + 4096


@pytest.mark.parametrize("payload,nslots,each", [
    (0, 0, 16),          # align8(12) = 16: new Object()
    (4, 1, 24),          # 12 + 4 + 4 = 20 → 24
    (100, 3, 128),       # 12 + 100 + 12 = 124 → 128
    (1000, 0, 1016),     # 12 + 1000 = 1012 → 1016
])
def test_allocated_bytes_are_the_layout_by_hand(payload, nslots, each):
    t = Recorder()
    for _ in range(1000):
        t.drop(t.alloc(payload, nslots))
    r = memcompare.replay(t.build(), "jvm")
    assert r.metrics["allocated_bytes"] == 1000 * each


# -- G1 and Parallel's adaptive size policy through the plugin author's conformance kit -------
from memcompare.testing import conformance  # noqa: E402

test_jvm_g1_conformance = conformance("jvm", params={"collector": "g1"})
# a 16 MiB heap of 1 MiB regions: the kit's traces collect, mark and run mixed collections
test_jvm_g1_small_heap_conformance = conformance("jvm", params={"collector": "g1",
                                                                 "heap_mb": 16})
test_jvm_parallel_fixed_conformance = conformance(
    "jvm", params={"collector": "parallel", "adaptive_size_policy": False})


# -- G1 (memcompare_jvm/g1.py) ----------------------------------------------------------------

from memcompare_jvm.g1 import humongous_threshold, region_size  # noqa: E402

MiB = 1024 * K


@pytest.mark.parametrize("heap_mb,explicit,region_mb", [
    (64, None, 1),          # 64 MiB / 2048 = 32 KiB, below the 1 MiB minimum
    (3000, None, 1),        # 1.46 MiB rounds down to a power of two
    (4096, None, 2),        # exactly 2 MiB
    (8192, None, 4),
    (100 * 1024, None, 32),  # 50 MiB, clamped to the 32 MiB maximum
    (64, 4, 4),             # -XX:G1HeapRegionSize=4m
    (64, 3, 2),             # not a power of two: rounded down
])
def test_g1_region_size(heap_mb, explicit, region_mb):
    # heapRegion.cpp setup_heap_region_size: max(heap / 2048, 1 MiB) → power of two → 1..32 MiB
    assert region_size(heap_mb * MiB, explicit) == region_mb * MiB


def test_g1_region_size_is_reported_under_the_parameter_name():
    out = run(Recorder().build(), collector="g1", heap_mb=4096)[1].stats
    assert out["region_mb"] == 2 and out["regions"] == 2048


def test_g1_humongous_threshold_is_half_a_region():
    assert humongous_threshold(MiB) == 512 * K
    # align8(12 + payload) = 512 KiB exactly is not humongous (word_size > threshold);
    # 8 bytes more is, and goes to its own region instead of eden
    for payload, humongous in ((512 * K - 12, 0), (512 * K - 4, 1)):
        t = Recorder()
        t.drop(t.alloc(payload, 0))
        stats = run(t.build(), collector="g1", heap_mb=64)[1].stats
        assert stats["old_direct_allocs"] == humongous, payload


def dead_bytes(total, each=1024):
    """``total`` bytes of dead objects of ``each`` bytes (align8(12 + payload) = each)."""
    t = Recorder()
    for _ in range(total // each):
        t.drop(t.alloc(each - 12, 0))
    return t.build()


@pytest.mark.parametrize("threads,eden_regions", [(4, 13), (2, 6)])
def test_g1_first_young_collection_eden(threads, eden_regions):
    # 64 MiB heap, 1 MiB regions: young 3 (5 %) .. 38 (60 %) regions. The predictions start
    # from g1Analytics.cpp's seeds, each doubled by the deviation rule for one sample (davg +
    # 0.5 × davg × (5 − 1) / 2): constant other 5 → 10 ms; young other per region 0.15 →
    # 0.3 ms (4 threads) / 0.2 → 0.4 ms (2); copy 0.000015 → 0.00003 ms/B (4) / 0.00003 →
    # 0.00006 (2). The survival of n regions is predicted as 0.4 × (n + 1) regions
    # (G1SurvRateGroup before its first finalize). 4 threads: 13 regions take 10 + 13 × 0.3
    # + 5.6 MiB × 0.00003 = 190.1 ms, inside the 200 ms goal; 14 take 202.9 ms. 2 threads:
    # 6 regions 10 + 2.4 + 2.8 MiB × 0.00006 = 188.6 ms; 7 regions 214.1 ms. (HotSpot 17 logs
    # "Eden regions: 5->0(13)" and "(6)" after the System.gc() before a replay.)
    stats = run(dead_bytes(1024), collector="g1", heap_mb=64, gc_threads=threads)[1].stats
    assert stats["first_eden_regions"] == eden_regions
    # so the first young collection comes once eden_regions MiB of garbage are allocated
    under = run(dead_bytes((eden_regions - 1) * MiB), collector="g1", heap_mb=64,
                gc_threads=threads)[1]
    over = run(dead_bytes((eden_regions + 1) * MiB), collector="g1", heap_mb=64,
               gc_threads=threads)[1]
    assert under.gc_counts["minor"] == 0 and over.gc_counts["minor"] == 1


def g1_policy(heap_mb, **params):
    from memcompare_jvm.g1 import G1Policy
    return G1Policy(Params(collector="g1", heap_mb=heap_mb, **params), heap_mb * MiB)


def test_g1_young_target_keeps_the_reserve_out_of_the_space_check():
    # JDK 17 calculate_young_list_target_length: will_fit counts the free regions less the
    # G1ReservePercent reserve. 64 regions, reserve ceil(6.4) = 7, so 57; with a pause goal
    # that never binds only the space check decides: 2.2 (safety: 100/50 × 110/100) × the
    # predicted survivors 0.4 × (e + 1) regions must fit in 57 − e regions: e = 29 fits
    # (26.4 ≤ 28), e = 30 does not (27.28 > 27). (Without the reserve: 33. HotSpot 17 at
    # 256 MiB with -XX:MaxGCPauseMillis=100000 logs "Eden regions: 5->0(119)": 252 free
    # regions less 26 reserved, 0.88 (e + 1) ≤ 226 − e gives 119.)
    p = g1_policy(64, max_gc_pause_ms=100000, gc_threads=4)
    assert p.young_target(0, 64) == 29
    assert g1_policy(256, max_gc_pause_ms=100000).young_target(0, 252) == 119


def test_g1_young_target_is_the_minimum_before_mixed_collections():
    # JDK 17 young_list_target_lengths: outside the young-only phase the target is the desired
    # minimum, G1NewSizePercent 5 % of 64 regions = 3 (and at least survivors + 1)
    p = g1_policy(64)
    assert p.young_target(1, 50, young_only=False) == 3
    assert p.young_target(4, 50, young_only=False) == 5
    assert p.young_target(1, 50) > 3


def test_g1_base_time_prices_the_survivor_regions():
    # predict_base_elapsed_time_ms + predict_survivor_regions_evac_time, 4 GC threads, fresh
    # sequences (one seed each, so a prediction is 2 × the seed): constant other 10 ms, no
    # cards; one full survivor region costs young other 0.3 ms + 1 MiB × its survival 0.8
    # (InitialSurvivorRate 0.4 doubled) × 0.00003 ms/B = 25.166 ms; while marking (fewer
    # than 3 during-marking samples) the copy costs 1.1 times that
    a = g1_policy(64, gc_threads=4).analytics
    assert a.base_time_ms() == pytest.approx(10.0)
    assert a.base_time_ms([MiB]) == pytest.approx(10.0 + 0.3 + MiB * 0.8 * 0.00003)
    assert a.base_time_ms([MiB, MiB // 2]) == pytest.approx(
        10.0 + 0.6 + 1.5 * MiB * 0.8 * 0.00003)
    assert a.base_time_ms([MiB], marking=True) == pytest.approx(
        10.0 + 0.3 + 1.1 * MiB * 0.8 * 0.00003)


def test_g1_survival_predictors_fill_in_only_outside_marking():
    # G1SurvRateGroup::fill_in_last_surv_rates: after 3 regions survive at 1.0, a collection
    # of one region at 0.0 gives the ages beyond it that 0.0 as a sample, unless the
    # collection ran during marking (should_update_surv_rate_group_predictors)
    from memcompare_jvm.g1 import SurvRateGroup
    g, h = SurvRateGroup(), SurvRateGroup()
    for grp in (g, h):
        grp.record([1.0, 1.0, 1.0], True)
    g.record([0.0], True)
    h.record([0.0], False)
    assert g.preds[2].num == 2 and g.preds[2].last == 0.0
    assert h.preds[2].num == 1 and h.preds[2].last == 1.0


def test_g1_marks_and_runs_mixed_collections_when_old_passes_the_ihop():
    # message-buffer keeps a 20 000-message window (≈20 MiB) in a 32 MiB heap: old passes 45 %
    # of the heap, marking starts, and mixed collections reclaim old regions
    trace = memcompare.record("message-buffer", messages=100000, window=20000)
    r = memcompare.replay(trace, "jvm", collector="g1", heap_mb=32)
    assert r.status == "ok"
    assert r.stats["concurrent_cycles"] >= 1 and r.stats["remark_pauses"] >= 1
    assert r.metrics["gc_counts"]["mixed"] >= 1 and r.stats["old_cset_regions"] >= 1
    # (HotSpot 17 on this trace, 4 GC threads, cold: 75-77 young, 1-3 mixed and 9-10 full
    # collections; the model, with the JVM's own 4 regions: 76, 4 and 8 — and 77, 8 and 0
    # without them, an empty heap the twin never has)


def test_g1_the_jvms_own_regions_are_not_free():
    # HotSpot 17 starts the program with 2 CDS archive regions and 2 old regions of its own
    # (-Xlog:gc+heap after the replayer's System.gc(): 252 of 256 regions free). With the
    # pause goal out of the way only the space check sizes the first eden: 2.2 × 0.4 (e + 1)
    # ≤ (free − 26 reserved) − e: 252 free gives e ≤ 119.7, HotSpot's logged "(119)"; an
    # empty heap (runtime_regions = 0, 256 free) gives e ≤ 121.8
    for rt, eden in ((4, 119), (0, 121)):
        stats = run(dead_bytes(MiB), collector="g1", heap_mb=256, max_gc_pause_ms=100000,
                    runtime_regions=rt)[1].stats
        assert stats["first_eden_regions"] == eden
    # and they count in the IHOP occupancy (non_young_capacity_bytes: old, humongous and
    # archive regions): at 64 MiB, IHOP 45 % = 28.8 MiB; a live 26 MiB array (26 humongous
    # regions) asks for concurrent marking only on top of the JVM's 4 regions (30 > 28.8)
    for rt, starts in ((4, 1), (0, 0)):
        t = Recorder()
        t.alloc(26 * MiB - 16, 0)
        stats = run(t.build(), collector="g1", heap_mb=64, adaptive_ihop=False,
                    runtime_regions=rt)[1].stats
        assert stats["concurrent_start_gcs"] == starts


def test_g1_adaptive_ihop_threshold():
    # g1IHOPControl.cpp G1AdaptiveIHOPControl, 64 MiB: until 3 marking lengths and 3 old-gen
    # allocation rates are known the threshold is the static 45 % (30 198 988 B); then it is
    # the heap less G1ReservePercent 10 + G1HeapWastePercent 5 (57 042 534 B) less the
    # predicted marking length × allocation rate and the last unrestrained young length.
    # Three equal samples (alpha 0.05) of 0.01 s and 100 MB/s predict 0.01 × (1 + 0.5 ×
    # (5 − 3) / 2) = 0.015 s and 150 MB/s: 2 250 000 B; with 5 young regions (5 MiB) the
    # threshold is 57 042 534 − 2 250 000 − 5 242 880 = 49 549 654 B.
    p = g1_policy(64)
    assert p.ihop_threshold() == int(45 * 64 * MiB / 100)
    for _ in range(3):
        p.marking_times.add(0.01)
        p.alloc_rates.add(100e6)
    p.unrestrained_young = 5
    assert p.ihop_threshold() == int(64 * MiB * 0.85) - 2_250_000 - 5 * MiB
    static = g1_policy(64, adaptive_ihop=False)
    for _ in range(3):
        static.marking_times.add(0.01)
        static.alloc_rates.add(100e6)
    assert static.ihop_threshold() == int(45 * 64 * MiB / 100)


@pytest.mark.parametrize("payload,seen", [(1024, False), (512, True)])
def test_g1_ihop_sees_only_promotions_through_old_plabs(monkeypatch, payload, seen):
    # record_obj_copy_mem_stats gives the IHOP control the old PLABs handed out; an object of
    # at least ParallelGCBufferWastePct (10 %) of the 8 KiB OldPLABSize is copied directly and
    # is not in it (may_throw_away_buffer, g1Allocator.cpp). A message of 1024 bytes is 1 040
    # with its 16-byte header: ≥ 819.2, unseen; one of 512 (528) goes through PLABs, seen. The
    # ring (20 000 compressed references + a 16-byte array header = 80 016 B) is promoted
    # once, directly, in both.
    from memcompare_jvm import g1
    reported = []
    real = g1.G1Run.update_ihop

    def spy(self, i, mixed, conc_start, promoted):
        reported.append(promoted)
        return real(self, i, mixed, conc_start, promoted)

    monkeypatch.setattr(g1.G1Run, "update_ihop", spy)
    trace = memcompare.record("message-buffer", messages=60000, window=20000, payload=payload)
    r = memcompare.replay(trace, "jvm", collector="g1", heap_mb=64)
    assert r.status == "ok" and r.stats["promoted_bytes"] > 0
    ring = 16 + 4 * 20000
    assert sum(reported) == (r.stats["promoted_bytes"] - ring if seen else 0)


def test_g1_candidate_pruning_decides_mixed_collections():
    # G1CollectionSetChooser::prune + next_gc_should_be_mixed (JDK 17), 64 MiB heap: 5 % =
    # 3 355 443 B may be left behind. Mixed collections follow whenever a candidate is left.
    from memcompare_jvm.g1 import prune_candidates
    heap = 64 * MiB
    # one candidate: no pruning below the minimum old regions (ceil(1 / 8) = 1)
    assert prune_candidates([100_000], heap) == 1
    # three small ones: 0.7 + 0.8 + 0.9 MB ≤ 3.36 MB, and the closure only stops once it has
    # dropped more than 3 − 1 = 2, so all three go: no mixed collection
    assert prune_candidates([900_000, 800_000, 700_000], heap) == 0
    # 0.9 + 1.0 MB dropped, adding 2.0 MB would exceed the waste: one is kept
    assert prune_candidates([2_000_000, 1_000_000, 900_000], heap) == 1
    # nine regions (minimum ceil(9 / 8) = 2): it stops after dropping 8 (> 9 − 2), so one
    # is kept even when all are tiny; 0.5 MB each: 6 dropped (3.0 MB), a 7th would exceed
    assert prune_candidates([10_000] * 9, heap) == 1
    assert prune_candidates([500_000] * 9, heap) == 3


def test_g1_cleanup_follows_the_remembered_set_rebuild():
    # g1ConcurrentMarkThread.cpp (JDK 17): Remark, then Concurrent Rebuild Remembered Sets,
    # then the Cleanup pause. Once the ring has moved on, the window's old regions hold
    # garbage (live below 85 %), so the rebuild has work and Cleanup comes at a later
    # collection request than Remark, with a young collection between (the first cycle,
    # whose old regions are all fully live, has nothing to rebuild). HotSpot 17 on
    # message-buffer at 64 MiB: "Pause Remark", a young pause, then "Pause Cleanup".
    trace = memcompare.record("message-buffer", messages=100000, window=20000)
    _, out = run(trace, collector="g1", heap_mb=32)
    kinds = [k for k in out.pause_kind if k in ("remark", "cleanup", "minor", "mixed")]
    remarks = [j for j, k in enumerate(kinds) if k == "remark"]
    assert len(remarks) >= 2
    assert kinds.count("cleanup") in (len(remarks), len(remarks) - 1)
    between = [kinds[j + 1] for j in remarks[1:] if j + 2 < len(kinds)]
    assert between and all(k in ("minor", "mixed") for k in between)


def test_g1_dead_humongous_byte_arrays_are_reclaimed_by_young_collections():
    # 40 dead 600 KiB byte arrays (humongous with 1 MiB regions) and 40 MiB of small garbage:
    # eager reclaim frees them at young collections, no marking needed
    t = Recorder()
    for _ in range(40):
        t.drop(t.alloc(600 * K, 0))
        for _ in range(1024):
            t.drop(t.alloc(1012, 0))
    r = memcompare.replay(t.build(), "jvm", collector="g1", heap_mb=64)
    assert r.status == "ok" and r.stats["old_direct_allocs"] == 40
    assert r.stats["humongous_eagerly_reclaimed"] > 0


def test_g1_card_enqueues_are_concurrent_refinement():
    # an old object stored into after it was promoted dirties (and enqueues) its card once
    t = Recorder()
    holder = t.alloc(16, 1)
    for _ in range(40 * 1024):               # 40 MiB of garbage: holder is promoted
        t.drop(t.alloc(1012, 0))
    for _ in range(10):
        x = t.alloc(16, 0)
        t.store(holder, 0, x)
        t.drop(x)
    _, out = run(t.build(), collector="g1", heap_mb=64, max_tenuring_threshold=0)
    assert out.stats["refined_cards"] >= 1
    assert out.concurrent_ns >= out.stats["refined_cards"] * Costs().g1_refine_ns_per_card


# -- Parallel's adaptive size policy (memcompare_jvm/asp.py) ------------------------------------

def test_parallel_adaptive_initial_layout_uses_initial_survivor_ratio():
    # -Xmn20m, UseAdaptiveSizePolicy: InitialSurvivorRatio 8 → survivor = 20 MiB / 8 = 2.5 MiB
    # (a multiple of the 512 KiB alignment), eden 15 MiB; without the policy jvm-native passes
    # -XX:SurvivorRatio=8, so InitialSurvivorRatio = 10: survivor 2 MiB, eden 16 MiB
    on = run(Recorder().build(), collector="parallel", heap_mb=100, young_mb=20)[1].stats
    off = run(Recorder().build(), collector="parallel", heap_mb=100, young_mb=20,
              adaptive_size_policy=False)[1].stats
    assert (on["eden_bytes"], on["survivor_bytes"]) == (15 * MiB, 5 * MiB // 2)
    assert (off["eden_bytes"], off["survivor_bytes"]) == (16 * MiB, 2 * MiB)


def test_parallel_eden_after_a_resize():
    # 768 KiB stay live throughout; ≈100 MiB of 1 KiB garbage. Every scavenge copies the same
    # 768 KiB (no overflow of the 2.5 MiB to-space), so the padded average survived is 768 KiB
    # and the survivor target align_up(768 KiB, 512 KiB) = 1 MiB. The GC cost (a 0.2 ms pause
    # against ≈0.9 ms of mutator time) is far above 1 %, so eden wants to grow (throughput
    # goal) but is held at the young generation less both survivors: 20 − 2 × 2.5 = 15 MiB.
    # The 5th scavenge makes the policy ready and shrinks the survivors to 1 MiB; the 6th then
    # grows eden to 20 − 2 × 1 = 18 MiB. The 7th would need 90 + 18 MiB of allocation.
    t = Recorder()
    keep = [t.alloc(1012, 0) for _ in range(768)]
    for _ in range(100 * 1024):
        t.drop(t.alloc(1012, 0))
    for h in keep:
        t.drop(h)
    model, out = run(t.build(), collector="parallel", heap_mb=100, young_mb=20)
    assert out.gc_counts["minor"] == 6
    assert out.stats["survivor_bytes_last"] == MiB
    assert out.stats["eden_bytes_last"] == 18 * MiB
    # the tenuring threshold starts at InitialTenuringThreshold 7 and, once ready, steps down
    # by one per scavenge (minor cost > major cost × 1.1 with no full collection): 5 after two
    assert out.stats["tenuring_threshold"] == 5


def test_g1_live_data_beyond_the_heap_is_out_of_memory():
    # -Xmx2m under G1: two 1 MiB regions. 2 000 never-dying 1 KiB nodes (≈2 MiB) cannot all
    # stay: the allocations escalate to full collections and OutOfMemoryError at an ALLOC
    # before the 2 048th node (two regions hold 2 048 nodes with nothing else in them; the
    # JVM's own regions left out: runtime_regions = 0)
    t = Recorder()
    head = linked_list(t, 2000 + 100, 1008)
    t.drop(head)
    trace = t.build()
    r = memcompare.replay(trace, "jvm", heap_mb=2, collector="g1", runtime_regions=0)
    assert r.status == "oom" and trace.op[r.oom_at] == ALLOC
    assert int(np.searchsorted(trace.obj_alloc_at, r.oom_at)) < 2048
    assert r.stats["full_gcs"] >= 1
    # the same list in 4 MiB fits, but not beside the JVM's own regions: HotSpot 17 at
    # -Xms4m -Xmx4m keeps 2 archive regions and 1 old region after a System.gc() and throws
    # OutOfMemoryError on 2 100 live byte[1008] (the model takes 3 of its 4 regions: all
    # but one)
    assert memcompare.replay(trace, "jvm", heap_mb=4, collector="g1",
                             runtime_regions=0).status == "ok"
    assert memcompare.replay(trace, "jvm", heap_mb=4, collector="g1").status == "oom"


def test_parallel_pause_goal_shrinks_eden():
    # -XX:MaxGCPauseMillis=1 with every young pause costing over 2 ms (young_pause_ns): the
    # padded average minor pause exceeds the goal after each scavenge, so eden shrinks by
    # 20 % / 4 of itself aligned down to 512 KiB: 15 MiB × 5 % = 768 KiB → 512 KiB a step.
    # 60 MiB of garbage: scavenges at 15, 29.5, 43.5 and 57 MiB; eden 15 → 14.5 → 14 →
    # 13.5 → 13 MiB. Without a goal eden stays at its 15 MiB limit (young − 2 × 2.5 MiB).
    t = Recorder()
    for _ in range(60 * 1024):
        t.drop(t.alloc(1012, 0))
    trace = t.build()
    model = JVMModel(Params(collector="parallel", heap_mb=100, young_mb=20, max_gc_pause_ms=1),
                     Costs(young_pause_ns=2_000_000))
    out = Output(trace)
    model.run(trace, out)
    assert out.gc_counts["minor"] == 4 and out.stats["eden_bytes_last"] == 13 * MiB
    free = JVMModel(Params(collector="parallel", heap_mb=100, young_mb=20),
                    Costs(young_pause_ns=2_000_000))
    out = Output(trace)
    free.run(trace, out)
    assert out.stats["eden_bytes_last"] == 15 * MiB


def test_g1_copy_cost_sample_includes_the_first_write_faults(monkeypatch):
    # record_collection_pause_end samples the copy cost as the ObjCopy phase's average time
    # per copied byte, and G1's workers take the first-write page faults of the survivor and
    # old regions they copy into (the heap is committed without AlwaysPreTouch). One young
    # collection copies a live window of 1 KiB messages into regions never written before,
    # so it faults at least a page per 4 KiB copied, and the sample carries those faults at
    # page_fault_ns each: the survivors' share over the workers (4 threads), the share of
    # the messages promoted directly into the one old region at one thread's speed (each
    # 1 KiB message is over 10 % of the 8 KiB old PLAB), both at parallel_efficiency 0.75
    from memcompare_jvm import g1
    samples = []
    real = g1.Analytics.report_cost_per_byte
    monkeypatch.setattr(g1.Analytics, "report_cost_per_byte",
                        lambda self, v, marking: (samples.append(v), real(self, v, marking)))
    trace = memcompare.record("message-buffer", messages=14000, window=20000)
    runs = {}
    for pf in (0.0, 2100.0):
        samples.clear()
        r = memcompare.replay(trace, "jvm", collector="g1", heap_mb=256, gc_threads=4,
                              costs={"page_fault_ns": pf})
        assert r.metrics["gc_counts"] == {"minor": 1}
        runs[pf] = (samples[0], r.stats)
    (v0, st), (v1, _) = runs[0.0], runs[2100.0]
    copied = st["survivor_copied_bytes"] + st["promoted_bytes"]
    direct = st["promoted_bytes"] / copied
    assert 0 < direct < 1
    faults = (v1 - v0) * 0.75 * 1e6 * copied / 2100.0 / (direct + (1 - direct) / 4)
    assert faults == pytest.approx(round(faults), abs=1e-6)
    assert round(faults) >= copied // 4096


def test_g1_direct_promotions_are_not_shared_among_workers():
    # An object of 10 % of the 8 KiB old PLAB or more (820 B) is promoted by a CAS on the top
    # of the one old GC alloc region (G1PLABAllocator::allocate_direct_or_new_plab), so its
    # copying is not divided among the GC threads; smaller ones go through each worker's
    # PLAB and are. Only copying is priced (1 ns/B): with MaxTenuringThreshold 0 a young
    # collection promotes the 1,000 live objects, 2,016 B each (align8(12 + 2,000)) or 112 B
    # each (align8(12 + 100)), in a pause of bytes / (threads × 0.75), the direct bytes
    # at one thread's speed: bytes / 0.75 whatever the threads
    costs = {k: 0.0 for k in ("young_pause_ns", "gc_thread_ns", "g1_region_ns",
                              "scan_ns_per_slot", "copy_ns_per_object", "page_fault_ns",
                              "dirty_card_ns", "tlab_alloc_ns", "zero_ns_per_byte",
                              "tlab_refill_ns", "g1_barrier_ns")}
    costs["copy_ns_per_byte"] = 1.0
    for payload, each, direct in ((2000, 2016, True), (100, 112, False)):
        t = Recorder()
        live = [t.alloc(payload, 0) for _ in range(1000)]
        for _ in range(125 * 1024):             # 125 MiB of garbage: the first eden, of 119
            # regions with the pause goal out of the way, fills once
            t.drop(t.alloc(1012, 0))
        assert live
        trace = t.build()
        for threads in (1, 4):
            r = memcompare.replay(trace, "jvm", collector="g1", heap_mb=256,
                                  gc_threads=threads, max_tenuring_threshold=0,
                                  max_gc_pause_ms=100000, costs=costs)
            assert r.metrics["gc_counts"] == {"minor": 1}
            assert r.stats["promoted_bytes"] == 1000 * each
            share = 1 if direct or threads == 1 else threads
            assert r.metrics["pause_max_s"] == pytest.approx(1000 * each / share / 0.75 / 1e9)
