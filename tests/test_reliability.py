"""A run survives its cells (issue 13): a crashed worker fails only its cell, cells have time
and memory limits, an impossible request is ``oom`` everywhere, workers and replayers die with
the run, one run at a time writes a results directory, and a run killed at any point resumes to
the same results. docs/reliability.md lists these guarantees with the tests below."""
from __future__ import annotations

import faulthandler
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from memcompare import cli, config, runner
from memcompare.errors import ConfigError
from memcompare.plugins import Plugins, set_plugins
from manual_model import ReclaimsAtFree, plugin_of

ROOT = Path(__file__).resolve().parent.parent
TRACE = "alloc 0 16 1\nalloc 1 32 0\nstore 0 0 1\nclear 1\nwork 1000\nfree 0\n"


class Misbehaving(ReclaimsAtFree):
    """Does, on the trace that works 2000 ns, what ``Misbehaving.action`` says; else nothing."""

    name = "misbehaving"
    action = "segv"

    def run(self, trace, out):
        if 2000 in trace.a.tolist():
            what = Misbehaving.action
            if what == "segv":
                faulthandler.disable()         # pytest's would print this worker's stack
                os.kill(os.getpid(), signal.SIGSEGV)
            elif what == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            elif what == "hang":
                time.sleep(600)
            elif what == "hog":
                np.ones(1 << 34, dtype=np.uint8)          # 16 GiB
        self.reclaim(trace, out)


@pytest.fixture
def registry():
    p = Plugins()
    p.register(plugin_of(Misbehaving), "misbehaving-plugin")
    set_plugins(p)
    yield p
    set_plugins(None)


def write_config(tmp_path: Path, run_keys: str = "") -> Path:
    (tmp_path / "a.mctrace.txt").write_text(TRACE)
    (tmp_path / "b.mctrace.txt").write_text(TRACE.replace("work 1000", "work 2000"))
    (tmp_path / "c.mctrace.txt").write_text(TRACE.replace("work 1000", "work 3000"))
    path = tmp_path / "run.toml"
    path.write_text(f'[run]\nname = "t"\n{run_keys}\n' + "".join(
        f'[[workload]]\ntrace = "{n}.mctrace.txt"\n' for n in "abc") +
        '[[model]]\nname = "nogc"\n[[model]]\nname = "misbehaving"\n[[model]]\nname = "cpp"\n')
    return path


def statuses(out) -> dict[tuple[str, str], str]:
    return {(c["model"], c["workload"][0]): c["status"] for c in out.cells}


# -- crash isolation (13.1) ---------------------------------------------------------------------

@pytest.mark.parametrize("action, signal_text", [
    ("segv", "killed by SIGSEGV"), ("kill", "killed by SIGKILL — out of memory?")])
def test_a_crashing_worker_fails_only_its_own_cell(tmp_path, registry, action, signal_text):
    Misbehaving.action = action
    out = runner.run(config.load(write_config(tmp_path)), tmp_path / "out", jobs=2)
    bad = ("misbehaving", "b")
    assert statuses(out) == {(m, w): "error" if (m, w) == bad else "ok"
                             for m in ("nogc", "misbehaving", "cpp") for w in "abc"}
    err = next(c["error"] for c in out.cells if c["status"] == "error")
    assert err == (f"model 'misbehaving' on workload 'b.mctrace.txt': its worker process was "
                   f"{signal_text}")
    # a re-run retries the failed cell, and only it
    Misbehaving.action = "none"
    again = runner.run(config.load(write_config(tmp_path)), tmp_path / "out", jobs=2)
    assert (again.reused, again.computed) == (8, 1)
    assert all(c["status"] == "ok" for c in again.cells)


# -- limits (13.2) ------------------------------------------------------------------------------

