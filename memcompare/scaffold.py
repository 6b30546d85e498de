"""``memcompare new-plugin NAME``: render a ready-to-install plugin package with its tests.

A model package holds a small but working model — a stop-the-world mark-sweep collector over a
bump heap with a fixed allocation trigger — that passes the conformance kit as generated; a
workload package holds a workload that records a valid trace freeing everything it allocates.
Each comes with a ``pyproject.toml`` declaring the ``memcompare`` entry point, a README and
tests that use :mod:`memcompare.testing`.

The templates are strings in this module (no package data to ship); ``{{name}}``-style
placeholders are replaced literally, so the templates' own braces need no escaping. This module
must not import the engine, models or workloads: it only writes files.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .errors import EXIT_OK, EXIT_USAGE

NAME_RE = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
KINDS = ("model", "workload")


class ScaffoldError(Exception):
    """A NAME or directory the command refuses, with the reason for people."""


@dataclass(frozen=True)
class Names:
    """Every name derived from the plugin name ``foo-bar``."""

    name: str            # foo-bar: the model or workload name users write in configs
    dist: str            # memcompare-foo-bar: the distribution (pip install, MEMCOMPARE_LOAD_PLUGINS)
    module: str          # memcompare_foo_bar: the import package
    cls: str             # FooBar: the Model or Workload subclass


def names_for(name: str) -> Names:
    """Validate a plugin name and derive the distribution, module and class names from it."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ScaffoldError(
            f"invalid plugin name {name!r}: use lower-case letters, digits and single '-' or "
            f"'_' between them, starting with a letter (e.g. 'semispace' or 'arena-pool')")
    if name.startswith("memcompare"):
        rest = re.sub(r"^memcompare[-_]?", "", name)
        raise ScaffoldError(
            f"give the plugin name without the memcompare prefix: "
            f"`memcompare new-plugin {rest or 'NAME'}` makes the distribution "
            f"memcompare-{rest or 'NAME'}")
    dashed = name.replace("_", "-")
    module = "memcompare_" + name.replace("-", "_")
    cls = "".join(part.capitalize() for part in re.split(r"[-_]", name))
    return Names(name, "memcompare-" + dashed, module, cls)


def _taken(name: str) -> str | None:
    """Who already uses ``name`` (an entry point or a registered model/workload), if anyone."""
    import importlib.metadata as md
    for ep in md.entry_points(group="memcompare"):
        if ep.name == name:
            dist = ep.dist.name if ep.dist is not None else "?"
            return f"the entry point {name!r} of distribution {dist}"
    try:
        from .plugins import plugins
        reg = plugins()
        if name in reg.models():
            return f"model {name!r} of plugin {reg.models()[name].plugin!r}"
        if name in reg.workloads():
            return f"workload {name!r} of plugin {reg.workloads()[name].plugin!r}"
    except Exception:           # a broken third-party plugin must not stop the scaffold
        pass
    return None


def _fill(template: str, n: Names, kind: str) -> str:
    values = {"name": n.name, "dist": n.dist, "module": n.module, "cls": n.cls, "kind": kind,
              "version": __version__}
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", value)
    return template


def files_for(n: Names, kind: str) -> dict[str, str]:
    """Relative path → content of every file of the package."""
    if kind not in KINDS:
        raise ScaffoldError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    body = MODEL_MODULE if kind == "model" else WORKLOAD_MODULE
    tests = MODEL_TESTS if kind == "model" else WORKLOAD_TESTS
    readme = README_HEAD + (README_MODEL if kind == "model" else README_WORKLOAD)
    out = {
        "pyproject.toml": PYPROJECT,
        "README.md": readme,
        f"{n.module}/__init__.py": body,
        f"tests/test_{n.module}.py": tests,
    }
    return {path: _fill(text, n, kind) for path, text in out.items()}


