"""Figures from a results document (docs/style.md §13): pure functions of ``results.json``.

Every figure is drawn from what the results file holds — the cells' ``metrics`` and
``timeline`` (docs/design.md §4, docs/metrics.md) — with seaborn's classic axes-level functions
on long-form pandas DataFrames, on matplotlib's Agg canvas, and saved as PNG (and SVG on request)
that are byte-identical on every re-run: a fixed DPI and fonts, a fixed SVG hash salt, no dates
or software versions in the metadata, no randomness. Each model name has one fixed colour in every figure; cells of one
model that differ in params share that colour and differ by line style and marker.

This module must not re-simulate, import the engine or the runner, or touch pyplot's global
state: figures are plain :class:`matplotlib.figure.Figure` objects on an Agg canvas, never
registered with pyplot (so a notebook's backend is left alone), and each is cleared after saving.
"""
from __future__ import annotations

import colorsys
import contextvars
import hashlib
import io
import math
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .files import atomic_write
from .tables import BASELINE, label, varying, workload_label

#: one fixed colour per known model name, in every figure (seaborn's colour-blind palette; a
#: ``-native`` runtime is a darker shade of its simulated model's hue, ``nogc`` neutral grey)
PALETTE = {
    "cpp": "#0173b2",
    "cpp-native": "#01426a",
    "go": "#029e73",
    "go-native": "#015c43",
    "jvm": "#de8f05",
    "jvm-native": "#8f5c03",
    "cpython": "#cc78bc",
    "cpython-native": "#8a3f7d",
    "nogc": "#7f7f7f",
}
#: line styles and markers that tell apart the cells of one model with different params
DASHES = ("", (5, 2), (1.5, 1.5), (6, 2, 1.5, 2), (3, 1), (8, 2, 2, 2, 2, 2))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
#: colours of pause kinds (``minor``, ``full``, ...), assigned by the kinds' sorted order
KIND_COLOURS = ("#222222", "#b2182b", "#2166ac", "#762a83", "#1b7837", "#8c510a")
LIVE_COLOUR = "#000000"
MiB = 1 << 20

#: the rcParams every figure is drawn and saved under: seaborn's whitegrid look, a font bundled
#: with matplotlib (the same glyphs on every machine), and a fixed SVG hash salt (clip-path ids)
_RC_FIXED = {
    "svg.hashsalt": "memcompare",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "savefig.dpi": 120,
    "path.simplify": False,
}
#: metadata written instead of matplotlib's defaults: no date, no software version
_META = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}


#: the file formats figures are saved in: PNG always, SVG too under ``report --svg``
_FORMATS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "memcompare_figure_formats", default=("png",))


def colour(model: str) -> str:
    """The model's colour: the fixed palette's, else a hue derived from the name's sha256."""
    if model in PALETTE:
        return PALETTE[model]
    h = int.from_bytes(hashlib.sha256(model.encode("utf-8")).digest()[:4], "big")
    r, g, b = colorsys.hls_to_rgb((h % 360) / 360.0, 0.42, 0.62)
    return "#{:02x}{:02x}{:02x}".format(*(round(v * 255) for v in (r, g, b)))


@dataclass(frozen=True)
class Figure:
    """One saved figure: ``figures/<stem>.png`` (and ``.svg`` under ``report --svg``)."""

    kind: str                   # footprint, pauses, mmu, throughput, time-space
    workload: str | None        # the workload instance's title (as tables.py names it), or None
    stem: str
    title: str
    caption: str
    notes: tuple[str, ...] = ()


@dataclass
class Plan:
    """The cells of one results document arranged for plotting: labels, styles and groups."""

    cells: list[dict[str, Any]]
    labels: dict[int, str] = field(default_factory=dict)      # id(cell) -> label
    variant: dict[int, int] = field(default_factory=dict)     # id(cell) -> index within model
    groups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)       # pause kind -> colour

    def label(self, cell: dict[str, Any]) -> str:
        return self.labels[id(cell)]

    def palette(self, cells) -> dict[str, str]:
        return {self.label(c): colour(c["model"]) for c in cells}

    def dashes(self, cells) -> dict[str, Any]:
        return {self.label(c): DASHES[self.variant[id(c)] % len(DASHES)] for c in cells}

    def markers(self, cells) -> dict[str, str]:
        return {self.label(c): MARKERS[self.variant[id(c)] % len(MARKERS)] for c in cells}


