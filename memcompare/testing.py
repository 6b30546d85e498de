"""The plugin author's test kit: a pytest plugin (entry point ``pytest11``, name ``memcompare``).

It gives a model or workload author three things (docs/plugins.md, "The test kit"):

- the fixture ``register_plugin``: ``register_plugin(plugin_obj, "name")`` registers a plugin
  object into a fresh :class:`memcompare.plugins.Plugins` made the process-wide set for one
  test, and restores the previous set afterwards; it returns that ``Plugins``;
- :func:`conformance`: ``test_conformance = conformance("my-model")`` in a test module is the
  whole conformance suite, one test per tricky trace, checking safety (the engine's full
  re-trace), determinism, completeness and metric sanity;
- :data:`TRICKY`: the tricky traces themselves, name → function that builds the trace.

The checks are plain functions (:func:`check_case`, :func:`check_metrics`, ...) so that a test
can call them directly. Every failure says which check failed, on which trace, and why.

This module must not import pytest's internals beyond the public API, and must not load plugins
at import time: pytest imports it before any conftest runs.
"""
from __future__ import annotations

import functools
import random
from typing import Any, Callable

import pytest

from .trace import ALLOC, CLEAR, FREE, LOAD, MOVE, NULL, STORE, WORK, Recorder, Trace, build

__all__ = ["TRICKY", "DEAD_CYCLES", "conformance", "check_case", "check_metrics",
           "check_completeness", "check_determinism", "tricky_trace", "register_plugin"]

MiB = 1 << 20


# -- the tricky traces --------------------------------------------------------------------------
#
# Each builds a valid trace that frees everything dead with FREE (so the manual model leaks
# nothing), except what the live-at-end case deliberately keeps in registers.

LIST_NODES = 200_000


def _long_list() -> Trace:
    """A singly linked list of 200,000 nodes, live whole while 8 MiB of garbage is allocated
    (a tracing collector marks it end to end: a recursive marker overflows Python's stack),
    then deleted from the head."""
    t = Recorder("tricky:long-list")
    head = None
    for _ in range(LIST_NODES):
        node = t.alloc(16, 1)
        if head is not None:
            t.store(node, 0, head)
            t.drop(head)
        head = node
    for _ in range(2048):                    # 8 MiB of short-lived garbage: collections now
        t.free(t.alloc(4096))
    while head is not None:
        nxt = t.load(head, 0)
        t.free(head)
        head = nxt
    return t.build()


def _cycles() -> Trace:
    """Self-loops, two-cycles and rings up to 9 nodes, some with an acyclic tail, each dropped
    as a whole (one FREE batch): 3,000 dead cycles among garbage; plus one ring that stays live
    all along while its slots are overwritten."""
    rng = random.Random(7)
    t = Recorder("tricky:cycles")
    keep = [t.alloc(24, 2) for _ in range(3)]        # a live ring, freed at the end
    for i in range(3):
        t.store(keep[i], 0, keep[(i + 1) % 3])
    for k in range(3000):
        n = 1 + k % 9
        ring = [t.alloc(rng.randint(0, 64), 2) for _ in range(n)]
        for i in range(n):
            t.store(ring[i], 0, ring[(i + 1) % n])   # n == 1: a self-loop
        members = list(ring)
        if k % 4 == 0:                               # a tail hanging off the cycle
            tail = t.alloc(40)
            t.store(ring[0], 1, tail)
            members.append(tail)
        if k % 5 == 0:                               # the live ring points into garbage
            t.store(keep[k % 3], 1, ring[-1])
            t.store(keep[k % 3], 1, None)
        t.work(50)
        for h in members:                            # one batch: the whole structure dies
            t.free(h)
    for h in keep:
        t.free(h)
    return t.build()