def render(name: str, kind: str = "model", directory: str | Path | None = None, *,
           check_taken: bool = True) -> Path:
    """Write the package for plugin ``name`` of ``kind`` into ``directory`` (default
    ``./memcompare-NAME``), which must not exist. Returns the directory."""
    n = names_for(name)
    files = files_for(n, kind)
    if check_taken:
        who = _taken(n.name)
        if who:
            raise ScaffoldError(f"the name {n.name!r} is already taken by {who}; choose another "
                                f"(two plugins with one name cannot both load)")
    target = Path(directory) if directory is not None else Path(n.dist)
    if target.exists():
        raise ScaffoldError(f"{target} already exists; refusing to overwrite it (choose another "
                            f"--dir or remove it)")
    for rel, text in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


# -- the command ---------------------------------------------------------------------------------

def add_parser(sub) -> None:
    """Add ``new-plugin`` to the ``memcompare`` subcommands."""
    p = sub.add_parser(
        "new-plugin", help="a ready-to-install plugin package skeleton with its tests",
        description="Render a plugin package for NAME: pyproject.toml declaring the memcompare "
                    "entry point, a working model (a stop-the-world mark-sweep collector) or "
                    "workload, a README, and tests that use memcompare's test kit and pass as "
                    "generated. Then: pip install -e DIR && pytest DIR/tests.")
    p.add_argument("name", metavar="NAME",
                   help="the plugin's name, lower-case (e.g. 'semispace'): the distribution "
                        "is memcompare-NAME, the module memcompare_NAME")
    p.add_argument("--kind", choices=KINDS, default="model",
                   help="what the plugin provides (default: model)")
    p.add_argument("--dir", metavar="DIR", dest="dir",
                   help="the package directory to create (default: ./memcompare-NAME); "
                        "must not exist")


