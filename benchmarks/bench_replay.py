"""How fast each model replays a reference trace, against a bare Python loop over it.

Records binary-trees with at least ``--min-events`` events (one million by default), then times,
in this one process and best of ``--repeat``:

- the floor: a bare ``for o, a, b, c in zip(op, a, b, c)`` loop with an ``if/elif`` on the op
  over four Python lists (docs/simulator-speed.md §2), conversion from numpy excluded;
- each model's replay through the engine (``memcompare.engine.replay``: the model's run, its
  final collection, the safety checks and every metric), and the model's ``run`` alone.

It prints seconds, events per second and the ratio to the floor. It asserts nothing: the
figures are for people (and for the closing notes of issues that set speed targets).

    python benchmarks/bench_replay.py [--models cpp,nogc] [--min-events 1000000]
"""
from __future__ import annotations

import argparse
import gc
import sys
import time

from tabulate import tabulate

import memcompare
from memcompare import params as P
from memcompare.costs import MutatorCosts
from memcompare.engine import replay
from memcompare.model import Output
from memcompare.plugins import plugins


def floor_loop(op, a, b, c) -> int:
    """The cheapest replay loop Python allows: dispatch on the op, count, nothing else."""
    n_alloc = n_load = n_store = n_other = 0
    for o, x, y, z in zip(op, a, b, c):
        if o == 0:
            n_alloc += 1
        elif o == 1:
            n_load += 1
        elif o == 2:
            n_store += 1
        elif o == 3:
            n_other += 1
        elif o == 4:
            n_other += 1
        elif o == 5:
            n_other += 1
        else:
            n_other += 1
    return n_alloc + n_load + n_store + n_other


def best_of(repeat: int, fn) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        gc.enable()
    return best


def reference_trace(min_events: int):
    depth = 8
    while True:
        t0 = time.perf_counter()
        trace = memcompare.record("binary-trees", max_depth=depth)
        took = time.perf_counter() - t0
        if trace.events >= min_events:
            return trace, depth, took
        depth += 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", help="comma-separated models (default: every registered one)")
    ap.add_argument("--min-events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    trace, depth, rec_s = reference_trace(args.min_events)
    print(f"trace: binary-trees max_depth={depth}: {trace.events:,} events, "
          f"{trace.objects:,} objects, recorded and validated in {rec_s:.2f} s", file=sys.stderr)
    cols = [trace.op.tolist(), trace.a.tolist(), trace.b.tolist(), trace.c.tolist()]
    floor = best_of(args.repeat, lambda: floor_loop(*cols))
    n = trace.events
    rows = [["bare loop (floor)", f"{floor:.3f}", f"{n / floor / 1e6:.2f}",
             f"{floor / n * 1e9:.0f}", "1.00", "", ""]]
    # measured (native) models time the real runtimes themselves: not a Python replay loop
    names = (args.models.split(",") if args.models else
             [n for n, e in plugins().models().items() if not e.cls.measured])
    for name in names:
        entry = plugins().model(name)
        params = P.build(entry.cls.Params, {})
        costs = P.build(entry.cls.Costs, {})

        def full():
            replay(trace, entry.cls, params, costs, check="basic", mutator=MutatorCosts())

        def run_only():
            entry.cls(params, costs).run(trace, Output(trace))

        t = best_of(args.repeat, full)
        r = best_of(args.repeat, run_only)
        rows.append([name, f"{t:.3f}", f"{n / t / 1e6:.2f}", f"{t / n * 1e9:.0f}",
                     f"{t / floor:.2f}", f"{r:.3f}", f"{r / floor:.2f}"])
    print(tabulate(rows, headers=["replay", "seconds", "Mevents/s", "ns/event", "× floor",
                                  "run() s", "run() × floor"], tablefmt="github",
                   disable_numparse=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
