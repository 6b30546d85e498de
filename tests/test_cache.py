"""The trace cache (issue 10.1): a hit reuses the trace, any parameter or code change misses,
a corrupt entry is detected and recorded again, concurrent writers leave one whole entry, the
size limit evicts the least recently used; and parallel recording gives serial results."""
from __future__ import annotations

import json
import multiprocessing
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from memcompare import Recorder, Workload, cache, cli, config, hookimpl, param, runner
from memcompare.plugins import Plugins, set_plugins


class Chain(Workload):
    """A chain of ``length`` nodes, freed from the head; each recording is logged to a file."""

    name = "chain"
    log: Path | None = None

    @dataclass(frozen=True)
    class Params:
        length: int = param(50, "nodes in the chain", minimum=1)

    def record(self, params, t: Recorder, rng) -> None:
        with open(Chain.log, "a") as f:
            f.write(f"{params.length}\n")
        head = t.alloc(16, 1)
        prev = head
        nodes = [head]
        for _ in range(params.length - 1):
            node = t.alloc(16, 1)
            t.store(prev, 0, node)
            nodes.append(node)
            prev = node
        for node in nodes:
            t.free(node)


class _Plugin:
    @hookimpl
    def register_workloads(self, register):
        register(Chain)


@pytest.fixture
def registry(tmp_path):
    p = Plugins()
    p.register(_Plugin(), "chain-plugin")
    set_plugins(p)
    Chain.log = tmp_path / "recordings.log"
    yield p
    set_plugins(None)


def recordings() -> list[int]:
    try:
        return [int(x) for x in Chain.log.read_text().split()]
    except FileNotFoundError:
        return []


def write_config(tmp_path: Path, lengths=(50, 80)) -> Path:
    path = tmp_path / "run.toml"
    path.write_text("".join(f'[[workload]]\nname = "chain"\nparams = {{ length = {n} }}\n'
                            for n in lengths) + '[[model]]\nname = "nogc"\n[[model]]\nname = "go"\n')
    return path


def metrics(out) -> list:
    return [(c["model"], c["workload_params"], c["trace"], c["metrics"]) for c in out.cells]


def test_a_second_run_reuses_the_cached_traces(tmp_path, registry):
    tc = cache.TraceCache(tmp_path / "cache")
    first = runner.run(config.load(write_config(tmp_path)), tmp_path / "a", jobs=2,
                       trace_cache=tc)
    assert sorted(recordings()) == [50, 80]
    assert tc.info()["entries"] == 2
    second = runner.run(config.load(write_config(tmp_path)), tmp_path / "b", jobs=2,
                        trace_cache=tc)
    assert sorted(recordings()) == [50, 80]               # nothing recorded again
    assert metrics(second) == metrics(first)


def test_any_parameter_change_misses(tmp_path, registry):
    tc = cache.TraceCache(tmp_path / "cache")
    runner.run(config.load(write_config(tmp_path)), tmp_path / "a", jobs=1, trace_cache=tc)
    runner.run(config.load(write_config(tmp_path, (50, 81))), tmp_path / "b", jobs=1,
               trace_cache=tc)
    assert sorted(recordings()) == [50, 80, 81]


def test_the_key_covers_name_params_plugin_version_and_code(tmp_path, monkeypatch):
    pkg = tmp_path / "src" / "mc_cachetest"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .w import W\n")
    (pkg / "w.py").write_text("class W:\n    name = 'w'\n    def record(self):\n        pass\n")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    import importlib
    mod = importlib.import_module("mc_cachetest")

    class Entry:
        name, plugin, version, cls = "w", "p", "1.0", mod.W

    @__import__("dataclasses").dataclass(frozen=True)
    class Params:
        n: int = 1

    base = cache.key(Entry, Params())
    assert cache.key(Entry, Params()) == base                       # stable
    assert cache.key(Entry, Params(n=2)) != base                    # params (the seed too)
    other = type("E2", (), {**{k: getattr(Entry, k) for k in ("name", "plugin", "cls")},
                            "version": "1.1"})
    assert cache.key(other, Params()) != base                       # plugin version
    (pkg / "w.py").write_text((pkg / "w.py").read_text() + "# changed\n")
    cache.code_hash.cache_clear()
    assert cache.key(Entry, Params()) != base                       # any file of the package
    sys.modules.pop("mc_cachetest", None)
    sys.modules.pop("mc_cachetest.w", None)


