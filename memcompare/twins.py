"""Model against measurement: a simulated model beside its native twin (docs/native.md).

A pair is compared only when it is the same program under the same settings (docs/style.md §19): the
native cell records the settings its runtime actually ran with (``stats.twin.settings``, keyed
by the simulated model's parameter names), and a simulated cell of the twin model on the same
workload is its pair when every one of those settings is equal — an explicit parameter, or the
value the model resolved itself (``stats[name]``, e.g. the thresholds of a CPython version).
A twin with no such cell gets a table that names each difference instead of figures.

Memory-management time: measured, the twin's wall time less its wall time with the collector
off (``stats.mm_time_s``); modelled, the paired cell's wall time less that of the cell of the
same model with the twin's ``off_params`` (e.g. ``gogc = "off"``), when the run has one.

A pure function of the cells, like the other tables: it never re-simulates.
"""
from __future__ import annotations

import statistics
from typing import Any

from tabulate import tabulate

MiB = 1 << 20
NATIVE_SUFFIX = "-native"

#: (row, key, scale): a metric key, or "stats.KEY" for a figure the native cell keeps in stats
#: (the model's figure for ``footprint_growth_bytes`` is its peak: a model holds nothing before
#: the trace starts; ``mm_time_s`` is computed from the off cell)
ROWS = (
    ("GC count", "gc_count", 1),
    ("memory-management time (ms)", "mm_time_s", 1e3),
    ("wall (ms)", "wall_time_s", 1e3),
    ("pause p50 (µs)", "pause_p50_s", 1e6),
    ("pause max (µs)", "pause_max_s", 1e6),
    ("footprint growth (MiB)", "footprint_growth_bytes", 1 / MiB),
    ("allocated (MiB)", "allocated_bytes", 1 / MiB),
)
#: the figures of the error summary, in ROWS' keys
ERROR_KEYS = ("gc_count", "mm_time_s", "wall_time_s", "pause_p50_s", "pause_max_s",
              "footprint_growth_bytes")


def _fmt(v: Any) -> str:
    from .tables import fmt
    return fmt(v)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def _model_setting(sim: dict[str, Any], key: str) -> tuple[bool, Any]:
    """(known, value) of one setting of a simulated cell: its parameter, or the value the model
    resolved when the parameter is absent (null)."""
    params = sim.get("model_params") or {}
    if key in params and params[key] is not None:
        return True, params[key]
    stats = sim.get("stats") or {}
    if key in stats:
        return True, stats[key]
    if key in params:
        return True, None
    return False, None


