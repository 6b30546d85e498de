"""Cells on a ``dask.distributed`` cluster: ``memcompare run CONFIG --executor dask
[--scheduler ADDRESS]`` (docs/scaling.md).

The runner still records every trace, decides which cells to run (resume) and writes each
finished cell atomically into the results directory; this module only replaces the local
process pool. Each trace is one task of the cluster, keyed by its sha256: a named workload is
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

This module must not decide what a cell computes: that is ``runner._cell_task``.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from .errors import ConfigError

__all__ = ["run_cells", "worker_inventory"]


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


#: on a worker: cells running per trace key, so the last one drops the trace
_USERS: dict[str, int] = {}
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


def _remote_cell(trace, model, workload, repeat: int, check: str, mutator) -> dict[str, Any]:
    """On a worker: install the trace the runner would have recorded, run the runner's cell."""
    from . import runner
    key = runner._wkey(workload)
    with _LOCK:                  # a worker may run several cells at once, in threads
        runner._TRACES[key] = trace
        _USERS[key] = _USERS.get(key, 0) + 1
    try:
        return runner._cell_task(model, workload, repeat, check, mutator)
    finally:
        # Dask's own store keeps the trace while cells need it; a long-lived worker must not
        # keep every trace of every run it ever served
        with _LOCK:
            _USERS[key] -= 1
            if not _USERS[key]:
                del _USERS[key]
                runner._TRACES.pop(key, None)


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


def run_cells(specs, todo: list[int], config, progress, finished: Callable[[int, dict, int], None],
              *, scheduler: str | None = None, workers: int = 1) -> None:
    """Run the cells ``todo`` (indices into ``specs``) on a Dask cluster; ``finished(k, cell,
    n)`` gets each cell as it completes. ``scheduler``: a running scheduler's address; without
    one, a ``LocalCluster`` of ``workers`` single-threaded worker processes for this run."""
    distributed = _distributed()
    if not todo:                       # every cell reused: no cluster to start or reach
        return
    from . import runner
    from .trace import Trace

    cluster = None
    if scheduler is None:
        # one thread per worker: a cell is pure Python holding the GIL, and the engine pauses
        # Python's collector process-wide during a replay
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                           processes=True, dashboard_address=None)
        address = cluster.scheduler_address
    else:
        address = scheduler
    try:
        try:
            client = distributed.Client(address, timeout="30s")
        except (OSError, TimeoutError) as e:
            raise ConfigError(f"--scheduler {address}: cannot connect to a Dask scheduler "
                              f"there: {e}") from None
        with client:
            check_workers(client, config)
            _submit_all(client, distributed, runner, Trace, specs, todo, config, progress,
                        finished)
    finally:
        if cluster is not None:
            cluster.close()


def _submit_all(client, distributed, runner, Trace, specs, todo, config, progress, finished):
    n = 0
    from .traceio import dumps
    futures = {}
    traces: dict[str, Any] = {}
    for k in todo:
        m, w, r = specs[k]
        trace = runner._TRACES.get(runner._wkey(w))
        if not isinstance(trace, Trace):        # recording failed: the cell is an error now
            n += 1
            finished(k, runner._cell_task(m, w, r, config.check, config.mutator), n)
            continue
        key = f"memcompare-trace-{trace.sha256}"
        if key not in traces:
            # one task per trace, under its hash; workers fetch it from whoever made it
            data = dumps(trace) if w.trace_path is not None else None
            traces[key] = client.submit(_materialise, w, trace.sha256, data, key=key,
                                        pure=False)
        fut = client.submit(_remote_cell, traces[key], m, w, r, config.check,
                            config.mutator, pure=False, key=f"memcompare-cell-{k}-{id(specs)}")
        futures[fut] = k
    if not futures:
        return
    m, w, _ = specs[futures[next(iter(futures))]]
    progress.running(f"{m.name} on {w.name}" + (" …" if len(futures) > 1 else ""))
    try:
        for fut in distributed.as_completed(list(futures)):
            k = futures[fut]
            n += 1
            try:
                cell = fut.result()
            except Exception as e:      # the scheduler gave up: its workers kept dying
                m, w, r = specs[k]
                cell = runner._cell_entry(m, w, r, f"Dask worker failed: "
                                                   f"{type(e).__name__}: {e}")
            finished(k, cell, n)
    except BaseException:
        client.cancel(list(futures))
        raise