def test_a_corrupt_entry_is_detected_and_recorded_again(tmp_path, registry):
    tc = cache.TraceCache(tmp_path / "cache")
    first = runner.run(config.load(write_config(tmp_path, (50,))), tmp_path / "a", jobs=1,
                       trace_cache=tc)
    (entry,) = list((tmp_path / "cache").glob("*.mctrace"))
    data = bytearray(entry.read_bytes())
    data[-3] ^= 0x40                                              # one bit, in the events
    entry.write_bytes(bytes(data))
    again = runner.run(config.load(write_config(tmp_path, (50,))), tmp_path / "b", jobs=1,
                       trace_cache=tc)
    assert recordings() == [50, 50]
    assert metrics(again) == metrics(first)
    meta = json.loads(entry.with_suffix(".json").read_text())
    assert cache.file_digest(entry)[0] == meta["file_sha256"]       # the entry is whole again


def _store_many(directory: str, length: int, rounds: int) -> None:
    from memcompare.trace import Recorder
    t = Recorder("x", {"n": length})
    h = [t.alloc(8, 0) for _ in range(length)]
    for x in h:
        t.free(x)
    trace = t.build()
    tc = cache.TraceCache(Path(directory))
    for _ in range(rounds):
        tc.store("k" * 64, trace)


def test_concurrent_writers_leave_one_whole_entry(tmp_path):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_store_many, args=(str(tmp_path), 20000, 8)) for _ in range(4)]
    for p in procs:
        p.start()
    tc = cache.TraceCache(tmp_path)
    seen = 0
    while any(p.is_alive() for p in procs):          # a reader never sees half an entry
        meta = tc.lookup("k" * 64)
        if meta is not None:
            assert tc.load("k" * 64, meta) is not None
            seen += 1
    for p in procs:
        p.join()
        assert p.exitcode == 0
    meta = tc.lookup("k" * 64)
    assert tc.load("k" * 64, meta).events == 40000
    assert [p.name for p in tmp_path.iterdir()] and not list(tmp_path.glob(".*tmp*"))


def test_the_size_limit_evicts_the_least_recently_used(tmp_path):
    from memcompare.trace import Recorder
    t = Recorder("x")
    t.free(t.alloc(8, 0))
    trace = t.build()
    tc = cache.TraceCache(tmp_path, limit=0)
    for i, k in enumerate(("a", "b", "c")):
        tc.store(k, trace)
        os.utime(tc.path(k), (1000 + i, 1000 + i))
    size = tc.entries()[0][1]
    tc.touch("a")                                         # used now: the newest
    tc.limit = 2 * size
    assert tc.evict() == ["b"]
    assert tc.evict(keep={"c"}) == []
    tc.limit = 0
    assert tc.evict(keep={"c"}) == ["a"]
    assert [k for k, _, _ in tc.entries()] == ["c"]


def test_cache_info_clear_and_no_trace_cache_through_the_cli(tmp_path, registry, capsys,
                                                              monkeypatch):
    monkeypatch.setenv("MEMCOMPARE_TRACE_CACHE", str(tmp_path / "c"))
    path = write_config(tmp_path, (50,))
    assert cli.main(["run", str(path), "--out", str(tmp_path / "o1"), "-q",
                     "--no-trace-cache"]) == 0
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").iterdir())
    assert cli.main(["run", str(path), "--out", str(tmp_path / "o2"), "-q"]) == 0
    capsys.readouterr()
    assert cli.main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert f"directory: {tmp_path / 'c'}\ntraces:    1\n" in out and "limit:     2048 MiB" in out
    assert cli.main(["cache", "clear"]) == 0
    assert f"removed 1 trace(s) from {tmp_path / 'c'}" in capsys.readouterr().err
    assert cache.TraceCache().info()["entries"] == 0
    monkeypatch.setenv("MEMCOMPARE_TRACE_CACHE_MB", "lots")
    assert cli.main(["cache", "info"]) == 2
    assert "MEMCOMPARE_TRACE_CACHE_MB: must be a number of MiB >= 0" in capsys.readouterr().err