def plan(cells: list[dict[str, Any]]) -> Plan:
    """Labels as the tables print them (``jvm heap_mb=16.0``), one variant index per distinct
    label of a model (its line style and marker), and the cells grouped by workload instance
    with the titles tables.py gives them."""
    p = Plan(list(cells))
    mvary = varying(cells)
    wvary = varying(cells, "workload", "workload_params")
    seen: dict[str, list[str]] = {}
    kinds: set[str] = set()
    for c in p.cells:
        lab = label(c, mvary.get(c["model"], set()))
        p.labels[id(c)] = lab
        names = seen.setdefault(c["model"], [])
        if lab not in names:
            names.append(lab)
        p.variant[id(c)] = names.index(lab)
        p.groups.setdefault(workload_label(c, wvary.get(c["workload"])), []).append(c)
        for pause in (c.get("timeline") or {}).get("pauses") or ():
            kinds.add(str(pause[2]))
    p.kinds = {k: KIND_COLOURS[i % len(KIND_COLOURS)] for i, k in enumerate(sorted(kinds))}
    return p


def slug(text: str) -> str:
    """A file-name-safe form of a title (``binary-trees (max_depth=7)`` → ``binary-trees-max-
    depth-7``): lower-case letters, digits and single dashes, so LaTeX's graphicx is happy too."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "workload"


# -- units ------------------------------------------------------------------------------------

def _time_unit(max_ns: float) -> tuple[float, str]:
    for div, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if max_ns >= div:
            return div, unit
    return 1.0, "ns"


def _byte_unit(max_bytes: float) -> tuple[float, str]:
    for div, unit in ((1 << 30, "GiB"), (MiB, "MiB"), (1 << 10, "KiB")):
        if max_bytes >= div:
            return float(div), unit
    return 1.0, "bytes"


# -- drawing and saving -----------------------------------------------------------------------

@contextmanager
def _style() -> Iterator[None]:
    import matplotlib as mpl
    import seaborn as sns
    rc = {**sns.axes_style("whitegrid"), **sns.plotting_context("paper"), **_RC_FIXED}
    with mpl.rc_context(rc):
        yield


def _new_figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **kw):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure
    fig = MplFigure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _save(fig, out_dir: Path, stem: str, title: str) -> None:
    """Write ``stem.png`` (and ``stem.svg`` when asked) atomically, then release the figure."""
    import matplotlib as mpl
    try:
        with mpl.rc_context(_RC_FIXED):     # the DPI and SVG hash salt, even outside _style()
            for ext in _FORMATS.get():
                buf = io.BytesIO()
                fig.savefig(buf, format=ext, metadata={**_META[ext], "Title": title})
                data = buf.getvalue() if ext != "png" else _palette_png(buf.getvalue(), title)
                atomic_write(out_dir / f"{stem}.{ext}", data)
    finally:
        fig.clear()


def _palette_png(data: bytes, title: str) -> bytes:
    """The PNG re-encoded with a 256-colour palette (median cut, no dithering: deterministic):
    a line figure has few colours, and the file is about a third of the size — what keeps the
    published results/ small. Only the title goes into the metadata."""
    from PIL import Image, PngImagePlugin
    with Image.open(io.BytesIO(data)) as im:
        q = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                       dither=Image.Dither.NONE)
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", title)
    out = io.BytesIO()
    q.save(out, format="PNG", optimize=True, pnginfo=info)
    return out.getvalue()


def _short(text: str, width: int = 28) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _ok(cells) -> list[dict[str, Any]]:
    return [c for c in cells if c.get("status") == "ok" and c.get("metrics")]


#: legend labels longer than this go below the figure, where they have its whole width
LONG_LABEL = 34


def _legend_below(fig, handles, labels, title=None) -> None:
    """A legend under the figure, its long labels wrapped; the figure grows to hold it."""
    import textwrap
    ncol = 1 if max(len(str(t)) for t in labels) > 60 else 2
    wrapped = [textwrap.fill(str(t), 110 if ncol == 1 else 60, break_long_words=True)
               for t in labels]
    rows = sum(t.count("\n") + 1 for t in wrapped) / ncol
    w, h = fig.get_size_inches()
    fig.set_size_inches(w, h + 0.13 * rows + 0.3)
    fig.legend(handles, wrapped, loc="outside lower center", ncol=ncol, frameon=False,
               fontsize=6, title=title, title_fontsize=7)


def _legend_right(ax, handles=None, labels=None, title=None) -> None:
    """The legend right of the axes; below the figure, in two columns, when the labels are too
    long for the right margin (a run with many params), and the figure grows to hold it."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if labels and max(len(str(t)) for t in labels) > LONG_LABEL:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        _legend_below(ax.figure, handles, labels, title)
        return
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              fontsize=7, title=title, title_fontsize=7)


