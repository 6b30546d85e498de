"""How long a whole run takes with 1 and with N workers, from a cold trace cache and a warm one,
and how much of it is spent outside the replays.

For each ``--jobs`` value, runs ``memcompare run CONFIG`` as a user would (a fresh process,
a fresh results directory each time) ``--repeat`` times with an empty trace cache (cold: every
workload is recorded, in the pool) and as many times with the cache the cold run left (warm:
every trace is loaded). Python's bytecode cache is on (in a private directory), as it is for an
installed memcompare: the first, cold run compiles the modules, the warm runs read them.

Each run's workers time their own replays: the run's ``memcompare.engine.replay`` of each cell
is wrapped (in the run's process, before the command line starts, so every worker inherits it)
to time the preparation of the trace it replays (``engine.prepare``, computed once per trace
and worker, a no-op after that) and the replay itself, wall and CPU, each written to a file the
benchmark reads. Whatever else the run spends — the interpreter's start and imports, reading
the config, finding the plugins, loading the traces from the cache, starting the workers,
sending results back, writing the results files, printing the tables — is "outside replays":

    outside (wall) = the run's wall time - the replays' wall time     (``--jobs 1`` only)
    outside (CPU)  = the run's CPU time (every process) - the replays' CPU time

It prints, for each kind of run, the best wall time, the range, CPU seconds, the replays' and the
preparation's seconds, and the share outside replays (ranges over ``--repeat``). It asserts
nothing: the machine's other load moves these figures, so read the ranges; CPU seconds move
less than wall seconds on a shared machine.

    python benchmarks/bench_run.py [configs/default.toml] [--jobs 1,2] [--repeat 2]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CHILD_FLAG = "--timed-child"


def child(times: str, argv: list[str]) -> int:
    """The run itself: ``memcompare`` with ``argv``, its replays timed into ``times``."""
    from memcompare import engine, runner
    real = runner.replay
    fd = os.open(times, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def timed(trace, *args, **kwargs):
        w0, c0 = time.perf_counter(), time.process_time()
        engine.prepare(trace)
        w1, c1 = time.perf_counter(), time.process_time()
        try:
            return real(trace, *args, **kwargs)
        finally:
            w2, c2 = time.perf_counter(), time.process_time()
            # one short write with O_APPEND: lines of concurrent workers never interleave
            os.write(fd, f"{w1 - w0:.6f} {c1 - c0:.6f} {w2 - w1:.6f} {c2 - c1:.6f}\n".encode())

    runner.replay = timed
    from memcompare.cli import main
    return main(argv)


@dataclass
class Run:
    wall: float
    cpu: float
    replay_wall: float
    replay_cpu: float
    prepare_wall: float
    cells: int

    def outside_wall_share(self) -> float:
        return (self.wall - self.replay_wall) / self.wall

    def outside_cpu_share(self) -> float:
        return (self.cpu - self.replay_cpu) / self.cpu


def one_run(config: str, jobs: int, cache: Path, out: Path, pycache: Path) -> Run:
    """One run of ``memcompare run`` in a fresh process."""
    env = {**os.environ, "MEMCOMPARE_TRACE_CACHE": str(cache), "PYTHONPYCACHEPREFIX": str(pycache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    times = out.with_name(out.name + ".times")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, __file__, CHILD_FLAG, str(times), "run", config,
                        "--out", str(out), "--jobs", str(jobs), "-q"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"memcompare run failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rows = [list(map(float, line.split())) for line in times.read_text().splitlines()]
    return Run(took, cpu, sum(r[2] for r in rows), sum(r[3] for r in rows),
               sum(r[0] for r in rows), len(rows))


def _range(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    return format(lo, fmt) if format(lo, fmt) == format(hi, fmt) else \
        f"{format(lo, fmt)}–{format(hi, fmt)}"


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == CHILD_FLAG:
        sys.exit(child(sys.argv[2], sys.argv[3:]))
    from tabulate import tabulate
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", nargs="?", default="configs/default.toml")
    ap.add_argument("--jobs", default="1,2", help="comma list of --jobs values (default 1,2)")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each kind (default 2)")
    ap.add_argument("--warm", type=int, default=1,
                    help="warm runs after each cold one (default 1)")
    args = ap.parse_args()
    jobs = [int(j) for j in args.jobs.split(",")]
    rows = []
    base: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="memcompare-bench-run-") as tmp:
        tmp = Path(tmp)
        pycache = tmp / "pycache"
        for j in jobs:
            runs: dict[str, list[Run]] = {"cold": [], "warm": []}
            for i in range(args.repeat):
                cache = tmp / f"cache-{j}-{i}"
                runs["cold"].append(one_run(args.config, j, cache, tmp / f"out-{j}-{i}-c",
                                            pycache))
                for k in range(args.warm):
                    runs["warm"].append(one_run(args.config, j, cache,
                                                tmp / f"out-{j}-{i}-w{k}", pycache))
                shutil.rmtree(cache, ignore_errors=True)
            for kind, rs in runs.items():
                best = min(rs, key=lambda r: r.wall)
                base.setdefault(kind, best.wall)
                rows.append([
                    j, kind, f"{best.wall:.2f}", _range([r.wall for r in rs], ".2f"),
                    _range([r.cpu for r in rs], ".2f"),
                    _range([r.replay_cpu for r in rs], ".2f"),
                    _range([r.prepare_wall for r in rs], ".2f"),
                    _range([r.cpu - r.replay_cpu for r in rs], ".2f"),
                    _range([100 * r.outside_cpu_share() for r in rs], ".1f"),
                    _range([100 * r.outside_wall_share() for r in rs], ".1f") if j == 1 else "—",
                    f"{base[kind] / best.wall:.2f}×"])
    print(tabulate(rows, headers=["jobs", "trace cache", "best wall s", "wall s",
                                  "CPU s", "replays CPU s", "preparing s",
                                  "outside CPU s", "outside % CPU", "outside % wall",
                                  f"speed-up vs jobs {jobs[0]}"],
                   tablefmt="github", disable_numparse=True))
    print("outside = the run's time minus its replays' (preparing the traces counts as "
          "outside); ranges over the runs of each kind")


if __name__ == "__main__":
    main()