def _slots() -> Trace:
    """Objects with no slots (some of no payload at all) and with 1,000 slots, filled,
    overwritten, read back (null slots included) and emptied."""
    t = Recorder("tricky:slots-0-and-1000")
    for rnd in range(20):
        arr = t.alloc(0, 1000)
        for i in range(0, 1000, 2):                   # every even slot: a slot-less object
            leaf = t.alloc(i % 3 * 8, 0)
            t.store(arr, i, leaf)
            t.drop(leaf)
        for i in range(0, 1000, 6):                   # overwrite a third of them
            old = t.load(arr, i)
            leaf = t.alloc(0, 0)
            t.store(arr, i, leaf)
            t.drop(leaf)
            t.free(old)
        null = t.load(arr, 1)                          # odd slots are null
        assert null is None
        for i in range(0, 1000, 2):
            leaf = t.load(arr, i)
            t.store(arr, i, None)
            t.free(leaf)
        t.free(arr)
        t.free(t.alloc(0, 0))
    return t.build()


def _huge() -> Trace:
    """Very large objects: 64 MiB twice, 16 MiB, 1 MiB + 1 byte, one with a slot pointing to a
    small object, among small garbage."""
    t = Recorder("tricky:huge-objects")
    for size in (64 * MiB, MiB + 1, 16 * MiB, 64 * MiB):
        big = t.alloc(size, 1)
        small = t.alloc(16)
        t.store(big, 0, small)
        t.drop(small)
        for _ in range(100):
            t.free(t.alloc(48))
        t.work(10_000)
        small = t.load(big, 0)
        t.free(big)
        t.free(small)
    return t.build()


def _register_churn(gens: int = 40, pool: int = 24, scratch: int = 24, steps: int = 1500,
                    seed: int = 11) -> Trace:
    """Heavy register churn, written with raw registers: copies and self-copies (``move r r``),
    loads over full registers, stores among a pool of objects (an acyclic graph), allocations
    into registers that hold a reference; every generation the pool dies in one FREE batch."""
    rng = random.Random(seed)
    op: list[int] = []
    a: list[int] = []
    b: list[int] = []
    c: list[int] = []

    def emit(o, x, y=0, z=0):
        op.append(o)
        a.append(x)
        b.append(y)
        c.append(z)

    nslots = 4
    for _ in range(gens):
        # registers 0..pool-1 own the pool; pool..pool+scratch-1 hold copies (pool index, or -1)
        held = [-1] * scratch
        slots = [[-1] * nslots for _ in range(pool)]
        for p in range(pool):
            emit(ALLOC, p, rng.randint(0, 96), nslots)
        for _ in range(steps):
            s = rng.randrange(scratch)
            r = pool + s
            k = rng.random()
            if k < 0.3:                                   # copy from an owner or a scratch
                if rng.random() < 0.5:
                    src = rng.randrange(pool)
                    emit(MOVE, r, src)
                    held[s] = src
                else:
                    s2 = rng.randrange(scratch)
                    if held[s2] < 0:
                        continue
                    emit(MOVE, r, pool + s2)             # s2 == s: a self-copy, no change
                    held[s] = held[s2]
            elif k < 0.5:                                 # load a field, null or not
                src = rng.randrange(pool)
                slot = rng.randrange(nslots)
                emit(LOAD, r, src, slot)
                held[s] = slots[src][slot]
            elif k < 0.75:                                # store a lower-numbered object or null
                dst = rng.randrange(1, pool)
                slot = rng.randrange(nslots)
                cand = [x for x in range(scratch) if 0 <= held[x] < dst]
                if cand and rng.random() < 0.8:
                    x = rng.choice(cand)
                    emit(STORE, dst, slot, pool + x)
                    slots[dst][slot] = held[x]
                else:
                    emit(STORE, dst, slot, NULL)
                    slots[dst][slot] = -1
            elif k < 0.9:
                if held[s] >= 0:
                    emit(CLEAR, r)
                    held[s] = -1
            elif k < 0.97:                                # a temporary over a held register
                emit(ALLOC, r, rng.randint(0, 32), 0)
                emit(WORK, 20)
                emit(FREE, r)
                held[s] = -1
            else:
                emit(WORK, rng.randint(1, 200))
        for s in range(scratch):
            if held[s] >= 0:
                emit(CLEAR, pool + s)
        for p in range(pool):                             # one batch: the pool dies whole
            emit(FREE, p)
    return build(op, a, b, c, workload="tricky:register-churn")