def test_a_cell_past_its_time_limit_is_stopped_and_the_others_finish(tmp_path, registry):
    Misbehaving.action = "hang"
    cfg = config.load(write_config(tmp_path, "cell_timeout_s = 1.5"))
    assert cfg.cell_timeout_s == 1.5
    t0 = time.monotonic()
    out = runner.run(cfg, tmp_path / "out", jobs=2)
    assert time.monotonic() - t0 < 30                # not the 600 s the model would sleep
    assert [k for k, s in statuses(out).items() if s != "ok"] == [("misbehaving", "b")]
    cell = next(c for c in out.cells if c["status"] != "ok")
    assert cell["status"] == "timeout"
    assert "passed its time limit of 1.5 s (run.cell_timeout_s, --cell-timeout)" in cell["error"]
    assert out.failed == [cell]


def test_a_cell_past_its_memory_limit_ends_oom(tmp_path, registry):
    Misbehaving.action = "hog"
    out = runner.run(config.load(write_config(tmp_path, "cell_memory_mb = 8192")),
                     tmp_path / "out", jobs=1)
    assert [k for k, s in statuses(out).items() if s != "ok"] == [("misbehaving", "b")]
    cell = next(c for c in out.cells if c["status"] != "ok")
    assert cell["status"] == "oom"
    assert cell["error"] == ("model 'misbehaving' on workload 'b.mctrace.txt' ran out of "
                             "memory: its worker reached the limit of 8192 MiB "
                             "(run.cell_memory_mb, --cell-memory)")
    assert cell["cell_memory_mb"] == 8192
    # an oom of the limit is kept under the same limit, and run again under another
    path = tmp_path / "run.toml"
    again = runner.run(config.load(path), tmp_path / "out", jobs=1)
    assert (again.reused, again.computed) == (9, 0)
    Misbehaving.action = "none"
    path.write_text(path.read_text().replace("cell_memory_mb = 8192", "cell_memory_mb = 16384"))
    again = runner.run(config.load(path), tmp_path / "out", jobs=1)
    assert (again.reused, again.computed) == (8, 1)
    assert all(c["status"] == "ok" for c in again.cells)


def test_limits_from_the_command_line_and_their_errors(tmp_path, registry, capsys):
    Misbehaving.action = "hang"
    path = write_config(tmp_path, "cell_timeout_s = 1000")
    code = cli.main(["run", str(path), "--out", str(tmp_path / "o"), "-q", "--jobs", "2",
                     "--cell-timeout", "1"])
    assert code == 1
    doc = json.loads((tmp_path / "o" / "results.json").read_text())
    assert [c["status"] for c in doc["cells"]].count("timeout") == 1
    capsys.readouterr()
    assert cli.main(["run", str(path), "--cell-memory", "-5"]) == 2
    assert "--cell-memory: must be a number >= 0 (0: no limit), got -5" in capsys.readouterr().err
    path.write_text(path.read_text().replace("cell_timeout_s = 1000", 'cell_timeout_s = "1h"'))
    assert cli.main(["run", str(path)]) == 2
    assert 'run.cell_timeout_s: must be a number >= 0 (0: no limit), got "1h"' in \
        capsys.readouterr().err


def test_the_limits_have_generous_defaults():
    cfg = config.load(ROOT / "configs" / "quick.toml")
    assert (cfg.cell_timeout_s, cfg.cell_memory_mb, cfg.machine_mb) == (3600, 65536, 65536)


# -- impossible requests are oom everywhere (13.5) ----------------------------------------------

def test_a_model_beyond_the_machine_ends_oom_where_it_passed_it(tmp_path):
    # nogc lays an object out as its payload and slots, nothing more: 600,000 bytes after
    # event 0 fit a 1 MiB machine (1,048,576 bytes); 1,200,000 after event 1 do not
    (tmp_path / "t.mctrace.txt").write_text("alloc 0 600000 0\nalloc 1 600000 0\nwork 5\n"
                                            "free 0\nfree 1\n")
    (tmp_path / "run.toml").write_text('[run]\nmachine_mb = 1\n[[workload]]\n'
                                       'trace = "t.mctrace.txt"\n[[model]]\nname = "nogc"\n')
    out = runner.run(config.load(tmp_path / "run.toml"), tmp_path / "out", jobs=1)
    (cell,) = out.cells
    assert cell["status"] == "oom" and cell["oom_at_event"] == 1
    assert cell["error"] == ("model 'nogc' needs 1.1 MiB at event 1, more than the machine's "
                             "1 MiB (run.machine_mb)")


