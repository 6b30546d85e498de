"""Scale: record, save, reload and replay traces of 10⁶, 10⁷ and 10⁸ events (issue 10).

Two series (:data:`SERIES`): binary-trees at ``max_depth`` 10, 13 and 16 (0.95, 9.4 and 105
million events), whose long-lived tree grows 8x per step (a different program at each size),
and message-buffer at ``messages`` 166,667, 1,666,667 and 16,666,667 with its window fixed
(1.0, 10 and 100 million events: the same work per event at every size, so the collectors
collect in proportion, and the growth is the simulator's own). For each size every phase runs
in its own child process, so that its peak resident memory is its own:

- ``record``: ``memcompare.record(workload, param=value)``, then ``save`` (binary format
  version 2, uncompressed) — seconds and ns per event of each, trace bytes per event in memory
  and on disk, peak RSS;
- ``load``: ``traceio.load`` of the file (memory-mapped, block checksums and consistency
  checks) — seconds, peak RSS (``--no-load`` skips it: each replay loads the file anyway);
- ``replay MODEL``: load, then ``engine.replay`` with the basic safety checks (the full oracle
  re-traces the heap at every collection: a test setting, not a cost of the model) — seconds,
  ns per event, peak RSS, page faults, the cell's status and collection counts, and the time
  and page faults of each step of the replay (:data:`PHASES`), and the replay's user and
  system CPU seconds.

Each replay runs ``--repeat`` times (default 3), in rounds over every size and model, and keeps
its fastest run, with how much slower the slowest was. On this KVM guest the time a replay
takes varies from run to run by up to 3x with nothing else running, in its memory-bound steps
only: the guest's balloon device has free page reporting on (``virtio_balloon`` feature bit 5),
so memory a process frees goes back to the host, and the next process's first write to it waits
for the host to back it again, inside the kernel's page clearing (``clear_page_erms``: 39 % of a
slow replay's samples, 5 % of a fast one's, under ``perf record -e cpu-clock``); and a random
gather over 400 MB takes 0.12 or 0.29 s from one repetition to the next in one process. The
fastest run is the simulator's own cost; the spread is the machine's.

The first write to memory the host has taken back costs about 2 s per GiB of system time here
(a host fault per page), against 0.07-0.14 s per GiB for memory it still backs (the kernel's
zeroing only), measured by writing 0.5 to 14 GiB of fresh numpy arrays in a new process. A
10⁸-event replay takes 5-16 GiB, far more than the last processes warmed, so without care its
system time per event is 2-7x that of a 10⁷ one while its user time is the same: growth that is
the host's, not the simulator's. So before each replay a process of its own writes
``--warm-gib`` GiB of fresh memory and exits (``warm``; its seconds are not the replay's), and
the table gives each replay's user and system CPU time apart.

Then the growth of each phase's and each step's cost from one size to the next, as the ratio
of ns per event (1.00 = linear), and each replay's cost per (event + object its collections
visited, as the replay's own stats count them: :data:`WORK`) with its growth: binary-trees
asks the collectors for more work per event at each size, and this says whether the simulator
is linear in the work it simulates. It asserts nothing; figures go to benchmarks/README.md. A phase
that fails, or runs past ``--timeout`` seconds, is reported as such with what it printed last.

    python benchmarks/bench_scale.py [--series binary-trees,message-buffer] [--depths 10,13,16]
        [--messages 166667,1666667,16666667] [--models cpp,go,jvm,cpython,nogc]
        [--dir DIR [--reuse]] [--no-load] [--repeat 3] [--warm-gib 14] [--timeout 5400] [--memory-gib 16]
        [--min-available-gib 1.5] [--json OUT] [--report OUT]
"""
from __future__ import annotations

import argparse
import inspect
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


def phase_record(workload: str, param: str, value: int, path: str) -> dict:
    import memcompare
    from memcompare.plugins import plugins
    from memcompare.traceio import save
    plugins().workload(workload)                # loading the plugins is not recording
    t0 = time.perf_counter()
    trace = memcompare.record(workload, **{param: value})
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