def _empty() -> Trace:
    """No events at all."""
    return Recorder("tricky:empty").build()


def _live_at_end() -> Trace:
    """A binary tree of 4,095 nodes (with a back pointer making cycles) and a ring still in
    registers at the end, never freed: reachable, so nothing of it is a leak — a model that
    reclaims any of it is unsafe."""
    t = Recorder("tricky:live-at-end")
    ring = [t.alloc(8, 1) for _ in range(5)]
    for i in range(5):
        t.store(ring[i], 0, ring[(i + 1) % 5])
    for h in ring[1:]:
        t.drop(h)

    root = t.alloc(32, 3)
    stack = [(root, 11)]                       # an explicit stack: no recursion
    while stack:
        node, depth = stack.pop()
        if depth > 0:
            for side in (0, 1):
                child = t.alloc(32, 3)
                t.store(child, 2, node)        # back to the parent: a cycle per edge
                t.store(node, side, child)
                stack.append((child, depth - 1))
        if node is not root:
            t.drop(node)
    loose = [t.alloc(64 * i) for i in range(4)]   # plain objects held in registers
    for _ in range(5000):                      # garbage around it: collections happen
        t.free(t.alloc(200))
    t.store(root, 2, ring[0])                  # one more edge, made late
    del loose
    return t.build()


#: name → function building the trace. Every trace frees what it lets die, so the manual model
#: leaks nothing; ``live-at-end`` keeps its data in registers.
TRICKY: dict[str, Callable[[], Trace]] = {
    "long-list-200k": _long_list,
    "cycles": _cycles,
    "slots-0-and-1000": _slots,
    "huge-objects": _huge,
    "register-churn": _register_churn,
    "empty": _empty,
    "live-at-end": _live_at_end,
}
#: the cases whose garbage includes dead cycles: a model with ``can_leak_cycles`` may keep them
DEAD_CYCLES = frozenset({"cycles"})


@functools.lru_cache(maxsize=None)
def tricky_trace(case: str) -> Trace:
    """The trace of one tricky case, built once per process and shared by every model."""
    if case not in TRICKY:
        raise KeyError(f"no tricky trace {case!r}; the cases are {', '.join(TRICKY)}")
    return TRICKY[case]()


# -- the checks ---------------------------------------------------------------------------------

def _fail(check: str, case: str, model: str, message: str):
    pytest.fail(f"memcompare conformance: {check} failed for model {model!r} on tricky trace "
                f"{case!r}: {message}", pytrace=False)


def _model_entry(model: str):
    from .plugins import plugins
    models = plugins().models()
    if model not in models:
        pytest.fail(f"memcompare conformance: model {model!r} is not registered (registered: "
                    f"{', '.join(models)}). Install the package that provides it "
                    f"(pip install -e .) and make sure MEMCOMPARE_LOAD_PLUGINS, if set, names "
                    f"its distribution.", pytrace=False)
    return models[model]


def _heap_limited(cls, params: dict) -> bool:
    """True when the model has a hard heap limit set (its ``heap_param``, given or default)."""
    from . import params as P
    name = getattr(cls, "heap_param", None)
    if not name:
        return False
    built = P.build(cls.Params, params, "params")
    return getattr(built, name, None) is not None


def _replay(model: str, case: str, trace: Trace, params: dict, costs: dict):
    """One replay with the full safety re-trace; a SafetyError fails the 'safety' check."""
    import memcompare
    from .errors import SafetyError
    try:
        return memcompare.replay(trace, model, check="full", costs=costs, **params)
    except SafetyError as e:
        _fail("safety", case, model, str(e))


