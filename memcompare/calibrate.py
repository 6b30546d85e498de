"""``memcompare calibrate``: this machine's costs, measured by the native twins and fitted.

For each simulated model with a native twin (``cpp`` and ``cpp-native``, …) it replays a set of
small purpose-built traces (:func:`calibration_traces`: allocation paths per size, batches that
leave the tcache for the bins, large chunks, live sets of different sizes and shapes under
garbage churn, a window of surviving objects, cyclic garbage, pure loads and stores) in the
twin, with the collector as configured and with it off (the harness's baseline), and fits

- the model's cost table (``Costs``), and
- the replayer's own mutator cost table (the ``MutatorCosts`` of the interpreter that replays
  the trace: its loads, stores, moves, clears and allocation requests),

so that the model run with them reproduces what was measured: the wall time with the collector
off, the memory-management time (wall − wall with it off) and the pause total of every trace.

The fit is regularised least squares (scipy.optimize.lsq_linear, non-negative) on relative
errors, linearised by finite differences at the current costs and iterated (Gauss–Newton; a
model whose costs feed back into its policy — Go's pacer — is only nearly linear). A prior pulls
each cost towards its documented default with a small weight, in log terms (a cost the data put
at 40 × its default is not held near it), so that a cost the traces cannot determine stays at
its default; the diagonal of the fit's resolution matrix, at the fitted costs and in units of
each one's fitted size, says how much each fitted value owes to the data (1) rather than the
prior (0). Costs with resolution below 0.5 are kept at their defaults and the others refitted.

Before fitting, each trace's collection count is compared with the model's: a trace on which
the model collects a different number of times (by more than 15 %) does not inform the collector
costs — a cost fitted over a wrong rule would hide the rule (docs/style.md §21) — and is reported.

The result is a costs profile (memcompare/profiles.py). This module imports the engine and the
plugins; nothing imports it but the command line.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import os
import platform
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import __version__
from . import params as P
from .costs import MutatorCosts
from .engine import replay
from .errors import ConfigError, Unavailable
from .plugins import Plugins, plugins
from .trace import Recorder, Trace

#: mutator fields fitted per replayer. WORK's scale is not: every replayer spins exactly. Nor is
#: free_ns: every calibration trace (like every built-in workload) frees what it allocates, so a
#: FREE's cost is inseparable from its ALLOC's, and alloc_ns carries both
MUTATOR_FIELDS = ("load_ns", "store_ns", "move_ns", "clear_ns", "alloc_ns", "alloc_ns_per_byte")
#: settings under which each model is calibrated (both the twin and the model run them, each
#: taking those it has), as configs/native.toml compares them: the JVM at a small heap, so that
#: the traces collect several times, warm (JIT-compiled) and pre-touched, as the model is with
#: always_pre_touch; the others cold — a fresh process's first replay, as a simulated run is
#: (glibc's and Go's heaps and pymalloc's arenas still to be grown and faulted in)
SETTINGS: dict[str, dict[str, Any]] = {
    "cpp": {"measure": "cold", "replays": 1},
    "go": {"measure": "cold", "replays": 1},
    "cpython": {"measure": "cold", "replays": 1},
    "jvm": {"heap_mb": 64.0, "young_mb": 16.0, "always_pre_touch": True},
}
#: further settings under which the traces that collect are measured again, so that a cost
#: proportional to a size the first setting fixes is told apart from a fixed one: the JVM's
#: young pauses at a 16 MiB young generation under a 4× larger heap and young generation (the
#: configured native run's pauses, at an 85 MiB young generation, are longer than a pause fitted
#: at 16 MiB alone predicts)
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "jvm": [{"heap_mb": 256.0, "young_mb": 64.0}],
    # Go's pauses at one P as well: the fixed part of a stop-the-world pause and the part
    # each other P adds (stw_ns, stw_per_proc_ns) are told apart only across GOMAXPROCS
    "go": [{"gomaxprocs": 1}],
}
#: a trace whose collection count differs from the model's by more than this fraction is left
#: out of the collector-cost fit
COUNT_TOLERANCE = 0.15
#: prior weights: a model cost is pulled towards its default (relative), a mutator cost only
#: faintly (its default is a compiled program's, a replayer is an interpreter)
PRIOR = 0.1
MUTATOR_PRIOR = 0.01
MUTATOR_SCALE_NS = 10.0
RESOLVED = 0.5


# -- the calibration traces ---------------------------------------------------------------------

def _churn(size: int, n: int, nslots: int = 0) -> Trace:
    """``n`` allocate-then-free pairs of one size: malloc's fast path, a TLAB bump."""
    t = Recorder()
    for _ in range(n):
        t.free(t.alloc(size, nslots))
    return t.build()


