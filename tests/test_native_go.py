"""``go-native``: the Go replayer (plugins/memcompare_native/go/replay.go) against the contract
(docs/native.md) and memcompare's own reading of the same traces.

Skipped only when no ``go`` is on PATH (CI installs golang-go). The replayer is built once into
a temporary folder (about 0.3 s with Debian's precompiled std).
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import memcompare
from memcompare.errors import Unavailable
from memcompare.trace import ALLOC, FREE, LOAD, build
from memcompare.traceio import parse_text

if importlib.util.find_spec("memcompare_native") is None:   # an install made before the plugin
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from memcompare_native import go_model                         # noqa: E402
from memcompare_native.go_model import GoNative                # noqa: E402

pytestmark = pytest.mark.skipif(
    go_model.find_go() is None,
    reason="no `go` on PATH: apt-get install golang-go (CI installs it)")

MiB = 1 << 20
KEYS = {"replay", "wall_time_s", "cpu_time_s", "gc_count", "gc_counts", "pauses_s",
        "pause_source", "footprint_peak_bytes", "rss_before_bytes", "allocated_bytes", "digest",
        "null_reasons"}

CYCLE = """\
# a two-node cycle with a self-loop, a `local` object, a null store and null loads
alloc 0 16 1
alloc 1 16 1 local
alloc 2 40 2
store 0 0 2
store 2 1 0
store 2 0 2
load 3 0 0
load 3 3 1
load 4 2 0
load 4 4 1
store 2 1 -
load 5 2 1
move 6 0
clear 6
work 2000
clear 3
clear 4
free 1
free 0
free 2
alloc 0 0 1
load 1 0 0
free 0
"""


def model(**params) -> GoNative:
    return GoNative(GoNative.Params(**params), GoNative.Costs())


def expected_digest(trace) -> dict[str, int]:
    loads = trace.op == LOAD
    return {"objects": trace.objects,
            "loads_nonnull": int(np.count_nonzero(trace.x[loads] >= 0)),
            "bytes": int(trace.obj_bytes.sum())}


def garbage(n: int, size: int) -> memcompare.Trace:
    """``n`` pointer-free objects of ``size`` bytes, each dropped by the next ALLOC into r0."""
    op = np.full(n + 1, ALLOC, dtype=np.uint8)
    op[-1] = FREE
    a = np.zeros(n + 1, dtype=np.int64)
    b = np.full(n + 1, size, dtype=np.int64)
    b[-1] = 0
    c = np.zeros(n + 1, dtype=np.int64)
    return build(op, a, b, c, workload="garbage")


@pytest.fixture(scope="module")
def exe(tmp_path_factory):
    d = tmp_path_factory.mktemp("go-replayer")
    prefix = model().build(d)
    assert Path(prefix[0]).is_file()
    return prefix


@pytest.fixture(scope="module")
def trace_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("traces")


def replay(exe, trace_dir, trace, replays=2, **params) -> list[dict]:
    path = trace_dir / f"{trace.sha256[:16]}.mctrace"
    if not path.exists():
        trace.save(str(path))
    argv, env = model(**params).command(exe, str(path), replays)
    r = subprocess.run(argv, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == replays
    out = [json.loads(line) for line in lines]        # every line is one JSON object
    for k, res in enumerate(out):
        assert KEYS <= set(res), KEYS - set(res)
        assert res["replay"] == k
        assert res["wall_time_s"] > 0 and res["cpu_time_s"] >= 0
        assert res["footprint_peak_bytes"] > 0 and res["rss_before_bytes"] > 0
        assert isinstance(res["gc_count"], int) and res["gc_count"] >= 0
        assert sum(res["gc_counts"].values()) == res["gc_count"]
        assert res["gc_counts"]["forced"] == 0                # nothing forced inside the loop
        assert isinstance(res["pauses_s"], list) and all(p >= 0 for p in res["pauses_s"])
        assert len(res["pauses_s"]) <= min(res["gc_count"], 256)
        assert "ReadGCStats" in res["pause_source"]
        assert res["allocated_bytes"] >= res["digest"]["bytes"]   # size classes round up
        for key, value in res.items():
            if value is None:
                assert key in res["null_reasons"], key
    return out


WORKLOADS = [
    ("binary-trees", {"max_depth": 8}),
    ("message-buffer", {"messages": 3000, "window": 300}),
    ("lru-cache", {"operations": 2000}),
    ("queue-churn", {"steps": 3000}),
    ("cyclic-garbage", {"structures": 300}),
    ("fragmentation", {"rounds": 2, "count": 300}),
    ("large-objects", {"steps": 1500}),
]


@pytest.mark.parametrize("workload,params", WORKLOADS, ids=[w for w, _ in WORKLOADS])
def test_digest_matches_memcompare(exe, trace_dir, workload, params):
    trace = memcompare.record(workload, **params)
    want = expected_digest(trace)
    assert want["objects"] > 0
    for res in replay(exe, trace_dir, trace):
        assert res["digest"] == want


def test_digest_of_a_hand_written_trace(exe, trace_dir):
    # cycles, a self-loop, a null store, a LOAD of null, MOVE, WORK, a `local` ALLOC, FREE batch
    trace = parse_text(CYCLE, source="cycle.mctrace.txt")
    want = expected_digest(trace)
    assert want == {"objects": 4, "loads_nonnull": 4, "bytes": 24 + 24 + 56 + 8}
    (res,) = replay(exe, trace_dir, trace, replays=1)
    assert res["digest"] == want
    assert res["wall_time_s"] >= 2e-6                     # WORK spins its 2000 ns


def test_gogc_off_never_collects(exe, trace_dir):
    # 32 MiB of garbage would take several cycles at GOGC=100 (see the next test)
    for res in replay(exe, trace_dir, garbage(2048, 16 * 1024), gogc="off"):
        assert res["gc_count"] == 0 and res["pauses_s"] == []
        assert res["footprint_peak_bytes"] >= 24 * MiB   # nothing was reclaimed


def test_garbage_triggers_cycles(exe, trace_dir):
    trace = garbage(2048, 16 * 1024)                     # 32 MiB, 4 MiB minimum heap goal
    for res in replay(exe, trace_dir, trace, gogc=100):
        assert res["gc_count"] > 0
        assert res["gc_counts"]["automatic"] == res["gc_count"]
        assert len(res["pauses_s"]) == res["gc_count"]
        assert res["allocated_bytes"] >= 32 * MiB
        assert res["digest"] == expected_digest(trace)


def test_gomemlimit_reaches_the_runtime(exe, trace_dir):
    # GOGC=off alone never collects; a 16 MiB soft limit makes the runtime collect anyway
    for res in replay(exe, trace_dir, garbage(2048, 16 * 1024), gogc="off", gomemlimit_mb=16):
        assert res["gc_count"] > 0


def test_command_environment():
    argv, env = model(gogc="off", gomemlimit_mb=64, gomaxprocs=2).command(["/x/replay-go"],
                                                                          "t.mctrace", 5)
    assert argv == ["/x/replay-go", "t.mctrace", "5"]
    assert env == {"GOGC": "off", "GOMEMLIMIT": str(64 * MiB), "GOMAXPROCS": "2"}
    _, env = model().command(["r"], "t", 1)
    assert env == {"GOGC": "100", "GOMEMLIMIT": "off", "GOMAXPROCS": "4"}
    p = GoNative.Params()
    assert (p.repeats, p.replays, p.gogc, p.gomemlimit_mb, p.gomaxprocs) == (3, 3, 100, None, 4)
    assert GoNative.name == "go-native" and GoNative.language == "go"


def test_bad_trace_is_an_error_not_a_crash(exe, tmp_path):
    bad = tmp_path / "bad.mctrace"
    bad.write_bytes(b"# not a trace\n" * 4)
    r = subprocess.run(exe + [str(bad), "1"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and r.stdout == ""
    assert "not a memcompare binary trace" in r.stderr


def test_missing_toolchain_is_unavailable(monkeypatch, tmp_path):
    monkeypatch.setattr(go_model, "find_go", lambda: None)
    with pytest.raises(Unavailable, match="apt-get install golang-go"):
        model().build(tmp_path)


def test_through_the_harness(monkeypatch, tmp_path):
    # base.NativeModel.run: build into the cache, run repeats × replays, medians in out.measured
    monkeypatch.setenv("MEMCOMPARE_CACHE", str(tmp_path))
    trace = garbage(1024, 16 * 1024)
    m = GoNative(GoNative.Params(repeats=2, replays=2), GoNative.Costs())
    out = memcompare.Output(trace)
    m.run(trace, out)
    assert out.measured["gc_count"] > 0
    assert out.measured["allocated_bytes"] >= 16 * MiB
    assert out.stats["digest"] == expected_digest(trace)
    assert out.stats["runtime"].startswith("go1.")
    assert list(tmp_path.glob("replayers/go-*/replay-go"))
