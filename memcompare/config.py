"""Run configuration: TOML in, a validated list of cells out (docs/design.md §5).

Errors name the file, the line and column for syntax errors, and the key path for bad values
(``runs.toml: model[0].params.gogc[2]: must be an integer >= 1 or "off", got "fast"``); an
unknown name lists the valid ones and suggests the nearest. This module records no trace and
runs nothing.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import re
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import params as P
from . import profiles
from .costs import MutatorCosts
from .engine import CHECK_LEVELS, DEFAULT_MACHINE_MB
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
    "cell_timeout_s": "a cell that runs longer is stopped with status \"timeout\" (0: no limit)",
    "cell_memory_mb": "a cell's worker process may map at most this many MiB; beyond, the cell "
                      "ends \"oom\" (0: no limit)",
    "machine_mb": "the simulated machine's memory: a model whose footprint passes it ends "
                  "\"oom\"",
}
#: generous limits (docs/reliability.md): no published config comes near them
DEFAULT_CELL_TIMEOUT_S = 3600.0
DEFAULT_CELL_MEMORY_MB = 65536.0
WORKLOAD_KEYS = ("name", "trace", "params")
#: most combinations one params or costs table may sweep (a run of more cells is a mistake
#: more often than a plan, and would take hours)
MAX_SWEEP = 10_000
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
    #: seconds a cell may run (None: no limit); ``run.cell_timeout_s`` or ``--cell-timeout``
    cell_timeout_s: float | None = DEFAULT_CELL_TIMEOUT_S
    #: MiB a cell's worker may map (None: no limit); ``run.cell_memory_mb`` or ``--cell-memory``
    cell_memory_mb: float | None = DEFAULT_CELL_MEMORY_MB
    #: the simulated machine's memory in MiB (``run.machine_mb``)
    machine_mb: float = DEFAULT_MACHINE_MB
    #: narrowed by ``run --model/--workload``: the run keeps the other cells of its results
    subset: bool = False
    #: the ``run --set`` items applied over the file's text, in order
    overrides: tuple[str, ...] = ()

    def cells(self) -> list[tuple[ModelSpec, WorkloadSpec, int]]:
        """Every (model, workload, repeat) combination, workloads outermost."""
        return [(m, w, r) for w in self.workloads for m in self.models
                for r in range(self.repeats)]


def load(path: str | Path, registry: Plugins | None = None, *,
         costs_profile: str | Path | None = None, overrides: list[str] = ()) -> Config:
    """Read and validate a TOML run configuration; ``costs_profile`` (``run --costs``) gives
    every model the profile has its cost table, unless its [[model]] sets ``costs``;
    ``overrides`` are ``run --set KEY.PATH=VALUE`` items (:func:`apply_overrides`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ConfigError(f"{path}:{line}:{col}: not UTF-8 text (byte 0x{data[e.start]:02x}); "
                          f"TOML files are UTF-8 — re-save the file as UTF-8") from None
    return parse(text, path=path, registry=registry, costs_profile=costs_profile,
                 overrides=overrides)


def parse(text: str, *, path: Path | None = None, registry: Plugins | None = None,
          costs_profile: str | Path | None = None, overrides: list[str] = ()) -> Config:
    label = str(path) if path is not None else "<config>"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(_syntax_message(label, text, e)) from None
    except RecursionError:      # tomllib recurses once per nesting level: [[[[...]]]]
        raise ConfigError(f"{label}: TOML syntax error: arrays or tables nested too deeply"
                          ) from None
    set_paths = apply_overrides(raw, overrides) if overrides else {}
    profile = profiles.load(costs_profile, "--costs") if costs_profile is not None else None
    try:
        cfg = _resolve(raw, text, path, registry or plugins(), profile)
        return dataclasses.replace(cfg, overrides=tuple(overrides))
    except ConfigError as e:
        msg = str(e)
        for where, item in set_paths.items():     # a bad --set value: say where it came from
            parent, key = where.rsplit(".", 1)
            if (msg.startswith(where) and not msg[len(where):len(where) + 1].isalnum()) or \
                    (msg.startswith(parent + ":") and repr(key) in msg):
                msg += f" (from --set {item})"
                break
        raise ConfigError(f"{label}: {msg}") from None


# -- run --set KEY.PATH=VALUE -----------------------------------------------------------------

SET_FORMS = ("run.KEY=VALUE", "model.NAME.PARAM=VALUE", "model.NAME.costs.COST=VALUE",
             "workload.NAME.PARAM=VALUE")


def apply_overrides(raw: dict[str, Any], items: list[str]) -> dict[str, str]:
    """Apply ``--set`` items to the parsed TOML ``raw`` in place, as if the file said so.

    ``run.repeats=3`` sets ``[run] repeats``; ``model.jvm.heap_mb=64`` sets ``heap_mb`` in the
    params of every ``[[model]]`` named ``jvm``; ``model.jvm.costs.copy_ns_per_byte=0.4`` a cost
    override; ``workload.binary-trees.max_depth=10`` a workload's param. VALUE is read as a
    TOML value (``64``, ``0.4``, ``true``, ``"x"``, ``[50, 100]`` sweeps) and then checked as the
    file's value would be. Returns {key path in the config: the item}, so that an error about a
    value names the ``--set`` it came from."""
    done: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: write KEY.PATH=VALUE, e.g. --set "
                              f"model.jvm.heap_mb=64 (forms: {', '.join(SET_FORMS)})")
        key, text = (s.strip() for s in item.split("=", 1))
        value = P.parse_value(text)
        parts = key.split(".")
        if parts[0] == "run" and len(parts) == 2 and parts[1]:
            run = raw.setdefault("run", {})
            if not isinstance(run, dict):
                raise ConfigError(f"--set {item}: the config's run is not a table")
            run[parts[1]] = value
            done[f"run.{parts[1]}"] = item
            continue
        if parts[0] in ("model", "workload") and len(parts) in (3, 4) and all(parts):
            kind, name = parts[0], parts[1]
            section = "params"
            if len(parts) == 4:
                if kind != "model" or parts[2] not in ("costs", "params"):
                    raise ConfigError(f"--set {item}: {'.'.join(parts[:3])} is not a key "
                                      f"path; forms: {', '.join(SET_FORMS)}")
                section = parts[2]
            tables = raw.get(kind)
            if not isinstance(tables, list):
                tables = []
            hits = [i for i, t in enumerate(tables)
                    if isinstance(t, dict) and t.get("name") == name]
            if not hits:
                names = sorted({t["name"] for t in tables
                                if isinstance(t, dict) and isinstance(t.get("name"), str)})
                raise ConfigError(f"--set {item}: the config has no [[{kind}]] named {name!r} "
                                  f"(it has: {', '.join(names) or 'none'})")
            for i in hits:
                t = tables[i]
                sub = t.setdefault(section, {})
                if not isinstance(sub, dict):
                    raise ConfigError(f"--set {item}: {kind}[{i}].{section} is not a table "
                                      f"in the config, so it cannot take one key")
                sub[parts[-1]] = value
                done[f"{kind}[{i}].{section}.{parts[-1]}"] = item
            continue
        raise ConfigError(f"--set {item}: {key!r} is not a key path; forms: "
                          f"{', '.join(SET_FORMS)}")
    return done


