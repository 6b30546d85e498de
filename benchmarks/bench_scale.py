"""Scale: record, save, reload and replay binary-trees at 10⁶, 10⁷ and 10⁸ events (issue 10).

For each size (a binary-trees ``max_depth``: 10, 13 and 16 give about 1.0, 9.1 and 92 million
events), every phase runs in its own child process, so that its peak resident memory is its own:

- ``record``: ``memcompare.record("binary-trees", max_depth=D)``, then ``save`` (binary format
  version 2, uncompressed) — seconds and ns per event of each, trace bytes per event in memory
  and on disk, peak RSS;
- ``load``: ``traceio.load`` of the file (memory-mapped, block checksums and consistency
  checks) — seconds, peak RSS;
- ``replay MODEL``: load, then ``engine.replay`` with the basic safety checks (the full oracle
  re-traces the heap at every collection: a test setting, not a cost of the model) — seconds,
  ns per event, peak RSS, and the cell's status.

Then the growth of each phase's cost from one size to the next, as the ratio of ns per event
(1.00 = linear). It asserts nothing; figures go to benchmarks/README.md. A phase that fails, or
runs past ``--timeout`` seconds, is reported as such with what it printed last.

    python benchmarks/bench_scale.py [--depths 10,13,16] [--models cpp,go,jvm,cpython,nogc]
        [--dir DIR [--reuse]] [--timeout 5400] [--memory-gib 16] [--min-available-gib 1.5]
        [--json OUT]
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

MODELS = "cpp,go,jvm,cpython,nogc"


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # Linux: kilobytes


def phase_record(depth: int, path: str) -> dict:
    import memcompare
    from memcompare.plugins import plugins
    from memcompare.traceio import save
    plugins().workload("binary-trees")          # loading the plugins is not recording
    t0 = time.perf_counter()
    trace = memcompare.record("binary-trees", max_depth=depth)
    rec_s = time.perf_counter() - t0
    rss_rec = peak_rss_bytes()
    t0 = time.perf_counter()
    save(trace, path)
    save_s = time.perf_counter() - t0
    return {"events": trace.events, "objects": trace.objects, "record_s": rec_s,
            "save_s": save_s, "trace_bytes": trace.nbytes, "file_bytes": os.path.getsize(path),
            "peak_rss_record": rss_rec, "peak_rss": peak_rss_bytes()}


def phase_load(path: str) -> dict:
    from memcompare.traceio import load
    t0 = time.perf_counter()
    trace = load(path)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sha = trace.sha256
    return {"events": trace.events, "load_s": load_s, "sha256": sha,
            "peak_rss": peak_rss_bytes()}


def phase_replay(path: str, model: str) -> dict:
    from memcompare import params as P
    from memcompare.costs import MutatorCosts
    from memcompare.engine import replay
    from memcompare.plugins import plugins
    from memcompare.traceio import load
    t0 = time.perf_counter()
    trace = load(path)
    load_s = time.perf_counter() - t0
    entry = plugins().model(model)
    t0 = time.perf_counter()
    result = replay(trace, entry.cls, P.build(entry.cls.Params, {}),
                    P.build(entry.cls.Costs, {}), check="basic", mutator=MutatorCosts())
    return {"events": trace.events, "load_s": load_s, "replay_s": time.perf_counter() - t0,
            "status": result.status, "peak_rss": peak_rss_bytes()}


def child(args: list[str], timeout: float, memory_gib: float,
          min_available_gib: float) -> dict:
    """Run one phase in a child process; its JSON line, or the failure.

    The child's address space is limited to ``memory_gib``: a phase that needs more fails with
    a MemoryError. On a shared machine that may still be more than the others leave free: the
    child is also stopped when the machine's available memory falls below
    ``min_available_gib``, rather than pushing every process into the out-of-memory killer.
    """
    limit = int(memory_gib * 2**30)

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, __file__, "--phase", *args], stdout=out,
                                stderr=err, text=True, preexec_fn=limit_memory)
        stopped = None
        while proc.poll() is None:
            time.sleep(1)
            if time.perf_counter() - t0 > timeout:
                stopped = f"ran past {timeout:g} s"
            elif available_gib() < min_available_gib:
                stopped = (f"stopped by the benchmark at {rss_gib(proc.pid):.1f} GiB resident: "
                           f"the machine had less than {min_available_gib:g} GiB available")
            if stopped:
                proc.kill()
                proc.wait()
                return {"error": stopped, "wall_s": time.perf_counter() - t0}
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        tail = (stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": f"exit {proc.returncode}: {tail}", "wall_s": time.perf_counter() - t0}
    return json.loads(stdout.strip().splitlines()[-1])


def available_gib() -> float:
    """MemAvailable of the machine (Linux), GiB."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    return float("inf")


def rss_gib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30
    except OSError:
        return float("nan")


