"""What a model or workload plugin implements, and what a model reports to the engine.

A model replays a whole trace in one call (no per-event callback: a Python call per event would
cost more than most models' own work, see docs/simulator-speed.md) and writes what it did
into an :class:`Output`. The engine turns that into every metric of docs/design.md §4 with the same
code for every model; a model never computes a metric itself.

This module must not import the engine, the runner or anything after them.
"""
from __future__ import annotations

import random
from array import array
from collections import Counter
from typing import Any, ClassVar, Sequence

import numpy as np

from .costs import MutatorCosts
from .params import NoParams
from .trace import Recorder, Trace


class Output:
    """What a model did during one replay, in the units the engine measures.

    Per-event costs are sequences of length ``trace.events`` (a Python list of floats filled in
    the replay loop, or a numpy array), or ``None`` for "nothing". Every cost is in simulated
    nanoseconds and lies on the mutator's timeline unless it says otherwise.

    - ``mm_ns[i]``: memory-management work done while the program makes progress at event ``i``:
      allocation paths, write barriers, reference-count updates.
    - ``free_ns[i]``: the program's own explicit deallocation at event ``i`` (``delete``): a
      reclamation stall, not collector CPU.
    - ``gc_ns[i]``: collector work the mutator does at event ``i`` outside a pause: allocation
      assists, reference-count deallocation cascades. A stall and collector CPU.
    - :meth:`pause`: a collector pause (the world stopped) just before event ``at``.
    - ``concurrent_ns``: collector CPU on other cores, off the mutator's timeline.
    - :meth:`footprint`: memory held from the operating system from event ``at`` on.
    - :meth:`collection` / ``reclaimed_*``: which objects the model reclaimed and when, for the
      safety oracle. An object reclaimed "at ``at``" is gone after event ``at``.
    """

    def __init__(self, trace: Trace, mutator: "MutatorCosts | None" = None):
        self.events = trace.events
        #: the run's shared mutator cost table (docs/design.md §4): a model that maps simulated time
        #: to events (a concurrent phase that lasts so many ns) needs the program's own costs
        self.mutator = mutator if mutator is not None else MutatorCosts()
        self.mm_ns: Sequence[float] | np.ndarray | None = None
        self.free_ns: Sequence[float] | np.ndarray | None = None
        self.gc_ns: Sequence[float] | np.ndarray | None = None
        self.concurrent_ns: float = 0.0
        self.allocated_bytes: int = 0
        self.pause_at: list[int] = []
        self.pause_ns: list[float] = []
        self.pause_cpu_ns: list[float] = []
        self.pause_kind: list[str] = []
        self.gc_counts: Counter[str] = Counter()
        #: the footprint's steps (:meth:`footprint`), as machine integers: a list would keep
        #: a Python int (32 bytes plus an 8-byte pointer) per step, and a malloc model may
        #: step at every allocation and free
        self.fp_at: array[int] = array("q")
        self.fp_bytes: array[int] = array("q")
        #: objects reclaimed one at a time (manual frees, refcount deallocation): parallel lists
        self.reclaimed_ids: list[int] | np.ndarray = []
        self.reclaimed_at: list[int] | np.ndarray = []
        #: collections: (after event, reclaimed ids) for the full re-trace of the safety oracle
        self.collections: list[tuple[int, np.ndarray]] = []
        #: model-specific counters (objects marked, bytes copied, ...), reported as they are
        self.stats: dict[str, int | float] = {}
        #: a measured model's metrics (Model.measured): docs/design.md §4's keys, null where the
        #: runtime cannot give a figure (with the reason in stats["null_reasons"])
        self.measured: dict[str, Any] | None = None
        #: a measured model's timeline, in the form the engine writes for simulated ones
        #: (``wall_ns``, ``footprint`` as [[ns, bytes], ...], ``live``, ``pauses``, ``mmu``),
        #: or None when the runtime was not sampled
        self.timeline: dict[str, Any] | None = None

    def new_costs(self) -> list[float]:
        """A zeroed per-event cost list to fill in a replay loop."""
        return [0.0] * self.events

    def pause(self, at: int, ns: float, kind: str, cpu_ns: float | None = None) -> None:
        """The collector stopped the world for ``ns`` just before event ``at``.

        ``cpu_ns`` is the CPU it used (``ns`` × threads for a parallel pause); default ``ns``.
        """
        self.pause_at.append(at)
        self.pause_ns.append(ns)
        self.pause_cpu_ns.append(ns if cpu_ns is None else cpu_ns)
        self.pause_kind.append(kind)

    def collection(self, kind: str, at: int, reclaimed: Sequence[int] | np.ndarray) -> None:
        """A collection of ``kind`` that reclaimed ``reclaimed`` after event ``at``."""
        self.gc_counts[kind] += 1
        self.collections.append((at, np.asarray(reclaimed, dtype=np.int64)))

    def footprint(self, at: int, nbytes: int) -> None:
        """From event ``at`` on, the model holds ``nbytes`` from the operating system."""
        self.fp_at.append(at)
        self.fp_bytes.append(nbytes)


class Model:
    """Base class of memory-model plugins. Register subclasses in ``register_models``.

    Subclasses set ``name``, ``Params`` and ``Costs`` (frozen dataclasses built with
    :func:`memcompare.params.param`), and implement :meth:`run` and :meth:`held`. The docstring's
    first line is the one-line description ``memcompare list`` shows.
    """

    name: ClassVar[str]
    Params: ClassVar[type] = NoParams
    Costs: ClassVar[type] = NoParams
    #: True for models that may legitimately keep unreachable cycles (reference counting
    #: without a cycle collector): the completeness check then tolerates leaks.
    can_leak_cycles: ClassVar[bool] = False
    #: False for models that never reclaim by design (``nogc``): they "leak" everything.
    reclaims: ClassVar[bool] = True
    #: True for models that run the real runtime and measure it (the native replayers): they
    #: set ``out.measured`` to the metrics; the engine neither simulates nor checks them, and
    #: their cells are marked non-deterministic.
    measured: ClassVar[bool] = False
    #: For models with a hard heap limit: the parameter that sets it, in MiB (``"heap_mb"``),
    #: and the step in MiB on which ``run.heap_multiples`` bisects for the minimum heap.
    heap_param: ClassVar[str | None] = None
    heap_granule_mb: ClassVar[float] = 1.0

    def __init__(self, params: Any, costs: Any):
        self.params = params
        self.costs = costs

    def run(self, trace: Trace, out: Output) -> None:
        """Replay ``trace`` from its first event to its last, recording into ``out``.

        Raise :class:`memcompare.errors.OutOfMemory` when the configured memory runs out.
        """
        raise NotImplementedError

    def held(self) -> tuple[np.ndarray, np.ndarray]:
        """After :meth:`run`: do a final full collection (not measured) and return the ids of
        the objects still held and the bytes each takes in this model's layout."""
        raise NotImplementedError


class Workload:
    """Base class of workload plugins. Register subclasses in ``register_workloads``.

    Subclasses set ``name`` and ``Params`` and implement :meth:`record`; the docstring says what
    real program the workload stands for. A ``seed`` parameter, when declared, receives the
    run's seed unless the config sets it; every random choice must come from ``rng``.
    """

    name: ClassVar[str]
    Params: ClassVar[type] = NoParams

    def record(self, params: Any, t: Recorder, rng: random.Random) -> None:
        raise NotImplementedError
