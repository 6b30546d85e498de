"""Every built-in model on every built-in workload: safety (full re-trace, set by conftest),
determinism, leaks, and the sanity every metric set must have (docs/design.md §4)."""
from __future__ import annotations

import pytest

import memcompare
from memcompare.engine import METRIC_KEYS

WORKLOADS = ["binary-trees", "message-buffer", "lru-cache", "queue-churn", "cyclic-garbage",
             "fragmentation", "large-objects"]
#: small sizes: every cell below replays in well under a second
SMALL = {
    "binary-trees": {"max_depth": 6},
    "message-buffer": {"messages": 5000, "window": 500},
    "lru-cache": {"operations": 2000, "capacity": 300, "key_space": 600},
    "queue-churn": {"steps": 5000},
    "cyclic-garbage": {"structures": 400},
    "fragmentation": {"rounds": 3},
    "large-objects": {"steps": 3000},
}
#: models that never reclaim: they "leak" every object unreachable at the end (docs/metrics.md)
NEVER_RECLAIM = {"nogc"}
MODELS = ["cpp", "nogc", "cpython", "jvm", "go"]


@pytest.fixture(scope="module")
def traces():
    return {w: memcompare.record(w, **SMALL[w]) for w in WORKLOADS}


@pytest.mark.parametrize("workload", WORKLOADS)
@pytest.mark.parametrize("model", MODELS)
def test_model_on_workload(model, workload, traces):
    trace = traces[workload]
    r = memcompare.replay(trace, model, check="full")
    assert r.status == "ok", r.error
    m = r.metrics
    assert set(METRIC_KEYS) <= set(m)
    if model in NEVER_RECLAIM:
        assert m["leaked_bytes"] == m["allocated_bytes"]    # the trace frees everything
    else:
        assert m["leaked_bytes"] == 0
    # sanity of any metric set
    assert 0 <= m["pause_p50_s"] <= m["pause_p95_s"] <= m["pause_p99_s"] <= m["pause_max_s"]
    assert m["pause_max_s"] <= m["max_stall_s"] + 1e-15
    u = [m["mmu"][k] for k in ("0.001", "0.01", "0.1")]
    assert all(0 <= x <= 1 for x in u)
    # MMU grows with the window up to the run's length; a window longer than the run is the
    # whole run's utilisation, which can lie below a shorter window's minimum (two stalls at
    # the ends of a 12.9 ms run: every 10 ms window holds one, the run both)
    within = [x for x, w in zip(u, (0.001, 0.01, 0.1)) if w <= m["wall_time_s"]]
    assert within == sorted(within)
    assert m["wall_time_s"] <= m["cpu_time_s"]
    assert 0 <= m["gc_cpu_fraction"] <= m["mm_cpu_fraction"] <= 1
    assert m["footprint_mean_bytes"] <= m["footprint_peak_bytes"]
    assert m["live_peak_bytes"] == trace.live_peak_bytes
    assert m["gc_count"] == sum(m["gc_counts"].values())
    # determinism: the same trace and params give the same bits
    again = memcompare.replay(memcompare.record(workload, **SMALL[workload]), model)
    assert repr(again.metrics) == repr(m)
