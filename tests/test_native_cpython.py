"""cpython-native (issue 6): the standard-library replayer agrees with memcompare on what the trace
does, reports its collector faithfully, and prints the contract's JSON lines.

The replayer script is tested directly through subprocess (it needs only a CPython); the model
class is tested when the native plugin package imports.
"""
from __future__ import annotations

import gc
import importlib.util
import json
import subprocess
import sys
import sysconfig
from array import array
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
        "null_reasons", "python_version", "gc_enabled", "thresholds"}

#: small but varied: trees, dead cycles, a hash table with a recency list, big arrays, WORK
WORKLOADS = [
    ("binary-trees", {"max_depth": 6}),
    ("cyclic-garbage", {"structures": 300}),
    ("lru-cache", {"operations": 800, "capacity": 200, "key_space": 400}),
    ("large-objects", {"steps": 1500}),
]


def run_replayer(trace_path, replays: int = 1, *options: str, python: str = sys.executable
                 ) -> list[dict]:
    r = subprocess.run([python, "-I", str(REPLAY), str(trace_path), str(replays),
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
    t.build().save(path, version=1)
    return path


@pytest.mark.parametrize("workload,params", WORKLOADS, ids=[w for w, _ in WORKLOADS])
def test_digest_equals_memcompare(tmp_path, workload, params):
    trace = memcompare.record(workload, **params)
    path = tmp_path / "t.mctrace"
    trace.save(path, version=1)
    for line in run_replayer(path, 2):
        assert line["digest"] == expected_digest(trace)


def test_every_line_has_the_contract_keys(tmp_path):
    trace = memcompare.record("binary-trees", max_depth=5)
    trace.save(tmp_path / "t.mctrace", version=1)
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


def test_a_pointer_free_payload_becomes_resident(tmp_path):
    """An atom's payload is written, as the C++ and Go twins write theirs: one held 64 MiB atom
    raises the replay's peak RSS by at least 60 MiB (with ``bytes(size)``, calloc's fresh mmap
    was never touched and the peak rose by a few KiB)."""
    t = Recorder("one-big-atom", {})
    big = t.alloc(64 << 20, 0)
    t.work(1000)
    t.free(big)
    t.build().save(tmp_path / "t.mctrace", version=1)
    line = run_replayer(tmp_path / "t.mctrace", 1)[0]
    assert line["footprint_peak_bytes"] - line["rss_before_bytes"] >= 60 << 20


def test_a_cold_replay_starts_from_a_trimmed_heap(tmp_path):
    """Decoding the trace frees tens of MB that glibc would keep resident and hand to the
    replay's large objects; trimmed first, the replay's growth covers what it keeps live: a
    window of 10 000 messages of 1 057 bytes (33 + 1 024, from glibc) is ≥ 9.57 MiB at 95 %
    (untrimmed it read 8.7 MiB here)."""
    trace = memcompare.record("message-buffer", messages=60000, window=10000)
    trace.save(tmp_path / "t.mctrace", version=1)
    line = run_replayer(tmp_path / "t.mctrace", 1)[0]
    assert line["footprint_peak_bytes"] - line["rss_before_bytes"] >= 0.95 * 10000 * 1057


def test_collector_disabled_reports_no_collection(tmp_path):
    trace = memcompare.record("cyclic-garbage", structures=300)   # dead cycles: GC would run
    trace.save(tmp_path / "t.mctrace", version=1)
    assert run_replayer(tmp_path / "t.mctrace", 1)[0]["gc_count"] > 0
    for line in run_replayer(tmp_path / "t.mctrace", 2, "--gc", "off"):
        assert line["gc_count"] == 0
        assert line["pauses_s"] == []
        assert line["digest"] == expected_digest(trace)


def test_thresholds_700_10_10_on_70000_live_containers(linked_list_70k):
    # generation 0 fills every 701 new containers (count > 700, reset by the collection):
    # ⌊70,000 / 701⌋ = 99 collections, every 12th a generation-1 one (its count, 1 per young
    # collection, must exceed 10): 8 of them, 91 young — exactly, since each replay starts with
    # every count at 0 and only the trace's objects in the generations
    for line in run_replayer(linked_list_70k, 2, "--thresholds", "700,10,10"):
        assert line["gc_counts"] == {"gen0": 91, "gen1": 8, "gen2": 0}
        assert line["thresholds"] == [700, 10, 10] and line["gc_enabled"] is True


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
    assert CPythonNative.twin == "cpython"
    assert CPythonNative.matched == ("version", "gc_enabled", "thresholds", "build")
    assert CPythonNative.off_params == {"gc_enabled": False}
    m = CPythonNative(Params(gc_enabled=False, thresholds=(700, 10, 10)), None)
    prefix = m.build(Path("unused"))
    assert prefix[-1] == str(REPLAY) and Path(prefix[0]).exists()
    argv, env = m.command(prefix, "t.mctrace", 3)
    assert argv[len(prefix):] == ["t.mctrace", "3", "--gc", "off", "--thresholds", "700,10,10"]
    assert env == {}
    defaults = CPythonNative(Params(), None)
    assert defaults.command(prefix, "t", 1)[0][len(prefix):] == ["t", "1"]
    # the collector-off baseline: the same replay under gc.disable()
    assert defaults.command(prefix, "t", 1, baseline=True)[0][len(prefix):] == \
        ["t", "1", "--gc", "off"]
    assert (Params().repeats, Params().replays) == (3, 3)


def test_settings_are_the_cpython_models_params_as_the_replay_reported_them():
    CPythonNative, Params = _model()
    m = CPythonNative(Params(), None)
    assert m.settings({"python_version": "3.11.7", "gc_enabled": True,
                       "thresholds": [700, 10, 10]}) == \
        {"version": "3.11", "gc_enabled": True, "thresholds": [700, 10, 10], "build": "default"}
    assert m.settings({"python_version": "3.13.0", "gc_enabled": False,
                       "thresholds": [2000, 10, 10]})["version"] == "3.13"
    # the model's "3.14" is 3.14.5+; 3.14.0-3.14.4 ran the incremental collector, "3.14.0"
    assert m.settings({"python_version": "3.14.2", "gc_enabled": True,
                       "thresholds": [2000, 10, 0]})["version"] == "3.14.0"
    assert m.settings({"python_version": "3.14.5", "gc_enabled": True,
                       "thresholds": [2000, 10, 10]})["version"] == "3.14"
    # a free-threaded interpreter is the model's build = "free-threaded"
    ft = m.settings({"python_version": "3.14.5", "gc_enabled": True, "free_threaded": True,
                     "thresholds": [2000, 10, 10]})
    assert (ft["version"], ft["build"]) == ("3.14", "free-threaded")


def test_the_replayer_reports_its_settings(tmp_path):
    trace = memcompare.record("binary-trees", min_depth=2, max_depth=3)
    trace.save(tmp_path / "t.mctrace", version=1)
    on, = run_replayer(tmp_path / "t.mctrace", 1)
    assert on["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert on["gc_enabled"] is True and on["thresholds"] == list(__import__("gc").get_threshold())
    assert on["free_threaded"] is bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    off, = run_replayer(tmp_path / "t.mctrace", 1, "--gc", "off", "--thresholds", "5,6,7")
    assert off["gc_enabled"] is False and off["thresholds"] == [5, 6, 7]


def _replay_module():
    spec = importlib.util.spec_from_file_location("cpython_replay", REPLAY)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


#: (payload, slots, sys.getsizeof): a __slots__ instance is 16 (PyGC_Head) + 16 (PyObject) + 8
#: per slot, the payload in ceil(payload / 8) more; an atom is bytes(payload), 33 + payload
SHAPES = [(16, 2, 16 + 16 + 2 * 8 + 2 * 8), (0, 1, 40), (9, 1, 32 + 8 + 16),
          (32, 2, 32 + 16 + 32), (8, 0, 41), (1024, 0, 1057)]


def test_one_object_per_trace_object_sized_as_the_model_lays_it_out():
    mod = _replay_module()
    from memcompare_cpython import layout
    sizes = [s for s, _, _ in SHAPES]
    nslots = [n for _, n, _ in SHAPES]
    op = array("b", [mod.ALLOC] * len(SHAPES))
    B, C = array("q", sizes), array("q", nslots)
    classes, ns, psize, _, _ = mod.shapes(op, B, C)
    assert list(B) == list(range(len(SHAPES)))          # each ALLOC now names its shape
    for k, (size, n, nbytes) in enumerate(SHAPES):
        obj = classes[k]() if n else bytes(psize[k])
        assert sys.getsizeof(obj) == nbytes
        assert gc.is_tracked(obj) == (n > 0)             # containers tracked, atoms not
        assert int(layout.object_bytes(np.array([size]), np.array([n]))[0]) == nbytes
    assert sys.getsizeof(object()) == int(layout.object_bytes(np.array([0]), np.array([0]))[0])


def test_resolving_the_interpreter_by_name_version_and_path():
    mod = pytest.importorskip("memcompare_native.cpython_model")
    from memcompare.errors import Unavailable
    me = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert mod.resolve_python(None) == sys.executable
    assert mod.resolve_python(sys.executable) == sys.executable
    with pytest.raises(Unavailable, match="pyenv install 3.99"):
        mod.resolve_python("3.99")
    with pytest.raises(Unavailable, match="no-such-python"):
        mod.resolve_python("no-such-python")
    # "3.Xt" is the free-threaded build, and the message says how to get one
    with pytest.raises(Unavailable, match=r"free-threaded CPython 3\.99 .*pyenv install 3\.99t"):
        mod.resolve_python("3.99t")
    with pytest.raises(Unavailable, match="pyenv install 3.99t"):
        mod.resolve_python("python3.99t")
    try:
        found = mod.resolve_python(me)          # python3.X on PATH, or under `pyenv root`
    except Unavailable:
        pytest.skip(f"no python{me} on PATH or under pyenv")
    r = subprocess.run([found, "-c", "import sys; print(*sys.version_info[:2], sep='.')"],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == me


def test_model_missing_interpreter_is_unavailable():
    CPythonNative, Params = _model()
    from memcompare.errors import Unavailable
    with pytest.raises(Unavailable, match="not found"):
        CPythonNative(Params(python="no-such-python-3.99"), None).build(Path("unused"))
    with pytest.raises(Unavailable, match="pyenv install 3.99t"):
        CPythonNative(Params(python="3.99t"), None).build(Path("unused"))


def test_a_missing_interpreter_makes_the_cell_unavailable_naming_what_to_install():
    trace = memcompare.record("binary-trees", min_depth=2, max_depth=3)
    r = memcompare.replay(trace, "cpython-native", python="3.99t", repeats=1, replays=1)
    assert r.status == "unavailable"
    assert "pyenv install 3.99t" in r.error


def test_model_runs_and_reports(linked_list_70k):
    CPythonNative, Params = _model()
    from memcompare.model import Output
    trace = memcompare.load_trace(linked_list_70k)
    m = CPythonNative(Params(thresholds=(700, 10, 10), repeats=1, replays=2), None)
    out = Output(trace)
    m.run(trace, out)
    assert out.measured["gc_count"] == 99          # 91 + 8: see the test above
    assert out.stats["runtime"].startswith("CPython ")
    assert out.stats["pause_source"] == "gc.callbacks"
    off = CPythonNative(Params(gc_enabled=False, repeats=1, replays=2), None)
    out = Output(trace)
    off.run(trace, out)
    assert out.measured["gc_count"] == 0


# -- each installed interpreter against the cpython model at its version ----------------------

def young_trees():
    """A kept binary tree of 8,191 one-payload nodes, then 20 trees of 2,047 built and dropped
    one at a time — objects dying young, where 3.13's threshold of 2000 and 3.12's 700 differ."""
    t = Recorder("young-trees", {})

    def tree(depth):
        if depth == 0:
            return t.alloc(8, 2)
        left, right = tree(depth - 1), tree(depth - 1)
        node = t.alloc(8, 2)
        t.store(node, 0, left)
        t.store(node, 1, right)
        t.drop(left)
        t.drop(right)
        return node

    keep = tree(12)
    for _ in range(20):
        t.drop(tree(10))
    t.work(10)
    t.drop(keep)
    return t.build()


@pytest.fixture(scope="module")
def version_traces(tmp_path_factory):
    d = tmp_path_factory.mktemp("versions")
    traces = {"young-trees": young_trees(),
              "cyclic-garbage": memcompare.record("cyclic-garbage", structures=3000)}
    for name, trace in traces.items():
        trace.save(d / f"{name}.mctrace", version=1)
    return d, traces


@pytest.mark.parametrize("version", ["3.11", "3.12", "3.13"])
def test_collections_per_generation_within_2_percent_of_the_model(version, version_traces):
    mod = pytest.importorskip("memcompare_native.cpython_model")
    from memcompare.errors import Unavailable
    try:
        python = mod.resolve_python(version)
    except Unavailable as e:
        pytest.skip(str(e))
    d, traces = version_traces
    for name, trace in traces.items():
        line, = run_replayer(d / f"{name}.mctrace", 1, python=python)
        assert line["python_version"].startswith(version + ".")
        model = memcompare.replay(trace, "cpython", version=version)
        assert model.status == "ok", model.error
        want = model.metrics["gc_counts"]
        assert sum(want.values()) > 0
        for kind in ("gen0", "gen1", "gen2"):
            m, real = want.get(kind, 0), line["gc_counts"][kind]
            assert abs(real - m) <= 0.02 * max(m, 1), (name, kind, line["gc_counts"], want)
