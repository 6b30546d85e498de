"""Time–space sweeps: the minimum heap by bisection, and cells at multiples of it."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest

from memcompare import Model, hookimpl, param
from memcompare import config, runner
from memcompare.config import ModelSpec
from memcompare.costs import MutatorCosts
from memcompare.engine import replay
from memcompare.errors import ConfigError, OutOfMemory
from memcompare.plugins import Plugins, set_plugins
from memcompare.traceio import parse_text

TRACE = """\
alloc 0 1000 1
alloc 1 3000 0
store 0 0 1
clear 1
alloc 1 20000 0
free 1
work 100
free 0
"""


@dataclass(frozen=True)
class ThresholdParams:
    heap_mb: float | None = param(None, "heap limit in MiB", minimum=0)


class Threshold(Model):
    """Runs out of memory when its heap is under 2.5 × the trace's live peak."""

    name = "threshold"
    Params = ThresholdParams
    heap_param = "heap_mb"
    heap_granule_mb = 1 / 1024
    probes = 0

    def run(self, trace, out):
        Threshold.probes += 1
        need = 2.5 * trace.live_peak_bytes
        if self.params.heap_mb is not None and self.params.heap_mb * (1 << 20) < need:
            raise OutOfMemory(f"needs {need} bytes", index=0)
        self.n = trace.objects

    def held(self):
        return np.arange(self.n), np.zeros(self.n, np.int64)


class _Plugin:
    @hookimpl
    def register_models(self, register):
        register(Threshold)


@pytest.fixture
def registry():
    p = Plugins()
    p.register(_Plugin(), "threshold-plugin")
    set_plugins(p)
    Threshold.probes = 0
    yield p
    set_plugins(None)


def linear_scan(trace, spec):
    cls = spec.entry.cls
    k = 1
    while True:
        params = type(spec.params)(**{**spec.params.__dict__, cls.heap_param:
                                      k * cls.heap_granule_mb})
        if replay(trace, cls, params, spec.costs, check="basic").status != "oom":
            return k * cls.heap_granule_mb
        k += 1


@pytest.mark.parametrize("model", ["nogc", "threshold"])
def test_bisection_finds_what_a_linear_scan_finds(model, registry):
    trace = parse_text(TRACE, source="t")
    entry = registry.model(model)
    spec = ModelSpec(0, entry, entry.cls.Params(), entry.cls.Costs())
    found, probes = runner.min_heap(trace, spec, MutatorCosts())
    assert found == linear_scan(trace, spec)
    if model == "nogc":
        # nogc holds everything: 1008 + 3000 + 20000 bytes (8-aligned) -> 24008 B, which on a
        # 16 KiB granule is 2 granules = 1/32 MiB
        assert found == math.ceil(24008 / 16384) / 64
    else:
        # live peak 1008 + 20000 + 3000 = 24008 B; 2.5x = 60020 B -> 59 KiB granules
        assert found == math.ceil(60020 / 1024) / 1024
    assert probes < 20


CONFIG = """\
[run]
name = "ts"
heap_multiples = [1.5, 2, 4]

[[workload]]
trace = "t.mctrace.txt"

[[model]]
name = "cpp"

[[model]]
name = "nogc"

[[model]]
name = "threshold"
"""


def test_heap_multiples_give_one_cell_per_multiple_per_limited_model(tmp_path, registry):
    (tmp_path / "t.mctrace.txt").write_text(TRACE)
    (tmp_path / "run.toml").write_text(CONFIG)
    out = runner.run(config.load(tmp_path / "run.toml"), tmp_path / "out", jobs=1)
    cells = out.cells
    assert [c["model"] for c in cells].count("cpp") == 1           # no heap limit: once
    for model in ("nogc", "threshold"):
        mine = [c for c in cells if c["model"] == model]
        assert [c["heap_multiple"] for c in mine] == [1.5, 2.0, 4.0]
        assert all(c["status"] == "ok" for c in mine)
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    heaps = {h["model"]: h["min_heap_mb"] for h in doc["min_heaps"]}
    nogc = [c for c in cells if c["model"] == "nogc"]
    assert [c["model_params"]["heap_mb"] for c in nogc] == [
        round(heaps["nogc"] * m, 6) for m in (1.5, 2, 4)]
    # the minimum heaps are cached in the results: a second run probes nothing
    Threshold.probes = 0
    again = runner.run(config.load(tmp_path / "run.toml"), tmp_path / "out", jobs=1)
    assert again.computed == 0 and Threshold.probes == 0