def _batches(size: int, batch: int, rounds: int) -> Trace:
    """``rounds`` × (``batch`` allocations, then all freed): past the tcache into the bins."""
    t = Recorder()
    for _ in range(rounds):
        hs = [t.alloc(size, 0) for _ in range(batch)]
        for h in hs:
            t.free(h)
    return t.build()


def _live_list(n_live: int, garbage: int, size: int = 48, nslots: int = 1,
               garbage_size: int = 56) -> Trace:
    """A linked list of ``n_live`` nodes kept to the end while ``garbage`` short-lived
    one-slot objects come and go: every collection marks (or scans) the list."""
    t = Recorder()
    head = t.alloc(size, nslots)
    nodes = [head]
    prev = head
    for _ in range(n_live - 1):
        node = t.alloc(size, nslots)
        t.store(prev, 0, node)
        if prev is not head:
            t.drop(prev)
        prev = node
    t.drop(prev)
    for _ in range(garbage):
        g = t.alloc(garbage_size, 1)
        t.free(g)
    # free the list in order (a valid C++ order: each node's successor is still referenced by
    # the node until it is freed, so walk from the head)
    cur = head
    while cur is not None:
        nxt = t.load(cur, 0)
        t.free(cur)
        cur = nxt
    del nodes
    return t.build()


def _wide_live(n_live: int, nslots: int, garbage: int) -> Trace:
    """A live array of objects with many slots each pointing at a small leaf: slot scanning."""
    t = Recorder()
    leaf = t.alloc(16, 0)
    objs = []
    for _ in range(n_live):
        o = t.alloc(8, nslots)
        for s in range(nslots):
            t.store(o, s, leaf)
        objs.append(o)
    for _ in range(garbage):
        t.free(t.alloc(56, 1))
    for o in objs:
        t.free(o)
    t.free(leaf)
    return t.build()


def _window(size: int, window: int, messages: int) -> Trace:
    """A FIFO window of ``window`` live messages of ``size`` bytes: each message survives a
    while, so a young collection copies the window (message-buffer's pattern)."""
    t = Recorder()
    q = []
    for _ in range(messages):
        q.append(t.alloc(size, 0))
        if len(q) > window:
            t.free(q.pop(0))
    for h in q:
        t.free(h)
    return t.build()


def _cycles(n: int) -> Trace:
    """``n`` two-object cycles, each dropped and then freed together: cyclic garbage."""
    t = Recorder()
    for _ in range(n):
        a = t.alloc(16, 1)
        b = t.alloc(16, 1)
        t.store(a, 0, b)
        t.store(b, 0, a)
        t.free(a)
        t.free(b)
    return t.build()


def _mutator(n: int, mix: str) -> Trace:
    """The replayer's own per-event costs, one mix of loads, moves, clears and stores each (four
    mixes, so that the four costs are separable): over a two-object structure, no allocation."""
    t = Recorder()
    a = t.alloc(16, 2)
    b = t.alloc(16, 2)
    t.store(a, 0, b)
    for _ in range(n):
        if mix == "loads":              # LOAD, CLEAR
            t.drop(t.load(a, 0))
        elif mix == "moves":            # MOVE, CLEAR
            t.drop(t.copy(a))
        elif mix == "stores":           # STORE, STORE
            t.store(b, 1, a)
            t.store(b, 1, None)
        else:                           # LOAD, MOVE, 2 STORE, 2 CLEAR
            x = t.load(a, 0)
            y = t.copy(x)
            t.store(b, 1, y)
            t.store(b, 1, None)
            t.drop(y)
            t.drop(x)
    t.store(a, 0, None)
    t.free(a)
    t.free(b)
    return t.build()


