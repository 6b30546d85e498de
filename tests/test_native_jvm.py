"""``jvm-native``: the Java replayer (plugins/memcompare_native/java/Replay.java) against the
trace's own counts, and HotSpot's young collections against eden arithmetic.

The replayer is compiled once per session with ``javac`` into a temporary folder and run
directly (the flags come from ``JvmNative.flags``); skipped without a JDK.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import memcompare
from memcompare import Recorder
from memcompare.errors import Unavailable
from memcompare.trace import LOAD

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
from memcompare_native.jvm_model import INSTALL, JvmNative, Params  # noqa: E402

needs_jdk = pytest.mark.skipif(shutil.which("javac") is None or shutil.which("java") is None,
                               reason="no JDK (javac/java)")

def model(**params):
    return JvmNative(Params(**params), JvmNative.Costs())


KEYS = {"replay", "wall_time_s", "cpu_time_s", "gc_count", "gc_counts", "pauses_s",
        "pause_source", "footprint_peak_bytes", "rss_before_bytes", "allocated_bytes",
        "digest", "null_reasons"}


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    d = tmp_path_factory.mktemp("jvm-replayer")
    return model().build(d)


def replay(prefix, trace, tmp_path, replays=2, **params):
    path = tmp_path / "t.mctrace"
    trace.save(str(path))
    argv, env = model(**params).command(prefix, str(path), replays)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == replays
    out = [json.loads(line) for line in lines]        # every line is one JSON object
    for k, rec in enumerate(out):
        assert KEYS <= set(rec), KEYS - set(rec)
        assert rec["replay"] == k
        for key in KEYS - {"null_reasons", "digest"}:
            if rec[key] is None:
                assert key in rec["null_reasons"], key
    return out


def expected_digest(trace):
    loads = trace.op == LOAD
    return {"objects": trace.objects, "loads_nonnull": int((trace.x[loads] >= 0).sum()),
            "bytes": int(trace.obj_bytes.sum())}


@needs_jdk
@pytest.mark.parametrize("workload,collector", [("binary-trees", "serial"),
                                                ("lru-cache", "parallel"),
                                                ("cyclic-garbage", "serial"),
                                                ("queue-churn", "parallel")])
def test_digest_matches_memcompare(prefix, tmp_path, workload, collector):
    trace = memcompare.record(workload)
    out = replay(prefix, trace, tmp_path, collector=collector, heap_mb=64)
    for rec in out:
        assert rec["digest"] == expected_digest(trace)
        assert rec["wall_time_s"] > 0 and rec["cpu_time_s"] >= 0
        assert rec["footprint_peak_bytes"] > 0 and rec["rss_before_bytes"] > 0
        assert rec["allocated_bytes"] >= expected_digest(trace)["bytes"]
        assert set(rec["gc_counts"]) == {"minor", "full"}
        assert rec["gc_count"] == sum(rec["gc_counts"].values())
        assert len(rec["pauses_s"]) == rec["gc_count"]
        assert "millisecond" in rec["pause_source"]


def garbage_trace(total_bytes=200 << 20, size=4096):
    """Pure short-lived garbage: allocate an object and free it at once, ``total_bytes``."""
    t = Recorder("short-lived-garbage", {"bytes": total_bytes, "size": size})
    for _ in range(total_bytes // size):
        t.free(t.alloc(size, 0))
    return t.build()


@needs_jdk
@pytest.mark.parametrize("collector", ["serial", "parallel"])
def test_minor_collections_follow_eden(prefix, tmp_path, collector):
    # -Xmx64m -Xmn16m, SurvivorRatio 8: eden = 16 MiB × 8/10 = 12.8 MiB. Nothing survives, so
    # each young collection empties eden: collections ≈ allocated bytes / eden.
    trace = garbage_trace()
    out = replay(prefix, trace, tmp_path, replays=3, collector=collector, heap_mb=64,
                 young_mb=16, gc_threads=2)
    eden = 16 * 2**20 * 8 / 10
    for rec in out[1:]:
        assert rec["digest"] == expected_digest(trace)
        expected = rec["allocated_bytes"] / eden
        assert expected > 10
        assert abs(rec["gc_counts"]["minor"] - expected) <= 0.25 * expected, (rec, expected)
        assert rec["gc_counts"]["full"] == 0
        assert len(rec["pauses_s"]) == rec["gc_count"]


def test_flags():
    serial = model(heap_mb=64, young_mb=16, compressed_oops=False).flags(1 << 30)
    assert serial[:3] == ["-XX:+UseSerialGC", "-Xms64m", "-Xmx64m"]
    assert "-Xmn16m" in serial and "-XX:-UseCompressedOops" in serial
    assert "-XX:SurvivorRatio=8" in serial and "-XX:MaxTenuringThreshold=15" in serial
    assert "-XX:TargetSurvivorRatio=50" in serial
    assert not any(f.startswith("-XX:ParallelGCThreads") for f in serial)
    assert "-XX:MaxDirectMemorySize=576m" in serial
    par = model(collector="parallel", gc_threads=3, heap_mb=100.5).flags()
    assert par[:3] == ["-XX:+UseParallelGC", "-XX:-UseAdaptiveSizePolicy",
                       "-XX:ParallelGCThreads=3"]
    assert "-Xmx102912k" in par and "-XX:NewRatio=2" in par
    assert not any(f.startswith("-Xmn") for f in par)


def test_missing_jdk_is_unavailable(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(Unavailable, match="openjdk-17-jdk-headless"):
        model().build(tmp_path)
    assert "apt-get install openjdk-17-jdk-headless" in INSTALL


@needs_jdk
def test_through_the_native_harness(tmp_path, monkeypatch):
    # base.NativeModel.run: build into the cache, run the processes, check the digest, medians
    monkeypatch.setenv("MEMCOMPARE_CACHE", str(tmp_path))
    trace = memcompare.record("binary-trees")
    out = memcompare.Output(trace)
    model(heap_mb=32, repeats=1, replays=2).run(trace, out)
    assert out.stats["digest"] == expected_digest(trace)
    assert out.stats["language"] == "java" and "OpenJDK" in out.stats["runtime"]
    assert out.measured["gc_counts"].keys() == {"minor", "full"}
    assert out.measured["wall_time_s"] > 0 and out.measured["allocated_bytes"] > 0
