"""cpython-native (issue 6): the standard-library replayer agrees with memcompare on what the trace
does, reports its collector faithfully, and prints the contract's JSON lines.

The replayer script is tested directly through subprocess (it needs only a CPython); the model
class is tested when the native plugin package imports.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import memcompare
from memcompare.trace import LOAD, Recorder

REPLAY = (Path(__file__).resolve().parents[1] / "plugins" / "memcompare_native" / "cpython"
          / "replay.py")

#: the keys every replay line must carry (the native replayer contract)
KEYS = {"replay", "wall_time_s", "cpu_time_s", "gc_count", "gc_counts", "pauses_s",
        "pause_source", "footprint_peak_bytes", "rss_before_bytes", "allocated_bytes", "digest",
        "null_reasons"}

#: small but varied: trees, dead cycles, a hash table with a recency list, big arrays, WORK
WORKLOADS = [
    ("binary-trees", {"max_depth": 6}),
    ("cyclic-garbage", {"structures": 300}),
    ("lru-cache", {"operations": 800, "capacity": 200, "key_space": 400}),
    ("large-objects", {"steps": 1500}),
]


def run_replayer(trace_path, replays: int = 1, *options: str) -> list[dict]:
    r = subprocess.run([sys.executable, "-I", str(REPLAY), str(trace_path), str(replays),
                        *options], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == replays, r.stdout
    return [json.loads(line) for line in lines]        # every line is one JSON object


def expected_digest(trace) -> dict[str, int]:
    return {"objects": trace.objects,
            "loads_nonnull": int(np.count_nonzero((trace.op == LOAD) & (trace.x >= 0))),
            "bytes": int(trace.obj_bytes.sum())}


@pytest.fixture(scope="module")
def linked_list_70k(tmp_path_factory) -> Path:
    """70,000 one-slot objects in a linked list from one register: 70,000 live containers."""
    path = tmp_path_factory.mktemp("cpython-native") / "ll70k.mctrace"
    t = Recorder("linked-list", {"n": 70_000})
    head = t.alloc(16, 1)
    prev = t.copy(head)
    for _ in range(70_000 - 1):
        node = t.alloc(16, 1)
        t.store(prev, 0, node)
        t.drop(prev)
        prev = node
    t.drop(prev)
    t.build().save(path)
    return path


@pytest.mark.parametrize("workload,params", WORKLOADS, ids=[w for w, _ in WORKLOADS])
def test_digest_equals_memcompare(tmp_path, workload, params):
    trace = memcompare.record(workload, **params)
    path = tmp_path / "t.mctrace"
    trace.save(path)
    for line in run_replayer(path, 2):
        assert line["digest"] == expected_digest(trace)


def test_every_line_has_the_contract_keys(tmp_path):
    trace = memcompare.record("binary-trees", max_depth=5)
    trace.save(tmp_path / "t.mctrace")
    lines = run_replayer(tmp_path / "t.mctrace", 3)
    assert [line["replay"] for line in lines] == [0, 1, 2]
    for line in lines:
        assert KEYS <= set(line)
        assert line["runtime"] == (f"CPython {sys.version_info.major}.{sys.version_info.minor}."
                                   f"{sys.version_info.micro}")
        for key, value in line.items():
            if value is None:
                assert line["null_reasons"].get(key), f"{key} is null without a reason"
        assert line["allocated_bytes"] is None and "tracemalloc" in \
            line["null_reasons"]["allocated_bytes"]
        assert line["wall_time_s"] > 0 and line["cpu_time_s"] >= 0
        assert set(line["gc_counts"]) == {"gen0", "gen1", "gen2"}
        assert line["gc_count"] == sum(line["gc_counts"].values())
        assert line["pause_source"] == "gc.callbacks"
        assert len(line["pauses_s"]) == line["gc_count"]   # one start→stop per collection
        assert all(p >= 0 for p in line["pauses_s"])
        assert line["footprint_peak_bytes"] >= line["rss_before_bytes"] > 0


def test_collector_disabled_reports_no_collection(tmp_path):
    trace = memcompare.record("cyclic-garbage", structures=300)   # dead cycles: GC would run
    trace.save(tmp_path / "t.mctrace")
    assert run_replayer(tmp_path / "t.mctrace", 1)[0]["gc_count"] > 0
    for line in run_replayer(tmp_path / "t.mctrace", 2, "--gc", "off"):
        assert line["gc_count"] == 0
        assert line["pauses_s"] == []
        assert line["digest"] == expected_digest(trace)


def test_thresholds_700_10_10_on_70000_live_containers(linked_list_70k):
    # generation 0 fills every ~700 new containers: 70,000 / 700 = about 100 collections
    # (the simulated cpython model, version 3.11, counts 99: 91 gen0 + 8 gen1)
    for line in run_replayer(linked_list_70k, 2, "--thresholds", "700,10,10"):
        assert 90 <= line["gc_count"] <= 110, line["gc_counts"]
        assert line["gc_counts"]["gen1"] >= 1


def test_bad_arguments_exit_2(tmp_path):
    (tmp_path / "junk").write_bytes(b"not a trace")
    for argv in ([str(tmp_path / "junk"), "1"], [str(tmp_path / "missing"), "1"],
                 [str(tmp_path / "junk"), "1", "--thresholds", "1,2"]):
        r = subprocess.run([sys.executable, "-I", str(REPLAY), *argv], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 2 and r.stdout == "" and "replay.py:" in r.stderr


# -- the model class (when the native plugin package is importable) ---------------------------

def _model():
    mod = pytest.importorskip("memcompare_native.cpython_model")
    return mod.CPythonNative, mod.Params


def test_model_command_line():
    CPythonNative, Params = _model()
    assert CPythonNative.name == "cpython-native" and CPythonNative.language == "cpython"
    m = CPythonNative(Params(gc_enabled=False, thresholds=(700, 10, 10)), None)
    prefix = m.build(Path("unused"))
    assert prefix[-1] == str(REPLAY) and Path(prefix[0]).exists()
    argv, env = m.command(prefix, "t.mctrace", 3)
    assert argv[len(prefix):] == ["t.mctrace", "3", "--gc", "off", "--thresholds", "700,10,10"]
    assert env == {}
    defaults = CPythonNative(Params(), None)
    assert defaults.command(prefix, "t", 1)[0][len(prefix):] == ["t", "1"]
    assert (Params().repeats, Params().replays) == (3, 3)


def test_model_missing_interpreter_is_unavailable():
    CPythonNative, Params = _model()
    from memcompare.errors import Unavailable
    with pytest.raises(Unavailable, match="not found"):
        CPythonNative(Params(python="no-such-python-3.99"), None).build(Path("unused"))


def test_model_runs_and_reports(linked_list_70k):
    CPythonNative, Params = _model()
    from memcompare.model import Output
    trace = memcompare.load_trace(linked_list_70k)
    m = CPythonNative(Params(thresholds=(700, 10, 10), repeats=1, replays=2), None)
    out = Output(trace)
    m.run(trace, out)
    assert 90 <= out.measured["gc_count"] <= 110
    assert out.stats["runtime"].startswith("CPython ")
    assert out.stats["pause_source"] == "gc.callbacks"
    off = CPythonNative(Params(gc_enabled=False, repeats=1, replays=2), None)
    out = Output(trace)
    off.run(trace, out)
    assert out.measured["gc_count"] == 0
