"""Every shipped config loads, and configs/native.toml gives every twin its model's
collector-off cell under the same cost tables (the simulated side of memory-management time)."""
from __future__ import annotations

from pathlib import Path

import pytest

from memcompare import config, params as P

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_loads(path):
    cfg = config.load(path)
    assert cfg.cells()


def test_the_native_config_runs_each_model_on_and_off_under_each_cost_table():
    cfg = config.load(Path(__file__).resolve().parents[1] / "configs" / "native.toml")
    sims = [m for m in cfg.models if not m.entry.cls.measured]
    twins = [m for m in cfg.models if m.entry.cls.measured]
    assert {t.entry.cls.twin for t in twins} == {"cpp", "go", "jvm", "cpython"}
    for t in twins:
        off = t.entry.cls.off_params
        mine = [m for m in sims if m.name == t.entry.cls.twin]
        on = [m for m in mine if any(P.as_dict(m.params)[k] != v for k, v in off.items())]
        # default costs and the calibrated profile
        assert {m.costs_profile is not None for m in on} == {False, True}
        for m in on:
            want = {**P.as_dict(m.params), **off}
            assert any(P.as_dict(o.params) == want and o.cost_overrides == m.cost_overrides
                       and o.mutator == m.mutator for o in mine), (m.name, want)
            # the settings the pair shares are written out for the model, as for its twin
            tp = P.as_dict(t.params)
            for k in t.entry.cls.matched:
                if k in tp and k in P.as_dict(m.params):
                    assert P.as_dict(m.params)[k] == tp[k], (m.name, k)