def select(config: Config, models: list[str] = (), workloads: list[str] = ()) -> Config:
    """The config narrowed to the named models and workloads (``run --model/--workload``);
    an empty list keeps all. A name the config does not have is an error listing those it has."""
    def pick(items, wanted, what):
        if not wanted:
            return list(items)
        have = list(dict.fromkeys(i.name for i in items))
        for w in wanted:
            if w not in have:
                raise ConfigError(f"--{what} {w}: the config has no {what} {w!r} "
                                  f"(it has: {', '.join(have)})")
        return [i for i in items if i.name in wanted]
    if not models and not workloads:
        return config
    return dataclasses.replace(config, models=pick(config.models, models, "model"),
                               workloads=pick(config.workloads, workloads, "workload"),
                               subset=True)


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


def got(value: Any) -> str:
    """What a config value is, for an error: ``a list ["cpp", "go"]``, ``a table {...}``."""
    text = P.show(value)
    if len(text) > 60:
        text = text[:57] + "..."
    if isinstance(value, bool):
        kind = "a boolean"
    elif isinstance(value, (int, float)):
        kind = "a number"
    elif isinstance(value, str):
        kind = "a string"
    elif isinstance(value, list):
        kind = "a list"
    elif isinstance(value, dict):
        kind = "a table"
    else:
        kind = f"a TOML {type(value).__name__}"
    return f"{kind} {text}"


def _table(value: Any, path: str, example: str = "{ key = value }") -> dict[str, Any]:
    if not isinstance(value, dict):
        hint = ""
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            hint = " — write one table, not a list of tables"
        raise ConfigError(f"{path}: must be a table such as {example}, got {got(value)}{hint}")
    return value


