"""memcompare: one trace, replayed under Go, JVM, CPython and C++ memory management.

The public API (docs/design.md §9)::

    import memcompare
    trace = memcompare.record("binary-trees", max_depth=12)   # or memcompare.load_trace(path)
    trace.save("bt.mctrace.txt")
    result = memcompare.replay(trace, "cpp")
    result.metrics["pause_p99_s"], result.status

Plugin authors import ``hookimpl``, ``Model``, ``Workload``, ``Output`` and ``param`` from here.
"""
from __future__ import annotations

from .hookspecs import hookimpl
from .model import Model, Output, Workload
from .params import param
from .trace import Handle, Recorder, Trace

__version__ = "0.1.0"

__all__ = ["hookimpl", "Model", "Output", "Workload", "param", "Recorder", "Handle", "Trace",
           "record", "load_trace", "replay", "__version__"]


def record(workload: str, *, seed: int | None = None, **params):
    """Record the named workload's trace with ``params`` (validated like a config's)."""
    from .api import record as _record
    return _record(workload, seed=seed, **params)


def load_trace(path) -> Trace:
    """Load a trace file (binary, or the text form for ``.txt``)."""
    from .traceio import load
    return load(path)


def replay(trace: Trace, model: str, *, costs: dict | None = None, check: str | None = None,
           **params):
    """Replay ``trace`` under ``model`` with ``params``; returns a :class:`memcompare.engine.Result`."""
    from .api import replay as _replay
    return _replay(trace, model, costs=costs, check=check, **params)
