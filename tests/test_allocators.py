"""``cpp-native`` over four real allocators: glibc, and jemalloc / tcmalloc / mimalloc preloaded
from their Debian packages (plugins/memcompare_native/cpp_model.py).

That the preloaded allocator really served the replay is checked with each allocator's own
statistics switch, which only that allocator understands: jemalloc's ``MALLOC_CONF=
stats_print:true``, gperftools' ``MALLOCSTATS=1``, mimalloc's ``MIMALLOC_SHOW_STATS=1``.
"""
from __future__ import annotations

import shutil
import subprocess

import pytest

import memcompare
from memcompare.errors import Unavailable

cpp_model = pytest.importorskip("memcompare_native.cpp_model",
                                reason="the memcompare_native package is not importable")
pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="cpp-native needs g++")

#: allocator -> (statistics switch, a line its statistics print)
STATS = {
    "jemalloc": ({"MALLOC_CONF": "stats_print:true"}, "Begin jemalloc statistics"),
    "tcmalloc": ({"MALLOCSTATS": "1"}, "Bytes in use by application"),
    "mimalloc": ({"MIMALLOC_SHOW_STATS": "1"}, "heap stats"),
}


def need(allocator):
    if cpp_model.find_allocator(allocator) is None:
        pytest.skip(f"{allocator} is not installed (apt-get install "
                    f"{cpp_model.ALLOCATORS[allocator][1]})")


@pytest.fixture(scope="module")
def trace():
    return memcompare.record("message-buffer", messages=4000, window=400)


@pytest.fixture
def cache(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("MEMCOMPARE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.mark.parametrize("allocator", sorted(STATS))
def test_the_preloaded_allocator_serves_new_and_delete(allocator, trace, tmp_path, cache):
    need(allocator)
    model = cpp_model.CppNative(cpp_model.Params(allocator=allocator, replays=1), None)
    path = tmp_path / "t.mctrace"
    trace.save(path, version=1)      # the replayers read format version 1
    argv, env = model.command(model._built(), str(path), 1)
    assert env["LD_PRELOAD"].endswith(cpp_model.ALLOCATORS[allocator][0])
    switch, marker = STATS[allocator]
    r = subprocess.run(argv, env={**env, **switch},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert marker in r.stderr + r.stdout
    # glibc's run prints no such statistics: the switch alone proves nothing
    argv, env = cpp_model.CppNative(cpp_model.Params(replays=1), None).command(
        model._built(), str(path), 1)
    r = subprocess.run(argv, env={**env, **switch}, capture_output=True, text=True, timeout=60)
    assert marker not in r.stderr + r.stdout


@pytest.mark.parametrize("allocator", ["glibc", "jemalloc", "tcmalloc", "mimalloc"])
def test_each_allocator_reports_footprint_time_and_a_footprint_curve(allocator, trace, cache):
    if allocator != "glibc":
        need(allocator)
    r = memcompare.replay(trace, "cpp-native", allocator=allocator, repeats=1, replays=2,
                          footprint_samples=8, baseline=False)
    assert r.status == "ok", r.error
    m = r.metrics
    assert m["wall_time_s"] > 0 and m["footprint_peak_bytes"] >= trace.live_peak_bytes
    if allocator == "glibc":           # exact chunk sums: request + 8, in 16-byte steps, >= 32
        want = sum(max(32, (int(n) + 8 + 15) & ~15) for n in trace.obj_bytes)
        assert m["allocated_bytes"] == want
    else:
        assert m["allocated_bytes"] is None
        assert "glibc only" in r.stats["null_reasons"]["allocated_bytes"]
        assert allocator in r.stats["runtime"] or \
            cpp_model.ALLOCATORS[allocator][0] in r.stats["runtime"]
    assert r.stats["twin"]["settings"] == {"allocator": allocator}
    # footprint over time: the start, 8 samples through the loop, the end; times ascending
    fp = r.timeline["footprint"]
    assert len(fp) == 1 + 8 + 1
    times = [t for t, _ in fp]
    assert times == sorted(times) and times[-1] <= r.timeline["wall_ns"] * 1.0001
    # growth above the resident set before the loop: at most the peak growth of any replay
    assert max(b for _, b in fp) <= r.stats["ranges"]["footprint_growth_bytes"][1]


def test_a_missing_allocator_is_unavailable_naming_its_package(monkeypatch, tmp_path):
    monkeypatch.setattr(cpp_model, "library_dirs", lambda: [tmp_path])
    model = cpp_model.CppNative(cpp_model.Params(allocator="mimalloc"), None)
    with pytest.raises(Unavailable, match="apt-get install libmimalloc2.0"):
        model.build(tmp_path)
    trace = memcompare.record("message-buffer", messages=100, window=10)
    r = memcompare.replay(trace, "cpp-native", allocator="tcmalloc")
    assert r.status == "unavailable" and "libtcmalloc-minimal4" in r.error