def gib(n: int) -> str:
    return f"{n / 2**30:.2f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--depths", default="10,13,16")
    ap.add_argument("--models", default=MODELS)
    ap.add_argument("--dir", help="where the trace files go (default: a temporary directory)")
    ap.add_argument("--timeout", type=float, default=5400, help="seconds per phase")
    ap.add_argument("--memory-gib", type=float, default=16,
                    help="address-space limit of each phase's process (default 16 GiB)")
    ap.add_argument("--min-available-gib", type=float, default=1.5,
                    help="stop a phase when the machine has less memory available (default 1.5)")
    ap.add_argument("--reuse", action="store_true",
                    help="use a trace file already in --dir instead of recording it again")
    ap.add_argument("--json", help="also write every figure to this JSON file")
    args = ap.parse_args(argv)
    if args.phase:
        kind, *rest = args.phase
        fn = {"record": lambda: phase_record(int(rest[0]), rest[1]),
              "load": lambda: phase_load(rest[0]),
              "replay": lambda: phase_replay(rest[0], rest[1])}[kind]
        print(json.dumps(fn()))
        return 0

    tmp = None if args.dir else tempfile.TemporaryDirectory(prefix="bench-scale-")
    where = Path(args.dir or tmp.name)
    where.mkdir(parents=True, exist_ok=True)
    models = args.models.split(",")
    figures: dict[str, dict] = {}
    for depth in (int(d) for d in args.depths.split(",")):
        path = str(where / f"binary-trees-{depth}.mctrace")
        if args.reuse and os.path.exists(path):
            row = figures[str(depth)] = {"record": {"error": "not recorded (--reuse)"}}
        else:
            row = figures[str(depth)] = {"record": child(["record", str(depth), path],
                                                         args.timeout, args.memory_gib,
                                                         args.min_available_gib)}
        print(f"depth {depth}: record {row['record']}", file=sys.stderr, flush=True)
        if "error" in row["record"] and not os.path.exists(path):
            continue
        row["load"] = child(["load", path], args.timeout, args.memory_gib,
                   args.min_available_gib)
        print(f"depth {depth}: load {row['load']}", file=sys.stderr, flush=True)
        for m in models:
            row[m] = child(["replay", path, m], args.timeout, args.memory_gib,
                   args.min_available_gib)
            print(f"depth {depth}: {m} {row[m]}", file=sys.stderr, flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=1))
        if not args.dir:
            os.unlink(path)

    rows = []
    for depth, row in figures.items():
        rec, ld = row["record"], row.get("load", {"error": "not run"})
        n = rec.get("events") or ld.get("events")
        if "error" in rec:
            rows.append([depth, "record", "", "", "", rec["error"]])
            if not n:
                continue
        else:
            rows.append([depth, "record", f"{n:,}", f"{rec['record_s']:.1f}",
                         f"{rec['record_s'] / n * 1e9:.0f}",
                         f"{gib(rec['peak_rss_record'])} GiB; trace "
                         f"{rec['trace_bytes'] / n:.1f} B/event"])
            rows.append([depth, "save", f"{n:,}", f"{rec['save_s']:.1f}",
                         f"{rec['save_s'] / n * 1e9:.0f}",
                         f"file {rec['file_bytes'] / n:.1f} B/event"])
        rows.append([depth, "load", f"{n:,}", *(
            [f"{ld['load_s']:.2f}", f"{ld['load_s'] / n * 1e9:.1f}", f"{gib(ld['peak_rss'])} GiB"]
            if "error" not in ld else ["", "", ld["error"]])])
        for m in models:
            r = row.get(m, {"error": "not run"})
            if "error" in r:
                rows.append([depth, m, f"{n:,}", "", "", r["error"]])
            else:
                rows.append([depth, m, f"{n:,}", f"{r['replay_s']:.1f}",
                             f"{r['replay_s'] / n * 1e9:.0f}",
                             f"{gib(r['peak_rss'])} GiB ({r['peak_rss'] / n:.0f} B/event); "
                             f"{r['status']}"])
    print(tabulate(rows, headers=["max_depth", "phase", "events", "seconds", "ns/event",
                                  "peak RSS / notes"], tablefmt="github", disable_numparse=True))
    # growth: ns/event at one size over ns/event at the previous one (1.00 = linear)
    def events(row):
        return row["record"].get("events") or row.get("load", {}).get("events")

    # with --reuse the sizes come from the load phase, and record and save have no figures
    depths = [d for d in figures if events(figures[d])]
    growth = []
    for d0, d1 in zip(depths, depths[1:]):
        r0, r1 = figures[d0], figures[d1]
        n0, n1 = events(r0), events(r1)
        line = [f"{n0:,} → {n1:,}"]
        for k in ("record_s", "save_s"):
            a, b = r0["record"].get(k), r1["record"].get(k)
            line.append(f"{(b / n1) / (a / n0):.2f}" if a and b else "-")
        for m in models:
            a, b = r0.get(m, {}), r1.get(m, {})
            line.append(f"{(b['replay_s'] / n1) / (a['replay_s'] / n0):.2f}"
                        if "replay_s" in a and "replay_s" in b else "-")
        growth.append(line)
    if growth:
        print()
        print(tabulate(growth, headers=["events", "record", "save", *models],
                       tablefmt="github", disable_numparse=True))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