def check_metrics(metrics: dict[str, Any], trace: Trace | None = None, *, case: str = "?",
                  model: str = "?") -> None:
    """Metric sanity (docs/design.md §4): every key present, and the relations any metric set obeys.

    Fails with the first broken relation, naming the values.
    """
    from .engine import METRIC_KEYS

    def bad(message):
        _fail("metric sanity", case, model, message)

    missing = [k for k in METRIC_KEYS if k not in metrics]
    if missing:
        bad(f"missing metric key(s) {missing}; every key of docs/design.md §4 "
            f"(memcompare.engine.METRIC_KEYS) must be present")
    m = metrics
    for k in METRIC_KEYS:
        v = m[k]
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not v >= 0:
            bad(f"{k} = {v!r}: must be a number >= 0")
    p = [m["pause_p50_s"], m["pause_p95_s"], m["pause_p99_s"], m["pause_max_s"]]
    if not p[0] <= p[1] <= p[2] <= p[3]:
        bad(f"pause percentiles must satisfy p50 <= p95 <= p99 <= max, got p50={p[0]!r} "
            f"p95={p[1]!r} p99={p[2]!r} max={p[3]!r}")
    if m["pause_count"] == 0 and m["pause_total_s"] != 0:
        bad(f"pause_total_s = {m['pause_total_s']!r} with pause_count = 0")
    if not m["pause_max_s"] <= m["pause_total_s"] * (1 + 1e-12):
        bad(f"pause_max_s = {m['pause_max_s']!r} exceeds pause_total_s = {m['pause_total_s']!r}")
    mmu = m["mmu"]
    keys = ("0.001", "0.01", "0.1")
    if not isinstance(mmu, dict) or set(mmu) != set(keys):
        bad(f"mmu must map the window widths {list(keys)} to utilisations, got {mmu!r}")
    u = [mmu[k] for k in keys]
    if not all(0 <= x <= 1 for x in u):
        bad(f"MMU must lie in [0, 1], got {dict(zip(keys, u))}")
    if not u[0] <= u[1] <= u[2]:
        bad(f"MMU must not decrease as the window widens, got {dict(zip(keys, u))}")
    if not m["wall_time_s"] <= m["cpu_time_s"]:
        bad(f"wall_time_s = {m['wall_time_s']!r} exceeds cpu_time_s = {m['cpu_time_s']!r} "
            f"(CPU time is the mutator's timeline plus concurrent work)")
    if not 0 <= m["gc_cpu_fraction"] <= m["mm_cpu_fraction"] <= 1:
        bad(f"need 0 <= gc_cpu_fraction <= mm_cpu_fraction <= 1, got "
            f"{m['gc_cpu_fraction']!r} and {m['mm_cpu_fraction']!r}")
    if not m["footprint_mean_bytes"] <= m["footprint_peak_bytes"]:
        bad(f"footprint_mean_bytes = {m['footprint_mean_bytes']!r} exceeds "
            f"footprint_peak_bytes = {m['footprint_peak_bytes']!r}")
    if m["gc_count"] != sum(m["gc_counts"].values()):
        bad(f"gc_count = {m['gc_count']!r} but gc_counts {m['gc_counts']!r} sum to "
            f"{sum(m['gc_counts'].values())}")
    if not m["leaked_bytes"] <= m["allocated_bytes"]:
        bad(f"leaked_bytes = {m['leaked_bytes']!r} exceeds allocated_bytes = "
            f"{m['allocated_bytes']!r}")
    if trace is not None and m["live_peak_bytes"] != trace.live_peak_bytes:
        bad(f"live_peak_bytes = {m['live_peak_bytes']!r}, but the trace's live peak is "
            f"{trace.live_peak_bytes}")


