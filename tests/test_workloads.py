"""The seven built-in workloads: each records a valid trace that frees everything it allocates.

Every workload is recorded through its registered class, exactly as the engine would, and its
trace is validated by ``Recorder.build`` (which rejects any invalid FREE). The hand-derived
expectations below are computed from the workloads' documented shapes, never by running them.
"""
from __future__ import annotations

import random
import sys
from collections import OrderedDict

import numpy as np
import pytest

from memcompare.errors import ConfigError
from memcompare.params import build, fields
from memcompare.plugins import Plugins
from memcompare.trace import FREE, LOAD, STORE, WORK, Recorder, Trace

NAMES = ["binary-trees", "message-buffer", "lru-cache", "queue-churn", "cyclic-garbage",
         "fragmentation", "large-objects"]
UNSEEDED = {"binary-trees", "message-buffer"}
SEEDED = [n for n in NAMES if n not in UNSEEDED]
#: "roughly 50k-150k events" at the defaults, so a quick comparison of all seven under every
#: model takes seconds
MIN_EVENTS, MAX_EVENTS = 50_000, 150_000

_CLASSES = {}
_DEFAULTS: dict[str, Trace] = {}


def workload_class(name: str):
    if not _CLASSES:
        _CLASSES.update({n: e.cls for n, e in Plugins().workloads().items()})
    return _CLASSES[name]


def record(name: str, **values) -> Trace:
    cls = workload_class(name)
    params = build(cls.Params, values)
    rec = Recorder(name, values)
    cls().record(params, rec, random.Random(params.seed if hasattr(params, "seed") else 0))
    return rec.build()


def default_trace(name: str) -> Trace:
    if name not in _DEFAULTS:
        _DEFAULTS[name] = record(name)
    return _DEFAULTS[name]


