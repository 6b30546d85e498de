"""Run configuration: TOML in, a validated list of cells out (docs/design.md §5).

Errors name the file, the line and column for syntax errors, and the key path for bad values
(``runs.toml: model[0].params.gogc[2]: must be an integer >= 1 or "off", got "fast"``); an
unknown name lists the valid ones and suggests the nearest. This module records no trace and
runs nothing.
"""
from __future__ import annotations

import itertools
import re
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import params as P
from . import profiles
from .costs import MutatorCosts
from .engine import CHECK_LEVELS
from .errors import ConfigError
from .plugins import Entry, Plugins, plugins

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

RUN_KEYS = {
    "name": "results go to results/<name>/ unless --out is given",
    "repeats": "how many times each cell runs (simulated time is deterministic; 1 is enough)",
    "seed": "seed for workloads that declare a `seed` parameter and do not set it",
    "check": "safety oracle: \"basic\" (always-on checks) or \"full\" (re-trace every collection)",
    "mutator_costs": "overrides of the shared mutator cost table (see `memcompare list --json`)",
    "heap_multiples": "time–space sweep: run models with a heap limit at these multiples of "
                      "their minimum heap for each workload (found by bisection)",
}
WORKLOAD_KEYS = ("name", "trace", "params")
MODEL_KEYS = ("name", "params", "costs", "mutator_costs")


@dataclass(frozen=True)
class WorkloadSpec:
    """One workload instance: a registered workload with params, or a trace file."""

    index: int                      # position in the config's [[workload]] list
    name: str                       # workload name, or the trace file's name
    params: Any = None              # typed params (None for a trace file)
    trace_path: Path | None = None
    entry: Entry | None = None

    @property
    def plain_params(self) -> dict[str, Any]:
        if self.trace_path is not None:
            return {"trace": str(self.trace_path)}
        return P.as_dict(self.params)


@dataclass(frozen=True)
class ModelSpec:
    """One model instance: a registered model with params and cost overrides."""

    index: int
    entry: Entry
    params: Any
    costs: Any
    cost_overrides: dict[str, Any] = field(default_factory=dict)
    #: set on the cells of a time–space sweep: this many times the minimum heap
    heap_multiple: float | None = None
    #: the costs profile the cost table came from (Profile.provenance()), if any
    costs_profile: dict[str, Any] | None = None
    #: this model's own mutator cost table (``mutator_costs`` in its [[model]]); None = the
    #: run's shared one
    mutator: MutatorCosts | None = None

    @property
    def name(self) -> str:
        return self.entry.name


@dataclass(frozen=True)
class Config:
    path: Path | None
    text: str
    name: str
    repeats: int
    seed: int
    check: str
    mutator: MutatorCosts
    heap_multiples: tuple[float, ...] | None
    workloads: list[WorkloadSpec]
    models: list[ModelSpec]
    raw: dict[str, Any]

    def cells(self) -> list[tuple[ModelSpec, WorkloadSpec, int]]:
        """Every (model, workload, repeat) combination, workloads outermost."""
        return [(m, w, r) for w in self.workloads for m in self.models
                for r in range(self.repeats)]


