"""Runs end to end: configs, sweeps, error cells, resume after an interruption, the CLI."""
from __future__ import annotations

import json

import pytest

from memcompare import hookimpl
from memcompare import cli, config, runner
from memcompare.plugins import Plugins, set_plugins
from manual_model import ReclaimsAtFree, plugin_of

TRACE = """\
alloc 0 16 1
alloc 1 32 0
store 0 0 1
clear 1
work 1000
free 0
"""
LEAKY = "alloc 0 64 0\nclear 0\nwork 10\n"


class Counting(ReclaimsAtFree):
    """Counts its runs in a file (cells run in worker processes)."""

    name = "counting"
    log = None

    def run(self, trace, out):
        with open(Counting.log, "a") as f:
            f.write(trace.sha256 + "\n")
        self.n = trace.objects
        self.reclaim(trace, out)


def runs() -> list[str]:
    """The traces the counting model has replayed, one per cell it ran."""
    try:
        with open(Counting.log) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


@pytest.fixture
def registry(tmp_path):
    p = Plugins()
    p.register(plugin_of(Counting), "counting-plugin")
    set_plugins(p)
    Counting.log = tmp_path / "counting.log"
    yield p
    set_plugins(None)


class Interrupt(runner.Progress):
    """Ctrl-C in the runner after ``after`` cells have finished."""

    def __init__(self, after: int):
        self.after = after
        self.seen = 0

    def done(self, label, status, error):
        self.seen += 1
        if self.seen == self.after:
            raise KeyboardInterrupt


def write_config(tmp_path, body: str):
    (tmp_path / "a.mctrace.txt").write_text(TRACE)
    (tmp_path / "b.mctrace.txt").write_text(TRACE.replace("work 1000", "work 2000"))
    (tmp_path / "leaky.mctrace.txt").write_text(LEAKY)
    path = tmp_path / "run.toml"
    path.write_text(body)
    return path


BASIC = """\
[run]
name = "t"

[[workload]]
trace = "a.mctrace.txt"

[[workload]]
trace = "b.mctrace.txt"

[[model]]
name = "nogc"

[[model]]
name = "counting"
"""


