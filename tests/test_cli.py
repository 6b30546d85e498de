"""The command line for iterating (docs/configuration.md): --set, --model/--workload, --dry-run,
`show`, table columns, MEMCOMPARE_CHECK, a run that changes nothing rewrites nothing, and one
line with exit 2 — never a traceback — for a user's mistake."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from memcompare import cli

TRACE = "alloc 0 16 1\nalloc 1 32 0\nstore 0 0 1\nwork 1000\nstore 0 0 -\nfree 1\nfree 0\n"
CONFIG = """\
[run]
name = "t"

[[workload]]
trace = "a.mctrace.txt"

[[workload]]
name = "binary-trees"
params = { max_depth = 4 }

[[model]]
name = "nogc"

[[model]]
name = "cpp"
"""


@pytest.fixture
def cfg(tmp_path):
    (tmp_path / "a.mctrace.txt").write_text(TRACE)
    path = tmp_path / "run.toml"
    path.write_text(CONFIG)
    return path


def run_cli(capsys, *args):
    code = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def cells(out_dir):
    return json.loads((out_dir / "results.json").read_text())["cells"]


# -- --set ------------------------------------------------------------------------------------

def test_set_overrides_values_typed_as_toml(cfg, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "run", cfg, "--out", out, "-q", "-j", "1",
                           "--set", "model.nogc.alignment=16", "--set", "run.repeats=2",
                           "--set", "workload.binary-trees.max_depth=5")
    assert code == 0, err
    got = cells(out)
    # 2 workloads × 2 models × 2 repeats
    assert len(got) == 8
    assert {c["model_params"]["alignment"] for c in got if c["model"] == "nogc"} == {16}
    assert {c["workload_params"]["max_depth"] for c in got
            if c["workload"] == "binary-trees"} == {5}
    doc = json.loads((out / "results.json").read_text())
    assert doc["config"]["set"] == ["model.nogc.alignment=16", "run.repeats=2",
                                    "workload.binary-trees.max_depth=5"]


def test_set_errors_name_the_key_path_and_the_option(cfg, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "run", cfg, "--out", out, "--set", "model.nogc.alignment=x")
    assert code == 2
    assert err == (f"memcompare: error: {cfg}: model[0].params.alignment: must be an integer, "
                   f"got \"x\" (from --set model.nogc.alignment=x)\n")
    code, _, err = run_cli(capsys, "run", cfg, "--out", out, "--set", "run.repeats=0")
    assert code == 2 and "run.repeats: must be an integer >= 1" in err
    assert "(from --set run.repeats=0)" in err
    code, _, err = run_cli(capsys, "run", cfg, "--out", out, "--set", "model.go.gogc=50")
    assert code == 2
    assert "no [[model]] named 'go' (it has: cpp, nogc)" in err
    code, _, err = run_cli(capsys, "run", cfg, "--out", out, "--set", "heap_mb")
    assert code == 2 and "write KEY.PATH=VALUE" in err
    code, _, err = run_cli(capsys, "run", cfg, "--out", out, "--set", "nogc.heap_mb=3")
    assert code == 2 and "'nogc.heap_mb' is not a key path" in err
    assert not out.exists()


# -- --model / --workload ---------------------------------------------------------------------

def test_a_subset_runs_only_its_cells_and_keeps_the_others(cfg, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli(capsys, "run", cfg, "--out", out, "-q", "-j", "1")[0] == 0
    code, stdout, _ = run_cli(capsys, "run", cfg, "--out", out, "-j", "1", "--model", "nogc",
                              "--workload", "binary-trees", "--set", "model.nogc.alignment=16")
    assert code == 0
    # the printed table is the subset's; results.json keeps the three other cells
    assert "## binary-trees" in stdout and "## a.mctrace.txt" not in stdout
    got = [(c["model"], c["workload"], c["model_params"].get("alignment")) for c in cells(out)]
    assert sorted(got, key=str) == sorted([
        ("nogc", "binary-trees", 16), ("nogc", "a.mctrace.txt", 8),
        ("cpp", "a.mctrace.txt", None), ("cpp", "binary-trees", None)], key=str)
    code, _, err = run_cli(capsys, "run", cfg, "--out", out, "--model", "jvm")
    assert code == 2 and "--model jvm: the config has no model 'jvm' (it has: nogc, cpp)" in err


# -- --dry-run --------------------------------------------------------------------------------

def test_dry_run_lists_cells_sizes_and_what_is_finished(cfg, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, _ = run_cli(capsys, "run", cfg, "--out", out, "--dry-run")
    assert code == 0 and not out.exists()             # nothing written
    assert stdout.startswith(f"t: 4 cell(s), 0 finished in {out}, 4 to run\n")
    # the text trace: 7 events, 2 objects
    row = next(line for line in stdout.splitlines() if line.startswith("cpp ")
               and "a.mctrace.txt" in line)
    assert row.split()[-5:] == ["7", "2", "0", "to", "run"]
    assert "binary-trees max_depth=4" in stdout
    run_cli(capsys, "run", cfg, "--out", out, "-q", "-j", "1", "-m", "cpp")
    code, stdout, _ = run_cli(capsys, "run", cfg, "--out", out, "-n")
    assert stdout.startswith(f"t: 4 cell(s), 2 finished in {out}, 2 to run\n")
    assert sum(line.startswith("cpp ") and line.endswith("finished")
               for line in stdout.splitlines()) == 2


# -- show ------------------------------------------------------------------------------------

def test_show_prints_tables_csv_and_json_filtered(cfg, tmp_path, capsys):
    out = tmp_path / "out"
    code, printed, _ = run_cli(capsys, "run", cfg, "--out", out, "-q", "-j", "1")
    code, md, _ = run_cli(capsys, "show", out)
    assert code == 0 and md == printed             # the run's own tables, again
    code, md, _ = run_cli(capsys, "show", out / "results.json", "-m", "cpp", "-w",
                          "a.mctrace.txt")
    assert "| cpp " in md and "| nogc " not in md and "## binary-trees" not in md
    code, csv, _ = run_cli(capsys, "show", out, "--format", "csv", "--model", "nogc")
    lines = csv.splitlines()
    assert len(lines) == 3 and lines[0].startswith("model,workload,repeat,status")
    assert all(line.startswith("nogc,") for line in lines[1:])
    code, js, _ = run_cli(capsys, "show", out, "-f", "json", "-w", "binary-trees")
    doc = json.loads(js)
    assert [c["model"] for c in doc["cells"]] == ["nogc", "cpp"]
    assert doc["format"] == "memcompare-results"
    code, _, err = run_cli(capsys, "show", out, "-m", "go")
    assert code == 2 and "has no model 'go' (it has: nogc, cpp)" in err


# -- tables -----------------------------------------------------------------------------------

def test_tables_fit_120_columns_unless_wide_or_columns(cfg, tmp_path, capsys):
    out = tmp_path / "out"
    code, printed, _ = run_cli(capsys, "run", cfg, "--out", out, "-q", "-j", "1")
    assert max(len(line) for line in printed.splitlines()) <= 120
    _, wide, _ = run_cli(capsys, "show", out, "--wide")
    header = next(line for line in wide.splitlines() if line.startswith("| model"))
    assert [h.strip() for h in header.strip("|").split("|")] == [
        "model", "Mops/s", "wall (ms)", "wall ×base", "p99 pause (µs)", "max pause (µs)",
        "max stall (µs)", "MMU 10ms", "footprint (MiB)", "fp mean (MiB)", "peak/live",
        "leaked (MiB)", "GCs"]
    _, few, _ = run_cli(capsys, "show", out, "--columns", "gc,wall")
    header = next(line for line in few.splitlines() if line.startswith("| model"))
    assert [h.strip() for h in header.strip("|").split("|")] == ["model", "GCs", "wall (ms)"]
    code, _, err = run_cli(capsys, "show", out, "--columns", "wal")
    assert code == 2 and "unknown column 'wal'; did you mean 'wall'?" in err


# -- MEMCOMPARE_CHECK -------------------------------------------------------------------------

def test_memcompare_check_sets_the_oracle_level(cfg, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MEMCOMPARE_CHECK", "basic")
    run_cli(capsys, "run", cfg, "--out", tmp_path / "b", "-q", "-j", "1", "-m", "cpp")
    monkeypatch.setenv("MEMCOMPARE_CHECK", "full")
    run_cli(capsys, "run", cfg, "--out", tmp_path / "f", "-q", "-j", "1", "-m", "cpp")
    level = lambda d: json.loads((d / "results.json").read_text())["config"]["run"]["check"]
    assert (level(tmp_path / "b"), level(tmp_path / "f")) == ("basic", "full")
    # --check wins over the environment
    run_cli(capsys, "run", cfg, "--out", tmp_path / "c", "-q", "-m", "cpp", "--check", "basic")
    assert level(tmp_path / "c") == "basic"
    monkeypatch.setenv("MEMCOMPARE_CHECK", "ful")
    code, _, err = run_cli(capsys, "run", cfg, "--out", tmp_path / "x", "-q")
    assert code == 2 and "MEMCOMPARE_CHECK=ful: must be one of basic, full" in err


# -- a run that changes nothing rewrites nothing ----------------------------------------------

def test_a_run_that_changes_no_cell_rewrites_no_file(cfg, tmp_path, capsys):
    out = tmp_path / "out"
    run_cli(capsys, "run", cfg, "--out", out, "-j", "1")
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    code, _, err = run_cli(capsys, "run", cfg, "--out", out, "-j", "1")
    assert code == 0
    assert "0 cell(s) run, 4 reused; nothing changed, no file rewritten" in err
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    assert after == before


# -- no traceback for a user's mistake --------------------------------------------------------

MISTAKES = [
    # (what the file says, what the one line must contain)
    ('[[model]]\nname = ["cpp", "go"]\n[[workload]]\nname = "lru-cache"\n',
     'model[0].name: must be one model name, got a list ["cpp", "go"]; to compare several, '
     'write one [[model]] table per model'),
    ('[[model]]\nname = "cpp"\n[[workload]]\nname = ["lru-cache"]\n',
     "workload[0].name: must be one workload name, got a list"),
    ('[[model]]\nname = "cpp"\nparams = [1, 2]\n[[workload]]\nname = "lru-cache"\n',
     "model[0].params: must be a table such as { heap_mb = 64 }, got a list [1, 2]"),
    ('[[run]]\nname = "x"\n[[model]]\nname = "cpp"\n[[workload]]\nname = "lru-cache"\n',
     "run: write [run] (one table), not [[run]]"),
    ('model = "cpp"\n[[workload]]\nname = "lru-cache"\n',
     "model: must be an array of tables ([[model]] name = ...), got a string \"cpp\""),
    ('[run]\nheap_multiples = { a = 1 }\n[[model]]\nname = "cpp"\n[[workload]]\n'
     'name = "lru-cache"\n', "run.heap_multiples: must be a non-empty list of numbers > 0"),
    ('[[model]]\nname = "cpp"\n[[workload]]\ntrace = ["a", "b"]\n',
     "write one [[workload]] table per file"),
    ('[[model]]\nname = "nogc"\nparams = { heap_mb = nan }\n[[workload]]\nname = "lru-cache"\n',
     "model[0].params.heap_mb: must be a finite number, got NaN"),
    ('[[model]]\nname = "go"\nparams = { gogc = [' + ", ".join(str(i) for i in range(1, 400))
     + '], gomaxprocs = [' + ", ".join(str(i) for i in range(1, 60)) + '] }\n'
     '[[workload]]\nname = "lru-cache"\n',
     "model[0].params: the lists sweep 23,541 combinations (gogc 399 × gomaxprocs 59); at "
     "most 10,000 per table"),
]


@pytest.mark.parametrize("text,message", MISTAKES, ids=range(len(MISTAKES)))
def test_a_wrong_shape_is_one_line_saying_what_to_write(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, _, err = run_cli(capsys, "run", path, "--out", tmp_path / "out")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"memcompare: error: {path}: "), err
    assert message in err


def test_file_mistakes_are_one_line_and_exit_2(cfg, tmp_path, capsys):
    """Through a real process: what the user sees is one line on stderr, never a traceback."""
    a_file = tmp_path / "plain"
    a_file.write_text("x")
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b'[run]\nname = "caf\xe9"\n')
    cases = [
        (["run", str(cfg), "--out", str(a_file)], f"--out {a_file}: is a file"),
        (["run", str(latin1)], f"{latin1}:2:12: not UTF-8 text (byte 0xe9)"),
        (["trace", "record", "binary-trees", "-o", str(a_file / "x.mctrace")],
         f"-o {a_file / 'x.mctrace'}: {a_file} is a file, not a directory"),
        (["report", str(cfg)], "not valid JSON"),
        (["report", str(tmp_path / "missing")], "cannot read"),
        (["show", str(tmp_path)], "cannot read"),
        (["compare", str(cfg), str(cfg)], "not valid JSON"),
        (["trace", "show", str(tmp_path)], ""),
        (["run", str(tmp_path)], "cannot read the config"),
        (["calibrate", "-o", str(a_file / "p.toml")], f"{a_file} is a file, not a directory"),
        (["trace", "import", "--from", "tracefilesim", str(cfg), "-o", str(a_file / "t")],
         f"{a_file} is a file, not a directory"),
    ]
    env = {**os.environ, "MEMCOMPARE_LOAD_PLUGINS": ""}
    # the first three through a real process (what the user sees); the rest in-process
    for argv, message in cases[:3]:
        r = subprocess.run([sys.executable, "-m", "memcompare.cli", *argv], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=120)
        assert r.returncode == 2, (argv, r.stderr)
        assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, (argv, r.stderr)
        assert r.stderr.startswith("memcompare: error: ") and message in r.stderr, \
            (argv, r.stderr)
    for argv, message in cases[3:]:
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and err.count("\n") == 1, (argv, err)
        assert err.startswith("memcompare: error: ") and message in err, (argv, err)


# -- Ctrl-C: the message about saved results is true -------------------------------------------

def test_interrupt_messages_say_what_was_saved(cfg, tmp_path, capsys):
    import os
    import signal
    import time

    import numpy as np

    from memcompare import Model, hookimpl
    from memcompare.plugins import Plugins, set_plugins

    class Interrupting(Model):
        """On the trace with ``stop_on`` events, presses Ctrl-C in the run (its worker's
        parent) and waits to be ended, as a cell still running when a person interrupts."""
        name = "interrupting"
        stop_on = ""

        def run(self, trace, out):
            if trace.events == Interrupting.stop_on:
                os.kill(os.getppid(), signal.SIGINT)
                time.sleep(30)
            frees = np.flatnonzero(trace.op == 5)
            out.reclaimed_ids, out.reclaimed_at = trace.x[frees], frees

        def held(self):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)

    class Plugin:
        @hookimpl
        def register_models(self, register):
            register(Interrupting)

    reg = Plugins()
    reg.register(Plugin(), "interrupting-plugin")
    set_plugins(reg)
    # Ctrl-C as in a terminal: Python turns SIGINT into KeyboardInterrupt only when it did not
    # start with SIGINT ignored, which a shell does to a command it runs in the background
    # (`cmd &`), so the test sets the handler itself
    sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        # two trace files: one worker runs their cells in the config's order
        (tmp_path / "b.mctrace.txt").write_text("alloc 0 16 0\nwork 5\nfree 0\n")
        path = tmp_path / "i.toml"
        path.write_text('[[workload]]\ntrace = "a.mctrace.txt"\n[[workload]]\n'
                        'trace = "b.mctrace.txt"\n[[model]]\nname = "interrupting"\n')
        out = tmp_path / "out"
        Interrupting.stop_on = 7                  # the first cell: a.mctrace.txt, 7 events
        code, _, err = run_cli(capsys, "run", path, "--out", out, "-j", "1", "-q")
        assert code == 130
        assert err == "memcompare: interrupted before any cell finished; nothing was saved\n"
        assert not (out / "results.json").exists()
        Interrupting.stop_on = 3                  # the second cell: b.mctrace.txt
        code, _, err = run_cli(capsys, "run", path, "--out", out, "-j", "1", "-q")
        assert code == 130
        assert err == (f"memcompare: interrupted; the cells finished so far are saved in "
                       f"{out / 'results.json'} — run the same command again to resume\n")
        assert len(cells(out)) == 1
        code, _, err = run_cli(capsys, "run", path, "--out", out, "-j", "1", "-q")
        assert code == 130 and "before any new cell finished" in err
        assert f"{out / 'results.json'} is as it was" in err
    finally:
        signal.signal(signal.SIGINT, sigint)
        set_plugins(None)


def test_a_malformed_results_file_is_one_line_naming_the_cell(tmp_path, capsys):
    bad = tmp_path / "r.json"
    bad.write_text('{"format": "memcompare-results", "version": 1, "cells": [{}]}')
    for argv in (["show", bad], ["compare", bad, bad], ["report", bad]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2
        assert err == (f"memcompare: error: {bad}: cells[0].model: must be a string, and is "
                       f"missing (docs/design.md §6)\n")
    bad.write_text('{"format": "memcompare-results", "version": 1, "cells": {}}')
    code, _, err = run_cli(capsys, "show", bad)
    assert code == 2 and "cells: must be a list of cells, got dict" in err


def test_tables_say_which_settings_differ_from_the_defaults(cfg, tmp_path, capsys):
    # alignment=16 in every nogc cell: the rows' labels (what varies) would not show it
    code, printed, _ = run_cli(capsys, "run", cfg, "--out", tmp_path / "o", "-q", "-j", "1",
                               "--set", "model.nogc.alignment=16")
    assert code == 0
    assert "Settings that differ from the models' defaults in every cell: nogc alignment=16." \
        in printed
    code, printed, _ = run_cli(capsys, "run", cfg, "--out", tmp_path / "p", "-q", "-j", "1")
    assert "Settings that differ" not in printed


def test_a_forged_binary_trace_is_one_line_naming_the_event_in_show_and_run(tmp_path, capsys):
    # checksums valid around events build() would never produce: the second alloc claims id 0
    from memcompare.trace import Trace
    from memcompare.traceio import dumps, parse_text
    t = parse_text(TRACE)
    cols = {name: getattr(t, name).copy() for name in ("op", "flags", "a", "b", "c", "x", "y", "z")}
    cols["x"][1] = 0
    (tmp_path / "bad.mctrace").write_bytes(dumps(Trace(*cols.values(), t.registers)))
    reason = "event 1 (alloc): derived id x of an alloc is not the next object id"
    code, _, err = run_cli(capsys, "trace", "show", str(tmp_path / "bad.mctrace"))
    assert code == 2 and reason in err and len(err.strip().splitlines()) == 1
    # a config's trace file is checked in full, though the run's own copies are not re-checked
    (tmp_path / "run.toml").write_text('[[workload]]\ntrace = "bad.mctrace"\n'
                                       '[[model]]\nname = "nogc"\n')
    code, _, err = run_cli(capsys, "run", str(tmp_path / "run.toml"), "--out",
                           str(tmp_path / "out"), "-q")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("memcompare: error: workload[0].trace: ") and reason in err
