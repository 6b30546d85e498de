"""Comparison tables from results cells (tabulate), in the benchstat manner: one unit per column
header, the same figures every run, a "vs baseline" column, nothing a diff would trip on.

A pure function of the cells: it never re-simulates.
"""
from __future__ import annotations

from typing import Any

from tabulate import tabulate

MiB = 1 << 20

#: (key, header, function of a cell's metrics and the baseline's) for every column; one unit
#: per header, and one unit per kind of figure in a table (times in ms or µs, memory in MiB)
COLUMNS = (
    ("throughput", "Mops/s", lambda m, b: m["throughput_ops_per_s"] / 1e6),
    ("wall", "wall (ms)", lambda m, b: m["wall_time_s"] * 1e3),
    ("vs_base", "wall ×base", lambda m, b: m["wall_time_s"] / b["wall_time_s"]
     if b and b["wall_time_s"] else None),
    ("pause_p99", "p99 pause (µs)", lambda m, b: m["pause_p99_s"] * 1e6),
    ("pause_max", "max pause (µs)", lambda m, b: m["pause_max_s"] * 1e6),
    ("stall", "max stall (µs)", lambda m, b: m["max_stall_s"] * 1e6),
    ("mmu", "MMU 10ms", lambda m, b: m["mmu"]["0.01"]),
    ("footprint_peak", "footprint (MiB)", lambda m, b: m["footprint_peak_bytes"] / MiB),
    ("footprint_mean", "fp mean (MiB)", lambda m, b: m["footprint_mean_bytes"] / MiB),
    ("peak_live", "peak/live", lambda m, b: m["footprint_peak_bytes"] / m["live_peak_bytes"]
     if m["live_peak_bytes"] else None),
    ("leaked", "leaked (MiB)", lambda m, b: m["leaked_bytes"] / MiB),
    ("gc", "GCs", lambda m, b: m["gc_count"]),
)
COLUMN_KEYS = tuple(k for k, _, _ in COLUMNS)
#: the columns a terminal table keeps first when it must drop some to fit ``WIDTH``
PRIORITY = ("wall", "vs_base", "pause_p99", "stall", "mmu", "footprint_peak", "gc",
            "peak_live", "leaked", "throughput", "pause_max", "footprint_mean")
#: terminal tables fit this many characters unless ``--wide`` or ``--columns``
WIDTH = 120
BASELINE = "cpp"
#: the MMU column's window, seconds: a run shorter than it shows the whole run's utilisation
MMU_WINDOW_S = 0.01
#: marks an MMU figure whose window is longer than the run
LONG_WINDOW = "*"


def choose_columns(spec: str | None = None, wide: bool = False) -> tuple[str, ...] | None:
    """The columns ``--columns LIST`` / ``--wide`` ask for: a tuple of keys, ``COLUMN_KEYS``
    for ``--wide``, or None for the default (as many of ``PRIORITY`` as fit ``WIDTH``)."""
    from .errors import ConfigError
    if spec is not None and wide:
        raise ConfigError("--columns and --wide: give one of them")
    if wide:
        return COLUMN_KEYS
    if spec is None:
        return None
    keys = tuple(k.strip() for k in spec.split(",") if k.strip())
    if not keys:
        raise ConfigError(f"--columns: a comma list of columns ({', '.join(COLUMN_KEYS)})")
    for k in keys:
        if k not in COLUMN_KEYS:
            import difflib
            near = difflib.get_close_matches(k, COLUMN_KEYS, n=1)
            raise ConfigError(f"--columns: unknown column {k!r}"
                              f"{f'; did you mean {near[0]!r}?' if near else ''} "
                              f"(columns: {', '.join(COLUMN_KEYS)})")
    return keys


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


def measured(cell: dict[str, Any]) -> bool:
    """A native twin's cell: figures measured on this machine, not simulated."""
    return str(cell.get("model", "")).endswith(NATIVE_SUFFIX)


def label(cell: dict[str, Any], varying: set[str]) -> str:
    """The model and the parameters that vary within the run (``go gogc=50``)."""
    parts = [cell["model"] + (" (measured)" if measured(cell) else "")]
    multiple = cell.get("heap_multiple")
    for k, v in cell["model_params"].items():
        if k in varying:
            if multiple is not None and isinstance(v, float) and k.startswith("heap"):
                v = f"{v:.4g} ({multiple:g}× min)"       # a time–space sweep's heap
            parts.append(f"{k}={v}")
    profile = cell.get("costs_profile")
    if profile and cell.get("model_costs"):
        # a calibrated profile's many fitted costs: named by the profile, not listed
        parts.append(f"costs={profile.get('file') or 'profile'}")
    else:
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


def _rows(group, base, keys, mvarying):
    index = {k: (h, f) for k, h, f in COLUMNS}
    rows = []
    short = False
    for c in group:
        name = label(c, mvarying.get(c["model"], set()))
        if c["status"] != "ok":
            rows.append([name] + [f"({c['status']})"] + ["–"] * (len(keys) - 1))
            continue
        m = c["metrics"]
        row = [name]
        for k in keys:
            text = fmt(_value(index[k][1], m, base))
            wall = m.get("wall_time_s")
            if k == "mmu" and isinstance(wall, (int, float)) and wall < MMU_WINDOW_S \
                    and text != "–":
                text += LONG_WINDOW
                short = True
            row.append(text)
        rows.append(row)
    return rows, short


def _render(rows, keys, fmt_name):
    index = {k: h for k, h, _ in COLUMNS}
    return tabulate(rows, headers=["model"] + [index[k] for k in keys], tablefmt=fmt_name,
                    disable_numparse=True, colalign=("left",) + ("right",) * len(keys))


