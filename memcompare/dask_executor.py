"""Cells on a ``dask.distributed`` cluster: ``memcompare run CONFIG --executor dask
[--scheduler ADDRESS]`` (docs/scaling.md).

The runner still records every trace (here, in the client), decides which cells to run (resume)
and writes each finished cell atomically into the results directory; this module only replaces
the local process pool (:class:`DaskPool` has the same interface). Each trace is one task of the cluster, keyed by its sha256: a named workload is
recorded again by the first worker that needs it (recording is deterministic, and the sha256 is
checked), a trace file is sent in its binary form; the other workers fetch the result from that
worker, once each, however many cells use it. Being a task rather than scattered data, a trace
lost with its worker is made again. Each cell runs the runner's own cell function on a worker,
so a cell's result is the same on a cluster as on one core. A worker that dies takes its
running cells with it; the scheduler re-runs them on another worker (Dask's
``distributed.scheduler.allowed-failures``, 3 by default, after which the cell is an ``error``
naming the lost workers). Before any cell is sent, every worker is asked which models and
workloads it has: a worker without a plugin the config names stops the run (exit 2) naming the
plugin and the worker.

This module must not decide what a cell computes: that is ``runner._cell_task``. The run's
time and memory limits per cell (``run.cell_timeout_s``, ``run.cell_memory_mb``) are the local
pool's; on a cluster, the workers' own limits (``dask worker --memory-limit``) apply.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from .errors import ConfigError

__all__ = ["DaskPool", "worker_inventory"]


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ConfigError("--executor dask needs dask.distributed: pip install "
                          "'memcompare[dask]'") from None
    return distributed


def worker_inventory() -> dict[str, Any]:
    """On a worker: the memcompare version and the models and workloads its plugins register."""
    from . import __version__
    from .plugins import plugins
    try:
        pm = plugins()
        models = {n: e.plugin for n, e in pm.models().items()}
        workloads = {n: e.plugin for n, e in pm.workloads().items()}
    except Exception as e:             # a plugin that fails to load there
        return {"memcompare": __version__, "error": f"{type(e).__name__}: {e}"}
    return {"memcompare": __version__, "models": models, "workloads": workloads}


#: on a worker: one cell at a time touches the runner's module state (its plan)
_LOCK = threading.Lock()


def _materialise(workload, sha256: str, data: bytes | None):
    """On a worker: the trace of ``workload``, from ``data`` (a trace file's binary encoding) or
    recorded here; it must be the trace the client recorded."""
    from .engine import prepare
    if data is not None:
        from .traceio import loads
        trace = loads(data, source=workload.name)
    else:
        from .api import record_entry
        trace = record_entry(workload.entry, workload.params)
    if trace.sha256 != sha256:
        raise RuntimeError(f"workload {workload.name!r} recorded on this worker has sha256 "
                           f"{trace.sha256[:12]}, the client's {sha256[:12]}: install the same "
                           f"plugin versions on the workers as on the client")
    prepare(trace)
    return trace


def _remote_cell(plan, k: int, meta: dict[str, Any], trace) -> dict[str, Any]:
    """On a worker: run the runner's own cell function on the trace Dask handed over."""
    from . import runner
    with _LOCK:                  # the plan is module state; a worker may run threads
        runner._PLAN = plan
        try:
            cell, _ = runner._cell_task(k, meta, {meta["path"]: trace})
        finally:
            runner._PLAN = None
    return cell


def check_workers(client, config) -> None:
    """Every worker must have the models and named workloads the config uses."""
    from . import __version__
    inventory = client.run(worker_inventory)
    if not inventory:
        raise ConfigError("the Dask cluster has no workers")
    problems = []
    for addr, inv in sorted(inventory.items()):
        if "error" in inv:
            problems.append(f"worker {addr}: memcompare's plugins fail to load: {inv['error']}")
            continue
        for m in {m.name: m for m in config.models}.values():
            if m.name not in inv["models"]:
                problems.append(f"worker {addr} lacks model {m.name!r} (plugin "
                                f"{m.entry.plugin!r}): install that plugin on every worker")
        for w in config.workloads:
            if w.trace_path is None and w.name not in inv["workloads"]:
                problems.append(f"worker {addr} lacks workload {w.name!r} (plugin "
                                f"{w.entry.plugin!r}): install that plugin on every worker")
        if inv["memcompare"] != __version__:
            problems.append(f"worker {addr} runs memcompare {inv['memcompare']}, this client "
                            f"{__version__}: install the same version everywhere")
    if problems:
        raise ConfigError("; ".join(problems))


class DaskPool:
    """The runner's pool interface (``add`` a task, ``run`` them with a callback) over a Dask
    cluster. Recordings run here, in the client, as the runner queues them (their traces are
    stored where a local run keeps them, so resume and the trace cache work as usual); cells run
    on the cluster. ``scheduler``: a running scheduler's address; without one, a
    ``LocalCluster`` of ``workers`` single-threaded worker processes, started only if a cell
    needs computing."""

    def __init__(self, config, progress, describe: Callable[[tuple], str], *,
                 scheduler: str | None = None, workers: int = 1):
        self.config = config
        self.progress = progress
        self.describe = describe
        self.scheduler = scheduler
        self.workers = workers
        self.ready: list[tuple] = []

    def add(self, task: tuple) -> None:
        self.ready.append(task)

    def run(self, on_result: Callable[[tuple, tuple | None, str | None], None]) -> None:
        from . import runner
        # recordings first, here: each queues its workload's cells through on_result
        while any(t[0] == "record" for t in self.ready):
            task = next(t for t in self.ready if t[0] == "record")
            self.ready.remove(task)
            self.progress.running(self.describe(task))
            try:
                meta, _ = runner._record(task[1])
            except Exception as e:
                meta = (f"workload {runner._PLAN.workloads[task[1]].name!r}: the recorded "
                        f"trace could not be saved: {type(e).__name__}: {e}")
            on_result(task, ("trace", task[1], meta, False), None)
        cells, self.ready = self.ready, []
        if not cells:                  # every cell reused: no cluster to start or reach
            return
        distributed = _distributed()
        cluster = None
        if self.scheduler is None:
            # one thread per worker: a cell is pure Python holding the GIL, and the engine
            # pauses Python's collector process-wide during a replay
            cluster = distributed.LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                               processes=True, dashboard_address=None)
            address = cluster.scheduler_address
        else:
            address = self.scheduler
        try:
            try:
                client = distributed.Client(address, timeout="30s")
            except (OSError, TimeoutError) as e:
                raise ConfigError(f"--scheduler {address}: cannot connect to a Dask scheduler "
                                  f"there: {e}") from None
            with client:
                check_workers(client, self.config)
                self._submit_all(client, distributed, runner, cells, on_result)
        finally:
            if cluster is not None:
                cluster.close()

    def _submit_all(self, client, distributed, runner, cells, on_result) -> None:
        from pathlib import Path
        plan = client.scatter(runner._PLAN, broadcast=True)
        traces: dict[str, Any] = {}
        futures = {}
        for task in cells:
            _, k, meta, wi = task
            w = runner._PLAN.workloads[wi]
            key = f"memcompare-trace-{meta['sha256']}"
            if key not in traces:
                # one task per trace, under its hash; workers fetch it from whoever made it.
                # A named workload is recorded again there (deterministic, hash checked); a
                # trace file is sent as the bytes the runner stored for it
                data = Path(meta["path"]).read_bytes() if w.trace_path is not None else None
                traces[key] = client.submit(_materialise, w, meta["sha256"], data, key=key,
                                            pure=False)
            fut = client.submit(_remote_cell, plan, k, meta, traces[key], pure=False,
                                key=f"memcompare-cell-{k}-{id(cells)}")
            futures[fut] = task
        self.progress.running(self.describe(cells[0]) + (" …" if len(cells) > 1 else ""))
        try:
            for fut in distributed.as_completed(list(futures)):
                task = futures[fut]
                try:
                    cell = fut.result()
                except Exception as e:      # the scheduler gave up: its workers kept dying
                    on_result(task, None, f"lost on the Dask cluster ({type(e).__name__}: {e})")
                    continue
                on_result(task, ("cell", task[1], cell, False), None)
        except BaseException:
            client.cancel(list(futures))
            raise
