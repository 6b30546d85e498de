"""Comparison tables from results cells (tabulate), in the benchstat manner: one unit per column
header, the same figures every run, a "vs baseline" column, nothing a diff would trip on.

A pure function of the cells: it never re-simulates.
"""
from __future__ import annotations

from typing import Any

from tabulate import tabulate

MiB = 1 << 20

#: (header, function of a cell's metrics and the baseline's) in column order
COLUMNS = (
    ("throughput (Mops/s)", lambda m, b: m["throughput_ops_per_s"] / 1e6),
    ("wall (ms)", lambda m, b: m["wall_time_s"] * 1e3),
    ("wall vs base (×)", lambda m, b: m["wall_time_s"] / b["wall_time_s"]
     if b and b["wall_time_s"] else None),
    ("pause p99 (µs)", lambda m, b: m["pause_p99_s"] * 1e6),
    ("pause max (µs)", lambda m, b: m["pause_max_s"] * 1e6),
    ("max stall (µs)", lambda m, b: m["max_stall_s"] * 1e6),
    ("MMU 10ms", lambda m, b: m["mmu"]["0.01"]),
    ("footprint peak (MiB)", lambda m, b: m["footprint_peak_bytes"] / MiB),
    ("footprint mean (MiB)", lambda m, b: m["footprint_mean_bytes"] / MiB),
    ("peak / live (×)", lambda m, b: m["footprint_peak_bytes"] / m["live_peak_bytes"]
     if m["live_peak_bytes"] else None),
    ("leaked (KiB)", lambda m, b: m["leaked_bytes"] / 1024),
    ("GC count", lambda m, b: m["gc_count"]),
)
BASELINE = "cpp"


def _value(f, m, base):
    """A column's figure; None (shown as –) when a measured cell lacks a metric."""
    try:
        return f(m, base)
    except (TypeError, KeyError, ZeroDivisionError):
        return None


def fmt(v: Any) -> str:
    """Four significant figures, never scientific notation for the ranges tables show."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 0.001:
        return f"{v:.4g}" if abs(v) < 1 else f"{v:.4g}"
    return f"{v:.2e}"


def label(cell: dict[str, Any], varying: set[str]) -> str:
    """The model and the parameters that vary within the run (``go gogc=50``)."""
    parts = [cell["model"]]
    multiple = cell.get("heap_multiple")
    for k, v in cell["model_params"].items():
        if k in varying:
            if multiple is not None and isinstance(v, float) and k.startswith("heap"):
                v = f"{v:.4g} ({multiple:g}× min)"       # a time–space sweep's heap
            parts.append(f"{k}={v}")
    for k, v in (cell.get("model_costs") or {}).items():
        parts.append(f"costs.{k}={v}")
    if cell.get("repeat"):
        parts.append(f"#{cell['repeat']}")
    return " ".join(parts)


def workload_label(cell: dict[str, Any], varying: set[str] | None = None) -> str:
    """The workload and, when one workload appears with several params, those that vary."""
    params = cell["workload_params"]
    inner = ", ".join(f"{k}={v}" for k, v in params.items() if varying and k in varying)
    return f"{cell['workload']} ({inner})" if inner else cell["workload"]


def varying(cells: list[dict[str, Any]], name: str = "model",
            params: str = "model_params") -> dict[str, set[str]]:
    """Per model (or workload) name, the params whose value differs between its cells."""
    seen: dict[str, dict[str, set[str]]] = {}
    for c in cells:
        for k, v in (c.get(params) or {}).items():
            seen.setdefault(c[name], {}).setdefault(k, set()).add(repr(v))
    return {n: {k for k, vs in ps.items() if len(vs) > 1} for n, ps in seen.items()}


def tables(cells: list[dict[str, Any]], fmt_name: str = "github"
           ) -> list[tuple[str, str, str]]:
    """(title, params line, table) per workload instance, in the order the cells name them."""
    mvarying = varying(cells)
    wvarying = varying(cells, "workload", "workload_params")
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in cells:
        groups.setdefault(workload_label(c, wvarying.get(c["workload"])), []).append(c)
    out = []
    for title, group in groups.items():
        params = ", ".join(f"{k}={v}" for k, v in group[0]["workload_params"].items())
        events = next((c["trace"]["events"] for c in group if c["trace"]["events"]), None)
        if events is not None:
            params += f"; {events:,} events"
        base = next((c["metrics"] for c in group
                     if c["model"] == BASELINE and c["status"] == "ok"), None)
        if base is None:
            base = next((c["metrics"] for c in group if c["status"] == "ok"), None)
        rows = []
        for c in group:
            name = label(c, mvarying.get(c["model"], set()))
            if c["status"] != "ok":
                rows.append([name] + [f"({c['status']})"] + ["–"] * (len(COLUMNS) - 1))
                continue
            m = c["metrics"]
            rows.append([name] + [fmt(_value(f, m, base)) for _, f in COLUMNS])
        headers = ["model"] + [h for h, _ in COLUMNS]
        out.append((title, params, tabulate(rows, headers=headers, tablefmt=fmt_name,
                                            disable_numparse=True, colalign=("left",) +
                                            ("right",) * len(COLUMNS))))
    return out


def markdown(cells: list[dict[str, Any]], title: str | None = None) -> str:
    parts = [f"# {title}\n"] if title else []
    base_note = (f"Simulated, deterministic figures. \"wall vs base\" is wall time relative to "
                 f"`{BASELINE}` on the same workload (or the first model when `{BASELINE}` is "
                 f"absent). Metric definitions: docs/metrics.md.\n")
    parts.append(base_note)
    for t, params, table in tables(cells):
        parts.append(f"## {t}\n\n{params}\n\n{table}\n")
    twins = twin_tables(cells)
    if twins:
        parts.append("## Model against measurement\n")
        parts.append("Each simulated model beside its native twin under the same settings: the "
                     "same trace replayed in the real runtime (medians over replays, range in "
                     "brackets). Memory-management time is wall time less wall time with the "
                     "collector off (docs/native.md).\n")
        summary = error_summary(cells)
        if summary:
            parts.append("Error of each model against its twin (model / measured − 1) over the "
                         "workloads:\n\n" + summary + "\n")
        for t, table in twins:
            parts.append(f"### {t}\n\n{table}\n")
    failed = [c for c in cells if c["status"] not in ("ok",)]
    if failed:
        parts.append("## Cells that did not finish\n")
        for c in failed:
            parts.append(f"- {c['model']} on {workload_label(c)}: **{c['status']}** — "
                         f"{c.get('error') or ''}")
        parts.append("")
    return "\n".join(parts)


# -- model against measurement (a simulated model beside its native twin): memcompare/twins.py
from .twins import NATIVE_SUFFIX, error_summary, twin_tables  # noqa: E402  (re-exported)