def calibration_traces(scale: float = 1.0) -> list[tuple[str, Trace]]:
    """The calibration traces at ``scale`` × their standard sizes (name, trace)."""
    def k(n: int) -> int:
        return max(1, int(round(n * scale)))
    return [
        ("churn-16B", _churn(16, k(60_000))),
        ("churn-256B", _churn(256, k(40_000))),
        ("churn-4KiB", _churn(4096, k(10_000))),
        ("churn-256KiB", _churn(256 << 10, k(200))),
        ("batches-64B", _batches(64, 2000, k(20))),
        ("batches-600B", _batches(600, 500, k(20))),
        ("live-list-20k", _live_list(k(20_000), k(300_000))),
        ("live-list-100k", _live_list(k(100_000), k(300_000))),
        ("wide-live", _wide_live(k(5_000), 16, k(300_000))),
        ("window-1KiB", _window(1024, k(2_000), k(100_000))),
        ("cycles", _cycles(k(60_000))),
        ("mutator-mixed", _mutator(k(40_000), "mixed")),
        ("mutator-loads", _mutator(k(100_000), "loads")),
        ("mutator-moves", _mutator(k(100_000), "moves")),
        ("mutator-stores", _mutator(k(100_000), "stores")),
    ]


# -- measuring ----------------------------------------------------------------------------------

@dataclass
class Measured:
    """What the twin measured on one trace."""

    name: str
    trace: Trace
    wall_s: float
    wall_off_s: float | None
    mm_s: float | None
    pause_total_s: float | None
    gc_count: int | None
    runtime: str | None
    settings: dict[str, Any]
    ranges: dict[str, Any] = field(default_factory=dict)


def measure(twin: str, traces: list[tuple[str, Trace]], twin_params: dict[str, Any],
            registry: Plugins, note: Callable[[str], None] = lambda s: None) -> list[Measured]:
    """Replay every trace in the twin (collector on and off); Unavailable propagates."""
    entry = registry.model(twin, "--models")
    out = []
    for name, trace in traces:
        note(f"{twin}: {name} ({trace.events:,} events)")
        params = P.build(entry.cls.Params, {**twin_params, "baseline": True}, twin)
        r = replay(trace, entry.cls, params, entry.cls.Costs(), check="basic")
        if r.status == "unavailable":
            raise Unavailable(r.error)
        if r.status != "ok":
            raise RuntimeError(f"{twin} failed on the calibration trace {name}: {r.error}")
        st = r.stats
        out.append(Measured(
            name, trace, r.metrics["wall_time_s"], st.get("baseline_wall_time_s"),
            st.get("mm_time_s"), r.metrics.get("pause_total_s"), r.metrics.get("gc_count"),
            st.get("runtime"), dict((st.get("twin") or {}).get("settings") or {}),
            dict(st.get("ranges") or {})))
    return out


# -- the model side -----------------------------------------------------------------------------

class _Sim:
    """The simulated model as a function of (its costs, the mutator costs) on one trace."""

    def __init__(self, cls, params, off_params, mutator_base: MutatorCosts):
        self.cls = cls
        self.params = params
        self.off = dataclasses.replace(params, **off_params) if off_params else None
        self.cost_fields = [f.name for f in dataclasses.fields(cls.Costs)]
        self.mutator_base = mutator_base

    def split(self, x: np.ndarray):
        nc = len(self.cost_fields)
        costs = self.cls.Costs(**{k: float(v) for k, v in zip(self.cost_fields, x[:nc])})
        mut = dataclasses.replace(self.mutator_base, **{k: float(v) for k, v in
                                                        zip(MUTATOR_FIELDS, x[nc:])})
        return costs, mut

    def run(self, trace: Trace, x: np.ndarray) -> dict[str, float]:
        costs, mut = self.split(x)
        on = replay(trace, self.cls, self.params, costs, check="basic", mutator=mut)
        if on.status != "ok":
            raise RuntimeError(f"the {self.cls.name} model did not finish a calibration trace: "
                               f"{on.status} {on.error}")
        res = {"wall": on.metrics["wall_time_s"], "pauses": on.metrics["pause_total_s"],
               "gc_count": on.metrics["gc_count"]}
        if self.off is not None:
            off = replay(trace, self.cls, self.off, costs, check="basic", mutator=mut)
            if off.status != "ok":
                raise RuntimeError(f"the {self.cls.name} model with {self.off} did not finish "
                                   f"a calibration trace: {off.status} {off.error}")
            res["wall_off"] = off.metrics["wall_time_s"]
            res["mm"] = res["wall"] - res["wall_off"]
        return res