def load(path: str | Path, registry: Plugins | None = None, *,
         costs_profile: str | Path | None = None) -> Config:
    """Read and validate a TOML run configuration; ``costs_profile`` (``run --costs``) gives
    every model the profile has its cost table, unless its [[model]] sets ``costs``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config: {e.strerror or e}") from None
    return parse(text, path=path, registry=registry, costs_profile=costs_profile)


def parse(text: str, *, path: Path | None = None, registry: Plugins | None = None,
          costs_profile: str | Path | None = None) -> Config:
    label = str(path) if path is not None else "<config>"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(_syntax_message(label, text, e)) from None
    profile = profiles.load(costs_profile, "--costs") if costs_profile is not None else None
    try:
        return _resolve(raw, text, path, registry or plugins(), profile)
    except ConfigError as e:
        raise ConfigError(f"{label}: {e}") from None


def _syntax_message(label: str, text: str, e: Exception) -> str:
    msg = str(e)
    line = getattr(e, "lineno", None)
    col = getattr(e, "colno", None)
    m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
    if m:
        line, col = int(m.group(1)), int(m.group(2))
        msg = msg[:m.start()].strip()
    elif re.search(r"\(at end of document\)", msg):
        lines = text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
        msg = msg.replace("(at end of document)", "").strip()
    where = f"{label}:{line}:{col}" if line else label
    src = ""
    if line:
        lines = text.splitlines()
        if 0 < line <= len(lines):
            src = f"\n    {lines[line - 1]}\n    {' ' * (max(col, 1) - 1)}^"
    return f"{where}: TOML syntax error: {msg}{src}"


def _table(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: must be a table, got {value!r}")
    return value


def _array_of_tables(raw: dict, key: str) -> list[dict]:
    value = raw.get(key, [])
    if isinstance(value, dict):
        raise ConfigError(f"{key}: write [[{key}]] (an array of tables), not [{key}]")
    if not isinstance(value, list):
        raise ConfigError(f"{key}: must be an array of tables ([[{key}]]), got {value!r}")
    for i, v in enumerate(value):
        _table(v, f"{key}[{i}]")
    return value


def _check_keys(table: dict, valid, path: str) -> None:
    for key in table:
        if key not in valid:
            raise P.unknown_key(path, key, list(valid), "key")


def _resolve(raw: dict, text: str, path: Path | None, registry: Plugins,
             cli_profile: profiles.Profile | None = None) -> Config:
    _check_keys(raw, ("run", "workload", "model"), "top level")
    run = _table(raw.get("run", {}), "run")
    _check_keys(run, RUN_KEYS, "run")
    name = run.get("name", path.stem if path else "run")
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9_.-]+$", name):
        raise ConfigError(f"run.name: must be a name of letters, digits, '-', '_' or '.', "
                          f"got {name!r}")
    repeats = run.get("repeats", 1)
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ConfigError(f"run.repeats: must be an integer >= 1, got {repeats!r}")
    seed = run.get("seed", 1)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"run.seed: must be an integer, got {seed!r}")
    check = run.get("check", "basic")
    if check not in CHECK_LEVELS:
        raise ConfigError(f"run.check: must be one of {', '.join(map(repr, CHECK_LEVELS))}, "
                          f"got {check!r}")
    mutator = P.build(MutatorCosts, _table(run.get("mutator_costs", {}), "run.mutator_costs"),
                      "run.mutator_costs")
    multiples = run.get("heap_multiples")
    if multiples is not None:
        if not isinstance(multiples, list) or not multiples:
            raise ConfigError(f"run.heap_multiples: must be a non-empty list of numbers > 0 "
                              f"such as [1.25, 1.5, 2, 3, 4, 6], got {P.show(multiples)}")
        for i, v in enumerate(multiples):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise ConfigError(f"run.heap_multiples[{i}]: must be a number > 0, "
                                  f"got {P.show(v)}")
        multiples = tuple(float(v) for v in multiples)

    workloads: list[WorkloadSpec] = []
    wl_tables = _array_of_tables(raw, "workload")
    if not wl_tables:
        raise ConfigError("no [[workload]] given: add at least one, e.g.\n"
                          "    [[workload]]\n    name = \"binary-trees\"")
    base = path.parent if path is not None else Path.cwd()
    for i, w in enumerate(wl_tables):
        wpath = f"workload[{i}]"
        _check_keys(w, WORKLOAD_KEYS, wpath)
        if ("name" in w) == ("trace" in w):
            raise ConfigError(f"{wpath}: give exactly one of name = \"...\" (a registered "
                              f"workload) or trace = \"file\" (a trace file)")
        if "trace" in w:
            if "params" in w:
                raise ConfigError(f"{wpath}.params: a trace file takes no params")
            tp = w["trace"]
            if not isinstance(tp, str):
                raise ConfigError(f"{wpath}.trace: must be a file path string, got {tp!r}")
            full = _relative(base, tp)
            if not full.is_file():
                raise ConfigError(f"{wpath}.trace: no such file {str(full)!r}")
            workloads.append(WorkloadSpec(i, Path(tp).name, trace_path=full))
            continue
        if not isinstance(w["name"], str):
            raise ConfigError(f"{wpath}.name: must be a string, got {w['name']!r}")
        entry = registry.workload(w["name"], f"{wpath}.name")
        values = _table(w.get("params", {}), f"{wpath}.params")
        names = {f.name for f in P.fields(entry.cls.Params)}
        if "seed" in names and "seed" not in values:
            values = {**values, "seed": seed}
        for combo in _sweep(entry.cls.Params, values, f"{wpath}.params"):
            workloads.append(WorkloadSpec(i, entry.name, combo, entry=entry))

    models: list[ModelSpec] = []
    m_tables = _array_of_tables(raw, "model")
    if not m_tables:
        valid = ", ".join(registry.models())
        raise ConfigError(f"no [[model]] given: add at least one (registered: {valid}), e.g.\n"
                          f"    [[model]]\n    name = \"cpp\"")
    for i, m in enumerate(m_tables):
        mpath = f"model[{i}]"
        _check_keys(m, MODEL_KEYS, mpath)
        if "name" not in m or not isinstance(m["name"], str):
            raise ConfigError(f"{mpath}.name: required, the name of a registered model "
                              f"({', '.join(registry.models())})")
        entry = registry.model(m["name"], f"{mpath}.name")
        pvalues = _table(m.get("params", {}), f"{mpath}.params")
        hp = entry.cls.heap_param
        if multiples is not None and hp is not None and hp in pvalues:
            raise ConfigError(f"{mpath}.params.{hp}: with run.heap_multiples the heap is found "
                              f"by bisection and set per multiple; remove {hp} here")
        cvalues, used = _costs(m, mpath, entry.name, base, cli_profile)
        mutator_m = _model_mutator(m, mpath, entry.name, base, mutator)
        param_sets = _sweep(entry.cls.Params, pvalues, f"{mpath}.params")
        cost_sets = _sweep(entry.cls.Costs, cvalues, f"{mpath}.costs")
        for p in param_sets:
            for c in cost_sets:
                defaults = P.as_dict(entry.cls.Costs())
                over = {k: v for k, v in P.as_dict(c).items() if defaults[k] != v}
                models.append(ModelSpec(i, entry, p, c, over, costs_profile=used,
                                        mutator=mutator_m))
    return Config(path, text, name, repeats, seed, check, mutator, multiples, workloads, models,
                  raw)


def _relative(base: Path, name: str) -> Path:
    """A path in a config: relative to the config's folder unless absolute."""
    return Path(name) if Path(name).is_absolute() else base / name


