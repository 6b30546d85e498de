"""The runner: a config's matrix of cells, in a process pool, into a results directory.

Each workload instance is recorded once, before any cell runs, and shared by every model (the
pool forks after recording, so workers see the traces without copying them). A cell's exception
becomes ``status: error`` naming the plugin and the cell; the other cells go on. Every finished
cell is written to ``results.json`` at once, atomically; re-running the same config into the same
directory reuses the cells already finished with the same settings and trace hash.
"""
from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing
import os
import sys
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import __version__
from . import params as P
from .api import record_entry
from .config import Config, ModelSpec, WorkloadSpec
from .engine import prepare, replay
from .errors import ConfigError, MemcompareError
from .plugins import plugins
from .files import atomic_write
from .results import document, dumps, environment, read, to_csv
from .tables import markdown
from .trace import Trace

FINISHED = ("ok", "oom")

# Traces recorded by the parent, inherited by forked workers: key -> Trace or error message.
_TRACES: dict[str, Trace | str] = {}


@dataclass
class Outcome:
    out_dir: Path
    cells: list[dict[str, Any]]
    reused: int
    computed: int
    #: False when nothing changed and no file was rewritten
    written: bool = True

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Cells that failed: ``oom`` is a result and ``unavailable`` says what to install."""
        return [c for c in self.cells if c["status"] == "error"]


class Progress:
    """What the runner tells a person while it works; the base class tells nobody."""

    def note(self, message: str) -> None:
        """A line of news (recording a workload, reusing cells)."""

    def begin(self, total: int) -> None:
        """``total`` cells are about to run."""

    def running(self, label: str) -> None:
        """A cell started (in-process) or was handed to the pool."""

    def done(self, label: str, status: str, error: str | None) -> None:
        """A cell finished with ``status``."""

    def close(self) -> None:
        pass


class BarProgress(Progress):
    """A tqdm bar on stderr: cells done of all, the current cell, the time left."""

    def __init__(self):
        from tqdm import tqdm
        self._tqdm = tqdm
        self.bar = None

    def note(self, message: str) -> None:
        (self.bar.write if self.bar else print)(message, file=sys.stderr)

    def begin(self, total: int) -> None:
        self.bar = self._tqdm(total=total, unit="cell", file=sys.stderr, dynamic_ncols=True,
                              smoothing=0.1)

    def running(self, label: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(label, refresh=True)

    def done(self, label: str, status: str, error: str | None) -> None:
        if self.bar is None:
            return
        if status not in FINISHED:
            self.bar.write(f"{label}: {status} — {error}", file=sys.stderr)
        self.bar.set_postfix_str(f"{label}: {status}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def progress_for(quiet: bool) -> Progress:
    """A bar for a person at a terminal; nothing without one or under ``--quiet``."""
    if quiet or not sys.stderr.isatty():
        return Progress()
    return BarProgress()


def _wkey(w: WorkloadSpec) -> str:
    return json.dumps([w.name, w.plain_params], sort_keys=True)


def cell_key(model: str, model_params: dict, model_costs: dict, workload: str,
             workload_params: dict, repeat: int, sha256: str | None,
             mutator_costs: dict | None = None) -> str:
    key = [model, model_params, model_costs, workload, workload_params, repeat, sha256]
    if mutator_costs is not None:       # a model with its own mutator table (a twin config)
        key.append(mutator_costs)
    return json.dumps(key, sort_keys=True)


def _key_of(cell: dict[str, Any]) -> str:
    return cell_key(cell["model"], cell["model_params"], cell.get("model_costs", {}),
                    cell["workload"], cell["workload_params"], cell["repeat"],
                    cell["trace"]["sha256"], cell.get("mutator_costs"))


def _mutator_of(m: ModelSpec) -> dict | None:
    return P.as_dict(m.mutator) if m.mutator is not None else None


def prepare_traces(workloads: list[WorkloadSpec], progress: Progress) -> None:
    """Record (or load) each workload instance once; a failure is remembered, not raised."""
    from .traceio import load
    for w in workloads:
        key = _wkey(w)
        if key in _TRACES:
            continue
        progress.note(f"recording {w.name}")
        if w.trace_path is not None:
            # bad input, not a plugin's fault: stop before any cell runs (exit 2)
            try:
                _TRACES[key] = load(w.trace_path)
            except MemcompareError as e:
                raise ConfigError(f"workload[{w.index}].trace: {e}") from None
            prepare(_TRACES[key])
            continue
        try:
            _TRACES[key] = record_entry(w.entry, w.params)
            prepare(_TRACES[key])       # once here, not once per forked worker
        except MemcompareError as e:
            _TRACES[key] = (f"workload {w.name!r} (plugin {w.entry.plugin!r}) recorded an "
                            f"invalid trace: {e}")
        except Exception as e:
            where = _where(e)
            _TRACES[key] = (f"workload {w.name!r} (plugin {w.entry.plugin!r}) failed while "
                            f"recording: {type(e).__name__}: {e}{where}")


def _where(e: BaseException) -> str:
    tb = traceback.extract_tb(e.__traceback__)
    if not tb:
        return ""
    f = tb[-1]
    return f" (at {Path(f.filename).name}:{f.lineno})"


def _config_doc(config: Config) -> dict[str, Any]:
    return {
        "file": config.path.name if config.path else None,
        "text": config.text,
        "run": {"name": config.name, "repeats": config.repeats, "seed": config.seed,
                "check": config.check, "mutator_costs": P.as_dict(config.mutator),
                "heap_multiples": list(config.heap_multiples or [])},
        **({"set": list(config.overrides)} if config.overrides else {}),
        "workloads": [{"name": w.name, "params": w.plain_params} for w in config.workloads],
        "models": [{"name": m.name, "params": P.as_dict(m.params),
                    "costs": m.cost_overrides,
                    **({"costs_profile": m.costs_profile} if m.costs_profile else {}),
                    **({"mutator_costs": _mutator_of(m)} if m.mutator is not None else {})}
                   for m in config.models],
    }


def _cell_task(model: ModelSpec, w: WorkloadSpec, repeat: int, check: str, mutator) -> dict:
    """Run one cell (in a worker or in-process) and return its results entry."""
    if _wkey(w) not in _TRACES:     # a spawned worker: record again (deterministic) or load
        prepare_traces([w], Progress())
    trace = _TRACES[_wkey(w)]
    cell = _cell_entry(model, w, repeat, trace if isinstance(trace, str) else None)
    if isinstance(trace, str):
        return cell
    try:
        result = replay(trace, model.entry.cls, model.params, model.costs, check=check,
                        mutator=model.mutator or mutator)
    except Exception as e:
        params = ", ".join(f"{k}={v}" for k, v in cell["model_params"].items())
        cell["error"] = (f"model {model.name!r} (plugin {model.entry.plugin!r}) failed on "
                         f"workload {w.name!r}{f' with {params}' if params else ''}: "
                         f"{type(e).__name__}: {e}{_where(e)}")
        return cell
    cell["status"] = result.status
    cell["error"] = result.error
    if not result.deterministic:
        cell["deterministic"] = False
    if model.heap_multiple is not None:
        cell["heap_multiple"] = model.heap_multiple
    if result.oom_at is not None:
        cell["oom_at_event"] = result.oom_at
    cell["metrics"] = result.metrics
    cell["stats"] = result.stats
    cell["timeline"] = result.timeline
    return cell


def _pool_context():
    # fork shares the recorded traces (and any plugin registered in-process) with the workers
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def run(config: Config, out_dir: Path, *, jobs: int = 1,
        progress: Progress | None = None) -> Outcome:
    progress = progress or Progress()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _TRACES.clear()                 # files may have changed since a previous run in-process
    prepare_traces(config.workloads, progress)
    cfg_doc = _config_doc(config)
    env = environment(plugins().versions())

    previous: dict[str, dict[str, Any]] = {}
    known_heaps: dict[str, dict[str, Any]] = {}
    old: dict[str, Any] | None = None
    res_path = out_dir / "results.json"
    if res_path.exists():
        try:
            old = read(res_path)
        except ConfigError as e:
            raise ConfigError(f"{e}; move it away or choose another --out") from None
        same_run = (old.get("config", {}).get("run", {}).get("check") == config.check and
                    old.get("config", {}).get("run", {}).get("mutator_costs") ==
                    cfg_doc["run"]["mutator_costs"])
        if same_run:
            previous = {_key_of(c): c for c in old.get("cells", [])
                        if c.get("status") in FINISHED}
            known_heaps = {h["key"]: h for h in old.get("min_heaps", [])}

    specs, min_heaps = _expand(config, known_heaps, progress)
    slots: list[dict[str, Any] | None] = [None] * len(specs)
    todo: list[int] = []
    for k, (m, w, r) in enumerate(specs):
        t = _TRACES.get(_wkey(w))
        sha = t.sha256 if isinstance(t, Trace) else None
        key = cell_key(m.name, P.as_dict(m.params), m.cost_overrides, w.name, w.plain_params,
                       r, sha, _mutator_of(m))
        if key in previous:
            slots[k] = previous[key]
        else:
            todo.append(k)
    reused = len(specs) - len(todo)
    if reused:
        progress.note(f"reusing {reused} finished cell(s) from {res_path}")
    # run --model/--workload: the results directory keeps the cells of the rest of the config
    kept: list[dict[str, Any]] = []
    if config.subset and old is not None:
        models = {m.name for m in config.models}
        workloads = {w.name for w in config.workloads}
        kept = [c for c in old.get("cells", [])
                if c.get("model") not in models or c.get("workload") not in workloads]
        if not config.overrides and old.get("config"):
            cfg_doc = old["config"]      # the run is still the whole config's
        mine = {h["key"] for h in min_heaps}
        min_heaps = min_heaps + [h for h in old.get("min_heaps", []) if h["key"] not in mine]

    def save() -> None:
        done = [c for c in slots if c is not None] + kept
        doc = document(cfg_doc, env, done, __version__)
        if min_heaps:
            doc["min_heaps"] = min_heaps
        atomic_write(res_path, dumps(doc))

    def finished(k: int, cell: dict[str, Any], n_done: int) -> None:
        slots[k] = cell
        save()
        m, w, _ = specs[k]
        progress.done(f"{m.name} on {w.name}", cell["status"], cell.get("error"))

    cells = [c for c in slots if c is not None]
    if not todo and old is not None and _same(old.get("cells"), cells + kept) and \
            old.get("config") == cfg_doc and _same(old.get("min_heaps", []), min_heaps):
        # nothing changed: rewriting would only move the provenance (time, argv) and leave a
        # published results directory dirty. The files derived from the cells alone are
        # brought up to date if this memcompare formats them differently.
        wrote = False
        for name, text in (("results.csv", to_csv(cells + kept)),
                           ("tables.md", markdown(cells + kept,
                                                  f"memcompare run {config.name}"))):
            path = out_dir / name
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                atomic_write(path, text)
                wrote = True
        return Outcome(out_dir, cells, reused, 0, written=wrote)
    progress.begin(len(todo))
    try:
        _run_cells(specs, todo, jobs, config, progress, finished)
    finally:
        progress.close()
    save()
    cells = [c for c in slots if c is not None]
    every = cells + kept
    atomic_write(out_dir / "results.csv", to_csv(every))
    atomic_write(out_dir / "tables.md", markdown(every, f"memcompare run {config.name}"))
    return Outcome(out_dir, cells, reused, len(todo))


def _same(a: list | None, b: list) -> bool:
    """The same items, in any order."""
    key = lambda x: json.dumps(x, sort_keys=True)     # noqa: E731
    return a is not None and sorted(map(key, a)) == sorted(map(key, b))


def _expand(config: Config, known: dict[str, dict[str, Any]], progress: Progress
            ) -> tuple[list[tuple[ModelSpec, WorkloadSpec, int]], list[dict[str, Any]]]:
    """The cells to run. With ``run.heap_multiples``, each model with a hard heap limit runs at
    those multiples of its minimum heap for each workload, found by bisection (or taken from a
    previous run's results, keyed by model, params, workload and trace hash)."""
    if not config.heap_multiples:
        return config.cells(), []
    specs: list[tuple[ModelSpec, WorkloadSpec, int]] = []
    heaps: list[dict[str, Any]] = []
    for w in config.workloads:
        trace = _TRACES.get(_wkey(w))
        for m in config.models:
            hp = m.entry.cls.heap_param
            if hp is None or not isinstance(trace, Trace):
                specs += [(m, w, r) for r in range(config.repeats)]
                continue
            params = P.as_dict(m.params)
            params.pop(hp)
            key = json.dumps([m.name, params, m.cost_overrides, w.name, w.plain_params,
                              trace.sha256], sort_keys=True)
            found = known.get(key)
            if found is None:
                progress.note(f"finding the minimum heap of {m.name} on {w.name}")
                try:
                    mib, probes = min_heap(trace, m, m.mutator or config.mutator)
                except Exception as e:
                    # every multiple of this model on this workload then fails the same way
                    specs += [(m, w, r) for r in range(config.repeats)]
                    progress.note(f"{m.name} on {w.name}: minimum heap not found: {e}")
                    continue
                found = {"key": key, "model": m.name, "model_params": params,
                         "workload": w.name, "workload_params": w.plain_params,
                         "trace_sha256": trace.sha256, "min_heap_mb": mib, "probes": probes}
            heaps.append(found)
            for mult in config.heap_multiples:
                value = round(found["min_heap_mb"] * mult, 6)
                spec = dataclasses.replace(m, params=dataclasses.replace(m.params, **{hp: value}),
                                           heap_multiple=mult)
                specs += [(spec, w, r) for r in range(config.repeats)]
    return specs, heaps


def min_heap(trace: Trace, m: ModelSpec, mutator) -> tuple[float, int]:
    """The smallest heap, in MiB on the model's granule, with which ``m`` replays ``trace``
    without running out of memory: doubling up from the live peak, then bisection. Assumes a
    heap that suffices keeps sufficing when it grows. Returns (MiB, replays it took)."""
    cls = m.entry.cls
    hp, granule = cls.heap_param, cls.heap_granule_mb
    probes = 0

    def fits(k: int) -> bool:
        nonlocal probes
        probes += 1
        params = dataclasses.replace(m.params, **{hp: k * granule})
        return replay(trace, cls, params, m.costs, check="basic",
                      mutator=mutator).status != "oom"

    hi = max(1, math.ceil(trace.live_peak_bytes / (1 << 20) / granule))
    lo = 0                                 # a heap of nothing holds nothing
    while not fits(hi):
        lo, hi = hi, hi * 2
        if hi * granule > (1 << 20):       # a terabyte: the model never fits
            raise ValueError(f"{m.name} runs out of memory even with a 1 TiB heap")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return hi * granule, probes


def _run_cells(specs, todo: list[int], jobs: int, config: Config, progress: Progress,
               finished: Callable[[int, dict, int], None]) -> None:
    if jobs <= 1 or len(todo) <= 1:
        for n, k in enumerate(todo, 1):
            m, w, r = specs[k]
            progress.running(f"{m.name} on {w.name}")
            finished(k, _cell_task(m, w, r, config.check, config.mutator), n)
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=_pool_context()) as pool:
            futures = {pool.submit(_cell_task, *specs[k], config.check, config.mutator): k
                       for k in todo}
            m, w, _ = specs[todo[0]]
            progress.running(f"{m.name} on {w.name}" + (" …" if len(todo) > 1 else ""))
            pending = set(futures)
            n = 0
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        k = futures[f]
                        n += 1
                        try:
                            cell = f.result()
                        except Exception as e:   # the worker process itself died
                            m, w, r = specs[k]
                            cell = _cell_entry(m, w, r, f"worker process failed: "
                                                        f"{type(e).__name__}: {e}")
                        finished(k, cell, n)
            except BaseException:
                for f in pending:
                    f.cancel()
                raise


def _cell_entry(m: ModelSpec, w: WorkloadSpec, r: int, error: str | None) -> dict[str, Any]:
    """A cell's results entry before it runs: status error until a replay says otherwise."""
    t = _TRACES.get(_wkey(w))
    extra: dict[str, Any] = {}
    if m.costs_profile is not None:
        extra["costs_profile"] = m.costs_profile
    if m.mutator is not None:
        extra["mutator_costs"] = _mutator_of(m)
    return {
        "model": m.name, "model_params": P.as_dict(m.params), "model_costs": m.cost_overrides,
        **extra,
        "plugin": m.entry.plugin, "workload": w.name, "workload_params": w.plain_params,
        "repeat": r,
        "trace": ({"sha256": t.sha256, "events": t.events, "objects": t.objects}
                  if isinstance(t, Trace) else {"sha256": None, "events": None,
                                                "objects": None}),
        "status": "error", "error": error, "metrics": None,
    }


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 8))
