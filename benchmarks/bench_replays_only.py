"""The replays of a config's cells alone, to compare with a whole warm run (bench_run.py).

bench_run.py times the replays inside each run it makes (its "replays" column); this script
times them outside any run, as a cross-check of that figure.

Each workload is recorded, saved and loaded (memory-mapped, as a worker loads it) and prepared
once, untimed, as a worker that holds it; then every model of the config replays it through
``memcompare.replay``. Prints the replays' total and the preparation's. Models run with their
default parameters and costs (the configs this is for set none).

    python benchmarks/bench_replays_only.py [configs/default.toml]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import memcompare
from memcompare import traceio
from memcompare.config import load
from memcompare.engine import prepare


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", nargs="?", default="configs/default.toml")
    cfg = load(ap.parse_args().config)
    replay_s = prep_s = 0.0
    with tempfile.TemporaryDirectory() as d:
        for w in cfg.workloads:
            path = os.path.join(d, f"{w.index}.mctrace")
            traceio.save(memcompare.record(w.name, **w.plain_params), path)
            trace = traceio.load(path)
            t0 = time.perf_counter()
            prepare(trace)
            prep_s += time.perf_counter() - t0
            for m in cfg.models:
                t0 = time.perf_counter()
                memcompare.replay(trace, m.name)
                replay_s += time.perf_counter() - t0
    print(f"{cfg.name}: replays {replay_s:.2f} s, preparing the traces {prep_s:.2f} s")


if __name__ == "__main__":
    main()