def test_a_terabyte_object_is_oom_under_every_simulated_model(tmp_path):
    (tmp_path / "t.mctrace.txt").write_text("alloc 0 1099511627776 0\nwork 10\nfree 0\n")
    (tmp_path / "run.toml").write_text('[[workload]]\ntrace = "t.mctrace.txt"\n' + "".join(
        f'[[model]]\nname = "{m}"\n' for m in ("cpp", "go", "cpython", "nogc", "jvm")))
    out = runner.run(config.load(tmp_path / "run.toml"), tmp_path / "out", jobs=2)
    assert {c["model"]: c["status"] for c in out.cells} == dict.fromkeys(
        ("cpp", "go", "cpython", "nogc", "jvm"), "oom")
    for c in out.cells:
        if c["model"] != "jvm":                       # the JVM's own heap limit comes first
            assert "more than the machine's 65536 MiB (run.machine_mb)" in c["error"]


def test_native_out_of_memory_lines_are_the_runtimes_own():
    from memcompare_native.base import out_of_memory
    python = ("Traceback (most recent call last):\n  File \"replay.py\", line 80, in main\n"
              "    objs[r] = bytearray(size)\nMemoryError\n")
    go = ("runtime: out of memory: cannot allocate 1610612736-byte block (3964928 in use)\n"
          "fatal error: out of memory\n\ngoroutine 1 [running]:\nruntime.throw(...)\n")
    cpp = ("terminate called after throwing an instance of 'std::bad_alloc'\n"
           "  what():  std::bad_alloc\n")
    java = ('Exception in thread "main" java.lang.OutOfMemoryError: Java heap space\n'
            "\tat Replay.replay(Replay.java:200)\n")
    jvm_start = "Error occurred during initialization of VM\nCould not allocate compressed " \
                "class space: 1073741824 bytes\n"
    assert out_of_memory("", python) == "MemoryError"
    assert out_of_memory("", go) == ("runtime: out of memory: cannot allocate 1610612736-byte "
                                     "block (3964928 in use)")
    assert out_of_memory("", cpp) == ("terminate called after throwing an instance of "
                                      "'std::bad_alloc'")
    assert out_of_memory("", java) == ('Exception in thread "main" java.lang.OutOfMemoryError: '
                                       'Java heap space')
    assert out_of_memory(jvm_start, "") == ("Could not allocate compressed class space: "
                                            "1073741824 bytes")
    assert out_of_memory("", "replay: event 3: slot 9 out of range\n") is None


def test_native_replayers_that_cannot_allocate_end_oom(tmp_path):
    # A limit of 1 GiB above what this (forked) process already maps, so the worker itself
    # fits; one object 512 MiB beyond it: within every replayer's format, beyond its limit
    vm_mb = int(Path("/proc/self/status").read_text().split("VmSize:")[1].split()[0]) // 1024
    limit_mb = vm_mb + 1024
    (tmp_path / "t.mctrace.txt").write_text(f"alloc 0 {(limit_mb + 512) << 20} 0\nwork 10\n"
                                            f"free 0\n")
    models = ("cpp-native", "cpython-native")
    (tmp_path / "run.toml").write_text(
        f'[run]\ncell_memory_mb = {limit_mb}\n[[workload]]\ntrace = "t.mctrace.txt"\n' + "".join(
            f'[[model]]\nname = "{m}"\nparams = {{ repeats = 1, replays = 1 }}\n'
            for m in models))
    out = runner.run(config.load(tmp_path / "run.toml"), tmp_path / "out", jobs=2)
    got = {c["model"]: (c["status"], c["error"]) for c in out.cells}
    for m, line in (("cpp-native", "std::bad_alloc"), ("cpython-native", "MemoryError")):
        if got[m][0] == "unavailable":
            continue
        assert got[m][0] == "oom", got[m]
        assert got[m][1].startswith(f"{m} replayer ran out of memory (")
        assert line in got[m][1].split(": ", 1)[1] and "Traceback" not in got[m][1]


