"""The runner: a config's matrix of cells, in worker processes, into a results directory.

Every task — recording a workload instance, or replaying one cell — runs in a worker process of
a small pool the runner manages itself (one ``multiprocessing`` process per slot, talking over a
pipe), so that the runner always knows which task a worker was running when it died, and can
stop it at its time limit. A worker that dies fails only the task it was running, naming the
signal; it is replaced and the run goes on. Workers die with the runner, however it ends
(``memcompare.procs``). A worker's address space may be limited (``RLIMIT_AS``): an allocation
past it fails, and the cell ends ``oom``.

Traces reach workers by path, never by inheritance or pickling: a recorded trace is saved to the
trace cache (``memcompare.cache``) or, without it, to a run-private temporary directory; a trace
file named by the config is checked in the runner (bad input stops the run with exit 2) and
copied there too. A cell waits only for its own trace. A cell's exception becomes
``status: error`` naming the plugin and the cell; the other cells go on. Every finished cell is
written to ``results.json`` at once, atomically; re-running the same config into the same
directory reuses the cells already finished with the same settings and trace hash. One run at a
time writes a results directory (a lock file holding the writer's pid).
"""
from __future__ import annotations

import dataclasses
import fcntl
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import __version__
from . import params as P
from .api import record_entry
from .cache import TraceCache, file_digest
from .cache import key as cache_key
from .config import Config, ModelSpec, WorkloadSpec
from .engine import DEFAULT_MACHINE_MB, prepare, replay
from .errors import ConfigError, MemcompareError
from .plugins import plugins
from .files import atomic_write
from .procs import describe_exit, die_with_parent, watch_pipe
from .results import Renderer, document, environment, read, to_csv
from .tables import markdown
from .trace import Trace

FINISHED = ("ok", "oom")
LOCK_NAME = ".memcompare.lock"


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
        return [c for c in self.cells if c["status"] in ("error", "timeout")]


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

    def reused(self, count: int) -> None:
        """``count`` of the cells announced by :meth:`begin` were found finished already."""

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

    def reused(self, count: int) -> None:
        if self.bar is not None:
            self.bar.total -= count
            self.bar.refresh()

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
                "heap_multiples": list(config.heap_multiples or []),
                # only when set: results of the default machine read as before the key existed
                **({"machine_mb": config.machine_mb}
                   if config.machine_mb != DEFAULT_MACHINE_MB else {})},
        **({"set": list(config.overrides)} if config.overrides else {}),
        "workloads": [{"name": w.name, "params": w.plain_params} for w in config.workloads],
        "models": [{"name": m.name, "params": P.as_dict(m.params),
                    "costs": m.cost_overrides,
                    **({"costs_profile": m.costs_profile} if m.costs_profile else {}),
                    **({"mutator_costs": _mutator_of(m)} if m.mutator is not None else {})}
                   for m in config.models],
    }


def _expand(config: Config, known: dict[str, dict[str, Any]], progress: Progress,
            traces: dict[str, Trace | None]) -> tuple[list[tuple[ModelSpec, WorkloadSpec, int]], list[dict[str, Any]]]:
    """The cells to run. With ``run.heap_multiples``, each model with a hard heap limit runs at
    those multiples of its minimum heap for each workload, found by bisection (or taken from a
    previous run's results, keyed by model, params, workload and trace hash)."""
    if not config.heap_multiples:
        return config.cells(), []
    specs: list[tuple[ModelSpec, WorkloadSpec, int]] = []
    heaps: list[dict[str, Any]] = []
    for w in config.workloads:
        trace = traces.get(_wkey(w))
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
                    mib, probes = min_heap(trace, m, m.mutator or config.mutator,
                                           machine_mb=config.machine_mb)
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


def min_heap(trace: Trace, m: ModelSpec, mutator, *,
             machine_mb: float | None = DEFAULT_MACHINE_MB) -> tuple[float, int]:
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
                      mutator=mutator, machine_mb=machine_mb).status != "oom"

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


# -- the workers -------------------------------------------------------------------------------

@dataclass
class _Plan:
    """What every worker needs to know about the run, inherited when it forks (the specs and
    the settings; never a trace)."""

    workloads: list[WorkloadSpec]
    specs: list[tuple[ModelSpec, WorkloadSpec, int]]
    check: str
    mutator: Any
    machine_mb: float | None
    cell_memory_mb: float | None
    cache: TraceCache | None
    private_dir: Path


