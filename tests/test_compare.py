"""`memcompare compare`: matched cells, exact figures, exit 1 on a regression."""
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
    # exact figures: the wall time appears as Python's repr of the float
    doc = json.loads(results.read_text())
    assert repr(doc["cells"][0]["metrics"]["wall_time_s"]) in out


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
    worse_section = out.split("Worse by more than 10%")[1]
    assert "cpp" in worse_section and "footprint_peak_bytes +25%" in worse_section
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