def test_a_run_writes_results_csv_and_tables(tmp_path, registry):
    cfg = config.load(write_config(tmp_path, BASIC))
    out = runner.run(cfg, tmp_path / "out", jobs=1)
    assert out.computed == 4 and out.reused == 0
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["format"] == "memcompare-results" and doc["version"] == 1
    assert {"python", "platform", "plugins", "git_commit"} <= set(doc["environment"])
    assert [c["model"] for c in doc["cells"]] == ["nogc", "counting", "nogc", "counting"]
    assert all(c["status"] == "ok" for c in doc["cells"])
    nogc = doc["cells"][0]
    # 16+8 and 32 bytes, both freed by the trace: live peak 56; nogc holds 24+32 = 56
    assert nogc["metrics"]["live_peak_bytes"] == 56
    assert nogc["metrics"]["footprint_peak_bytes"] == 56
    csv_lines = (tmp_path / "out" / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 5 and "model.heap_mb" in csv_lines[0]
    assert "## a.mctrace.txt" in (tmp_path / "out" / "tables.md").read_text()


def test_sweeps_are_a_cartesian_product(tmp_path, registry):
    cfg = config.load(write_config(tmp_path, BASIC.replace(
        'name = "nogc"', 'name = "nogc"\nparams = { heap_mb = [1, 2], alignment = [8, 16] }')))
    nogc = [m for m in cfg.models if m.name == "nogc"]
    assert [(m.params.heap_mb, m.params.alignment) for m in nogc] == [
        (1.0, 8), (1.0, 16), (2.0, 8), (2.0, 16)]
    assert len(cfg.cells()) == 2 * (4 + 1)


def test_a_failing_cell_does_not_lose_the_others(tmp_path, registry, capsys):
    path = write_config(tmp_path, BASIC)

    class Failing(Counting):
        name = "counting"

        def run(self, trace, out):
            if 2000 in trace.a.tolist():          # only b.mctrace.txt works 2000 ns
                raise ValueError("deliberate failure")
            super().run(trace, out)

    class P:
        @hookimpl
        def register_models(self, register):
            register(Failing)

    p = Plugins()
    p.register(P(), "failing-plugin")
    set_plugins(p)
    code = cli.main(["run", str(path), "--out", str(tmp_path / "out"), "--jobs", "1", "-q"])
    assert code == 1
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    status = {(c["model"], c["workload"]): c["status"] for c in doc["cells"]}
    assert status == {("nogc", "a.mctrace.txt"): "ok", ("counting", "a.mctrace.txt"): "ok",
                      ("nogc", "b.mctrace.txt"): "ok", ("counting", "b.mctrace.txt"): "error"}
    err = next(c["error"] for c in doc["cells"] if c["status"] == "error")
    assert "'failing-plugin'" in err and "b.mctrace.txt" in err and "deliberate" in err
    assert "1 cell(s) failed" in capsys.readouterr().err


def test_an_interrupted_run_resumes_without_recomputing(tmp_path, registry):
    cfg = config.load(write_config(tmp_path, BASIC))
    with pytest.raises(KeyboardInterrupt):      # after the third cell
        runner.run(cfg, tmp_path / "out", jobs=1, progress=Interrupt(3))
    saved = json.loads((tmp_path / "out" / "results.json").read_text())["cells"]
    # cell order: nogc/a, counting/a, nogc/b, counting/b (never run)
    assert [(c["model"], c["workload"]) for c in saved] == [
        ("nogc", "a.mctrace.txt"), ("counting", "a.mctrace.txt"), ("nogc", "b.mctrace.txt")]
    assert len(runs()) == 1
    out = runner.run(cfg, tmp_path / "out", jobs=1)
    assert out.reused == 3 and out.computed == 1
    assert len(runs()) == 2                     # only counting/b ran again
    assert len(out.cells) == 4
    again = runner.run(cfg, tmp_path / "out", jobs=1)
    assert again.reused == 4 and again.computed == 0


def test_a_changed_trace_is_recomputed(tmp_path, registry):
    path = write_config(tmp_path, BASIC)
    runner.run(config.load(path), tmp_path / "out", jobs=1)
    (tmp_path / "b.mctrace.txt").write_text(TRACE.replace("work 1000", "work 3000"))
    out = runner.run(config.load(path), tmp_path / "out", jobs=1)
    assert (out.reused, out.computed) == (2, 2)


def test_cells_run_in_a_process_pool(tmp_path, registry):
    cfg = config.load(write_config(tmp_path, BASIC))
    serial = runner.run(cfg, tmp_path / "s", jobs=1).cells
    pooled = runner.run(cfg, tmp_path / "p", jobs=2).cells
    assert [c["metrics"] for c in serial] == [c["metrics"] for c in pooled]


# -- errors through the command line ---------------------------------------------------------

def run_cli(capsys, *args):
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_toml_syntax_error_names_file_line_and_column(tmp_path, capsys):
    path = write_config(tmp_path, '[run]\nname = "t"\n[[model]]\nname = nogc\n')
    code, _, err = run_cli(capsys, "run", str(path))
    assert code == 2
    assert f"{path}:4:8: TOML syntax error" in err


def test_bad_value_names_the_key_path(tmp_path, capsys):
    path = write_config(tmp_path, BASIC.replace(
        'name = "nogc"', 'name = "nogc"\nparams = { heap_mb = [1, 2, "lots"] }'))
    code, _, err = run_cli(capsys, "run", str(path))
    assert code == 2
    assert f'{path}: model[0].params.heap_mb[2]: must be a number or absent, got "lots"' in err


def test_out_of_range_value_names_the_key_path(tmp_path, capsys):
    path = write_config(tmp_path, BASIC.replace(
        'name = "nogc"', 'name = "nogc"\nparams = { alignment = 0 }'))
    code, _, err = run_cli(capsys, "run", str(path))
    assert code == 2 and "model[0].params.alignment: must be >= 1, got 0" in err


def test_unknown_names_list_the_valid_ones_and_suggest_the_nearest(tmp_path, capsys):
    path = write_config(tmp_path, BASIC.replace('name = "nogc"', 'name = "nogcc"'))
    code, _, err = run_cli(capsys, "run", str(path))
    assert code == 2
    assert "model[0].name: unknown model 'nogcc'; did you mean 'nogc'?" in err
    assert "(valid: " in err
    path = write_config(tmp_path, BASIC.replace('name = "nogc"',
                                                'name = "nogc"\nparams = { heap_mib = 1 }'))
    code, _, err = run_cli(capsys, "run", str(path))
    assert "model[0].params: unknown parameter 'heap_mib'; did you mean 'heap_mb'?" in err


def test_a_bad_trace_file_in_a_config_names_the_line(tmp_path, capsys, registry):
    path = write_config(tmp_path, BASIC)
    (tmp_path / "a.mctrace.txt").write_text("alloc 0 8 0\nload 1 0 3\n")
    code, _, err = run_cli(capsys, "run", str(path), "--out", str(tmp_path / "o"))
    assert code == 2
    assert "workload[0].trace:" in err and "a.mctrace.txt:2" in err and "event 1" in err
    assert "slot 3 out of range" in err


def test_trace_show_of_an_invalid_trace_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.mctrace.txt"
    bad.write_text("alloc 0 8 1\nclear 0\nclear 0\n")
    code, _, err = run_cli(capsys, "trace", "show", str(bad))
    assert code == 2
    assert "bad.mctrace.txt:3" in err and "event 2" in err and "empty" in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["run"])
    assert e.value.code == 2