def _fit(rows_for, fmt_name: str, leaked: bool) -> tuple[str, ...]:
    """The default columns: ``PRIORITY`` order, dropping the last until the widest table fits
    ``WIDTH`` (``leaked`` only when some cell leaked)."""
    keys = [k for k in PRIORITY if leaked or k != "leaked"]
    if fmt_name in ("github", "pipe"):
        # A column's width does not depend on the other columns (tabulate pads each to its own
        # widest entry) and a line is "|" then each column's rule segment and a "|": one
        # render with every candidate column gives every subset's width.
        ordered = ("model",) + tuple(k for k in COLUMN_KEYS if k in keys)
        segments = [dict(zip(ordered, map(len, _render(rows, ordered[1:], fmt_name)
                                            .splitlines()[1].strip("|").split("|"))))
                    for rows in rows_for(ordered[1:])]
        while len(keys) > 3:
            width = max((1 + sum(seg[k] + 1 for k in ("model", *keys)) for seg in segments),
                        default=0)
            if width <= WIDTH:
                break
            keys.pop()
        return tuple(k for k in COLUMN_KEYS if k in keys)
    while len(keys) > 3:
        ordered = tuple(k for k in COLUMN_KEYS if k in keys)
        width = max((max(map(len, _render(rows, ordered, fmt_name).splitlines()))
                     for rows in rows_for(ordered)), default=0)
        if width <= WIDTH:
            break
        keys.pop()
    return tuple(k for k in COLUMN_KEYS if k in keys)


def tables(cells: list[dict[str, Any]], fmt_name: str = "github",
           columns: tuple[str, ...] | None = COLUMN_KEYS) -> list[tuple[str, str, str]]:
    """(title, params line, table) per workload instance, in the order the cells name them.

    ``columns``: the column keys to show (default: all); None fits ``WIDTH`` characters."""
    mvarying = varying(cells)
    wvarying = varying(cells, "workload", "workload_params")
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in cells:
        groups.setdefault(workload_label(c, wvarying.get(c["workload"])), []).append(c)
    bases = {}
    for title, group in groups.items():
        base = next((c["metrics"] for c in group
                     if c["model"] == BASELINE and c["status"] == "ok"), None)
        if base is None:
            base = next((c["metrics"] for c in group if c["status"] == "ok"), None)
        bases[title] = base
    if columns is None:
        leaked = any(c["status"] == "ok" and (c.get("metrics") or {}).get("leaked_bytes")
                     for c in cells)
        columns = _fit(lambda keys: [_rows(g, bases[t], keys, mvarying)[0]
                                     for t, g in groups.items()], fmt_name, leaked)
    out = []
    for title, group in groups.items():
        params = ", ".join(f"{k}={v}" for k, v in group[0]["workload_params"].items())
        events = next((c["trace"]["events"] for c in group if c["trace"]["events"]), None)
        if events is not None:
            params += f"; {events:,} events"
        rows, short = _rows(group, bases[title], columns, mvarying)
        if short:
            params += (f"; MMU 10ms{LONG_WINDOW}: the run is shorter than the 10 ms window, so "
                       f"the figure is the whole run's utilisation")
        out.append((title, params, _render(rows, columns, fmt_name)))
    return out


def note(cells: list[dict[str, Any]]) -> str:
    """The sentence above the tables: what the figures are and what "×base" means."""
    kind = ("Simulated, deterministic figures" if not any(measured(c) for c in cells) else
            "Simulated figures are deterministic; rows marked (measured) are a native twin's "
            "medians, measured on the machine that ran them")
    return (f"{kind}. \"wall ×base\" is wall time relative to `{BASELINE}` on the same "
            f"workload (or the first model when `{BASELINE}` is absent). Metric definitions: "
            f"docs/metrics.md.")


def non_default(cells: list[dict[str, Any]]) -> str:
    """``jvm young_mb=4.0; go gogc=50``: per model, the params that every one of its cells sets
    to the same value other than the registered model's default — a setting the rows' labels
    (which name only what varies) would not show. Models not registered here are left out."""
    from . import params as P
    from .plugins import plugins
    try:
        registered = plugins().models()
    except Exception:           # a report from a results file must not need the plugins
        return ""
    vary = varying(cells)
    out = []
    for model in dict.fromkeys(c["model"] for c in cells):
        entry = registered.get(model)
        if entry is None:
            continue
        defaults = P.as_dict(entry.cls.Params())
        first = next(c for c in cells if c["model"] == model)
        diffs = [f"{k}={v}" for k, v in first["model_params"].items()
                 if k not in vary.get(model, set()) and k in defaults and defaults[k] != v]
        if diffs:
            out.append(f"{model} {' '.join(diffs)}")
    return "; ".join(out)


def _wrap(text: str) -> str:
    """A paragraph as lines of at most ``WIDTH`` characters (Markdown joins them again)."""
    import textwrap
    return textwrap.fill(text, WIDTH, break_long_words=False, break_on_hyphens=False)


def markdown(cells: list[dict[str, Any]], title: str | None = None,
             columns: tuple[str, ...] | None = None) -> str:
    """The run's tables as Markdown; ``columns`` None fits them to ``WIDTH`` characters."""
    parts = [f"# {title}\n"] if title else []
    parts.append(_wrap(note(cells)) + "\n")
    changed = non_default(cells)
    if changed:
        parts.append(_wrap(f"Settings that differ from the models' defaults in every cell: "
                           f"{changed}.") + "\n")
    for t, params, table in tables(cells, columns=columns):
        parts.append(f"## {t}\n\n{_wrap(params)}\n\n{table}\n")
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
