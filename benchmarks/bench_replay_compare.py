"""One model's replay in this checkout against the same model in an older checkout, interleaved.

Records binary-trees with at least ``--min-events`` events (the reference trace of
bench_replay.py), then, ``--rounds`` times in turn in this one process: the bare loop (the
floor), the old model's ``run``, the new one's, and each through the engine
(``memcompare.engine.replay``: the final collection, the safety checks and every metric). On a
shared machine single timings swing by 2× and more; interleaving puts old and new under the same
load, so their ratio means something when the absolute figures do not. Prints each one's
ns/event (best and worst round) and its best over the floor's best, and whether old and new
gave the same metrics, timeline and stats. It asserts nothing.

The old model is the plugin package ``plugins/memcompare_<MODEL>`` of the old checkout
(``git worktree add /tmp/old <commit>``), imported under another name; the packages it imports
(memcompare itself, other plugins) are this checkout's.

    python benchmarks/bench_replay_compare.py --old /tmp/old [--model cpython] [--rounds 5]
"""
from __future__ import annotations

import argparse
import gc
import importlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench_replay import floor_loop, reference_trace

from memcompare import params as P
from memcompare.costs import MutatorCosts
from memcompare.engine import replay
from memcompare.model import Output
from memcompare.plugins import plugins


def old_model(old: Path, model: str, tmp: Path):
    """The old checkout's model class, from its plugin package copied under a new name."""
    src = old / "plugins" / f"memcompare_{model}"
    if not src.is_dir():
        sys.exit(f"{src}: no such plugin package in the old checkout")
    name = f"memcompare_{model}_old"
    shutil.copytree(src, tmp / name)
    sys.path.insert(0, str(tmp))
    new_cls = plugins().model(model).cls
    mod = importlib.import_module(f"{name}.{new_cls.__module__.split('.', 1)[1]}")
    return getattr(mod, new_cls.__name__), new_cls


def digest(result) -> str:
    return json.dumps([result.status, result.metrics, result.timeline, result.stats],
                      sort_keys=True, default=repr)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, type=Path, help="the older checkout")
    ap.add_argument("--model", default="cpython")
    ap.add_argument("--min-events", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        old_cls, new_cls = old_model(args.old, args.model, Path(tmp))
        trace, depth, _ = reference_trace(args.min_events)
        n = trace.events
        print(f"trace: binary-trees max_depth={depth}: {n:,} events", file=sys.stderr)
        params = P.build(new_cls.Params, {})
        costs = P.build(new_cls.Costs, {})
        cols = [trace.op.tolist(), trace.a.tolist(), trace.b.tolist(), trace.c.tolist()]
        same = (digest(replay(trace, old_cls, params, costs, check="basic"))
                == digest(replay(trace, new_cls, params, costs, check="basic")))
        runs = {
            "bare loop (floor)": lambda: floor_loop(*cols),
            "old run()": lambda: old_cls(params, costs).run(trace, Output(trace)),
            "new run()": lambda: new_cls(params, costs).run(trace, Output(trace)),
            "old replay": lambda: replay(trace, old_cls, params, costs, check="basic",
                                         mutator=MutatorCosts()),
            "new replay": lambda: replay(trace, new_cls, params, costs, check="basic",
                                         mutator=MutatorCosts()),
        }
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.rounds):
            for name, fn in runs.items():
                gc.collect()
                gc.disable()
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
                gc.enable()
    floor = min(times["bare loop (floor)"])
    print(f"| {args.model} | ns/event best | ns/event worst | best × floor's best |")
    print("|---|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {min(ts) / n * 1e9:.0f} | {max(ts) / n * 1e9:.0f} | "
              f"{min(ts) / floor:.2f} |")
    print(f"\nold and new give the same metrics, timeline and stats: {'yes' if same else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