def check_completeness(model_cls, metrics: dict[str, Any], *, case: str = "?",
                       model: str = "?") -> None:
    """After the model's final collection nothing unreachable is held (``leaked_bytes == 0``),
    unless the model never reclaims (``reclaims = False``) or may keep dead cycles
    (``can_leak_cycles = True``) and the case has some."""
    if not getattr(model_cls, "reclaims", True):
        return
    if getattr(model_cls, "can_leak_cycles", False) and case in DEAD_CYCLES:
        return
    if metrics["leaked_bytes"] != 0:
        _fail("completeness", case, model,
              f"leaked_bytes = {metrics['leaked_bytes']}: after its final collection the model "
              f"still holds objects the program can no longer reach. A model that never "
              f"reclaims by design sets `reclaims = False`; one that may keep dead cycles sets "
              f"`can_leak_cycles = True`.")


def check_determinism(first, second, *, case: str = "?", model: str = "?") -> None:
    """The same trace, params and costs give the same status and bit-identical metrics."""
    if first.status != second.status:
        _fail("determinism", case, model, f"status {first.status!r} then {second.status!r}")
    if repr(first.metrics) != repr(second.metrics):
        diff = [k for k in (first.metrics or {})
                if repr(first.metrics.get(k)) != repr((second.metrics or {}).get(k))]
        detail = "; ".join(f"{k}: {first.metrics[k]!r} then {second.metrics.get(k)!r}"
                           for k in diff[:5])
        _fail("determinism", case, model,
              f"replaying the same trace twice gave different metrics ({detail}). Every "
              f"random choice must come from a seeded generator; never iterate a set of "
              f"objects or depend on id() or the wall clock.")


def check_case(model: str, case: str, *, params: dict | None = None,
               costs: dict | None = None) -> None:
    """Every conformance check of ``model`` on the tricky trace ``case``."""
    params = dict(params or {})
    costs = dict(costs or {})
    entry = _model_entry(model)
    trace = tricky_trace(case)
    first = _replay(model, case, trace, params, costs)
    if first.status == "oom":
        if not _heap_limited(entry.cls, params):
            _fail("status", case, model, f"the model ran out of memory ({first.error}) but has "
                                         f"no heap limit set (its heap_param)")
    elif first.status != "ok":
        _fail("status", case, model, f"status {first.status!r}: {first.error}")
    second = _replay(model, case, trace, params, costs)
    check_determinism(first, second, case=case, model=model)
    if first.status == "oom":
        return
    check_completeness(entry.cls, first.metrics, case=case, model=model)
    check_metrics(first.metrics, trace, case=case, model=model)


def conformance(model: str, *, params: dict | None = None,
                costs: dict | None = None) -> Callable[[str], None]:
    """The conformance suite of ``model`` as one test function, parametrized over :data:`TRICKY`.

    Write ``test_conformance = conformance("my-model")`` in a test module; pass ``params`` or
    ``costs`` to check a configuration other than the defaults.
    """
    params = dict(params or {})
    costs = dict(costs or {})

    @pytest.mark.parametrize("case", list(TRICKY))
    def test_conformance(case: str) -> None:
        check_case(model, case, params=params, costs=costs)

    test_conformance.__doc__ = (f"Conformance of model {model!r}: safety (full re-trace), "
                                f"determinism, completeness and metric sanity on each tricky "
                                f"trace.")
    return test_conformance


# -- fixtures -----------------------------------------------------------------------------------

@pytest.fixture
def register_plugin():
    """``register_plugin(plugin_obj, "name")``: register a plugin object (a module or an instance
    with hookimpls) into a fresh plugin set — the built-ins and installed plugins, plus this one —
    made the process-wide set for this test only. Returns that :class:`~memcompare.plugins.Plugins`.
    """
    from . import plugins as P
    previous = P._PLUGINS
    fresh: list = []

    def register(plugin: Any, name: str):
        if not fresh:
            fresh.append(P.Plugins())
            P.set_plugins(fresh[0])
        fresh[0].register(plugin, name)
        fresh[0].check_pending()
        return fresh[0]

    try:
        yield register
    finally:
        P.set_plugins(previous)
