"""The native models' common machinery: measured cells, `unavailable`, the model-against-
measurement tables, and the digest every replayer must agree on (issue 6)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

import memcompare
from memcompare import Model, hookimpl
from memcompare import cli, config, runner, tables
from memcompare.errors import Unavailable
from memcompare.plugins import Plugins, set_plugins

TRACE = "alloc 0 16 1\nalloc 1 32 0\nstore 0 0 1\nclear 1\nload 2 0 0\nclear 2\nwork 1000\nfree 0\n"


class Toy(Model):
    """A simulated model with a native twin."""

    name = "toy"

    def run(self, trace, out):
        out.allocated_bytes = int(trace.obj_bytes.sum())
        out.footprint(0, 4096)
        out.pause(2, 1000.0, "minor")
        out.collection("minor", 1, [])
        frees = np.flatnonzero(trace.op == 5)
        out.reclaimed_ids, out.reclaimed_at = trace.x[frees], frees

    def held(self):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)


class ToyNative(Model):
    """Its twin: 'measures' fixed figures."""

    name = "toy-native"
    measured = True

    def run(self, trace, out):
        out.measured = {"wall_time_s": 2e-6, "gc_count": 2, "pause_p50_s": 5e-7,
                        "pause_max_s": 1e-6, "footprint_peak_bytes": 8192}
        out.stats["ranges"] = {"wall_time_s": [1.5e-6, 3e-6]}

    def held(self):
        raise AssertionError("never called for a measured model")


class Missing(ToyNative):
    """A native model whose toolchain is absent."""

    name = "missing-native"

    def run(self, trace, out):
        raise Unavailable("missing-native needs a toolchain: apt-get install nothing")


class _Plugin:
    @hookimpl
    def register_models(self, register):
        for cls in (Toy, ToyNative, Missing):
            register(cls)


@pytest.fixture
def toys():
    p = Plugins()
    p.register(_Plugin(), "toys")
    set_plugins(p)
    yield p
    set_plugins(None)


def test_measured_and_unavailable_cells_and_the_twin_table(tmp_path, toys, capsys):
    (tmp_path / "t.mctrace.txt").write_text(TRACE)
    (tmp_path / "run.toml").write_text(
        '[run]\nname = "n"\n[[workload]]\ntrace = "t.mctrace.txt"\n'
        '[[model]]\nname = "toy"\n[[model]]\nname = "toy-native"\n'
        '[[model]]\nname = "missing-native"\n')
    code = cli.main(["run", str(tmp_path / "run.toml"), "--out", str(tmp_path / "o"), "-q"])
    assert code == 0                      # unavailable is not a failed cell: the run goes on
    out = capsys.readouterr().out
    cells = runner.run(config.load(tmp_path / "run.toml"), tmp_path / "o", jobs=1).cells
    by = {c["model"]: c for c in cells}
    assert by["toy-native"]["status"] == "ok" and by["toy-native"]["deterministic"] is False
    assert "deterministic" not in by["toy"]
    assert by["missing-native"]["status"] == "unavailable"
    assert "apt-get install nothing" in by["missing-native"]["error"]
    # the twin table: model 1 pause of 1 µs, 1 collection; measured 2 collections
    twins = tables.twin_tables(cells)
    assert [t for t, _ in twins] == ["toy against toy-native on t.mctrace.txt (?, warm replays; default)"]
    table = twins[0][1]
    rows = {line.split("|")[1].strip(): [x.strip() for x in line.split("|")[2:5]]
            for line in table.splitlines()[2:]}
    assert rows["GC count"] == ["1", "2", "0.5"]              # 1 collection modelled, 2 seen
    assert rows["pause max (µs)"] == ["1", "1", "1"]
    assert rows["wall (ms)"][1] == "0.002 [0.0015–0.003]"     # median [range over replays]
    assert "## Model against measurement" in out


def test_the_simulator_digest_of_a_trace():
    from memcompare_native.base import digest
    from memcompare.traceio import parse_text
    t = parse_text(TRACE, source="t")
    # two objects, one LOAD of a non-null slot, 16 + 8 and 32 bytes
    assert digest(t) == {"objects": 2, "loads_nonnull": 1, "bytes": 56}


NATIVE = ["go-native", "jvm-native", "cpython-native", "cpp-native"]
TOOL = {"go-native": "go", "jvm-native": "javac", "cpython-native": None, "cpp-native": "g++"}


@pytest.mark.parametrize("model", NATIVE)
def test_every_replayer_observes_what_the_trace_says(model):
    """The digest agreement: objects allocated, non-null LOADs and bytes, on several workloads,
    for every replayer whose toolchain is present (CI installs all four)."""
    tool = TOOL[model]
    if tool is not None and shutil.which(tool) is None:
        r = memcompare.replay(memcompare.record("binary-trees", max_depth=4), model,
                              repeats=1, replays=1)
        assert r.status == "unavailable" and "install" in r.error
        return
    from memcompare_native.base import digest
    for workload, params in (("binary-trees", {"max_depth": 5}),
                             ("lru-cache", {"operations": 500, "capacity": 100,
                                            "key_space": 200}),
                             ("cyclic-garbage", {"structures": 100})):
        trace = memcompare.record(workload, **params)
        r = memcompare.replay(trace, model, repeats=1, replays=2)
        assert r.status == "ok", r.error
        assert r.stats["digest"] == digest(trace)
        assert r.metrics["wall_time_s"] > 0
        assert r.metrics["footprint_peak_bytes"] > 0


def _cell(model, params, metrics, stats=None, workload="w"):
    return {"model": model, "model_params": params, "workload": workload,
            "workload_params": {}, "repeat": 0, "status": "ok", "metrics": metrics,
            "stats": stats or {}}


def _native(settings, **stats):
    return _cell("go-native", {}, {"gc_count": 10, "wall_time_s": 0.2, "pause_p50_s": 2e-5,
                                   "pause_max_s": 1e-4},
                 {"twin": {"model": "go", "settings": settings, "off_params": {"gogc": "off"}},
                  "runtime": "go1.19.8", "measure": "warm", **stats})


def test_a_pair_whose_settings_differ_is_named_not_compared():
    cells = [_cell("go", {"gogc": 100, "gomaxprocs": 4}, {"gc_count": 12, "wall_time_s": 0.1}),
             _native({"gogc": 100, "gomaxprocs": 2})]
    (title, table), = tables.twin_tables(cells)
    assert title.endswith("settings differ, not compared")
    assert "gomaxprocs" in table and "4" in table and "2" in table
    assert "GC count" not in table
    assert tables.error_summary(cells) is None


def test_a_matched_pair_compares_and_takes_memory_management_time_from_the_off_cell():
    cells = [_cell("go", {"gogc": 100, "gomaxprocs": 4}, {"gc_count": 11, "wall_time_s": 0.3}),
             _cell("go", {"gogc": 100, "gomaxprocs": 2}, {"gc_count": 12, "wall_time_s": 0.25}),
             _cell("go", {"gogc": "off", "gomaxprocs": 2}, {"gc_count": 0, "wall_time_s": 0.2}),
             _native({"gogc": 100, "gomaxprocs": 2}, mm_time_s=0.04)]
    (title, table), = tables.twin_tables(cells)
    assert title == "go against go-native on w (go1.19.8, warm replays; default)"
    rows = {line.split("|")[1].strip(): [x.strip() for x in line.split("|")[2:5]]
            for line in table.splitlines()[2:]}
    assert rows["GC count"] == ["12", "10", "1.2"]      # the gomaxprocs = 2 cell, not the 4
    # modelled 250 - 200 ms = 50 ms against 40 ms measured
    assert rows["memory-management time (ms)"] == ["50", "40", "1.25"]
    summary = tables.error_summary(cells)
    assert "+20%" in summary and "+25%" in summary      # GC count 12/10, MM time 50/40


def test_a_resolved_setting_of_the_model_counts_as_its_value():
    """cpython's thresholds absent = the version's own, which the model reports in stats."""
    sim = _cell("cpython", {"version": "3.11", "thresholds": None}, {"gc_count": 5},
                {"thresholds": [700, 10, 10]})
    from memcompare.twins import mismatches
    assert mismatches(sim, {"version": "3.11", "thresholds": [700, 10, 10]}) == []
    assert mismatches(sim, {"version": "3.13", "thresholds": [2000, 10, 10]}) == [
        ("version", "3.11", "3.13"), ("thresholds", [700, 10, 10], [2000, 10, 10])]
