"""The hooks a memcompare plugin implements (pluggy project ``memcompare``).

Authors write ``from memcompare import hookimpl`` and never touch pluggy otherwise. Hooks
register through a callback, so the host validates every item and names the plugin that
offended (simonw/llm's ``register_models(register)``). Every hook has a section in
``docs/plugins.md`` and a test in ``tests/test_plugins.py``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:
    from .model import Model, Workload

hookspec = pluggy.HookspecMarker("memcompare")
hookimpl = pluggy.HookimplMarker("memcompare")


@hookspec
def register_models(register: Callable[[type["Model"]], None]) -> None:
    """Register memory models: call ``register(ModelSubclass)`` once per model.

    Called once, when the plugins load. Each class needs a unique ``name``, ``Params`` and
    ``Costs`` dataclasses, and ``run``/``held`` methods (see :class:`memcompare.Model`).
    """


@hookspec
def register_workloads(register: Callable[[type["Workload"]], None]) -> None:
    """Register workloads: call ``register(WorkloadSubclass)`` once per workload.

    Called once, when the plugins load. Each class needs a unique ``name``, a ``Params``
    dataclass and a ``record`` method (see :class:`memcompare.Workload`).
    """