#: the steps of a replay timed apart (``phases`` of a replay's figures), in the order they run:
#: (what the report calls it, where it is). Inclusive times: ``last_touch`` is part of
#: ``use_after_reclaim``; ``live_peak``, ``per_event``, ``times`` (every event's progress time,
#: with ``merge_stalls`` inside it), ``mmu``, ``envelope`` and ``live_envelope`` (the trace's
#: live-bytes curve, computed a chunk at a time and down-sampled) are parts of ``measure``;
#: ``run`` and ``held`` are the model's own.
PHASES = (
    ("reachable_at_end", "trace.Trace.reachable_at_end"),
    ("run", "model.run"), ("held", "model.held"),
    ("beyond_machine", "engine._beyond_machine"), ("reclaims", "engine._reclaims"),
    ("accounting", "engine._check_accounting"),
    ("use_after_reclaim", "engine._check_use_after_reclaim"),
    ("last_touch", "engine._last_touch"),
    ("measure", "engine.measure"), ("live_peak", "trace.Trace.live_peak_bytes"),
    ("per_event", "costs.MutatorCosts.per_event"), ("times", "engine._stalled_times"),
    ("times", "engine._unstalled_times"), ("merge_stalls", "engine.merge_stalls"),
    ("mmu", "engine.mmu"), ("envelope", "engine.envelope"),
    ("live_envelope", "engine.envelope_chunks"),
)

#: the collector work a replay reports, by model: the stats that count the objects its
#: collections visited — ``go``: objects marked (collector.py's ``marked_objects``, every
#: cycle); ``jvm``: objects copied by minor collections plus objects marked by full ones;
#: ``cpython``: objects the cycle collector examined (gc.py's ``gc_examined``). ``cpp`` and
#: ``nogc`` collect nothing. Used only to print the cost per (event + object visited).
WORK = {"go": ("objects_marked",), "jvm": ("copied_objects", "marked_objects"),
        "cpython": ("gc_examined",)}


def timed_phases(model_cls) -> dict[str, list[float]]:
    """Wrap the steps of :data:`PHASES` so that each call adds its seconds, the process's peak
    RSS after it and its minor page faults (each a page the process touched for the first time)
    to the returned dict: ``{name: [seconds, peak RSS bytes, page faults]}``. Only the first
    call of a cached property counts (later ones return the cache)."""
    import memcompare.costs
    import memcompare.engine
    import memcompare.trace

    times: dict[str, list[float]] = {}
    where = {"engine": memcompare.engine, "trace": memcompare.trace, "costs": memcompare.costs}

    def timer(name, fn):
        def wrapped(*args, **kwargs):
            t0 = time.perf_counter()
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            try:
                return fn(*args, **kwargs)
            finally:
                got = times.setdefault(name, [0.0, 0, 0])
                got[0] += time.perf_counter() - t0
                got[1] = peak_rss_bytes()
                got[2] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
        return wrapped

    for name, dotted in PHASES:
        *outer, attr = dotted.split(".")
        owner = model_cls if outer == ["model"] else where[outer[0]]
        for part in outer[1:]:
            owner = getattr(owner, part)
        if not hasattr(owner, attr):       # an older or newer engine: not timed
            continue
        fn = inspect.getattr_static(owner, attr)
        if isinstance(fn, property):
            setattr(owner, attr, property(timer(name, fn.fget)))
        else:
            setattr(owner, attr, timer(name, getattr(owner, attr)))
    return times


def phase_replay(path: str, model: str) -> dict:
    from memcompare import params as P
    from memcompare.costs import MutatorCosts
    from memcompare.engine import replay
    from memcompare.plugins import plugins
    from memcompare.traceio import load
    t0 = time.perf_counter()
    trace = load(path)
    load_s = time.perf_counter() - t0
    rss_load = peak_rss_bytes()
    entry = plugins().model(model)
    phases = timed_phases(entry.cls)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    result = replay(trace, entry.cls, P.build(entry.cls.Params, {}),
                    P.build(entry.cls.Costs, {}), check="basic", mutator=MutatorCosts())
    replay_s = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"events": trace.events, "load_s": load_s, "replay_s": replay_s,
            "user_s": r1.ru_utime - r0.ru_utime, "sys_s": r1.ru_stime - r0.ru_stime,
            "status": result.status, "peak_rss": peak_rss_bytes(), "peak_rss_load": rss_load,
            "page_faults": r1.ru_minflt - r0.ru_minflt,
            "gc_counts": (result.metrics or {}).get("gc_counts"), "phases": phases,
            "work": {k: result.stats.get(k, 0) for k in WORK.get(model, ())}}