def _log_axis(axis, lo: float, hi: float) -> None:
    """A log scale labelled in plain numbers (1, 2, 5 per decade over a short range) rather
    than matplotlib's overlapping ``2×10⁻¹`` minor labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    axis.axes.set_xscale("log") if axis.axis_name == "x" else axis.axes.set_yscale("log")
    decades = math.log10(hi / lo) if lo > 0 and hi > 0 else 0.0
    subs = (1.0,) if decades >= 3 else (1.0, 2.0, 5.0)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


# -- the figures ------------------------------------------------------------------------------

def footprint_figure(p: Plan, title: str, cells, out_dir: Path, stem: str) -> Figure | None:
    """Footprint over simulated time, one panel per cell (each model runs on its own clock, so
    each panel carries the trace's live bytes on that clock as its reference), pauses as ticks."""
    import pandas as pd
    import seaborn as sns
    from matplotlib.lines import Line2D
    cells = [c for c in _ok(cells) if (c.get("timeline") or {}).get("footprint")]
    if not cells:
        return None
    rows, pauses = [], []
    max_t = max(float(c["timeline"].get("wall_ns") or 0.0) for c in cells)
    max_b = 0
    for c in cells:
        tl = c["timeline"]
        end = float(tl.get("wall_ns") or 0.0)
        for series in ("footprint", "live"):
            pts = tl.get(series) or []
            for t, b in pts:
                rows.append((p.label(c), series, float(t), float(b)))
                max_b = max(max_b, b)
            if pts and end > pts[-1][0]:        # a step holds until the end of the run
                rows.append((p.label(c), series, end, float(pts[-1][1])))
        for start, dur, kind in tl.get("pauses") or ():
            pauses.append((p.label(c), float(start), float(dur), str(kind)))
    tdiv, tunit = _time_unit(max_t)
    bdiv, bunit = _byte_unit(max_b)
    df = pd.DataFrame(rows, columns=["label", "series", "t_ns", "bytes"])
    df["time"] = df["t_ns"] / tdiv
    df["size"] = df["bytes"] / bdiv
    pdf = pd.DataFrame(pauses, columns=["label", "start_ns", "duration_ns", "kind"])
    pdf["time"] = pdf["start_ns"] / tdiv
    n = len(cells)
    # each panel its own y range: one model's hundreds of MiB (nogc) must not flatten the
    # others' few MiB to a line at zero; the unit stays the same in every panel
    fig, axes = _new_figure(8.0, 1.0 + 1.35 * n, n, 1, sharex=True, sharey=False)
    kinds_here = sorted(set(pdf["kind"]))
    for ax, c in zip(axes[:, 0], cells):
        lab = p.label(c)
        sub = df[df["label"] == lab]
        sns.lineplot(data=sub, x="time", y="size", hue="series", style="series",
                     palette={"footprint": colour(c["model"]), "live": LIVE_COLOUR},
                     dashes={"footprint": "", "live": (1.5, 1.5)}, size="series",
                     sizes={"footprint": 1.8, "live": 0.9}, drawstyle="steps-post",
                     estimator=None, sort=False, legend=False, ax=ax)
        ps = pdf[pdf["label"] == lab]
        if len(ps):
            sns.rugplot(data=ps, x="time", hue="kind", palette=p.kinds, height=0.1,
                        linewidth=0.8, legend=False, ax=ax)
        ax.set_title(lab, loc="left", fontsize=8, color=colour(c["model"]))
        if not len(ps):         # beside the title, where no line can run through it
            ax.set_title("no pauses", loc="right", fontsize=7, color="#555555")
        ax.set_ylabel(bunit)
        top = float(sub["size"].max()) if len(sub) else 0.0
        ax.set_ylim(0, max(top, 1e-9) * 1.12)
    axes[-1, 0].set_xlabel(f"simulated time ({tunit})")
    right = max_t / tdiv if max_t else 1.0
    axes[-1, 0].set_xlim(-0.01 * right, right)      # a pause at time 0 clear of the spine
    handles = [Line2D([], [], color="#999999", lw=1.8, label="footprint (in the model's colour)"),
               Line2D([], [], color=LIVE_COLOUR, lw=0.9, ls=(0, (1.5, 1.5)),
                      label="live bytes of the trace")]
    handles += [Line2D([], [], color=p.kinds[k], marker="|", ls="none", markersize=9,
                       label=f"{k} pause") for k in kinds_here]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4),
               frameon=False, fontsize=7)
    fig_title = f"Footprint over simulated time — {title}"
    fig.suptitle(fig_title, fontsize=10)
    _save(fig, out_dir, stem, fig_title)
    return Figure("footprint", title, stem, fig_title,
                  "Memory each model holds from the operating system (steps) against the live "
                  "bytes of the trace on that model's clock (dotted); ticks at the bottom mark "
                  "each pause, coloured by kind. Each panel has its own y scale.")


