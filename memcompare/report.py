"""``memcompare report``: tables and figures from a results file, as Markdown, HTML or LaTeX.

A report is a pure function of ``results.json`` (docs/design.md §6): it never re-simulates. What a
figure needs, the results must hold. The tables are tables.py's (tabulate: GitHub Markdown,
HTML, LaTeX booktabs), the figures plots.py's, saved into ``figures/`` beside the report.

- Markdown (``report.md``) links the PNGs relatively and carries the run's provenance and the
  exact config text.
- HTML (``report.html``) is one self-contained file: inline CSS, every figure embedded as a
  base64 PNG data URI, a small inline script that sorts the tables by any column and filters
  their rows by model, no external reference of any kind.
- LaTeX (``report.tex``) is a complete document: booktabs tables and ``\\includegraphics`` of
  the PNGs.

Every format lists the cells that did not finish, with their error.
"""
from __future__ import annotations

import argparse
import base64
import html
import re
import sys
from pathlib import Path
from typing import Any

from .errors import EXIT_OK, ConfigError
from .files import atomic_write
from .results import read
from .tables import error_summary, non_default, note, tables, twin_tables

#: the sentence before the error summary of the model-against-measurement section
TWIN_NOTE = ("Each simulated model beside its native twin under the same settings (a pair whose "
             "settings differ is named, not compared). Error = model / measured − 1 over the "
             "workloads; memory-management time is wall time less wall time with the collector "
             "off (docs/native.md).")

FORMATS = {"md": "report.md", "html": "report.html", "latex": "report.tex"}
FIG_DIR = "figures"

def _note(doc: dict[str, Any]) -> str:
    """The sentences above the tables (tables.py's: simulated, or measured rows marked; the
    settings that differ from the models' defaults in every cell)."""
    cells = doc.get("cells") or []
    changed = non_default(cells)
    return note(cells) + (f" Settings that differ from the models' defaults in every cell: "
                          f"{changed}." if changed else "")


# -- what every format shows ------------------------------------------------------------------

def results_path(path: str | Path) -> Path:
    """RESULTS as given on the command line: a results.json or the directory holding one."""
    p = Path(path)
    return p / "results.json" if p.is_dir() else p


def run_name(doc: dict[str, Any]) -> str:
    return str(((doc.get("config") or {}).get("run") or {}).get("name") or "run")