def phase_warm(gib: float) -> dict:
    """Write ``gib`` GiB of fresh memory (256 MiB numpy arrays) and exit, so that the host backs
    the guest memory the next replay will take (see the module docstring)."""
    import numpy as np
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    keep = []
    for _ in range(int(gib * 4)):
        keep.append(np.empty(2**25))
        keep[-1].fill(1.0)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"warm_gib": gib, "wall_s": time.perf_counter() - t0,
            "sys_s": r1.ru_stime - r0.ru_stime}


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


def min_run(runs: list[dict]) -> dict:
    """The fastest of a size's and model's replays (an error if every one failed), with every
    run's seconds (``runs_s``) and its user and system CPU seconds (``user_s``, ``sys_s``)."""
    done = [r for r in runs if "replay_s" in r]
    if not done:
        return runs[-1]
    return {**min(done, key=lambda r: r["replay_s"]), "runs_s": [r["replay_s"] for r in done],
            "failed_runs": len(runs) - len(done)}


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


#: the series: workload -> (the parameter that sets the size, its default values). binary-trees
#: at a larger depth is a different program (its long-lived tree grows 8x per step, so a model
#: that did not collect at 10^7 may at 10^8); message-buffer with its window fixed does the same
#: thing per event at every size (a ring of 2000 1 KiB messages, the oldest replaced), so each
#: model collects in proportion to the trace's length: the steady-state series.
SERIES = {"binary-trees": ("max_depth", "10,13,16"),
          "message-buffer": ("messages", "166667,1666667,16666667")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--series", default=",".join(SERIES),
                    help=f"workloads to scale, of {', '.join(SERIES)} (default: both)")
    ap.add_argument("--depths", default=SERIES["binary-trees"][1],
                    help="binary-trees max_depth values (default %(default)s)")
    ap.add_argument("--messages", default=SERIES["message-buffer"][1],
                    help="message-buffer messages values, window fixed at the workload's "
                         "default (default %(default)s: 1.0, 10 and 100 million events)")
    ap.add_argument("--models", default=MODELS)
    ap.add_argument("--dir", help="where the trace files go (default: a temporary directory)")
    ap.add_argument("--timeout", type=float, default=5400, help="seconds per phase")
    ap.add_argument("--memory-gib", type=float, default=16,
                    help="address-space limit of each phase's process (default 16 GiB)")
    ap.add_argument("--min-available-gib", type=float, default=1.5,
                    help="stop a phase when the machine has less memory available (default 1.5)")
    ap.add_argument("--reuse", action="store_true",
                    help="use a trace file already in --dir instead of recording it again")
    ap.add_argument("--no-load", action="store_true",
                    help="skip the separate load phase (each replay loads the trace itself)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="replays of each size and model, in interleaved rounds; each keeps "
                         "its fastest (default %(default)s: see the module docstring)")
    ap.add_argument("--warm-gib", type=float, default=14,
                    help="before each replay, write this many GiB of fresh memory in a process "
                         "of its own, capped by the memory available (default %(default)s; 0: "
                         "do not: see the module docstring)")
    ap.add_argument("--json", help="also write every figure to this JSON file")
    ap.add_argument("--report", metavar="JSON",
                    help="print the tables of a --json file written earlier, and run nothing")
    args = ap.parse_args(argv)
    if args.report:
        figures = json.loads(Path(args.report).read_text())
        for series, rows_ in figures.items():
            models = [m for m in MODELS.split(",") if any(m in r for r in rows_.values())]
            report(series, SERIES[series][0], rows_, models)
        return 0
    if args.phase:
        kind, *rest = args.phase
        fn = {"record": lambda: phase_record(rest[0], rest[1], int(rest[2]), rest[3]),
              "load": lambda: phase_load(rest[0]),
              "replay": lambda: phase_replay(rest[0], rest[1]),
              "warm": lambda: phase_warm(float(rest[0]))}[kind]
        print(json.dumps(fn()))
        return 0

    tmp = None if args.dir else tempfile.TemporaryDirectory(prefix="bench-scale-")
    where = Path(args.dir or tmp.name)
    where.mkdir(parents=True, exist_ok=True)
    models = args.models.split(",")
    sizes = {"binary-trees": args.depths, "message-buffer": args.messages}
    figures: dict[str, dict[str, dict]] = {}
    for series in args.series.split(","):
        if series not in SERIES:
            ap.error(f"--series: unknown series {series!r} (known: {', '.join(SERIES)})")
        param = SERIES[series][0]
        paths = {}
        for value in (int(v) for v in sizes[series].split(",")):
            path = str(where / f"{series}-{value}.mctrace")
            row = figures.setdefault(series, {})[str(value)] = {}
            if args.reuse and os.path.exists(path):
                row["record"] = {"error": "not recorded (--reuse)"}
            else:
                row["record"] = child(["record", series, param, str(value), path],
                                      args.timeout, args.memory_gib, args.min_available_gib)
            label = f"{series} {param}={value}"
            print(f"{label}: record {row['record']}", file=sys.stderr, flush=True)
            if "error" in row["record"] and not os.path.exists(path):
                continue
            paths[str(value)] = path
            if not args.no_load:
                row["load"] = child(["load", path], args.timeout, args.memory_gib,
                                    args.min_available_gib)
                print(f"{label}: load {row['load']}", file=sys.stderr, flush=True)
        # the replays, in --repeat rounds over every size and model (interleaved, so that a
        # slow spell of the machine falls on one run of several sizes rather than on every run
        # of one size); each size and model keeps its fastest run (min_run)
        runs: dict[tuple[str, str], list[dict]] = {}
        for round_ in range(args.repeat):
            for value, path in paths.items():
                for m in models:
                    warm = min(args.warm_gib, available_gib() - args.min_available_gib - 1)
                    if warm > 0:
                        w = child(["warm", f"{warm:.2f}"], args.timeout, args.memory_gib,
                                  args.min_available_gib)
                        print(f"warm {w}", file=sys.stderr, flush=True)
                    got = child(["replay", path, m], args.timeout, args.memory_gib,
                                args.min_available_gib)
                    runs.setdefault((value, m), []).append(got)
                    figures[series][value][m] = min_run(runs[value, m])
                    print(f"{series} {param}={value} (round {round_ + 1}): {m} {got}",
                          file=sys.stderr, flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(figures, indent=1))
        if not args.dir:
            for path in paths.values():
                os.unlink(path)
    for series, rows_ in figures.items():
        report(series, SERIES[series][0], rows_, models)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