def pauses_figure(p: Plan, title: str, cells, out_dir: Path, stem: str) -> Figure | None:
    """ECDF of pause durations per cell on a log axis; each cell's max stall as a ▼ mark."""
    import pandas as pd
    import seaborn as sns
    from matplotlib.lines import Line2D
    from matplotlib.ticker import EngFormatter
    cells = [c for c in _ok(cells) if c.get("timeline") is not None]
    if not cells:
        return None
    rows = [(p.label(c), d / 1e9) for c in cells
            for _, d, _ in c["timeline"].get("pauses") or () if d > 0]
    df = pd.DataFrame(rows, columns=["label", "pause_s"])
    # two panels on one x axis: each cell's longest stall of any kind on its own row above, the
    # ECDF of pauses below — an ECDF is a fraction, so nothing is drawn above 1 in it
    fig, axes = _new_figure(7.5, 4.0 + 0.16 * len(cells), 2, 1, sharex=True,
                            gridspec_kw={"height_ratios": [0.6 + 0.18 * len(cells), 4.0]})
    top, ax = axes[0, 0], axes[1, 0]
    ax.set_xscale("log")
    handles, quiet, xs = [], [], list(df["pause_s"])
    for i, c in enumerate(cells):
        lab, col = p.label(c), colour(c["model"])
        dash = DASHES[p.variant[id(c)] % len(DASHES)]
        ls = "-" if dash == "" else (0, dash)
        sub = df[df["label"] == lab]
        stall = float(c["metrics"].get("max_stall_s") or 0.0)
        if len(sub):
            sns.ecdfplot(data=sub, x="pause_s", color=col, linestyle=ls, linewidth=1.3, ax=ax)
        if stall > 0:
            top.plot([stall], [i], marker="v", color=col, ls="none", markersize=6)
            xs.append(stall)
        if len(sub):
            text = f"{lab} ({len(sub)} pause{'s' if len(sub) != 1 else ''})"
        elif stall > 0:
            text = f"{lab} (no pauses; max stall only)"
        else:
            text = f"{lab} (no pauses, no stalls)"
            quiet.append(lab)
        handles.append(Line2D([], [], color=col, ls=ls if len(sub) else "none",
                              marker="v" if stall > 0 else None, markersize=5, label=text))
    handles.append(Line2D([], [], color="black", marker="v", ls="none", markersize=5,
                          label="max stall (any reclamation work)"))
    if xs:
        lo, hi = min(xs), max(xs)
        ax.set_xlim(10 ** math.floor(math.log10(lo) - 0.3), 10 ** math.ceil(math.log10(hi) + 0.3))
    else:
        ax.set_xlim(1e-6, 1e-1)
    if not len(df):
        ax.text(0.5, 0.5, "no pauses" + ("" if xs else " and no stalls") + " in any cell",
                transform=ax.transAxes, ha="center", va="center", fontsize=9, color="#555555")
    if not xs:
        top.text(0.5, 0.5, "no stalls", transform=top.transAxes, ha="center", va="center",
                 fontsize=7, color="#555555")
    top.set_ylim(len(cells) - 0.5, -0.5)
    top.set_yticks(range(len(cells)))
    # row names as short as the legend below allows: the full label is in the legend
    top.set_yticklabels([_short(p.label(c)) for c in cells], fontsize=6)
    for tick, c in zip(top.get_yticklabels(), cells):
        tick.set_color(colour(c["model"]))
    top.grid(axis="y", visible=False)
    top.set_title("longest stall of each cell (▼)", fontsize=7, loc="left")
    ax.xaxis.set_major_formatter(EngFormatter(unit="s"))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("pause duration (log scale)")
    ax.set_ylabel("fraction of pauses ≤ x")
    _legend_right(ax, handles, [h.get_label() for h in handles])
    fig_title = f"Pause-time distribution — {title}"
    fig.suptitle(fig_title, fontsize=10)
    _save(fig, out_dir, stem, fig_title)
    return Figure("pauses", title, stem, fig_title,
                  "Empirical CDF of collector pause durations per model (log axis, below); ▼ "
                  "above marks each model's longest stall of any kind (pauses, assists, "
                  "deallocation cascades, explicit frees) — the latency figure comparable "
                  "across models.",
                  (f"No pauses and no stalls: {', '.join(quiet)}",) if quiet else ())


