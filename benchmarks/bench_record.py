"""Recording cost and trace size of every built-in workload (issue 10, items 3 and 4).

For each workload, with the parameters configs/default.toml gives it (or ``--config``), one
child process per workload (so that its peak memory is its own) records the trace and reports:

- ns per event of ``memcompare.record`` (best of ``--repeat``; plugin loading excluded), in
  wall-clock time and in the process's CPU time (``time.process_time``: less inflated than the
  wall clock when other processes share the cores, though not immune to it);
- the trace's bytes per event in memory (``Trace.nbytes``: the stored columns);
- the recording's peak: the growth of the process's peak RSS while recording, per event;
- bytes per event on disk: binary format version 2 uncompressed, and ``--compress zlib``;
- the sha256 (the traces must not change when the recorder does: compare with a run of an
  older commit).

It asserts nothing; the figures go to benchmarks/README.md. Timings on a shared machine are
noisy: repeat the run and report the range.

    python benchmarks/bench_record.py [--config configs/default.toml] [--repeat 3] [--only NAME ...]
        [--set WORKLOAD.PARAM=VALUE ...]

``--set`` overrides one parameter of one workload (an integer), e.g. ``--set
message-buffer.messages=2000000`` to see whether the bytes per event at the recording's peak
stay the same at ten times the events.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # Linux: kilobytes


def parse_sets(ap: argparse.ArgumentParser, items: list[str], cfg) -> dict[str, dict[str, int]]:
    """``--set WORKLOAD.PARAM=VALUE`` items as {workload: {param: value}} (or a usage error)."""
    overrides: dict[str, dict[str, int]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        name, dot, param = key.rpartition(".")
        try:
            number = int(value)
        except ValueError:
            number = None
        if not (eq and dot and name and param) or number is None:
            ap.error(f"--set {item}: expected WORKLOAD.PARAM=INTEGER")
        overrides.setdefault(name, {})[param] = number
    unknown = set(overrides) - {w.name for w in cfg.workloads}
    if unknown:
        ap.error(f"--set: no workload {', '.join(sorted(unknown))} in the config")
    return overrides


def measure(name: str, params: dict, repeat: int) -> dict:
    import memcompare
    from memcompare.plugins import plugins
    from memcompare.traceio import save
    plugins().workload(name)
    before = peak_rss()
    best = best_cpu = float("inf")
    trace = None
    grew = None
    for _ in range(repeat):
        del trace
        t0, c0 = time.perf_counter(), time.process_time()
        trace = memcompare.record(name, **params)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
        if grew is None:
            grew = peak_rss() - before
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for compress in ("none", "zlib"):
            path = os.path.join(tmp, f"t-{compress}.mctrace")
            save(trace, path, compress=compress)
            sizes[compress] = os.path.getsize(path)
    return {"events": trace.events, "record_s": best, "record_cpu_s": best_cpu, "nbytes": trace.nbytes,
            "peak_growth": grew, "file_none": sizes["none"], "file_zlib": sizes["zlib"],
            "sha256": trace.sha256}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "default.toml"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", nargs="*", help="these workloads only")
    ap.add_argument("--set", action="append", default=[], metavar="WORKLOAD.PARAM=VALUE",
                    help="override one workload parameter (an integer); repeatable")
    ap.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure[0], json.loads(args.measure[1]), args.repeat)))
        return 0
    from memcompare import config
    cfg = config.load(args.config)
    overrides = parse_sets(ap, args.set, cfg)
    rows = []
    for w in cfg.workloads:
        if w.entry is None or (args.only and w.name not in args.only):
            continue
        params = {k: v for k, v in w.plain_params.items() if k != "seed"}
        params.update(overrides.get(w.name, {}))
        r = subprocess.run([sys.executable, __file__, "--repeat", str(args.repeat),
                            "--measure", w.name, json.dumps(params)],
                           capture_output=True, text=True)
        if r.returncode:
            rows.append([w.name, "", "", "", "", "", "", "", r.stderr.strip().splitlines()[-1]])
            continue
        m = json.loads(r.stdout)
        n = m["events"]
        rows.append([w.name, f"{n:,}", f"{m['record_s'] / n * 1e9:.0f}",
                     f"{m['record_cpu_s'] / n * 1e9:.0f}",
                     f"{m['nbytes'] / n:.1f}", f"{m['peak_growth'] / n:.1f}",
                     f"{m['file_none'] / n:.1f}", f"{m['file_zlib'] / n:.2f}", m["sha256"][:16]])
        print(f"{w.name}: done", file=sys.stderr, flush=True)
    print(tabulate(rows, headers=["workload", "events", "record ns/event",
                                  "record CPU ns/event", "memory B/event",
                                  "recording peak B/event", "file B/event",
                                  "zlib file B/event", "sha256"],
                   tablefmt="github", disable_numparse=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
