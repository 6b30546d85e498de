"""How long a whole run takes with 1 and with N workers, from a cold trace cache and a warm one.

For each ``--jobs`` value, runs ``memcompare run CONFIG`` as a user would (a fresh process,
a fresh results directory each time) ``--repeat`` times with an empty trace cache (cold: every
workload is recorded, in the pool) and as many times with the cache the cold run left (warm:
every trace is loaded). It prints the wall time of each, their range, and the speed-up of each
``--jobs`` value over the first. It asserts nothing: the machine's other load moves these
figures, so read the ranges.

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
from pathlib import Path

from tabulate import tabulate


def one_run(config: str, jobs: int, cache: Path, out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run."""
    env = {**os.environ, "MEMCOMPARE_TRACE_CACHE": str(cache)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "memcompare.cli", "run", config, "--out", str(out),
                        "--jobs", str(jobs), "-q"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"memcompare run failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return took, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", nargs="?", default="configs/default.toml")
    ap.add_argument("--jobs", default="1,2", help="comma list of --jobs values (default 1,2)")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each kind (default 2)")
    args = ap.parse_args()
    jobs = [int(j) for j in args.jobs.split(",")]
    rows = []
    base: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="memcompare-bench-run-") as tmp:
        tmp = Path(tmp)
        for j in jobs:
            times: dict[str, list[tuple[float, float]]] = {"cold": [], "warm": []}
            for i in range(args.repeat):
                cache = tmp / f"cache-{j}-{i}"
                times["cold"].append(one_run(args.config, j, cache, tmp / f"out-{j}-{i}-c"))
                times["warm"].append(one_run(args.config, j, cache, tmp / f"out-{j}-{i}-w"))
                shutil.rmtree(cache, ignore_errors=True)
            for kind, ts in times.items():
                walls = [w for w, _ in ts]
                best, cpu = min(ts)
                base.setdefault(kind, best)
                rows.append([j, kind, f"{best:.2f}", f"{min(walls):.2f}–{max(walls):.2f}",
                             f"{cpu:.2f}", f"{cpu / best:.2f}", f"{base[kind] / best:.2f}×"])
    print(tabulate(rows, headers=["jobs", "trace cache", "best wall s", "range s",
                                  "CPU s (best)", "CPU/wall", f"speed-up vs jobs {jobs[0]}"],
                   tablefmt="github"))


if __name__ == "__main__":
    main()
