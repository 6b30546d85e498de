"""The Python API behind ``memcompare.record`` and ``memcompare.replay`` (docs/design.md §9).

Names are resolved through the plugin facade and parameters validated by the same typed
declarations the TOML config uses, so a notebook gets the same errors a config file does.
"""
from __future__ import annotations

import random
from typing import Any

from . import params as P
from .costs import MutatorCosts
from .engine import Result
from .engine import replay as _engine_replay
from .errors import ConfigError
from .plugins import Entry, plugins
from .trace import Recorder, Trace


def workload_params(entry: Entry, values: dict[str, Any], *, seed: int | None = None,
                    path: str = "params"):
    """Typed params for a workload; a declared ``seed`` takes the run's seed unless given."""
    values = dict(values)
    names = {f.name for f in P.fields(entry.cls.Params)}
    if seed is not None and "seed" in names and "seed" not in values:
        values["seed"] = seed
    return P.build(entry.cls.Params, values, path)


def record_entry(entry: Entry, params: Any) -> Trace:
    """Record one workload instance with already-validated params."""
    seed = getattr(params, "seed", 0)
    rec = Recorder(entry.name, P.as_dict(params))
    entry.cls().record(params, rec, random.Random(seed))
    return rec.build()


def record(workload: str, *, seed: int | None = None, **values) -> Trace:
    entry = plugins().workload(workload)
    return record_entry(entry, workload_params(entry, values, seed=seed))


def replay(trace: Trace, model: str, *, costs: dict | None = None, check: str | None = None,
           mutator_costs: dict | None = None, **values) -> Result:
    entry = plugins().model(model)
    p = P.build(entry.cls.Params, values, "params")
    c = P.build(entry.cls.Costs, costs or {}, "costs")
    m = P.build(MutatorCosts, mutator_costs or {}, "mutator_costs")
    if not isinstance(trace, Trace):
        raise ConfigError(f"replay() needs a Trace, got {type(trace).__name__}")
    return _engine_replay(trace, entry.cls, p, c, check=check, mutator=m)