def test_a_heap_given_with_heap_multiples_is_a_config_error(tmp_path, registry):
    (tmp_path / "t.mctrace.txt").write_text(TRACE)
    (tmp_path / "run.toml").write_text(CONFIG.replace('name = "nogc"',
                                                      'name = "nogc"\nparams = { heap_mb = 4 }'))
    with pytest.raises(ConfigError, match=r"model\[1\]\.params\.heap_mb: with run.heap_multiples"):
        config.load(tmp_path / "run.toml")


def test_bad_heap_multiples_name_the_element(tmp_path, registry):
    (tmp_path / "t.mctrace.txt").write_text(TRACE)
    (tmp_path / "run.toml").write_text(CONFIG.replace("[1.5, 2, 4]", "[1.5, -2]"))
    with pytest.raises(ConfigError, match=r"run.heap_multiples\[1\]: must be a finite number > 0"):
        config.load(tmp_path / "run.toml")


# -- the published time–space curves have distinct points ---------------------------------------

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def resolved_heap(model: str, params: dict, heap_mb: float) -> int:
    """The heap, in bytes, the model actually runs with for ``heap_mb``: HotSpot aligns it (and
    sizes its generations) as plugins/memcompare_jvm/heap.py does; nogc holds what it is given."""
    if model == "jvm":
        from memcompare_jvm.heap import Sizes
        return Sizes.compute(params["collector"], heap_mb, params.get("young_mb"),
                             params["new_ratio"], params["survivor_ratio"]).heap
    return int(heap_mb * (1 << 20))


def distinct_heaps(min_heaps: list[dict], multiples: list[float]) -> list[str]:
    """Each curve whose multiples resolve to the same heap setting twice."""
    bad = []
    for h in min_heaps:
        heaps = [resolved_heap(h["model"], h["model_params"], round(h["min_heap_mb"] * m, 6))
                 for m in multiples]
        if len(set(heaps)) != len(heaps):
            bad.append(f"{h['model']} {h['model_params'].get('collector', '')} on "
                       f"{h['workload']}: min {h['min_heap_mb']} MiB -> {heaps}")
    return bad


def test_coinciding_multiples_are_caught():
    # the old config's JVM minimum of 2 MiB: 2.5, 3 and 4 MiB all align to 4 MiB
    jvm = {"collector": "serial", "young_mb": None, "new_ratio": 2, "survivor_ratio": 8}
    old = [{"model": "jvm", "model_params": jvm, "workload": "binary-trees", "min_heap_mb": 2.0}]
    assert distinct_heaps(old, [1.25, 1.5, 2, 3, 4, 6])
    new = [{**old[0], "min_heap_mb": 16.0}]       # 20, 24, 32, 48, 64, 96 MiB
    assert distinct_heaps(new, [1.25, 1.5, 2, 3, 4, 6]) == []


def test_published_time_space_curves_have_distinct_heaps_of_at_least_16_mib():
    doc = json.loads((ROOT / "results" / "time-space" / "results.json").read_text())
    cfg = config.load(ROOT / "configs" / "time-space.toml")
    multiples = list(cfg.heap_multiples)
    assert doc["config"]["run"]["heap_multiples"] == multiples
    heaps = doc["min_heaps"]
    # one curve per heap-limited model (nogc, jvm serial and parallel) per workload
    assert len(heaps) == 3 * len(cfg.workloads)
    small = [(h["model"], h["workload"], h["min_heap_mb"]) for h in heaps
             if h["min_heap_mb"] < 16]
    assert small == [], "minimum heaps under 16 MiB: enlarge these workloads"
    assert distinct_heaps(heaps, multiples) == []