def provenance(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(what, value) rows: format and version, tool version, time, environment, plugins."""
    env = doc.get("environment") or {}
    python = str(env.get("python", "?"))
    if env.get("implementation"):
        python += f" ({env['implementation']})"
    plugins = env.get("plugins") or {}
    rows = [
        ("results format", f"{doc.get('format')} version {doc.get('version')}"),
        ("memcompare", str(doc.get("memcompare_version", "?"))),
        ("created (UTC)", str(doc.get("created_utc", "?"))),
        ("Python", python),
        ("platform", str(env.get("platform", "?"))),
        ("git commit", str(env.get("git_commit") or "unknown")),
        ("plugins", ", ".join(f"{k} ({v})" for k, v in sorted(plugins.items())) or "none"),
    ]
    if env.get("argv"):
        rows.append(("command", " ".join(str(a) for a in env["argv"])))
    return rows


def config_text(doc: dict[str, Any]) -> tuple[str, str]:
    """(file name, exact text) of the run's config as the results recorded it."""
    cfg = doc.get("config") or {}
    return str(cfg.get("file") or "config.toml"), str(cfg.get("text") or "")


def not_finished(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(model and params, workload, status, error) of every cell whose status is not ok."""
    from .plots import plan
    p = plan(doc.get("cells") or [])
    titles = {id(c): t for t, cs in p.groups.items() for c in cs}
    return [(p.label(c), titles[id(c)], str(c.get("status")), str(c.get("error") or ""))
            for c in p.cells if c.get("status") != "ok"]


def _sections(doc, figs, fmt_name: str):
    """(workload title, params line, table, its figures) per workload instance, then the
    figures that belong to no one workload."""
    cells = doc.get("cells") or []
    by_workload: dict[str | None, list] = {}
    for f in figs:
        by_workload.setdefault(f.workload, []).append(f)
    out = []
    for title, params, table in tables(cells, fmt_name):
        out.append((title, params, table, by_workload.pop(title, [])))
    rest = [f for fs in by_workload.values() for f in fs]
    return out, rest


# -- Markdown ---------------------------------------------------------------------------------

def _md_escape(text: str) -> str:
    return re.sub(r"([\\`*\[\]|<>])", r"\\\1", text)


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _md_figure(f, fig_dir: str) -> str:
    notes = "".join(f"\n\n> {_md_escape(n)}" for n in f.notes)
    return (f"![{_md_escape(f.title)}]({fig_dir}/{f.stem}.png)\n\n"
            f"*{_md_escape(f.caption)}*{notes}\n")


def markdown(doc: dict[str, Any], figs, fig_dir: str = FIG_DIR) -> str:
    parts = [f"# memcompare report: {_md_escape(run_name(doc))}\n", _note(doc) + "\n",
             "## Provenance\n",
             "\n".join(f"- **{k}**: {_md_escape(v)}" for k, v in provenance(doc)) + "\n"]
    sections, rest = _sections(doc, figs, "github")
    for title, params, table, fs in sections:
        parts.append(f"## {_md_escape(title)}\n\n{_md_escape(params)}\n\n{table}\n")
        parts += [_md_figure(f, fig_dir) for f in fs]
    for f in rest:
        parts.append(f"## {_md_escape(f.title)}\n\n{_md_figure(f, fig_dir)}")
    twins = twin_tables(doc.get("cells") or [], "github")
    if twins:
        parts.append("## Model against measurement\n")
        summary = error_summary(doc.get("cells") or [], "github")
        if summary:
            parts.append(f"{TWIN_NOTE}\n\n{summary}\n")
        parts += [f"### {_md_escape(t)}\n\n{table}\n" for t, table in twins]
    failed = not_finished(doc)
    if failed:
        parts.append("## Cells that did not finish\n")
        parts += [f"- {_md_escape(m)} on {_md_escape(w)}: **{s}** — {_md_escape(e)}"
                  for m, w, s, e in failed]
        parts.append("")
    name, text = config_text(doc)
    fence = _fence(text)
    parts.append(f"## Configuration\n\n`{name}`, exactly as run:\n\n{fence}toml\n"
                 f"{text.rstrip(chr(10))}\n{fence}\n")
    return "\n".join(parts)


# -- HTML -------------------------------------------------------------------------------------

_CSS = """
body { font-family: sans-serif; max-width: 80rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.4; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.85rem; }
th, td { border-bottom: 1px solid #ccc; padding: 0.2rem 0.6rem; }
th { border-bottom: 2px solid #444; }
.wide { overflow-x: auto; }
figure { margin: 1rem 0 2rem; }
figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.9rem; color: #444; }
.note { font-size: 0.85rem; color: #8a3f00; }
pre { background: #f6f6f6; padding: 0.8rem; overflow-x: auto; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.sortable th[aria-sort="descending"]::after { content: " \\25BC"; }
#filter { position: sticky; top: 0; background: #fff; padding: 0.4rem 0;
          border-bottom: 1px solid #ccc; font-size: 0.9rem; z-index: 1; }
#filter label { margin-right: 0.8rem; white-space: nowrap; }
"""

#: the report's only script: click a column header to sort its table (numbers as numbers, "–"
#: and "(oom)" last), tick models to show their rows. With ``#check`` in the address it also
#: sorts and filters once by itself and records what it saw in ``data-check`` on <body>, so
#: that a headless browser can tell that the script works (tests/test_report_browser.py).
_SCRIPT = """
(function () {
  "use strict";
  var errors = [];
  window.addEventListener("error", function (e) { errors.push(String(e.message)); });
  function num(text) {
    var t = text.replace(/[,*\u00d7%]/g, "").trim();
    return /^[-+]?(\\d+\\.?\\d*|\\.\\d+)(e[-+]?\\d+)?$/i.test(t) ? parseFloat(t) : NaN;
  }
  function model(row) {
    return row.cells[0].textContent.trim().split(" ")[0];
  }
  function sortBy(table, col, dir) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.forEach(function (r, i) { r.dataset.pos = r.dataset.pos || String(i); });
    rows.sort(function (a, b) {
      var x = a.cells[col].textContent, y = b.cells[col].textContent;
      var nx = num(x), ny = num(y);
      if (isNaN(nx) !== isNaN(ny)) { return isNaN(nx) ? 1 : -1; }
      var c = isNaN(nx) ? x.localeCompare(y) : nx - ny;
      return (c || a.dataset.pos - b.dataset.pos) * (isNaN(nx) && isNaN(ny) ? 1 : dir);
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      if (i === col) { th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending"); }
      else { th.removeAttribute("aria-sort"); }
    });
  }
  function tables() {
    return Array.prototype.slice.call(document.querySelectorAll("table.sortable"));
  }
  tables().forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.title = "sort by " + th.textContent;
      th.addEventListener("click", function () {
        sortBy(table, col, th.getAttribute("aria-sort") === "ascending" ? -1 : 1);
      });
    });
  });
  var models = [];
  tables().forEach(function (t) {
    Array.prototype.forEach.call(t.tBodies[0].rows, function (r) {
      if (models.indexOf(model(r)) < 0) { models.push(model(r)); }
    });
  });
  var shown = {};
  function apply() {
    tables().forEach(function (t) {
      Array.prototype.forEach.call(t.tBodies[0].rows, function (r) {
        r.hidden = !shown[model(r)];
      });
    });
  }
  var bar = document.getElementById("filter");
  models.forEach(function (m) {
    shown[m] = true;
    var label = document.createElement("label");
    var box = document.createElement("input");
    box.type = "checkbox"; box.checked = true; box.value = m;
    box.addEventListener("change", function () { shown[m] = box.checked; apply(); });
    label.appendChild(box);
    label.appendChild(document.createTextNode(" " + m));
    bar.appendChild(label);
  });
  bar.hidden = models.length < 2;
  window.addEventListener("load", function () {
    if (location.hash !== "#check") { return; }
    var imgs = Array.prototype.slice.call(document.images);
    var loaded = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; });
    var sorted = 0, t = tables()[0];
    if (t) {
      var col = Array.prototype.findIndex.call(t.tHead.rows[0].cells, function (th) {
        return /^wall \\(ms\\)/.test(th.textContent.trim());
      });
      sortBy(t, col, 1);
      var v = Array.prototype.map.call(t.tBodies[0].rows, function (r) {
        return num(r.cells[col].textContent);
      }).filter(function (x) { return !isNaN(x); });
      sorted = v.every(function (x, i) { return i === 0 || v[i - 1] <= x; }) ? v.length : -1;
    }
    var box = bar.querySelector("input");
    var hidden = 0;
    if (box) {
      box.click();
      tables().forEach(function (t) {
        Array.prototype.forEach.call(t.tBodies[0].rows, function (r) {
          if (r.hidden) { hidden += model(r) === box.value ? 1 : -1000; }
        });
      });
      box.click();
    }
    document.body.setAttribute("data-check", JSON.stringify({
      images: imgs.length, loaded: loaded.length, models: models, sorted: sorted,
      hidden: hidden, errors: errors}));
  });
})();
"""


def _html_figure(f, fig_dir: Path) -> str:
    data = base64.b64encode((fig_dir / f"{f.stem}.png").read_bytes()).decode("ascii")
    notes = "".join(f'<br><span class="note">{html.escape(n)}</span>' for n in f.notes)
    return (f'<figure><img alt="{html.escape(f.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(f.caption)}{notes}</figcaption></figure>")


def html_report(doc: dict[str, Any], figs, fig_dir: Path) -> str:
    e = html.escape
    title = f"memcompare report: {run_name(doc)}"
    note = re.sub(r"`([^`]*)`", r"<code>\1</code>", e(_note(doc)))
    body = [f"<h1>{e(title)}</h1>", f"<p>{note}</p>", "<h2>Provenance</h2>", "<table>"]
    body += [f"<tr><th style=\"text-align: left;\">{e(k)}</th><td>{e(v)}</td></tr>"
             for k, v in provenance(doc)]
    body.append("</table>")
    body.insert(2, '<div id="filter" hidden>Show models: </div>')
    sections, rest = _sections(doc, figs, "html")
    for wl, params, table, fs in sections:
        table = table.replace("<table>", '<table class="sortable">', 1)
        body += [f"<h2>{e(wl)}</h2>", f"<p>{e(params)}</p>", f'<div class="wide">{table}</div>']
        body += [_html_figure(f, fig_dir) for f in fs]
    for f in rest:
        body += [f"<h2>{e(f.title)}</h2>", _html_figure(f, fig_dir)]
    twins = twin_tables(doc.get("cells") or [], "html")
    if twins:
        body.append("<h2>Model against measurement</h2>")
        summary = error_summary(doc.get("cells") or [], "html")
        if summary:
            body += [f"<p>{e(TWIN_NOTE)}</p>", f'<div class="wide">{summary}</div>']
        body += [f"<h3>{e(t)}</h3><div class=\"wide\">{table}</div>" for t, table in twins]
    failed = not_finished(doc)
    if failed:
        body.append("<h2>Cells that did not finish</h2><ul>")
        body += [f"<li>{e(m)} on {e(w)}: <strong>{e(s)}</strong> — {e(err)}</li>"
                 for m, w, s, err in failed]
        body.append("</ul>")
    name, text = config_text(doc)
    body += ["<h2>Configuration</h2>", f"<p><code>{e(name)}</code>, exactly as run:</p>",
             f'<pre class="toml">{e(text)}</pre>']
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n" +
            "\n".join(body) + f"\n<script>{_SCRIPT}</script>\n</body>\n</html>\n")


# -- LaTeX ------------------------------------------------------------------------------------

_TEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "\\": r"\textbackslash{}", "<": r"\textless{}", ">": r"\textgreater{}"}
#: characters outside ASCII that the tables and captions use, as pdflatex can set them
_TEX_UNICODE = {"µ": r"\textmu{}", "×": r"$\times$", "–": "--", "—": "---", "≥": r"$\geq$",
                "≤": r"$\leq$", "→": r"$\rightarrow$", "·": r"$\cdot$", "…": r"\ldots{}",
                "▼": r"$\blacktriangledown$", "’": "'", "‘": "`", "“": "``", "”": "''",
                "\u00a0": "~"}


def _tex_unicode(text: str) -> str:
    """Replace the non-ASCII characters pdflatex cannot set by their LaTeX spelling (Latin-1
    letters stay: T1 + utf8 set them); anything else becomes ``?``."""
    out = []
    for ch in text:
        if ch in _TEX_UNICODE:
            out.append(_TEX_UNICODE[ch])
        elif ord(ch) < 0x80 or 0xC0 <= ord(ch) <= 0xFF:
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


def tex_escape(text: str) -> str:
    s = "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)
    while "--" in s:                    # ``--out`` stays two hyphens, not an en dash
        s = s.replace("--", "-{}-")
    return _tex_unicode(s)


def _tex_figure(f, fig_dir: str) -> str:
    notes = "".join(f" {tex_escape(n)}." for n in f.notes)
    return ("\\begin{figure}[htbp]\n\\centering\n"
            f"\\includegraphics[width=\\linewidth,height=0.8\\textheight,keepaspectratio]"
            f"{{{fig_dir}/{f.stem}.png}}\n"
            f"\\caption{{{tex_escape(f.title)}. {tex_escape(f.caption)}{notes}}}\n"
            "\\end{figure}\n")


def latex(doc: dict[str, Any], figs, fig_dir: str = FIG_DIR) -> str:
    e = tex_escape
    title = f"memcompare report: {run_name(doc)}"
    parts = [
        "\\documentclass[a4paper,10pt]{article}",
        "\\usepackage[T1]{fontenc}",
        "\\usepackage[utf8]{inputenc}",
        "\\usepackage{textcomp}",
        "\\usepackage{amssymb}",
        "\\usepackage[margin=2cm]{geometry}",
        "\\usepackage{booktabs}",
        "\\usepackage{graphicx}",
        f"\\title{{{e(title)}}}",
        f"\\date{{{e(str(doc.get('created_utc', '')))}}}",
        "\\author{}",
        "\\begin{document}",
        "\\maketitle",
        e(_note(doc).replace("`", "")),
        "",
    ]
    sections, rest = _sections(doc, figs, "latex_booktabs")
    for wl, params, table, fs in sections:
        parts += [f"\\section{{{e(wl)}}}", "", e(params), "",
                  "\\begin{table}[htbp]\n\\centering\n"
                  f"\\caption{{{e(wl)}: {e(params)}}}\n"
                  "\\resizebox{\\linewidth}{!}{%\n" + _tex_unicode(table) + "\n}\n"
                  "\\end{table}\n"]
        parts += [_tex_figure(f, fig_dir) for f in fs]
        parts.append("\\clearpage")       # flush this workload's floats before the next
    for f in rest:
        parts += [f"\\section{{{e(f.title)}}}", _tex_figure(f, fig_dir), "\\clearpage"]
    twins = twin_tables(doc.get("cells") or [], "latex_booktabs")
    if twins:
        parts.append("\\section{Model against measurement}")
        summary = error_summary(doc.get("cells") or [], "latex_booktabs")
        if summary:
            parts += [e(TWIN_NOTE), _tex_unicode(summary)]
        parts += [f"\\subsection*{{{e(t)}}}\n" + _tex_unicode(table) for t, table in twins]
    failed = not_finished(doc)
    if failed:
        parts.append("\\section{Cells that did not finish}\n\\begin{itemize}")
        parts += [f"\\item {e(m)} on {e(w)}: \\textbf{{{e(s)}}} --- {e(err)}"
                  for m, w, s, err in failed]
        parts.append("\\end{itemize}")
    parts += ["\\section{Provenance}", "\\begin{tabular}{ll}", "\\toprule"]
    parts += [f"{e(k)} & {e(v)} \\\\" for k, v in provenance(doc) if k != "plugins"]
    parts += ["\\bottomrule", "\\end{tabular}", "",
              "Plugins: " + e(dict(provenance(doc))["plugins"]), ""]
    name, text = config_text(doc)
    # verbatim sets the text as it is; only characters pdflatex cannot set are replaced
    safe = "".join(ch if ord(ch) < 0x80 else "?" for ch in text).rstrip("\n")
    safe = safe.replace("\\end{verbatim}", "\\end {verbatim}")
    parts += [f"\\section{{Configuration ({e(name)})}}", "\\begin{verbatim}", safe,
              "\\end{verbatim}", "", "\\end{document}", ""]
    return "\n".join(parts)


# -- writing ----------------------------------------------------------------------------------

def write(doc: dict[str, Any], out_dir: Path, fmt: str = "md", svg: bool = False
          ) -> tuple[Path, list]:
    """Draw the figures into ``out_dir/figures`` (PNG, and SVG with ``svg``) and write the
    report; return its path and the figures."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format: must be one of {', '.join(FORMATS)}, got {fmt!r}")
    from .plots import figures
    out_dir = Path(out_dir)
    fig_dir = out_dir / FIG_DIR
    figs = figures(doc, fig_dir, svg=svg)
    if fmt == "md":
        text = markdown(doc, figs)
    elif fmt == "html":
        text = html_report(doc, figs, fig_dir)
    else:
        text = latex(doc, figs)
    path = out_dir / FORMATS[fmt]
    atomic_write(path, text)
    return path, figs