def test_parallel_recording_gives_the_serial_results(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[[workload]]\nname = "binary-trees"\nparams = { max_depth = 6 }\n'
                    '[[workload]]\nname = "queue-churn"\n[[workload]]\nname = "lru-cache"\n'
                    '[[model]]\nname = "go"\n[[model]]\nname = "cpython"\n')
    serial = runner.run(config.load(path), tmp_path / "s", jobs=1,
                        trace_cache=cache.TraceCache(tmp_path / "c1"))
    pooled = runner.run(config.load(path), tmp_path / "p", jobs=2,
                        trace_cache=cache.TraceCache(tmp_path / "c2"))
    s = json.loads((tmp_path / "s" / "results.json").read_text())
    p = json.loads((tmp_path / "p" / "results.json").read_text())
    for doc in (s, p):
        doc.pop("created_utc")
    assert json.dumps(s) == json.dumps(p)
    assert serial.computed == pooled.computed == 6


def _boom(*args, **kwargs):
    raise AssertionError("the reachability of a cached trace was computed again")


def test_a_warm_run_reads_each_traces_derived_tables_instead_of_computing_them(
        tmp_path, registry, monkeypatch):
    tc = cache.TraceCache(tmp_path / "cache")
    first = runner.run(config.load(write_config(tmp_path)), tmp_path / "a", jobs=1,
                       trace_cache=tc)
    assert len(list((tmp_path / "cache").glob("*.derived-*.npz"))) == 2     # one per trace
    # the workers fork from this process: one that walked the object graph fails its cell
    import memcompare.trace
    monkeypatch.setattr(memcompare.trace, "reachable", _boom)
    second = runner.run(config.load(write_config(tmp_path)), tmp_path / "b", jobs=2,
                        trace_cache=tc)
    assert [c["status"] for c in second.cells] == ["ok"] * 4
    assert metrics(second) == metrics(first)


def test_a_corrupt_or_foreign_derived_file_is_computed_again(tmp_path, registry):
    tc = cache.TraceCache(tmp_path / "cache")
    first = runner.run(config.load(write_config(tmp_path)), tmp_path / "a", jobs=1,
                       trace_cache=tc)
    short, long = sorted((tmp_path / "cache").glob("*.derived-*.npz"),
                         key=lambda p: p.stat().st_size)
    k50 = short.name.split(".")[0]
    data = bytearray(short.read_bytes())
    data[len(data) // 2] ^= 0x01                  # one bit, in an array: its crc32 fails
    # the 80-node chain's tables under the 50-node chain's name: computed for another trace
    short.write_bytes(long.read_bytes())
    trace = tc.load(k50, tc.lookup(k50))
    assert not tc.load_derived(k50, trace) and not short.exists()
    short.write_bytes(bytes(data))
    trace = tc.load(k50, tc.lookup(k50))
    assert not tc.load_derived(k50, trace) and not short.exists()
    again = runner.run(config.load(write_config(tmp_path)), tmp_path / "b", jobs=1,
                       trace_cache=tc)
    assert metrics(again) == metrics(first)
    fresh = tc.load(k50, tc.lookup(k50))
    assert tc.load_derived(k50, fresh)                   # written again, whole
    assert fresh._cache["reach_end"].shape == (50,) and fresh._cache["last_touch"].shape == (50,)
    assert cache.TraceCache(tmp_path / "cache").clear() == 2
    assert list((tmp_path / "cache").iterdir()) == []
