"""``cpp-native``: the C++ replayer (plugins/memcompare_native/cpp/replay.cpp) against the trace.

The replayer is compiled once per session with the flags the model uses; every test is skipped
when g++ is missing. The digest it prints must equal memcompare's own reading of the trace:
objects = trace.objects, loads_nonnull = LOADs whose derived x is >= 0, bytes = obj_bytes.sum().
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import memcompare
from memcompare.trace import LOAD
from memcompare.traceio import parse_text

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "plugins" / "memcompare_native" / "cpp" / "replay.cpp"
GXX = shutil.which("g++")

pytestmark = pytest.mark.skipif(GXX is None, reason="cpp-native needs g++")

KEYS = {"replay", "wall_time_s", "cpu_time_s", "gc_count", "gc_counts", "pauses_s",
        "pause_source", "footprint_peak_bytes", "rss_before_bytes", "allocated_bytes", "digest",
        "null_reasons"}

# small recordings of a few workloads: (workload, params)
WORKLOADS = [
    ("binary-trees", {"max_depth": 8}),
    ("message-buffer", {}),
    ("cyclic-garbage", {}),
    ("lru-cache", {}),
]

HAND = """\
alloc 0 16 1
alloc 1 16 1 local
alloc 2 0 3
store 0 0 2
store 2 2 0
load 3 0 0
load 4 3 1          # a null slot
load 4 3 2
move 5 4
move 5 5
clear 5
work 20000
clear 3
clear 4
store 2 2 -
free 0
free 2
free 1
alloc 0 200000 0    # an mmapped chunk
free 0
"""


@pytest.fixture(scope="session")
def replayer(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("cpp-native") / "replay-cpp"
    subprocess.run([GXX, "-O2", "-std=c++17", "-Wall", "-Wextra", "-Werror", str(SOURCE),
                    "-o", str(out)], check=True)
    return str(out)


def expected_digest(trace) -> dict[str, int]:
    loads = trace.op == LOAD
    return {"objects": int(trace.objects),
            "loads_nonnull": int(np.count_nonzero(trace.x[loads] >= 0)),
            "bytes": int(trace.obj_bytes.sum())}


def run(replayer: str, trace, tmp_path: Path, replays: int = 2) -> list[dict]:
    path = tmp_path / "trace.mctrace"
    trace.save(path, version=1)
    r = subprocess.run([replayer, str(path), str(replays)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == replays
    return [json.loads(line) for line in lines]        # every line is one JSON object


@pytest.fixture(scope="module")
def traces() -> dict[str, memcompare.Trace]:
    out = {w: memcompare.record(w, **p) for w, p in WORKLOADS}
    out["hand"] = parse_text(HAND)
    return out


@pytest.mark.parametrize("name", [w for w, _ in WORKLOADS] + ["hand"])
def test_digest_equals_memcompares(replayer, traces, tmp_path, name):
    trace = traces[name]
    for r in run(replayer, trace, tmp_path):
        assert r["digest"] == expected_digest(trace)


def test_every_line_has_the_contract_keys_and_types(replayer, traces, tmp_path):
    rs = run(replayer, traces["binary-trees"], tmp_path, replays=3)
    assert [r["replay"] for r in rs] == [0, 1, 2]
    for r in rs:
        assert KEYS <= set(r)
        assert r["gc_count"] == 0 and r["gc_counts"] == {} and r["pauses_s"] == []
        assert r["pause_source"] == "none: manual memory management"
        assert r["wall_time_s"] > 0 and r["cpu_time_s"] >= 0
        assert isinstance(r["footprint_peak_bytes"], int)
        assert isinstance(r["rss_before_bytes"], int)
        assert r["footprint_peak_bytes"] >= r["rss_before_bytes"] > 0
        # every null metric has its reason
        for key, value in r.items():
            if value is None:
                assert key in r["null_reasons"], key
        if r["allocated_bytes"] is not None:
            # glibc chunks: at least the header + slots + payload of every object, 16-aligned
            assert r["allocated_bytes"] >= r["digest"]["bytes"] + 8 * r["digest"]["objects"]
            assert r["allocated_bytes"] % 16 == 0


def test_allocated_bytes_are_glibc_chunks(replayer, tmp_path):
    # 10 objects of 16 + 8 = 24 requested bytes (the cpp model's request: payload + 8 x slots)
    # -> request2size(24) = 32-byte chunks; one of 200000 requested bytes is above the default
    # mmap threshold (128 KiB, which nothing before the loop raised), so it is mmapped:
    # page_round(200000 + 8 + 8) = 200704
    t = memcompare.Recorder()
    hs = [t.alloc(16, 1) for _ in range(10)]
    big = t.alloc(200000, 0)
    for h in hs + [big]:
        t.free(h)
    r = run(replayer, t.build(), tmp_path, replays=1)[0]
    if r["allocated_bytes"] is None:
        pytest.skip(r["null_reasons"]["allocated_bytes"])
    assert r["allocated_bytes"] == 10 * 32 + 200704


def test_footprint_covers_the_live_peak_on_message_buffer(replayer, traces, tmp_path):
    trace = traces["message-buffer"]
    for r in run(replayer, trace, tmp_path):
        assert r["footprint_peak_bytes"] >= trace.live_peak_bytes


def test_work_spins_for_its_nanoseconds(replayer, tmp_path):
    t = memcompare.Recorder()
    for _ in range(20):
        t.work(1_000_000)                       # 20 ms in all
    r = run(replayer, t.build(), tmp_path, replays=1)[0]
    assert 0.020 <= r["wall_time_s"] < 0.5
    assert r["cpu_time_s"] >= 0.015             # a busy wait, not a sleep


def test_bad_input_is_a_clean_error(replayer, tmp_path):
    bad = tmp_path / "x.mctrace"
    bad.write_bytes(b"# not a trace\n")
    r = subprocess.run([replayer, str(bad), "1"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout == "" and "not a memcompare binary trace" in r.stderr
    r = subprocess.run([replayer, str(bad), "zero"], capture_output=True, text=True)
    assert r.returncode == 2 and "REPLAYS" in r.stderr


def test_the_model_through_the_engine(monkeypatch, tmp_path):
    """cpp-native as a model: built into the cache, median of the replays, digest checked."""
    cpp_model = pytest.importorskip("memcompare_native.cpp_model",
                                    reason="the memcompare_native package is not importable")
    monkeypatch.setenv("MEMCOMPARE_CACHE", str(tmp_path / "cache"))
    model = cpp_model.CppNative(cpp_model.Params(repeats=2, replays=2), None)
    prefix = model._built()
    assert Path(prefix[0]).name == "replay-cpp" and Path(prefix[0]).exists()
    trace = memcompare.record("binary-trees", max_depth=8)
    out = memcompare.Output(trace)
    model.run(trace, out)
    m = out.measured
    assert m["gc_count"] == 0 and m["gc_counts"] == {} and m["pause_count"] == 0
    assert m["footprint_peak_bytes"] >= trace.live_peak_bytes
    assert out.stats["digest"] == expected_digest(trace)


def test_missing_gxx_is_unavailable(monkeypatch, tmp_path):
    cpp_model = pytest.importorskip("memcompare_native.cpp_model",
                                    reason="the memcompare_native package is not importable")
    from memcompare.errors import Unavailable
    monkeypatch.setattr(cpp_model.shutil, "which", lambda name: None)
    model = cpp_model.CppNative(cpp_model.Params(), None)
    with pytest.raises(Unavailable, match="apt-get install g\\+\\+"):
        model.build(tmp_path)


# the seven built-in workloads of configs/native.toml, at sizes a test can afford
SEVEN = [
    ("binary-trees", {"max_depth": 9}),
    ("message-buffer", {"messages": 20000, "window": 2000}),
    ("lru-cache", {"operations": 10000, "capacity": 2000, "key_space": 4000}),
    ("queue-churn", {"steps": 20000}),
    ("cyclic-garbage", {"structures": 2000}),
    ("fragmentation", {"rounds": 5}),
    ("large-objects", {"steps": 6000}),
]


@pytest.mark.parametrize("workload,params", SEVEN, ids=[w for w, _ in SEVEN])
def test_allocated_bytes_match_the_model_within_2_percent(replayer, tmp_path, workload, params):
    """One `new` per trace object, of the model's request: glibc's chunks, counted by the
    replayer, are the cpp model's chunks (issue 9: within 2 % on every built-in workload)."""
    trace = memcompare.record(workload, **params)
    r = run(replayer, trace, tmp_path, replays=1)[0]       # a fresh process: the model's state
    if r["allocated_bytes"] is None:
        pytest.skip(r["null_reasons"]["allocated_bytes"])
    model = memcompare.replay(trace, "cpp").metrics["allocated_bytes"]
    assert abs(r["allocated_bytes"] - model) <= 0.02 * model