def events_of(row: dict) -> int | None:
    """A size's event count: from its recording, or (with --reuse) a load or replay phase."""
    for phase in row.values():
        if phase.get("events"):
            return phase["events"]
    return None


def report(series: str, param: str, figures: dict[str, dict], models: list[str]) -> None:
    """Print one series' tables: every phase, the replays' steps, and the growth."""
    rows = []
    for value, row in figures.items():
        rec, ld = row["record"], row.get("load", {"error": "not run"})
        n = events_of(row)
        if "error" in rec:
            rows.append([value, "record", "", "", "", rec["error"]])
            if not n:
                continue
        else:
            rows.append([value, "record", f"{n:,}", f"{rec['record_s']:.1f}",
                         f"{rec['record_s'] / n * 1e9:.0f}",
                         f"{gib(rec['peak_rss_record'])} GiB; trace "
                         f"{rec['trace_bytes'] / n:.1f} B/event"])
            rows.append([value, "save", f"{n:,}", f"{rec['save_s']:.1f}",
                         f"{rec['save_s'] / n * 1e9:.0f}",
                         f"file {rec['file_bytes'] / n:.1f} B/event"])
        if "load" in row:
            rows.append([value, "load", f"{n:,}", *(
                [f"{ld['load_s']:.2f}", f"{ld['load_s'] / n * 1e9:.1f}",
                 f"{gib(ld['peak_rss'])} GiB"]
                if "error" not in ld else ["", "", ld["error"]])])
        for m in models:
            r = row.get(m, {"error": "not run"})
            if "error" in r:
                rows.append([value, m, f"{n:,}", "", "", r["error"]])
            else:
                runs_s = r.get("runs_s", [r["replay_s"]])
                cpu = (f"; user {r['user_s'] / n * 1e9:.0f} + system "
                       f"{r['sys_s'] / n * 1e9:.0f} ns/event" if "sys_s" in r else "")
                rows.append([value, m, f"{n:,}", f"{r['replay_s']:.1f}",
                             f"{r['replay_s'] / n * 1e9:.0f}",
                             f"{gib(r['peak_rss'])} GiB ({r['peak_rss'] / n:.0f} B/event); "
                             f"{r['status']}{cpu}; fastest of {len(runs_s)}, slowest "
                             f"{max(runs_s) / r['replay_s']:.2f}×"])
    print(f"\n{series} ({param})\n")
    print(tabulate(rows, headers=[param, "phase", "events", "seconds", "ns/event",
                                  "peak RSS / notes"], tablefmt="github", disable_numparse=True))

    # the replays' steps, ns per event (inclusive: see PHASES)
    steps = list(dict.fromkeys(name for name, _ in PHASES))    # "times" is two functions
    rows = []
    for value, row in figures.items():
        n = events_of(row)
        for m in models:
            ph = row.get(m, {}).get("phases")
            if ph:
                rows.append([value, m, *(f"{ph[k][0] / n * 1e9:.1f}" if k in ph else "-"
                                         for k in steps)])
    if rows:
        print(f"\n{series}: ns/event of each step of a replay\n")
        print(tabulate(rows, headers=[param, "model", *steps], tablefmt="github",
                       disable_numparse=True))

    # growth: ns/event at one size over ns/event at the previous one (1.00 = linear)
    values = [v for v in figures if events_of(figures[v])]
    growth, step_growth = [], []
    for v0, v1 in zip(values, values[1:]):
        r0, r1 = figures[v0], figures[v1]
        n0, n1 = events_of(r0), events_of(r1)
        line = [f"{n0:,} → {n1:,}"]
        for k in ("record_s", "save_s"):
            a, b = r0["record"].get(k), r1["record"].get(k)
            line.append(f"{(b / n1) / (a / n0):.2f}" if a and b else "-")
        for m in models:
            a, b = r0.get(m, {}), r1.get(m, {})
            line.append(f"{(b['replay_s'] / n1) / (a['replay_s'] / n0):.2f}"
                        if "replay_s" in a and "replay_s" in b else "-")
            pa, pb = a.get("phases", {}), b.get("phases", {})
            if pa and pb:
                step_growth.append([f"{n0:,} → {n1:,}", m, *(
                    f"{(pb[k][0] / n1) / (pa[k][0] / n0):.2f}"
                    if k in pa and k in pb and pa[k][0] > 0 else "-" for k in steps)])
        growth.append(line)
    if growth:
        print(f"\n{series}: growth of ns/event (1.00 = linear)\n")
        print(tabulate(growth, headers=["events", "record", "save", *models],
                       tablefmt="github", disable_numparse=True))
    if step_growth:
        print(f"\n{series}: growth of each step's ns/event\n")
        print(tabulate(step_growth, headers=["events", "model", *steps], tablefmt="github",
                       disable_numparse=True))
    report_work(series, param, figures, models)


