"""`memcompare compare`: matched cells, a summary first, figures in the tables' units, exit 1 on a
regression and 2 when nothing matched."""
from __future__ import annotations

import copy
import json

import pytest

from memcompare import cli, config, runner

TRACE = "alloc 0 16 1\nalloc 1 32 0\nstore 0 0 1\nclear 1\nwork 1000\nfree 0\n"
CONFIG = """\
[run]
name = "c"

[[workload]]
trace = "a.mctrace.txt"

[[model]]
name = "nogc"

[[model]]
name = "cpp"
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    d = tmp_path_factory.mktemp("cmp")
    (d / "a.mctrace.txt").write_text(TRACE)
    (d / "run.toml").write_text(CONFIG)
    runner.run(config.load(d / "run.toml"), d / "out", jobs=1)
    return d / "out" / "results.json"


def test_a_file_against_itself_has_no_change(results, capsys):
    code = cli.main(["compare", str(results), str(results.parent)])
    out = capsys.readouterr().out
    assert code == 0
    assert "No metric got worse" in out
    assert "metric(s) changed" in out and "0 metric(s) changed" in out
    # the summary comes first: two cells, nothing changed
    assert out.index("2 cell(s) compared, 0 changed, 0 worse") < out.index("## ")
    # the table's units: the nogc wall time, 1.0121e-06 s, in ms to six digits
    doc = json.loads(results.read_text())
    assert doc["cells"][0]["metrics"]["wall_time_s"] == 1.0121e-06
    assert "| wall_time (ms)       |   0.0010121 |   0.0010121 |" in out


def test_one_worse_metric_is_named_and_exits_1(results, tmp_path, capsys):
    doc = json.loads(results.read_text())
    worse = copy.deepcopy(doc)
    cpp = next(c for c in worse["cells"] if c["model"] == "cpp")
    cpp["metrics"]["footprint_peak_bytes"] = int(cpp["metrics"]["footprint_peak_bytes"] * 1.25)
    cpp["metrics"]["throughput_ops_per_s"] *= 1.5        # better: not a regression
    b = tmp_path / "b.json"
    b.write_text(json.dumps(worse))
    code = cli.main(["compare", str(results), str(b), "--threshold", "10"])
    out, err = capsys.readouterr()
    assert code == 1
    worse_section = out.split("Worse by more than 10%")[1].split("\n## ")[0]
    assert "cpp" in worse_section and "footprint_peak_bytes +25%" in worse_section
    # the summary names one worse cell before any detail
    assert "2 cell(s) compared, 1 changed, 1 worse by more than 10% (1 metric(s))" in \
        out.split("##")[0]
    assert "throughput" not in worse_section
    assert "1 metric(s) got worse" in err
    # under a threshold above the change, it passes
    assert cli.main(["compare", str(results), str(b), "--threshold", "30"]) == 0


def test_cells_in_one_file_only_are_listed(results, tmp_path, capsys):
    doc = json.loads(results.read_text())
    fewer = copy.deepcopy(doc)
    fewer["cells"] = [c for c in fewer["cells"] if c["model"] != "nogc"]
    b = tmp_path / "b.json"
    b.write_text(json.dumps(fewer))
    cli.main(["compare", str(results), str(b)])
    out = capsys.readouterr().out
    assert "## Cells only in A\n\n- nogc" in out


def test_lower_mmu_is_worse(results, tmp_path, capsys):
    doc = json.loads(results.read_text())
    worse = copy.deepcopy(doc)
    worse["cells"][1]["metrics"]["mmu"]["0.01"] *= 0.5
    b = tmp_path / "b.json"
    b.write_text(json.dumps(worse))
    assert cli.main(["compare", str(results), str(b)]) == 1
    assert "mmu.0.01 -50%" in capsys.readouterr().out


def test_not_a_results_file_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    assert cli.main(["compare", str(bad), str(bad)]) == 2
    assert "not a memcompare results file" in capsys.readouterr().err


def test_only_changed_lists_only_changed_cells_and_metrics(results, tmp_path, capsys):
    doc = json.loads(results.read_text())
    worse = copy.deepcopy(doc)
    cpp = next(c for c in worse["cells"] if c["model"] == "cpp")
    # the trace never frees its 32-byte object: cpp leaks its 48-byte chunk; twice that
    assert cpp["metrics"]["leaked_bytes"] == 48
    cpp["metrics"]["leaked_bytes"] = 96
    b = tmp_path / "b.json"
    b.write_text(json.dumps(worse))
    assert cli.main(["compare", str(results), str(b), "--only-changed"]) == 1
    out = capsys.readouterr().out
    assert "## nogc" not in out                           # unchanged cell left out
    section = out.split("## cpp on a.mctrace.txt\n")[1]
    assert "1 metric(s) changed" in section
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    assert [[x.strip() for x in r.strip("|").split("|")] for r in rows] == \
        [["leaked (MiB)", "4.57764e-05", "9.15527e-05", "+100%"]]     # 48 and 96 / 2**20


def test_no_matching_cell_exits_2_and_suggests_match(results, tmp_path, capsys):
    doc = json.loads(results.read_text())
    other = copy.deepcopy(doc)
    for c in other["cells"]:
        c["model_costs"] = {"alloc_ns": 99.0}        # a what-if: every cell differs in a cost
    b = tmp_path / "b.json"
    b.write_text(json.dumps(other))
    assert cli.main(["compare", str(results), str(b)]) == 2
    out, err = capsys.readouterr()
    assert "0 cell(s) compared" in out and "2 only in A, 2 only in B" in out
    assert "No metric got worse" not in out
    assert err.count("\n") == 1 and "--match model,workload" in err
    # matched by model and workload, the what-if compares, and the difference is named
    assert cli.main(["compare", str(results), str(b), "--match", "model,workload"]) == 0
    out = capsys.readouterr().out
    assert "2 cell(s) compared, 0 changed" in out
    assert "the cells differ in costs.alloc_ns None → 99.0" in out


def test_match_must_name_model_and_workload_and_be_unambiguous(results, tmp_path, capsys):
    assert cli.main(["compare", str(results), str(results), "--match", "model"]) == 2
    assert "must include workload" in capsys.readouterr().err
    assert cli.main(["compare", str(results), str(results), "--match", "model,wrk"]) == 2
    assert "unknown part 'wrk'" in capsys.readouterr().err
    doc = json.loads(results.read_text())
    two = copy.deepcopy(doc)
    extra = copy.deepcopy(two["cells"][0])
    extra["model_params"] = {**extra["model_params"], "alignment": 16}
    two["cells"].append(extra)
    b = tmp_path / "b.json"
    b.write_text(json.dumps(two))
    assert cli.main(["compare", str(results), str(b), "--match", "model,workload"]) == 2
    assert "B has several cells" in capsys.readouterr().err