_PLAN: _Plan | None = None
#: the results directory's lock, which a worker must not keep open
_LOCK_FD: int | None = None


def _label(m: ModelSpec, w: WorkloadSpec, r: int, repeats: bool = False) -> str:
    params = ", ".join(f"{k}={v}" for k, v in P.as_dict(m.params).items())
    return (f"model {m.name!r} on workload {w.name!r}{f' with {params}' if params else ''}"
            f"{f' (repeat {r})' if repeats else ''}")


def _oom_message(what: str) -> str:
    mb = _PLAN.cell_memory_mb if _PLAN is not None else None
    if mb is None:
        return f"{what} ran out of memory (MemoryError)"
    return (f"{what} ran out of memory: its worker reached the limit of {mb:g} MiB "
            f"(run.cell_memory_mb, --cell-memory)")


def _record(wi: int) -> tuple[dict[str, Any] | str, Trace | None]:
    """Record workload ``wi`` and save it where workers find it: (metadata, trace) or
    (an error message, None)."""
    w = _PLAN.workloads[wi]
    try:
        trace = record_entry(w.entry, w.params)
    except MemcompareError as e:
        return (f"workload {w.name!r} (plugin {w.entry.plugin!r}) recorded an invalid trace: "
                f"{e}", None)
    except MemoryError:
        return _oom_message(f"recording workload {w.name!r}"), None
    except Exception as e:
        return (f"workload {w.name!r} (plugin {w.entry.plugin!r}) failed while recording: "
                f"{type(e).__name__}: {e}{_where(e)}", None)
    return _store(wi, trace), trace


def _store(wi: int, trace: Trace) -> dict[str, Any]:
    w = _PLAN.workloads[wi]
    cache = _PLAN.cache
    if cache is not None and w.entry is not None:
        k = cache_key(w.entry, w.params)
        try:
            return {**cache.store(k, trace), "key": k}
        except OSError:
            pass            # a full or read-only cache: the run goes on with a private copy
    return _store_private(_PLAN.private_dir, wi, trace)


def _keep_derived(cache: TraceCache, k: str, trace: Trace) -> None:
    """Prepare ``trace`` (its cells would, in this worker) and keep what that computed beside
    its cache entry, for the workers of later runs."""
    try:
        prepare(trace)
    except Exception:
        return              # e.g. past the worker's memory limit: the cells meet it themselves
    try:
        cache.store_derived(k, trace)
    except OSError:
        pass                # a full or read-only cache: later runs prepare it again


def _store_private(directory: Path, wi: int, trace: Trace) -> dict[str, Any]:
    from .traceio import save
    path = directory / f"workload-{wi}.mctrace"
    save(trace, path)
    digest, size = file_digest(path)
    return {"sha256": trace.sha256, "events": int(trace.events), "objects": int(trace.objects),
            "file_sha256": digest, "file_bytes": size, "path": str(path)}


def _obtain(wi: int, meta: dict[str, Any], held: dict[str, Trace]) -> Trace:
    """The trace of workload ``wi``: the one this worker holds, or loaded from ``meta["path"]``
    and checked; a cache entry found corrupt is recorded again."""
    path = meta["path"]
    if path in held:
        return held[path]
    held.clear()                      # one trace per worker: its memory is the cell's
    trace = None
    if "key" in meta and _PLAN.cache is not None:
        trace = _PLAN.cache.load(meta["key"], meta)
        if trace is None:             # missing or corrupt: the recording is deterministic
            result, trace = _record(wi)
            if trace is None:
                raise RuntimeError(result)
            if trace.sha256 != meta["sha256"]:
                raise RuntimeError(
                    f"workload {_PLAN.workloads[wi].name!r} recorded again gives trace "
                    f"{trace.sha256[:12]}, not the cached {meta['sha256'][:12]}: is the "
                    f"workload deterministic? (`memcompare cache clear` empties the cache)")
        if not _PLAN.cache.load_derived(meta["key"], trace):
            _keep_derived(_PLAN.cache, meta["key"], trace)
    else:
        from .traceio import load
        # the file's checksums (header and body blocks) are checked as it loads, and its header
        # names the trace's sha256
        changed = f"the run's copy of the trace, {path}, changed during the run"
        if os.stat(path).st_size != meta["file_bytes"]:
            raise RuntimeError(changed)
        try:
            trace = load(path, check_events=False)    # this run wrote it, from a valid trace
        except MemcompareError as e:
            raise RuntimeError(f"{changed}: {e}") from None
        if trace.sha256 != meta["sha256"]:
            raise RuntimeError(changed)
    held[path] = trace
    return trace