def mmu_figure(p: Plan, title: str, cells, out_dir: Path, stem: str) -> Figure | None:
    """Minimum mutator utilisation against window width, 0.1 ms to 1 s, log x axis."""
    import pandas as pd
    import seaborn as sns
    from matplotlib.ticker import EngFormatter
    rows, notes, used = [], [], []
    for c in _ok(cells):
        curve = (c.get("timeline") or {}).get("mmu")
        if not curve:           # an older results file: the three metric windows only
            curve = [[float(k), v] for k, v in (c["metrics"].get("mmu") or {}).items()]
            if curve:
                notes.append(f"{p.label(c)}: no MMU curve in the timeline; the 1/10/100 ms "
                             f"metric values only")
        if curve:
            used.append(c)
            rows += [(p.label(c), float(w), float(u)) for w, u in curve]
    if not used:
        return None
    df = pd.DataFrame(rows, columns=["label", "window_s", "mmu"])
    fig, axes = _new_figure(7.5, 4.0)
    ax = axes[0, 0]
    # curves often coincide (nogc and any model that never stalls sit on 1.0): each cell gets
    # its own marker and dash, and the ones drawn first are wider, so a curve drawn over
    # another still shows the one beneath along its edges
    n = len(used)
    for i, c in enumerate(used):
        sub = df[df["label"] == p.label(c)].sort_values("window_s")
        dash = DASHES[i % len(DASHES)]
        sns.lineplot(data=sub, x="window_s", y="mmu", color=colour(c["model"]),
                     linestyle="-" if dash == "" else (0, dash),
                     marker=MARKERS[i % len(MARKERS)], markersize=7.0 - 3.0 * i / max(n, 1),
                     linewidth=1.0 + 2.2 * (n - 1 - i) / max(n - 1, 1), estimator=None,
                     sort=False, label=p.label(c), zorder=2 + i, ax=ax)
    ax.set_xscale("log")
    ax.set_xlim(1e-4 / 1.3, 1.3)
    ax.xaxis.set_major_formatter(EngFormatter(unit="s"))
    ax.set_ylim(-0.02, 1.04)
    ax.set_xlabel("window width (log scale)")
    ax.set_ylabel("minimum mutator utilisation")
    _legend_right(ax)
    fig_title = f"Minimum mutator utilisation — {title}"
    ax.set_title(fig_title, fontsize=10)
    _save(fig, out_dir, stem, fig_title)
    return Figure("mmu", title, stem, fig_title,
                  "For each window width, the worst fraction of any window of that width in "
                  "which the mutator made progress (1 = never stalled); stalls of every kind "
                  "count, not only pauses. Curves that coincide are told apart by marker and "
                  "line width.", tuple(notes))