def free_batches(trace: Trace) -> list[int]:
    """Lengths of the runs of consecutive FREE events."""
    is_free = np.concatenate([[0], (trace.op == FREE).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(is_free))
    return (edges[1::2] - edges[0::2]).tolist()


def live_count(trace: Trace, mask: np.ndarray) -> np.ndarray:
    """Number of objects selected by ``mask`` allocated and not yet freed, after each event."""
    delta = np.zeros(trace.events, dtype=np.int64)
    delta[trace.obj_alloc_at[mask]] += 1
    freed = mask & (trace.obj_free_at >= 0)
    delta[trace.obj_free_at[freed]] -= 1
    return np.cumsum(delta)


# -- every workload --------------------------------------------------------------------------

def test_all_seven_are_registered_with_documented_params():
    workloads = Plugins().workloads()
    assert set(NAMES) <= set(workloads)
    for name in NAMES:
        cls = workloads[name].cls
        assert cls.name == name
        assert workloads[name].summary, f"{name} has no one-line description"
        assert len(sys.modules[cls.__module__].__doc__) > 200, f"{name}: module docstring"
        for f in fields(cls.Params):
            assert f.metadata.get("doc"), f"{name}.Params.{f.name} has no doc"
        has_seed = "seed" in {f.name for f in fields(cls.Params)}
        assert has_seed == (name not in UNSEEDED)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_are_sized_and_free_everything(name):
    trace = default_trace(name)               # Recorder.build validated every event
    assert MIN_EVENTS <= trace.events <= MAX_EVENTS, trace.events
    assert (trace.obj_free_at >= 0).all(), f"{name} leaks {(trace.obj_free_at < 0).sum()} objects"
    assert (trace.final_registers() < 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_loads_follow_the_shadow(name):
    # Every workload decides what to LOAD from its Python-side picture of the heap and never
    # loads a slot it believes null: a LOAD that reads null means that picture is wrong.
    trace = default_trace(name)
    loads = trace.op == LOAD
    assert loads.any()
    assert (trace.x[loads] >= 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_no_global_random(name, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError(f"{name} used the global random module")

    for fn in ("random", "randint", "randrange", "choice", "uniform", "shuffle", "sample",
               "getrandbits", "expovariate", "gauss"):
        monkeypatch.setattr(random, fn, forbidden)
    cls = workload_class(name)
    small = {"binary-trees": {"max_depth": 5}, "message-buffer": {"messages": 50, "window": 10},
             "lru-cache": {"operations": 200}, "queue-churn": {"steps": 200},
             "cyclic-garbage": {"structures": 20}, "fragmentation": {"rounds": 1, "count": 20},
             "large-objects": {"steps": 300}}[name]
    params = build(cls.Params, small)
    rec = Recorder(name)
    cls().record(params, rec, random.Random(7))
    rec.build()


@pytest.mark.parametrize("name", SEEDED)
def test_seed_decides_the_trace(name):
    assert record(name, seed=1).sha256 == default_trace(name).sha256   # seed 1 is the default
    assert record(name, seed=2).sha256 != default_trace(name).sha256


@pytest.mark.parametrize("name", sorted(UNSEEDED))
def test_unseeded_workloads_are_deterministic(name):
    assert record(name).sha256 == default_trace(name).sha256


@pytest.mark.parametrize("name, values, key", [
    ("binary-trees", {"min_depth": 6, "max_depth": 4}, "max_depth"),
    ("lru-cache", {"value_min_bytes": 100, "value_max_bytes": 10}, "value_max_bytes"),
    ("queue-churn", {"lifetime_min": 10, "lifetime_max": 5}, "lifetime_max"),
    ("cyclic-garbage", {"ring_min": 9}, "ring_max"),
    ("fragmentation", {"big_min_factor": 5.0}, "big_max_factor"),
    ("large-objects", {"large_min": 8 << 20}, "large_max"),
    ("message-buffer", {"window": 0}, "window"),
])
def test_inconsistent_params_are_config_errors(name, values, key):
    with pytest.raises(ConfigError, match=key):
        build(workload_class(name).Params, values)


# -- hand-derived expectations, one or more per workload ---------------------------------------

def tree(depth: int) -> int:
    """Nodes of a perfect tree of ``depth``; depth 0 is one leaf (the workload's convention)."""
    return 2 ** (depth + 1) - 1


@pytest.mark.parametrize("order", ["top-down", "bottom-up"])
def test_binary_trees_node_count(order):
    # stretch depth 7, long-lived depth 6, then 2**(6-4+4) trees of depth 4 and 2**(6-6+4) of 6
    trace = record("binary-trees", min_depth=4, max_depth=6, order=order)
    assert trace.objects == (2**8 - 1) + (2**7 - 1) + 2**6 * (2**5 - 1) + 2**4 * (2**7 - 1)
    assert trace.objects == tree(7) + tree(6) + 64 * tree(4) + 16 * tree(6)
    trees = 1 + 1 + 64 + 16
    assert trace.counts()["store"] == trace.objects - trees      # one STORE per non-root node
    # the peak is the stretch tree (255 nodes), bigger than long-lived + one depth-6 tree (254);
    # a node is 8 payload bytes + 2 slots of 8
    assert trace.live_peak_bytes == tree(7) * (8 + 16)


def test_binary_trees_orders_differ_only_in_order():
    top = record("binary-trees", max_depth=5)
    bottom = record("binary-trees", max_depth=5, order="bottom-up")
    assert top.counts() == bottom.counts()
    assert top.sha256 != bottom.sha256


def test_message_buffer_window():
    trace = record("message-buffer", messages=500, window=100)
    assert trace.objects == 500 + 1                              # the messages and the ring
    # window messages, the one being pushed before the oldest is deleted, and the ring's slots
    assert trace.live_peak_bytes == (100 + 1) * 1024 + 8 * 100
    # message i is deleted while message i + window is pushed: it lived exactly `window` pushes
    msg = np.arange(1, 401)
    allocs_before_free = np.searchsorted(trace.obj_alloc_at, trace.obj_free_at[msg])
    assert (allocs_before_free == msg + 100 + 1).all()


def reference_lru_misses(seed: int, operations: int, capacity: int, key_space: int,
                         vmin: int, vmax: int) -> int:
    """The same key stream through a plain OrderedDict LRU cache: how many gets miss."""
    rng = random.Random(seed)
    cache: OrderedDict[int, None] = OrderedDict()
    misses = 0
    for _ in range(operations):
        key = rng.randrange(key_space)
        if key in cache:
            cache.move_to_end(key)
            continue
        misses += 1
        rng.randint(vmin, vmax)                                  # the value's size
        if len(cache) >= capacity:
            cache.popitem(last=False)
        cache[key] = None
    return misses


def test_lru_cache_capacity_and_misses():
    trace = default_trace("lru-cache")
    entries = trace.obj_nslots == 4
    assert live_count(trace, entries).max() == 1000              # fills up, never exceeds
    misses = reference_lru_misses(1, 5000, 1000, 2000, 64, 512)
    assert trace.objects == 2 + 2 * misses                       # cache, table, entry + value
    # a tiny cache with one bucket: every chain walk and unlink goes through the same chain
    trace = record("lru-cache", operations=400, capacity=5, key_space=12, buckets=1, seed=3)
    assert live_count(trace, trace.obj_nslots == 4).max() == 5
    assert trace.objects == 2 + 2 * reference_lru_misses(3, 400, 5, 12, 64, 512)


def test_queue_churn_fixed_lifetime():
    L, size, steps = 10, 100, 300
    trace = record("queue-churn", steps=steps, lifetime_min=L, lifetime_max=L,
                   size_min=size, size_max=size)
    assert trace.objects == steps
    # L + 1 items (one slot each) are queued after an enqueue, before the head is deleted
    assert trace.live_peak_bytes == (L + 1) * (size + 8)
    # item i is enqueued at step i and deleted during step i + L (after that step's WORK)
    works_before_free = np.searchsorted(np.flatnonzero(trace.op == WORK), trace.obj_free_at)
    expected = np.minimum(np.arange(steps) + L, steps - 1) + 1
    assert (works_before_free == expected).all()


def test_cyclic_garbage_lists_are_freed_as_whole_batches():
    n, count = 5, 10
    trace = record("cyclic-garbage", structures=count, live=3, list_fraction=1.0,
                   list_min=n, list_max=n)
    assert trace.objects == count * n
    assert trace.counts()["store"] == count * 2 * (n - 1)        # next and prev per link
    assert free_batches(trace) == [n] * count


def test_cyclic_garbage_rings_with_self_loops():
    n, count = 4, 10
    trace = record("cyclic-garbage", structures=count, live=0, list_fraction=0.0,
                   ring_min=n, ring_max=n, self_loop=1.0)
    assert trace.counts()["store"] == count * (n + 1)            # the ring's n links + 1 loop
    assert free_batches(trace) == [n] * count
    # every self-loop is a STORE of an object into its own slot
    stores = trace.op == STORE
    assert (trace.x[stores] == trace.y[stores]).sum() == count


def test_fragmentation_holes_and_big_requests():
    trace = default_trace("fragmentation")
    rounds, count, big = 10, 1000, 100
    assert trace.objects == 1 + rounds * (count + big)           # the table and the blocks
    # the first frees are every other block of round 1: object ids 2, 4, ..., 1000 (id 0 is the
    # table, block i of the round is object 1 + i)
    freed_order = trace.x[trace.op == FREE]
    assert freed_order[:count // 2].tolist() == list(range(2, count + 1, 2))
    sizes = trace.obj_size
    is_big = sizes > 16384
    assert is_big.sum() == rounds * big
    assert sizes[is_big].min() >= 2 * sizes[~is_big][1:].max()   # no big request fits a hole


def test_large_objects_fixed_small_objects():
    L, size, steps = 50, 64, 1000
    trace = record("large-objects", steps=steps, large_fraction=0.0, small_min=size,
                   small_max=size, lifetime_min=L, lifetime_max=L)
    assert trace.objects == steps + 1
    # L + 1 objects are alive after an allocation; the table has L + 1 slots
    assert trace.live_peak_bytes == (L + 1) * size + 8 * (L + 1)


def test_large_objects_defaults_volume():
    trace = default_trace("large-objects")
    sizes = trace.obj_size[1:]                                   # id 0 is the table
    large = sizes >= 64 * 1024
    assert sizes[large].max() <= 4 * 1024 * 1024
    assert sizes[~large].max() <= 256
    # 12000 draws at 2 %: 240 expected, sd ~15
    assert 180 <= large.sum() <= 300
    # tens of MB allocated in all: ~240 arrays of ~270 KiB on average
    assert 20 << 20 <= int(trace.obj_bytes.sum()) <= 200 << 20


#: sha256 of each default trace, written down from the recorder before it kept typed chunks and
#: derived the object ids itself (commit 69ea977): a faster recorder must record the same
#: traces, or every published result would change
RECORDED_BEFORE = {
    "binary-trees": "c5b0aefdecd7c0518b360153ce31b313bf928a0f16390a059404e684fa0d374c",
    "message-buffer": "28194fd2649d5185cd2977613006baa21a5e2896103f272f9927f8ae1b089ffb",
    "lru-cache": "0e501a368a9ceeea048bfe569c28f8195a0808254dbb690d4219bb34686f6535",
    "queue-churn": "46ab372b38ecc9e654c24bc653e4fb1af9f3f563d34c663cbc73f9e34644484b",
    "cyclic-garbage": "c200fddaa6af500c8b22e7f13e98fcb76b1063064b1479d376a5f1fd0dd6073a",
    "fragmentation": "672e831a9a6a397e26ae610ba4250dd9929fd0791d5deccc743d4439913ae71c",
    "large-objects": "9c6ac3943cb85dd2b1c2b08df0584c894861c6ca7a68b6da8172b052bf771f39",
}


@pytest.mark.parametrize("name", NAMES)
def test_the_recorder_records_the_traces_it_always_did(name):
    assert default_trace(name).sha256 == RECORDED_BEFORE[name]


@pytest.mark.parametrize("name", NAMES)
def test_the_recorders_object_ids_are_the_validators(name):
    # the recorder derives x, y, z as it records; trace.build derives them by its own pass over
    # the events and checks every rule: both must agree on every event
    from memcompare.trace import build as validate
    t = default_trace(name)
    again = validate(t.op, t.a, t.b, t.c, t.flags)
    for col in ("x", "y", "z"):
        assert np.array_equal(getattr(again, col), getattr(t, col)), col
    assert again.registers == t.registers and again.sha256 == t.sha256


def test_stack_temporaries_are_local_and_cost_no_heap():
    """message-buffer's format_buffer and lru-cache's lookup_key: one `local` ALLOC and its FREE
    per operation (2 events, 1 object each), nothing else changes; C++ puts them on the stack
    (allocated bytes as without them), Go's escape analysis too, and with it off they are heap
    objects (docs/design.md §3)."""
    import memcompare
    for name, knob, ops in (("message-buffer", {"format_buffer": 64}, 20000),
                            ("lru-cache", {"lookup_key": 32}, 5000)):
        base, temp = memcompare.record(name), memcompare.record(name, **knob)
        assert temp.events == base.events + 2 * ops
        assert temp.objects == base.objects + ops
        assert int(temp.obj_local.sum()) == ops and int(base.obj_local.sum()) == 0
        cpp0, cpp1 = (memcompare.replay(t, "cpp") for t in (base, temp))
        assert cpp1.metrics["allocated_bytes"] == cpp0.metrics["allocated_bytes"]
        assert cpp1.stats["local_objects"] == ops
        go_on = memcompare.replay(temp, "go")
        assert go_on.stats["stack_objects"] == ops
        go_off = memcompare.replay(temp, "go", escape_analysis=False)
        assert go_off.stats["stack_objects"] == 0
        assert go_off.metrics["allocated_bytes"] > go_on.metrics["allocated_bytes"]


def _lru_by_calls(**values) -> Trace:
    """lru-cache recorded call by call (its _Cache program), not from its derived events."""
    cls = workload_class("lru-cache")
    params = build(cls.Params, values)
    rec = Recorder("lru-cache", values)
    sys.modules[cls.__module__]._Cache(params, rec).run(random.Random(params.seed))
    return rec.build()


@pytest.mark.parametrize("values", [
    {"operations": 3000},
    {"operations": 2000, "capacity": 1, "key_space": 3, "buckets": 1, "op_ns": 0, "miss_ns": 0},
    {"operations": 3000, "capacity": 5, "key_space": 12, "buckets": 3, "lookup_key": 24,
     "seed": 7},
    {"operations": 4000, "capacity": 300, "key_space": 310, "buckets": 7, "value_min_bytes": 0,
     "value_max_bytes": 0, "seed": 5},
    {"operations": 1500, "capacity": 40, "key_space": 45, "buckets": 2, "seed": 11},
])
def test_lru_cache_events_are_those_its_calls_record(values):
    # lru-cache writes its events from its shadow (Recorder.append_events, which cannot check
    # them against the heap): they must be exactly what its per-call program records, and pass
    # the validator's full pass over the rules
    from memcompare.trace import build as validate
    fast, calls = record("lru-cache", **values), _lru_by_calls(**values)
    assert fast.sha256 == calls.sha256 and fast.registers == calls.registers
    again = validate(fast.op, fast.a, fast.b, fast.c, fast.flags)
    assert again.sha256 == fast.sha256 and again.registers == fast.registers


def test_lru_cache_from_a_recorder_that_is_not_empty_records_call_by_call():
    cls = workload_class("lru-cache")
    params = build(cls.Params, {"operations": 300})
    rec = Recorder()
    rec.work(5)
    cls().record(params, rec, random.Random(1))
    assert rec.build().sha256 != record("lru-cache", operations=300).sha256
    assert len(rec) == record("lru-cache", operations=300).events + 1


class _OtherRandom(random.Random):
    """The same numbers as random.Random, but another class: the workloads then call rng."""


def _record_with(name: str, rng: random.Random, **values) -> Trace:
    cls = workload_class(name)
    rec = Recorder(name, values)
    cls().record(build(cls.Params, values), rec, rng)
    return rec.build()


@pytest.mark.parametrize("name, values", [
    ("lru-cache", {"operations": 2500, "capacity": 30, "key_space": 70, "buckets": 4}),
    ("large-objects", {"steps": 9000, "lifetime_min": 0, "lifetime_max": 900}),
    ("large-objects", {"steps": 5000, "large_fraction": 0.4, "work_ns": 0, "seed": 4}),
])
def test_inline_draws_give_the_numbers_of_the_rng_calls(name, values):
    # lru-cache and large-objects draw with rng.getrandbits inline (getrandbits_of); with a
    # generator of another class they call rng.randrange / rng.randint: the same trace
    seed = values.get("seed", 1)
    fast = _record_with(name, random.Random(seed), **values)
    calls = _record_with(name, _OtherRandom(seed), **values)
    assert fast.sha256 == calls.sha256 and fast.registers == calls.registers


def _large_objects_by_steps(p, t: Recorder, rng: random.Random) -> None:
    """large-objects' program one step at a time, as written before its operations were put in
    order with numpy: step k allocates into the top free slot (work after), then frees the
    objects whose lifetime ends at k in slot order; at the end the rest in (end, slot) order."""
    from memcompare.trace import FROM, INTO, SPEND
    mod = sys.modules[workload_class("large-objects").__module__]
    slots = p.lifetime_max + 1
    table = t.alloc(0, slots)
    free_slots = list(range(slots - 1, -1, -1))
    ending: dict[int, list[int]] = {}
    kinds, where, sizes = [], [], []

    def op(kind, slot=0, size=0):
        kinds.append(kind)
        where.append(slot)
        sizes.append(size)
    for step in range(p.steps):
        if rng.random() < p.large_fraction:
            size = mod.power_law_size(rng.random(), p.large_min, p.large_max)
        else:
            size = rng.randint(p.small_min, p.small_max)
        life = rng.randint(p.lifetime_min, p.lifetime_max)
        slot = free_slots.pop()
        op(INTO, slot, size)
        if p.work_ns:
            op(SPEND)
        ending.setdefault(step + life, []).append(slot)
        due = sorted(ending.pop(step, []))
        for s in due:
            op(FROM, s)
        free_slots.extend(due)
    for end in sorted(ending):
        for s in sorted(ending[end]):
            op(FROM, s)
    kinds = np.array(kinds)
    t.slot_ops(table, kinds, where, sizes, np.where(kinds == SPEND, p.work_ns, 0))
    t.free(table)


@pytest.mark.parametrize("values", [
    {"steps": 3000},
    {"steps": 9000, "lifetime_min": 0, "lifetime_max": 5000, "seed": 3},   # across blocks
    {"steps": 4100, "lifetime_min": 0, "lifetime_max": 0, "work_ns": 0},
])
def test_large_objects_records_its_program_step_by_step(values):
    cls = workload_class("large-objects")
    params = build(cls.Params, values)
    ref = Recorder("large-objects", values)
    _large_objects_by_steps(params, ref, random.Random(params.seed))
    got = record("large-objects", **values)
    assert got.sha256 == ref.build().sha256


def test_lru_cache_walks_longer_than_its_room_buffer(monkeypatch):
    # a walk of more steps than the shared buffer of zeros covers takes room of its own: the
    # same trace (the buffer made 3 steps long, so that most walks here pass it)
    mod = sys.modules[workload_class("lru-cache").__module__]
    monkeypatch.setattr(mod, "ROOM_STEPS", 3)
    values = {"operations": 2000, "capacity": 40, "key_space": 50, "buckets": 2, "seed": 9}
    assert record("lru-cache", **values).sha256 == _lru_by_calls(**values).sha256