# -- the other commands -----------------------------------------------------------------------

def test_trace_record_then_show_through_the_cli(tmp_path, capsys):
    out = tmp_path / "bt.mctrace"
    code, _, err = run_cli(capsys, "trace", "record", "binary-trees", "--param", "max_depth=5",
                           "--param", "min_depth=4", "-o", str(out))
    assert code == 0 and "sha256" in err
    direct = __import__("memcompare").record("binary-trees", max_depth=5, min_depth=4)
    code, shown, _ = run_cli(capsys, "trace", "show", str(out), "--limit", "2")
    assert code == 0
    assert f"# sha256: {direct.sha256}" in shown            # the file holds the same trace
    assert "# workload: binary-trees" in shown
    assert shown.splitlines()[-1].startswith("# ...")


def test_trace_record_rejects_a_bad_param(tmp_path, capsys):
    code, _, err = run_cli(capsys, "trace", "record", "binary-trees", "--param",
                           "max_depht=5", "-o", str(tmp_path / "x.mctrace"))
    assert code == 2 and "did you mean 'max_depth'" in err


def test_list_json_describes_every_parameter(capsys):
    code, out, _ = run_cli(capsys, "list", "--json")
    assert code == 0
    doc = json.loads(out)
    models = {m["name"]: m for m in doc["models"]}
    heap = next(p for p in models["nogc"]["params"] if p["name"] == "heap_mb")
    assert heap["default"] is None and heap["doc"]
    assert {w["name"] for w in doc["workloads"]} >= {"binary-trees", "lru-cache"}
    assert {c["name"] for c in doc["mutator_costs"]} >= {"load_ns", "store_ns"}


def test_report_and_new_plugin_through_the_cli(tmp_path, capsys):
    path = write_config(tmp_path, BASIC.replace('[[model]]\nname = "counting"\n', ""))
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out"), "-q"]) == 0
    capsys.readouterr()
    assert cli.main(["report", str(tmp_path / "out"), "--format", "html", "-q"]) == 0
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<img" in html and "http://" not in html and "https://" not in html
    assert cli.main(["new-plugin", "tinyheap", "--kind", "model",
                     "--dir", str(tmp_path / "memcompare-tinyheap")]) == 0
    assert (tmp_path / "memcompare-tinyheap" / "pyproject.toml").is_file()
    # the same name again: refused, nothing overwritten
    assert cli.main(["new-plugin", "tinyheap", "--dir", str(tmp_path / "memcompare-tinyheap")]) == 2
    assert "exists" in capsys.readouterr().err


def test_help_names_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "list", "report", "compare", "trace", "new-plugin"):
        assert f"    {command}" in out