def report(results: str | Path, fmt: str = "md", out: str | Path | None = None,
           svg: bool = False) -> tuple[Path, list, list[str]]:
    """Read RESULTS (a results.json or its directory) and write the report (default: beside
    the results file). Returns the report's path, its figures, and what the results lacked
    that a figure needed."""
    from .plots import missing
    src = results_path(results)
    doc = read(src)
    out_dir = Path(out) if out is not None else src.parent
    try:
        path, figs = write(doc, out_dir, fmt, svg)
        return path, figs, missing(doc)
    except OSError as e:
        raise ConfigError(f"--out {out_dir}: cannot write the report: "
                          f"{e.strerror or e}{f' ({e.filename})' if e.filename else ''}") from None


# -- command line -----------------------------------------------------------------------------

def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``report`` subcommand to the ``memcompare`` subparsers ``sub``."""
    r = sub.add_parser(
        "report", help="tables and figures from a results file (Markdown, HTML, LaTeX)",
        description="Write a report of RESULTS — the comparison tables and figures "
                    "(footprint over time, pause distributions, MMU curves, throughput against "
                    "footprint, time–space curves for sweeps) — from the results file alone, "
                    "never re-simulating. Figures go to DIR/figures/ as PNG (and SVG with --svg); the report "
                    "to DIR/report.md, report.html (one self-contained file) or report.tex.")
    r.add_argument("results", metavar="RESULTS", help="a results.json (or its directory)")
    r.add_argument("--format", "-f", choices=tuple(FORMATS), default="md",
                   help="md (GitHub Markdown, default), html (self-contained) or latex "
                        "(booktabs)")
    r.add_argument("--out", metavar="DIR",
                   help="where to write the report and figures/ (default: the results "
                        "file's directory)")
    r.add_argument("--svg", action="store_true",
                   help="also save every figure as SVG beside its PNG")
    r.add_argument("--quiet", "-q", action="store_true", help="no messages on stderr")
    return r


def run(args) -> int:
    """Run ``memcompare report``: the report's path on stdout, notes on stderr."""
    path, figs, gaps = report(args.results, args.format, args.out,
                              svg=getattr(args, "svg", False))
    print(path)
    if not getattr(args, "quiet", False):
        for gap in gaps:
            print(f"memcompare: warning: {gap}", file=sys.stderr)
        print(f"report: {path} ({len(figs)} figure(s) in {path.parent / FIG_DIR}/)",
              file=sys.stderr)
    return EXIT_OK