def _costs(m: dict, mpath: str, name: str, base: Path,
           cli_profile: profiles.Profile | None) -> tuple[dict[str, Any], dict | None]:
    """A model's cost values and the profile they came from: ``costs = "profile.toml"`` (a
    path relative to the config), an inline table, or ``run --costs`` for a model that sets
    neither and that the profile has."""
    raw = m.get("costs")
    if isinstance(raw, str):
        full = _relative(base, raw)
        prof = profiles.load(full, f"{mpath}.costs")
        return prof.section(name, "costs", f"{mpath}.costs"), prof.provenance()
    if raw is None and cli_profile is not None and name in cli_profile.models:
        return (cli_profile.section(name, "costs", f"--costs ({mpath})"),
                cli_profile.provenance())
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{mpath}.costs: must be a table of cost overrides "
                          f"({{ name = value }}) or the path of a costs profile (\"x.toml\"), "
                          f"got {P.show(raw)}")
    return _table(raw or {}, f"{mpath}.costs"), None


def _model_mutator(m: dict, mpath: str, name: str, base: Path,
                   run_mutator: MutatorCosts) -> MutatorCosts | None:
    """A model's own mutator cost table: the run's, overridden by ``mutator_costs`` (a table,
    or a costs profile's ``models.<name>.mutator`` — a native replayer's calibrated costs)."""
    raw = m.get("mutator_costs")
    if raw is None:
        return None
    where = f"{mpath}.mutator_costs"
    if isinstance(raw, str):
        full = _relative(base, raw)
        values = profiles.load(full, where).section(name, "mutator", where)
    elif isinstance(raw, dict):
        values = raw
    else:
        raise ConfigError(f"{where}: must be a table of mutator costs or the path of a costs "
                          f"profile, got {P.show(raw)}")
    return P.build(MutatorCosts, {**P.as_dict(run_mutator), **values}, where)


def _is_tuple_type(tp) -> bool:
    origin = typing.get_origin(tp)
    if origin is tuple:
        return True
    if origin is not None:
        return any(_is_tuple_type(a) for a in typing.get_args(tp))
    return False


def _sweep(cls, values: dict[str, Any], path: str) -> list[Any]:
    """Lists sweep: the Cartesian product of every listed value, each validated in place.

    A parameter whose type is itself a list (``thresholds = [700, 10, 10]``) sweeps only with a
    list of lists (``thresholds = [[700, 10, 10], [2000, 10, 10]]``).
    """
    hints = P.hints(cls)
    names = [f.name for f in P.fields(cls)]
    for key in values:
        if key not in names:
            raise P.unknown_key(path, key, names)
    keys, choices = [], []
    for key, v in values.items():
        is_sweep = isinstance(v, list) and (
            not _is_tuple_type(hints[key]) or (len(v) > 0 and isinstance(v[0], list)))
        if is_sweep and not v:
            raise ConfigError(f"{path}.{key}: an empty list sweeps over nothing")
        keys.append(key)
        choices.append([(x, f"[{j}]") for j, x in enumerate(v)] if is_sweep else [(v, "")])
    out = []
    for combo in itertools.product(*choices) if keys else [()]:
        try:
            out.append(P.build(cls, {k: v for k, (v, _) in zip(keys, combo)}, path))
        except ConfigError as e:
            # name the swept element in the key path: model[0].params.gogc[2]: ...
            msg = str(e)
            for key, (_, suffix) in zip(keys, combo):
                prefix = f"{path}.{key}"
                if suffix and msg.startswith(prefix) and not msg[len(prefix)].isalnum():
                    msg = prefix + suffix + msg[len(prefix):]
                    break
            raise ConfigError(msg) from None
    return out
