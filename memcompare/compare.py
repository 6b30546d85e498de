"""``memcompare compare A B``: the cell-by-cell change of every metric between two results files.

Cells are matched by model, model params and costs, workload, workload params and repeat.
Figures are printed exactly (``repr``): simulated results are deterministic, and a change in
the last digit is a change. This module reads results files; it never simulates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tabulate import tabulate

from .results import flatten
from .runner import cell_key
from .tables import workload_label

#: a larger value is worse: times, pauses, stalls, footprint, and what memory management costs
WORSE_IF_HIGHER = ("wall_time_s", "cpu_time_s", "mm_cpu_fraction", "gc_cpu_fraction",
                   "pause_total_s", "pause_max_s", "pause_p50_s", "pause_p95_s", "pause_p99_s",
                   "max_stall_s", "footprint_peak_bytes", "footprint_mean_bytes", "leaked_bytes")
#: a smaller value is worse
WORSE_IF_LOWER = ("throughput_ops_per_s",)
WORSE_IF_LOWER_PREFIX = ("mmu.",)


def direction(metric: str) -> int:
    """+1 when higher is worse, -1 when lower is worse, 0 when neither is (counts, sizes)."""
    if metric in WORSE_IF_HIGHER:
        return 1
    if metric in WORSE_IF_LOWER or metric.startswith(WORSE_IF_LOWER_PREFIX):
        return -1
    return 0


def cell_id(c: dict[str, Any]) -> str:
    """The runner's identity of a cell, without the trace hash: a changed trace is a change."""
    return cell_key(c["model"], c["model_params"], c.get("model_costs", {}), c["workload"],
                    c["workload_params"], c["repeat"], None, c.get("mutator_costs"))


def cell_title(c: dict[str, Any]) -> str:
    params = ", ".join(f"{k}={v}" for k, v in c["model_params"].items())
    costs = ", ".join(f"costs.{k}={v}" for k, v in (c.get("model_costs") or {}).items())
    inner = "; ".join(p for p in (params, costs) if p)
    wl = ", ".join(f"{k}={v}" for k, v in c["workload_params"].items())
    rep = f" #{c['repeat']}" if c["repeat"] else ""
    return (f"{c['model']}{f' ({inner})' if inner else ''} on "
            f"{workload_label(c)}{f' ({wl})' if wl else ''}{rep}")


def exact(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return repr(v)
    return str(v)


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
class Comparison:
    sections: list[tuple[str, list[list[str]]]] = field(default_factory=list)
    worse: list[str] = field(default_factory=list)       # "cell: metric +12.5%"
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)


def compare(a: dict[str, Any], b: dict[str, Any], threshold_pct: float) -> Comparison:
    out = Comparison()
    cells_a = {cell_id(c): c for c in a["cells"]}
    cells_b = {cell_id(c): c for c in b["cells"]}
    for key, ca in cells_a.items():
        cb = cells_b.get(key)
        if cb is None:
            out.only_a.append(cell_title(ca))
            continue
        title = cell_title(ca)
        rows = []
        if ca["status"] != cb["status"]:
            rows.append(["status", ca["status"], cb["status"], ""])
            if ca["status"] == "ok":
                out.worse.append(f"{title}: status {ca['status']} -> {cb['status']}")
        ma: dict[str, Any] = {}
        mb: dict[str, Any] = {}
        flatten("", ca.get("metrics") or {}, ma)
        flatten("", cb.get("metrics") or {}, mb)
        for metric in list(ma) + [k for k in mb if k not in ma]:
            va, vb = ma.get(metric), mb.get(metric)
            ch = change(va, vb)
            rows.append([metric, exact(va), exact(vb),
                         "" if ch is None else ("0" if ch == 0 else f"{ch:+.4g}%")])
            d = direction(metric)
            if ch is not None and d and ch * d > threshold_pct:
                out.worse.append(f"{title}: {metric} {ch:+.4g}% ({exact(va)} -> {exact(vb)})")
        out.sections.append((title, rows))
    out.only_b = [cell_title(c) for k, c in cells_b.items() if k not in cells_a]
    return out


def render(cmp: Comparison, name_a: str, name_b: str, threshold_pct: float) -> str:
    parts = [f"# memcompare compare\n\nA = {name_a}\nB = {name_b}\n"]
    for title, rows in cmp.sections:
        changed = sum(1 for r in rows if r[3] not in ("", "0"))
        parts.append(f"## {title}\n\n{changed} metric(s) changed\n")
        parts.append(tabulate(rows, headers=["metric", "A", "B", "change"], tablefmt="github",
                              disable_numparse=True, colalign=("left", "right", "right",
                                                               "right")) + "\n")
    if cmp.only_a:
        parts.append("## Cells only in A\n\n" + "\n".join(f"- {t}" for t in cmp.only_a) + "\n")
    if cmp.only_b:
        parts.append("## Cells only in B\n\n" + "\n".join(f"- {t}" for t in cmp.only_b) + "\n")
    if cmp.worse:
        parts.append(f"## Worse by more than {threshold_pct:g}%\n\n"
                     + "\n".join(f"- {w}" for w in cmp.worse) + "\n")
    else:
        parts.append(f"No metric got worse by more than {threshold_pct:g}%.\n")
    return "\n".join(parts)