# -- no orphans (13.3) --------------------------------------------------------------------------

ORPHAN_SCRIPT = textwrap.dedent("""\
    import subprocess, sys, time
    import numpy as np
    from memcompare import Model, hookimpl, config, runner
    from memcompare.plugins import Plugins, set_plugins
    from memcompare.procs import preexec_die_with_parent

    class Sleepy(Model):
        name = "sleepy"
        def run(self, trace, out):      # a native replayer's way of running a process
            subprocess.run(["sleep", "300"], preexec_fn=preexec_die_with_parent)
        def held(self):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)

    class P:
        @hookimpl
        def register_models(self, register):
            register(Sleepy)

    p = Plugins(); p.register(P(), "sleepy"); set_plugins(p)
    runner.run(config.load(sys.argv[1]), sys.argv[2], jobs=2)
""")


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killing_the_run_leaves_no_worker_and_no_replayer(tmp_path):
    (tmp_path / "a.mctrace.txt").write_text(TRACE)
    (tmp_path / "b.mctrace.txt").write_text(TRACE.replace("1000", "2000"))
    (tmp_path / "run.toml").write_text(
        '[[workload]]\ntrace = "a.mctrace.txt"\n[[workload]]\ntrace = "b.mctrace.txt"\n'
        '[[model]]\nname = "sleepy"\n')
    (tmp_path / "script.py").write_text(ORPHAN_SCRIPT)
    parent = subprocess.Popen([sys.executable, str(tmp_path / "script.py"),
                               str(tmp_path / "run.toml"), str(tmp_path / "out")], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:                      # two workers, each running a `sleep`
            workers = _children(parent.pid)
            sleeps = [s for w in workers for s in _children(w)]
            if len(workers) == 2 and len(sleeps) == 2:
                break
            assert time.monotonic() < deadline, "the workers did not start"
            assert parent.poll() is None, "the run ended early"
            time.sleep(0.05)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        time.sleep(1.0)
        assert [p for p in workers + sleeps if _alive(p)] == []
    finally:
        parent.kill()
        for p in _children(parent.pid):
            os.kill(p, signal.SIGKILL)


# -- one writer (13.4) --------------------------------------------------------------------------

def test_a_second_run_into_the_same_directory_stops_naming_the_first(tmp_path, registry, capsys):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from memcompare import runner; runner.lock_results(Path(sys.argv[1]), "
         "runner.Progress()); print('locked', flush=True); time.sleep(60)", str(out)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        path = write_config(tmp_path)
        assert cli.main(["run", str(path), "--out", str(out), "-q"]) == 2
        err = capsys.readouterr().err
        assert f"{out}: another memcompare run is writing this results directory: process " \
               f"{holder.pid} (" in err
        assert not (out / "results.json").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_is_taken_over_with_a_notice(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / runner.LOCK_NAME).write_text("999999999\n")      # a run that was killed

    class Notes(runner.Progress):
        def __init__(self):
            self.notes = []

        def note(self, message):
            self.notes.append(message)

    notes = Notes()
    (tmp_path / "a.mctrace.txt").write_text(TRACE)
    (tmp_path / "run.toml").write_text('[[workload]]\ntrace = "a.mctrace.txt"\n'
                                       '[[model]]\nname = "nogc"\n')
    result = runner.run(config.load(tmp_path / "run.toml"), out, jobs=1, progress=notes)
    assert result.cells[0]["status"] == "ok"
    assert f"{out}: taking over the lock of process 999999999, which ended without releasing " \
           f"it; its finished cells are kept" in notes.notes
    assert not (out / runner.LOCK_NAME).exists()           # released at the end
    # and a lock this process holds stops a run in it
    fd = runner.lock_results(out, runner.Progress())
    try:
        with pytest.raises(ConfigError, match=f"process {os.getpid()}"):
            runner.run(config.load(tmp_path / "run.toml"), out, jobs=1)
    finally:
        runner.unlock_results(out, fd)


# -- fault injection (13.7) ---------------------------------------------------------------------

FAULT_SCRIPT = textwrap.dedent("""\
    import sys, time
    from memcompare import cli, hookimpl
    from memcompare.plugins import Plugins, plugins, set_plugins

    NoGC = plugins().model("nogc").cls

    class Slow(NoGC):
        \"\"\"nogc, a quarter of a second slower: the run lasts long enough to be killed.\"\"\"
        name = "slow-nogc"
        def run(self, trace, out):
            time.sleep(0.25)
            super().run(trace, out)

    class P:
        @hookimpl
        def register_models(self, register):
            register(Slow)

    p = Plugins(); p.register(P(), "slow"); set_plugins(p)
    sys.exit(cli.main(sys.argv[1:]))
""")
FAULT_CONFIG = """\
[[workload]]
name = "binary-trees"
params = { max_depth = 6 }
[[workload]]
name = "lru-cache"
params = { operations = 3000, capacity = 500, key_space = 1000 }
[[model]]
name = "cpp"
[[model]]
name = "go"
[[model]]
name = "slow-nogc"
[[model]]
name = "jvm"
[[model]]
name = "cpython"
"""


def _cells(path: Path) -> list[dict]:
    try:
        return json.loads(path.read_text())["cells"]
    except (OSError, ValueError):
        return []


def test_a_run_killed_at_a_random_cell_resumes_to_the_uninterrupted_results(tmp_path):
    (tmp_path / "run.toml").write_text(FAULT_CONFIG)
    (tmp_path / "script.py").write_text(FAULT_SCRIPT)
    env = {**os.environ, "MEMCOMPARE_TRACE_CACHE": str(tmp_path / "cache")}

    def start(out: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, str(tmp_path / "script.py"), "run",
                                 str(tmp_path / "run.toml"), "--out", str(tmp_path / out),
                                 "--jobs", "2"], cwd=tmp_path, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    whole = start("whole")
    assert whole.wait(timeout=120) == 0, whole.stderr.read()
    expected = _cells(tmp_path / "whole" / "results.json")
    assert len(expected) == 10
    seed = random.randrange(1 << 30)
    kill_at = random.Random(seed).randint(1, 7)
    run = start("out")
    deadline = time.monotonic() + 120
    while len(_cells(tmp_path / "out" / "results.json")) < kill_at:
        assert run.poll() is None, f"the run ended before cell {kill_at} (seed {seed})"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)
    run.wait()
    saved = _cells(tmp_path / "out" / "results.json")
    assert kill_at <= len(saved) < 10, f"seed {seed}"
    resumed = start("out")
    assert resumed.wait(timeout=120) == 0
    err = resumed.stderr.read()
    assert f"({10 - len(saved)} cell(s) run, {len(saved)} reused)" in err, (err, seed)
    cells = _cells(tmp_path / "out" / "results.json")
    by_key = {(c["model"], c["workload"]): c for c in saved}
    for c in cells:                          # the finished cells are the very same entries
        if (c["model"], c["workload"]) in by_key:
            assert c == by_key[(c["model"], c["workload"])]
    assert [(c["model"], c["workload"], c["metrics"], c.get("timeline")) for c in cells] == \
        [(c["model"], c["workload"], c["metrics"], c.get("timeline")) for c in expected]