def mismatches(sim: dict[str, Any], settings: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(setting, model's value, measured value) for each setting the pair does not share."""
    out = []
    for key, measured in settings.items():
        known, value = _model_setting(sim, key)
        if not known:
            out.append((key, "(no such parameter)", measured))
        elif not _same(value, measured):
            out.append((key, value, measured))
    return out


def _show(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    return "absent" if v is None else str(v)


def pairs(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every native cell that finished with its twin's cells on the same workload:
    ``{"workload", "native", "twin", "sim" (the matched cell or None), "off" (the matched
    cell's collector-off sibling or None), "candidates", "mismatches"}``."""
    from .tables import varying, workload_label
    wvarying = varying(cells, "workload", "workload_params")
    ok = [c for c in cells if c.get("status") == "ok" and c.get("repeat", 0) == 0]
    by_wl: dict[str, list[dict[str, Any]]] = {}
    for c in ok:
        by_wl.setdefault(workload_label(c, wvarying.get(c["workload"])), []).append(c)
    out = []
    for wl, group in by_wl.items():
        for native in group:
            stats = native.get("stats") or {}
            if not native["model"].endswith(NATIVE_SUFFIX) or "metrics" not in native:
                continue
            info = stats.get("twin") or {}
            twin = info.get("model") or native["model"][:-len(NATIVE_SUFFIX)]
            settings = info.get("settings") or {}
            off_params = info.get("off_params") or {}
            candidates = [c for c in group if c["model"] == twin]
            if not candidates:
                continue
            matched, diff = [], None
            for c in candidates:
                m = mismatches(c, settings)
                if not m:
                    matched.append(c)
                elif diff is None or len(m) < len(diff):
                    diff = m
            if not matched:
                out.append({"workload": wl, "native": native, "twin": twin, "sim": None,
                            "off": None, "off_params": off_params, "mismatches": diff or [],
                            "costs": None})
            # one pair per cost table the model ran with (default, a calibrated profile, ...)
            for sim in matched:
                off = None
                if off_params:
                    want = {**sim["model_params"], **off_params}
                    off = next((c for c in candidates if _same_costs(c, sim) and all(
                        _same(c["model_params"].get(k), v) for k, v in want.items())), None)
                out.append({"workload": wl, "native": native, "twin": twin, "sim": sim,
                            "off": off, "off_params": off_params, "mismatches": [],
                            "costs": costs_label(sim)})
    return out


def _same_costs(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a.get("model_costs") or {}) == (b.get("model_costs") or {}) and \
        a.get("mutator_costs") == b.get("mutator_costs")


def costs_label(cell: dict[str, Any]) -> str:
    """Which cost tables a simulated cell ran with, in a few words: "default" (the documented
    defaults and the shared mutator table), "calibrated (p.toml)" (a profile's costs and its
    replayer's mutator table), or what else was changed."""
    prof = cell.get("costs_profile")
    own_mutator = cell.get("mutator_costs") is not None
    if prof:
        return (f"calibrated ({prof.get('file')})" if own_mutator
                else f"calibrated costs, shared mutator ({prof.get('file')})")
    if cell.get("model_costs"):
        return "costs overridden" + (", own mutator" if own_mutator else "")
    return "default costs, own mutator" if own_mutator else "default"


def figures(pair: dict[str, Any]) -> dict[str, tuple[Any, Any, list | None]]:
    """key -> (modelled, measured, measured range) for one matched pair."""
    sim, native, off = pair["sim"], pair["native"], pair["off"]
    stats = native.get("stats") or {}
    ranges = stats.get("ranges") or {}
    out = {}
    for _, key, _ in ROWS:
        if key == "footprint_growth_bytes":
            a, b = sim["metrics"].get("footprint_peak_bytes"), stats.get(key)
        elif key == "mm_time_s":
            a = (sim["metrics"]["wall_time_s"] - off["metrics"]["wall_time_s"]
                 if off is not None else None)
            b = stats.get(key)
        else:
            a, b = sim["metrics"].get(key), native["metrics"].get(key)
        out[key] = (a, b, ranges.get(key))
    return out


def twin_tables(cells: list[dict[str, Any]], fmt_name: str = "github"
                ) -> list[tuple[str, str]]:
    """(title, table) per native cell with a twin on its workload: modelled, measured (median
    [range]) and model / measured; or, when no twin cell ran under the same settings, the
    settings that differ."""
    out = []
    for p in pairs(cells):
        native, twin = p["native"], p["twin"]
        stats = native.get("stats") or {}
        runtime = stats.get("runtime") or "?"
        measure = stats.get("measure") or "warm"
        title = (f"{twin} against {native['model']} on {p['workload']} ({runtime}, "
                 f"{measure} replays{'; ' + p['costs'] if p['costs'] else ''})")
        if p["sim"] is None:
            rows = [[k, _show(a), _show(b), "not compared"] for k, a, b in p["mismatches"]]
            table = tabulate(rows, headers=["setting", f"{twin} (model)",
                                            f"{native['model']} (ran with)", ""],
                             tablefmt=fmt_name, disable_numparse=True)
            out.append((title + " — settings differ, not compared", table))
            continue
        rows = []
        figs = figures(p)
        for row, key, scale in ROWS:
            a, b, rng = figs[key]
            measured = _fmt(None if b is None else b * scale)
            if rng and b is not None:
                measured += f" [{_fmt(rng[0] * scale)}–{_fmt(rng[1] * scale)}]"
            if key == "mm_time_s" and a is None and p["off_params"]:
                shown = "needs " + ", ".join(f"{k} = {_show(v)}"
                                             for k, v in p["off_params"].items())
            else:
                shown = _fmt(None if a is None else a * scale)
            ratio = a / b if (a is not None and b) else None
            rows.append([row, shown, measured, _fmt(ratio)])
        table = tabulate(rows, headers=["", f"{twin} (model)", f"{native['model']} "
                                        f"(median [range])", "model/measured"],
                         tablefmt=fmt_name, disable_numparse=True,
                         colalign=("left", "right", "right", "right"))
        out.append((title, table))
    return out


def _comparable(p: dict[str, Any], key: str, a: Any, b: Any, rng: list | None) -> bool:
    """Whether a figure of a pair says something about the model: both present; not both zero
    (except a collection count, where 0 = 0 is a check); a memory-management time the
    measurement resolves (its range excludes 0); a footprint growth of a cold replay (a warm
    process already holds what its earlier replays grew)."""
    if a is None or b is None:
        return False
    if key != "gc_count" and a == 0 and b == 0:
        return False
    if key == "mm_time_s" and rng and rng[0] <= 0 <= rng[1]:
        return False
    if key == "footprint_growth_bytes" and (p["native"].get("stats") or {}).get(
            "measure", "warm") == "warm":
        return False
    return True


def error_summary(cells: list[dict[str, Any]], fmt_name: str = "github") -> str | None:
    """One row per (model, cost table, figure): the relative error model / measured − 1 over
    the workloads where the figure is comparable (:func:`_comparable`), median and worst
    (largest in magnitude), and on how many of them it is within 25 %. None when no pair
    matched."""
    errors: dict[tuple[str, str, str], list[tuple[float, str]]] = {}
    for p in pairs(cells):
        if p["sim"] is None:
            continue
        for key, (a, b, rng) in figures(p).items():
            if key not in ERROR_KEYS or not _comparable(p, key, a, b, rng):
                continue
            k = (p["twin"], p["costs"], key)
            errors.setdefault(k, []).append((a / b - 1 if b else 0.0, p["workload"]))
    if not errors:
        return None
    names = {key: row for row, key, _ in ROWS}
    rows = []
    for (model, costs, key), errs in sorted(errors.items(), key=lambda kv: (
            kv[0][0], kv[0][1], ERROR_KEYS.index(kv[0][2]))):
        med = statistics.median(e for e, _ in errs)
        worst, where = max(errs, key=lambda x: abs(x[0]))
        close = sum(1 for e, _ in errs if abs(e) <= 0.25)
        rows.append([model, costs, names[key].split(" (")[0], f"{med:+.0%}",
                     f"{worst:+.0%} ({where})", f"{close} of {len(errs)}"])
    return tabulate(rows, headers=["model", "costs", "figure", "median", "worst (workload)",
                                   "within 25 %"], tablefmt=fmt_name, disable_numparse=True,
                    colalign=("left", "left", "left", "right", "right", "right"))
