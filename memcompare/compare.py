"""``memcompare compare A B``: the cell-by-cell change of every metric between two results files.

Cells are matched by model, model params and costs, workload, workload params and repeat — or
by fewer of these (``--match model,workload``), so that a what-if run that changed one cost or
parameter compares with the run it came from. The output leads with a summary (cells compared,
changed, worse), then each cell's metrics in the tables' units (ms, µs, MiB). The change is
computed from the exact figures: simulated results are deterministic, and a change in the last
digit is a change. This module reads results files; it never simulates.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from tabulate import tabulate

from .errors import ConfigError
from .results import flatten
from .tables import varying, workload_label

#: a larger value is worse: times, pauses, stalls, footprint, and what memory management costs
WORSE_IF_HIGHER = ("wall_time_s", "cpu_time_s", "mm_cpu_fraction", "gc_cpu_fraction",
                   "pause_total_s", "pause_max_s", "pause_p50_s", "pause_p95_s", "pause_p99_s",
                   "max_stall_s", "footprint_peak_bytes", "footprint_mean_bytes", "leaked_bytes")
#: a smaller value is worse
WORSE_IF_LOWER = ("throughput_ops_per_s",)
WORSE_IF_LOWER_PREFIX = ("mmu.",)

#: what identifies a cell, in ``--match`` order, and the results keys each part reads
MATCH_PARTS = {
    "model": ("model",),
    "params": ("model_params",),
    "costs": ("model_costs", "mutator_costs"),
    "workload": ("workload",),
    "workload_params": ("workload_params",),
    "repeat": ("repeat",),
}


def parse_match(spec: str) -> tuple[str, ...]:
    """``--match``: "all" or a comma list of MATCH_PARTS, which must include model and
    workload."""
    if spec.strip() == "all":
        return tuple(MATCH_PARTS)
    parts = tuple(p.strip() for p in spec.split(",") if p.strip())
    for p in parts:
        if p not in MATCH_PARTS:
            raise ConfigError(f"--match: unknown part {p!r} (parts: all, "
                              f"{', '.join(MATCH_PARTS)})")
    for need in ("model", "workload"):
        if need not in parts:
            raise ConfigError(f"--match {spec}: must include {need} (e.g. --match "
                              f"model,workload)")
    return tuple(p for p in MATCH_PARTS if p in parts)


def direction(metric: str) -> int:
    """+1 when higher is worse, -1 when lower is worse, 0 when neither is (counts, sizes)."""
    if metric in WORSE_IF_HIGHER:
        return 1
    if metric in WORSE_IF_LOWER or metric.startswith(WORSE_IF_LOWER_PREFIX):
        return -1
    return 0


def cell_id(c: dict[str, Any], match: tuple[str, ...] = tuple(MATCH_PARTS)) -> str:
    """A cell's identity for matching: the chosen parts (the trace hash is never one: a
    changed trace is a change)."""
    return json.dumps([[c.get(k) for k in MATCH_PARTS[p]] for p in match], sort_keys=True)


def unit(metric: str) -> tuple[str, str, float]:
    """(name, unit, scale) in the tables' units: times in ms, pauses and stalls in µs, memory
    in MiB, throughput in Mops/s; fractions and counts as they are (unit "")."""
    if metric == "throughput_ops_per_s":
        return "throughput", "Mops/s", 1e-6
    if metric in ("wall_time_s", "cpu_time_s"):
        return metric[:-2], "ms", 1e3
    if metric.endswith("_s"):
        return metric[:-2], "µs", 1e6
    if metric.endswith("_bytes"):
        return metric[:-6], "MiB", 1 / (1 << 20)
    if metric.startswith("mmu."):
        return f"MMU {float(metric[4:]) * 1e3:g}ms", "", 1.0
    return metric, "", 1.0


def shown(v: Any, scale: float) -> str:
    """A figure in its unit, to six significant digits (the change column is exact)."""
    if v is None:
        return "–"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int) and scale == 1.0:
        return f"{v:,}"
    x = v * scale
    return "0" if x == 0 else f"{x:.6g}"


def change(a: Any, b: Any) -> float | None:
    """Relative change from ``a`` to ``b`` in percent; None when not numeric."""
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
        return None
    if a == b:
        return 0.0
    if a == 0:
        return math.copysign(math.inf, b)
    return (b - a) / abs(a) * 100.0


@dataclass
class Section:
    title: str
    rows: list[list[str]]          # metric (unit), A, B, change
    changed: int                   # metrics that changed
    differs: str = ""              # what differs between the matched cells besides metrics


@dataclass
class Comparison:
    match: tuple[str, ...] = tuple(MATCH_PARTS)
    sections: list[Section] = field(default_factory=list)
    worse: list[str] = field(default_factory=list)       # "cell: metric +12.5%"
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)

    @property
    def matched(self) -> int:
        return len(self.sections)

    @property
    def changed(self) -> int:
        return sum(1 for s in self.sections if s.changed)


def _titles(cells: list[dict[str, Any]]):
    """A title per cell naming only what varies among ``cells`` (not every default)."""
    mv = varying(cells)
    wv = varying(cells, "workload", "workload_params")
    cv = varying(cells, "model", "model_costs")

    def title(c: dict[str, Any]) -> str:
        inner = [f"{k}={v}" for k, v in c["model_params"].items() if k in mv.get(c["model"], ())]
        inner += [f"costs.{k}={v}" for k, v in (c.get("model_costs") or {}).items()
                  if k in cv.get(c["model"], ())]
        rep = f" #{c['repeat']}" if c.get("repeat") else ""
        params = f" ({', '.join(inner)})" if inner else ""
        return (f"{c['model']}{params} on "
                f"{workload_label(c, wv.get(c['workload']))}{rep}")
    return title


def _differs(ca: dict[str, Any], cb: dict[str, Any], match: tuple[str, ...]) -> str:
    """What the matched cells differ in besides their metrics (parts --match left out)."""
    out = []
    for part, keys in MATCH_PARTS.items():
        if part in match:
            continue
        for k in keys:
            va, vb = ca.get(k) or {}, cb.get(k) or {}
            if isinstance(va, dict) and isinstance(vb, dict):
                for name in list(va) + [n for n in vb if n not in va]:
                    if va.get(name) != vb.get(name):
                        out.append(f"{k.replace('model_', '')}.{name} {va.get(name)} → "
                                   f"{vb.get(name)}")
            elif va != vb:
                out.append(f"{k} {va} → {vb}")
    return "; ".join(out)


def compare(a: dict[str, Any], b: dict[str, Any], threshold_pct: float,
            match: tuple[str, ...] = tuple(MATCH_PARTS)) -> Comparison:
    out = Comparison(match=match)
    title = _titles(list(a["cells"]) + list(b["cells"]))
    index = []
    for name, doc in (("A", a), ("B", b)):
        cells: dict[str, dict[str, Any]] = {}
        for c in doc["cells"]:
            key = cell_id(c, match)
            if key in cells:
                raise ConfigError(f"--match {','.join(match)}: {name} has several cells "
                                  f"{title(c)!r} and {title(cells[key])!r} that match alike; "
                                  f"add the part they differ in (params, costs, "
                                  f"workload_params, repeat)")
            cells[key] = c
        index.append(cells)
    cells_a, cells_b = index
    for key, ca in cells_a.items():
        cb = cells_b.get(key)
        if cb is None:
            out.only_a.append(title(ca))
            continue
        t = title(ca)
        rows = []
        changed = 0
        if ca["status"] != cb["status"]:
            rows.append(["status", ca["status"], cb["status"], "changed"])
            changed += 1
            if ca["status"] == "ok":
                out.worse.append(f"{t}: status {ca['status']} -> {cb['status']}")
        ma: dict[str, Any] = {}
        mb: dict[str, Any] = {}
        flatten("", ca.get("metrics") or {}, ma)
        flatten("", cb.get("metrics") or {}, mb)
        for metric in list(ma) + [k for k in mb if k not in ma]:
            va, vb = ma.get(metric), mb.get(metric)
            ch = change(va, vb)
            name, u, scale = unit(metric)
            if ch is None:
                text = "" if va == vb else "changed"
            else:
                text = "0" if ch == 0 else f"{ch:+.4g}%"
            if text not in ("", "0"):
                changed += 1
            rows.append([f"{name} ({u})" if u else name, shown(va, scale), shown(vb, scale),
                         text])
            d = direction(metric)
            if ch is not None and d and ch * d > threshold_pct:
                out.worse.append(f"{t}: {metric} {ch:+.4g}% ({shown(va, scale)} -> "
                                 f"{shown(vb, scale)}{f' {u}' if u else ''})")
        out.sections.append(Section(t, rows, changed, _differs(ca, cb, match)))
    out.only_b = [title(c) for k, c in cells_b.items() if k not in cells_a]
    return out


def summary(cmp: Comparison, threshold_pct: float) -> str:
    worse_cells = len({w.split(": ", 1)[0] for w in cmp.worse})
    line = (f"{cmp.matched} cell(s) compared, {cmp.changed} changed, {worse_cells} worse by "
            f"more than {threshold_pct:g}% ({len(cmp.worse)} metric(s))")
    if cmp.only_a or cmp.only_b:
        line += f"; {len(cmp.only_a)} only in A, {len(cmp.only_b)} only in B"
    return line + f"; cells matched by {', '.join(cmp.match)}."


def render(cmp: Comparison, name_a: str, name_b: str, threshold_pct: float,
           only_changed: bool = False) -> str:
    parts = [f"# memcompare compare\n\nA = {name_a}\nB = {name_b}\n",
             summary(cmp, threshold_pct) + "\n"]
    if cmp.worse:
        parts.append(f"## Worse by more than {threshold_pct:g}%\n\n"
                     + "\n".join(f"- {w}" for w in cmp.worse) + "\n")
    elif cmp.matched:
        parts.append(f"No metric got worse by more than {threshold_pct:g}%.\n")
    for s in cmp.sections:
        if only_changed and not s.changed:
            continue
        rows = [r for r in s.rows if r[3] not in ("", "0")] if only_changed else s.rows
        head = f"## {s.title}\n\n{s.changed} metric(s) changed"
        if s.differs:
            head += f"; the cells differ in {s.differs}"
        parts.append(head + "\n")
        if rows:
            parts.append(tabulate(rows, headers=["metric", "A", "B", "change"],
                                  tablefmt="github", disable_numparse=True,
                                  colalign=("left", "right", "right", "right")) + "\n")
    if cmp.only_a:
        parts.append("## Cells only in A\n\n" + "\n".join(f"- {t}" for t in cmp.only_a) + "\n")
    if cmp.only_b:
        parts.append("## Cells only in B\n\n" + "\n".join(f"- {t}" for t in cmp.only_b) + "\n")
    return "\n".join(parts)
