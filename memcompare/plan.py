"""``memcompare run CONFIG --dry-run``: the matrix of cells a run would have, without running it.

Each workload is recorded (or its trace file loaded) to give its size and hash, so that each
cell can be looked up in the results directory: "finished" cells would be reused, "to run" ones
computed. Nothing is written. With ``run.heap_multiples``, a heap-limited model's cells are
listed per multiple; their heap in MiB is known only once the minimum heap has been found (by a
previous run into the same directory, or by bisection when the run starts).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tabulate import tabulate

from . import params as P
from .config import Config
from .errors import ConfigError
from .results import read


def _finished(out: Path, config: Config) -> tuple[set[str], dict[str, dict[str, Any]]]:
    """Keys of the finished cells in ``out`` that a run of ``config`` would reuse, and the
    minimum heaps a previous time–space run found."""
    from .runner import FINISHED, _key_of
    res = out / "results.json"
    if not res.exists():
        return set(), {}
    try:
        old = read(res)
    except ConfigError as e:
        raise ConfigError(f"{e}; move it away or choose another --out") from None
    run = (old.get("config") or {}).get("run") or {}
    if run.get("check") != config.check or \
            run.get("mutator_costs") != P.as_dict(config.mutator):
        return set(), {}
    return ({_key_of(c) for c in old.get("cells", []) if c.get("status") in FINISHED},
            {h["key"]: h for h in old.get("min_heaps", [])})


def _traces(config: Config, use_cache: bool) -> dict[str, Any]:
    """Each workload instance's trace (from the trace cache, recorded, or its file), or the
    message saying why it has none."""
    from .api import record_entry
    from .cache import TraceCache
    from .cache import key as cache_key
    from .errors import MemcompareError
    from .runner import _wkey
    from .traceio import load
    cache = TraceCache() if use_cache else None
    traces: dict[str, Any] = {}
    for w in config.workloads:
        key = _wkey(w)
        if key in traces:
            continue
        if w.trace_path is not None:
            try:
                traces[key] = load(w.trace_path)
            except MemcompareError as e:
                raise ConfigError(f"workload[{w.index}].trace: {e}") from None
            continue
        k = cache_key(w.entry, w.params) if cache is not None else None
        meta = cache.lookup(k) if cache is not None else None
        trace = cache.load(k, meta) if meta is not None else None
        if trace is None:
            try:
                trace = record_entry(w.entry, w.params)
            except Exception as e:
                traces[key] = f"{type(e).__name__}: {e}"
                continue
            if cache is not None:
                try:
                    cache.store(k, trace)       # the run that follows reuses it
                except OSError:
                    pass
        traces[key] = trace
    return traces


def dry_run(config: Config, out: Path, *, use_cache: bool = True) -> str:
    from .runner import _mutator_of, _wkey, cell_key
    from .trace import Trace
    traces = _traces(config, use_cache)
    done, heaps = _finished(out, config)
    rows = []
    finished = 0
    for w in config.workloads:
        t = traces.get(_wkey(w))
        ok = isinstance(t, Trace)
        wl = w.name
        if w.trace_path is None:
            wl += _changed(w.plain_params, P.as_dict(w.entry.cls.Params()))
        for m in config.models:
            hp = m.entry.cls.heap_param
            variants: list[tuple[str, dict[str, Any] | None]]
            params = P.as_dict(m.params)
            if config.heap_multiples and hp is not None:
                base = {k: v for k, v in params.items() if k != hp}
                key = json.dumps([m.name, base, m.cost_overrides, w.name, w.plain_params,
                                  t.sha256 if ok else None], sort_keys=True)
                known = heaps.get(key)
                variants = []
                for mult in config.heap_multiples:
                    if known is None:
                        variants.append((f"{hp}={mult:g}× minimum (found when run)", None))
                    else:
                        value = round(known["min_heap_mb"] * mult, 6)
                        variants.append((f"{hp}={value:g} ({mult:g}× minimum)",
                                         {**params, hp: value}))
            else:
                variants = [("", params)]
            defaults = P.as_dict(m.entry.cls.Params())
            if config.heap_multiples and hp is not None:
                defaults[hp] = params[hp]
            for extra, full in variants:
                desc = m.name + _changed(params, defaults) + (f" {extra}" if extra else "")
                costs = " ".join(f"costs.{k}={v}" for k, v in m.cost_overrides.items())
                for r in range(config.repeats):
                    if not ok:
                        state = "trace failed"
                    elif full is not None and cell_key(
                            m.name, full, m.cost_overrides, w.name, w.plain_params, r,
                            t.sha256, _mutator_of(m)) in done:
                        state = "finished"
                        finished += 1
                    else:
                        state = "to run"
                    rows.append([desc + (f" {costs}" if costs else ""), wl,
                                 f"{t.events:,}" if ok else "–",
                                 f"{t.objects:,}" if ok else "–",
                                 r, state])
    table = tabulate(rows, headers=["model (non-default params)", "workload", "events", "objects",
                                    "repeat", "in " + str(out)],
                     tablefmt="simple", disable_numparse=True,
                     colalign=("left", "left", "right", "right", "right", "left"))
    errors = [f"{w.name}: {t}" for w in config.workloads
              if isinstance(t := traces.get(_wkey(w)), str)]
    lines = [f"{config.name}: {len(rows)} cell(s), {finished} finished in {out}, "
             f"{len(rows) - finished} to run", "", table]
    lines += [f"trace failed: {e}" for e in errors]
    return "\n".join(lines) + "\n"


def _changed(values: dict[str, Any], defaults: dict[str, Any]) -> str:
    """`` k=v`` for each value that differs from its default (``seed`` aside)."""
    return "".join(f" {k}={P.show(v)}" for k, v in values.items()
                   if k != "seed" and defaults.get(k, object()) != v)