def _observations(meas: list[Measured], counts_ok: list[bool],
                  first: list[dict[str, float]]) -> list[tuple[int, str, float, float]]:
    """(trace index, figure, measured, scale) of every figure the fit matches: the wall time
    with the collector off; memory-management time and pause total where the collection
    counts agree. Residuals are (model − measured) / scale."""
    obs = []
    for i, m in enumerate(meas):
        if m.wall_off_s is not None:
            obs.append((i, "wall_off", m.wall_off_s, m.wall_off_s))
        else:
            obs.append((i, "wall", m.wall_s, m.wall_s))
        if not counts_ok[i]:
            continue
        negative_ok = first[i].get("mm", 0.0) < 0
        # a memory-management time whose measured range (each configured process against each
        # collector-off one) includes 0 is noise, not a figure to fit
        rng = m.ranges.get("mm_time_s")
        resolved = not rng or not (rng[0] <= 0 <= rng[1])
        if m.mm_s is not None and resolved and (m.mm_s >= 0 or negative_ok):
            # a memory-management time near zero is matched in absolute terms (5 % of the wall).
            # A negative one — the collector-off run slower — is matched where the model has a
            # mechanism for it (Go with GOGC=off faults in a heap that grows without bound: its
            # time at the default costs is negative too); elsewhere (fresh memory streamed
            # through the cache where glibc reuses warm chunks) no cost table can reproduce it,
            # and it is left out (the trace table shows it)
            obs.append((i, "mm", m.mm_s, max(abs(m.mm_s), 0.05 * m.wall_s)))
        if m.pause_total_s:
            obs.append((i, "pauses", m.pause_total_s, m.pause_total_s))
    return obs