def test_the_bump_baseline_hands_out_16_byte_steps_and_never_frees(replayer, tmp_path):
    # 10 objects of 24 requested bytes -> 32 each; 200000 -> 200000 (a multiple of 16); 0 -> 16
    t = memcompare.Recorder()
    hs = [t.alloc(16, 1) for _ in range(10)] + [t.alloc(200000, 0), t.alloc(0, 0)]
    for h in hs:
        t.free(h)
    trace = t.build()
    path = tmp_path / "trace.mctrace"
    trace.save(path, version=1)
    out = subprocess.run([replayer, str(path), "2", "--alloc", "bump"], capture_output=True,
                         text=True, timeout=60, check=True).stdout.splitlines()
    lines = [json.loads(x) for x in out]
    assert [x["allocated_bytes"] for x in lines] == [10 * 32 + 200000 + 16] * 2
    assert "bump" in lines[0]["runtime"]
    model = memcompare.replay(trace, "cpp", allocator="bump").metrics
    assert model["allocated_bytes"] == 10 * 32 + 200000 + 16
    assert model["leaked_bytes"] == model["allocated_bytes"]     # delete gives nothing back


def test_the_harness_measures_memory_management_time_against_the_bump_baseline(
        monkeypatch, tmp_path):
    cpp_model = pytest.importorskip("memcompare_native.cpp_model",
                                    reason="the memcompare_native package is not importable")
    monkeypatch.setenv("MEMCOMPARE_CACHE", str(tmp_path / "cache"))
    model = cpp_model.CppNative(cpp_model.Params(repeats=2, replays=2), None)
    trace = memcompare.record("message-buffer", messages=20000, window=2000)
    out = memcompare.Output(trace)
    model.run(trace, out)
    st = out.stats
    assert st["mm_time_s"] == pytest.approx(out.measured["wall_time_s"]
                                            - st["baseline_wall_time_s"])
    assert "bump" in st["baseline_runtime"]
    assert st["twin"] == {"model": "cpp", "settings": {"allocator": "glibc"},
                          "off_params": {"allocator": "bump"}}
    assert st["measure"] == "warm"
