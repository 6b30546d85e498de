"""Recording speed of this checkout's Recorder against an older one's, interleaved (issue 10).

On a shared machine absolute timings drift by several times within minutes; a comparison is
only fair between runs made in the same minutes. This script records each built-in workload
(configs/default.toml's parameters) with the old and the new ``Recorder`` in alternation,
``--rounds`` times each, in one process, and prints both ranges, the speed-up and whether the
two traces' sha256 agree (they must: a faster recorder must record the same traces).

The old recorder runs the workloads' calls as they were before the batch operations existed:
``repeat``, ``alloc_into``, ``free_from``, ``replace``, ``free_chain`` and ``slot_ops`` become the
per-event calls they stand for (class ``OldCalls`` below), which is what the workloads called then.

    git worktree add /tmp/memcompare-old 69ea977
    python benchmarks/bench_record_compare.py --old /tmp/memcompare-old [--rounds 2]
        [--only NAME ...] [--set WORKLOAD.PARAM=VALUE ...]

With ``--old-workloads`` the old side runs the old checkout's own workload plugins (its
``plugins/memcompare_*``) on its own ``Recorder``, unchanged: the comparison of a commit that
changed the workloads' code as well as the recorder (any commit from ceed114 on has every batch
operation the workloads of its time call; ``git archive <commit> memcompare plugins | tar -x``
is enough of a checkout).
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import random
import sys
import time
import types
from pathlib import Path

from tabulate import tabulate

from bench_record import parse_sets
from memcompare import config
from memcompare.trace import Recorder

ROOT = Path(__file__).resolve().parent.parent


def old_recorder(old_root: Path) -> type:
    """The old checkout's ``Recorder`` (its trace module, imported under another name)."""
    pkg = types.ModuleType("memcompare_old")
    pkg.__path__ = [str(old_root / "memcompare")]
    sys.modules["memcompare_old"] = pkg
    from memcompare_old import trace as old

    class OldCalls(old.Recorder):
        def repeat(self, times, block):
            for _ in range(times):
                block()

        def alloc_into(self, h, slot, size, nslots=0, *, work=0):
            n = self.alloc(size, nslots)
            self.work(work)
            self.store(h, slot, n)
            self.drop(n)

        def free_from(self, h, slot):
            v = self.load(h, slot)
            self.store(h, slot, None)
            self.free(v)

        def replace(self, h, slot, size, nslots=0, *, work=0):
            n = self.alloc(size, nslots)
            self.work(work)
            old_obj = self.load(h, slot)
            self.store(h, slot, n)
            self.drop(n)
            self.free(old_obj)

        def free_chain(self, first, slot, n):
            nodes = [first]
            for _ in range(n - 1):
                nodes.append(self.load(nodes[-1], slot))
            for node in nodes:
                self.free(node)

        def slot_ops(self, h, kinds, slots, sizes=0, work=0):
            k = len(kinds)
            slots, sizes, work = (v if hasattr(v, "__len__") else [v] * k
                                  for v in (slots, sizes, work))
            for kind, slot, size, ns in zip(kinds, slots, sizes, work):
                kind, slot, size, ns = int(kind), int(slot), int(size), int(ns)
                if kind == 0:
                    self.alloc_into(h, slot, size, work=ns)
                elif kind == 1:
                    self.free_from(h, slot)
                elif kind == 2:
                    self.replace(h, slot, size, work=ns)
                else:
                    self.work(ns)

    return OldCalls


def old_workloads(old_root: Path) -> dict[str, type]:
    """The old checkout's workload classes by name (its plugin modules, imported by path)."""
    from memcompare.model import Workload
    found = {}
    for init in sorted((old_root / "plugins").glob("memcompare_*/__init__.py")):
        spec = importlib.util.spec_from_file_location(f"old_{init.parent.name}", init)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod           # (dataclasses look their module up)
        spec.loader.exec_module(mod)
        for v in vars(mod).values():
            if isinstance(v, type) and issubclass(v, Workload) and getattr(v, "name", None):
                found[v.name] = v
    return found


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="a checkout of the older commit")
    ap.add_argument("--config", default=str(ROOT / "configs" / "default.toml"))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--old-workloads", action="store_true",
                    help="run the old checkout's own workload plugins on its own Recorder")
    ap.add_argument("--only", nargs="*", help="these workloads only")
    ap.add_argument("--set", action="append", default=[], metavar="WORKLOAD.PARAM=VALUE",
                    help="override one workload parameter (an integer); repeatable")
    args = ap.parse_args(argv)
    cfg = config.load(args.config)
    overrides = parse_sets(ap, args.set, cfg)
    Old = old_recorder(Path(args.old))
    old_cls = {}
    if args.old_workloads:
        Old = Old.__mro__[1]               # the old Recorder itself, no per-call shims
        old_cls = old_workloads(Path(args.old))
    rows = []
    for w in cfg.workloads:
        if w.entry is None or (args.only and w.name not in args.only):
            continue
        params = w.params
        if w.name in overrides:
            params = dataclasses.replace(params, **overrides[w.name])
        times: dict[str, list[float]] = {"old": [], "new": []}
        cpu: dict[str, list[float]] = {"old": [], "new": []}
        sha = {}
        for _ in range(args.rounds):
            for label, cls in (("old", Old), ("new", Recorder)):
                rec = cls(w.name, {})
                wcls = old_cls.get(w.name, w.entry.cls) if label == "old" else w.entry.cls
                t0, c0 = time.perf_counter(), time.process_time()
                wcls().record(params, rec, random.Random(getattr(params, "seed", 0)))
                trace = rec.build()
                times[label].append((time.perf_counter() - t0) / trace.events * 1e9)
                cpu[label].append((time.process_time() - c0) / trace.events * 1e9)
                sha[label] = trace.sha256
        o, n = times["old"], times["new"]
        oc, nc = cpu["old"], cpu["new"]
        rows.append([w.name, f"{trace.events:,}", f"{min(o):.0f}–{max(o):.0f}",
                     f"{min(n):.0f}–{max(n):.0f}", f"{min(oc):.0f}–{max(oc):.0f}",
                     f"{min(nc):.0f}–{max(nc):.0f}", f"{min(o) / max(n):.1f}–{max(o) / min(n):.1f}",
                     "yes" if sha["old"] == sha["new"] else "NO"])
        print(f"{w.name}: done", file=sys.stderr, flush=True)
    print(tabulate(rows, headers=["workload", "events", "old ns/event", "new ns/event",
                                  "old CPU ns/event", "new CPU ns/event", "speed-up (wall)",
                                  "same sha256"], tablefmt="github",
                   disable_numparse=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