def _cell_entry(m: ModelSpec, w: WorkloadSpec, r: int, meta: dict[str, Any] | None,
                error: str | None, status: str = "error") -> dict[str, Any]:
    """A cell's results entry before it runs: status error until a replay says otherwise."""
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
        "trace": ({"sha256": meta["sha256"], "events": meta["events"],
                   "objects": meta["objects"]}
                  if meta is not None else {"sha256": None, "events": None, "objects": None}),
        "status": status, "error": error, "metrics": None,
    }


def _cell_task(k: int, meta: dict[str, Any], held: dict[str, Trace]) -> tuple[dict, bool]:
    """Run cell ``k`` in this worker: (its results entry, whether the worker must retire)."""
    model, w, repeat = _PLAN.specs[k]
    wi = _PLAN.workloads.index(w)
    cell = _cell_entry(model, w, repeat, meta, None)
    label = _label(model, w, repeat)
    try:
        trace = _obtain(wi, meta, held)
        result = replay(trace, model.entry.cls, model.params, model.costs, check=_PLAN.check,
                        mutator=model.mutator or _PLAN.mutator, machine_mb=_PLAN.machine_mb)
    except MemoryError:
        held.clear()
        cell["status"] = "oom"
        cell["error"] = _oom_message(label)
        cell["cell_memory_mb"] = _PLAN.cell_memory_mb
        return cell, True             # whatever failed to allocate may have left it half done
    except Exception as e:
        cell["error"] = (f"model {model.name!r} (plugin {model.entry.plugin!r}) failed on "
                         f"workload {w.name!r}"
                         f"{label[label.index(' with '):] if ' with ' in label else ''}: "
                         f"{type(e).__name__}: {e}{_where(e)}")
        return cell, False
    cell["status"] = result.status
    cell["error"] = result.error
    if not result.deterministic:
        cell["deterministic"] = False
    if model.heap_multiple is not None:
        cell["heap_multiple"] = model.heap_multiple
    if result.oom_at is not None:
        cell["oom_at_event"] = result.oom_at
    if result.status == "oom" and not result.deterministic:
        # a real runtime ran out under this worker's limit: another limit, another outcome
        cell["cell_memory_mb"] = _PLAN.cell_memory_mb
    cell["metrics"] = result.metrics
    cell["stats"] = result.stats
    cell["timeline"] = result.timeline
    return cell, False


def _limit_memory(mb: float | None) -> None:
    if mb is None:
        return
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    want = int(mb * (1 << 20))
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    resource.setrlimit(resource.RLIMIT_AS, (want, hard))


def _worker_main(conn, life_r: int, life_w: int, parent_pid: int) -> None:
    """A worker's life: die with the runner, then run the tasks it is sent until told to stop."""
    die_with_parent(parent_pid)
    os.close(life_w)                  # the runner holds the only write end: EOF = it died
    watch_pipe(life_r)
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the runner's to handle
    if _LOCK_FD is not None:
        try:
            os.close(_LOCK_FD)
        except OSError:
            pass
    _limit_memory(_PLAN.cell_memory_mb)
    held: dict[str, Trace] = {}
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            break
        if task is None:
            break
        retire = False
        if task[0] == "record":
            wi = task[1]
            held.clear()
            try:
                meta, trace = _record(wi)
            except MemoryError:
                meta, trace, retire = _oom_message(f"recording workload "
                                                   f"{_PLAN.workloads[wi].name!r}"), None, True
            except Exception as e:
                meta, trace = (f"workload {_PLAN.workloads[wi].name!r}: the recorded trace "
                               f"could not be saved: {type(e).__name__}: {e}"), None
            if trace is not None:
                held[meta["path"]] = trace
            reply = ("trace", wi, meta, retire)
        else:
            _, k, meta, _ = task
            cell, retire = _cell_task(k, meta, held)
            reply = ("cell", k, cell, retire)
        conn.send(reply)
        if retire:
            break
        if reply[0] == "trace" and isinstance(meta, dict) and "key" in meta:
            # after the reply, so that the trace's cells start (on other workers) as soon as it
            # is saved; this worker's own next cell would prepare it anyway
            _keep_derived(_PLAN.cache, meta["key"], held[meta["path"]])
    conn.close()
    os._exit(0)