def run(args) -> int:
    """Carry out ``memcompare new-plugin``; usage errors exit 2 with the reason on stderr."""
    try:
        target = render(args.name, args.kind, args.dir)
    except ScaffoldError as e:
        print(f"memcompare: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    n = names_for(args.name)
    print(f"created {target}/ — a {args.kind} plugin {n.name!r} (distribution {n.dist}, "
          f"module {n.module}). Next:\n"
          f"  pip install -e {target}\n"
          f"  python -m pytest {target}/tests\n"
          f"  memcompare list {args.kind}s", file=sys.stderr)
    return EXIT_OK


# -- templates ----------------------------------------------------------------------------------

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{{dist}}"
version = "0.1.0"
description = "A memcompare {{kind}} plugin: {{name}}"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["memcompare>={{version}}"]

[project.optional-dependencies]
test = ["pytest>=7.4"]

# memcompare finds its plugins through this entry-point group
[project.entry-points.memcompare]
{{name}} = "{{module}}"

[tool.setuptools]
packages = ["{{module}}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
'''

README_HEAD = '''\
# {{dist}}

A [memcompare](https://github.com/) {{kind}} plugin: `{{name}}`.

## Install

```sh
pip install -e .            # registers the `memcompare` entry point {{name}} = {{module}}
memcompare list {{kind}}s     # {{name}} is listed, with its parameters
```

If `MEMCOMPARE_LOAD_PLUGINS` is set, it must name this distribution (`{{dist}}`) for the plugin
to load.

## Test

```sh
pip install -e '.[test]'
python -m pytest
```

The tests use memcompare's test kit (`memcompare.testing`, a pytest plugin that loads by itself).
'''

README_MODEL = '''\
`test_conformance = conformance("{{name}}")` replays the kit's tricky traces (a 200,000-node
linked list, cycles, objects with 0 and 1,000 slots, 64 MiB objects, register churn, an empty
trace, data still live at the end) and checks safety (the engine re-traces the heap at every
collection), determinism, completeness (nothing unreachable held after the final collection)
and the sanity of every metric.

## Use

```toml
[[workload]]
name = "binary-trees"

[[model]]
name = "{{name}}"
params = { trigger_mb = [1, 4] }

[[model]]
name = "cpp"
```

`memcompare run mine.toml` compares it with the built-in models.

## What it is

`{{module}}` is a stop-the-world mark-sweep collector over a bump heap: every object takes a
header plus its payload and pointer slots, rounded to the alignment; a collection starts before
an allocation that would take the bytes allocated since the last one past `trigger_mb`; it marks
from the registers with an explicit stack (no recursion) and sweeps every unmarked object. Its
footprint is the bytes it holds, in 1 MiB chunks. Replace the policy with yours: keep reporting
every pause (`out.pause`), every collection with the ids it reclaimed (`out.collection`), the
footprint (`out.footprint`), and do a final full collection in `held()`.
'''

README_WORKLOAD = '''\
The test records the workload, checks the trace frees every object it allocates (as a correct
C++ program would), and replays it under the `cpp` model with nothing leaked.

## Use

```toml
[[workload]]
name = "{{name}}"
params = { batches = 2000 }

[[model]]
name = "cpp"

[[model]]
name = "go"
```

`memcompare run mine.toml` runs it under every listed model; `memcompare trace record {{name}}
-o {{name}}.mctrace` writes its trace to a file.

## What it is

`{{module}}` stands for a batch processor: each batch is a header object with one slot per
record; records are allocated, linked into the header, processed, and the batch is deleted as a
whole (consecutive frees form one batch). Replace `record()` with the allocation pattern of the
program you want to model; hold references only through the recorder's handles.
'''

MODEL_MODULE = '''\
"""{{name}}: a stop-the-world mark-sweep collector over a bump heap (a memcompare model plugin).

The simplest tracing collector (McCarthy 1960; Jones, Hosking & Moss, "The Garbage Collection
Handbook", chapter 2): objects are bump-allocated; before an allocation that would take the
bytes allocated since the last collection past ``trigger_mb``, the world stops, everything
reachable from the registers is marked (an explicit stack: a 200,000-node list must not hit
Python's recursion limit) and every unmarked object is swept. FREE is a CLEAR (docs/design.md §3).

It reports to the engine through ``out``: the allocation cost per event (``mm_ns``), each pause,
each collection with the ids it reclaimed (the safety oracle re-traces the heap there), and the
footprint; ``held()`` does the final full collection.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memcompare import Model, Output, Trace, hookimpl, param
from memcompare.trace import ALLOC, CLEAR, FREE, LOAD, MOVE, STORE

MiB = 1 << 20


@dataclass(frozen=True)
class Params:
    trigger_mb: float = param(4.0, "collect when this many MiB were allocated since the last "
                                   "collection", minimum=0.0625)
    header_bytes: int = param(16, "per-object header in bytes (mark bit, size, type)", minimum=0)
    alignment: int = param(8, "object alignment in bytes", minimum=1)


@dataclass(frozen=True)
class Costs:
    alloc_ns: float = param(10.0, "bump allocation per object", minimum=0)
    pause_ns: float = param(1000.0, "fixed cost of a stop-the-world pause (stop and resume)",
                            minimum=0)
    mark_ns_per_object: float = param(10.0, "marking one reachable object", minimum=0)
    mark_ns_per_slot: float = param(2.0, "scanning one pointer slot", minimum=0)
    sweep_ns_per_object: float = param(5.0, "sweeping one object, live or dead", minimum=0)


class {{cls}}(Model):
    """Stop-the-world mark-sweep over a bump heap with a fixed allocation trigger."""

    name = "{{name}}"
    Params = Params
    Costs = Costs

    def run(self, trace: Trace, out: Output) -> None:
        p, c = self.params, self.costs
        align = p.alignment
        size = ((p.header_bytes + trace.obj_bytes + align - 1) // align * align).tolist()
        trigger = int(p.trigger_mb * MiB)
        self._trace = trace
        self._size = size
        base = trace.obj_slot_base.tolist()
        nslots = trace.obj_nslots.tolist()
        regs = [-1] * max(trace.registers, 1)
        slots = [-1] * int(trace.obj_nslots.sum())
        op, a, b, x, y = (trace.op.tolist(), trace.a.tolist(), trace.b.tolist(),
                          trace.x.tolist(), trace.y.tolist())
        mm = out.new_costs()
        resident: list[int] = []          # objects allocated and not swept, oldest first
        held = since = 0
        chunks = 0                        # footprint: held bytes in whole MiB chunks
        out.footprint(0, 0)
        for i in range(trace.events):
            o = op[i]
            if o == ALLOC:
                obj = x[i]
                s = size[obj]
                if since + s > trigger and resident:
                    # the world stops before event i: the roots are the registers after i - 1
                    resident, freed, ns = self._collect(regs, slots, base, nslots, resident,
                                                        out, i - 1)
                    held -= freed
                    out.pause(i, c.pause_ns + ns, "full")
                    since = 0
                regs[a[i]] = obj
                resident.append(obj)
                held += s
                since += s
                mm[i] = c.alloc_ns
                need = -(-held // MiB)
                if need != chunks:
                    chunks = need
                    out.footprint(i, chunks * MiB)
            elif o == STORE:
                slots[base[x[i]] + b[i]] = y[i]
            elif o == LOAD or o == MOVE:
                regs[a[i]] = x[i]
            elif o == CLEAR or o == FREE:     # a collector ignores the delete itself
                regs[a[i]] = -1
        out.mm_ns = mm
        out.allocated_bytes = sum(size)
        out.stats["collections"] = int(out.gc_counts["full"])
        self._regs, self._slots, self._base, self._nslots = regs, slots, base, nslots
        self._resident = resident

    def _collect(self, regs, slots, base, nslots, resident, out, at):
        """Mark from the registers, sweep the rest: (survivors, bytes freed, pause ns)."""
        c = self.costs
        mark = self._mark(regs, slots, base, nslots)
        survivors = [o for o in resident if mark[o]]
        dead = [o for o in resident if not mark[o]]
        size = self._size
        freed = sum(size[o] for o in dead)
        out.collection("full", at, dead)
        marked = len(survivors)
        scanned = sum(nslots[o] for o in survivors)
        ns = (c.mark_ns_per_object * marked + c.mark_ns_per_slot * scanned
              + c.sweep_ns_per_object * len(resident))
        return survivors, freed, ns

    @staticmethod
    def _mark(regs, slots, base, nslots) -> bytearray:
        mark = bytearray(len(nslots))
        stack = [r for r in regs if r >= 0]
        while stack:                      # an explicit stack: no recursion, any depth
            o = stack.pop()
            if mark[o]:
                continue
            mark[o] = 1
            s = base[o]
            for v in slots[s:s + nslots[o]]:
                if v >= 0 and not mark[v]:
                    stack.append(v)
        return mark

    def held(self):
        """The final full collection (not measured): what is still reachable stays held."""
        mark = self._mark(self._regs, self._slots, self._base, self._nslots)
        ids = np.array([o for o in self._resident if mark[o]], dtype=np.int64)
        size = np.asarray(self._size, dtype=np.int64)
        return ids, size[ids] if ids.size else np.zeros(0, dtype=np.int64)


@hookimpl
def register_models(register):
    register({{cls}})
'''

MODEL_TESTS = '''\
"""Tests of the {{name}} model: the kit's conformance suite, and numbers checkable by hand."""
import memcompare
from memcompare.testing import conformance
from memcompare.trace import Recorder

# safety (full re-trace), determinism, completeness and metric sanity on every tricky trace
test_conformance = conformance("{{name}}")


def garbage(objects: int, payload: int):
    """``objects`` objects of ``payload`` bytes, each deleted right after its allocation."""
    t = Recorder("garbage")
    for _ in range(objects):
        t.free(t.alloc(payload))
    return t.build()


def test_a_1_mib_trigger_and_4_mib_of_garbage_give_3_collections():
    # 4080 payload bytes + a 16-byte header = 4096 bytes: 256 objects fill the 1 MiB trigger,
    # so the 257th, 513th and 769th allocations of 1024 each start a collection
    r = memcompare.replay(garbage(1024, 4080), "{{name}}", check="full", trigger_mb=1)
    assert r.status == "ok", r.error
    m = r.metrics
    assert m["gc_count"] == 3 and m["pause_count"] == 3
    assert m["allocated_bytes"] == 1024 * 4096
    assert m["leaked_bytes"] == 0
    assert m["footprint_peak_bytes"] == 1 << 20      # never more than one 1 MiB chunk


def test_live_data_survives_and_is_not_a_leak():
    t = Recorder("live")
    keep = t.alloc(16, 1)
    child = t.alloc(16)
    t.store(keep, 0, child)
    t.drop(child)
    for _ in range(1000):
        t.free(t.alloc(4080))
    r = memcompare.replay(t.build(), "{{name}}", check="full", trigger_mb=1)
    assert r.status == "ok" and r.metrics["gc_count"] == 3
    assert r.metrics["leaked_bytes"] == 0
'''

WORKLOAD_MODULE = '''\
"""{{name}}: a batch processor's allocation pattern (a memcompare workload plugin).

Each batch is a header object with one pointer slot per record. The program allocates the
records, links them into the header, does ``work_ns`` of computation per record, then deletes
the batch as a whole: the header and every record in one batch of consecutive frees. Every
random choice comes from ``rng``.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from memcompare import Recorder, Workload, hookimpl, param


@dataclass(frozen=True)
class Params:
    batches: int = param(1000, "batches processed, one after the other", minimum=1)
    batch_size: int = param(16, "records per batch", minimum=1)
    record_min: int = param(32, "smallest record payload, bytes", minimum=0)
    record_max: int = param(256, "largest record payload, bytes", minimum=0)
    work_ns: int = param(100, "computation per record, ns", minimum=0)
    seed: int = param(1, "random seed of the record sizes")

    def __post_init__(self):
        if self.record_max < self.record_min:
            raise ValueError(f"record_max ({self.record_max}) must be >= record_min "
                             f"({self.record_min})")


class {{cls}}(Workload):
    """Batches of records linked to a header, each batch deleted whole."""

    name = "{{name}}"
    Params = Params

    def record(self, params: Params, t: Recorder, rng: random.Random) -> None:
        p = params
        for _ in range(p.batches):
            header = t.alloc(32, p.batch_size)
            for j in range(p.batch_size):
                rec = t.alloc(rng.randint(p.record_min, p.record_max))
                t.store(header, j, rec)
                t.drop(rec)
                t.work(p.work_ns)
            records = [t.load(header, j) for j in range(p.batch_size)]
            t.free(header)                 # the header, then its records: one batch of frees
            for rec in records:
                t.free(rec)


@hookimpl
def register_workloads(register):
    register({{cls}})
'''

WORKLOAD_TESTS = '''\
"""Tests of the {{name}} workload: a valid trace that frees everything, replayed under cpp."""
import memcompare


def test_records_a_valid_trace_that_frees_everything():
    trace = memcompare.record("{{name}}", batches=50, batch_size=8)   # validated when built
    # 50 batches of one header and 8 records
    assert trace.objects == 50 * (1 + 8)
    assert (trace.obj_free_at >= 0).all(), "every object is deleted"
    assert not trace.reachable_at_end().any()


def test_is_deterministic():
    a = memcompare.record("{{name}}", batches=20, seed=3)
    b = memcompare.record("{{name}}", batches=20, seed=3)
    assert a.sha256 == b.sha256


def test_replays_under_cpp_with_nothing_leaked():
    trace = memcompare.record("{{name}}", batches=50)
    r = memcompare.replay(trace, "cpp", check="full")
    assert r.status == "ok", r.error
    assert r.metrics["leaked_bytes"] == 0
    assert r.metrics["live_peak_bytes"] == trace.live_peak_bytes
'''
