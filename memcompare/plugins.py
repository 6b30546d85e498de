"""A typed facade over pluggy's manager: core code asks ``plugins().models()``, never the hooks.

Plugins come from the entry-point group ``memcompare`` — memcompare's own built-ins included,
which live under ``plugins/`` and are declared in ``pyproject.toml`` like anyone else's.
``MEMCOMPARE_LOAD_PLUGINS`` (comma-separated distribution names; empty = none) limits which
third-party distributions load; the built-ins always load.
"""
from __future__ import annotations

import dataclasses
import importlib.metadata as md
import os
import re
from dataclasses import dataclass
from typing import Any, Callable

import pluggy

from . import hookspecs
from .errors import PluginError
from .model import Model, Workload
from .params import unknown_key

GROUP = "memcompare"
SELF_DIST = "memcompare"
NAME_RE = re.compile(r"^[a-z][a-z0-9_.-]*$")


@dataclass(frozen=True)
class Entry:
    """A registered model or workload and the plugin it came from."""

    name: str
    cls: type
    plugin: str
    distribution: str | None
    version: str | None

    @property
    def doc(self) -> str:
        return (self.cls.__doc__ or "").strip()

    @property
    def summary(self) -> str:
        return self.doc.splitlines()[0] if self.doc else ""


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def allowed_distributions() -> set[str] | None:
    """The third-party distributions allowed by ``MEMCOMPARE_LOAD_PLUGINS`` (None = all)."""
    value = os.environ.get("MEMCOMPARE_LOAD_PLUGINS")
    if value is None:
        return None
    return {_normalize(v) for v in value.split(",") if v.strip()}


class Plugins:
    """The loaded plugins and what they registered."""

    def __init__(self, *, entry_points: bool = True):
        self.pm = pluggy.PluginManager("memcompare")
        self.pm.add_hookspecs(hookspecs)
        self._dists: dict[str, tuple[str | None, str | None]] = {}
        self._models: dict[str, Entry] | None = None
        self._workloads: dict[str, Entry] | None = None
        if entry_points:
            self._load_entry_points()

    # -- loading ------------------------------------------------------------------------------
    def _load_entry_points(self) -> None:
        allowed = allowed_distributions()
        for ep in sorted(md.entry_points(group=GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            builtin = dist is not None and _normalize(dist) == SELF_DIST
            if not builtin and allowed is not None and _normalize(dist or "") not in allowed:
                continue
            if self.pm.get_plugin(ep.name) is not None:
                continue        # the same distribution seen twice on sys.path
            try:
                plugin = ep.load()
            except Exception as e:
                raise PluginError(f"plugin {ep.name!r} (distribution {dist}) failed to load: "
                                  f"{type(e).__name__}: {e}") from e
            self.register(plugin, ep.name, distribution=dist, version=version)
        self.check_pending()

    def register(self, plugin: Any, name: str, *, distribution: str | None = None,
                 version: str | None = None) -> None:
        """Register a plugin object (a module or an instance with hookimpls)."""
        try:
            self.pm.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as e:
            raise PluginError(f"plugin {name!r} could not be registered: {e}") from e
        self._dists[name] = (distribution, version)
        self._models = self._workloads = None

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self._dists.pop(name, None)
        self._models = self._workloads = None

    def check_pending(self) -> None:
        """Fail, naming the plugin, when a hookimpl matches no hook (a typo in its name)."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as e:
            name = self.pm.get_name(e.plugin) or repr(e.plugin)
            raise PluginError(f"plugin {name!r} implements a hook memcompare does not have: "
                              f"{e} (hooks: register_models, register_workloads)") from e

    # -- registries ---------------------------------------------------------------------------
    def _collect(self, hook_name: str, kind: str, base: type,
                 validate: Callable[[type], str | None]) -> dict[str, Entry]:
        found: dict[str, Entry] = {}
        hook = getattr(self.pm.hook, hook_name)
        for impl in reversed(hook.get_hookimpls()):       # registration order
            plugin = impl.plugin_name
            dist, version = self._dists.get(plugin, (None, None))

            def register(cls, _plugin=plugin, _dist=dist, _version=version):
                problem = _check_class(cls, base, kind) or validate(cls)
                if problem:
                    raise PluginError(f"plugin {_plugin!r} registered an invalid {kind}: {problem}")
                if cls.name in found:
                    raise PluginError(f"plugin {_plugin!r} registered {kind} {cls.name!r}, which "
                                      f"plugin {found[cls.name].plugin!r} already registered")
                found[cls.name] = Entry(cls.name, cls, _plugin, _dist, _version)

            try:
                impl.function(register=register)
            except PluginError:
                raise
            except Exception as e:
                raise PluginError(f"plugin {plugin!r} failed in {hook_name}: "
                                  f"{type(e).__name__}: {e}") from e
        return dict(sorted(found.items()))

    def models(self) -> dict[str, Entry]:
        if self._models is None:
            self._models = self._collect("register_models", "model", Model, _check_model)
        return self._models

    def workloads(self) -> dict[str, Entry]:
        if self._workloads is None:
            self._workloads = self._collect("register_workloads", "workload", Workload,
                                            _check_workload)
        return self._workloads

    def model(self, name: str, path: str = "model") -> Entry:
        models = self.models()
        if name not in models:
            raise unknown_key(path, name, list(models), "model")
        return models[name]

    def workload(self, name: str, path: str = "workload") -> Entry:
        workloads = self.workloads()
        if name not in workloads:
            raise unknown_key(path, name, list(workloads), "workload")
        return workloads[name]

    def versions(self) -> dict[str, str | None]:
        """Plugin name → distribution version, for provenance."""
        return {name: (f"{d} {v}" if d else None) for name, (d, v) in sorted(self._dists.items())}


def _check_class(cls, base, kind) -> str | None:
    if not isinstance(cls, type) or not issubclass(cls, base):
        return f"{cls!r} is not a subclass of memcompare.{base.__name__}"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not NAME_RE.match(name):
        return (f"{cls.__name__}.name must be a lower-case name such as 'my-{kind}', "
                f"got {name!r}")
    for attr in ("Params",) + (("Costs",) if kind == "model" else ()):
        p = getattr(cls, attr, None)
        if not (isinstance(p, type) and dataclasses.is_dataclass(p)):
            return f"{cls.__name__}.{attr} must be a dataclass, got {p!r}"
        for f in dataclasses.fields(p):
            if f.default is dataclasses.MISSING:
                return f"{cls.__name__}.{attr}.{f.name} needs a default"
    return None


def _check_model(cls) -> str | None:
    for method in ("run", "held"):
        if getattr(cls, method) is getattr(Model, method):
            return f"{cls.__name__} does not implement {method}()"
    return None


def _check_workload(cls) -> str | None:
    if cls.record is Workload.record:
        return f"{cls.__name__} does not implement record()"
    return None


_PLUGINS: Plugins | None = None


def plugins() -> Plugins:
    """The process-wide plugin set, loaded from entry points on first use."""
    global _PLUGINS
    if _PLUGINS is None:
        _PLUGINS = Plugins()
    return _PLUGINS


def set_plugins(p: Plugins | None) -> None:
    """Replace the process-wide plugin set (tests, and the authoring kit's fixture)."""
    global _PLUGINS
    _PLUGINS = p
