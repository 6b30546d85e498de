"""Cells on a Dask cluster (memcompare/dask_executor.py, docs/scaling.md): the same results as
one local process, resume, a worker killed mid-run, and workers missing a plugin."""
from __future__ import annotations

import json
import os
import signal

import pytest

from memcompare import cli, config, hookimpl, runner
from memcompare.runner import Progress

distributed = pytest.importorskip("distributed",
                                  reason="dask.distributed is not installed "
                                         "(pip install 'memcompare[dask]')")

CONFIG = """\
[run]
name = "dask"

[[workload]]
name = "binary-trees"
params = { max_depth = %(depth)d }

[[workload]]
name = "message-buffer"
params = { messages = %(messages)d, window = 300 }

[[workload]]
trace = "hand.mctrace.txt"

[[model]]
name = "go"
params = { gogc = [50, 100] }

[[model]]
name = "cpp"

[[model]]
name = "cpython"
"""
HAND = "alloc 0 16 1\nalloc 1 16 1\nstore 0 0 1\nclear 1\nwork 500\nfree 0\nalloc 0 8 0\n"


def write_config(tmp_path, depth=6, messages=1000):
    (tmp_path / "hand.mctrace.txt").write_text(HAND)
    path = tmp_path / "dask.toml"
    path.write_text(CONFIG % {"depth": depth, "messages": messages})
    return path


def cells(path):
    doc = json.loads((path / "results.json").read_text())
    doc.pop("created_utc")
    doc.pop("environment")
    return doc


def test_a_two_worker_local_cluster_gives_the_results_of_one_process(tmp_path, capsys):
    cfg = write_config(tmp_path)
    assert cli.main(["run", str(cfg), "--out", str(tmp_path / "one"), "--jobs", "1",
                     "--quiet"]) == 0
    assert cli.main(["run", str(cfg), "--out", str(tmp_path / "dask"), "--executor", "dask",
                     "--jobs", "2", "--quiet"]) == 0
    one, dask = cells(tmp_path / "one"), cells(tmp_path / "dask")
    assert len(dask["cells"]) == 3 * 4
    assert dask == one
    assert (tmp_path / "one" / "results.csv").read_bytes() == \
        (tmp_path / "dask" / "results.csv").read_bytes()
    # resume: a second run reuses every finished cell and sends nothing to a cluster
    capsys.readouterr()
    assert cli.main(["run", str(cfg), "--out", str(tmp_path / "dask"), "--executor", "dask",
                     "--jobs", "2"]) == 0
    assert "0 cell(s) run, 12 reused" in capsys.readouterr().err


class KillOnce(Progress):
    """Kills the process of a worker that has a cell in hand when the first cell finishes."""

    def __init__(self, client):
        self.client = client
        self.killed = None

    def done(self, label, status, error):
        if self.killed is not None:
            return
        pids = self.client.run(os.getpid)
        busy = [addr for addr, keys in self.client.processing().items() if keys]
        assert busy, "no worker had a cell in hand: the run is too short for this test"
        self.killed = (busy[0], pids[busy[0]])
        os.kill(pids[busy[0]], signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster():
    """A running 2-worker cluster the tests reach by its address (--scheduler)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c:
        yield c


def test_a_worker_killed_mid_run_loses_no_cell(tmp_path, cluster):
    cfg = write_config(tmp_path)
    conf = config.load(cfg)
    with distributed.Client(cluster) as client:
        before = set(client.run(os.getpid).values())
        progress = KillOnce(client)
        out = runner.run(conf, tmp_path / "dask", progress=progress, executor="dask",
                         scheduler=cluster.scheduler_address)
        assert progress.killed is not None and progress.killed[1] in before
        assert not out.failed and all(c["status"] == "ok" for c in out.cells)
        # the nanny started a new worker process in place of the killed one
        client.wait_for_workers(2, timeout=60)
        assert progress.killed[1] not in set(client.run(os.getpid).values())
    runner.run(conf, tmp_path / "one", jobs=1)
    assert cells(tmp_path / "dask") == cells(tmp_path / "one")


class _Extra:
    @hookimpl
    def register_models(self, register):
        from memcompare_nogc import NoGC
        register(type("OnlyHere", (NoGC,), {"name": "only-here",
                                             "__doc__": "A model no worker has."}))


def test_workers_without_a_plugin_the_config_names_stop_the_run(tmp_path, capsys, cluster,
                                                                register_plugin):
    register_plugin(_Extra(), "only-in-this-process")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[run]\nname = "x"\n[[workload]]\nname = "binary-trees"\n'
                   'params = { max_depth = 4 }\n[[model]]\nname = "only-here"\n')
    assert cli.main(["run", str(cfg), "--out", str(tmp_path / "x"), "--executor", "dask",
                     "--scheduler", cluster.scheduler_address, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "lacks model 'only-here' (plugin 'only-in-this-process')" in err
    assert "worker tcp://" in err and "Traceback" not in err
    assert not (tmp_path / "x" / "results.json").exists() or \
        json.loads((tmp_path / "x" / "results.json").read_text())["cells"] == []


def test_scheduler_needs_the_dask_executor_and_a_reachable_address(tmp_path, capsys):
    cfg = write_config(tmp_path)
    assert cli.main(["run", str(cfg), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "--scheduler: only with --executor dask" in capsys.readouterr().err