def fit(meas: list[Measured], sim_of: Callable[[Measured], _Sim], x0: np.ndarray,
        is_mutator: np.ndarray, *, iterations: int = 3,
        fixed: np.ndarray | None = None,
        note: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Fit the costs ``x`` (model costs, then mutator costs) to the measurements; ``fixed``
    costs keep their values in ``x0``."""
    from scipy.optimize import lsq_linear

    sims = [sim_of(m) for m in meas]
    first = [s.run(m.trace, x0) for s, m in zip(sims, meas)]
    counts_ok = [_counts_agree(m.gc_count, f["gc_count"]) for m, f in zip(meas, first)]
    obs = _observations(meas, counts_ok, first)
    scale = np.where(is_mutator, MUTATOR_SCALE_NS, np.maximum(np.abs(x0), 1e-3))
    weight = np.where(is_mutator, MUTATOR_PRIOR, PRIOR)
    prior = x0.copy()
    fixed = np.zeros(len(x0), dtype=bool) if fixed is None else fixed
    free = ~fixed

    def evaluate(x):
        return [s.run(m.trace, x) for s, m in zip(sims, meas)]

    def residuals(results):
        return np.array([(results[i][k] - v) / sc for i, k, v, sc in obs])

    def jacobian(x, base):
        J = np.zeros((len(obs), len(x)))
        r0 = residuals(base)
        for j in np.flatnonzero(free):
            h = 0.25 * x[j] if x[j] > 0 else 0.05 * scale[j]
            xj = x.copy()
            xj[j] += h
            J[:, j] = (residuals(evaluate(xj)) - r0) / h
        return J, r0

    # A model cost with a non-zero default is pulled towards it in log terms: a cost the data
    # put at 40 × its default pays the prior log 40, not 39 default-sized units (a per-P stop
    # of 40 µs against an assumed 1 µs would otherwise be held near 10). Mutator costs, and
    # costs whose default is 0, keep the linear pull.
    logp = ~is_mutator & (x0 > 0)
    floor = np.where(logp, 1e-6 * x0, 0.0)
    x0_log = np.where(logp, x0, 1.0)            # 1.0 where the pull is linear (unused there)

    def prior_rows(x):
        """The prior's rows at ``x``, linearised: (weight per unit of step, residual)."""
        xs = np.where(logp, np.maximum(x, floor), 1.0)
        per = np.where(logp, weight * scale / xs, weight)
        res = np.where(logp, weight * np.log(xs / x0_log), weight * (x - prior) / scale)
        return per, res

    x = x0.copy()
    results = first
    resolution = np.zeros(len(x))
    J = np.zeros((len(obs), len(x)))
    for stage in ("all", "resolved"):
        # the chord method: one Jacobian per stage (finite differences at the stage's start),
        # then steps that re-evaluate only the residuals — exact in one step for a model whose
        # time is linear in its costs, a few steps for one whose costs feed its policy (the
        # prior's rows are re-linearised at every step)
        J, r = jacobian(x, results)
        Js = J[:, free] * scale[free]
        for it in range(iterations + (2 if stage == "all" else 0)):
            note(f"fit ({stage}), step {it + 1}: {len(obs)} figures, {int(free.sum())} costs")
            per, pres = prior_rows(x)
            A = np.vstack([Js, np.diag(per[free])])
            b = np.concatenate([-r, -pres[free]])
            lb = (floor[free] - x[free]) / scale[free]
            sol = lsq_linear(A, b, bounds=(lb, np.full(lb.shape, np.inf)), method="bvls")
            step = np.zeros(len(x))
            step[free] = sol.x * scale[free]
            x = np.maximum(x + step, floor)
            results = evaluate(x)
            r = residuals(results)
            if np.all(np.abs(step[free]) <= 1e-3 * np.maximum(np.abs(x[free]), 1e-6)):
                break
        if stage == "all":
            # the resolution at the fitted costs, each in units of its own fitted size (of its
            # scale for a linear one): how much of the value comes from the data
            unit = np.where(logp, np.maximum(x, floor), scale)
            Ju = J[:, free] * unit[free]
            JtJ = Ju.T @ Ju
            R = np.linalg.solve(JtJ + np.diag(weight[free] ** 2), JtJ)
            resolution[free] = np.clip(np.diag(R), 0.0, 1.0)
            # costs the traces cannot determine go back to their defaults, the rest refit
            unresolved = (resolution < RESOLVED) & ~is_mutator
            x[unresolved] = x0[unresolved]
            free = ~unresolved & ~fixed
            results = evaluate(x)
    final = residuals(results)
    return {"x": x, "resolution": resolution, "free": free, "obs": obs, "residuals": final,
            "results": results, "counts_ok": counts_ok, "jacobian": J}


def _counts_agree(measured: int | None, modelled: int) -> bool:
    if measured is None:
        return True
    if measured == modelled:
        return True
    return abs(modelled - measured) <= COUNT_TOLERANCE * max(measured, 1)


# -- the command --------------------------------------------------------------------------------

def twins(registry: Plugins) -> dict[str, str]:
    """Simulated model name -> its native twin's name, for every registered twin."""
    out = {}
    for name, entry in registry.models().items():
        t = getattr(entry.cls, "twin", None)
        if getattr(entry.cls, "measured", False) and t:
            out[t] = name
    return out


def calibrate_model(model: str, *, registry: Plugins | None = None, scale: float = 1.0,
                    twin_params: dict[str, Any] | None = None,
                    defaults: dict[str, Any] | None = None,
                    traces: list[tuple[str, Trace]] | None = None,
                    note: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Measure and fit one model; returns its section of the profile."""
    registry = registry or plugins()
    pairs = twins(registry)
    if model not in pairs:
        have = ", ".join(sorted(pairs)) or "none"
        raise ConfigError(f"--models: {model!r} has no native twin to calibrate against "
                          f"(models with one: {have})")
    twin = pairs[model]
    sim_entry = registry.model(model, "--models")
    twin_cls = registry.model(twin, "--models").cls
    settings = {**(defaults or {}), **SETTINGS.get(model, {}), **(twin_params or {})}
    sim_names = {f.name for f in dataclasses.fields(sim_entry.cls.Params)}
    twin_names = {f.name for f in dataclasses.fields(twin_cls.Params)}
    traces = traces if traces is not None else calibration_traces(scale)
    meas = measure(twin, traces, {k: v for k, v in settings.items() if k in twin_names},
                   registry, note)
    collecting = {m.name for m in meas if m.gc_count}
    # a variant whose settings the caller chose otherwise (--param) is not measured
    variants = [v for v in VARIANTS.get(model, []) if not set(v) & set(twin_params or {})]
    for variant in variants:
        label = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in variant.items())
        more = measure(twin, [(f"{n} @ {label}", t) for n, t in traces if n in collecting],
                       {k: v for k, v in {**settings, **variant}.items() if k in twin_names},
                       registry, note)
        meas += more
    off_params = dict(getattr(twin_cls, "off_params", {}) or {})
    mutator_base = MutatorCosts()

    def sim_of(m: Measured) -> _Sim:
        # the model runs under the settings the twin actually ran with
        values = {k: v for k, v in {**settings, **m.settings}.items()
                  if k in sim_names and v is not None}
        params = P.build(sim_entry.cls.Params, values, model)
        return _Sim(sim_entry.cls, params, {k: v for k, v in off_params.items()
                                            if k in sim_names}, mutator_base)

    cost_fields = [f.name for f in dataclasses.fields(sim_entry.cls.Costs)]
    defaults = sim_entry.cls.Costs()
    x0 = np.array([float(getattr(defaults, f)) for f in cost_fields] +
                  [float(getattr(mutator_base, f)) for f in MUTATOR_FIELDS])
    names = cost_fields + list(MUTATOR_FIELDS)
    is_mut = np.array([False] * len(cost_fields) + [True] * len(MUTATOR_FIELDS))
    # a replayer that does not itself write the bytes it allocates (the runtime zeroes them,
    # priced by the model's own cost) has no per-byte allocation cost of its own
    fixed = np.array([is_mut[j] and n == "alloc_ns_per_byte"
                      and not getattr(twin_cls, "initialises_allocations", False)
                      for j, n in enumerate(names)])
    res = fit(meas, sim_of, x0, is_mut, fixed=fixed, note=note)
    ran = {**settings, **(meas[0].settings if meas else {})}
    return _section(model, twin, meas, res, names, x0, is_mut,
                    {k: v for k, v in ran.items() if k in sim_names and v is not None})


def _section(model, twin, meas, res, names, x0, is_mut, settings) -> dict[str, Any]:
    x, J = res["x"], res["jacobian"]
    obs, resid = res["obs"], res["residuals"]
    fit_info = {}
    for j, name in enumerate(names):
        key = f"mutator.{name}" if is_mut[j] else name
        if is_mut[j] and not res["free"][j]:
            fit_info[key] = {"default": float(x0[j]), "status": "fixed (the replayer does "
                             "not write what it allocates)", "resolution": 0.0}
            continue
        # the figure this cost moves most, relative to its scale: where it is determined
        contrib = np.abs(J[:, j]) * max(x[j], 1e-9)
        k = int(np.argmax(contrib)) if contrib.size else 0
        fitted = bool(res["free"][j])
        info = {"default": float(x0[j]), "status": "fitted" if fitted else
                "default (the calibration traces do not determine it)",
                "resolution": round(float(res["resolution"][j]), 3)}
        if contrib.size and contrib[k] > 0:
            i, fig, _, _ = obs[k]
            info["source"] = f"{meas[i].name}: {_FIGURE[fig]}"
            info["value"] = _round(float(x[j]))
            info["residual"] = round(float(resid[k]), 4)
        fit_info[key] = info
    nc = int((~is_mut).sum())
    costs = {n: _round(v) for n, v in zip(names[:nc], x[:nc])}
    mutator = {n: _round(v) for n, v in zip(names[nc:], x[nc:])}
    rows = []
    for i, m in enumerate(meas):
        r = res["results"][i]
        row = {"name": m.name, "events": int(m.trace.events),
               "gc_count_measured": m.gc_count, "gc_count_model": int(r["gc_count"]),
               "counts_agree": bool(res["counts_ok"][i]),
               "wall_measured_s": m.wall_s, "wall_model_s": r["wall"]}
        if m.wall_off_s is not None and "wall_off" in r:
            row.update({"wall_off_measured_s": m.wall_off_s, "wall_off_model_s": r["wall_off"],
                        "mm_measured_s": m.mm_s, "mm_model_s": r["mm"]})
        if m.pause_total_s is not None:
            row.update({"pauses_measured_s": m.pause_total_s,
                        "pauses_model_s": r["pauses"]})
        rows.append({k: (_round(v) if isinstance(v, float) else v) for k, v in row.items()
                     if v is not None})
    rms = float(math.sqrt(float(np.mean(resid ** 2)))) if resid.size else 0.0
    return {"twin": twin, "runtime": meas[0].runtime if meas else None,
            "settings": settings,
            "rms_relative_residual": round(rms, 4),
            "costs": costs, "mutator": mutator, "fit": fit_info, "traces": rows}


_FIGURE = {"wall_off": "wall time with the collector off", "wall": "wall time",
           "mm": "memory-management time", "pauses": "pause total"}


def _round(v: float) -> float:
    return float(f"{v:.6g}")


def machine() -> dict[str, Any]:
    """The machine a profile was measured on."""
    info: dict[str, Any] = {"platform": platform.platform(), "cores": os.cpu_count() or 0}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["processor"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            info["memory_gib"] = round(kb / (1 << 20), 1)
    except OSError:
        info.setdefault("processor", platform.processor() or "unknown")
    return info


def profile(sections: dict[str, dict[str, Any]], argv: list[str] | None = None
            ) -> dict[str, Any]:
    """The profile document around the models' sections."""
    return {"profile": {"format": "memcompare-costs-profile", "version": 1,
                        "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime(
                            "%Y-%m-%dT%H:%M:%SZ"),
                        "memcompare_version": __version__,
                        "command": "memcompare " + shlex.join(argv or sys.argv[1:]),
                        "machine": machine()},
            "models": sections}


# -- command line -------------------------------------------------------------------------------

def add_parser(sub) -> None:
    c = sub.add_parser(
        "calibrate", help="measure this machine's costs with the native twins, write a profile",
        description="Replay small purpose-built traces in each model's native twin (with the "
                    "collector as configured and off), fit the model's cost table and the "
                    "replayer's mutator costs by regularised least squares, and write a costs "
                    "profile (TOML) with each fitted value, the trace it is determined by and "
                    "its residual. Load it with costs = \"PROFILE\" in a [[model]] or "
                    "`memcompare run CONFIG --costs PROFILE`. Measurements need quiet cores: "
                    "run nothing else meanwhile.")
    c.add_argument("--models", "-m", default=None, metavar="M[,M...]",
                   help="simulated models to calibrate (default: every model with a twin)")
    c.add_argument("-o", "--output", required=True, metavar="PROFILE.toml",
                   help="where to write the profile; an existing profile keeps the sections "
                        "of the models not calibrated now")
    c.add_argument("--scale", type=float, default=1.0, metavar="X",
                   help="calibration trace sizes × X (default 1: 0.1–1 M events each)")
    c.add_argument("--repeats", type=int, default=5, metavar="N",
                   help="twin processes per trace and setting (default 5)")
    c.add_argument("--replays", type=int, default=3, metavar="N",
                   help="replays per process for a model measured warm; the first is warm-up "
                        "(default 3; a model measured cold replays once per process)")
    c.add_argument("--param", "-p", action="append", default=[], metavar="MODEL.KEY=VALUE",
                   help="a setting for one model and its twin, VALUE read as TOML "
                        "(go.gomaxprocs=2, cpython.python=\"python3.13\")")
    c.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def run(args) -> int:
    from .errors import EXIT_CELL_FAILED, EXIT_OK
    from .files import atomic_write
    from .profiles import dumps
    registry = plugins()
    pairs = twins(registry)
    wanted = ([m.strip() for m in args.models.split(",") if m.strip()] if args.models
              else sorted(pairs))
    for m in wanted:
        if m not in pairs:
            raise ConfigError(f"--models: {m!r} has no native twin to calibrate against "
                              f"(models with one: {', '.join(sorted(pairs))})")
    if args.scale <= 0 or args.repeats < 1 or args.replays < 1:
        raise ConfigError("--scale must be > 0, --repeats and --replays >= 1")
    settings = _settings(args.param, wanted)
    quiet = args.quiet

    def note(msg: str) -> None:
        if not quiet:
            print(f"calibrate: {msg}", file=sys.stderr, flush=True)

    traces = calibration_traces(args.scale)
    sections: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    argv = sys.argv[1:]
    if Path(args.output).exists():
        # an existing profile keeps the models not calibrated now (one model at a time)
        from .profiles import load as load_profile
        old = load_profile(args.output, "-o")
        sections = {m: sec for m, sec in old.doc.get("models", {}).items() if m not in wanted}
    done = 0
    for m in wanted:
        try:
            sections[m] = calibrate_model(
                m, registry=registry, traces=traces,
                defaults={"repeats": args.repeats, "replays": args.replays},
                twin_params=settings.get(m, {}), note=note)
        except Unavailable as e:
            missing.append(f"{m}: {e}")
            print(f"memcompare: {m} not calibrated: {e}", file=sys.stderr)
            continue
        except ConfigError:
            raise
        except Exception as e:       # one model's failure keeps the others' fits
            missing.append(f"{m}: {e}")
            print(f"memcompare: {m} not calibrated: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        # written after every model: a long calibration keeps what it measured
        atomic_write(args.output, dumps(profile(sections, argv)))
        done += 1
    if not done:
        return EXIT_CELL_FAILED
    print(summary({m: sections[m] for m in wanted if m in sections}))
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_CELL_FAILED if missing else EXIT_OK


def _settings(items: list[str], models: list[str]) -> dict[str, dict[str, Any]]:
    from .params import parse_value
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        model, dot, name = key.partition(".")
        if not sep or not dot or not name:
            raise ConfigError(f"--param {item!r}: expected MODEL.KEY=VALUE, e.g. "
                              f"go.gomaxprocs=2")
        if model not in models:
            raise ConfigError(f"--param {item!r}: {model!r} is not being calibrated "
                              f"({', '.join(models)})")
        out.setdefault(model, {})[name] = parse_value(value.strip())
    return out


def summary(sections: dict[str, dict[str, Any]]) -> str:
    """The fitted costs and per-trace agreement, as text tables."""
    from tabulate import tabulate
    parts = []
    for model, sec in sections.items():
        values = {**sec["costs"], **{f"mutator.{k}": v for k, v in sec["mutator"].items()}}
        rows = [[k, f"{info['default']:g}", f"{values.get(k, info['default']):g}",
                 f"{info['resolution']:.2f}", info.get("source", "–"),
                 f"{info['residual']:+.1%}" if "residual" in info else "–"]
                for k, info in sec["fit"].items() if info["status"] == "fitted"]
        parts.append(f"{model} against {sec['twin']} ({sec['runtime']}): rms residual "
                     f"{sec['rms_relative_residual']:.1%}\n" +
                     tabulate(rows, headers=["cost", "default", "fitted", "resolution",
                                             "determined by", "residual"],
                              disable_numparse=True))
        trows = [[t["name"], f"{t.get('gc_count_measured', '–')}", str(t["gc_count_model"]),
                  f"{t['wall_measured_s'] * 1e3:.2f}", f"{t['wall_model_s'] * 1e3:.2f}",
                  f"{t['mm_measured_s'] * 1e3:.2f}" if "mm_measured_s" in t else "–",
                  f"{t['mm_model_s'] * 1e3:.2f}" if "mm_model_s" in t else "–"]
                 for t in sec["traces"]]
        parts.append(tabulate(trows, headers=["trace", "GCs measured", "GCs model",
                                              "wall measured (ms)", "wall model (ms)",
                                              "mm measured (ms)", "mm model (ms)"],
                              disable_numparse=True))
    return "\n\n".join(parts)