class _Worker:
    def __init__(self, ctx, life: tuple[int, int]):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, life[0], life[1], os.getpid()),
                                daemon=True, name="memcompare-worker")
        self.proc.start()
        child.close()
        self.task: tuple | None = None
        self.deadline: float | None = None
        self.holds: int | None = None         # the workload whose trace it last used

    def send(self, task: tuple, timeout: float | None) -> None:
        self.task = task
        self.deadline = time.monotonic() + timeout if timeout is not None else None
        self.conn.send(task)

    def stop(self, kill: bool = False) -> None:
        if self.proc.is_alive():
            if kill:
                self.proc.kill()
            else:
                try:
                    self.conn.send(None)
                except OSError:
                    self.proc.kill()
        self.proc.join(timeout=None if kill else 5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


class _Pool:
    """Up to ``jobs`` workers, forked when a task is ready and none is idle; each runs one task
    at a time: ``("record", wi)`` or ``("cell", k, trace metadata, wi)``. A worker that dies or
    passes the time limit is ended and its task reported failed; the next task gets a new
    worker. :meth:`run`'s callback may queue more tasks with :meth:`add`."""

    def __init__(self, jobs: int, timeout: float | None, describe: Callable[[tuple], str],
                 progress: Progress):
        self.jobs = jobs
        self.timeout = timeout
        self.describe = describe
        self.progress = progress
        self.ready: deque[tuple] = deque()
        self.workers: list[_Worker] = []
        methods = multiprocessing.get_all_start_methods()
        if "fork" not in methods:
            raise MemcompareError("memcompare run needs the 'fork' start method (Linux, macOS)")
        self.ctx = multiprocessing.get_context("fork")
        # one pipe for the workers' watchdog: the runner holds the only write end
        self.life = os.pipe()

    def add(self, task: tuple) -> None:
        self.ready.append(task)

    def _pick(self, worker: _Worker) -> tuple:
        """Prefer a cell on the trace the worker holds, then a recording, then any cell."""
        for pred in (lambda t: t[0] == "cell" and t[3] == worker.holds,
                     lambda t: t[0] == "record"):
            for i, t in enumerate(self.ready):
                if pred(t):
                    del self.ready[i]
                    return t
        return self.ready.popleft()

    def run(self, on_result: Callable[[tuple, tuple | None, str | None], None]) -> None:
        """Run tasks until none is ready or running. ``on_result(task, reply, failure)``: the
        worker's reply, or None and a failure ("timeout" or how the worker died)."""
        try:
            while True:
                busy = [w for w in self.workers if w.task is not None]
                idle = [w for w in self.workers if w.task is None]
                while self.ready and (idle or len(self.workers) < self.jobs):
                    if not idle:
                        self.workers.append(_Worker(self.ctx, self.life))
                        idle.append(self.workers[-1])
                    w = idle.pop(0)
                    task = self._pick(w)
                    try:
                        w.send(task, self.timeout)
                    except OSError:            # it died while idle: another takes the task
                        self.ready.appendleft(task)
                        w.task = None
                        w.stop(kill=True)
                        self.workers.remove(w)
                        continue
                    if task[0] == "cell":
                        self.progress.running(self.describe(task))
                    busy.append(w)
                for w in idle:                 # nothing left for it to do
                    w.stop()
                    self.workers.remove(w)
                if not busy:
                    return
                deadlines = [w.deadline for w in busy if w.deadline is not None]
                wait_s = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
                handles = [w.conn for w in busy] + [w.proc.sentinel for w in busy]
                multiprocessing.connection.wait(handles, timeout=wait_s)
                for w in busy:
                    self._poll(w, on_result)
        finally:
            for w in self.workers:
                w.stop(kill=True)
            self.workers.clear()
            for fd in self.life:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _poll(self, w: _Worker, on_result) -> None:
        task = w.task
        reply = None
        try:
            if w.conn.poll():
                reply = w.conn.recv()
        except (EOFError, OSError):
            reply = None
        if reply is not None:
            w.task = None
            w.deadline = None
            w.holds = task[1] if task[0] == "record" else task[3]
            if reply[3]:                       # it exits after an allocation failed
                self._retire(w)
            on_result(task, reply, None)
            return
        if not w.proc.is_alive():
            w.proc.join()
            self._retire(w)
            on_result(task, None, describe_exit(w.proc.exitcode))
            return
        if w.deadline is not None and time.monotonic() >= w.deadline:
            w.stop(kill=True)
            self.workers.remove(w)
            on_result(task, None, "timeout")

    def _retire(self, w: _Worker) -> None:
        w.proc.join(timeout=5)
        w.stop(kill=True)
        self.workers.remove(w)


# -- the run -----------------------------------------------------------------------------------

def _process_name(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        text = " ".join(a.decode(errors="replace") for a in argv if a)
        return f"process {pid} ({text})" if text else f"process {pid}"
    except OSError:
        return f"process {pid}"


def lock_results(out_dir: Path, progress: Progress) -> int:
    """Lock ``out_dir`` for this run: a second run into it stops at once (exit 2) naming the
    running process; a lock left by a process that died is taken over with a notice. Returns
    the lock file's descriptor, for :func:`unlock_results`."""
    path = out_dir / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            held = os.pread(fd, 64, 0).decode(errors="replace").strip()
            os.close(fd)
            who = _process_name(int(held)) if held.isdigit() else "another process"
            raise ConfigError(f"{out_dir}: another memcompare run is writing this results "
                              f"directory: {who}; wait for it to end or choose another "
                              f"--out") from None
        try:                  # the previous holder may have removed the file as we opened it
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    stale = os.pread(fd, 64, 0).decode(errors="replace").strip()
    if stale:
        progress.note(f"{out_dir}: taking over the lock of process {stale}, which ended "
                      f"without releasing it; its finished cells are kept")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def unlock_results(out_dir: Path, fd: int) -> None:
    try:
        (out_dir / LOCK_NAME).unlink()      # removed while held: no one can lock a dead file
    except OSError:
        pass
    os.close(fd)


def run(config: Config, out_dir: Path, *, jobs: int = 1, progress: Progress | None = None,
        trace_cache: bool | TraceCache = True, executor: str = "local",
        scheduler: str | None = None) -> Outcome:
    """Run ``config``'s cells into ``out_dir`` with ``jobs`` workers. ``trace_cache``: reuse
    and keep recorded traces in the trace cache (True: the default cache; False: none).
    ``executor = "dask"`` runs the cells on a Dask cluster (``scheduler``'s address, or a
    local cluster of ``jobs`` workers; docs/scaling.md)."""
    global _PLAN, _LOCK_FD
    progress = progress or Progress()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _LOCK_FD = lock_results(out_dir, progress)
    private = Path(tempfile.mkdtemp(prefix="memcompare-run-"))
    try:
        cache = (trace_cache if isinstance(trace_cache, TraceCache)
                 else TraceCache() if trace_cache else None)
        return _run(config, out_dir, max(1, jobs), progress, cache, private,
                    executor, scheduler)
    finally:
        _PLAN = None
        shutil.rmtree(private, ignore_errors=True)
        unlock_results(out_dir, _LOCK_FD)
        _LOCK_FD = None


def _load_file_workload(w: WorkloadSpec, wi: int, private: Path) -> dict[str, Any]:
    """A config's trace file, checked here (bad input stops the run before any cell: exit 2)
    and copied in the binary format for the workers."""
    from .traceio import load
    try:
        trace = load(w.trace_path)
    except MemcompareError as e:
        raise ConfigError(f"workload[{w.index}].trace: {e}") from None
    return _store_private(private, wi, trace)


def _run(config: Config, out_dir: Path, jobs: int, progress: Progress,
         cache: TraceCache | None, private: Path, executor: str = "local",
         scheduler: str | None = None) -> Outcome:
    global _PLAN
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
        old_run = old.get("config", {}).get("run", {})
        same_run = (old_run.get("check") == config.check and
                    old_run.get("mutator_costs") == cfg_doc["run"]["mutator_costs"] and
                    old_run.get("machine_mb", DEFAULT_MACHINE_MB) ==
                    cfg_doc["run"].get("machine_mb", DEFAULT_MACHINE_MB))
        if same_run:
            # an oom that came from the worker's memory limit holds only under that limit
            previous = {_key_of(c): c for c in old.get("cells", [])
                        if c.get("status") in FINISHED and
                        c.get("cell_memory_mb", config.cell_memory_mb) == config.cell_memory_mb}
            known_heaps = {h["key"]: h for h in old.get("min_heaps", [])}

    # the workload instances, once each, and where their traces are (or will be)
    workloads: list[WorkloadSpec] = []
    index: dict[str, int] = {}
    for w in config.workloads:
        if _wkey(w) not in index:
            index[_wkey(w)] = len(workloads)
            workloads.append(w)
    metas: dict[int, dict[str, Any] | str] = {}
    fail_status: dict[int, str] = {}
    keep: set[str] = set()
    to_record: list[int] = []
    for wi, w in enumerate(workloads):
        if w.trace_path is not None:
            metas[wi] = _load_file_workload(w, wi, private)
            continue
        if cache is not None:
            k = cache_key(w.entry, w.params)
            keep.add(k)
            hit = cache.lookup(k)
            if hit is not None:
                metas[wi] = {**hit, "key": k}
                continue
        to_record.append(wi)
    if to_record:
        progress.note(f"recording {len(to_record)} workload(s): "
                      f"{', '.join(workloads[wi].name for wi in to_record)}")
    hits = len(workloads) - len(to_record) - sum(w.trace_path is not None for w in workloads)
    if hits:
        progress.note(f"{hits} trace(s) from the trace cache ({cache.dir})")

    _PLAN = _Plan(workloads, [], config.check, config.mutator, config.machine_mb,
                  config.cell_memory_mb, cache, private)

    def describe(task: tuple) -> str:
        if task[0] == "record":
            return f"recording {workloads[task[1]].name}"
        m, w, _ = _PLAN.specs[task[1]]
        return f"{m.name} on {w.name}"

    min_heaps: list[dict[str, Any]] = []
    if config.heap_multiples:
        # the minimum heaps are found here, on every trace: record them all first
        pool = _Pool(jobs, config.cell_timeout_s, describe, progress)
        for wi in to_record:
            pool.add(("record", wi))
        pool.run(lambda task, reply, failure: _traced(task, reply, failure, metas, fail_status,
                                                      workloads, config))
        to_record = []
        from .traceio import load
        traces = {wi: load(m["path"]) for wi, m in metas.items() if isinstance(m, dict)}
        specs, min_heaps = _expand(config, known_heaps, progress,
                                   {_wkey(w): traces.get(wi) for wi, w in enumerate(workloads)})
        traces.clear()
    else:
        specs = config.cells()
    _PLAN.specs = specs

    slots: list[dict[str, Any] | None] = [None] * len(specs)
    cells_of: dict[int, list[int]] = {}
    for k, (_, w, _) in enumerate(specs):
        cells_of.setdefault(index[_wkey(w)], []).append(k)

    # run --model/--workload: the results directory keeps the cells of the rest of the config
    kept: list[dict[str, Any]] = []
    if config.subset and old is not None:
        models = {m.name for m in config.models}
        names = {w.name for w in config.workloads}
        kept = [c for c in old.get("cells", [])
                if c.get("model") not in models or c.get("workload") not in names]
        if not config.overrides and old.get("config"):
            cfg_doc = old["config"]      # the run is still the whole config's
        mine = {h["key"] for h in min_heaps}
        min_heaps = min_heaps + [h for h in old.get("min_heaps", []) if h["key"] not in mine]

    def unchanged(done: list[dict[str, Any]]) -> bool:
        """Nothing computed and the same cells and config as the results file already holds:
        rewriting would only move its provenance (time, argv) and dirty a published copy."""
        return (counts["computed"] == 0 and old is not None and old.get("config") == cfg_doc
                and _same(old.get("cells"), done)
                and _same(old.get("min_heaps", []), min_heaps))

    def save() -> None:
        done = [c for c in slots if c is not None] + kept
        if unchanged(done) or (not done and old is None):    # nothing to save, or no news
            return
        doc = document(cfg_doc, env, done, __version__)
        if min_heaps:
            doc["min_heaps"] = min_heaps
        # each cell is rendered once: rendering all of them at every save grew with the square
        # of the cells (0.5 s of the default config's 35)
        atomic_write(res_path, renderer.dumps(doc))
        written[0] = True

    written = [False]
    renderer = Renderer()
    counts = {"reused": 0, "computed": 0}
    if executor == "dask":              # the cells on a Dask cluster (docs/scaling.md)
        from .dask_executor import DaskPool
        pool = DaskPool(config, progress, describe, scheduler=scheduler, workers=jobs)
    else:
        pool = _Pool(jobs, config.cell_timeout_s, describe, progress)

    def resolve(wi: int) -> list[int]:
        """The cells of workload ``wi`` now that its trace is known: finished ones are taken
        from the previous results, failed ones are written, the rest queued."""
        meta = metas[wi]
        reused, queued = [], []
        for k in cells_of.get(wi, []):
            m, w, r = specs[k]
            if isinstance(meta, str):
                slots[k] = _cell_entry(m, w, r, None, meta, fail_status.get(wi, "error"))
                counts["computed"] += 1
                progress.done(f"{m.name} on {w.name}", slots[k]["status"], meta)
                continue
            key = cell_key(m.name, P.as_dict(m.params), m.cost_overrides, w.name,
                           w.plain_params, r, meta["sha256"], _mutator_of(m))
            if key in previous:
                slots[k] = previous[key]
                reused.append(k)
            else:
                queued.append(k)
                pool.add(("cell", k, meta, wi))
        counts["reused"] += len(reused)
        return reused

    def on_result(task: tuple, reply: tuple | None, failure: str | None) -> None:
        if task[0] == "record":
            wi = task[1]
            _traced(task, reply, failure, metas, fail_status, workloads, config)
            n = len(resolve(wi))
            if n:
                progress.reused(n)
                progress.note(f"reusing {n} finished cell(s) of {workloads[wi].name} from "
                              f"{res_path}")
            save()
            return
        k = task[1]
        m, w, r = specs[k]
        if reply is not None:
            cell = reply[2]
        elif failure == "timeout":
            cell = _cell_entry(m, w, r, task[2],
                               f"{_label(m, w, r)} passed its time limit of "
                               f"{config.cell_timeout_s:g} s (run.cell_timeout_s, "
                               f"--cell-timeout) and was stopped", "timeout")
        else:
            cell = _cell_entry(m, w, r, task[2],
                               f"{_label(m, w, r, config.repeats > 1)}: its worker process "
                               f"was {failure}")
        slots[k] = cell
        counts["computed"] += 1
        save()
        progress.done(f"{m.name} on {w.name}", cell["status"], cell.get("error"))

    reused_now = 0
    for wi in sorted(metas):
        reused_now += len(resolve(wi))
    if reused_now:
        progress.note(f"reusing {reused_now} finished cell(s) from {res_path}")
    progress.begin(len(specs) - reused_now)
    for wi in to_record:
        pool.add(("record", wi))
    try:
        pool.run(on_result)
    finally:
        progress.close()
    save()
    if cache is not None:
        cache.evict(keep)
    cells = [c for c in slots if c is not None]
    every = cells + kept
    # the files derived from the cells alone are brought up to date when this memcompare
    # formats them differently, and rewritten only then
    for name, text in (("results.csv", to_csv(every)),
                       ("tables.md", markdown(every, f"memcompare run {config.name}"))):
        path = out_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            atomic_write(path, text)
            written[0] = True
    return Outcome(out_dir, cells, counts["reused"], counts["computed"], written=written[0])


def _same(a: list | None, b: list) -> bool:
    """The same items, in any order."""
    key = lambda x: json.dumps(x, sort_keys=True)     # noqa: E731
    return a is not None and sorted(map(key, a)) == sorted(map(key, b))


def _traced(task: tuple, reply: tuple | None, failure: str | None, metas: dict, fail_status:
            dict, workloads: list[WorkloadSpec], config: Config) -> None:
    """Note where workload ``task[1]``'s trace is, or why there is none."""
    wi = task[1]
    w = workloads[wi]
    if reply is not None:
        metas[wi] = reply[2]
        if isinstance(reply[2], str) and "ran out of memory" in reply[2]:
            fail_status[wi] = "error"
    elif failure == "timeout":
        metas[wi] = (f"recording workload {w.name!r} passed the time limit of "
                     f"{config.cell_timeout_s:g} s (run.cell_timeout_s, --cell-timeout) and "
                     f"was stopped")
        fail_status[wi] = "timeout"
    else:
        metas[wi] = f"recording workload {w.name!r}: its worker process was {failure}"


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 8))