def _name(value: Any, path: str, kind: str, registered) -> str:
    """A [[model]] or [[workload]] name: one string; a list says how to write several."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        names = [v for v in value if isinstance(v, str)] or ["a", "b"]
        tables = " ".join(f"[[{kind}]] name = {P.show(n)}" for n in names[:3])
        raise ConfigError(f"{path}: must be one {kind} name, got {got(value)}; to compare "
                          f"several, write one [[{kind}]] table per {kind}: {tables}")
    raise ConfigError(f"{path}: must be the name of a registered {kind} as a string "
                      f"({', '.join(registered)}), got {got(value)}")


def _array_of_tables(raw: dict, key: str) -> list[dict]:
    value = raw.get(key, [])
    if isinstance(value, dict):
        raise ConfigError(f"{key}: write [[{key}]] (an array of tables), not [{key}]")
    if not isinstance(value, list):
        raise ConfigError(f"{key}: must be an array of tables ([[{key}]] name = ...), "
                          f"got {got(value)}")
    for i, v in enumerate(value):
        if not isinstance(v, dict):
            raise ConfigError(f"{key}[{i}]: must be a table ([[{key}]] name = ...), "
                              f"got {got(v)}")
    return value


def _check_keys(table: dict, valid, path: str) -> None:
    for key in table:
        if key not in valid:
            raise P.unknown_key(path, key, list(valid), "key")


def _resolve(raw: dict, text: str, path: Path | None, registry: Plugins,
             cli_profile: profiles.Profile | None = None) -> Config:
    _check_keys(raw, ("run", "workload", "model"), "top level")
    if isinstance(raw.get("run"), list):
        raise ConfigError(f"run: write [run] (one table), not [[run]] or a list, "
                          f"got {got(raw['run'])}")
    run = _table(raw.get("run", {}), "run", '[run] name = "x"')
    _check_keys(run, RUN_KEYS, "run")
    name = run.get("name", path.stem if path else "run")
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9_.-]+$", name):
        raise ConfigError(f"run.name: must be a name of letters, digits, '-', '_' or '.', "
                          f"got {got(name)}")
    repeats = run.get("repeats", 1)
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ConfigError(f"run.repeats: must be an integer >= 1, got {got(repeats)}")
    seed = run.get("seed", 1)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"run.seed: must be an integer, got {got(seed)}")
    check = run.get("check", "basic")
    if check not in CHECK_LEVELS:
        raise ConfigError(f"run.check: must be one of {', '.join(map(P.show, CHECK_LEVELS))}, "
                          f"got {got(check)}")
    mutator = P.build(MutatorCosts, _table(run.get("mutator_costs", {}), "run.mutator_costs",
                                           "{ load_ns = 1.0 }"), "run.mutator_costs")
    multiples = run.get("heap_multiples")
    if multiples is not None:
        if not isinstance(multiples, list) or not multiples:
            raise ConfigError(f"run.heap_multiples: must be a non-empty list of numbers > 0 "
                              f"such as [1.25, 1.5, 2, 3, 4, 6], got {got(multiples)}")
        for i, v in enumerate(multiples):
            if (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0
                    or not math.isfinite(v)):
                raise ConfigError(f"run.heap_multiples[{i}]: must be a finite number > 0, "
                                  f"got {got(v)}")
        multiples = tuple(float(v) for v in multiples)
    machine_mb = run.get("machine_mb", DEFAULT_MACHINE_MB)
    if (isinstance(machine_mb, bool) or not isinstance(machine_mb, (int, float))
            or not 0 < machine_mb < float("inf")):
        raise ConfigError(f"run.machine_mb: must be a number of MiB > 0, got {P.show(machine_mb)}")

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
                hint = ("; to use several trace files, write one [[workload]] table per file"
                        if isinstance(tp, list) else "")
                raise ConfigError(f"{wpath}.trace: must be a file path string, got {got(tp)}"
                                  f"{hint}")
            if not tp or "\0" in tp:
                raise ConfigError(f"{wpath}.trace: must be a file path, got {got(tp)}")
            full = _relative(base, tp)
            if not full.is_file():
                raise ConfigError(f"{wpath}.trace: no such file {str(full)!r}")
            workloads.append(WorkloadSpec(i, Path(tp).name, trace_path=full))
            continue
        wname = _name(w["name"], f"{wpath}.name", "workload", registry.workloads())
        entry = registry.workload(wname, f"{wpath}.name")
        values = _table(w.get("params", {}), f"{wpath}.params", "{ max_depth = 10 }")
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
        if "name" not in m:
            raise ConfigError(f"{mpath}.name: required, the name of a registered model "
                              f"({', '.join(registry.models())})")
        mname = _name(m["name"], f"{mpath}.name", "model", registry.models())
        entry = registry.model(mname, f"{mpath}.name")
        pvalues = _table(m.get("params", {}), f"{mpath}.params", "{ heap_mb = 64 }")
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
                  raw, cell_timeout_s=limit(run, "cell_timeout_s", DEFAULT_CELL_TIMEOUT_S),
                  cell_memory_mb=limit(run, "cell_memory_mb", DEFAULT_CELL_MEMORY_MB),
                  machine_mb=float(machine_mb))


def limit(table: dict, key: str, default: float, path: str | None = None) -> float | None:
    """A cell limit: a finite number >= 0, where 0 means no limit (returned as None)."""
    value = table.get(key, default)
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or value != value
            or value < 0 or value == float("inf")):
        raise ConfigError(f"{path or 'run.' + key}: must be a number >= 0 (0: no limit), "
                          f"got {P.show(value)}")
    return float(value) or None


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
                          f"got {got(raw)}")
    return _table(raw or {}, f"{mpath}.costs", "{ copy_ns_per_byte = 0.4 }"), None


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
                          f"profile, got {got(raw)}")
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
    total = math.prod(len(c) for c in choices)
    if total > MAX_SWEEP:
        sizes = " × ".join(f"{k} {len(c)}" for k, c in zip(keys, choices) if len(c) > 1)
        raise ConfigError(f"{path}: the lists sweep {total:,} combinations ({sizes}); at most "
                          f"{MAX_SWEEP:,} per table — split the run or shorten the lists")
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