def work_of(r: dict) -> int | None:
    """The objects a replay's collections visited (:data:`WORK`); None for a figure recorded
    before the replays reported it."""
    return sum(r["work"].values()) if "work" in r else None


def report_work(series: str, param: str, figures: dict[str, dict], models: list[str]) -> None:
    """The replays' cost per unit of the work the trace asks of them: ns per (event + object
    its collections visited), whole replay and the model's ``run()``, and its growth. Where a
    larger program makes the collectors do more per event (binary-trees), this says whether
    the simulator is linear in the work it simulates."""
    rows, per = [], {}
    for value, row in figures.items():
        n = events_of(row)
        for m in models:
            r = row.get(m, {})
            w = work_of(r) if "replay_s" in r else None
            if w is None:
                continue
            units = n + w
            run_s = r.get("phases", {}).get("run", [None])[0]
            per[value, m] = (r["replay_s"] / units, run_s / units if run_s else None)
            rows.append([value, m, f"{n:,}", f"{w:,}", f"{w / n:.3f}",
                         f"{r['replay_s'] / units * 1e9:.0f}",
                         f"{run_s / units * 1e9:.0f}" if run_s else "-"])
    if not rows:
        return
    print(f"\n{series}: ns per (event + object visited by a collection)\n")
    print(tabulate(rows, headers=[param, "model", "events", "objects visited",
                                  "visited/event", "replay", "run()"],
                   tablefmt="github", disable_numparse=True))
    values = [v for v in figures if events_of(figures[v])]
    growth = []
    for v0, v1 in zip(values, values[1:]):
        line = [f"{events_of(figures[v0]):,} → {events_of(figures[v1]):,}"]
        for m in models:
            a, b = per.get((v0, m)), per.get((v1, m))
            line.append(f"{b[0] / a[0]:.2f}" + (f" ({b[1] / a[1]:.2f})" if a[1] and b[1] else "")
                        if a and b else "-")
        growth.append(line)
    if not growth:
        return
    print(f"\n{series}: growth of ns per (event + object visited), replay (run()), "
          f"1.00 = linear\n")
    print(tabulate(growth, headers=["events", *models], tablefmt="github",
                   disable_numparse=True))


if __name__ == "__main__":
    sys.exit(main())