def throughput_figure(p: Plan, out_dir: Path, stem: str) -> Figure | None:
    """Throughput against footprint peak, one point per ok cell, one panel per workload."""
    import pandas as pd
    import seaborn as sns
    from matplotlib.lines import Line2D
    groups = [(t, _ok(cs)) for t, cs in p.groups.items()]
    groups = [(t, cs) for t, cs in groups if cs]
    if not groups:
        return None
    ncols = min(3, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    fig, axes = _new_figure(3.3 * ncols + 2.4, 2.9 * nrows + 0.4, nrows, ncols)
    shown: list[dict[str, Any]] = []
    for k, (t, cs) in enumerate(groups):
        ax = axes[k // ncols, k % ncols]
        bdiv, bunit = _byte_unit(max(c["metrics"]["footprint_peak_bytes"] for c in cs))
        df = pd.DataFrame([(p.label(c), c["metrics"]["footprint_peak_bytes"] / bdiv,
                            c["metrics"]["throughput_ops_per_s"] / 1e6) for c in cs],
                          columns=["label", "footprint", "mops"])
        sns.scatterplot(data=df, x="footprint", y="mops", hue="label", style="label",
                        palette=p.palette(cs), markers=p.markers(cs), s=45, legend=False,
                        ax=ax)
        lo, hi = float(df["footprint"].min()), float(df["footprint"].max())
        if lo > 0:
            pad = 1.25 if hi > lo else 2.0          # keep the end points off the spines
            _log_axis(ax.xaxis, lo, hi)
            ax.set_xlim(lo / pad, hi * pad)
        ax.set_title(t, fontsize=8)
        ax.set_xlabel(f"footprint peak ({bunit}, log)")
        ax.set_ylabel("throughput (Mops/s)")
        ax.set_ylim(0, max(float(df["mops"].max()), 1e-9) * 1.1)
        for c in cs:
            if p.label(c) not in {p.label(s) for s in shown}:
                shown.append(c)
    for k in range(len(groups), nrows * ncols):
        axes[k // ncols, k % ncols].set_visible(False)
    handles = [Line2D([], [], color=colour(c["model"]), ls="none",
                      marker=MARKERS[p.variant[id(c)] % len(MARKERS)], markersize=6,
                      label=p.label(c)) for c in shown]
    if max(len(h.get_label()) for h in handles) > LONG_LABEL:
        _legend_below(fig, handles, [h.get_label() for h in handles])
    else:
        fig.legend(handles=handles, loc="outside right upper", frameon=False, fontsize=7)
    fig_title = "Throughput against footprint peak"
    fig.suptitle(fig_title, fontsize=10)
    _save(fig, out_dir, stem, fig_title)
    return Figure("throughput", None, stem, fig_title,
                  "One point per cell: trace events per simulated second against the peak "
                  "memory the model held; up and to the left is better.")


def sweep_models(cells) -> list[str]:
    """Models with at least two ok cells of different settings (params or costs) here."""
    settings: dict[str, set[str]] = {}
    for c in _ok(cells):
        key = repr((sorted((c.get("model_params") or {}).items()),
                    sorted((c.get("model_costs") or {}).items())))
        settings.setdefault(c["model"], set()).add(key)
    return [m for m, s in settings.items() if len(s) >= 2]


def _curve(cell: dict[str, Any], nvalues: dict[str, int]) -> tuple[str, str]:
    """(curve label, point label) of a cell in a time–space figure; ``nvalues`` counts the
    distinct values of each of its model's params that vary."""
    params = cell.get("model_params") or {}
    varying = set(nvalues)
    multiple = cell.get("heap_multiple")
    knob = None
    if multiple is not None:
        knob = next((k for k in params if k.startswith("heap") and k in varying), None)
    if knob is None and varying:
        knob = max(sorted(varying), key=lambda k: nvalues[k])
    rest = [f"{k}={params[k]}" for k in params if k in varying and k != knob]
    curve = " ".join([cell["model"]] + rest)
    if knob is None:
        return curve, ""
    if multiple is not None and knob.startswith("heap"):
        return f"{curve} ({knob} × minimum)", f"{multiple:g}×"
    value = params[knob]
    text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return f"{curve} ({knob})", text


def _label_points(fig, ax, df) -> list[str]:
    """Name the points of the time–space curves without overlap: each point's label tries four
    places around it and is left out where all four would cover a label or a point already
    drawn (the legend still names the curve). Points at the same place share one label with
    "(+N)"; returns what each such label stands for, for the figure's note."""
    from matplotlib.transforms import Bbox
    spots: dict[tuple, list[tuple[str, str]]] = {}
    for r in df.itertuples():
        if r.point:
            spots.setdefault((r.model, round(r.space, 6), round(r.time, 6)), []).append(
                (r.curve, r.point))
    fig.canvas.draw()                       # the layout, so that extents are final
    renderer = fig.canvas.get_renderer()
    taken = []
    for x, y in zip(df["space"], df["time"]):      # every marker is an obstacle
        px, py = ax.transData.transform((x, y))
        taken.append(Bbox.from_extents(px - 4, py - 4, px + 4, py + 4))
    # the ends of each curve first: its lowest and highest settings name its range
    ends = set()
    for cv in dict.fromkeys(df["curve"]):
        sub = df[df["curve"] == cv].sort_values("space")
        if len(sub):
            ends.add((cv, sub["point"].iloc[0]))
            ends.add((cv, sub["point"].iloc[-1]))
    order = sorted(spots.items(), key=lambda kv: (0 if any(n in ends for n in kv[1]) else 1,
                                                  kv[0][1], kv[0][2]))
    merged = []
    for (model, x, y), names in order:
        text = names[0][1] + (f" (+{len(names) - 1})" if len(names) > 1 else "")
        if len(names) > 1:
            merged.append(f"{names[0][0]} {', '.join(n for _, n in names)}")
        for dx, dy, ha, va in ((4, 3, "left", "bottom"), (4, -3, "left", "top"),
                               (-4, 3, "right", "bottom"), (-4, -3, "right", "top")):
            ann = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points",
                              fontsize=6, color=colour(model), ha=ha, va=va)
            box = ann.get_window_extent(renderer)
            inside = ax.get_window_extent(renderer)
            if not any(box.overlaps(t) for t in taken) and inside.contains(box.x0, box.y0) \
                    and inside.contains(box.x1, box.y1):
                taken.append(box)
                break
            ann.remove()
    return merged


def time_space_figure(p: Plan, title: str, cells, out_dir: Path, stem: str) -> Figure | None:
    """Wall time relative to ``cpp`` against footprint peak / live peak, one curve per model."""
    import pandas as pd
    import seaborn as sns
    ok = _ok(cells)
    if not sweep_models(cells):
        return None
    base = next((c for c in ok if c["model"] == BASELINE), None) or (ok[0] if ok else None)
    if base is None or not base["metrics"].get("wall_time_s"):
        return None
    base_wall = base["metrics"]["wall_time_s"]
    # one curve per model and setting of its other params (jvm serial and parallel are two
    # curves); along a curve, the memory knob: the heap of a heap_multiples sweep, else the
    # param with the most values. Each point is named by its knob value only.
    values: dict[str, dict[str, set[str]]] = {}
    for c in ok:
        for k, v in (c.get("model_params") or {}).items():
            values.setdefault(c["model"], {}).setdefault(k, set()).add(repr(v))
    nvalues = {model: {k: len(vs) for k, vs in ps.items() if len(vs) > 1}
               for model, ps in values.items()}
    rows = []
    for c in ok:
        m = c["metrics"]
        if not m.get("live_peak_bytes"):
            continue
        curve, point = _curve(c, nvalues.get(c["model"], {}))
        rows.append((c["model"], curve, point, m["footprint_peak_bytes"] / m["live_peak_bytes"],
                     m["wall_time_s"] / base_wall))
    if not rows:
        return None
    df = pd.DataFrame(rows, columns=["model", "curve", "point", "space", "time"])
    curves = list(dict.fromkeys(df["curve"]))
    variant: dict[str, int] = {}
    for cv in curves:
        model = df.loc[df["curve"] == cv, "model"].iloc[0]
        variant[cv] = sum(1 for other in variant if other.split(" ")[0] == model)
    fig, axes = _new_figure(7.5, 4.2)
    ax = axes[0, 0]
    lo, hi = float(df["space"].min()), float(df["space"].max())
    if lo > 0:                   # footprint ratios span 1× to tens of ×: a log axis spreads them
        _log_axis(ax.xaxis, lo, hi)
        ax.set_xlim(lo / 1.15, hi * 1.35)
    sns.lineplot(data=df, x="space", y="time", hue="curve", style="curve",
                 palette={cv: colour(cv.split(" ")[0]) for cv in curves},
                 markers={cv: MARKERS[variant[cv] % len(MARKERS)] for cv in curves},
                 dashes={cv: DASHES[variant[cv] % len(DASHES)] for cv in curves},
                 estimator=None, sort=True, linewidth=1.3, markersize=6, ax=ax)
    merged = _label_points(fig, ax, df)
    nogc = df[df["model"] == "nogc"]
    notes = []
    if len(nogc):
        floor = float(nogc["time"].min())
        ax.axhline(floor, color=colour("nogc"), lw=0.9, ls=":",
                   label="nogc: lower bound of cost")
    else:
        notes.append("No finished nogc cell: no lower bound of cost drawn")
    not_ok = [c for c in cells if c.get("status") != "ok"]
    if not_ok:
        notes.append("Not shown (did not finish): " +
                     ", ".join(f"{p.label(c)} ({c.get('status')})" for c in not_ok))
    if merged:
        notes.append("A label \"(+N)\" names one of N + 1 settings that give the same point; "
                     "here: " + "; ".join(merged))
    ax.set_xlabel("footprint peak / live peak (×, log scale)")
    base_name = p.label(base)
    ax.set_ylabel(f"wall time relative to {base_name} (×)")
    ax.set_ylim(bottom=0, top=max(float(df["time"].max()), 1e-9) * 1.12)
    _legend_right(ax)
    fig_title = f"Time–space trade-off — {title}"
    ax.set_title(fig_title, fontsize=10)
    _save(fig, out_dir, stem, fig_title)
    return Figure("time-space", title, stem, fig_title,
                  f"Each model's cells ordered by footprint: wall time relative to "
                  f"{base_name} against the memory held per byte of live data (log scale). "
                  f"Points are named by the setting that moves along the curve (the legend "
                  f"says which); a label that would cover another is left out. nogc, which "
                  f"never reclaims, is the lower bound of cost.", tuple(notes))


def missing(doc: dict[str, Any]) -> list[str]:
    """What the results file lacks that a figure needs, one line per gap (for stderr)."""
    p = plan(doc.get("cells") or [])
    gaps = []
    for title, cells in p.groups.items():
        for c in _ok(cells):
            tl = c.get("timeline")
            if not tl:
                gaps.append(f"{p.label(c)} on {title}: no timeline in the results (footprint, "
                            f"pause and MMU figures leave it out)")
            elif not tl.get("mmu"):
                gaps.append(f"{p.label(c)} on {title}: no MMU curve in the timeline (the MMU "
                            f"figure uses the 1/10/100 ms metrics)")
    return gaps


def figures(doc: dict[str, Any], out_dir: Path, svg: bool = False) -> list[Figure]:
    """Draw every figure the results document supports into ``out_dir`` as PNG (and SVG with
    ``svg``); return them in report order (per workload: footprint, pauses, MMU, time–space;
    then throughput for all)."""
    token = _FORMATS.set(("png", "svg") if svg else ("png",))
    try:
        return _figures(doc, Path(out_dir))
    finally:
        _FORMATS.reset(token)


def _figures(doc: dict[str, Any], out_dir: Path) -> list[Figure]:
    out_dir.mkdir(parents=True, exist_ok=True)
    p = plan(doc.get("cells") or [])
    made: list[Figure] = []
    used: set[str] = set()

    def unique(stem: str) -> str:
        s, k = stem, 2
        while s in used:
            s, k = f"{stem}-{k}", k + 1
        used.add(s)
        return s

    with _style():
        for title, cells in p.groups.items():
            base = slug(title)
            for kind, draw in (("footprint", footprint_figure), ("pauses", pauses_figure),
                               ("mmu", mmu_figure), ("time-space", time_space_figure)):
                f = draw(p, title, cells, out_dir, unique(f"{kind}-{base}"))
                if f is not None:
                    made.append(f)
        f = throughput_figure(p, out_dir, unique("throughput-footprint"))
        if f is not None:
            made.append(f)
    return made
