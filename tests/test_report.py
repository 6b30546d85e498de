"""`memcompare report`: figures and reports drawn from a results file alone.

One small run is built once for the module: two text traces, models cpp, nogc (an alignment
sweep of 8 and 64 bytes, which gives a time–space curve, and a 104-byte heap that runs out) and
a test model that stops the world before every allocation, so that the pause figures have
pauses to draw.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from memcompare import config, plots, report, runner
from memcompare.errors import ConfigError
from memcompare.plugins import Plugins, set_plugins
from manual_model import ReclaimsAtFree, plugin_of
from memcompare.trace import ALLOC

TRACE = """\
alloc 0 64 1
alloc 1 32 0
store 0 0 1
clear 1
work 1000
alloc 2 4000 0
work 500
free 2
alloc 3 200000 0
work 2000
free 3
load 1 0 0
free 0
free 1
work 100
"""

CONFIG = """\
[run]
name = "report-test"

[[workload]]
trace = "a.mctrace.txt"

[[workload]]
trace = "b.mctrace.txt"

[[model]]
name = "cpp"

[[model]]
name = "nogc"
params = { alignment = [8, 64] }

[[model]]
name = "nogc"
params = { heap_mb = 0.0001 }

[[model]]
name = "stw"
"""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class StopTheWorld(ReclaimsAtFree):
    """Stops the world for (k+1) × 2 µs before its k-th allocation; every third is 'full'."""

    name = "stw"

    def run(self, trace, out):
        allocs = np.flatnonzero(trace.op == ALLOC).tolist()
        for k, i in enumerate(allocs):
            out.pause(i, 2000.0 * (k + 1), "full" if k % 3 == 2 else "minor")
        out.footprint(0, 1 << 20)
        self.reclaim(trace, out)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """The results directory of the small run."""
    d = tmp_path_factory.mktemp("run")
    (d / "a.mctrace.txt").write_text(TRACE)
    (d / "b.mctrace.txt").write_text(TRACE.replace("work 2000", "work 6000"))
    (d / "run.toml").write_text(CONFIG)
    p = Plugins()
    p.register(plugin_of(StopTheWorld), "stw-plugin")
    set_plugins(p)
    try:
        runner.run(config.load(d / "run.toml"), d / "out", jobs=1)
    finally:
        set_plugins(None)
    return d / "out"


@pytest.fixture(scope="module")
def doc(results) -> dict:
    return json.loads((results / "results.json").read_text())


@pytest.fixture(scope="module")
def md(results):
    """The Markdown report, written beside the results file (the default --out)."""
    path, figs, gaps = report.report(results)
    return path, figs


@pytest.fixture(scope="module")
def html(results, tmp_path_factory):
    """The HTML report through the command line, into another directory: (its directory, what
    the command printed). Its figures are the second run of the same figures."""
    out = tmp_path_factory.mktemp("html")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = report.run(cli_args(str(results / "results.json"), "--format", "html",
                                   "--out", str(out), "--quiet", "--svg"))
    assert code == 0
    return out, printed.getvalue()


def cli_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="memcompare")
    report.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["report", *argv])


def test_the_run_has_what_the_figures_need(doc):
    status = [(c["model"], c["workload"], c["status"]) for c in doc["cells"]]
    assert status.count(("nogc", "a.mctrace.txt", "ok")) == 2          # the alignment sweep
    assert ("nogc", "a.mctrace.txt", "oom") in status                  # 104 bytes of heap
    stw = next(c for c in doc["cells"] if c["model"] == "stw")
    assert [p[1] for p in stw["timeline"]["pauses"]] == [2000.0, 4000.0, 6000.0, 8000.0]


def test_one_set_of_figures_per_workload_and_one_throughput_figure(md):
    _, figs = md
    kinds = sorted((f.kind, f.workload) for f in figs)
    per_workload = ["footprint", "mmu", "pauses", "time-space"]
    assert kinds == sorted([(k, w) for k in per_workload
                            for w in ("a.mctrace.txt", "b.mctrace.txt")] +
                           [("throughput", None)])


def test_every_figure_is_a_valid_png_and_svg_only_with_svg(results, md, html):
    from matplotlib.image import imread
    from PIL import Image
    _, figs = md
    # PNG only by default; --svg (the html fixture) adds an SVG beside each PNG
    assert sorted(p.name for p in (results / "figures").iterdir()) == sorted(
        f"{f.stem}.png" for f in figs)
    for f in figs:
        png = results / "figures" / f"{f.stem}.png"
        assert png.read_bytes()[:8] == PNG_SIGNATURE, png
        with Image.open(png) as im:
            im.verify()
        pixels = imread(png)
        assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
        root = ET.parse(html[0] / "figures" / f"{f.stem}.svg").getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg", f.stem


def test_figures_are_byte_identical_on_a_second_run(results, md, html):
    _, figs = md
    again = html[0] / "figures"
    assert sorted(p.name for p in again.iterdir()) == sorted(
        f"{f.stem}.{ext}" for f in figs for ext in ("png", "svg"))
    for f in figs:
        first = (results / "figures" / f"{f.stem}.png").read_bytes()
        second = (again / f"{f.stem}.png").read_bytes()
        assert first == second, f"{f.stem}.png differs between two runs"
        # no date or software version in the PNG's metadata, only its title
        assert b"Software" not in first and b"Creation Time" not in first


def test_each_model_has_one_colour_in_every_figure(results, md, html):
    _, figs = md
    assert plots.colour("cpp") == plots.PALETTE["cpp"] == "#0173b2"
    assert plots.colour("stw") == plots.colour("stw") != plots.colour("zgc")
    assert re.fullmatch(r"#[0-9a-f]{6}", plots.colour("stw"))
    for f in figs:                  # cpp and stw finish on both workloads: in every figure
        svg = (html[0] / "figures" / f"{f.stem}.svg").read_text()
        assert plots.colour("cpp") in svg and plots.colour("stw") in svg, f.stem


def test_markdown_report_has_provenance_config_tables_and_figures(results, doc, md):
    path, figs = md
    assert path == results / "report.md"
    text = path.read_text()
    env = doc["environment"]
    for value in (doc["format"], doc["memcompare_version"], doc["created_utc"], env["python"],
                  env["platform"], str(env["git_commit"] or "unknown"), *env["plugins"]):
        assert value in text, value
    assert doc["config"]["text"].strip() in text
    assert "```toml\n" + doc["config"]["text"] in text
    for workload in ("a.mctrace.txt", "b.mctrace.txt"):
        assert f"## {workload}\n" in text
    # a table per workload: its header row twice, the nogc sweep's labels in the rows
    assert text.count("| model ") == 2
    assert "nogc heap_mb=None alignment=64" in text
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    assert sorted(links) == sorted(f"figures/{f.stem}.png" for f in figs)
    assert all((results / link).is_file() for link in links)
    assert "## Cells that did not finish" in text and "**oom**" in text


def test_html_report_is_one_file_with_its_images_embedded(html):
    out, printed = html
    assert printed.strip() == str(out / "report.html")
    assert sorted(p.name for p in out.iterdir()) == ["figures", "report.html"]
    text = (out / "report.html").read_text()
    for bad in ('src="http', "href=\"http", "<link", "<script src", "url("):
        assert bad not in text, bad
    # one inline script, and the results tables are the sortable ones (not provenance)
    assert text.count("<script>") == 1 and text.count('<table class="sortable">') == 2
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', text)
    assert len(srcs) == 9 and all(s.startswith("data:image/png;base64,") for s in srcs)
    first = base64.b64decode(srcs[0].split(",", 1)[1])
    assert first[:8] == PNG_SIGNATURE
    assert first in {p.read_bytes() for p in (out / "figures").glob("*.png")}
    assert "<pre" in text and 'params = { alignment = [8, 64] }' in text
    assert "<table>" in text and "created (UTC)" in text


def test_latex_report_is_a_booktabs_document(doc, md):
    _, figs = md          # the same figures as report.report(..., "latex") would draw again
    text = report.latex(doc, figs)
    assert text.startswith("\\documentclass") and text.rstrip().endswith("\\end{document}")
    assert "\\usepackage{booktabs}" in text and "\\usepackage{graphicx}" in text
    assert text.count("\\begin{tabular}") >= 2 and "\\toprule" in text
    assert "\\midrule" in text and "\\bottomrule" in text
    for f in figs:
        assert f"\\includegraphics[width=\\linewidth,height=0.8\\textheight,keepaspectratio]" \
               f"{{figures/{f.stem}.png}}" in text
    assert "µ" not in text and "×" not in text         # spelled for pdflatex
    assert "nogc heap\\_mb=None alignment=64" in text


def test_a_results_file_with_an_error_cell_lists_it(doc, tmp_path):
    # one workload only, to draw half the figures
    broken = copy.deepcopy({**doc, "cells": [c for c in doc["cells"]
                                             if c["workload"] == "b.mctrace.txt"]})
    bad = copy.deepcopy(next(c for c in broken["cells"] if c["model"] == "stw"))
    bad.update(status="error", metrics=None, timeline=None,
               error="model 'stw' (plugin 'stw-plugin') failed: ValueError: deliberate")
    broken["cells"].append(bad)
    (tmp_path / "results.json").write_text(json.dumps(broken))
    path, figs, _ = report.report(tmp_path, "latex")
    assert path == tmp_path / "report.tex"
    section = path.read_text().split("\\section{Cells that did not finish}")[1]
    assert "\\textbf{error}" in section and "ValueError: deliberate" in section
    assert "\\textbf{oom}" in section
    text = report.markdown(broken, figs)
    section = text[text.index("## Cells that did not finish"):]
    assert "stw on b.mctrace.txt: **error** — model 'stw' (plugin 'stw-plugin') failed: " \
           "ValueError: deliberate" in section
    assert "**oom**" in section
    assert "ValueError: deliberate" in report.html_report(broken, figs, tmp_path / "figures")


def test_a_time_space_figure_needs_two_finished_cells_of_one_model(doc, tmp_path):
    cells = [c for c in doc["cells"] if c["workload"] == "a.mctrace.txt"]
    assert plots.sweep_models(cells) == ["nogc"]        # alignment 8 and 64; the oom one not
    single = [c for c in cells if c["model_params"].get("alignment") != 64]
    assert plots.sweep_models(single) == []
    p = plots.plan(single)
    assert plots.time_space_figure(p, "a.mctrace.txt", single, tmp_path, "ts") is None
    assert list(tmp_path.iterdir()) == []


def test_a_missing_results_file_is_a_usage_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read") as e:
        report.run(cli_args(str(tmp_path / "nowhere")))
    assert e.value.exit_code == 2


# -- the HTML report in a real browser ---------------------------------------------------------

def _chromium():
    import shutil
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)


@pytest.mark.skipif(_chromium() is None, reason="no chromium on PATH (Debian: apt-get install "
                                                 "chromium)")
def test_html_report_in_headless_chromium(html, tmp_path):
    """The report loads in Chromium with every figure decoded, no console error, and its
    script sorting a table by wall time and hiding a model's rows (its ``#check`` mode)."""
    import subprocess
    out, _ = html
    page = (out / "report.html").resolve().as_uri()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
             "--virtual-time-budget=10000"]
    dom = subprocess.run([_chromium(), *flags, "--dump-dom", page + "#check"],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    m = re.search(r'<body data-check="([^"]*)"', dom.stdout)
    assert m, "the page script did not run to its end"
    import html as h
    check = json.loads(h.unescape(m.group(1)))
    # 9 figures (see test_html_report_is_one_file_with_its_images_embedded), all decoded
    assert check["images"] == check["loaded"] == 9
    assert check["errors"] == []
    assert check["models"] == ["cpp", "nogc", "stw"]
    # a.mctrace.txt's table: cpp, nogc ×2 and stw finished (4 wall times, ascending); nogc
    # with 104 bytes of heap is (oom) and sorts last
    assert check["sorted"] == 4
    # unticking cpp hides its row in both tables and nothing else
    assert check["hidden"] == 2
    shot = tmp_path / "report.png"
    r = subprocess.run([_chromium(), *flags, f"--screenshot={shot}", "--window-size=1280,2400",
                        page], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and shot.read_bytes()[:8] == PNG_SIGNATURE, r.stderr[-2000:]
    from PIL import Image
    with Image.open(shot) as im:
        assert im.size == (1280, 2400)
        # not a blank page: the figures and tables put many colours on it
        assert len(im.convert("RGB").getcolors(1 << 20) or []) > 50
